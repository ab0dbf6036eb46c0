#!/usr/bin/env python3
"""Virtual-LAN build benchmark: real distcc builds on a simulated heterogeneous farm.

    python3 bench/lan/build_bench.py build/src/mdnsd/distcc-mdnsd build/src/hosts/distcc-mdns-hosts \\
        [build/src/run/distcc-mdns-run] [--modes static,randomize,zeroconf,mdns,mdns-run]
        [--clients 4] [--units 80] [--stagger 5] [--json PATH]

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
  mdns-run   the servers of mdns; clients run distcc-mdnsd without a hosts
             file and build under `distcc-mdns-run --trace=FILE make` with
             no -j: the runner serves make's jobserver, its tokens follow the
             live share, and it keeps its own hosts file (needs the runner's
             path, the third argument)

With mdns-run among the modes (and --stagger above 0, 5 s by default) a
staggered scenario follows the interleaved runs: one build per client under
the runner, client i started --stagger x i seconds after the first, on a
bigger project (--stagger-units), so that the first is alone at the start
and still building when the last starts. From the runner's traces it prints
the first client's peak token count while alone against the farm's slots,
and after each later start how long its token count took to fall to its
fair share.

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
# The client's local slots that compile under the runner, and have tokens,
# while its line has at least as many remote slots (one preprocesses).
CLIENT_COMPILE_SLOTS = CLIENT_CORES - 1
MODES = ('static', 'randomize', 'zeroconf', 'mdns', 'mdns-learned', 'mdns-share', 'mdns-run',
         'mdns-run-cold', 'mdns-run-nocopies')
RUN_MODES = ('mdns-run', 'mdns-run-cold', 'mdns-run-nocopies')
COMPILER = 'fakecc'
# The runner's query socket on a client: the daemon's default path in that
# host's own /run.
RUN_SOCKET = dm.DEFAULT_SOCKET


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
    ap.add_argument('runner', nargs='?', help='distcc-mdns-run, for the mode mdns-run')
    ap.add_argument('--modes', default=None,
                    help=f'default: {",".join(MODES)} (without mdns-run when no runner is given)')
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
    ap.add_argument('--stagger', type=float, default=5.0,
                    help='seconds between the starts of the staggered scenario (mdns-run only; '
                         '0: none)')
    ap.add_argument('--stagger-units', type=int, default=200,
                    help='translation units per client in the staggered scenario')
    ap.add_argument('--json', default=os.path.join(ROOT, 'build', 'bench-lan', 'lan.json'))
    a = ap.parse_args(argv)
    if a.modes is None:
        a.modes = ','.join(m for m in MODES if m not in ('mdns-run-cold', 'mdns-run-nocopies')
                           and (a.runner or m not in RUN_MODES))
    a.modes = [m for m in a.modes.split(',') if m]
    bad = [m for m in a.modes if m not in MODES]
    if bad or not a.modes:
        ap.error(f'unknown modes {bad}; choose from {",".join(MODES)}')
    if any(m in RUN_MODES for m in a.modes) and not a.runner:
        ap.error('the mode mdns-run needs the path of distcc-mdns-run (the third argument)')
    if not 0 <= a.stagger <= 60 or not 1 <= a.stagger_units <= 1000:
        ap.error('need a stagger of 0-60 s and 1-1000 stagger units')
    if not 1 <= a.clients <= 20 or not 1 <= a.units <= 1000 or a.median <= 0 \
            or not 1 <= a.repeat <= 20 or not 1.0 <= a.speed_error <= 100.0:
        ap.error('need 1-20 clients, 1-1000 units, a positive median, 1-20 repeats and a '
                 'speed error in [1, 100]')
    return a


# ---------------------------------------------------------------- workload

def workload(args, units=None):
    """Per client, the work of each unit: log-normal (compile times have a long
    right tail), clipped to [0.1, 10 x median], the same in every mode;
    @units per client (default: args.units)."""
    rng = random.Random(args.seed)
    mu = math.log(args.median)
    return [[round(min(10 * args.median, max(0.1, rng.lognormvariate(mu, args.sigma))), 3)
             for _ in range(units or args.units)] for _ in range(args.clients)]


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
        # Under the runner the build gets its hosts file from the runner, not
        # from the daemon, as with a system daemon that writes none.
        run = mode in RUN_MODES
        for c in self.clients:
            hosts_file = [] if run else [f'--hosts-file={self.hosts_file(c)}']
            self.daemons.append(dm.start_mdnsd(c, self.bins, *hosts_file,
                                               *self.speed_flag(CLIENT_SPEED), f'--cpus={CLIENT_CORES}',
                                               learn_flag(mode), *self.client_args, wait=False))
        for c in self.clients:
            if run:
                lan.wait_until(lambda c=c: self.daemon_lists_all(c), 30, 0.1, watch=self.daemons,
                               what=f'{c.name}: every server in its daemon\'s view')
            else:
                lan.wait_until(lambda c=c: self.all_listed(self.hosts_file(c)), 30, 0.1,
                               watch=self.daemons, what=f'{c.name}: every server in its hosts file')
        # The runner wraps $CC in distcc itself (CC="distcc fakecc").
        return self.env({'DISTCC_HOSTS': None, 'CC': COMPILER} if run else {'DISTCC_HOSTS': None})

    def daemon_lists_all(self, c):
        """The client's daemon answers and knows every server (a look that
        reserves nothing and gossips no demand)."""
        try:
            obj = dm.query(c, {'op': 'hosts', 'reserve': False}, timeout=2)
        except (OSError, ValueError):
            return False
        known = {s.get('address') for s in obj.get('servers', [])}
        return obj.get('ok') and all(h.ip in known for h in self.servers)

    def make_jobs(self, mode, client, env):
        """make's -j for the mode; 0 for none (the runner's jobserver)."""
        if mode in RUN_MODES:
            return 0
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

def run_mode(farm, mode, works, before_stop=None, delays=None):
    """One build of every client, all at once or client i @delays[i] seconds
    after the first; @before_stop(farm, env) runs after the builds, while
    the daemons still run, and its result is returned under 'before_stop'."""
    args = farm.args
    delays = delays or [0.0] * len(farm.clients)
    note(f'mode {mode}: starting the servers')
    farm.start_servers(mode)
    env = farm.prepare_clients(mode)
    projs = [write_project(c, w) for c, w in zip(farm.clients, works)]
    jobs = [farm.make_jobs(mode, c, env) for c in farm.clients]
    run = mode in RUN_MODES
    traces = [os.path.join(c.dir, f'run-trace-{mode}.jsonl') for c in farm.clients]
    for p in traces:
        if os.path.exists(p):
            os.unlink(p)
    if run:
        # The compile times each runner remembers (~/.cache/distcc-mdns/works):
        # kept from one run of the mode to the next, as a user's rebuild of
        # the same tree finds them; mdns-run-cold starts every run without.
        cache = os.path.join(farm.net.tmpdir, f'cache-{mode}')
        if mode == 'mdns-run-cold':
            shutil.rmtree(cache, ignore_errors=True)
        os.makedirs(cache, mode=0o700, exist_ok=True)
        env = dict(env, XDG_CACHE_HOME=cache)
    note(f'mode {mode}: make -j {jobs}; DISTCC_HOSTS={env.get("DISTCC_HOSTS")!r}'
         + (f'; starts {delays} s' if any(delays) else ''))
    lines = {c.name: [] for c in farm.clients}   # (t, hosts line) as distcc saw it
    why = {}      # client -> the daemon's view the first time its line named no server

    def sample(t):
        if run:
            return    # the runner's own hosts file: its trace has every line
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

    def command(i):
        if run:
            # --local-slots: the model's client cores, not this machine's CPUs.
            copies = ['--no-copies'] if mode == 'mdns-run-nocopies' else []
            return [farm.bins.runner, f'--socket={RUN_SOCKET}', f'--trace={traces[i]}',
                    f'--local-slots={CLIENT_CORES}', *copies, 'make', '-s', '-C', projs[i]]
        return ['make', '-s', f'-j{jobs[i]}']

    procs, starts, ends = [], [], [None] * len(farm.clients)

    def waiter(i):
        # A thread per make stamps its exit exactly (no polling interval).
        try:
            procs[i].popen.wait(args.build_timeout)
        except subprocess.TimeoutExpired:
            return
        ends[i] = time.monotonic()

    t0 = time.monotonic()
    sample(0.0)
    # The barrier: every build is spawned in one loop (a few ms apart, or at
    # its delay); each client's makespan runs from its own spawn to its own
    # exit.
    threads = []
    for i, (c, proj) in enumerate(zip(farm.clients, projs)):
        while time.monotonic() < t0 + delays[i]:
            # A timer, not a synchronisation: the start times are the scenario.
            sample(time.monotonic() - t0)
            for p in procs:
                if p.popen.poll() not in (None, 0):
                    raise AssertionError(f'mode {mode}: a build failed before the last '
                                         f'started: {p.tail(5)}')
            time.sleep(min(0.1, max(0.0, t0 + delays[i] - time.monotonic())))
        starts.append(time.monotonic())
        procs.append(c.spawn(command(i), name=f'make-{mode}', cwd=proj, env=env))
        threads.append(threading.Thread(target=waiter, args=(i,), daemon=True))
        threads[-1].start()

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
    trace = [read_trace(p) for p in traces] if run else None
    if run:
        for i, c in enumerate(farm.clients):
            # The hosts lines distcc read, from the runner's trace (its t
            # counts from the runner's start, about the client's spawn).
            for rec in trace[i]:
                text = rec.get('line') or ''
                t = round(starts[i] - t0 + rec['t'], 3)
                if not lines[c.name] or lines[c.name][-1][1] != text:
                    lines[c.name].append((t, text))
    out = summarize(farm, mode, works, jobs, starts, ends, records, lines, t0, trace)
    out['no_server_snapshots'] = why
    out['before_stop'] = looked
    if run:
        out['remembered'] = remembered(os.path.join(env['XDG_CACHE_HOME'], 'distcc-mdns', 'works'),
                                       projs, works)
        note(f'mode {mode}: the runners now remember {out["remembered"]}')
    return out


def fnv1a64(text):
    """WorkHistory::key(): FNV-1a of 64 bits."""
    h = 0xcbf29ce484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001b3) % (1 << 64)
    return h


def remembered(path, projs, works):
    """How many of the units the runners' cache (@path) remembers, and how
    far the remembered work is from the true one (|remembered / true - 1|,
    median and 90th percentile)."""
    try:
        with open(path) as f:
            cache = {w[0]: float(w[1]) for w in (l.split() for l in f if not l.startswith('#')) if len(w) == 3}
    except OSError:
        cache = {}
    errors = []
    for proj, ws in zip(projs, works):
        real = os.path.realpath(proj)
        for i, w in enumerate(ws):
            got = cache.get(f'{fnv1a64(os.path.join(real, f"u{i:03d}.o")):016x}')
            if got is not None:
                errors.append(abs(got / w - 1))
    errors.sort()
    pick = (lambda q: round(errors[min(len(errors) - 1, int(q * len(errors)))], 3)) if errors else (lambda q: None)
    return dict(units=len(errors), of=sum(len(ws) for ws in works), error_p50=pick(0.5), error_p90=pick(0.9))


def read_trace(path):
    """The runner's --trace: one JSON object a line; a line that is not one
    (a torn last write) is skipped, a missing file is an error."""
    out = []
    with open(path) as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get('t'), (int, float)):
                out.append(rec)
    if not out:
        raise AssertionError(f'{path}: the runner wrote no trace')
    return out


# ---------------------------------------------------------------- figures

def jain(xs):
    """Jain's fairness index (sum x)^2 / (n sum x^2): 1 when all are equal,
    1/n when one client gets everything."""
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs)) if xs and any(xs) else None


def summarize(farm, mode, works, jobs, starts, ends, records, lines, t0, traces=None):
    """The figures of one run; @traces: per client the runner's trace, or None."""
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
                            start=round(starts[i] - t0, 3), hosts_lines=lines[c.name],
                            trace=compact_trace(traces[i]) if traces else None))
        if traces:
            # Copies of slow compiles the runner started, and those that won.
            last = traces[i][-1] if traces[i] else {}
            clients[-1].update(copies=last.get('copies', 0), copies_won=last.get('copies_won', 0))
            clients[-1].update(tail_figures(clients[-1]))
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
        # The issue's measure: Jain's index over the clients' makespans.
        jain_makespan=round(jain([c['makespan'] for c in clients]), 4),
        local_jobs=sum(c['local_jobs'] for c in clients),
        copies=sum(c.get('copies', 0) for c in clients),
        copies_won=sum(c.get('copies_won', 0) for c in clients),
        # stretch: a job's time over its time alone on that host (1 = never shared)
        mean_stretch=round(sum(slow) / len(slow), 3) if slow else None,
        clients=clients, servers=servers,
        jobs=[dict(host=r['host'], client=r['client'], work=r['work'],
                   start=round(r['start'] - t0, 3), end=round(r['end'] - t0, 3),
                   running=r['running']) for r in records])


