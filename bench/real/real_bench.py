#!/usr/bin/env python3
"""Real-compiler benchmark: icecream, stock distcc and distcc-mdns building
real `gcc -O2` units on a farm of hosts of different speeds.

    python3 bench/real/real_bench.py build/src/mdnsd/distcc-mdnsd build/src/hosts/distcc-mdns-hosts \\
        [--run build/src/run/distcc-mdns-run] [--systems icecream,static,mdns-fixed,mdns-run] \\
        [--clients 3] [--units 14] [--repeat 3] [--json PATH] [--report docs/benchmarks/real.md]
    python3 bench/real/real_bench.py --from-json build/bench-real/real.json docs/benchmarks/real.md

Root only (tests/lan/lan.py; tools/bench-real wraps it and installs icecc).
Every host is a network namespace of the virtual LAN (tests/lan/lan.py) and a
cgroup v1 `cpu` group whose CFS quota is its speed (bench/real/cpuhost.py):
servers of 0.6, 0.4, 0.2 and 0.1 of a core (speeds 6:4:2:1), clients of
0.15. Everything started on a host runs inside its group: distccd, iceccd,
icecc-scheduler, distcc-mdnsd, make and every compiler. Each host sees its
own /proc/loadavg and /proc/stat, computed from its group's runnable tasks
(the kernel's would show every host the whole machine's: iceccd, whose load
comes from /proc/stat, then reported every server busy whenever other work
ran on this machine, and icecream kept jobs waiting for minutes).

Every client builds its own generated project (bench/real/units.py: units of
about 0.7-1.5 s of one core at -O2 by default, sizes from a fixed seed) and all clients
start together. The systems, taking turns run by run:

  icecream    icecc-scheduler on s1, `iceccd -s SCHEDULER` on every host (the
              LAN has no broadcast), servers `-m SLOTS`, clients
              `--no-remote -m 0`; `make -jN CC="icecc gcc"` with N = the farm's
              slots, as icecream users do. Its daemons run for the whole
              benchmark, like a real farm's; an untimed warm-up with the
              quotas off creates the compiler environment (icecc-create-env)
              and ships it to every server first. The report counts the
              compiles per host and the jobs the scheduler's log shows done
              per server, so it shows that jobs went remote.
  static      stock distcc: `make -jN CC="distcc gcc"` with DISTCC_HOSTS
              naming every server /SLOTS, fastest first, N = the farm's slots
  mdns-fixed  distcc-mdnsd on every host (speeds advertised as the quotas,
              learned speeds on as by default); the clients' daemons write
              $DISTCC_DIR/hosts and make runs with -j$(distcc-mdns-hosts -j),
              DISTCC_HOSTS unset (the README's way before the runner)
  mdns-run    the same daemons; every client runs `distcc-mdns-run make`
              with no -j (needs --run)

The ideal makespan is the compile CPU time of all units (each compiled once
beforehand, alone and unthrottled: user+sys of gcc) over the servers' total
quota. Per system: makespan / ideal and Jain's fairness over the clients'
throughputs (their units' CPU time / their makespan), the mean and standard
deviation over the runs, and the compiles per host (cc1 processes seen in
each host's group). Nothing is asserted about the figures; the exit status
says only whether every build succeeded. The machine is shared: the report
prints `uptime` before and after, and the load during each run.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
import types

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lan'))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, 'bench', 'lan'))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note  # noqa: E402
import cpuhost  # noqa: E402
import units as unitgen  # noqa: E402
from build_bench import jain, read_trace  # noqa: E402

# name, quota (cores), slots (distccd --jobs, iceccd -m, the static list's /N)
SERVERS = (('s1', 0.6, 2), ('s2', 0.4, 2), ('s3', 0.2, 2), ('s4', 0.1, 2))
CLIENT_QUOTA = 0.15
SYSTEMS = ('icecream', 'static', 'mdns-fixed', 'mdns-run')
SCHEDULER_PORT = 8765
SOCKET = '/run/distcc-mdns/socket'


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('mdnsd')
    ap.add_argument('hosts')
    ap.add_argument('--run', help='distcc-mdns-run (the mdns-run system is left out without it)')
    ap.add_argument('--systems', default=','.join(SYSTEMS))
    ap.add_argument('--clients', type=int, default=3)
    ap.add_argument('--units', type=int, default=14, help='translation units per client')
    ap.add_argument('--median', type=float, default=1.0,
                    help='about the median compile time of a unit, seconds of one core')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--repeat', type=int, default=3, help='runs of every system (interleaved)')
    ap.add_argument('--build-timeout', type=float, default=900.0)
    ap.add_argument('--json', default=os.path.join(ROOT, 'build', 'bench-real', 'real.json'))
    ap.add_argument('--report', help='write this markdown report (docs/benchmarks/real.md)')
    ap.add_argument('--command', help='the command line to print in the report')
    ap.add_argument('--logs', help='copy every host\'s logs (daemons, builds) into this directory')
    a = ap.parse_args(argv)
    a.systems = [s for s in a.systems.split(',') if s]
    bad = [s for s in a.systems if s not in SYSTEMS]
    if bad or not a.systems:
        ap.error(f'unknown systems {bad}; choose from {",".join(SYSTEMS)}')
    if 'mdns-run' in a.systems and not a.run:
        if argv and any(x.startswith('--systems') for x in argv):
            ap.error('mdns-run needs --run PATH/distcc-mdns-run')
        a.systems.remove('mdns-run')
    if a.run:
        a.run = os.path.abspath(a.run)
        if not os.access(a.run, os.X_OK):
            ap.error(f'{a.run} is not an executable')
    if not 1 <= a.clients <= 8 or not 1 <= a.units <= 500 or not 0.1 <= a.median <= 10 \
            or not 1 <= a.repeat <= 20:
        ap.error('need 1-8 clients, 1-500 units, a median in [0.1, 10] s and 1-20 repeats')
    return a


def uptime():
    return subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()


def machine_load():
    with open('/proc/loadavg') as f:
        return float(f.read().split()[0])


# ---------------------------------------------------------------- the farm

class Bench:
    """The LAN, its groups and the daemons of every system."""

    def __init__(self, net, args, bins):
        self.net, self.args, self.bins = net, args, bins
        self.servers = net.hosts[:len(SERVERS)]
        self.clients = net.hosts[len(SERVERS):]
        self.quota = {h.name: q for h, (_, q, _) in zip(self.servers, SERVERS)}
        self.slots = {h.name: s for h, (_, _, s) in zip(self.servers, SERVERS)}
        for c in self.clients:
            self.quota[c.name] = CLIENT_QUOTA
        cpuhost.remove_stale()
        self.groups = cpuhost.Farm(net.tag, self.quota)
        self.sampler = None
        try:
            for h in net.hosts:
                self.groups.mount_in(h, os.path.join(h.dir, 'cgroup-cpu'))
            # What the LAN harness started (anchor, D-Bus, avahi) joins its host's group.
            for h in net.hosts:
                for pid in h.pids():
                    self.groups[h.name].adopt(pid)
            self.sampler = cpuhost.Sampler(self.groups, os.path.join(net.tmpdir, 'loadavg'))
            for h in net.hosts:
                h.run(['mount', '--bind', self.sampler.files[h.name], '/proc/loadavg'])
                h.run(['mount', '--bind', self.sampler.stat_files[h.name], '/proc/stat'])
        except BaseException:
            self.close()
            raise
        self.bindir = os.path.join(net.tmpdir, 'bin')
        os.makedirs(self.bindir, mode=0o755, exist_ok=True)
        self.mdnsd_bins = {h.name: self.wrapper(h, 'distcc-mdnsd', bins.mdnsd) for h in net.hosts}
        self.daemons = []
        self.icecc = []

    def wrapper(self, host, name, target):
        """A script that joins @host's group and execs @target: for helpers that
        take a program path (dmtest.start_mdnsd), not an argv."""
        path = os.path.join(self.bindir, f'{name}-{host.name}')
        with open(path, 'w') as f:
            f.write(f'#!/bin/sh\n# {name} inside {host.name}\'s cpu group\n'
                    f'echo $$ > {self.groups[host.name].inner}/cgroup.procs || exit 126\n'
                    f'exec {shlex.quote(target)} "$@"\n')
        os.chmod(path, 0o755)
        return path

    def spawn(self, host, argv, **kw):
        return host.spawn(self.groups[host.name].wrap(argv), **kw)

    def run(self, host, argv, **kw):
        return host.run(self.groups[host.name].wrap(argv), **kw)

    def farm_slots(self):
        return sum(self.slots.values())

    # -- stock distccd, for the whole benchmark (idle, it costs nothing)

    def start_distccd(self):
        for h in self.servers:
            argv = ['distccd', '--daemon', '--no-detach', '--log-stderr', '--log-level=info',
                    '--allow', str(self.net.subnet), '--listen', h.ip, '--port', '3632',
                    '--jobs', str(self.slots[h.name])]
            h.distccd = self.spawn(h, argv, name='distccd')
        for h in self.servers:
            lan.wait_until(lambda h=h: h.listening(3632), 10, 0.05, what=f'{h.name}: distccd',
                           watch=(h.distccd,))

    # -- icecream, for the whole benchmark

    def start_icecream(self):
        sched = self.servers[0]
        p = self.spawn(sched, ['icecc-scheduler', '-p', str(SCHEDULER_PORT), '-vvv'], name='icecc-scheduler')
        self.icecc.append(p)
        lan.wait_until(lambda: sched.listening(SCHEDULER_PORT), 10, 0.05, what='icecc-scheduler',
                       watch=(p,))
        for h in self.net.hosts:
            base = os.path.join(h.dir, 'icecc')
            os.makedirs(base, exist_ok=True)
            shutil.chown(base, 'icecc', 'icecc')
            argv = ['iceccd', '-s', sched.ip, '-b', base, '-N', h.name, '-vv']
            # A client serves nobody and is given none of its own jobs either
            # (-m 0): every compile goes to the servers, as with the static list.
            argv += ['-m', str(self.slots[h.name])] if h in self.servers else ['--no-remote', '-m', '0']
            self.icecc.append(self.spawn(h, argv, name='iceccd'))
        # Every daemon logged in: one connection per host to the scheduler's port.
        lan.wait_until(lambda: sched.established(SCHEDULER_PORT) >= len(self.net.hosts), 30, 0.1,
                       what='every iceccd connected to the scheduler', watch=self.icecc)

    def warm_icecream(self):
        """Untimed setup, every quota off: each client's iceccd creates the
        compiler environment (icecc-create-env, no network) on first use, and
        builds of small units from the first client ship it to every server,
        as on a farm that has been up for a while."""
        for g in self.groups.groups.values():
            g.throttle(False)
        try:
            for c in self.clients:
                src = c.write('warm/warm.c', unitgen.unit_source(f'warm_{c.name}', 20))
                t0 = time.monotonic()
                self.run(c, ['icecc', 'gcc', '-O2', '-c', src, '-o', src[:-2] + '.o'], timeout=300)
                note(f'{c.name}: icecream environment ready after {time.monotonic() - t0:.1f} s')
            c = self.clients[0]
            proj = os.path.join(c.work, 'warm-spread')
            unitgen.write_project(proj, 'warm', [40] * 2 * self.farm_slots())
            for i in range(5):
                missing = [h.name for h in self.servers if not self.icecc_envs(h)]
                if not missing:
                    break
                note(f'icecream: shipping the environment, not yet on {missing}')
                unitgen.clean(proj)
                self.run(c, ['make', '-s', f'-j{2 * self.farm_slots()}', 'CC=icecc gcc'], cwd=proj,
                         timeout=600)
            missing = [h.name for h in self.servers if not self.icecc_envs(h)]
            if missing:
                raise lan.LanError(f'icecream: no environment installed on {missing} after 5 warm-up builds')
        finally:
            for g in self.groups.groups.values():
                g.throttle(True)

    def icecc_envs(self, h):
        """The compiler environments installed on server @h (BASEDIR/target=ARCH/HASH)."""
        base = os.path.join(h.dir, 'icecc')
        return [os.path.join(base, t, e) for t in os.listdir(base) if t.startswith('target=')
                for e in os.listdir(os.path.join(base, t))] if os.path.isdir(base) else []

    # -- distcc-mdns, per run (its sampling is part of what it costs)

    def start_mdns(self, hosts_file):
        for h in self.servers:
            self.daemons.append(dm.start_mdnsd(h, self.mdns_bins(h), f'--speed={self.quota[h.name]:g}',
                                               '--cpus=1', wait=False))
        for c in self.clients:
            extra = [f'--hosts-file={os.path.join(c.distcc_dir, "hosts")}'] if hosts_file else []
            self.daemons.append(dm.start_mdnsd(c, self.mdns_bins(c), f'--speed={CLIENT_QUOTA:g}',
                                               '--cpus=1', *extra, wait=False))
        for c in self.clients:
            lan.wait_until(lambda c=c: self.sees_farm(c), 30, 0.2, watch=self.daemons,
                           what=f'{c.name}: every server known to its daemon')

    def mdns_bins(self, h):
        return types.SimpleNamespace(mdnsd=self.mdnsd_bins[h.name], hosts=self.bins.hosts)

    def sees_farm(self, c):
        try:
            obj = dm.query(c, {'op': 'hosts'}, timeout=2)
        except (OSError, ValueError):
            return False
        seen = {s.get('address') for s in obj.get('servers', [])}
        return all(h.ip in seen for h in self.servers)

    def stop_mdns(self):
        for p in self.daemons:
            dm.stop_mdnsd(p)
        self.daemons = []
        for c in self.clients:
            for fn in os.listdir(c.distcc_dir):
                p = os.path.join(c.distcc_dir, fn)
                shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)

    def close(self):
        if self.sampler:
            self.sampler.close()
        for p in getattr(self, 'icecc', []):
            p.stop(timeout=5)
        self.groups.close()


# ---------------------------------------------------------------- one run

def commands(bench, system, client, proj, trace):
    """(argv, env) of one client's build in @system."""
    slots = bench.farm_slots()
    if system == 'icecream':
        return ['make', '-s', f'-j{slots}', 'CC=icecc gcc'], {}
    if system == 'static':
        line = ' '.join(f'{h.ip}/{bench.slots[h.name]}' for h in bench.servers)
        return ['make', '-s', f'-j{slots}'], {'DISTCC_HOSTS': line, 'CC': 'distcc gcc'}
    if system == 'mdns-fixed':
        r = bench.run(client, [bench.bins.hosts, '-j'], env={'DISTCC_HOSTS': None})
        return ['make', '-s', f'-j{int(r.stdout.strip())}'], {'DISTCC_HOSTS': None, 'CC': 'distcc gcc'}
    # An emulated client has one CPU, not the machine's. The compile times
    # the runners remember live as long as this benchmark: its first round
    # builds cold, the later ones as rebuilds of the same trees.
    cache = os.path.join(bench.net.tmpdir, 'cache')
    os.makedirs(cache, mode=0o700, exist_ok=True)
    return [bench.args.run, f'--socket={SOCKET}', f'--trace={trace}', '--local-slots=1', 'make', '-s'], \
        {'DISTCC_HOSTS': None, 'XDG_CACHE_HOME': cache}


