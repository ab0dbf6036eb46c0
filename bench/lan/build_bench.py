#!/usr/bin/env python3
"""Virtual-LAN build benchmark: real distcc builds on a simulated heterogeneous farm.

    python3 bench/lan/build_bench.py build/src/mdnsd/distcc-mdnsd build/src/hosts/distcc-mdns-hosts \\
        [--modes static,randomize,zeroconf,mdns] [--clients 4] [--units 80] [--json PATH]

Root only (tests/lan/lan.py). One LAN of servers and clients, each its own
network namespace with avahi-daemon; servers run a real distccd whose only
compiler used is fakecc (bench/lan/fakecc.c), clients run the real distcc
client under `make -jN`. fakecc takes the work written in each source file
from its host's processor-sharing CPU model (bench/lan/cpumodel.py): a job
gets speed x min(1, cores / running jobs), so an overloaded server slows
every job on it, as a real one does, while this 2-core machine stays idle.

Every client builds its own generated project (--units translation units,
work drawn once from a fixed-seed log-normal distribution) and all clients
start together, in each mode on the same farm and workload:

  static     DISTCC_HOSTS lists every server /its slots, in the same order
             (fastest first) on every client
  randomize  the same list with --randomize
  zeroconf   stock `distccd --zeroconf` servers, DISTCC_HOSTS=+zeroconf
  mdns       distccd + distcc-mdnsd --speed on the servers; clients run
             distcc-mdnsd --hosts-file=$DISTCC_DIR/hosts, DISTCC_HOSTS unset,
             make -j"$(distcc-mdns-hosts -j)" as the README says; every
             daemon with --learn-speed=no: the advertised speeds are trusted
  mdns-learned  the same with --learn-speed=yes (the default): clients time
             their remote jobs, gossip them and pick by the learned speeds
  mdns-share the same with make -j of the farm's slots / clients (a client's
             fair share): a diagnostic that separates the picks from the -j

It prints a table per mode (makespans, ratio to the ideal, Jain's fairness,
jobs per server) and writes everything, every job included, to --json;
bench/lan/report.py turns that into plots and docs/benchmarks/lan.md.
Nothing is asserted about the numbers: the exit status says only whether
every build succeeded.
"""

import argparse
import json
import math
import os
import random
import shlex
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lan'))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note  # noqa: E402

# name, cores, speed. distccd's slots are cores + 2, its own default.
SERVERS = (('s1', 8, 1.5), ('s2', 8, 1.5), ('s3', 4, 1.0), ('s4', 4, 1.0),
           ('s5', 2, 0.6), ('s6', 2, 0.6))
CLIENT_CORES, CLIENT_SPEED = 2, 1.0
MODES = ('static', 'randomize', 'zeroconf', 'mdns', 'mdns-learned', 'mdns-share')
COMPILER = 'fakecc'


def slots(cores):
    return cores + 2


def advertised_speeds(servers, error):
    """What each server advertises: its true speed, or with @error > 1 a
    benchmark wrong both ways: servers faster than a client say they are
    @error times slower, the others @error times faster. (Dividing a slow
    one would drop it below half a client's speed, where no client sends
    it a job, and no job ever tells the truth.)"""
    return {name: round(speed / error if speed > CLIENT_SPEED else speed * error, 3)
            for name, _, speed in servers}


