#!/usr/bin/env python3
"""lan-gossip-peer: --peer brings in a server mDNS cannot see, and gossip alone keeps it.

h1 runs distccd and distcc-mdnsd but no avahi-daemon (nor D-Bus) at all: no
mDNS record of it exists, as for a host on another subnet. h2 (a client with
avahi) starts distcc-mdnsd --peer=<h1>. Asserts that h1 appears in h2's line
with a live gossip sample, that distcc compiles on it through that line,
that h2 counts it as a peer, and that h1's clean stop takes it out of the
line within 1 s. A bad --peer value is refused with a clear message.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2, avahi=False) as net:
        srv, cli = net.hosts
        net.start_avahi([cli])

        # Refused at once, before anything starts.
        r = cli.run([bins.mdnsd, '--peer=h1:99999'], check=False, timeout=10)
        assert r.returncode == 2 and '--peer' in r.stderr, f'bad --peer accepted: {r.returncode} {r.stderr!r}'

        distccd = srv.start_distccd(jobs=3)
        d_srv = dm.start_mdnsd(srv, bins, '--advertise=yes')
        t0 = time.monotonic()
        d_cli = dm.start_mdnsd(cli, bins, f'--peer={srv.ip}')
        watch = [d_srv, d_cli]
        obj = dm.wait_listed(cli, bins, srv.ip, 10, watch=watch)
        figure('peer.start_to_listed', time.monotonic() - t0, 's')
        s = dm.find_server(obj, srv.ip)
        assert s['liveness'] in ('alive', 'suspect'), f'no gossip liveness for the peer: {s}'
        assert s['slots'] == 3, f'slots not from the gossip sample: {s}'
        assert s['age_ms'] is not None and s['age_ms'] < 2000, f'stale or missing sample: {s}'

        stats = dm.query(cli, {'op': 'stats'})['gossip']
        assert f'{srv.ip}:3632' in stats['peers'], f'--peer not among the peers: {stats}'
        assert stats['accepted'] > 0, f'nothing accepted from the peer: {stats}'
        # No mDNS anywhere on h1: the record can only have come from gossip.
        browse = cli.browse()
        try:
            assert browse.get('distcc@h1') is None, 'h1 is on mDNS: the test proves nothing'
        finally:
            browse.stop()

        # distcc compiles on h1 through the line h2 prints.
        line = dm.hosts_line(cli, bins)
        assert srv.ip in dm.line_hosts(line), f'{srv.ip} not in {line!r}'
        name, text = dm.proof_source()
        cli.write(name, text)
        cli.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], line)
        dm.wait_job(distccd, cli.ip, name)

        # A clean stop: the leave takes it out at once.
        t0 = time.monotonic()
        dm.stop_mdnsd(d_srv)
        dm.wait_listed(cli, bins, srv.ip, 5, present=False, watch=[d_cli])
        gone = time.monotonic() - t0
        figure('peer.clean_stop_to_gone', gone, 's', 1.0)
        assert gone <= 1.5, f'stopped peer still listed after {gone:.2f}s'


if __name__ == '__main__':
    lan.run_test(main)