def run_system(bench, system, projects, cost):
    args = bench.args
    if system.startswith('mdns'):
        bench.start_mdns(hosts_file=system == 'mdns-fixed')
    try:
        for proj in projects:
            unitgen.clean(proj)
        traces = [os.path.join(bench.net.tmpdir, f'trace-{c.name}-{time.monotonic_ns()}.jsonl')
                  for c in bench.clients]
        cmds = [commands(bench, system, c, p, t) for c, p, t in zip(bench.clients, projects, traces)]
        note(f'{system}: {shlex.join(cmds[0][0])} {cmds[0][1]}')
        load0 = machine_load()
        t0 = time.monotonic()
        procs, starts, ends = [], [], [None] * len(bench.clients)
        for c, proj, (argv, env) in zip(bench.clients, projects, cmds):
            starts.append(time.monotonic())
            procs.append(bench.spawn(c, argv, name=f'make-{system}', cwd=proj, env=env))

        def waiter(i):
            try:
                procs[i].popen.wait(args.build_timeout)
            except subprocess.TimeoutExpired:
                return
            ends[i] = time.monotonic()
        threads = [threading.Thread(target=waiter, args=(i,), daemon=True) for i in range(len(procs))]
        for t in threads:
            t.start()
        loads = []

        def done():
            loads.append(machine_load())
            return all(e is not None for e in ends)
        lan.wait_until(done, args.build_timeout, 0.5, what=f'{system}: every build finished',
                       watch=bench.daemons)
        for t in threads:
            t.join(5)
        failed = [(c.name, p.returncode, p.tail(5)) for c, p in zip(bench.clients, procs)
                  if p.returncode != 0]
        if failed:
            raise AssertionError(f'{system}: builds failed: {failed}')
        missing = [o for proj in projects for o in
                   (os.path.join(proj, fn[:-2] + '.o') for fn in os.listdir(proj) if fn.endswith('.c'))
                   if not os.path.isfile(o)]
        if missing:
            raise AssertionError(f'{system}: objects not built: {missing[:5]}')
        compiles = bench.sampler.compiles_since(t0)
        trace = {}
        for c, path in zip(bench.clients, traces):
            if os.path.exists(path):
                trace[c.name] = read_trace(path)
    finally:
        if system.startswith('mdns'):
            bench.stop_mdns()
    ideal = sum(cost.values()) / sum(q for _, q, _ in SERVERS)
    overall = max(ends) - min(starts)
    clients = []
    for c, proj, s, e in zip(bench.clients, projects, starts, ends):
        work = sum(v for k, v in cost.items() if k.startswith(proj + os.sep))
        clients.append(dict(name=c.name, makespan=round(e - s, 2), work=round(work, 2),
                            throughput=round(work / (e - s), 4)))
    tp = [c['throughput'] for c in clients]
    return dict(system=system, overall=round(overall, 2), ideal=round(ideal, 2),
                ratio=round(overall / ideal, 3),
                jain=round(jain(tp), 4),
                clients=clients, compiles=compiles,
                load=dict(start=load0, mean=round(sum(loads) / len(loads), 2) if loads else None,
                          max=max(loads, default=None)),
                make=cmds[0][0][-3:], trace=trace,
                tokens={c: dict(max=max((x.get('tokens', 0) for x in t), default=None),
                                min=min((x.get('tokens', 0) for x in t), default=None),
                                first=t[0].get('tokens') if t else None,
                                tail_s=tail_seconds(t)) for c, t in trace.items()})