def learn_flag(mode):
    """Today's mdns trusts the advertised speeds; mdns-learned learns them."""
    return '--learn-speed=yes' if mode == 'mdns-learned' else '--learn-speed=no'


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('mdnsd')
    ap.add_argument('hosts')
    ap.add_argument('--modes', default=','.join(MODES))
    ap.add_argument('--clients', type=int, default=4)
    ap.add_argument('--units', type=int, default=80, help='translation units per client')
    ap.add_argument('--median', type=float, default=1.6,
                    help='median work of a unit, seconds of one core at speed 1')
    ap.add_argument('--sigma', type=float, default=0.7, help='log-normal sigma of the work')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--repeat', type=int, default=3,
                    help='runs of every mode (interleaved); the figures are their means')
    ap.add_argument('--jobs', type=int, default=0,
                    help='make -j of the stock modes (default: the slots in the list)')
    ap.add_argument('--build-timeout', type=float, default=240.0)
    ap.add_argument('--emulate-load', action='store_true',
                    help="every host's /proc/loadavg shows the jobs on its model CPU, not "
                         "this whole machine's runnable tasks (which every namespace shares)")
    ap.add_argument('--speed-error', type=float, default=1.0,
                    help='servers advertise their speed wrong by this factor: those faster than '
                         'a client / F, the others x F (a benchmark that lied)')
    ap.add_argument('--json', default=os.path.join(ROOT, 'build', 'bench-lan', 'lan.json'))
    a = ap.parse_args(argv)
    a.modes = [m for m in a.modes.split(',') if m]
    bad = [m for m in a.modes if m not in MODES]
    if bad or not a.modes:
        ap.error(f'unknown modes {bad}; choose from {",".join(MODES)}')
    if not 1 <= a.clients <= 20 or not 1 <= a.units <= 1000 or a.median <= 0 \
            or not 1 <= a.repeat <= 20 or not 1.0 <= a.speed_error <= 100.0:
        ap.error('need 1-20 clients, 1-1000 units, a positive median, 1-20 repeats and a '
                 'speed error in [1, 100]')
    return a


# ---------------------------------------------------------------- workload

def workload(args):
    """Per client, the work of each unit: log-normal (compile times have a long
    right tail), clipped to [0.1, 10 x median], the same in every mode."""
    rng = random.Random(args.seed)
    mu = math.log(args.median)
    return [[round(min(10 * args.median, max(0.1, rng.lognormvariate(mu, args.sigma))), 3)
             for _ in range(args.units)] for _ in range(args.clients)]


def write_project(host, works):
    """One C file per unit carrying its work; make compiles them with $(CC)."""
    proj = os.path.join(host.work, 'proj')
    shutil.rmtree(proj, ignore_errors=True)
    for i, w in enumerate(works):
        host.write(f'proj/u{i:03d}.c', f'/* work: {w} {host.name} u{i:03d} */\n'
                                       f'int u{i:03d}(int x) {{ return x + {i}; }}\n')
    objs = ' '.join(f'u{i:03d}.o' for i in range(len(works)))
    host.write('proj/Makefile', f'all: {objs}\n%.o: %.c\n\t$(CC) -c $< -o $@\n')
    return proj


# ---------------------------------------------------------------- the farm

