"""A host of the virtual LAN: its directories and namespaces, running
commands in it (run, spawn, kill), its cable and its TCP sockets. Avahi and
distcc on the host come from the AvahiHost and DistccHost parts.
"""

import os
import secrets
import shlex
import signal
import subprocess

import lan_netns
from lan_avahi import AvahiHost
from lan_distcc import DistccHost
from lan_netns import PATH, netns_pids
from lan_proc import LanError, Proc, Timeout, comm, pid_alive, rc_text, sh, wait_until

# Sanitizer and allocator settings meson puts into the test environment are
# passed on to every command run on a host.
PASS_ENV = ('ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'TSAN_OPTIONS',
            'MSAN_OPTIONS', 'MALLOC_PERTURB_', 'MALLOC_CHECK_')


class Host(AvahiHost, DistccHost):
    """One machine on the virtual LAN."""

    def __init__(self, lan, index, name, hostname):
        self.lan = lan
        self.index = index
        self.name = name                  # h1, h2... (our label)
        self.hostname = hostname          # uname -n and avahi host-name
        self.ns = f'{lan.prefix}-{name}'
        self.veth = f'v{lan.tag}{index}'  # switch-side end; eth0 inside
        # IPv6-only LANs: a fixed link-local address and a ULA one (h.ip).
        ula = not lan.ipv4 and (lan.ula[index - 1] if index <= len(lan.ula) else True)
        self.ip6 = str(lan.subnet6.network_address + 1 + index) if ula else None
        self.link_local = f'fe80::{1 + index:x}' if not lan.ipv4 else None
        self.ip = self.ip6 or self.link_local or str(lan.subnet.network_address + 1 + index)
        self.nics = ['eth0']              # interfaces on the bridge
        self.ips = [self.ip]              # their addresses (h.ip first)
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
        sh(['ip', 'netns', 'add', self.ns])
        lan._state_changed()
        lan_netns.plug_host(self.ns, self.veth, lan.switch_ns, lan.bridge,
                            self.ip if lan.ipv4 else None, lan.subnet.prefixlen, lan.ipv6,
                            ip6=self.ip6, link_local=self.link_local)
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
        self.anchor, self.anchor_pid = lan_netns.start_anchor(self.name, self.ns, self.rundir,
                                                              self.hostname, etc)

    def add_nic(self):
        """Plugs one more interface of this host into the bridge (eth1,
        eth2...): a multi-homed host with two addresses on one link. Its
        address is the host's index + 100 in the LAN's /24 (IPv6-only LANs:
        + 0x100 in the /64, link-local fe80::1:N). Call it before the host's
        avahi-daemon starts (or restart that): Avahi is told its interfaces
        when it starts. Returns the new address."""
        lan, k = self.lan, len(self.nics)
        ifname, veth = f'eth{k}', f'v{lan.tag}{self.index}n{k}'
        if lan.ipv4:
            ip = str(lan.subnet.network_address + 100 * k + self.index)
            lan_netns.plug_host(self.ns, veth, lan.switch_ns, lan.bridge, ip,
                                lan.subnet.prefixlen, lan.ipv6, ifname=ifname)
        else:
            ip = str(lan.subnet6.network_address + 0x100 * k + 1 + self.index)
            lan_netns.plug_host(self.ns, veth, lan.switch_ns, lan.bridge, None,
                                lan.subnet.prefixlen, lan.ipv6, ifname=ifname, ip6=ip,
                                link_local=f'fe80::{k:x}:{1 + self.index:x}')
        self.nics.append(ifname)
        self.ips.append(ip)
        return ip

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
                           f'{rc_text(r.returncode)}\nstdout: {r.stdout}\nstderr: {r.stderr}')
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
            pids = {p for p in self.pids() if comm(p) == target[:15]}
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        wait_until(lambda: not any(pid_alive(p) for p in pids), timeout, 0.02,
                   what=f'{self.name}: {target} to exit')
        return None

    def pids(self):
        return netns_pids(self.ns) - {os.getpid()}

    def path(self, p):
        """This host's view of path p, as seen from the test (maps /run)."""
        if p == '/run' or p.startswith('/run/'):
            return self.rundir + p[4:]
        return p

    def write(self, relpath, text, mode=0o644):
        """Writes a file under this host's work dir; returns its path."""
        p = os.path.join(self.work, relpath)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'w') as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    # -- links

    def link_down(self, side='switch'):
        """Pulls the cable: the switch-side end goes down (eth0 loses carrier).
        side='host' downs eth0 itself instead."""
        if side == 'switch':
            sh(['ip', '-n', self.lan.switch_ns, 'link', 'set', self.veth, 'down'])
        else:
            sh(['ip', '-n', self.ns, 'link', 'set', 'eth0', 'down'])

    def link_up(self, side='switch'):
        if side == 'switch':
            sh(['ip', '-n', self.lan.switch_ns, 'link', 'set', self.veth, 'up'])
        else:
            sh(['ip', '-n', self.ns, 'link', 'set', 'eth0', 'up'])
            sh(['ip', '-n', self.ns, 'route', 'replace', '224.0.0.0/4', 'dev', 'eth0'])

    # -- sockets (read from /proc/ANCHOR/net, no process spawned)

    def _tcp_sockets(self):
        return lan_netns.tcp_sockets(self.anchor_pid)

    def listening(self, port):
        """True when some socket of this host listens on TCP port."""
        return any(p == port and st == '0A' for p, st in self._tcp_sockets())

    def udp_counters(self):
        """The kernel's UDP counters of this host (Udp: InDatagrams,
        RcvbufErrors...), from /proc/ANCHOR/net/snmp: RcvbufErrors counts
        datagrams dropped because a socket's receive buffer was full."""
        with open(f'/proc/{self.anchor_pid}/net/snmp') as f:
            rows = [line.split() for line in f if line.startswith('Udp:')]
        return dict(zip(rows[0][1:], (int(x) for x in rows[1][1:])))

    def established(self, port):
        """Number of ESTABLISHED TCP connections to local port."""
        return sum(1 for p, st in self._tcp_sockets() if p == port and st == '01')
