#!/usr/bin/env python3
"""lan-gossip-reserve: reservations spread, and clients fill servers with room first.

h1-h4 are servers (distccd --jobs 2, distcc-mdnsd --slots=2), h5-h8 clients.
Each client asks its daemon for a hosts line with "want": 2 (remote jobs it
will run); the daemon reserves them on the servers of its line and gossips
the reservations (time to live 2 s). No job is actually sent, so the
reservations are all the others know of.

A. Sequential: client i asks only once its own daemon counts the
   reservations of clients 0..i-1 (sum of "reserved" == 2i). Asserted: the
   jobs all clients are "expected" to send to a server never exceed its 2
   slots (8 jobs, 8 slots: every client must use exactly the room the
   others left), and each client gets its 2 jobs. Figure: the time a client
   waits for the previous client's reservations (reservation propagation).
   A reservation stops counting once the server's own sample measured 1 s
   after it arrives (the server would count the jobs itself by then), so a
   chain slower than that cannot finish; such an attempt is repeated, at
   most ATTEMPTS times, after the reservations expired.
B. Concurrent: the 4 clients ask at the same moment (nobody has seen the
   others' reservations yet). Figures: the most jobs on one server and
   Jain's fairness index of the jobs per server. Asserted only that over
   ROUNDS rounds the clients did not all pick the very same two servers
   every time: with independent random orders that happens with
   probability (1/216)^ROUNDS (1/216: four clients each drawing the same
   2-subset of 4 servers), so the assertion catches clients that herd
   (same seed, global minimum) and practically never fails otherwise.
"""

import os
import statistics
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

SERVERS = 4
CLIENTS = 4
SLOTS = 2
WANT = 2
ATTEMPTS = 4         # phase A chains; each fails only if propagation is slower than ~1 s
STEP_TIMEOUT = 2.5   # a client's wait for the previous reservations, per step
ROUNDS = 3           # phase B


def reserved_by_server(reply, ips):
    out = {}
    for ip in ips:
        s = dm.find_server(reply, ip)
        out[ip] = s['reserved'] if s else 0
    return out


def expected_by_server(reply, ips):
    out = {}
    for ip in ips:
        s = dm.find_server(reply, ip)
        out[ip] = (s.get('expected') or 0) if s else 0
    return out


def settled(clients, ips):
    """True when no client holds any other client's reservation any more
    (all expired: their time to live is 2 s) and none counts one."""
    return all(dm.gossip_stats(c)['reservations'] == 0 and
               sum(reserved_by_server(dm.hosts_query(c), ips).values()) == 0 for c in clients)


def heard_all(clients):
    """True when every client holds reservations of all the others (after a
    round: so that waiting for none afterwards does not pass too early)."""
    return all(dm.gossip_stats(c)['reservations'] >= WANT * (len(clients) - 1) for c in clients)


def chain(clients, ips, watch):
    """Phase A once. Returns (expected jobs per server of each client, the
    waits of clients 1.., expected jobs per server in all) or None when a
    step's reservations did not all show in time (they were covered first)."""
    truth = {ip: 0 for ip in ips}      # jobs expected so far, per server
    expected, waits = [], []
    t_prev = None
    for i, c in enumerate(clients):
        if i:
            def counted(c=c, i=i):
                r = dm.hosts_query(c)
                got = reserved_by_server(r, ips)
                return got if sum(got.values()) == WANT * i else None
            try:
                got = lan.wait_until(counted, STEP_TIMEOUT, 0.01, watch=watch,
                                     what=f'{c.name} counting {WANT * i} reserved jobs')
            except lan.Timeout as e:
                dm.note(f'phase A step {i}: {e}; the chain starts again')
                return None
            waits.append(time.monotonic() - t_prev)
            assert got == truth, (f'{c.name} counts the reservations {got}, but clients 0..{i - 1} '
                                  f'reserved {truth}')
        r = dm.hosts_query(c, want=WANT)
        t_prev = time.monotonic()
        exp = expected_by_server(r, ips)
        dm.note(f'{c.name} want={WANT}: expected {exp} (others reserved '
                f'{reserved_by_server(r, ips)}) line {r["line"]!r}')
        assert sum(exp.values()) == WANT, f'{c.name}: {WANT} wanted, {exp} expected: {r}'
        for ip in ips:
            s = dm.find_server(r, ip)
            if exp[ip]:
                assert s and s['excluded'] is None and ip in dm.line_hosts(r['line']), \
                    f'{c.name}: jobs expected on {ip}, which is not in the line: {r}'
        for ip in ips:
            truth[ip] += exp[ip]
        expected.append(exp)
    return expected, waits, truth