class Farm:
    """The LAN, fakecc, the CPU models and the per-mode daemons."""

    def __init__(self, net, args, bins, servers=SERVERS, advertise=None, emulate_load=None):
        """@servers: (name, cores, true speed) of the first hosts of @net, the
        rest being clients; @advertise: name -> the speed its daemon
        advertises (default: advertised_speeds with args.speed_error);
        @emulate_load: every host's /proc/loadavg shows the jobs on its model
        CPU (default: args.emulate_load)."""
        self.net, self.args, self.bins = net, args, bins
        self.servers = net.hosts[:len(servers)]
        self.clients = net.hosts[len(servers):]
        self.spec = {h.name: (c, s) for h, (_, c, s) in zip(self.servers, servers)}
        self.advertise = advertise or advertised_speeds(servers, getattr(args, 'speed_error', 1.0))
        self.client_args = []   # more options for the clients' daemons
        for c in self.clients:
            self.spec[c.name] = (CLIENT_CORES, CLIENT_SPEED)
        self.bindir = os.path.join(net.tmpdir, 'bin')
        self.cpudir = os.path.join(net.tmpdir, 'cpu')
        self.joblog = os.path.join(net.tmpdir, 'jobs.jsonl')
        self.daemons = []
        self.build_fakecc()
        self.start_models()
        for s in self.servers:
            self.masquerade(s)
        if emulate_load if emulate_load is not None else getattr(args, 'emulate_load', False):
            for h in net.hosts:
                # This host's mount namespace only: lxcfs's way.
                h.run(['mount', '--bind', os.path.join(self.cpudir, f'{h.name}.loadavg'), '/proc/loadavg'])

    def build_fakecc(self):
        for d in (self.bindir, self.cpudir):
            os.makedirs(d, mode=0o755, exist_ok=True)
            os.chmod(d, 0o755)
        out = os.path.join(self.bindir, COMPILER)
        lan._sh(['gcc', '-O2', '-Wall', f'-DCPU_DIR="{self.cpudir}"', '-o', out,
                 os.path.join(HERE, 'fakecc.c')], timeout=60)
        os.chmod(out, 0o755)

    def start_models(self):
        specs = [f'{n}:{c}:{s}' for n, (c, s) in self.spec.items()]
        # The models run in the root namespaces: unix sockets bound to paths are
        # reachable from every network namespace, and one process serves all.
        self.model = subprocess.Popen([sys.executable, os.path.join(HERE, 'cpumodel.py'),
                                       self.cpudir, self.joblog] + specs,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=open(os.path.join(self.net.tmpdir, 'cpumodel.log'), 'w'))
        line = self.model.stdout.readline().decode().strip()
        if line != 'ready':
            raise lan.LanError(f'cpumodel did not start: {line!r}')

    def masquerade(self, host):
        """distccd runs only compilers in /usr/lib/distcc: this host's mount
        namespace gets a copy of that directory with fakecc added, bind-mounted
        over it (the real directory and the other hosts do not change)."""
        masq = os.path.join(host.dir, 'masq')
        os.makedirs(masq, exist_ok=True)
        os.chmod(masq, 0o755)
        for fn in os.listdir('/usr/lib/distcc'):
            os.symlink(os.path.realpath(os.path.join('/usr/lib/distcc', fn)),
                       os.path.join(masq, fn))
        os.symlink(os.path.join(self.bindir, COMPILER), os.path.join(masq, COMPILER))
        host.run(['mount', '--bind', masq, '/usr/lib/distcc'])

    def speed_flag(self, speed):
        """--speed=SPEED, or nothing for None (dmtest then gives --speed=1)."""
        return [] if speed is None else [f'--speed={speed}']

    def env(self, extra=None):
        e = {'PATH': f'{self.bindir}:{lan.PATH}', 'CC': f'distcc {COMPILER}'}
        e.update(extra or {})
        return e

    def static_line(self):
        return ' '.join(f'{h.ip}/{slots(self.spec[h.name][0])}' for h in self.servers)

    # -- per mode

    def start_servers(self, mode):
        for h in self.servers:
            cores, speed = self.spec[h.name]
            h.start_distccd(jobs=slots(cores), zeroconf=mode == 'zeroconf', env=self.env())
        if mode.startswith('mdns'):
            for h in self.servers:
                cores, speed = self.spec[h.name]
                self.daemons.append(dm.start_mdnsd(h, self.bins, *self.speed_flag(self.advertise[h.name]),
                                                   f'--cpus={cores}', learn_flag(mode), wait=False))

    def hosts_file(self, c):
        return os.path.join(c.distcc_dir, 'hosts')

    def zeroconf_file(self, c):
        return os.path.join(c.distcc_dir, 'zeroconf', 'hosts')

    def read(self, path):
        try:
            with open(path) as f:
                return f.read().strip()
        except FileNotFoundError:
            return ''

    def all_listed(self, path):
        text = self.read(path)
        return all(h.ip in text for h in self.servers)

    def prepare_clients(self, mode):
        """Starts what the mode needs on the clients and waits until every
        client's distcc would see every server; returns the client env."""
        if mode in ('static', 'randomize'):
            line = ('--randomize ' if mode == 'randomize' else '') + self.static_line()
            return self.env({'DISTCC_HOSTS': line})
        if mode == 'zeroconf':
            env = self.env({'DISTCC_HOSTS': '+zeroconf'})
            # The first +zeroconf use forks stock distcc's browser; a build would
            # start on a partial list. Start it and wait for the whole farm.
            for c in self.clients:
                c.run(['distcc', '--show-hosts'], env=env, check=False)
            for c in self.clients:
                lan.wait_until(lambda c=c: self.all_listed(self.zeroconf_file(c)), 30, 0.1,
                               what=f'{c.name}: every server in {self.zeroconf_file(c)}')
            return env
        for c in self.clients:
            self.daemons.append(dm.start_mdnsd(c, self.bins, f'--hosts-file={self.hosts_file(c)}',
                                               *self.speed_flag(CLIENT_SPEED), f'--cpus={CLIENT_CORES}',
                                               learn_flag(mode), *self.client_args, wait=False))
        for c in self.clients:
            lan.wait_until(lambda c=c: self.all_listed(self.hosts_file(c)), 30, 0.1,
                           watch=self.daemons, what=f'{c.name}: every server in its hosts file')
        return self.env({'DISTCC_HOSTS': None})

    def make_jobs(self, mode, client, env):
        if mode in ('mdns', 'mdns-learned'):
            r = client.run([self.bins.hosts, '-j'], env=env)
            return int(r.stdout.strip())
        farm = sum(slots(c) for c, _ in (self.spec[h.name] for h in self.servers))
        if mode == 'mdns-share':
            return max(1, farm // len(self.clients))
        return self.args.jobs or farm

    def snapshot(self, client, t, env):
        """What distcc-mdns-hosts --json (it only looks, reserves nothing) says
        about every server: why a line can name none of them."""
        obj = dm.hosts_json(client, self.bins, env=env)
        name = {h.ip: h.name for h in self.servers}
        return dict(t=round(t, 3), line=obj['line'], servers=[
            {k: s.get(k) for k in ('running', 'slots', 'reserved', 'limit', 'excluded')}
            | {'name': name.get(s['address'], s['address'])} for s in obj['servers']])

    def stop_mode(self):
        """Stops every daemon and client-side leftover (stock distcc's zeroconf
        browser) and clears the distcc state, so the next mode starts clean."""
        for p in self.daemons:
            dm.stop_mdnsd(p)
        self.daemons = []
        for h in self.servers:
            h.kill('distccd')
        for c in self.clients:
            c.kill('distcc')
            for fn in os.listdir(c.distcc_dir):
                p = os.path.join(c.distcc_dir, fn)
                shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)

    def jobs_since(self, t0):
        out = []
        with open(self.joblog) as f:
            for line in f:
                rec = json.loads(line)
                if rec['start'] >= t0:
                    out.append(rec)
        return out

    def close(self):
        self.model.terminate()
        try:
            self.model.wait(5)
        except subprocess.TimeoutExpired:
            self.model.kill()


