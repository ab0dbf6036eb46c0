"""Avahi on the virtual LAN: each host's own D-Bus system bus and
avahi-daemon (run in the foreground, logging to the host's log files), and
the stock avahi-browse / avahi-publish a test uses to watch and fake mDNS.

AvahiHost is a part of lan_host.Host: its methods run on that host.
"""

import os
import re
import signal
import threading
import time

from lan_proc import T0, LanError, rc_text, wait_until


SHIPPED_AVAHI_CONF = '/etc/avahi/avahi-daemon.conf'

# Debian 12's /etc/avahi/avahi-daemon.conf without its comments: used where
# the file is missing, so that every machine runs the same configuration.
DEBIAN_AVAHI_CONF = {
    'server': {'use-ipv4': 'yes', 'use-ipv6': 'yes', 'ratelimit-interval-usec': '1000000',
               'ratelimit-burst': '1000'},
    'wide-area': {'enable-wide-area': 'yes'},
    'publish': {'publish-hinfo': 'no', 'publish-workstation': 'no'},
    'reflector': {},
    'rlimits': {},
}


def shipped_avahi_conf(path=SHIPPED_AVAHI_CONF):
    """The [section] key=value pairs of the system's avahi-daemon.conf, in
    order, comments dropped; Debian's defaults if it cannot be read."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return {sec: dict(kv) for sec, kv in DEBIAN_AVAHI_CONF.items()}
    sections, current = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(('#', ';')):
            continue
        if line.startswith('[') and line.endswith(']'):
            current = sections.setdefault(line[1:-1].strip(), {})
        elif current is not None and '=' in line:
            k, _, v = line.partition('=')
            current[k.strip()] = v.strip()
    return sections


class Browse:
    """A long-running stock `avahi-browse -prk TYPE` on a host.

    A reader thread stamps every event with time.monotonic(). `services`
    maps instance name -> latest resolved IPv4 record (dict with name, host,
    address, port, txt (dict of lower-case keys, first occurrence wins),
    txt_raw (list), t); `events` lists (t, '+'|'='|'-', name, record).

    avahi-browse resolves addresses of any family, and Avahi publishes AAAA
    records over IPv4 too (Debian's default): a row seen over IPv4 may carry
    the host's IPv6 address. Such a record keeps it as `resolved` and takes
    as `address` the IPv4 address of the LAN host of that name (the A
    record its avahi-daemon publishes), so that tests compare like with like.
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
                logf.write(f'[{t - T0:7.3f}] '.encode() + raw)
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
                        rec = dict(name=name, host=f[6], address=self._ipv4_of(f[6], f[7]),
                                   resolved=f[7], port=int(f[8]), txt=txt, txt_raw=raw_txt, t=t)
                        self.services[name] = rec
                        self.events.append((t, '=', name, rec))
                    elif kind == '-':
                        self.services.pop(name, None)
                        self.events.append((t, '-', name, None))
                    elif kind == '+':
                        self.events.append((t, '+', name, None))

    def _ipv4_of(self, host_name, address):
        if ':' not in address:
            return address
        for h in self.host.lan.hosts:
            if host_name in (f'{h.hostname}.local', h.hostname):
                return h.ip
        return address

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


class AvahiHost:
    """D-Bus, avahi-daemon, browsing and publishing on one host (a mixin of
    Host: uses its spawn, path, dir, hostname and lan; its own state, the
    dbus and avahi Procs and _avahi_starts, starts empty in Host.__init__)."""

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
        """Debian's shipped avahi-daemon.conf with only host-name and
        allow-interfaces (the host's interfaces on the LAN) changed (IPv6 on,
        AAAA published over IPv4 too: as a real network runs it; use-ipv4=no
        on an IPv6-only LAN), then a test's `extra` {section: {key: value}}."""
        sections = shipped_avahi_conf()
        sections.setdefault('server', {}).update({'host-name': self.hostname,
                                                  'allow-interfaces': ','.join(self.nics)})
        if not self.lan.ipv4:          # an IPv6-only LAN: no mDNS over IPv4 either
            sections['server'].update({'use-ipv4': 'no', 'use-ipv6': 'yes'})
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
                raise LanError(f'{self.name}: avahi-daemon exited with {rc_text(rc)}')

    def restart_avahi(self, timeout=15):
        """Stops and starts avahi-daemon only (D-Bus and everything else stay)."""
        self.stop_avahi()
        return self.start_avahi(timeout=timeout)

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