def held(trace, key, t_from, t_to):
    """Time-weighted mean of @key over [t_from, t_to) in a trace whose
    records hold until the next (times 'at')."""
    total = area = 0.0
    for a, b in zip(trace, trace[1:] + [None]):
        lo = max(a['at'], t_from)
        hi = min(b['at'] if b else t_to, t_to)
        if hi > lo and a.get(key) is not None:
            area += a[key] * (hi - lo)
            total += hi - lo
    return area / total if total else None


def tail_figures(client):
    """When the runner first called the build's tail, its jobs in use then,
    and the seconds it spent in the tail: a tail called early starves the
    build (tokens are only withheld, so it lasts until the jobs drain)."""
    tr = client.get('trace') or []
    first = next((x for x in tr if x.get('tail')), None)
    secs = sum(b['t'] - a['t'] for a, b in zip(tr, tr[1:]) if a.get('tail'))
    return dict(first_tail=round(first['t'], 3) if first else None,
                in_use_at_first_tail=first['in_use'] if first else None,
                tail_seconds=round(secs, 3))


def compact_trace(trace):
    """The runner's trace with what the plots and figures use."""
    keys = ('t', 'tokens', 'in_use', 'idle', 'share', 'want', 'tail')
    return [{k: r.get(k) for k in keys} for r in trace]