# ---------------------------------------------------------------- one mode

def run_mode(farm, mode, works, before_stop=None):
    """One build of every client at once; @before_stop(farm, env) runs after
    the builds, while the daemons still run, and its result is returned
    under 'before_stop'."""
    args = farm.args
    note(f'mode {mode}: starting the servers')
    farm.start_servers(mode)
    env = farm.prepare_clients(mode)
    projs = [write_project(c, w) for c, w in zip(farm.clients, works)]
    jobs = [farm.make_jobs(mode, c, env) for c in farm.clients]
    note(f'mode {mode}: make -j {jobs}; DISTCC_HOSTS={env.get("DISTCC_HOSTS")!r}')
    lines = {c.name: [] for c in farm.clients}   # (t, hosts line) as distcc saw it
    why = {}      # client -> the daemon's view the first time its line named no server

    def sample(t):
        for c in farm.clients:
            if mode.startswith('mdns'):
                text = farm.read(farm.hosts_file(c))
                if c.name not in why and not any(h.ip in text for h in farm.servers):
                    why[c.name] = farm.snapshot(c, t, env)
            elif mode == 'zeroconf':
                text = ' '.join(farm.read(farm.zeroconf_file(c)).split())
            else:
                text = env['DISTCC_HOSTS']
            if not lines[c.name] or lines[c.name][-1][1] != text:
                lines[c.name].append((round(t, 3), text))

    t0 = time.monotonic()
    sample(0.0)
    # The barrier: every make is spawned in one loop (a few ms apart); each
    # client's makespan runs from its own spawn to its own exit.
    procs, starts, ends = [], [], [None] * len(farm.clients)
    for i, (c, proj) in enumerate(zip(farm.clients, projs)):
        starts.append(time.monotonic())
        procs.append(c.spawn(['make', '-s', f'-j{jobs[i]}'], name=f'make-{mode}', cwd=proj, env=env))

    def waiter(i):
        # A thread per make stamps its exit exactly (no polling interval).
        try:
            procs[i].popen.wait(args.build_timeout)
        except subprocess.TimeoutExpired:
            return
        ends[i] = time.monotonic()
    threads = [threading.Thread(target=waiter, args=(i,), daemon=True) for i in range(len(procs))]
    for t in threads:
        t.start()

    def done():
        sample(time.monotonic() - t0)
        return all(e is not None for e in ends)
    lan.wait_until(done, args.build_timeout, 0.2, what=f'mode {mode}: every build finished',
                   watch=farm.daemons)
    for t in threads:
        t.join(5)
    failed = [(c.name, p.returncode, p.tail(5)) for c, p in zip(farm.clients, procs)
              if p.returncode != 0]
    records = farm.jobs_since(t0)
    looked = before_stop(farm, env) if before_stop and not failed else None
    farm.stop_mode()
    if failed:
        raise AssertionError(f'mode {mode}: builds failed: {failed}')
    out = summarize(farm, mode, works, jobs, starts, ends, records, lines, t0)
    out['no_server_snapshots'] = why
    out['before_stop'] = looked
    return out


