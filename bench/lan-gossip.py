#!/usr/bin/env python3
"""Gossip cost and freshness on a virtual LAN (root; tests/lan/lan.py).

    python3 bench/lan-gossip.py build/src/mdnsd/distcc-mdnsd build/src/hosts/distcc-mdns-hosts \\
        [--servers 6] [--clients 7] [--seconds 20]

Builds a LAN of servers (distccd --jobs 2 + distcc-mdnsd) and clients
(distcc-mdnsd), waits until every client lists every server alive by
gossip, then measures for --seconds: every node's gossip stats deltas
(bytes and datagrams sent and received) and, at the clients, the age of
every server's sample over repeated queries. Prints a table and the
figures; asserts nothing about timing (it exits non-zero only when the LAN
cannot be built or never converges).

Per-server cost is bytes/s/node divided by the number of servers: a node
mostly relays news of the servers (a load change or heartbeat each second).
gossip-sim (bench/gossip) measures larger farms; the protocol caps a node at
fanout x rounds x 1400 B = 3 x 5/s x 1400 B = 21 kB/s of rounds, plus pulls.
"""

import argparse
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'lan'))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

ROUND_CAP = 3 * 5 * 1400   # fanout x rounds/s x datagram bytes


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('mdnsd')
    ap.add_argument('hosts')
    ap.add_argument('--servers', type=int, default=6)
    ap.add_argument('--clients', type=int, default=7)
    ap.add_argument('--seconds', type=float, default=20.0)
    ap.add_argument('--converge-limit', type=float, default=60.0)
    a = ap.parse_args(argv)
    if a.servers < 1 or a.clients < 1 or a.servers + a.clients > 200 or a.seconds <= 0:
        ap.error('need 1+ servers, 1+ clients, at most 200 hosts, a positive --seconds')
    return a


def row(label, values, unit, scale=1.0):
    v = [x * scale for x in values]
    return f'  {label:<32} {statistics.mean(v):>12.1f} {max(v):>12.1f} {min(v):>12.1f}  {unit}'


def main(argv):
    a = parse(argv)
    lan.check_environment()
    bins = dm.Binaries([a.mdnsd, a.hosts])
    n = a.servers + a.clients
    t0 = time.monotonic()
    with lan.Lan(n) as net:
        t_lan = time.monotonic() - t0
        servers, clients = net.hosts[:a.servers], net.hosts[a.servers:]
        ips = [s.ip for s in servers]
        for s in servers:
            s.start_distccd(jobs=2)
        t1 = time.monotonic()
        daemons = [dm.start_mdnsd(h, bins, wait=False) for h in net.hosts]

        def converged():
            try:
                return all(dm.all_alive(c, ips) for c in clients)
            except OSError:        # a socket not there yet
                return False
        lan.wait_until(converged, a.converge_limit, 0.2, watch=daemons,
                       what='every client listing every server alive by gossip')
        t_conv = time.monotonic() - t1

        first = {h.name: dm.gossip_stats(h) for h in net.hosts}
        ages, polls, states = [], 0, {}
        t2 = time.monotonic()

        def poll():
            nonlocal polls
            for c in clients:
                r = dm.hosts_query(c)
                polls += 1
                for ip in ips:
                    s = dm.find_server(r, ip)
                    st = s['liveness'] if s else 'unknown'
                    if s is None or ip not in dm.line_hosts(r['line']):
                        st = 'not in the line'
                    states[st] = states.get(st, 0) + 1
                    if s and s['age_ms'] is not None:
                        ages.append(s['age_ms'])
            for p in daemons:
                p.check_alive()
        # Spread the polls so that a round of queries takes about 0.2 s.
        dm.observe(a.seconds, poll, max(0.02, 0.2 - 0.005 * len(clients)))
        last = {h.name: dm.gossip_stats(h) for h in net.hosts}
        span = time.monotonic() - t2

    rate = {k: [(last[h][k] - first[h][k]) / span for h in first]
            for k in ('bytes_sent', 'bytes_received', 'sent', 'received')}
    per_server = [b / a.servers for b in rate['bytes_sent']]
    ages.sort()
    print()
    print(f'gossip on a virtual LAN: {n} nodes ({a.servers} servers, {a.clients} clients), '
          f'{span:.1f} s measured')
    print(f'  LAN built in {t_lan:.1f} s; converged {t_conv:.2f} s after the daemons started')
    print(f'  {"per node":<32} {"mean":>12} {"max":>12} {"min":>12}')
    print(row('bytes sent', rate['bytes_sent'], 'B/s'))
    print(row('bytes received', rate['bytes_received'], 'B/s'))
    print(row('datagrams sent', rate['sent'], '1/s'))
    print(row('datagrams received', rate['received'], '1/s'))
    print(row('bytes sent per server', per_server, 'B/s per server'))
    print(row('bytes per datagram sent', [b / max(d, 1e-9) for b, d in zip(rate['bytes_sent'],
                                                                          rate['sent'])], 'B'))
    if ages:
        print(f'  sample age at clients: median {statistics.median(ages) / 1000:.3f} s, '
              f'p99 {dm.percentile(ages, 99) / 1000:.3f} s, max {ages[-1] / 1000:.3f} s '
              f'({len(ages)} samples in {polls} queries)')
    print(f'  liveness of the servers at the clients: '
          f'{", ".join(f"{k} {v}" for k, v in sorted(states.items(), key=str))}')
    print(f'  larger farms: build/bench/gossip/gossip-sim runs the same protocol at up to 100 '
          f'nodes; the rounds cap a node at {ROUND_CAP} B/s whatever the size')
    print()
    figure('bench.gossip_nodes', n, '')
    figure('bench.gossip_convergence', t_conv, 's')
    figure('bench.gossip_bytes_sent_per_node_mean', statistics.mean(rate['bytes_sent']), 'B/s')
    figure('bench.gossip_bytes_sent_per_node_max', max(rate['bytes_sent']), 'B/s')
    figure('bench.gossip_bytes_received_per_node_mean', statistics.mean(rate['bytes_received']), 'B/s')
    figure('bench.gossip_bytes_received_per_node_max', max(rate['bytes_received']), 'B/s')
    figure('bench.gossip_datagrams_sent_per_node_mean', statistics.mean(rate['sent']), '1/s')
    figure('bench.gossip_datagrams_received_per_node_mean', statistics.mean(rate['received']), '1/s')
    figure('bench.gossip_bytes_sent_per_node_per_server', statistics.mean(per_server), 'B/s')
    if ages:
        figure('bench.gossip_sample_age_median', statistics.median(ages) / 1000, 's')
        figure('bench.gossip_sample_age_p99', dm.percentile(ages, 99) / 1000, 's')


if __name__ == '__main__':
    lan.run_test(main)