def aggregate(runs):
    """The run of a mode whose makespan is nearest the mean stands for it (its
    jobs feed the plots); the means and every run's figures are added."""
    mean = sum(r['overall'] for r in runs) / len(runs)
    rep = dict(min(runs, key=lambda r: abs(r['overall'] - mean)))
    keys = ('overall', 'ratio', 'jain_throughput', 'jain_makespan', 'local_jobs', 'copies', 'copies_won')
    rep['runs'] = [dict({k: r[k] for k in keys}, jobs=r['jobs'],
                        makespans=[c['makespan'] for c in r['clients']]) for r in runs]
    for k in keys + ('mean_stretch',):
        rep[f'{k}_mean'] = round(sum(r[k] for r in runs) / len(runs), 3)
    return rep


def farm_slots(farm):
    return sum(slots(farm.spec[h.name][0]) for h in farm.servers)


# The planner's minimum speed of a job, as a fraction of the client's
# speed (PlanOptions::minSpeed): it lists a server at most at the jobs that
# each still run that fast under processor sharing.
MIN_SPEED = 0.5


def usable_slots():
    """The remote slots a job still runs at MIN_SPEED x the client's speed
    on: min(distccd --jobs, floor(cores x speed / min speed)) per server.
    A slot beyond them adds no throughput to its server, only latency."""
    floor = MIN_SPEED * CLIENT_SPEED
    return sum(min(slots(cores), math.floor(cores * speed / floor + 1e-9)) for _, cores, speed in SERVERS)


