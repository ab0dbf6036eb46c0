#!/usr/bin/env python3
"""lan-gossip-scale: 13 daemons converge and stay converged at a modest cost.

h1-h6 are servers (distccd --jobs 2 + distcc-mdnsd), h7-h13 clients; every
host runs distcc-mdnsd, so gossip has 13 nodes. All daemons start at once.

Asserted:
  - convergence: within CONVERGE_LIMIT of the start, every client lists
    every server, alive by gossip, with a sample at most 2 s old;
  - through a WINDOW-second measurement window, every poll of every client
    still lists every server, never dead or left (samples keep flowing);
  - the gossip traffic stays bounded: mean bytes sent per node per second
    at most BYTES_BOUND. The protocol's own ceiling at this size is about
    3 peers x 5 rounds/s x 1400 B = 21 kB/s plus push-pulls, so the bound
    only catches runaway traffic (a reply storm, a resend loop).
Figures: convergence time; bytes and datagrams sent and received per node
per second (from the stats deltas over the window); sample ages at the
clients (median, p99 over all polls). bench/lan-gossip.py measures the same
at other sizes.
"""

import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

SERVERS = 6
CLIENTS = 7
CONVERGE_LIMIT = 20.0
WINDOW = 10.0
BYTES_BOUND = 64 * 1024


def start_all(hosts, bins, timeout=20):
    """Spawns distcc-mdnsd on every host at once; waits until all answer."""
    procs = [dm.start_mdnsd(h, bins, wait=False) for h in hosts]

    def ready():
        for h in hosts:
            try:
                if not dm.query(h, {'op': 'hosts'}, timeout=2).get('ok'):
                    return False
            except (OSError, ValueError):
                return False
        return True
    lan.wait_until(ready, timeout, 0.05, what='every distcc-mdnsd answering', watch=procs)
    return procs


def converged(clients, ips):
    return all(dm.all_alive(c, ips) for c in clients)


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    t_lan = time.monotonic()
    with lan.Lan(SERVERS + CLIENTS) as net:
        figure('gossip.scale_lan_build', time.monotonic() - t_lan, 's')
        servers, clients = net.hosts[:SERVERS], net.hosts[SERVERS:]
        ips = [s.ip for s in servers]
        for s in servers:
            s.start_distccd(jobs=2)
        t0 = time.monotonic()
        daemons = start_all(net.hosts, bins)
        dm.note(f'{len(daemons)} daemons answering after {time.monotonic() - t0:.2f}s')
        lan.wait_until(lambda: converged(clients, ips), CONVERGE_LIMIT, 0.1, watch=daemons,
                       what='every client listing every server alive, sampled <= 2 s ago')
        figure('gossip.scale_convergence', time.monotonic() - t0, 's', 5.0)

        # Measurement window: stats deltas of every node, ages at the clients.
        first = {h.name: dm.gossip_stats(h) for h in net.hosts}
        t1 = time.monotonic()
        ages, polls, bad = [], 0, []

        def poll():
            nonlocal polls
            for c in clients:
                r = dm.hosts_query(c)
                polls += 1
                for ip in ips:
                    s = dm.find_server(r, ip)
                    if s is None or s['liveness'] not in ('alive', 'suspect') \
                            or ip not in dm.line_hosts(r['line']):
                        bad.append((c.name, ip, s and s['liveness']))
                    elif s['age_ms'] is not None:
                        ages.append(s['age_ms'] / 1000)
            for p in daemons:
                p.check_alive()
        dm.observe(WINDOW, poll, 0.1)
        last = {h.name: dm.gossip_stats(h) for h in net.hosts}
        span = time.monotonic() - t1

        rate = {k: [(last[n][k] - first[n][k]) / span for n in first]
                for k in ('bytes_sent', 'bytes_received', 'sent', 'received')}
        figure('gossip.scale_window', span, 's')
        figure('gossip.scale_bytes_sent_per_node_mean', statistics.mean(rate['bytes_sent']), 'B/s')
        figure('gossip.scale_bytes_sent_per_node_max', max(rate['bytes_sent']), 'B/s')
        figure('gossip.scale_bytes_received_per_node_mean', statistics.mean(rate['bytes_received']),
               'B/s')
        figure('gossip.scale_datagrams_sent_per_node_mean', statistics.mean(rate['sent']), '1/s')
        figure('gossip.scale_bytes_sent_per_node_per_server',
               statistics.mean(rate['bytes_sent']) / SERVERS, 'B/s')
        figure('gossip.scale_sample_age_median', statistics.median(ages), 's', 1.0)
        figure('gossip.scale_sample_age_p99', dm.percentile(ages, 99), 's', 2.0)
        figure('gossip.scale_sample_age_max', max(ages), 's')
        figure('gossip.scale_polls', polls, 'queries')
        invalid = sum(last[n]['invalid'] for n in last)
        figure('gossip.scale_invalid_datagrams', invalid, 'datagrams', 0)

        assert not bad, f'servers missing, dead or left during the window ({len(bad)}): {bad[:10]}'
        assert ages, 'no sample age seen'
        assert statistics.mean(rate['bytes_sent']) <= BYTES_BOUND, \
            f'gossip sends {statistics.mean(rate["bytes_sent"]):.0f} B/s per node'
        assert invalid == 0, f'daemons refuse each other\'s datagrams: {last}'
        lan.wait_until(lambda: converged(clients, ips), 5, 0.1, watch=daemons,
                       what='every client still listing every server alive after the window')


if __name__ == '__main__':
    lan.run_test(main)
