#!/usr/bin/env python3
"""A virtual LAN of hosts in network namespaces, for distcc-mdns tests.

Standard library only. Needs root. Every host has

  - its own network namespace with one veth named eth0, plugged into a bridge
    that lives in a separate "switch" namespace (nothing is added to the root
    namespace: no bridge, no veth, no address, no route);
  - an address in a private /24 of 10.77.0.0/16 chosen per run (a lock file
    keeps concurrent runs apart; the namespaces have no default route, so no
    packet can leave them except over the bridge to the other hosts);
  - a route 224.0.0.0/4 dev eth0 so multicast (mDNS) leaves by eth0;
  - its own mount and UTS namespaces: a per-host directory bind-mounted over
    /run, and its own hostname. One long-lived anchor process per host
    (`sleep infinity`) holds these namespaces; every command for the host
    enters them with `nsenter -t ANCHOR -n -m -u`, so it sees the same /run;
  - optionally its own D-Bus system bus and a real avahi-daemon, both run in
    the foreground as our children with their output captured to log files.

Everything is cleaned up (processes killed, namespaces deleted, temporary
directory removed) on success, failure, exception, SIGINT, SIGTERM and SIGHUP.
A janitor process in its own session repeats the cleanup if this process dies
without doing it (meson's timeout sends SIGTERM, then SIGKILL 0.5 s later).

Typical use:

    import lan
    def main(args):
        with lan.Lan(2) as net:
            h1, h2 = net.hosts
            h1.spawn(['avahi-publish', '-s', 'x', '_distcc._tcp', '3632'])
            b = h2.browse('_distcc._tcp')
            b.wait_for('x', timeout=5)
    lan.run_test(main)      # exit 0 pass, 1 fail, 77 skip

Interactive: `sudo python3 tests/lan/lan.py --shell 3` builds a LAN of three
hosts, prints how to enter them, and tears it down on Ctrl-C.
`python3 tests/lan/lan.py --cleanup-stale` removes what a killed run left.
"""

import ipaddress
import json
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
TMP_PREFIX = 'dmlan-'      # /tmp/dmlan-TAG-XXXX: all files of one run
NS_PREFIX = 'dml'
SUPERNET = ipaddress.ip_network('10.77.0.0/16')
PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
# Sanitizer and allocator settings meson puts into the test environment are
# passed on to every command run on a host.
PASS_ENV = ('ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'TSAN_OPTIONS',
            'MSAN_OPTIONS', 'MALLOC_PERTURB_', 'MALLOC_CHECK_')
TOOLS = {  # program -> Debian package
    'ip': 'iproute2', 'nsenter': 'util-linux', 'unshare': 'util-linux',
    'dbus-daemon': 'dbus-daemon', 'avahi-daemon': 'avahi-daemon',
    'avahi-browse': 'avahi-utils', 'avahi-publish': 'avahi-utils',
    'distccd': 'distcc', 'distcc': 'distcc', 'gcc': 'gcc', 'mount': 'mount',
}

_T0 = time.monotonic()


def note(msg):
    """Prints a timestamped progress line (seconds since the script started)."""
    print(f'[{time.monotonic() - _T0:7.3f}] {msg}', flush=True)


class LanError(Exception):
    """The harness or a process on a host failed."""


class Timeout(LanError):
    """wait_until gave up."""


class ProcessDied(LanError):
    """A process that had to stay alive exited."""


class Skip(Exception):
    """The test cannot run here (not root, no netns...): exit 77."""


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived; cleanup runs on the way out."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# ---------------------------------------------------------------- polling

def wait_until(predicate, timeout, interval=0.05, what='condition', watch=()):
    """Calls predicate() until it returns something truthy and returns that.

    Bounded in time (timeout seconds) and in count (timeout/interval + 2
    calls). Sleeps only between calls. Before every call each Proc in `watch`
    must still be alive, else ProcessDied (with its log tail) is raised at
    once instead of waiting out the timeout. Raises Timeout on expiry.
    Exceptions from predicate propagate.
    """
    start = time.monotonic()
    deadline = start + timeout
    calls = int(timeout / interval) + 2
    for _ in range(calls):
        for p in watch:
            p.check_alive()
        value = predicate()
        if value:
            return value
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(interval, deadline - now))
    raise Timeout(f'timed out after {time.monotonic() - start:.2f}s '
                  f'(limit {timeout:g}s) waiting for {what}')


# ---------------------------------------------------------------- helpers