def fair_tokens(farm_slots_, builds):
    """A build's fair token count when @builds share the farm: its equal part
    of the servers' slots plus its own machine's slot that compiles (the
    other one preprocesses, has no token in the body)."""
    return math.ceil(farm_slots_ / builds) + CLIENT_COMPILE_SLOTS


def stagger_figures(r, farm_slots_):
    """From the first client's trace in a staggered run: its peak token count
    while alone, and after each later start the time its tokens (the target
    the runner set) and its jobs in use took to fall to the fair share."""
    c1 = r['clients'][0]
    if not c1.get('trace'):
        return None
    # Time since the first spawn; the runner counts from its own start.
    tr = [dict(x, at=c1['start'] + x['t']) for x in c1['trace']]
    ends = [c['start'] + c['makespan'] for c in r['clients']]
    starts = [c['start'] for c in r['clients']]
    alone_until = starts[1] if len(starts) > 1 else ends[0]
    alone = [x for x in tr if x['at'] < alone_until and x.get('tokens') is not None]
    peak = max((x['tokens'] for x in alone), default=None)
    reach = next((x['at'] for x in alone if x['tokens'] >= farm_slots_), None)
    # The most remote slots the daemon's lines offered while it was alone:
    # the planner may list a slow server below its distccd slots.
    offered = max((sum(int(tok.split('/')[1]) for tok in line.split()
                       if '/' in tok and not tok.startswith('localhost'))
                   for t, line in c1['hosts_lines'] if t < alone_until), default=None)
    usable = usable_slots() + CLIENT_COMPILE_SLOTS
    out = dict(farm_slots=farm_slots_, fair_alone=fair_tokens(farm_slots_, 1),
               usable_slots=usable, reached_usable_at=next((round(x['at'], 3) for x in alone
                                                             if x['tokens'] >= usable), None),
               alone_until=round(alone_until, 3), peak_alone=peak, line_slots_alone=offered,
               peak_in_use_alone=max((x['in_use'] for x in alone if x.get('in_use') is not None),
                                     default=None),
               mean_tokens_alone=round(held(tr, 'tokens', 0.0, alone_until) or 0, 1),
               mean_in_use_alone=round(held(tr, 'in_use', 0.0, alone_until) or 0, 1),
               reached_farm_at=round(reach, 3) if reach is not None else None,
               peak_share=max((x['share'] or 0 for x in alone), default=None), starts=[])
    for k in range(1, len(starts)):
        t = starts[k]
        running = sum(1 for a, e in zip(starts, ends) if a <= t < e)
        fair = fair_tokens(farm_slots_, running)
        entry = dict(client=r['clients'][k]['name'], at=round(t, 3), builds=running, fair=fair,
                     first_running=ends[0] > t)
        before = [x for x in tr if x['at'] <= t]
        entry['tokens_before'] = before[-1]['tokens'] if before else None
        after = [x for x in tr if x['at'] > t]
        nxt = starts[k + 1] if k + 1 < len(starts) else ends[0]
        for key, name in (('tokens', 'tokens_fell'), ('in_use', 'in_use_fell')):
            # The state at the start counts (already at or below: 0 s).
            now = [before[-1]] if before else []
            hit = next((x for x in now + after if x.get(key) is not None and x[key] <= fair), None)
            entry[name] = (round(max(0.0, hit['at'] - t), 3)
                           if hit and hit['at'] <= nxt + 0.5 else None)
        low = [x['tokens'] for x in after if x['at'] < nxt and x.get('tokens') is not None]
        entry['tokens_min'] = min(low) if low else None
        out['starts'].append(entry)
    return out