# ---------------------------------------------------------------- figures

def jain(xs):
    """Jain's fairness index (sum x)^2 / (n sum x^2): 1 when all are equal,
    1/n when one client gets everything."""
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs)) if xs and any(xs) else None


def summarize(farm, mode, works, jobs, starts, ends, records, lines, t0):
    capacity = sum(c * s for c, s in (farm.spec[h.name] for h in farm.servers))
    total_work = sum(sum(w) for w in works)
    ideal = total_work / capacity
    first = min(starts)
    overall = max(ends) - first
    clients = []
    for i, c in enumerate(farm.clients):
        span = ends[i] - starts[i]
        mine = [r for r in records if r['client'] == c.name]
        clients.append(dict(name=c.name, ip=c.ip, jobs_flag=jobs[i], makespan=round(span, 3),
                            work=round(sum(works[i]), 3),
                            throughput=round(sum(works[i]) / span, 4),
                            local_jobs=sum(1 for r in mine if r['host'] == c.name),
                            remote_jobs=sum(1 for r in mine if r['host'] != c.name),
                            hosts_lines=lines[c.name]))
    servers = []
    for h in farm.servers:
        cores, speed = farm.spec[h.name]
        mine = [r for r in records if r['host'] == h.name]
        work = sum(r['work'] for r in mine)
        servers.append(dict(name=h.name, ip=h.ip, cores=cores, speed=speed,
                            advertised=farm.advertise[h.name], slots=slots(cores),
                            capacity=cores * speed, jobs=len(mine), work=round(work, 3),
                            # busy: the share of the makespan its CPU had work
                            utilisation=round(work / (cores * speed) / overall, 3),
                            max_running=max((r['running'] + 1 for r in mine), default=0),
                            by_client={c.name: sum(1 for r in mine if r['client'] == c.name)
                                       for c in farm.clients}))
    slow = [(r['end'] - r['start']) / (r['work'] / farm.spec[r['host']][1])
            for r in records if r['work'] > 0]
    return dict(
        mode=mode, ideal=round(ideal, 3), total_work=round(total_work, 3),
        capacity=capacity, overall=round(overall, 3), ratio=round(overall / ideal, 3),
        jain_throughput=round(jain([c['throughput'] for c in clients]), 4),
        jain_makespan=round(jain([1 / c['makespan'] for c in clients]), 4),
        local_jobs=sum(c['local_jobs'] for c in clients),
        # stretch: a job's time over its time alone on that host (1 = never shared)
        mean_stretch=round(sum(slow) / len(slow), 3) if slow else None,
        clients=clients, servers=servers,
        jobs=[dict(host=r['host'], client=r['client'], work=r['work'],
                   start=round(r['start'] - t0, 3), end=round(r['end'] - t0, 3),
                   running=r['running']) for r in records])


def aggregate(runs):
    """The run of a mode whose makespan is nearest the mean stands for it (its
    jobs feed the plots); the means and every run's figures are added."""
    mean = sum(r['overall'] for r in runs) / len(runs)
    rep = dict(min(runs, key=lambda r: abs(r['overall'] - mean)))
    rep['runs'] = [{k: r[k] for k in ('overall', 'ratio', 'jain_throughput', 'local_jobs')}
                   for r in runs]
    for k in ('overall', 'ratio', 'jain_throughput', 'local_jobs', 'mean_stretch'):
        rep[f'{k}_mean'] = round(sum(r[k] for r in runs) / len(runs), 3)
    return rep