def tail_seconds(trace):
    """Seconds the runner's trace says the build spent in its tail."""
    out = 0.0
    for a, b in zip(trace, trace[1:]):
        if a.get('tail'):
            out += b.get('t', 0) - a.get('t', 0)
    return round(out, 1)


# ---------------------------------------------------------------- report

def aggregate(runs, hosts):
    ratios = [r['ratio'] for r in runs]
    return dict(
        runs=len(runs), ratios=ratios,
        ratio_mean=round(statistics.mean(ratios), 3),
        ratio_stdev=round(statistics.stdev(ratios), 3) if len(ratios) > 1 else 0.0,
        overall_mean=round(statistics.mean(r['overall'] for r in runs), 1),
        jain_mean=round(statistics.mean(r['jain'] for r in runs), 3),
        compiles_mean={h: round(statistics.mean(r['compiles'].get(h, 0) for r in runs), 1) for h in hosts},
        load_mean=round(statistics.mean(r['load']['mean'] for r in runs), 2))


def table(result):
    hosts = result['hosts']
    lines = ['| system | runs | makespan / ideal: mean | stddev | each run | mean makespan (s) | Jain | '
             'compiles per host (mean): ' + ' '.join(hosts) + ' | machine load |',
             '|---|---|---|---|---|---|---|---|---|']
    for s, a in result['systems'].items():
        lines.append(f'| {s} | {a["runs"]} | {a["ratio_mean"]:.2f} | {a["ratio_stdev"]:.2f} | '
                     f'{", ".join(f"{x:.2f}" for x in a["ratios"])} | {a["overall_mean"]:.1f} | '
                     f'{a["jain_mean"]:.3f} | '
                     + ' '.join(f'{a["compiles_mean"][h]:g}' for h in hosts)
                     + f' | {a["load_mean"]:.1f} |')
    return '\n'.join(lines)