def print_stagger(st):
    r, f = st['run'], st['figures']
    print(f'staggered scenario (mdns-run): {len(r["clients"])} clients x {st["units"]} units, '
          f'client i starts {st["stagger"]:g} x i s after the first; makespans '
          + ', '.join(f'{c["name"]} {c["makespan"]:.1f} s (from {c["start"]:.1f})'
                      for c in r['clients']))
    if not f:
        print('  the first client left no trace')
        return
    reach = (f'reached at {f["reached_farm_at"]:.2f} s' if f['reached_farm_at'] is not None
             else 'never reached')
    print(f'  first client alone (0-{f["alone_until"]:.1f} s): peak {f["peak_alone"]} tokens '
          f'against the farm\'s {f["farm_slots"]} distccd slots ({reach}) and its '
          f'{f["usable_slots"]} usable ones with the local ones (reached at {f["reached_usable_at"]} s; '
          f'goal: reach them); its lines '
          f'offered {f["line_slots_alone"]} remote slots at most (+ {CLIENT_COMPILE_SLOTS} local); '
          f'peak jobs in use {f["peak_in_use_alone"]}; means over the window: tokens '
          f'{f["mean_tokens_alone"]}, jobs in use {f["mean_in_use_alone"]}')
    for c in r['clients']:
        if c.get('first_tail') is not None:
            print(f'  {c["name"]}: tail first called at {c["first_tail"]:.2f} s of its build '
                  f'({c["in_use_at_first_tail"]} jobs in use), {c["tail_seconds"]:.1f} s in the tail '
                  f'of {c["makespan"]:.1f} s')
    for e in f['starts']:
        fell = 'never' if e['tokens_fell'] is None else f'{e["tokens_fell"]:.2f} s'
        used = 'never' if e['in_use_fell'] is None else f'{e["in_use_fell"]:.2f} s'
        print(f'  {e["client"]} starts at {e["at"]:.1f} s ({e["builds"]} builds): the first '
              f'client\'s tokens {e["tokens_before"]} -> <= {e["fair"]} (fair) after {fell} '
              f'(goal 2 s), its jobs in use after {used}; lowest {e["tokens_min"]}'
              + ('' if e['first_running'] else ' (the first client had finished)'))
    print()