def _sh(argv, check=True, timeout=20, input=None):
    """Runs a command in the root namespaces (iproute2 mostly)."""
    r = subprocess.run(argv, stdin=subprocess.DEVNULL if input is None else None,
                       input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise LanError(f'{shlex.join(argv)} failed ({r.returncode}): '
                       f'{r.stderr.strip() or r.stdout.strip()}')
    return r


def _pid_alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
        return state not in ('Z', 'X')
    except (OSError, IndexError):
        return False


def netns_pids(ns):
    r = subprocess.run(['ip', 'netns', 'pids', ns], capture_output=True, text=True)
    return {int(x) for x in r.stdout.split()} if r.returncode == 0 else set()


def netns_exists(ns):
    return os.path.exists(f'/run/netns/{ns}')


def teardown(netns, tmpdir=None, log=None):
    """Kills every process in the namespaces, deletes them, removes tmpdir.

    Idempotent; used by Lan.close(), the janitor and --cleanup-stale.
    `netns` is a list; the switch namespace should come last.
    """
    me = os.getpid()
    for _ in range(100):
        pids = set()
        for ns in netns:
            pids |= netns_pids(ns)
        pids.discard(me)
        pids = {p for p in pids if _pid_alive(p)}
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    else:
        if log:
            log(f'teardown: processes survive in {netns}: {sorted(pids)}')
    for ns in netns:
        if netns_exists(ns):
            r = subprocess.run(['ip', 'netns', 'del', ns], capture_output=True, text=True)
            if r.returncode != 0 and log:
                log(f'teardown: ip netns del {ns}: {r.stderr.strip()}')
    if tmpdir and os.path.isdir(tmpdir):
        # A host's /run is bind-mounted only inside its own (now dead) mount
        # namespace, so here it is a plain directory.
        shutil.rmtree(tmpdir, ignore_errors=True)


def check_environment():
    """Raises Skip with a reason when the LAN cannot be built here."""
    if os.geteuid() != 0:
        raise Skip('virtual-LAN tests need root (network namespaces, bridges, '
                   'bind mounts); run as root')
    missing = sorted({pkg for prog, pkg in TOOLS.items() if not shutil.which(prog, path=PATH)})
    if missing:
        raise Skip(f'missing tools; install: apt-get install {" ".join(missing)}')
    probe = f'{NS_PREFIX}-probe-{os.getpid()}-{secrets.token_hex(2)}'
    r = subprocess.run(['ip', 'netns', 'add', probe], capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip(f'cannot create a network namespace: {r.stderr.strip()}')
    subprocess.run(['ip', 'netns', 'del', probe], capture_output=True)


# ---------------------------------------------------------------- processes

class Proc:
    """A background process on a host; stdout+stderr go to a log file."""

    def __init__(self, host, name, argv, popen, log_path):
        self.host = host
        self.name = name
        self.argv = argv
        self.popen = popen
        self.log_path = log_path
        self.started = time.monotonic()

    def __repr__(self):
        return f'<Proc {self.host.name}:{self.name} pid {self.pid}>'

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.poll()

    def alive(self):
        return self.popen.poll() is None

    def check_alive(self):
        if not self.alive():
            raise ProcessDied(f'{self.host.name}: {self.name} (pid {self.pid}) exited with '
                              f'{_rc_text(self.popen.returncode)}\n'
                              f'--- {self.log_path} (last lines) ---\n{self.tail(30)}')

    def send_signal(self, sig):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        """Waits for exit; returns the exit status (negative: signal)."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Timeout(f'{self.host.name}: {self.name} (pid {self.pid}) still running '
                          f'after {timeout:g}s') from None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Sends sig, waits up to timeout, then SIGKILL. Returns the exit status."""
        self.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            return self.popen.wait(timeout=5)

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def tail(self, n=40):
        return '\n'.join(self.log().splitlines()[-n:])

    def wait_log(self, pattern, timeout, start=0, interval=0.02):
        """Waits until regex `pattern` matches the log (from byte offset start)."""
        rx = re.compile(pattern, re.M)

        def look():
            dead = not self.alive()       # sampled before reading the log
            m = rx.search(self.log()[start:])
            if not m and dead:
                self.check_alive()
            return m
        return wait_until(look, timeout, interval, what=f'{self.host.name}:{self.name} log '
                          f'matching {pattern!r}')

    def log_size(self):
        try:
            return len(self.log())
        except OSError:
            return 0


def _rc_text(rc):
    if rc is None:
        return 'nothing (running)'
    if rc < 0:
        try:
            return f'signal {signal.Signals(-rc).name}'
        except ValueError:
            return f'signal {-rc}'
    return f'status {rc}'


class Browse:
    """A long-running stock `avahi-browse -prk TYPE` on a host.

    A reader thread stamps every event with time.monotonic(). `services`
    maps instance name -> latest resolved IPv4 record (dict with name, host,
    address, port, txt (dict of lower-case keys, first occurrence wins),
    txt_raw (list), t); `events` lists (t, '+'|'='|'-', name, record).
    """

    _TXT = re.compile(r'"((?:[^"\\]|\\.)*)"')

    def __init__(self, host, stype='_distcc._tcp'):
        self.host = host
        self.stype = stype
        self.lock = threading.Lock()
        self.events = []          # (t, kind, name, record-or-None)
        self.services = {}        # IPv4 records; events are IPv4 only too
        self.services6 = {}       # IPv6 records (Lan(ipv6=True)): name -> address...
        self.proc = host.spawn(['avahi-browse', '-p', '-r', '-k', stype],
                               name=f'avahi-browse-{len(host.procs)}', stdout_pipe=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    @staticmethod
    def unescape(s):
        # avahi-browse -p escapes names as \DDD (decimal) and \C.
        return re.sub(r'\\(\d{3}|.)', lambda m: chr(int(m.group(1))) if m.group(1).isdigit()
                      else m.group(1), s)

    def _read(self):
        out = self.proc.popen.stdout
        with open(self.proc.log_path, 'ab', buffering=0) as logf:
            for raw in out:
                t = time.monotonic()
                logf.write(f'[{t - _T0:7.3f}] '.encode() + raw)
                line = raw.decode('utf-8', 'replace').rstrip('\n')
                f = line.split(';')
                if len(f) < 6 or f[2] != 'IPv4' and f[2] != 'IPv6':
                    continue
                kind, name = f[0], self.unescape(f[3])
                if f[2] == 'IPv6':            # kept apart: see services6
                    if kind == '=' and len(f) >= 10:
                        with self.lock:
                            self.services6[name] = dict(name=name, host=f[6], address=f[7],
                                                        port=int(f[8]), t=t)
                    elif kind == '-':
                        with self.lock:
                            self.services6.pop(name, None)
                    continue
                with self.lock:
                    if kind == '=' and len(f) >= 10:
                        raw_txt = [self.unescape(x) for x in self._TXT.findall(';'.join(f[9:]))]
                        txt = {}
                        for item in raw_txt:
                            k, _, v = item.partition('=')
                            txt.setdefault(k.lower(), v if '=' in item else None)
                        rec = dict(name=name, host=f[6], address=f[7], port=int(f[8]),
                                   txt=txt, txt_raw=raw_txt, t=t)
                        self.services[name] = rec
                        self.events.append((t, '=', name, rec))
                    elif kind == '-':
                        self.services.pop(name, None)
                        self.events.append((t, '-', name, None))
                    elif kind == '+':
                        self.events.append((t, '+', name, None))

    def get(self, name):
        with self.lock:
            return self.services.get(name)

    def names(self):
        with self.lock:
            return sorted(self.services)

    def wait_for(self, name, timeout, pred=None):
        """Waits until `name` is resolved (and pred(record) holds); returns the record."""
        def look():
            r = self.get(name)
            return r if r and (pred is None or pred(r)) else None
        return wait_until(look, timeout, 0.02, what=f'{name!r} in avahi-browse on '
                          f'{self.host.name}', watch=(self.proc,))

    def wait_event(self, kind, name, after, timeout):
        """Waits for an event ('+', '=' or '-') about name stamped later than
        `after` (a time.monotonic() value); returns (t, record-or-None)."""
        def look():
            with self.lock:
                for t, k, n, rec in self.events:
                    if k == kind and n == name and t > after:
                        return (t, rec)
            return None
        return wait_until(look, timeout, 0.02, what=f'{kind!r} event for {name!r} in '
                          f'avahi-browse on {self.host.name}', watch=(self.proc,))

    def wait_gone(self, name, timeout):
        wait_until(lambda: self.get(name) is None, timeout, 0.02,
                   what=f'{name!r} gone from avahi-browse on {self.host.name}',
                   watch=(self.proc,))

    def stop(self):
        self.proc.stop()


# ---------------------------------------------------------------- hosts

class Host:
    """One machine on the virtual LAN."""

    def __init__(self, lan, index, name, hostname):
        self.lan = lan
        self.index = index
        self.name = name                  # h1, h2... (our label)
        self.hostname = hostname          # uname -n and avahi host-name
        self.ns = f'{lan.prefix}-{name}'
        self.veth = f'v{lan.tag}{index}'  # switch-side end; eth0 inside
        self.ip = str(lan.subnet.network_address + 1 + index)
        self.dir = os.path.join(lan.tmpdir, name)
        self.rundir = os.path.join(self.dir, 'run')     # this host's /run
        self.tmp = os.path.join(self.dir, 'tmp')        # its TMPDIR (1777)
        self.home = os.path.join(self.dir, 'home')
        self.distcc_dir = os.path.join(self.dir, 'distcc')
        self.work = os.path.join(self.dir, 'work')      # scratch for tests
        self.logdir = os.path.join(self.dir, 'logs')
        self.anchor = None
        self.procs = []
        self.dbus = None
        self.avahi = None
        self.distccd = None
        self._avahi_starts = 0

    def __repr__(self):
        return f'<Host {self.name} {self.hostname} {self.ip}>'

    # -- construction (called by Lan)

    def _create(self):
        for d in (self.dir, self.rundir, self.home, self.distcc_dir, self.work, self.logdir):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        os.makedirs(self.tmp, exist_ok=True)
        os.chmod(self.tmp, 0o1777)
        os.makedirs(os.path.join(self.rundir, 'dbus'), exist_ok=True)
        lan = self.lan
        _sh(['ip', 'netns', 'add', self.ns])
        lan._state_changed()
        _sh(['ip', '-n', lan.switch_ns, 'link', 'add', self.veth, 'type', 'veth',
             'peer', 'name', 'eth0', 'netns', self.ns])
        _sh(['ip', '-n', lan.switch_ns, 'link', 'set', self.veth, 'master', lan.bridge, 'up'])
        if not lan.ipv6:
            _sh(['ip', 'netns', 'exec', self.ns, 'sysctl', '-q', '-w',
                 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'])
        _sh(['ip', '-n', self.ns, '-batch', '-'], input='\n'.join([
            'link set lo up',
            f'addr add {self.ip}/{lan.subnet.prefixlen} dev eth0',
            'link set eth0 up',
            'route add 224.0.0.0/4 dev eth0',
        ]) + '\n')
        # The anchor holds a private mount namespace (with this host's /run)
        # and UTS namespace (hostname) inside the network namespace.
        # Like distinct machines, each host also gets its own /etc/hostname
        # and machine id (/etc/machine-id, /var/lib/dbus/machine-id).
        etc = os.path.join(self.dir, 'etc')
        os.makedirs(etc, exist_ok=True)
        self.machine_id = secrets.token_hex(16)
        for fn, text in (('hostname', self.hostname), ('machine-id', self.machine_id)):
            with open(os.path.join(etc, fn), 'w') as f:
                f.write(text + '\n')
            os.chmod(os.path.join(etc, fn), 0o644)
        script = ('set -e; mount --bind "$1" /run; hostname "$2"; '
                  'for f in /etc/hostname /etc/machine-id /var/lib/dbus/machine-id; do '
                  '  src="$3/$(basename "$f")"; '
                  '  if [ -f "$f" ] && [ ! -L "$f" ]; then mount --bind "$src" "$f"; fi; '
                  'done; '
                  'echo "anchor $$"; exec sleep infinity')
        p = subprocess.Popen(['ip', 'netns', 'exec', self.ns, 'unshare', '-m', '-u',
                              '--propagation', 'private', 'sh', '-c', script, 'anchor',
                              self.rundir, self.hostname, etc],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        ready, _, _ = select.select([p.stdout], [], [], 10)
        line = p.stdout.readline().decode() if ready else ''
        m = re.match(r'anchor (\d+)', line)
        if not m:
            p.kill()
            err = p.stderr.read().decode(errors='replace') if p.poll() is not None else ''
            raise LanError(f'{self.name}: anchor did not start: {line!r} {err}')
        p.stdout.close()
        p.stderr.close()
        self.anchor = p
        self.anchor_pid = int(m.group(1))

    # -- running commands

    def env(self, extra=None):
        e = {'PATH': PATH, 'HOME': self.home, 'TMPDIR': self.tmp,
             'DISTCC_DIR': self.distcc_dir, 'LANG': 'C.UTF-8', 'LC_ALL': 'C.UTF-8',
             'USER': 'root', 'LOGNAME': 'root',
             'STATE_DIRECTORY': os.path.join(self.dir, 'state')}  # not the machine's /var/lib
        for k in PASS_ENV:
            if k in os.environ:
                e[k] = os.environ[k]
        if extra:
            for k, v in extra.items():
                if v is None:
                    e.pop(k, None)
                else:
                    e[k] = str(v)
        return e

    def argv(self, cmd, cwd=None):
        """The argv that runs cmd (list, or str for sh -c) inside this host."""
        if isinstance(cmd, str):
            cmd = ['sh', '-c', cmd]
        return ['nsenter', f'--target={self.anchor_pid}', '--net', '--mount', '--uts',
                f'--wd={cwd or self.work}', '--'] + [str(a) for a in cmd]

    def run(self, cmd, check=True, timeout=30, input=None, env=None, cwd=None, binary=False):
        """Runs cmd on this host and waits; returns CompletedProcess (text).

        check=True raises LanError on a non-zero status, showing the output.
        The timeout (seconds) kills the command and raises Timeout.
        """
        argv = self.argv(cmd, cwd)
        try:
            r = subprocess.run(argv, input=input, capture_output=True, text=not binary,
                               env=self.env(env), timeout=timeout,
                               stdin=subprocess.DEVNULL if input is None else None)
        except subprocess.TimeoutExpired as e:
            raise Timeout(f'{self.name}: {shlex.join(argv[7:])} still running after '
                          f'{timeout:g}s; output so far: {e.stdout!r} {e.stderr!r}') from None
        if check and r.returncode != 0:
            raise LanError(f'{self.name}: {shlex.join(argv[7:])} exited with '
                           f'{_rc_text(r.returncode)}\nstdout: {r.stdout}\nstderr: {r.stderr}')
        return r

    def spawn(self, cmd, name=None, env=None, cwd=None, stdout_pipe=False):
        """Starts cmd in the background on this host; returns a Proc.

        stdout and stderr go to logs/NAME.log (printed by the Lan when a test
        fails). The process gets its own session, so terminal signals do not
        reach it; the Lan kills it at cleanup at the latest.
        """
        if isinstance(cmd, str):
            cmd = ['sh', '-c', cmd]
        name = name or os.path.basename(str(cmd[0]))
        base, n = name, 1
        while any(p.name == name for p in self.procs):
            n += 1
            name = f'{base}.{n}'
        log_path = os.path.join(self.logdir, f'{name}.log')
        with open(log_path, 'ab') as logf:
            p = subprocess.Popen(self.argv(cmd, cwd), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE if stdout_pipe else logf,
                                 stderr=logf, env=self.env(env), start_new_session=True)
        proc = Proc(self, name, cmd, p, log_path)
        self.procs.append(proc)
        return proc

    def kill(self, target, sig=signal.SIGTERM, timeout=5.0):
        """Signals target and waits up to timeout for it to be gone.

        target: a Proc, a pid, or a program name (every process of this host
        whose comm is that name). Returns the exit status for a Proc.
        Raises Timeout if something survives.
        """
        if isinstance(target, Proc):
            target.send_signal(sig)
            return target.wait(timeout)
        if isinstance(target, int):
            pids = {target}
        else:
            pids = {p for p in self.pids() if _comm(p) == target[:15]}
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        wait_until(lambda: not any(_pid_alive(p) for p in pids), timeout, 0.02,
                   what=f'{self.name}: {target} to exit')
        return None

    def pids(self):
        return netns_pids(self.ns) - {os.getpid()}

    def path(self, p):
        """This host's view of path p, as seen from the test (maps /run)."""
        if p == '/run' or p.startswith('/run/'):
            return self.rundir + p[4:]
        return p

    # -- links

    def link_down(self, side='switch'):
        """Pulls the cable: the switch-side end goes down (eth0 loses carrier).
        side='host' downs eth0 itself instead."""
        if side == 'switch':
            _sh(['ip', '-n', self.lan.switch_ns, 'link', 'set', self.veth, 'down'])
        else:
            _sh(['ip', '-n', self.ns, 'link', 'set', 'eth0', 'down'])

    def link_up(self, side='switch'):
        if side == 'switch':
            _sh(['ip', '-n', self.lan.switch_ns, 'link', 'set', self.veth, 'up'])
        else:
            _sh(['ip', '-n', self.ns, 'link', 'set', 'eth0', 'up'])
            _sh(['ip', '-n', self.ns, 'route', 'replace', '224.0.0.0/4', 'dev', 'eth0'])

    # -- sockets (read from /proc/ANCHOR/net, no process spawned)

    def _tcp_sockets(self):
        rows = []
        for fn in ('tcp', 'tcp6'):
            try:
                with open(f'/proc/{self.anchor_pid}/net/{fn}') as f:
                    next(f)
                    for line in f:
                        x = line.split()
                        rows.append((int(x[1].rsplit(':', 1)[1], 16), x[3]))
            except OSError:
                pass
        return rows

    def listening(self, port):
        """True when some socket of this host listens on TCP port."""
        return any(p == port and st == '0A' for p, st in self._tcp_sockets())

    def established(self, port):
        """Number of ESTABLISHED TCP connections to local port."""
        return sum(1 for p, st in self._tcp_sockets() if p == port and st == '01')

    # -- services

    def start_dbus(self, timeout=10):
        sock = self.path('/run/dbus/system_bus_socket')
        if os.path.exists(sock):
            os.unlink(sock)
        self.dbus = self.spawn(['dbus-daemon', '--system', '--nofork', '--nopidfile',
                                '--nosyslog'], name='dbus-daemon')
        return self.dbus

    def _wait_dbus(self, timeout=10):
        sock = self.path('/run/dbus/system_bus_socket')
        wait_until(lambda: os.path.exists(sock), timeout, 0.01,
                   what=f'{self.name}: D-Bus system socket', watch=(self.dbus,))

    def avahi_conf(self, extra=None):
        sections = {
            'server': {'host-name': self.hostname, 'domain-name': 'local',
                       'use-ipv4': 'yes', 'use-ipv6': 'yes' if self.lan.ipv6 else 'no',
                       'allow-interfaces': 'eth0', 'enable-dbus': 'yes',
                       'ratelimit-interval-usec': '1000000', 'ratelimit-burst': '1000'},
            'wide-area': {'enable-wide-area': 'no'},
            'publish': {'publish-hinfo': 'no', 'publish-workstation': 'no',
                        'publish-domain': 'no', 'publish-aaaa-on-ipv4': 'no',
                        'publish-a-on-ipv6': 'no'},
            'reflector': {'enable-reflector': 'no'},
            'rlimits': {},
        }
        for sec, kv in (extra or {}).items():
            sections.setdefault(sec, {}).update(kv)
        return ''.join(f'[{s}]\n' + ''.join(f'{k}={v}\n' for k, v in kv.items())
                       for s, kv in sections.items())

    def start_avahi(self, wait=True, timeout=15, conf=None):
        """Starts avahi-daemon (foreground, logging to logs/avahi-daemon.log).
        wait=True returns once it logs 'Server startup complete' (host name
        probed and announced), which takes about a second."""
        if self.dbus is None or not self.dbus.alive():
            self.start_dbus()
            self._wait_dbus()
        path = os.path.join(self.dir, 'avahi-daemon.conf')
        with open(path, 'w') as f:
            f.write(self.avahi_conf(conf))
        self._avahi_starts += 1
        self.avahi = self.spawn(['avahi-daemon', '-f', path, '--no-rlimits', '--no-chroot'],
                                name=f'avahi-daemon.{self._avahi_starts}')
        if wait:
            self.wait_avahi(timeout)
        return self.avahi

    def wait_avahi(self, timeout=15):
        self.avahi.wait_log(r'Server startup complete', timeout)

    def stop_avahi(self, timeout=10):
        """Stops avahi-daemon (SIGTERM: it sends goodbyes) and waits for exit."""
        if self.avahi and self.avahi.alive():
            rc = self.avahi.stop(signal.SIGTERM, timeout)
            if rc not in (0, -signal.SIGTERM):
                raise LanError(f'{self.name}: avahi-daemon exited with {_rc_text(rc)}')

    def restart_avahi(self, timeout=15):
        """Stops and starts avahi-daemon only (D-Bus and everything else stay)."""
        self.stop_avahi()
        return self.start_avahi(timeout=timeout)

    def start_distccd(self, jobs=2, zeroconf=False, port=3632, listen=None, extra=(),
                      wait=True, name='distccd', env=None):
        """Starts a real distccd in the foreground (--daemon --no-detach).

        As root it drops to user distcc or nobody; its TMPDIR is this host's
        1777 tmp. It logs every job to logs/NAME.log (--log-level=info), e.g.
        'COMPILE_OK ... gcc foo.c'. Only compilers in /usr/lib/distcc run.
        wait=True returns once the port listens.
        """
        argv = ['distccd', '--daemon', '--no-detach', '--log-stderr', '--log-level=info',
                '--allow', str(self.lan.subnet), '--listen', listen or self.ip,
                '--port', str(port), '--jobs', str(jobs)]
        if zeroconf:
            argv.append('--zeroconf')
        argv += list(extra)
        proc = self.spawn(argv, name=name, env=env)
        self.distccd = proc
        if wait:
            wait_until(lambda: self.listening(port), 10, 0.02,
                       what=f'{self.name}: distccd listening on {port}', watch=(proc,))
        return proc

    def browse(self, stype='_distcc._tcp'):
        """Starts a stock avahi-browse; see Browse."""
        return Browse(self, stype)

    def publish(self, name, stype='_distcc._tcp', port=3632, txt=(), subtypes=(),
                host=None, pname=None):
        """Starts a stock avahi-publish -s; returns its Proc (stop it to withdraw).
        txt items are str or bytes (bytes allow junk; no NUL possible)."""
        argv = ['avahi-publish', '-s']
        for s in subtypes:
            argv += ['--sub', s]
        if host:
            argv += ['-H', host]
        argv += [name, stype, str(port)]
        argv += [os.fsdecode(t) if isinstance(t, bytes) else t for t in txt]
        return self.spawn(argv, name=pname or 'avahi-publish')

    def write(self, relpath, text, mode=0o644):
        """Writes a file under this host's work dir; returns its path."""
        p = os.path.join(self.work, relpath)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'w') as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def distcc(self, args, hosts, cwd=None, timeout=60, check=True, env=None):
        """Runs the stock distcc client: `distcc ARGS` with DISTCC_HOSTS=hosts
        (None: leave DISTCC_HOSTS unset), verbose, never falling back to a
        local compile, so a failure to distribute shows as a failure."""
        e = {'DISTCC_VERBOSE': '1', 'DISTCC_FALLBACK': '0', 'DISTCC_SKIP_LOCAL_RETRY': '1',
             'DISTCC_HOSTS': hosts}
        e.update(env or {})
        return self.run(['distcc'] + list(args), cwd=cwd, timeout=timeout, check=check, env=e)


def _comm(pid):
    try:
        with open(f'/proc/{pid}/comm') as f:
            return f.read().strip()
    except OSError:
        return None


# ---------------------------------------------------------------- the LAN

_active = []


def _on_signal(signum, frame):
    raise Interrupted(signum)


def install_signal_handlers():
    """SIGINT/SIGTERM/SIGHUP raise Interrupted so `with Lan()` cleans up."""
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, _on_signal)


class Lan:
    """N hosts on one bridge. Use as a context manager (or call close())."""

    def __init__(self, n=2, hostnames=None, avahi=True, ipv6=False, names=None):
        check_environment()
        install_signal_handlers()
        self.ipv6 = ipv6
        self.hosts = []
        self.closed = False
        self.tag = secrets.token_hex(3)
        self.prefix = f'{NS_PREFIX}-{self.tag}'
        self.switch_ns = f'{self.prefix}-sw'
        self.bridge = f'br{self.tag}'
        self.tmpdir = None
        self._lockf = None
        self.subnet = self._pick_subnet()
        self.tmpdir = tempfile.mkdtemp(prefix=f'{TMP_PREFIX}{self.tag}-', dir='/tmp')
        os.chmod(self.tmpdir, 0o755)
        # The state file lives in tmpdir, so teardown removes it last.
        self.state_path = os.path.join(self.tmpdir, 'state.json')
        self._janitor = self._start_janitor()
        _active.append(self)
        try:
            self._state_changed()
            _sh(['ip', 'netns', 'add', self.switch_ns])
            self._state_changed()
            _sh(['ip', '-n', self.switch_ns, '-batch', '-'], input='\n'.join([
                'link set lo up',
                f'link add {self.bridge} type bridge stp_state 0 forward_delay 0 '
                'mcast_snooping 0',
                f'link set {self.bridge} up',
            ]) + '\n')
            note(f'lan {self.tag}: subnet {self.subnet}, bridge {self.bridge} in netns '
                 f'{self.switch_ns}, files in {self.tmpdir}')
            hostnames = list(hostnames or [])
            names = list(names or [])
            new = [self.add_host(names[i] if i < len(names) else None,
                                 hostnames[i] if i < len(hostnames) else None, avahi=False)
                   for i in range(n)]
            if avahi:
                self.start_avahi(new)
        except BaseException:
            self.close(failed=True)
            raise

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.close(failed=et is not None and not issubclass(et, Skip))
        return False

    def __getitem__(self, i):
        return self.hosts[i]

    def host(self, name):
        return next(h for h in self.hosts if h.name == name)

    # -- building

    def _pick_subnet(self):
        used = []
        for fam in ('-4',):
            r = _sh(['ip', fam, 'route', 'show', 'table', 'all'], check=False)
            for tok in r.stdout.split():
                try:
                    used.append(ipaddress.ip_network(tok, strict=False))
                except ValueError:
                    pass
        r = _sh(['ip', '-4', '-o', 'addr'], check=False)
        for m in re.finditer(r'inet (\S+)', r.stdout):
            used.append(ipaddress.ip_interface(m.group(1)).network)
        subnets = list(SUPERNET.subnets(new_prefix=24))
        start = secrets.randbelow(len(subnets))
        for i in range(len(subnets)):
            net = subnets[(start + i) % len(subnets)]
            if any(net.overlaps(u) for u in used if u.prefixlen > 0):
                continue
            # An abstract unix socket (root netns) is the lock: no file to
            # clean up, released by the kernel when this process dies.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.bind(f'\0distcc-mdns-lan-{net.network_address}')
            except OSError:
                s.close()
                continue
            self._lockf = s   # held until close() or process death
            return net
        raise LanError(f'no free /24 in {SUPERNET}')

    def _start_janitor(self):
        return subprocess.Popen([sys.executable, os.path.abspath(__file__), '--janitor',
                                 self.state_path], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)

    def _state_changed(self):
        state = {'owner': os.getpid(), 'janitor': self._janitor.pid, 'tmpdir': self.tmpdir,
                 'netns': [h.ns for h in self.hosts] + [self.switch_ns],
                 'subnet': str(self.subnet), 'started': time.time()}
        # Host namespaces are added to the state before creation.
        if getattr(self, '_pending_ns', None):
            state['netns'].insert(0, self._pending_ns)
        tmp = self.state_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(state, f)
        os.replace(tmp, self.state_path)

    def add_host(self, name=None, hostname=None, avahi=True):
        """Adds a host (it can join later than the others). avahi=True also
        starts its D-Bus and avahi-daemon and waits for avahi to be up."""
        index = len(self.hosts) + 1
        name = name or f'h{index}'
        h = Host(self, index, name, hostname or name)
        self._pending_ns = h.ns
        self._state_changed()
        try:
            h._create()
        finally:
            self._pending_ns = None
        self.hosts.append(h)
        self._state_changed()
        if avahi:
            self.start_avahi([h])
        return h

    def start_avahi(self, hosts):
        """Starts D-Bus and avahi-daemon on several hosts at once."""
        for h in hosts:
            h.start_dbus()
        for h in hosts:
            h._wait_dbus()
        for h in hosts:
            h.start_avahi(wait=False)
        for h in hosts:
            h.wait_avahi()

    # -- teardown

    def dump_logs(self, lines=60):
        """Prints the tail of every captured log (called when a test fails)."""
        for h in self.hosts:
            for p in h.procs:
                text = p.tail(lines)
                state = 'running' if p.alive() else f'exited {_rc_text(p.popen.returncode)}'
                print(f'----- {h.name} ({h.ip}) {p.name} pid {p.pid} [{state}] '
                      f'{shlex.join(str(a) for a in p.argv)}', flush=True)
                if text:
                    print(text, flush=True)
        keep = os.environ.get('DMLAN_KEEP_LOGS')
        if keep:
            dst = os.path.join(keep, f'lan-{self.tag}')
            for h in self.hosts:
                shutil.copytree(h.logdir, os.path.join(dst, h.name), dirs_exist_ok=True)
            print(f'logs copied to {dst}', flush=True)

    def close(self, failed=False):
        if self.closed:
            return
        self.closed = True
        old = signal.pthread_sigmask(signal.SIG_BLOCK,
                                     {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
        try:
            if failed:
                try:
                    self.dump_logs()
                except Exception as e:     # never let log printing block cleanup
                    print(f'dump_logs failed: {e}', flush=True)
            netns = [h.ns for h in self.hosts] + [self.switch_ns]
            teardown(netns, self.tmpdir, log=note)
            for h in self.hosts:
                for p in h.procs + ([h.anchor] if h.anchor else []):
                    popen = p.popen if isinstance(p, Proc) else p
                    try:
                        popen.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        pass
            left = [ns for ns in netns if netns_exists(ns)]
            if left:
                note(f'lan {self.tag}: namespaces left behind: {left}')
            if self._janitor:
                try:
                    self._janitor.stdin.close()
                    self._janitor.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if self._lockf:
                self._lockf.close()
            if self in _active:
                _active.remove(self)
            note(f'lan {self.tag}: cleaned up')
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


# ---------------------------------------------------------------- test main

def run_test(main, argv=None):
    """Runs main(argv) and exits: 0 pass, 1 fail (with reason), 77 skip.

    AssertionError, LanError and any other exception fail the test; every
    Lan still open is closed (logs printed first). Signals clean up too.
    """
    install_signal_handlers()
    argv = sys.argv[1:] if argv is None else argv
    code = 0
    try:
        main(argv)
        note('PASS')
    except Skip as e:
        print(f'SKIP: {e}', flush=True)
        code = SKIP
    except Interrupted as e:
        print(f'INTERRUPTED by {e}', flush=True)
        code = 128 + e.signum
    except AssertionError as e:
        print(f'FAIL: {e}', flush=True)
        code = 1
    except Exception as e:
        import traceback
        traceback.print_exc()
        print(f'FAIL: {type(e).__name__}: {e}', flush=True)
        code = 1
    finally:
        for net in list(_active):
            net.close(failed=code not in (0, SKIP))
    sys.exit(code)


# ---------------------------------------------------------------- CLI

def _janitor(state_path):
    """Blocks until the owner's pipe closes, then cleans what is left."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    _cleanup_state(state_path)


def _cleanup_state(state_path):
    try:
        with open(state_path) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return False
    teardown(state.get('netns', []), state.get('tmpdir'))
    try:
        os.unlink(state_path)
    except FileNotFoundError:
        pass
    return True


def _state_files():
    for fn in os.listdir('/tmp'):
        path = os.path.join('/tmp', fn, 'state.json')
        if fn.startswith(TMP_PREFIX) and os.path.isfile(path):
            yield path


def _cleanup_stale():
    n = 0
    known = set()
    for path in list(_state_files()):
        try:
            with open(path) as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        if _pid_alive(state.get('owner', 0)) or _pid_alive(state.get('janitor', 0)):
            known |= set(state.get('netns', []))
            continue
        print(f'removing stale LAN {os.path.dirname(path)}: {state.get("netns")}')
        _cleanup_state(path)
        n += 1
    r = _sh(['ip', 'netns', 'list'], check=False)
    orphans = [line.split()[0] for line in r.stdout.splitlines()
               if line.startswith(NS_PREFIX + '-') and line.split()[0] not in known]
    if orphans:
        print(f'namespaces of no running LAN (remove with ip netns del): {orphans}')
    print(f'{n} stale LAN(s) removed')


def _shell(n):
    def main(_):
        with Lan(n) as net:
            for h in net.hosts:
                print(f'{h.name} {h.ip}: nsenter -t {h.anchor_pid} -n -m -u -- bash')
            print('Ctrl-C tears the LAN down.', flush=True)
            signal.pause()
    run_test(main, [])


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--janitor':
        _janitor(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == '--cleanup-stale':
        _cleanup_stale()
    elif len(sys.argv) in (2, 3) and sys.argv[1] == '--shell':
        _shell(int(sys.argv[2]) if len(sys.argv) == 3 else 2)
    else:
        print(__doc__)
        sys.exit(2)
