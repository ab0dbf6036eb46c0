"""Emulated hosts of different speeds: one cgroup v1 `cpu` group per host of
the virtual LAN, its CFS quota the host's speed, and a per-host
/proc/loadavg and job count computed from that group's tasks.

Every process of a host runs inside its group from its first instruction:
wrap() turns an argv into `sh -c 'echo $$ > GROUP/cgroup.procs && exec "$@"'`,
so the shell moves itself before it execs the command, and every child
(distccd's workers, gcc, cc1, as) inherits the group. `ip netns exec` gave
each host a fresh /sys without the cgroup mounts, so Farm.mount_in() mounts
the same cpu hierarchy again inside the host's mount namespace (private to
it) and GROUP is that path. Processes the LAN
harness started itself (the anchor, D-Bus, avahi-daemon) are moved with
adopt() before any benchmark traffic.

All hosts are namespaces of one kernel, so /proc/loadavg and /proc/stat
would show every host the whole machine's load, other people's builds
included; Sampler writes files of its own, bind-mounted over each host's
/proc/loadavg and /proc/stat (its mount namespace only, the way lxcfs does),
and rewrites them in place every tick from the runnable tasks of that
host's group. An emulated host has one CPU: it is busy while any task of
its group is runnable (distcc-mdnsd reads loadavg; iceccd computes the load
it reports to its scheduler from the cpu line of /proc/stat). The same pass counts the compiles each host ran: every cc1 or
cc1plus process seen in its group that is not a preprocessor run (-E).
"""

import math
import os
import threading
import time

CPU_ROOT = '/sys/fs/cgroup/cpu'
PERIOD_US = 100000
COMPILERS = ('cc1', 'cc1plus')


def available():
    """None when cgroup v1's cpu controller can be used, else why not."""
    if not os.path.isfile(os.path.join(CPU_ROOT, 'cpu.cfs_quota_us')):
        return f'no cgroup v1 cpu controller at {CPU_ROOT}'
    if not os.access(CPU_ROOT, os.W_OK):
        return f'{CPU_ROOT} is not writable'
    return None


class CpuGroup:
    """One host's cgroup: at most @quota cores' worth of CPU time."""

    def __init__(self, parent, name, quota):
        self.name, self.quota = name, quota
        self.path = os.path.join(parent, name)
        self.inner = self.path    # the same group as the host's processes see it
        os.makedirs(self.path, exist_ok=True)
        self._write('cpu.cfs_period_us', PERIOD_US)
        self._write('cpu.cfs_quota_us', max(1000, int(round(quota * PERIOD_US))))
        burst = os.path.join(self.path, 'cpu.cfs_burst_us')
        if os.path.exists(burst):
            # No saved-up runtime: a host is never faster than its quota.
            self._write('cpu.cfs_burst_us', 0)

    def _write(self, fn, value):
        with open(os.path.join(self.path, fn), 'w') as f:
            f.write(f'{value}\n')

    def wrap(self, argv):
        """@argv run inside this group from its first instruction."""
        procs = os.path.join(self.inner, 'cgroup.procs')
        return ['sh', '-c', f'echo $$ > {procs} && exec "$@"', 'in-' + self.name] + [str(a) for a in argv]

    def adopt(self, pid):
        try:
            self._write('cgroup.procs', pid)
        except (ProcessLookupError, OSError):
            pass    # gone meanwhile: nothing to move

    def tasks(self):
        try:
            with open(os.path.join(self.path, 'tasks')) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def throttle(self, on):
        """The quota on, or off (-1: as fast as the machine) for untimed setup."""
        self._write('cpu.cfs_quota_us', max(1000, int(round(self.quota * PERIOD_US))) if on else -1)

    def remove(self, to):
        """Moves what is left to the group @to (a path) and removes this one."""
        for pid in self.tasks():
            try:
                with open(os.path.join(to, 'cgroup.procs'), 'w') as f:
                    f.write(f'{pid}\n')
            except OSError:
                pass
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def remove_stale():
    """Removes the groups a killed run left (dmdns-real-*): a group that still
    has tasks belongs to a run in progress, and rmdir refuses it."""
    for top in os.listdir(CPU_ROOT):
        path = os.path.join(CPU_ROOT, top)
        if not top.startswith('dmdns-real-') or not os.path.isdir(path):
            continue
        for name in os.listdir(path):
            if os.path.isdir(os.path.join(path, name)):
                try:
                    os.rmdir(os.path.join(path, name))
                except OSError:
                    pass
        try:
            os.rmdir(path)
        except OSError:
            pass


