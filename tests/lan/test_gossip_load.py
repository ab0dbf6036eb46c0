#!/usr/bin/env python3
"""lan-gossip-load: clients see a server's running jobs with a young sample.

h1 is a server (distccd --jobs 4), h2 and h3 clients. Jobs are started on h1
by holding distcc connections open from h2 (each sends a request header, as
a real client does at once, so distccd counts it). Prints the median and p99
age of h1's sample as the clients see it (target: median <= 1 s) and the time
until the new running count shows on every client.
"""

import os
import socket
import statistics
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

JOBS = 3


def server_entry(host, bins, address):
    obj = dm.hosts_json(host, bins)
    return dm.find_server(obj, address)


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3) as net:
        srv, c1, c2 = net.hosts
        clients = (c1, c2)
        cds = [dm.start_mdnsd(c, bins) for c in clients]
        srv.start_distccd(jobs=4)
        d = dm.start_mdnsd(srv, bins)
        for c in clients:
            dm.wait_listed(c, bins, srv.ip, 10, watch=cds + [d])

        # Hold JOBS connections from c1, each with a request header sent.
        holder = c1.spawn(['python3', '-c', f'''
import socket, sys, time
socks = []
for _ in range({JOBS}):
    s = socket.create_connection(("{srv.ip}", 3632), timeout=5)
    s.sendall(b"DIST00000001")
    socks.append(s)
print("holding", flush=True)
time.sleep(60)
'''], name='job-holder')
        holder.wait_log('holding', 10)
        lan.wait_until(lambda: srv.established(3632) >= JOBS, 5, what=f'{JOBS} jobs on h1')

        t0 = time.monotonic()
        for c in clients:
            lan.wait_until(lambda c=c: (server_entry(c, bins, srv.ip) or {}).get('running') == JOBS,
                           5, 0.05, what=f'{c.name} sees {JOBS} running on h1', watch=cds + [d])
        figure('gossip.load_change_to_seen_everywhere', time.monotonic() - t0, 's', 1.0)

        ages = []
        for _ in range(40):
            for c in clients:
                e = server_entry(c, bins, srv.ip)
                assert e and e['age_ms'] is not None, f'{c.name}: no sample age for h1: {e}'
                ages.append(e['age_ms'] / 1000.0)
            time.sleep(0.05)
        ages.sort()
        median = statistics.median(ages)
        p99 = ages[min(len(ages) - 1, int(len(ages) * 0.99))]
        figure('gossip.sample_age_median', median, 's', 1.0)
        figure('gossip.sample_age_p99', p99, 's')
        assert median <= 1.0, f'median sample age {median:.3f}s'
        holder.stop()


if __name__ == '__main__':
    lan.run_test(main)
