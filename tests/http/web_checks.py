"""Checks shared by the web tests: /metrics against the farm object, the page's DOM, its requests."""

import json
import re
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fetch(url, timeout=5):
    """(status, headers, body) of a GET; a 4xx or 5xx is an answer too (the
    server says 503 until its first farm object has arrived)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def samples(text):
    """{(name, frozenset(labels.items())): value} from a Prometheus text
    exposition, parsed by prometheus_client's own parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f'sample {key} twice'
            out[key] = s.value
    return out


def check_metrics(farm, text):
    """Asserts that every figure /metrics gives equals the farm object's,
    and that every figure the object has is there. Returns the number of
    values compared."""
    got = samples(text)
    want = {}

    def put(name, labels, value, scale=1):
        if value is None:
            return
        if isinstance(value, bool):
            value = int(value)
        want[('distcc_mdns_' + name, frozenset(labels.items()))] = value * scale

    put('farm_available', {}, 1)
    put('farm_seq', {}, farm['seq'])
    put('farm_jobs', {}, farm.get('jobs'))
    for k, v in farm['totals'].items():
        put('farm_' + k, {}, v)
    for s in farm['servers']:
        lab = {'server': s['name'], 'id': s['id'] or ''}
        put('server_slots', lab, s['slots'])
        put('server_busy', lab, s['running'])
        put('server_reserved', lab, s['reserved'])
        put('server_sample_age_seconds', lab, s['age_ms'], 0.001)
        put('server_fresh', lab, s.get('fresh'))
        put('server_load', lab, s['load'])
        put('server_cpus', lab, s['cpus'])
        put('server_speed', lab, s['speed'])
        put('server_state', dict(lab, state=s['state']), 1)
        for c in s.get('clients') or []:
            put('server_client_jobs', dict(lab, client=c['address'] or ''), c['running'])
    for c in farm['clients']:
        lab = {'client': c['name'] or c['id'], 'id': c['id']}
        put('client_want', lab, c['want'])
        put('client_share', lab, c['share'])
        put('client_holding', lab, c['holding'])
        put('client_running', lab, c['running'])
        put('client_local_jobs', lab, c['local_jobs'])
        put('client_local_slots', lab, c['local_slots'])
        put('client_age_seconds', lab, c['age_ms'], 0.001)
    g = (farm.get('stats') or {}).get('gossip') or {}
    for key, name in (('received', 'gossip_datagrams_received_total'),
                      ('accepted', 'gossip_datagrams_accepted_total'),
                      ('sent', 'gossip_datagrams_sent_total'),
                      ('bytes_received', 'gossip_bytes_received_total'),
                      ('bytes_sent', 'gossip_bytes_sent_total'),
                      ('other_version', 'gossip_datagrams_other_version_total')):
        put(name, {}, g.get(key))
    for reason in ('invalid', 'unauthenticated', 'rate_limited', 'replayed', 'looped'):
        put('gossip_datagrams_dropped_total', {'reason': reason}, g.get(reason))
    for key, reason in (('untrusted', 'untrusted'), ('contradicted', 'contradicted'),
                        ('unknown_records', 'unknown')):
        put('gossip_records_ignored_total', {'reason': reason}, g.get(key))
    for op, n in (farm.get('queries') or {}).items():
        if op == 'errors':
            put('query_errors_total', {}, n)
        elif op == 'refused':
            put('query_refused_total', {}, n)
        else:
            put('queries_total', {'op': op}, n)

    missing = sorted(str(k) for k in want if k not in got)
    extra = sorted(str(k) for k in got if k not in want)
    assert not missing, f'/metrics lacks {missing[:5]} (of {len(missing)})'
    assert not extra, f'/metrics has samples the object does not: {extra[:5]}'
    for k, v in want.items():
        assert abs(got[k] - v) <= 1e-9 * max(1, abs(v)), f'{k}: /metrics says {got[k]}, the object {v}'
    return len(want)


# The page's rows, as the browser rendered them.
ROWS_JS = """JSON.stringify({
  servers: [...document.querySelectorAll('#servers tbody tr')].map(r => ({
    name: r.getAttribute('data-server'), busy: r.getAttribute('data-busy'),
    text: r.innerText })),
  clients: [...document.querySelectorAll('#clients tbody tr')].map(r => r.getAttribute('data-client')),
  status: document.getElementById('status').textContent,
  seq: document.getElementById('seq').textContent })"""


def page_rows(browser, session):
    """The rendered rows, or None while the page is not there yet (still
    being parsed: an element the rows read may not exist yet)."""
    ready = ("document.readyState !== 'loading' && document.getElementById('status') && "
             "document.getElementById('seq')")
    v = browser.evaluate(session, f"{ready} ? " + ROWS_JS + " : ''")
    return json.loads(v) if v else None


def wait_for(what, check, timeout, interval=0.1):
    """Polls check() until it returns a true value (returned) or timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f'{what}: not within {timeout}s (last: {last!r})')


def absolute_urls(html):
    """Absolute URLs in the page text other than the SVG namespace name
    (an identifier, never fetched)."""
    return [u for u in re.findall(r'(?:https?:)?//[A-Za-z0-9.\-\[\]:]+[^\s"\'<>)]*', html)
            if u != 'http://www.w3.org/2000/svg' and not u.startswith('//www.w3.org/2000/svg')]


def check_requests(browser, origin):
    """Asserts that the page asked for nothing outside origin."""
    urls = browser.requests()
    assert urls, 'the browser recorded no request at all'
    outside = [u for u in urls if not u.startswith(origin + '/')]
    assert not outside, f'the page fetched outside {origin}: {outside}'
    return urls