def print_table(result):
    modes = result['modes']
    first = next(iter(modes.values()))
    print()
    print(f'virtual-LAN build benchmark: {len(SERVERS)} servers, {result["clients"]} clients, '
          f'{result["units"]} units each, {result["repeat"]} run(s) per mode; ideal '
          f'{first["ideal"]:.1f} s (total work / server capacity {first["capacity"]:g})')
    names = [s['name'] for s in first['servers']]
    print(f'  {"mode":<12} {"-j":>5} {"overall mean (runs)":<24} {"/ideal":>6} {"jain":>6} '
          f'{"jainM":>6} {"local":>5} | the run nearest the mean: clients (s); jobs '
          + ' '.join(names))
    for m, r in modes.items():
        jtxt = ','.join(str(j) if j else 'run' for j in sorted({c['jobs_flag'] for c in r['clients']}))
        runs = ' '.join(f'{x["overall"]:.1f}' for x in r['runs'])
        spans = ' '.join(f'{c["makespan"]:.1f}' for c in r['clients'])
        per = ' '.join(str(s['jobs']) for s in r['servers'])
        print(f'  {m:<12} {jtxt:>5} {r["overall_mean"]:>5.1f} s ({runs}){"":<{max(0, 14 - len(runs))}} '
              f'{r["ratio_mean"]:>6.2f} {r["jain_throughput_mean"]:>6.3f} '
              f'{r["jain_makespan_mean"]:>6.3f} {r["local_jobs_mean"]:>5.0f} | {spans}; {per}')
    print('  jain: over the throughputs; jainM: over the makespans')
    for m in (m for m in RUN_MODES if m in modes):
        r = modes[m]
        print(f'  {m}: copies of slow compiles started {r["copies_mean"]:.1f} a run, '
              f'{r["copies_won_mean"]:.1f} of them gave the output')
    if 'mdns' in modes and 'mdns-learned' in modes:
        print(f'  makespan / ideal, advertised speeds (mdns) vs learned (mdns-learned): '
              f'{modes["mdns"]["ratio_mean"]:.2f} vs {modes["mdns-learned"]["ratio_mean"]:.2f}')
    if 'mdns-run' in modes:
        r = modes['mdns-run']
        local = (f', local units {r["local_jobs_mean"]:.0f} against mdns\'s '
                 f'{modes["mdns"]["local_jobs_mean"]:.0f} (goal: fewer)' if 'mdns' in modes else '')
        print(f'  mdns-run against the goals: {r["ratio_mean"]:.2f} x ideal (goal <= 1.15), '
              f'Jain over the makespans {r["jain_makespan_mean"]:.3f} (goal >= 0.95){local}')
        print('  mdns-run, the run nearest the mean: the runner first called the tail at '
              + ', '.join(f'{c["name"]} {c["first_tail"]:.1f} s ({c["in_use_at_first_tail"]} jobs '
                          f'in use), {c["tail_seconds"]:.1f} s in it'
                          for c in r['clients'] if c.get('first_tail') is not None))
    if 'zeroconf' in modes and 'mdns' in modes:
        print(f'  speed-up of mdns over zeroconf (means): '
              f'{modes["zeroconf"]["overall_mean"] / modes["mdns"]["overall_mean"]:.2f}x')
    print()


