#!/usr/bin/env python3
"""lan-web: distcc-mdnsd --http on a virtual LAN, in a real browser and under attack.

s1 and s2 are servers (distccd --jobs 4); c1 is a client whose daemon
serves the LAN (--http=0.0.0.0:PORT) and runs a real build (make -j6 with
distcc and the daemon's hosts line, over and over: fewer jobs than the
servers' 8 slots, so that their busy counts move as jobs end). Asserted:
- /metrics parses with prometheus_client's parser and its numbers equal
  the farm object of the same seq, and every server's slots and state equal
  `distcc-mdns-hosts --json`'s;
- headless Chromium on s2 loads c1's page over the LAN: the rendered DOM
  lists every server, the busy counts change while the build runs, and the
  page asks for nothing outside c1's daemon (the browser's own record of
  requests, and a proxy that refuses everything else).
Optional third argument: where to write a screenshot of the page.
test_web_attack.py attacks the same set-up.
"""

import json
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'http'))
import debian_python  # noqa: E402,F401  (runs the test again under Debian's python3 if need be)
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure, note  # noqa: E402

PORT = 8080
SLOTS = 4
FILES = 8

MAKEFILE = """\
SRCS := $(wildcard u*.c)
OBJS := $(SRCS:.c=.o)
all: $(OBJS)
%.o: %.c
\tdistcc gcc -O2 -c $< -o $@
clean:
\trm -f $(OBJS)
"""


def unit(n):
    """A C file of many small functions: units of four sizes, so that jobs
    end at different times and the servers' busy counts move."""
    body = '\n'.join(f'int f{n}_{i}(int x) {{ int y = x; for (int k = 0; k < {i % 7 + 3}; ++k) '
                     f'y = y * {i + 3} + (y >> {i % 5 + 1}) - k; return y ^ {i}; }}'
                     for i in range(300 * (n % 4 + 1)))
    return f'/* unit {n} of the lan-web build */\n{body}\n'


def start_build(host, hosts_line):
    """make -j6 with distcc, cleaned and run again, until stopped (at most
    40 rounds)."""
    src = os.path.join(host.dir, 'build')
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, 'Makefile'), 'w') as f:
        f.write(MAKEFILE)
    for n in range(FILES):
        with open(os.path.join(src, f'u{n}.c'), 'w') as f:
            f.write(unit(n))
    script = ('for round in $(seq 40); do make -s clean; make -s -j6 || exit 1; '
              'echo "round $round done"; done')
    return host.spawn(['sh', '-c', script], name='build', cwd=src,
                      env={'DISTCC_HOSTS': hosts_line, 'DISTCC_FALLBACK': '0',
                           'DISTCC_SKIP_LOCAL_RETRY': '1'})


def http_get(on, address, path, timeout=10):
    """GET http://address:PORT/path from a LAN host (the test's own
    namespace has no route to the LAN): (status, body)."""
    code = (
        'import sys, urllib.request, urllib.error\n'
        f'try:\n r = urllib.request.urlopen("http://{address}:{PORT}{path}", timeout={timeout})\n'
        ' sys.stdout.write(str(r.status) + "\\n"); sys.stdout.write(r.read().decode())\n'
        'except urllib.error.HTTPError as e:\n sys.stdout.write(str(e.code) + "\\n")\n')
    r = on.run(['/usr/bin/python3', '-c', code], timeout=timeout + 5)
    status, _, body = r.stdout.partition('\n')
    return int(status), body


