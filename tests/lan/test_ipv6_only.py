#!/usr/bin/env python3
"""lan-ipv6-only: an IPv6-only LAN works end to end.

No host has an IPv4 address and every avahi-daemon runs with use-ipv4=no.
h1: distccd on [::] and distcc-mdnsd, with a ULA and a link-local address.
h2: the same with its link-local address only (no router, no ULA: what an
    IPv6 link without any configuration has).
h3: a client's distcc-mdnsd.

A: h3's line names h1 at its ULA in brackets ("[fd77:..]/3", distcc 3.4's
   grammar: a bare IPv6 address is read as HOST:PORT) and h2 at its
   link-local address with h3's interface as the scope ("[fe80::3%2]/3":
   without it no socket can reach it); gossip over IPv6 hears both (alive).
B: the stock distcc client compiles through each entry of that line on the
   server it names (its distccd log).
C: h1's distcc-mdnsd is killed (SIGKILL, no goodbye; mDNS keeps its record):
   gossip over IPv6 takes h1 out of h3's line within the crash bound.
"""

import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note, wait_until  # noqa: E402
from dmtest import figure  # noqa: E402

# distccd's job summary with an IPv6 client address (dmtest's is IPv4 only).
_JOB = re.compile(r'\(dcc_job_summary\) client: (?P<client>\S+):\d+ (?P<status>\S+) '
                  r'exit:-?\d+.* (?P<file>\S+)$', re.M)


def compiled_from(distccd, filename):
    """The client addresses distccd's log says compiled filename (COMPILE_OK)."""
    return [m['client'] for m in _JOB.finditer(distccd.log())
            if m['status'] == 'COMPILE_OK' and m['file'] == filename]


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3, ipv4=False, ula=[True, False, True]) as net:
        h1, h2, h3 = net.hosts
        for h in net.hosts:
            v4 = h.run(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']).stdout.strip()
            assert not v4, f'{h.name} has IPv4 on eth0: {v4}'
        assert h2.ip == h2.link_local and h1.ip != h1.link_local, (h1.ip, h2.ip)
        scope = h3.run(['cat', '/sys/class/net/eth0/ifindex']).stdout.strip()
        want1, want2 = f'[{h1.ip}]', f'[{h2.link_local}%{scope}]'
        # distccd 3.4 listens on [::] and admits the ULA /64 and link-local clients.
        allow = ['--allow', str(net.subnet6), '--allow', 'fe80::/64']
        d1 = h1.start_distccd(jobs=3, listen='::', extra=allow)
        d2 = h2.start_distccd(jobs=3, listen='::', extra=allow)
        cd = dm.start_mdnsd(h3, bins)
        m1 = dm.start_mdnsd(h1, bins, '--cpus', 2, '--slots', 3)
        m2 = dm.start_mdnsd(h2, bins, '--cpus', 2, '--slots', 3)
        daemons = (cd, m1, m2)

        # A: both listed, bracketed, the link-local one scoped; gossip alive.
        def both():
            obj = dm.hosts_json(h3, bins)
            hosts = dm.line_hosts(obj['line'])
            if want1 not in hosts or want2 not in hosts:
                return None
            s1, s2 = dm.find_server(obj, h1.ip), dm.find_server(obj, h2.link_local)
            return obj if s1 and s2 and s1['liveness'] == s2['liveness'] == 'alive' else None
        obj = wait_until(both, 15, 0.05, what=f'{want1} and {want2} in h3\'s line, gossip alive',
                         watch=daemons)
        figure('ipv6_only.last_daemon_start_to_both_listed_alive', time.monotonic() - m2.t_start,
               's', 2.0)
        note(f'h3 line: {obj["line"]!r}')
        entries = [e for e in dm.parse_line(obj['line']) if e['host'] != 'localhost']
        assert sorted(e['host'] for e in entries) == sorted([want1, want2]), obj['line']
        assert all(e['limit'] == 3 for e in entries), obj['line']
        for s in obj['servers']:
            assert ':' in s['address'], f'an IPv4 address on an IPv6-only LAN: {s}'

        # B: a real compile through each entry of the line, as written.
        tokens = {e['host']: t for e, t in zip(entries, [t for t in obj['line'].split()
                                                         if not t.startswith('localhost')])}
        for server, distccd, src_ip in ((h1, d1, h3.ip), (h2, d2, h3.link_local)):
            token = tokens[want1 if server is h1 else want2]
            name, text = dm.proof_source()
            h3.write(name, text)
            t = time.monotonic()
            r = h3.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], token, check=False)
            assert r.returncode == 0, f'distcc through {token!r}: {r.stderr[-1500:]}'
            assert re.search(r'compiled on \S+', r.stderr), r.stderr[-1500:]
            clients = wait_until(lambda: compiled_from(distccd, name), 10, 0.05,
                                 what=f'{server.name} distccd log: COMPILE_OK {name}')
            figure(f'ipv6_only.compile_through_{server.name}', time.monotonic() - t, 's', 2.0)
            note(f'{token!r}: compiled on {server.name} for {clients}')
            assert clients[0].split('%')[0] == src_ip, (clients, src_ip)

        # C: a crash: mDNS keeps h1's record, gossip over IPv6 drops it.
        t = time.monotonic()
        h1.kill(m1, signal.SIGKILL)
        dm.wait_listed(h3, bins, want1, 10, present=False, watch=(cd, m2))
        crash = time.monotonic() - t
        figure('ipv6_only.crash_to_gone_from_line', crash, 's', 5.0)
        obj = dm.hosts_json(h3, bins)
        assert want2 in dm.line_hosts(obj['line']), obj['line']
        assert crash <= 5.0, f'crashed server still listed after {crash:.2f}s'


if __name__ == '__main__':
    lan.run_test(main)