def write_report(result, path):
    quotas = ', '.join(f'{n} {q:g}' for n, q, _ in SERVERS)
    text = f"""# Real-compiler benchmark

Written by `bench/real/real_bench.py` (run by `tools/bench-real`); do not edit.

Command: `{result["command"]}`, {result["date"]}, {result["wall_seconds"]:.0f} s of wall time.

Farm: {len(SERVERS)} servers whose cgroup CPU quotas are {quotas} of a core
({result["slots"]} slots each), {result["clients"]} clients of {CLIENT_QUOTA:g} each, every
host its own network namespace and cpu group. Each client builds {result["units"]} generated C
units with `gcc -O2` (each unit {result["unit_min"]:.2f}-{result["unit_max"]:.2f} s of one
unthrottled core, {result["total_cpu"]:.1f} s in all), all clients at once.
Ideal makespan: that total over the servers' quota ({result["server_quota"]:g} cores) =
**{result["ideal"]:.1f} s**. Runs of the systems take turns ({result["repeat"]} rounds).

{table(result)}

Commands, all clients at once (N = the farm's {result.get("farm_slots", 8)} slots):

| system | every client runs |
|---|---|
| icecream | `make -jN CC="icecc gcc"` (icecc-scheduler on s1, `iceccd -s SCHEDULER -m 2` on the servers, `--no-remote -m 0` on the clients) |
| static | `make -jN CC="distcc gcc"`, `DISTCC_HOSTS` naming every server /2, fastest first |
| mdns-fixed | `make -j$(distcc-mdns-hosts -j) CC="distcc gcc"`, the daemon's live `$DISTCC_DIR/hosts` |
| mdns-run | `distcc-mdns-run --local-slots=1 make` (no `-j`; the runner sets CC, MAKEFLAGS, DISTCC_DIR; the compile times it remembers kept from one round to the next: round 1 builds cold) |

- *makespan / ideal*: from the first client's start to the last client's end, over the ideal; the
  mean and sample standard deviation of the runs, and each run.
- *Jain*: Jain's index over the clients' throughputs (their units' CPU time / their makespan), 1 = equal.
- *compiles per host*: `cc1` processes (not `-E`) seen in each host's cpu group, the mean per run;
  on a client they are local compiles.
- *machine load*: the 1-minute load average of the whole machine during the runs (other work shares it).
- The ideal counts the servers only. The clients' own {CLIENT_QUOTA:g} of a core each is not in it;
  distcc-mdns lists `localhost` and compiles some units there (the compiles per host show how many),
  the stock list and icecream (`-m 0` on the clients) never do.

Machine: {result["cpus"]} CPUs. `uptime` before: `{result["uptime_before"]}`; after: `{result["uptime_after"]}`.
This machine is shared with other builds: every host's quota is a ceiling, not a guarantee, so a
busy moment slows every system. The interleaving spreads that over the systems, and the standard
deviation shows how much it moved the runs.

{result["notes"]}
"""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def print_table(result):
    print()
    print(f'real-compiler benchmark: ideal {result["ideal"]:.1f} s '
          f'({result["total_cpu"]:.1f} s of CPU / {result["server_quota"]:g} cores of servers)')
    print(table(result))
    print(f'uptime before: {result["uptime_before"]}\nuptime after:  {result["uptime_after"]}')
    print()