class Farm:
    """The groups of one benchmark under CPU_ROOT/dmdns-real-TAG."""

    def __init__(self, tag, quotas):
        self.root = os.path.join(CPU_ROOT, f'dmdns-real-{tag}')
        os.makedirs(self.root, exist_ok=True)
        self.groups = {name: CpuGroup(self.root, name, q) for name, q in quotas.items()}

    def __getitem__(self, name):
        return self.groups[name]

    def mount_in(self, host, mountpoint):
        """Makes @host's group reachable inside its mount namespace at
        @mountpoint (a directory of the host's own): the cpu hierarchy is
        mounted there, in that namespace only."""
        os.makedirs(mountpoint, exist_ok=True)
        host.run(['mount', '-t', 'cgroup', '-o', 'cpu', 'cgroup', mountpoint])
        group = self.groups[host.name]
        group.inner = os.path.join(mountpoint, os.path.relpath(group.path, CPU_ROOT))
        host.run(['test', '-w', os.path.join(group.inner, 'cgroup.procs')])

    def close(self):
        for g in self.groups.values():
            g.remove(CPU_ROOT)
        try:
            os.rmdir(self.root)
        except OSError:
            pass


def _stat(tid):
    """(state, comm, start time in ticks) of a task, or None when it is gone."""
    try:
        with open(f'/proc/{tid}/stat') as f:
            text = f.read()
    except OSError:
        return None
    # comm is in parentheses and may hold spaces: split after the last ')'.
    close = text.rfind(')')
    rest = text[close + 2:].split()
    return rest[0], text[text.find('(') + 1:close], int(rest[19])


def _is_compile(pid):
    """True for a compile, False for a preprocessor run (-E), None while the
    command line cannot be read yet (a task caught in exec shows an empty
    one): the next tick looks again."""
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            args = f.read().split(b'\0')
    except OSError:
        return None
    if not args[0]:
        return None
    return b'-E' not in args


class Sampler:
    """A thread that, every @interval seconds, rewrites each host's loadavg
    file from its group and records every compile process it sees."""

    def __init__(self, farm, loadavg_dir, interval=0.1):
        self.farm, self.interval = farm, interval
        self.files = {}
        self.stat_files = {}
        self.load = {name: 0.0 for name in farm.groups}
        self.ticks = {name: [0.0, 0.0] for name in farm.groups}    # busy, idle (USER_HZ)
        with open('/proc/stat') as f:
            # The lines after the cpu lines (btime, processes...) stay as they were.
            self.stat_tail = ''.join(line for line in f if not line.startswith('cpu'))
        # (pid, start time) -> first seen (monotonic): a reused pid is a new process
        self.seen = {name: {} for name in farm.groups}
        self.lock = threading.Lock()
        os.makedirs(loadavg_dir, exist_ok=True)
        for name in farm.groups:
            path = os.path.join(loadavg_dir, f'{name}.loadavg')
            with open(path, 'w') as f:
                f.write(self._text(0.0, 0))
            os.chmod(path, 0o644)
            self.files[name] = path
            path = os.path.join(loadavg_dir, f'{name}.stat')
            with open(path, 'w') as f:
                f.write(self._stat_text(0, 0))
            os.chmod(path, 0o644)
            self.stat_files[name] = path
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name='cpuhost-sampler')
        self.thread.start()

    @staticmethod
    def _text(load, runnable):
        # Fixed width, so an in-place rewrite never leaves a stale tail; the
        # runnable count includes the reader, as the kernel's does.
        return f'{load:6.2f} {load:6.2f} {load:6.2f} {runnable + 1:4d}/{999:4d} {1:7d}\n'

    def _stat_text(self, busy, idle):
        # user nice system idle iowait irq softirq steal guest guest_nice, fixed width
        cpu = f'{int(busy):14d} {0:14d} {0:14d} {int(idle):14d} {0:14d} 0 0 0 0 0\n'
        return f'cpu  {cpu}cpu0 {cpu}{self.stat_tail}'

    @staticmethod
    def _rewrite(path, text):
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, text.encode(), 0)
            finally:
                os.close(fd)
        except OSError:
            pass

    def _run(self):
        decay = math.exp(-self.interval / 60.0)
        while not self.stop_event.wait(self.interval):
            now = time.monotonic()
            for name, group in self.farm.groups.items():
                runnable = 0
                for tid in group.tasks():
                    st = _stat(tid)
                    if st is None:
                        continue
                    state, comm, start = st
                    if state == 'R':
                        runnable += 1
                    if comm in COMPILERS and (tid, start) not in self.seen[name] and _is_compile(tid):
                        with self.lock:
                            self.seen[name][(tid, start)] = now
                self.load[name] = self.load[name] * decay + runnable * (1 - decay)
                self._rewrite(self.files[name], self._text(self.load[name], runnable))
                ticks = self.ticks[name]
                ticks[0 if runnable else 1] += self.interval * 100
                self._rewrite(self.stat_files[name], self._stat_text(*ticks))

    def compiles_since(self, t0):
        """Per host, the compile processes first seen at or after @t0."""
        with self.lock:
            return {name: sum(1 for t in seen.values() if t >= t0) for name, seen in self.seen.items()}

    def close(self):
        self.stop_event.set()
        self.thread.join(5)