def print_table(result):
    modes = result['modes']
    first = next(iter(modes.values()))
    print()
    print(f'virtual-LAN build benchmark: {len(SERVERS)} servers, {result["clients"]} clients, '
          f'{result["units"]} units each, {result["repeat"]} run(s) per mode; ideal '
          f'{first["ideal"]:.1f} s (total work / server capacity {first["capacity"]:g})')
    names = [s['name'] for s in first['servers']]
    print(f'  {"mode":<10} {"-j":>5} {"overall mean (runs)":<24} {"/ideal":>6} {"jain":>6} '
          f'{"local":>5} | the run nearest the mean: clients (s); jobs '
          + ' '.join(names))
    for m, r in modes.items():
        jtxt = ','.join(str(j) for j in sorted({c['jobs_flag'] for c in r['clients']}))
        runs = ' '.join(f'{x["overall"]:.1f}' for x in r['runs'])
        spans = ' '.join(f'{c["makespan"]:.1f}' for c in r['clients'])
        per = ' '.join(str(s['jobs']) for s in r['servers'])
        print(f'  {m:<10} {jtxt:>5} {r["overall_mean"]:>5.1f} s ({runs}){"":<{max(0, 14 - len(runs))}} '
              f'{r["ratio_mean"]:>6.2f} {r["jain_throughput_mean"]:>6.3f} {r["local_jobs_mean"]:>5.0f} | '
              f'{spans}; {per}')
    if 'mdns' in modes and 'mdns-learned' in modes:
        print(f'  makespan / ideal, advertised speeds (mdns) vs learned (mdns-learned): '
              f'{modes["mdns"]["ratio_mean"]:.2f} vs {modes["mdns-learned"]["ratio_mean"]:.2f}')
    if 'zeroconf' in modes and 'mdns' in modes:
        print(f'  speed-up of mdns over zeroconf (means): '
              f'{modes["zeroconf"]["overall_mean"] / modes["mdns"]["overall_mean"]:.2f}x')
    print()


def main(argv):
    args = parse(argv)
    lan.check_environment()
    bins = dm.Binaries([args.mdnsd, args.hosts])
    works = workload(args)
    names = [n for n, _, _ in SERVERS] + [f'c{i + 1}' for i in range(args.clients)]
    result = dict(date=time.strftime('%Y-%m-%d %H:%M:%S %Z'),
                  command=shlex.join(['python3', os.path.relpath(__file__, ROOT)] + argv),
                  clients=args.clients, units=args.units, median=args.median,
                  sigma=args.sigma, seed=args.seed, repeat=args.repeat,
                  speed_error=args.speed_error,
                  client_cores=CLIENT_CORES, client_speed=CLIENT_SPEED,
                  machine_cpus=os.cpu_count(), works=works, modes={})
    runs = {m: [] for m in args.modes}
    t_start = time.monotonic()
    with lan.Lan(len(names), names=names, hostnames=names) as net:
        note(f'LAN of {len(names)} hosts up')
        farm = Farm(net, args, bins)
        try:
            # Modes take turns, so that a slow phase of the shared machine
            # does not land on one mode only.
            for i in range(args.repeat):
                for mode in args.modes:
                    r = run_mode(farm, mode, works)
                    runs[mode].append(r)
                    note(f'mode {mode} run {i + 1}: overall {r["overall"]:.1f} s, '
                         f'{r["ratio"]:.2f} x ideal, Jain {r["jain_throughput"]:.3f}, jobs per '
                         f'server {[s["jobs"] for s in r["servers"]]}, local {r["local_jobs"]}')
        finally:
            farm.close()
    result['modes'] = {m: aggregate(rs) for m, rs in runs.items()}
    result['wall_seconds'] = round(time.monotonic() - t_start, 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(result, f, indent=1)
    print_table(result)
    print(f'results in {args.json} ({result["wall_seconds"]} s of wall time)')


if __name__ == '__main__':
    lan.run_test(main)