# ---------------------------------------------------------------- main

def main(argv):
    args = parse(argv)
    lan.check_environment()
    why = cpuhost.available()
    if why:
        raise lan.Skip(why)
    if 'icecream' in args.systems and not shutil.which('iceccd'):
        raise lan.Skip('icecream is not installed (apt-get install icecc; tools/bench-real does it)')
    bins = dm.Binaries([args.mdnsd, args.hosts])
    sizes = unitgen.sizes(args.clients, args.units, args.median, args.seed)
    names = [n for n, _, _ in SERVERS] + [f'c{i + 1}' for i in range(args.clients)]
    result = dict(date=time.strftime('%Y-%m-%d %H:%M:%S %Z'),
                  command=args.command or shlex.join(['python3', os.path.relpath(__file__, ROOT)] + argv),
                  clients=args.clients, units=args.units, repeat=args.repeat, cpus=os.cpu_count(),
                  slots=','.join(str(s) for _, _, s in SERVERS), farm_slots=sum(s for _, _, s in SERVERS),
                  server_quota=round(sum(q for _, q, _ in SERVERS), 3),
                  uptime_before=uptime(), hosts=names)
    t_start = time.monotonic()
    runs = {s: [] for s in args.systems}
    with lan.Lan(len(names), names=names, hostnames=names) as net:
        note(f'LAN of {len(names)} hosts up')
        bench = Bench(net, args, bins)
        try:
            projects = []
            sources = []
            for c, sz in zip(bench.clients, sizes):
                proj = os.path.join(c.work, 'proj')
                sources += unitgen.write_project(proj, c.name, sz)
                projects.append(proj)
            note(f'measuring {len(sources)} units alone, unthrottled')
            cost = unitgen.measure(sources, os.path.join(net.tmpdir, 'measure'), note)
            result.update(total_cpu=round(sum(cost.values()), 2), unit_min=min(cost.values()),
                          unit_max=max(cost.values()),
                          ideal=round(sum(cost.values()) / result['server_quota'], 2))
            note(f'ideal {result["ideal"]:.1f} s ({result["total_cpu"]:.1f} s of CPU)')
            bench.start_distccd()
            if 'icecream' in args.systems:
                bench.start_icecream()
                bench.warm_icecream()
            for i in range(args.repeat):
                for system in args.systems:
                    r = run_system(bench, system, projects, cost)
                    runs[system].append(r)
                    note(f'{system} run {i + 1}: {r["overall"]:.1f} s, {r["ratio"]:.2f} x ideal, '
                         f'Jain {r["jain"]:.3f}, compiles {r["compiles"]}, load {r["load"]["mean"]}')
            result['icecream_check'] = icecream_check(bench) if 'icecream' in args.systems else None
        finally:
            bench.close()
            if args.logs:
                for h in net.hosts:
                    shutil.copytree(h.logdir, os.path.join(args.logs, h.name), dirs_exist_ok=True)
    result['uptime_after'] = uptime()
    result['wall_seconds'] = round(time.monotonic() - t_start, 1)
    result['systems'] = {s: aggregate(rs, names) for s, rs in runs.items()}
    result['runs'] = runs
    result['notes'] = notes(result)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(result, f, indent=1)
    print_table(result)
    if args.report:
        write_report(result, args.report)
        print(f'report in {args.report}')
    print(f'results in {args.json} ({result["wall_seconds"]} s of wall time)')