def concurrent_round(clients, ips):
    replies = [None] * len(clients)
    errors = []
    barrier = threading.Barrier(len(clients))

    def ask(k):
        try:
            barrier.wait(5)
            replies[k] = dm.hosts_query(clients[k], want=WANT)
        except Exception as e:   # reported in the main thread
            errors.append(f'{clients[k].name}: {e!r}')

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not errors and all(replies), f'concurrent queries failed: {errors}'
    return [expected_by_server(r, ips) for r in replies]


def jain(xs):
    s2 = sum(x * x for x in xs)
    return (sum(xs) ** 2) / (len(xs) * s2) if s2 else 1.0


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(SERVERS + CLIENTS) as net:
        servers, clients = net.hosts[:SERVERS], net.hosts[SERVERS:]
        ips = [s.ip for s in servers]
        daemons = []
        for s in servers:
            s.start_distccd(jobs=SLOTS)
            daemons.append(dm.start_mdnsd(s, bins, f'--slots={SLOTS}'))
        daemons += [dm.start_mdnsd(c, bins) for c in clients]
        t0 = time.monotonic()
        for c in clients:
            lan.wait_until(lambda c=c: dm.all_alive(c, ips), 20, 0.1, watch=daemons,
                           what=f'{c.name} listing every server, alive by gossip')
        dm.note(f'all clients see all servers alive after {time.monotonic() - t0:.2f}s')

        # ---- A: sequential
        result = None
        for attempt in range(1, ATTEMPTS + 1):
            lan.wait_until(lambda: settled(clients, ips), 10, 0.1, watch=daemons,
                           what='no reservation counted anywhere')
            result = chain(clients, ips, daemons)
            if result:
                break
        assert result, (f'in {ATTEMPTS} attempts no chain of {CLIENTS} clients finished: a '
                        f'client never counted all earlier reservations within {STEP_TIMEOUT}s '
                        f'(they are covered about 1 s after they arrive, so they must spread '
                        f'faster than that)')
        expected, waits, total = result
        figure('gossip.reserve_attempts', attempt, '', 1)
        figure('gossip.reservation_propagation_max', max(waits), 's', 0.6)
        figure('gossip.reservation_propagation_median', statistics.median(waits), 's')
        dm.note(f'phase A: jobs expected per server {total}')
        over = {ip: n for ip, n in total.items() if n > SLOTS}
        assert not over, (f'servers got more expected jobs than their {SLOTS} slots although '
                          f'others had room: {over} (per client: {expected})')
        assert sum(total.values()) == WANT * CLIENTS, f'jobs lost: {total}'

        # ---- B: concurrent
        herded, jains, worst = [], [], 0
        for rnd in range(ROUNDS):
            lan.wait_until(lambda: settled(clients, ips), 10, 0.1, watch=daemons,
                           what='no reservation counted anywhere')
            per_client = concurrent_round(clients, ips)
            lan.wait_until(lambda: heard_all(clients), 2.5, 0.02, watch=daemons,
                           what='every client holding the reservations of the round')
            per_server = [sum(e[ip] for e in per_client) for ip in ips]
            sets = {frozenset(ip for ip, n in e.items() if n) for e in per_client}
            herded.append(len(sets) == 1)
            jains.append(jain(per_server))
            worst = max(worst, max(per_server))
            dm.note(f'phase B round {rnd + 1}: jobs per server {per_server}, '
                    f'per client {[sorted(ip for ip, n in e.items() if n) for e in per_client]}')
        figure('gossip.concurrent_max_jobs_per_server', worst, 'jobs')
        figure('gossip.concurrent_jain_fairness_mean', statistics.mean(jains), '')
        figure('gossip.concurrent_jain_fairness_min', min(jains), '')
        figure('gossip.concurrent_rounds_all_on_same_servers', sum(herded), f'of {ROUNDS}')
        assert not all(herded), (f'in all {ROUNDS} rounds every client put its jobs on the same '
                                 f'servers: clients herd instead of drawing independently')


if __name__ == '__main__':
    lan.run_test(main)
