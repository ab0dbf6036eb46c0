#!/usr/bin/env python3
"""Idle and busy CPU of distcc-mdnsd, today's sampling against the old one (root; tests/lan/lan.py).

    python3 bench/idle/bench_idle.py build/src/mdnsd/distcc-mdnsd build/src/hosts/distcc-mdns-hosts \\
        [--seconds 30] [--connections 8] [--rounds 1] [--sample-interval 250]

A virtual LAN of two hosts with real avahi-daemons: h1 runs a real distccd
and distcc-mdnsd (the server), h2 runs distcc-mdnsd (a client gossiping
with it). For each sampling mode, old (DISTCC_MDNS_SAMPLING=legacy: every socket of
the host parsed from /proc/net/tcp and tcp6 at a fixed --sample-interval),
fixed (=fixed: the new reading at the fixed cadence) and new (the default:
NETLINK_SOCK_DIAG filtered by port, the connections re-walked only when the
socket counts move, the cadence backing off to 1 s while nothing changes),
both daemons are started, left to settle,
and their CPU (utime + stime of every thread, from /proc/PID/task/*/stat,
and the nanoseconds of /proc/PID/task/*/schedstat, which a 10 ms tick does
not round away) is measured over --seconds idle, then over --seconds busy:
a helper on h2 runs --connections job slots against h1's distccd, each
holding a connection 0.2-1.0 s and leaving a gap of 0.05-0.5 s, so that the
number of jobs moves all the time (the worst case for the new sampling).

Then, --trials times on the idle farm, one job opens and the time until h2's
daemon shows it is taken: the freshness a build's start gets.

Prints CPU milliseconds per minute and % of one core per daemon, mode and
phase, side by side, and FIGURE lines; asserts nothing about timing (it
exits non-zero only when the LAN cannot be built or the daemons never see
each other). The goal of issue 16: the server's daemon at most 0.5% of a
core idle and 1% busy.
"""

import argparse
import glob
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'lan'))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

TICK = os.sysconf('SC_CLK_TCK')

# The sampling modes compared, by the DISTCC_MDNS_SAMPLING each runs with.
MODES = {'old': 'legacy', 'fixed': 'fixed', 'new': None}

# N job slots on HOST:PORT for SECONDS: each opens a connection, holds it
# 0.2-1.0 s as a compile would, closes it and stays empty 0.05-0.5 s, so the
# number of connections moves all the time. It sends distcc's first token so
# that distccd (TCP_DEFER_ACCEPT) takes the connection as a job.
CHURN = r'''
import random, socket, sys, time
host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rng = random.Random(16)
end = time.monotonic() + seconds
slots = [(None, time.monotonic() + rng.uniform(0, 0.5)) for _ in range(n)]
opened = 0
while time.monotonic() < end:
    now = time.monotonic()
    for i, (s, until) in enumerate(slots):
        if now < until:
            continue
        if s is None:
            s = socket.create_connection((host, port), timeout=2)
            s.sendall(b'DIST00000001')
            slots[i] = (s, now + rng.uniform(0.2, 1.0))
            opened += 1
        else:
            s.close()
            slots[i] = (None, now + rng.uniform(0.05, 0.5))
    time.sleep(0.01)
for s, _ in slots:
    if s is not None:
        s.close()
print(opened)
'''


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('mdnsd')
    ap.add_argument('hosts')
    ap.add_argument('--seconds', type=float, default=30.0, help='each measured window [30]')
    ap.add_argument('--connections', type=int, default=8, help='job slots while busy [8]')
    ap.add_argument('--rounds', type=int, default=1, help='old/new pairs, interleaved [1]')
    ap.add_argument('--settle', type=float, default=5.0, help='seconds between start and idle [5]')
    ap.add_argument('--sample-interval', type=int, default=250, help="the daemons' option [250]")
    ap.add_argument('--trials', type=int, default=5, help='new jobs timed on an idle farm [5]')
    a = ap.parse_args(argv)
    if not (1 <= a.seconds <= 3600 and 1 <= a.connections <= 64 and 1 <= a.rounds <= 20
            and 0 <= a.settle <= 600 and 50 <= a.sample_interval <= 10000 and 0 <= a.trials <= 100):
        ap.error('--seconds 1-3600, --connections 1-64, --rounds 1-20, --settle 0-600, '
                 '--sample-interval 50-10000, --trials 0-100')
    return a


