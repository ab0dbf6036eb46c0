#!/usr/bin/env python3
"""lan-web-attack: hostile HTTP against distcc-mdnsd --http leaves the daemon serving.

s1 and s2 are servers (distccd --jobs 4); c1 is a client whose daemon
serves the LAN (--http=0.0.0.0:PORT). From s2, tests/lan/web_attack.py
keeps up to 500 connections open at once for 25 s: idle ones, malformed
request lines, oversized headers and bodies, endless headers, and slow
clients sending a byte a second. Asserted: the daemon stays up; its RSS
grows by less than 32 MiB; it refused some connections with 503 and cut
every slow client within 15 s (its 10 s deadline, plus
the time it waited in the kernel's backlog while every worker was busy); `hosts` queries on c1 answer within 1 s
(p99) and c1 keeps both servers' samples under 2.5 s old (gossip answering;
samples come at least once a heartbeat second, so up to about 1.7 s is
seen without any attack);
the page is served again after the attack. Printed: hosts query latency
and sample ages before and during the attack, RSS before, during and after.
"""

import json
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure, note  # noqa: E402

PORT = 8080
SLOTS = 4
ATTACK_SECONDS = 25


def http_status(on, address, path, timeout=10):
    """The status of GET http://address:PORT/path from a LAN host."""
    code = (
        'import urllib.request, urllib.error\n'
        f'try:\n print(urllib.request.urlopen("http://{address}:{PORT}{path}", timeout={timeout}).status)\n'
        'except urllib.error.HTTPError as e:\n print(e.code)\n'
        'except OSError as e:\n print(0)\n')
    return int(on.run(['/usr/bin/python3', '-c', code], timeout=timeout + 5).stdout.strip() or 0)


def query_latencies(host, seconds):
    """hosts queries on host's socket for `seconds`: their latencies (s)."""
    out = []

    def one():
        t0 = time.monotonic()
        r = dm.query(host, {'op': 'hosts'}, timeout=10)
        assert r.get('ok'), r
        out.append(time.monotonic() - t0)
    dm.observe(seconds, one, 0.1)
    return out


def sample_ages(host, servers, seconds):
    """The age (s) of every server's sample as host sees it, for `seconds`:
    gossip answering keeps them young."""
    out = []

    def one():
        r = dm.hosts_query(host)
        for a in servers:
            s = dm.live_server(r, a)
            assert s is not None, f'{host.name}: {a} no longer listed'
            out.append((s['age_ms'] if s['age_ms'] is not None else 1e9) / 1000.0)
    dm.observe(seconds, one, 0.2)
    return out


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3) as net:
        s1, s2, c1 = net.hosts
        watch = dm.start_farm((s1, s2), c1, bins, SLOTS, f'--http=0.0.0.0:{PORT}')
        d = watch[-1]
        assert http_status(s2, c1.ip, '/') == 200

        base_lat = query_latencies(c1, 5)
        base_age = sample_ages(c1, [s1.ip, s2.ip], 3)
        rss0 = dm.vm_rss_kib(d.pid)
        attack = s2.spawn(['/usr/bin/python3', os.path.join(HERE, 'web_attack.py'), c1.ip, str(PORT),
                           str(ATTACK_SECONDS)], name='web-attack', stdout_pipe=True)
        lan.wait_until(lambda: c1.established(PORT) >= 50, 10, 0.05, watch=watch + [attack],
                       what='the attack\'s connections on c1')
        t0 = time.monotonic()
        lat = query_latencies(c1, ATTACK_SECONDS - 10)
        age = sample_ages(c1, [s1.ip, s2.ip], 3)
        rss1 = dm.vm_rss_kib(d.pid)
        during = time.monotonic() - t0
        out, _ = attack.popen.communicate(timeout=ATTACK_SECONDS + 30)
        result = json.loads(out.decode().strip().splitlines()[-1])
        note(f'attack: {result}; measured during {during:.1f}s of it')
        for name, values in (('before', base_lat), ('during', lat)):
            figure(f'web_attack.hosts_query_median_{name}', statistics.median(values), 's')
            figure(f'web_attack.hosts_query_p99_{name}', dm.percentile(values, 99), 's',
                   1.0 if name == 'during' else None)
        figure('web_attack.sample_age_max_before', max(base_age), 's')
        figure('web_attack.sample_age_max_during', max(age), 's', 2.5)
        figure('web_attack.rss_before', rss0, 'KiB')
        figure('web_attack.rss_during', rss1, 'KiB')
        figure('web_attack.connections', result['connections'], 'connections')
        figure('web_attack.max_open', result['max_open'], 'connections')
        figure('web_attack.refused_503', result['status_503'], 'connections')
        figure('web_attack.answered_4xx', result['status_4xx'], 'connections')
        figure('web_attack.slow_cut', result['slow_cut'], 'connections')
        figure('web_attack.slow_cut_after_max', result['slow_cut_after_max'], 's', 15.0)
        assert d.popen.poll() is None, 'distcc-mdnsd died under the HTTP attack'
        assert result['max_open'] >= 400, f'the attack never held 400 connections: {result}'
        assert result['status_503'] > 0, f'no connection was refused with 503: {result}'
        assert result['status_4xx'] > 0, f'no bad request got a 4xx: {result}'
        assert result['slow_cut'] > 0 and result['slow_cut_after_max'] < 15.0, result
        assert max(age) <= 2.5, f'gossip fell behind during the attack: samples {max(age):.1f}s old'
        assert dm.percentile(lat, 99) < 1.0, f'hosts queries slowed to {dm.percentile(lat, 99):.3f}s (p99)'
        limit = 32 * 1024 * (4 if dm.sanitized(bins.mdnsd) else 1)
        assert rss1 - rss0 < limit, f'RSS grew {rss1 - rss0} KiB under the attack'
        lan.wait_until(lambda: http_status(s2, c1.ip, '/') == 200, 15, 0.5, watch=watch,
                       what='the page served after the attack')
        figure('web_attack.rss_after', dm.vm_rss_kib(d.pid), 'KiB')
        dm.stop_mdnsd(d)


if __name__ == '__main__':
    lan.run_test(main)