def main(argv):
    args = parse(argv)
    lan.check_environment()
    bins = dm.Binaries([args.mdnsd, args.hosts])
    bins.runner = None
    if args.runner:
        bins.runner = os.path.abspath(args.runner)
        if not (os.path.isfile(bins.runner) and os.access(bins.runner, os.X_OK)):
            raise AssertionError(f'{bins.runner} is not built (ninja -C build src/run/distcc-mdns-run)')
    works = workload(args)
    stagger = args.stagger if 'mdns-run' in args.modes and args.clients > 1 else 0
    names = [n for n, _, _ in SERVERS] + [f'c{i + 1}' for i in range(args.clients)]
    result = dict(date=time.strftime('%Y-%m-%d %H:%M:%S %Z'),
                  command=shlex.join(['python3', os.path.relpath(__file__, ROOT)] + argv),
                  clients=args.clients, units=args.units, median=args.median,
                  sigma=args.sigma, seed=args.seed, repeat=args.repeat,
                  speed_error=args.speed_error,
                  client_cores=CLIENT_CORES, client_speed=CLIENT_SPEED,
                  machine_cpus=os.cpu_count(), works=works, modes={},
                  # The machine is shared with other builds: its load says how much.
                  load_before=[round(x, 2) for x in os.getloadavg()])
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
            if stagger:
                sworks = workload(args, args.stagger_units)
                # Another workload under the same object names: what the
                # runners remember of the first would misplace its units.
                shutil.rmtree(os.path.join(net.tmpdir, 'cache-mdns-run'), ignore_errors=True)
                r = run_mode(farm, 'mdns-run', sworks,
                             delays=[stagger * i for i in range(args.clients)])
                result['stagger'] = dict(stagger=stagger, units=args.stagger_units, run=r,
                                         figures=stagger_figures(r, farm_slots(farm)))
        finally:
            farm.close()
    result['modes'] = {m: aggregate(rs) for m, rs in runs.items()}
    result['wall_seconds'] = round(time.monotonic() - t_start, 1)
    result['load_after'] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(result, f, indent=1)
    print_table(result)
    if result.get('stagger'):
        print_stagger(result['stagger'])
    print(f'machine load (1, 5, 15 min) before {result["load_before"]}, after {result["load_after"]}')
    print(f'results in {args.json} ({result["wall_seconds"]} s of wall time)')


if __name__ == '__main__':
    lan.run_test(main)