def cpu(pid):
    """(utime + stime in seconds, on-CPU seconds from schedstat) of every
    thread of pid; a thread that exits meanwhile is left out."""
    ticks, ns = 0, 0
    for task in glob.glob(f'/proc/{pid}/task/*'):
        try:
            with open(f'{task}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])   # utime, stime: fields 14, 15
            with open(f'{task}/schedstat') as f:
                ns += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return ticks / TICK, ns / 1e9


def measure(procs, seconds):
    """CPU seconds each proc used over the next seconds: {name: (stat, schedstat)}."""
    before = {n: cpu(p.pid) for n, p in procs.items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    span = time.monotonic() - t0
    out = {}
    for n, p in procs.items():
        if not p.alive():
            raise lan.LanError(f'{n}: distcc-mdnsd exited during the measurement')
        after = cpu(p.pid)
        out[n] = tuple((x - y) / span for x, y in zip(after, before[n]))
    return out


def run_mode(net, bins, a, mode):
    """Starts both daemons in mode, measures idle then busy; returns
    {(daemon, phase): (stat share, schedstat share)} and the jobs opened."""
    server, client = net.hosts
    env = {'DISTCC_MDNS_SAMPLING': MODES[mode]}
    args = [f'--sample-interval={a.sample_interval}']
    procs = {'server': dm.start_mdnsd(server, bins, *args, env=env, name=f'mdnsd-{mode}'),
             'client': dm.start_mdnsd(client, bins, *args, env=env, name=f'mdnsd-{mode}')}
    lan.wait_until(lambda: dm.all_alive(client, [server.ip]), 30, 0.2, watch=procs.values(),
                   what='h2 listing h1 alive by gossip')
    time.sleep(a.settle)
    results = {}
    for name, share in measure(procs, a.seconds).items():
        results[(name, 'idle')] = share
    churn = client.spawn(['/usr/bin/python3', '-c', CHURN, server.ip, '3632', str(a.connections),
                          str(a.seconds + 2)], name=f'churn-{mode}', stdout_pipe=True)
    time.sleep(1.0)   # the churn under way
    for name, share in measure(procs, a.seconds).items():
        results[(name, 'busy')] = share
    out, _ = churn.popen.communicate(timeout=a.seconds + 30)
    jobs = int(out.strip() or 0)
    lags = [seen_after(server, client, a) for _ in range(a.trials)]
    for p in procs.values():
        dm.stop_mdnsd(p)
    return results, jobs, lags


def running_seen(client, server):
    """The job count h2's daemon shows for h1 (None: not listed)."""
    s = dm.find_server(dm.hosts_query(client), server.ip)
    return None if s is None else s.get('running')


def seen_after(server, client, a):
    """Seconds from one connection opening to h1's distccd, on an idle farm
    (the cadence backed off), until h2's daemon shows the job: sampling plus
    gossip. Polled every 10 ms for at most 10 s."""
    lan.wait_until(lambda: running_seen(client, server) == 0, 10, 0.05, what='h1 idle again')
    time.sleep(2.5)   # idle long enough to back off fully (1 s) whatever the phase
    hold = client.spawn(['/usr/bin/python3', '-c', HOLD, server.ip, '3632'], name='hold', stdout_pipe=True)
    hold.popen.stdout.readline()    # connected and the token sent
    t0 = time.monotonic()
    try:
        lan.wait_until(lambda: (running_seen(client, server) or 0) >= 1, 10, 0.01,
                       what="h2 seeing h1's new job")
        return time.monotonic() - t0
    finally:
        hold.stop()


# One connection to HOST:PORT held until killed; prints a line once it is a job.
HOLD = r'''
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.sendall(b'DIST00000001')
print('open', flush=True)
time.sleep(60)
'''


def main(argv):
    a = parse(argv)
    lan.check_environment()
    bins = dm.Binaries([a.mdnsd, a.hosts])
    totals = {}
    jobs = {}
    lags = {}
    with lan.Lan(2) as net:
        server, _ = net.hosts
        server.start_distccd(jobs=a.connections)
        for r in range(a.rounds):
            for mode in list(MODES) if r % 2 == 0 else list(MODES)[::-1]:
                results, opened, seen = run_mode(net, bins, a, mode)
                jobs.setdefault(mode, []).append(opened)
                lags.setdefault(mode, []).extend(seen)
                for (name, phase), share in results.items():
                    totals.setdefault((mode, name, phase), []).append(share)
    print(f'\ndistcc-mdnsd CPU, {a.rounds} round(s) of {a.seconds:g} s per phase, '
          f'--sample-interval={a.sample_interval}, busy = {a.connections} job slots churning '
          f'({", ".join(f"{m}: {sum(v) / len(v) / a.seconds:.0f} jobs/s" for m, v in jobs.items())})')
    print(f'  {"daemon":<8} {"phase":<6}' + ''.join(f' {m + " ms/min":>14} {m + " %core":>11}' for m in MODES)
          + '   (schedstat)')
    for name in ('server', 'client'):
        for phase in ('idle', 'busy'):
            cells = []
            for mode in MODES:
                shares = totals[(mode, name, phase)]
                stat = sum(s[0] for s in shares) / len(shares)
                sched = sum(s[1] for s in shares) / len(shares)
                cells.append(f' {sched * 60e3:>14.1f} {sched * 100:>10.3f}%')
                figure(f'{name}_{phase}_{mode}_cpu_share', round(sched * 100, 4), '%core',
                       target=(0.5 if phase == 'idle' else 1.0) if name == 'server' and mode == 'new'
                       else None)
                figure(f'{name}_{phase}_{mode}_cpu_share_stat_ticks', round(stat * 100, 4), '%core')
            print(f'  {name:<8} {phase:<6}' + ''.join(cells))
    print(f'\nA new job on idle h1 seen by h2 (sampling + gossip), {a.trials} trial(s) per round:')
    for mode in MODES:
        v = lags[mode]
        if v:
            print(f'  {mode}: mean {sum(v) / len(v) * 1000:.0f} ms, max {max(v) * 1000:.0f} ms')
            figure(f'new_job_seen_{mode}_max', round(max(v), 3), 's')
    return 0


if __name__ == '__main__':
    lan.run_test(main)