def icecream_check(bench):
    """What icecream's own logs say: remote jobs and the environment."""
    sched = bench.icecc[0].log()
    # "END 12 status=0 ... server=s2": a job done, and where (the warm-up included).
    ends = re.findall(r' END \d+ status=\d+ .* server=(\S+)', sched)
    envs = []
    for c in bench.clients:
        for dirpath, _, files in os.walk(os.path.join(c.dir, 'icecc')):
            envs += [os.path.join(dirpath, f) for f in files if f.endswith(('.tar.gz', '.tar.xz', '.tar.zst'))]
    return dict(scheduler_log_lines=len(sched.splitlines()), environments=envs,
                jobs_by_server={h: ends.count(h) for h in sorted(set(ends))})


def notes(result):
    out = []
    chk = result.get('icecream_check')
    if chk is not None:
        by = ', '.join(f'{h} {n}' for h, n in chk.get('jobs_by_server', {}).items())
        out.append(f'- icecream: {len(chk["environments"])} compiler environment(s) created on the clients '
                   f'by icecc-create-env; jobs its scheduler logged as done, per server, warm-up '
                   f'included: {by or "not recorded"}.')
    for i, r in enumerate(result['runs'].get('mdns-run', [])):
        per = '; '.join(f'{c}: first {t["first"]}, min {t.get("min")}, max {t["max"]}, tail {t["tail_s"]} s'
                        for c, t in r['tokens'].items())
        out.append(f'- mdns-run run {i + 1}, tokens of each client from its `--trace` '
                   f'(the implicit one included): {per}')
    return '\n'.join(out)


def report_from_json(path, out):
    """Writes the markdown report again from a saved --json, without a run."""
    with open(path) as f:
        result = json.load(f)
    result['notes'] = notes(result)
    write_report(result, out)
    print_table(result)


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == '--from-json':
        report_from_json(sys.argv[2], sys.argv[3])
    else:
        lan.run_test(main)