def check_browser(net, viewer, c1, servers, shot):
    import cdp
    import web_checks as wc
    if not cdp.find_chromium():
        raise AssertionError('chromium is not installed (tools/deps installs it)')
    origin = f'http://{c1.ip}:{PORT}'
    browser = cdp.Chromium(allow=[f'{c1.ip}:{PORT}'], wrap=viewer.argv, env=viewer.env(),
                           log_path=os.path.join(viewer.logdir, 'chromium.log'))
    try:
        session = browser.open(origin + '/')
        rows = wc.wait_for('every server on the page', lambda: (
            (r := wc.page_rows(browser, session)) and {x['name'] for x in r['servers']} >= set(servers)
            and r), 20)
        note(f'page rows: {[(x["name"], x["busy"]) for x in rows["servers"]]}')
        wc.wait_for('the page live on /events', lambda: wc.page_rows(browser, session)['status'] == 'live', 10)
        # Busy counts seen on the page while the build runs.
        seen = {name: set() for name in servers}

        def look():
            r = wc.page_rows(browser, session)
            for x in r['servers']:
                if x['name'] in seen:
                    seen[x['name']].add(x['busy'])
        t0 = time.monotonic()
        changed_after = None
        for _ in range(300):
            look()
            if changed_after is None and any(len(v - {'-'}) >= 2 for v in seen.values()):
                changed_after = time.monotonic() - t0
            if changed_after is not None and time.monotonic() - t0 > 10:
                break
            if time.monotonic() - t0 > 40:
                break
            time.sleep(0.2)
        note(f'busy counts the page showed: {seen}')
        assert changed_after is not None, f'the busy counts on the page never changed: {seen}'
        assert any(any(b not in ('-', '0') for b in v) for v in seen.values()), \
            f'the page never showed a busy server during the build: {seen}'
        figure('web.busy_change_seen_after', changed_after, 's')
        if shot:
            browser.screenshot(session, shot)
            note(f'screenshot: {shot}')
        browser.pump(0.5)
        urls = wc.check_requests(browser, origin)
        figure('web.requests', len(urls), 'requests')
        assert not browser.failed() or all(e == 'net::ERR_ABORTED' for e in browser.failed()), \
            f'requests failed: {browser.failed()}'
    finally:
        browser.close()


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    shot = argv[2] if len(argv) > 2 else None
    try:
        import web_checks as wc  # noqa: F401  (prometheus_client)
    except ImportError as e:
        print(f'SKIP: {e} (tools/deps installs python3-prometheus-client)')
        sys.exit(77)
    import web_checks as wc
    with lan.Lan(3) as net:
        s1, s2, c1 = net.hosts
        watch = dm.start_farm((s1, s2), c1, bins, SLOTS, f'--http=0.0.0.0:{PORT}')
        d = watch[-1]
        names = {}
        for s in (s1, s2):
            names[s.ip] = dm.find_server(dm.hosts_json(c1, bins), s.ip)['name']

        # The page and farm.json over the LAN, from s2.
        status, page = http_get(s2, c1.ip, '/')
        assert status == 200 and '<title>distcc-mdns farm</title>' in page, (status, page[:200])
        assert not wc.absolute_urls(page), wc.absolute_urls(page)
        farm = lan.wait_until(lambda: (lambda r: r[0] == 200 and json.loads(r[1]))(
            http_get(s2, c1.ip, '/farm.json')), 10, 0.2, watch=watch, what='farm.json from c1')
        assert {s['address'] for s in farm['servers']} >= {s1.ip, s2.ip}, farm['servers']

        # /metrics against the farm object of the same seq, and --json.
        def same_seq():
            st, body = http_get(s2, c1.ip, '/farm.json')
            ms, metrics = http_get(s2, c1.ip, '/metrics')
            obj = json.loads(body)
            if st == 200 and ms == 200 and f'\ndistcc_mdns_farm_seq {obj["seq"]}\n' in metrics:
                return obj, metrics
            return None
        obj, metrics = lan.wait_until(same_seq, 10, 0.05, watch=watch, what='/metrics and farm.json of one seq')
        figure('web.metrics_values_matched', wc.check_metrics(obj, metrics), 'values')
        got = wc.samples(metrics)
        hosts = dm.hosts_json(c1, bins)
        for s in (s1, s2):
            e = dm.find_server(hosts, s.ip)
            lab = frozenset({'server': e['name'], 'id': e['id']}.items())
            assert got[('distcc_mdns_server_slots', lab)] == e['slots'], (e, got)
            assert got[('distcc_mdns_server_state', frozenset(dict(lab, state=e['state']).items()))] == 1

        # A real build, then the browser on s2 watches c1's page.
        line = dm.hosts_line(c1, bins)
        note(f'c1 builds with {line}')
        build = start_build(c1, line)
        watch.append(build)
        lan.wait_until(lambda: s1.established(3632) + s2.established(3632) > 0, 30, 0.1,
                       watch=watch, what='build jobs on the servers')
        check_browser(net, s2, c1, [names[s1.ip], names[s2.ip]], shot)

        build.stop()
        dm.stop_mdnsd(d)

if __name__ == '__main__':
    lan.run_test(main)
