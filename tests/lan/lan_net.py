"""The virtual LAN itself: a switch namespace with its bridge and N hosts
(lan_host.Host), built in order and torn down as one on success, failure,
exception or signal; its state file lets the janitor finish the job if this
process is killed outright.
"""

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import lan_netns
import lan_runner
from lan_cleanup import start_janitor, teardown
from lan_host import Host
from lan_netns import NS_PREFIX, TMP_PREFIX, netns_exists
from lan_proc import Proc, Skip, note, rc_text, sh


class Lan:
    """N hosts on one bridge. Use as a context manager (or call close()).

    ipv4=False builds an IPv6-only LAN: no IPv4 address on any host, Avahi
    with use-ipv4=no, each host's eth0 with a fixed link-local address and
    one in a per-run ULA /64 (`subnet`, then an IPv6 network; `h.ip` is the
    ULA address, `h.link_local` the other; ula=[True, False] leaves h2 with
    its link-local address alone, which is then its `ip`). nics=[2, 1] gives
    h1 a second interface on the bridge (eth1; see Host.add_nic)."""

    def __init__(self, n=2, hostnames=None, avahi=True, ipv6=True, names=None, ipv4=True,
                 nics=None, ula=None):
        lan_netns.check_environment()
        lan_runner.install_signal_handlers()
        if not ipv4 and not ipv6:
            raise ValueError('a LAN needs IPv4 or IPv6')
        self.ipv6 = ipv6
        self.ipv4 = ipv4
        self.ula = list(ula or [])      # per host index (1-based - 1); missing: True
        self.hosts = []
        self.closed = False
        self.tag = secrets.token_hex(3)
        self.prefix = f'{NS_PREFIX}-{self.tag}'
        self.switch_ns = f'{self.prefix}-sw'
        self.bridge = f'br{self.tag}'
        self.tmpdir = None
        self.subnet, self._lockf = lan_netns.pick_subnet()  # lock held until close()
        # The ULA /64 follows the locked /24, so concurrent runs differ too.
        self.subnet6 = lan_netns.ula_subnet(self.subnet)
        if not ipv4:
            self.subnet = self.subnet6
        self.tmpdir = tempfile.mkdtemp(prefix=f'{TMP_PREFIX}{self.tag}-', dir='/tmp')
        os.chmod(self.tmpdir, 0o755)
        # The state file lives in tmpdir, so teardown removes it last.
        self.state_path = os.path.join(self.tmpdir, 'state.json')
        self._janitor = start_janitor(self.state_path)
        lan_runner.active.append(self)
        try:
            self._state_changed()
            sh(['ip', 'netns', 'add', self.switch_ns])
            self._state_changed()
            lan_netns.create_switch(self.switch_ns, self.bridge)
            note(f'lan {self.tag}: subnet {self.subnet}, bridge {self.bridge} in netns '
                 f'{self.switch_ns}, files in {self.tmpdir}')
            hostnames = list(hostnames or [])
            names = list(names or [])
            nics = list(nics or [])
            new = [self.add_host(names[i] if i < len(names) else None,
                                 hostnames[i] if i < len(hostnames) else None, avahi=False,
                                 nics=nics[i] if i < len(nics) else 1)
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

    def add_host(self, name=None, hostname=None, avahi=True, nics=1):
        """Adds a host (it can join later than the others). avahi=True also
        starts its D-Bus and avahi-daemon and waits for avahi to be up.
        nics=2 plugs a second interface into the bridge (Host.add_nic)."""
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
        for _ in range(nics - 1):
            h.add_nic()
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
                state = 'running' if p.alive() else f'exited {rc_text(p.popen.returncode)}'
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
            if self in lan_runner.active:
                lan_runner.active.remove(self)
            note(f'lan {self.tag}: cleaned up')
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
