#!/usr/bin/env python3
"""http-web: the web server alone (no daemon), fed the fixture farm object.

/metrics parsed by prometheus_client equals the object figure for figure;
headless Chromium renders every server and client, follows a new object
through /events within 2 s, and asks for nothing outside the server.
Usage: test_web_fixture.py BUILD/tests/http/http-serve-fixture [SCREENSHOT.png]
Exits 77 when Chromium or prometheus_client is missing.
"""

import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import debian_python  # noqa: E402,F401  (runs the test again under Debian's python3 if need be)

try:
    import web_checks as wc
    import cdp
except ImportError as e:  # prometheus_client
    print(f'SKIP: {e} (Debian: apt-get install python3-prometheus-client)')
    sys.exit(77)


def main(argv):
    serve = argv[1]
    shot = argv[2] if len(argv) > 2 else None
    if not cdp.find_chromium():
        print('SKIP: chromium is not installed (Debian: apt-get install chromium)')
        return 77
    with open(os.path.join(HERE, 'farm.json')) as f:
        farm = json.load(f)
    server = subprocess.Popen([serve, '127.0.0.1:0'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        first = server.stdout.readline().split()
        assert first[:1] == ['port'], f'http-serve-fixture said {first}'
        origin = f'http://127.0.0.1:{first[1]}'

        def publish(obj):
            server.stdin.write(json.dumps(obj) + '\n')
            server.stdin.flush()

        publish(farm)
        wc.wait_for('farm.json served', lambda: wc.fetch(origin + '/farm.json')[0] == 200, 5)

        # /metrics: the object's own figures, through Prometheus' parser.
        status, headers, body = wc.fetch(origin + '/metrics')
        assert status == 200
        assert headers['Content-Type'].startswith('text/plain; version=0.0.4')
        n = wc.check_metrics(farm, body.decode())
        print(f'FIGURE metrics.values_compared = {n}')

        status, _, page = wc.fetch(origin + '/')
        urls = wc.absolute_urls(page.decode())
        assert not urls, f'the page names absolute URLs: {urls}'

        with cdp.Chromium(allow=[f'127.0.0.1:{first[1]}']) as browser:
            session = browser.open(origin + '/')
            names = sorted(s['name'] for s in farm['servers'])
            rows = wc.wait_for('every server rendered', lambda: (
                (r := wc.page_rows(browser, session)) and sorted(x['name'] for x in r['servers']) == names
                and r), 10)
            busy = {x['name']: x['busy'] for x in rows['servers']}
            assert busy['s1'] == '3' and busy['s3'] == '-', busy
            assert sorted(rows['clients']) == sorted(c['name'] or c['id'] for c in farm['clients'])
            wc.wait_for('the page live on /events', lambda: wc.page_rows(browser, session)['status'] == 'live', 5)

            # A new object: the page shows it through /events, no reload.
            farm['seq'] += 1
            farm['servers'][0]['running'] = 1
            farm['servers'][1]['running'] = 5
            t0 = time.monotonic()
            publish(farm)
            wc.wait_for('the new busy counts on the page', lambda: {
                x['name']: x['busy'] for x in wc.page_rows(browser, session)['servers']}.get('s1') == '1', 2, 0.05)
            print(f'FIGURE web.event_to_dom = {time.monotonic() - t0:.3f} s (target <= 2 s)')
            if shot:
                browser.screenshot(session, shot)
            browser.pump(0.5)
            urls = wc.check_requests(browser, origin)
            print(f'the page made {len(urls)} requests, all to {origin}: {sorted(set(urls))}')
            assert any(u.endswith('/events') for u in urls), urls
            errors = browser.console_errors()
            assert not errors, f'the page logged errors: {errors}'
    finally:
        server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            raise AssertionError('http-serve-fixture did not stop at the end of its input')
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
