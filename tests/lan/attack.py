#!/usr/bin/env python3
"""The attack-suite framework of the virtual LAN (issue 14): helpers, no test.

One LAN for every attack of a test file: h1 and h2 are servers (distccd and
distcc-mdnsd), c1 and c2 clients (distcc-mdnsd), and `evil` a host that
runs no daemon (no avahi-daemon either, so it owns UDP port 5353). An
attack is a callable `attack(suite, duration)` that starts its forgery from
evil (usually with suite.send_from_evil()) and returns; the suite observes
for the attack's duration plus TAIL seconds (Avahi acts on some forgeries
only once they stop: a goodbye or a cache flush expires records 1 s after
the last one) and measures, outside the daemons:

  - c1's line, sampled at 10 Hz through c1's query socket (bounded count):
    the share of lines that list the victim as itself (its address in the
    line, its entry with its own id), and whether every line from 2 s after
    the attack's start does;
  - fairness: c1 and c2 both ask for the farm's slots ("want", reserving,
    every 0.5 s for the whole suite so that their demands stay live); c1's
    share of the farm's slots, the lowest from 2 s into the attack;
  - bytes on the wire to and from evil: an AF_PACKET capture on evil's
    interface (out: sent by evil; in: unicast to evil; multicast from the
    daemons' hosts is reported apart);
  - every daemon's VmRSS before and after.

suite.report() prints the table `attack | victim listed | c1 share |
bytes in/out | RSS` (also written as markdown to $DMLAN_ATTACK_TABLE when
set) and then fails with every attack that missed a bound. Gossip attacks
(tests/lan/gossip_wire.py datagrams) plug in the same way: a callable that
calls suite.send_from_evil(host.ip, port, [datagram], ...).

Run on a LAN host (standard library only), this file is also the sender
and the capture:
    attack.py --send ADDRESS PORT SOURCE_PORT EVERY COUNT HEX...
    attack.py --capture IFACE IP SECONDS OUT.json
"""

import json
import os
import select
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

MDNS_GROUP = '224.0.0.251'
MDNS_PORT = 5353
SERVICE = ('_distcc', '_tcp', 'local')

# Bounds every attack must keep (issue 14's acceptance).
MIN_LISTED = 0.95          # of c1's lines during the attack
SETTLE = 2.0               # s after the start from which every line must list the victim
MIN_SHARE = 0.30           # of the farm's slots for c1 against c2 (and the attacker)
MAX_AMPLIFICATION = 3.0    # bytes answered to evil per byte it sent
MAX_RSS_GROWTH_KIB = 8192  # per daemon per attack (x4 under the sanitizers)

SAMPLE_HZ = 10
TAIL = 4.0                 # s observed after the attack's duration
DEMAND_PERIOD = 0.5


# ---------------------------------------------------------------- mDNS packets

def dns_name(labels):
    """Wire form of a DNS name given as labels (a label may hold dots or '@')."""
    out = b''
    for label in labels:
        b = label.encode() if isinstance(label, str) else label
        assert 0 < len(b) < 64, f'bad label {label!r}'
        out += bytes([len(b)]) + b
    return out + b'\0'


def dns_record(labels, rtype, rdata, ttl, cache_flush=False):
    rclass = 1 | (0x8000 if cache_flush else 0)
    return dns_name(labels) + struct.pack('!HHIH', rtype, rclass, ttl, len(rdata)) + rdata


def mdns_response(records):
    """An unsolicited mDNS response (QR and AA set) carrying records."""
    return struct.pack('!HHHHHH', 0, 0x8400, 0, len(records), 0, 0) + b''.join(records)


def txt_rdata(items):
    out = b''
    for item in items:
        b = item.encode('utf-8', 'surrogateescape') if isinstance(item, str) else item
        out += bytes([min(len(b), 255)]) + b[:255]
    return out or b'\0'


def goodbye(instance):
    """A goodbye (TTL 0) of the PTR that lists instance under _distcc._tcp."""
    return mdns_response([dns_record(SERVICE, 12, dns_name((instance,) + SERVICE), 0)])


def forged_txt(instance, items, ttl=4500):
    """A TXT for instance with the cache-flush bit: it replaces the genuine
    one in every cache that believes it."""
    return mdns_response([dns_record((instance,) + SERVICE, 16, txt_rdata(items), ttl,
                                     cache_flush=True)])


def announce(instance, host, address, port, items, ttl=120):
    """A full announcement of a service of evil's own: PTR, SRV (at
    host.local), TXT and the host's A record."""
    target = (host, 'local')
    srv = struct.pack('!HHH', 0, 0, port) + dns_name(target)
    return mdns_response([
        dns_record(SERVICE, 12, dns_name((instance,) + SERVICE), ttl),
        dns_record((instance,) + SERVICE, 33, srv, ttl, cache_flush=True),
        dns_record((instance,) + SERVICE, 16, txt_rdata(items), ttl, cache_flush=True),
        dns_record(target, 1, socket.inet_aton(address), ttl, cache_flush=True),
    ])


def replace_txt(items, **changes):
    """items (TXT strings) with key=value changed or added."""
    out, seen = [], set()
    for item in items:
        k = item.partition('=')[0].lower()
        if k in changes:
            out.append(f'{k}={changes[k]}')
            seen.add(k)
        else:
            out.append(item)
    out += [f'{k}={v}' for k, v in changes.items() if k not in seen]
    return out


def foreign_compilers(items):
    """items (TXT strings) naming only a compiler no host of the LAN has,
    as default and in the `cc` list if there is one."""
    changes = {'cc_machine': 'mips-unknown-linux-gnu', 'cc_version': '1.0',
               'gnuhost': 'mips-unknown-linux-gnu'}
    if any(i.partition('=')[0].lower() == 'cc' for i in items):
        changes['cc'] = 'mips-unknown-linux-gnu:1.0'
    return replace_txt(items, **changes)


# ---------------------------------------------------------------- on a LAN host

def _send(addresses, port, source_port, every, count, payloads):
    """Sends every payload to every address (comma-separated) count times,
    every `every` seconds, from source_port; with TTL 255 as mDNS wants."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', source_port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    start = time.monotonic()
    sent = 0
    for i in range(count):
        due = start + i * every
        left = due - time.monotonic()
        if left > 0:
            time.sleep(left)    # pacing of the forgery, not synchronisation
        for address in addresses.split(','):
            for p in payloads:
                s.sendto(p, (address, port))
                sent += len(p)
    print(f'sent {count} x {len(payloads)} datagrams to {addresses}, {sent} bytes', flush=True)


def _capture(iface, ip, seconds, out_path):
    """Counts IPv4 bytes on iface until the deadline: out (from ip), in
    (unicast to ip), mcast_in (multicast from others). Writes JSON."""
    eth_p_all = 0x0003
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(eth_p_all))
    s.bind((iface, 0))
    me = socket.inet_aton(ip)
    counts = dict(out=0, inn=0, mcast_in=0, frames=0)
    print('capture ready', flush=True)
    end = time.monotonic() + seconds
    for _ in range(2_000_000):
        left = end - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([s], [], [], left)
        if not ready:
            continue
        frame = s.recv(65535)
        if len(frame) < 34 or frame[12:14] != b'\x08\x00':
            continue
        counts['frames'] += 1
        ip_len = struct.unpack('!H', frame[16:18])[0]
        src, dst = frame[26:30], frame[30:34]
        if src == me:
            counts['out'] += ip_len
        elif dst == me:
            counts['inn'] += ip_len
        elif 224 <= dst[0] <= 239:
            counts['mcast_in'] += ip_len
    tmp = out_path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(counts, f)
    os.replace(tmp, out_path)


def _agent(argv):
    if argv[:1] == ['--send'] and len(argv) >= 7:
        address, port, sport, every, count = argv[1], int(argv[2]), int(argv[3]), \
            float(argv[4]), int(argv[5])
        _send(address, port, sport, every, count, [bytes.fromhex(h) for h in argv[6:]])
        return 0
    if argv[:1] == ['--capture'] and len(argv) == 5:
        _capture(argv[1], argv[2], float(argv[3]), argv[4])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(_agent(sys.argv[1:]))


# ---------------------------------------------------------------- the suite
# (imported by the test files; lan.py and dmtest.py need root, the agents not)

sys.path.insert(0, HERE)
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note, wait_until  # noqa: E402

# distccd --jobs of each server, advertised with as many cpus and speed 1
# (a LAN host sees the machine's 2 cpus, which would make only 4 of the 6
# slots usable). Three clients (c1, c2 and an attacker that claims the whole
# farm, which counts as one client) share the 12 slots 4, 4 and 4: with
# fewer, whole slots rounded down would put c1 under 30% of the farm
# whoever the third client is (8 slots: 2 each, 25%).
SLOTS = 6


class Result:
    """What one attack did, measured from outside the daemons."""

    def __init__(self, name):
        self.name = name
        self.lines = 0
        self.listed = 0
        self.evil_listed = 0         # lines listing evil's own address
        self.all_after_settle = True
        self.first_miss_after_settle = None
        self.share = None            # lowest c1 share from SETTLE on
        self.bytes_out = 0           # sent by evil
        self.bytes_in = 0            # unicast to evil
        self.mcast_in = 0
        self.rss = {}                # daemon -> (before KiB, after KiB)
        self.failures = []

    @property
    def fraction(self):
        return self.listed / self.lines if self.lines else 0.0

    def row(self):
        listed = f'{100 * self.fraction:.0f}% of {self.lines}, ' \
                 f'{"all" if self.all_after_settle else "NOT all"} after {SETTLE:g} s' + \
                 (f'; evil in {self.evil_listed}' if self.evil_listed else '')
        share = 'n/a' if self.share is None else f'{100 * self.share:.0f}%'
        grow = max(((a - b), d) for d, (b, a) in self.rss.items()) if self.rss else (0, '-')
        rss = f'max {grow[0]:+d} KiB ({grow[1]})'
        return [self.name, listed, share,
                f'{self.bytes_in} / {self.bytes_out} B (mcast from daemons {self.mcast_in} B)',
                rss]


class Suite:
    """The attack LAN. Use as a context manager; run(); report()."""

    HEADER = ['attack', 'victim listed (% of lines, all after 2 s)', 'c1 share',
              'bytes in/out at evil', 'RSS']

    def __init__(self, bins):
        self.bins = bins
        self.net = lan.Lan(4, names=['h1', 'h2', 'c1', 'c2'])
        try:
            self.evil = self.net.add_host('evil', avahi=False)
            self.h1, self.h2, self.c1, self.c2 = self.net.hosts[:4]
            self.servers = (self.h1, self.h2)
            self.victim = self.h1
            self.farm = SLOTS * len(self.servers)
            self.daemons = {}
            for s in self.servers:
                s.start_distccd(jobs=SLOTS)
                self.daemons[s.name] = dm.start_mdnsd(s, bins, f'--cpus={SLOTS}', '--speed=1')
            for c in (self.c1, self.c2):
                self.daemons[c.name] = dm.start_mdnsd(c, bins)
            self.browse = self.c1.browse()
            self.results = []
            self._senders = []
            self._stop = threading.Event()
            self._shares = []        # (t, c1 share)
            self._demand_error = None
            self._demand = None
            self.rss_bound = MAX_RSS_GROWTH_KIB * (4 if dm.sanitized(bins.mdnsd) else 1)
        except BaseException:
            self.net.close(failed=True)
            raise

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self._stop.set()
        if self._demand:
            self._demand.join(timeout=5)
        return self.net.__exit__(et, ev, tb)

    def watch(self):
        return tuple(self.daemons.values())

    # -- setup

    def settle(self, timeout=20):
        """Waits until both clients list both servers and c1's gossip hears
        them; returns the victim's genuine advertisement seen from c1."""
        for c in (self.c1, self.c2):
            for s in self.servers:
                dm.wait_listed(c, self.bins, s.ip, timeout, watch=self.watch())
        wait_until(lambda: dm.all_alive(self.c1, [s.ip for s in self.servers]), timeout,
                   watch=self.watch(), what='c1 hearing both servers by gossip')
        self.victim_record = self.browse.wait_for(f'distcc@{self.victim.hostname}', timeout)
        self.victim_instance = self.victim_record['name']
        self.victim_txt = list(self.victim_record['txt_raw'])
        self.victim_id = self.victim_record['txt'].get('id')
        assert self.victim_id, f'the victim advertises no id: {self.victim_record}'
        self._demand = threading.Thread(target=self._demand_loop, daemon=True)
        self._demand.start()
        wait_until(lambda: self._shares and self._shares[-1][1] <= 0.75, 10, watch=self.watch(),
                   what='c1 and c2 demands counted by each other')
        note(f'victim {self.victim_instance} at {self.victim.ip}, TXT {self.victim_txt}')
        return self.victim_record

    def _demand_loop(self):
        # Both clients keep asking for the whole farm: their demands stay
        # live, and c1's replies give its share.
        for _ in range(100_000):
            if self._stop.is_set():
                return
            t = time.monotonic()
            try:
                r1 = dm.hosts_query(self.c1, want=self.farm)
                dm.hosts_query(self.c2, want=self.farm)
            except Exception as e:   # reported by the attack that sees it
                self._demand_error = e
                self._stop.wait(DEMAND_PERIOD)
                continue
            ips = {s.ip for s in self.servers}
            got = sum(s['limit'] for s in r1['servers']
                      if s['address'] in ips and s['excluded'] is None)
            self._shares.append((t, got / self.farm))
            self._stop.wait(max(0.0, DEMAND_PERIOD - (time.monotonic() - t)))

    # -- tools for attacks

    def send_from_evil(self, addresses, port, payloads, every=0.2, count=1, source_port=None,
                       name='sender'):
        """Starts sending payloads (bytes) from evil to each of addresses
        (a list) at port, count times every `every` s; returns the Proc
        (the suite waits for it)."""
        sport = source_port if source_port is not None else 0
        argv = ['python3', os.path.join(HERE, 'attack.py'), '--send', ','.join(addresses), port,
                sport,
                every, count] + [p.hex() for p in payloads]
        proc = self.evil.spawn([str(a) for a in argv], name=name)
        self._senders.append(proc)
        return proc

    def mdns_from_evil(self, payloads, every=0.2, count=1, multicast=False):
        """Forged mDNS responses from evil's port 5353. By default sent
        unicast to every daemon's host but the victim's (Avahi takes
        responses from on-link sources): the victim's avahi-daemon never
        hears them, so it cannot defend its records by announcing them
        again, as it does for what it hears on the group (multicast=True)."""
        to = [MDNS_GROUP] if multicast else \
            [h.ip for h in (self.h1, self.h2, self.c1, self.c2) if h is not self.victim]
        return self.send_from_evil(to, MDNS_PORT, payloads, every, count,
                                   source_port=MDNS_PORT, name='mdns-forger')

    def restart_victim_distccd(self, allow):
        """Restarts the victim's distccd admitting only the networks in
        allow (a list): its daemon then advertises a new `allow`, a genuine
        TXT change. Returns when the new distccd listens."""
        h = self.victim
        daemon = self.daemons[h.name]
        mark = daemon.log_size()
        h.distccd.stop()
        # A restart the daemon does not see (between two of its looks)
        # changes nothing it advertises: wait until it saw distccd go.
        daemon.wait_log('distccd stopped accepting', 10, start=mark)
        argv = ['distccd', '--daemon', '--no-detach', '--log-stderr', '--log-level=info',
                '--listen', h.ip, '--port', '3632', '--jobs', str(SLOTS)]
        for network in allow:
            argv += ['--allow', network]
        proc = h.spawn(argv, name=f'distccd-{len(self.results)}')
        h.distccd = proc
        wait_until(lambda: h.listening(3632), 10, 0.02, what=f'{h.name}: distccd listening',
                   watch=(proc,))
        return proc

    def listed_by(self, client):
        """Whether client's line lists the victim (a look, no reservation)."""
        r = dm.query(client, self._look())
        assert r.get('ok') is True, f'{client.name}: hosts query failed: {r}'
        return self.victim.ip in dm.line_hosts(r['line'])

    # -- running attacks

    def _rss(self):
        return {n: dm.vm_rss_kib(p.pid) for n, p in self.daemons.items()}

    def _line(self):
        """c1's line: (whether it lists the victim as itself: its address
        in the line, from an entry that carries its own id, not a
        forger's; whether it lists evil, which serves nothing)."""
        r = dm.query(self.c1, self._look())
        assert r.get('ok') is True, f'c1: hosts query failed: {r}'
        hosts = dm.line_hosts(r['line'])
        victim = self.victim.ip in hosts and any(
            s['address'] == self.victim.ip and s['id'] == self.victim_id and s['excluded'] is None
            for s in r['servers'])
        return victim, self.evil.ip in hosts

    def _look(self):
        """A hosts query that reserves nothing, for the victim's default
        compiler as a build names it: a server that does not offer it is
        left out of the line."""
        req = {'op': 'hosts', 'reserve': False}
        txt = getattr(self, 'victim_record', {}).get('txt', {})
        if txt.get('cc_machine') and txt.get('cc_version'):
            req['compiler'] = f"{txt['cc_machine']} {txt['cc_version']}"
        return req

    def _line_listed(self):
        return self._line()[0]

    def run(self, name, attack, duration):
        """Runs attack(suite, duration) and measures for duration + TAIL s;
        the victim must be listed again before the next attack (bounded)."""
        res = Result(name)
        self._senders = []
        for p in self.daemons.values():
            p.check_alive()
        before = self._rss()
        cap_path = os.path.join(self.evil.work, f'capture-{len(self.results)}.json')
        cap = self.evil.spawn(['python3', os.path.join(HERE, 'attack.py'), '--capture', 'eth0',
                               self.evil.ip, str(duration + TAIL + 1.0), cap_path],
                              name=f'capture-{len(self.results)}')
        cap.wait_log('capture ready', 10)
        t0 = time.monotonic()
        attack(self, duration)
        end = t0 + duration + TAIL
        for i in range(int((duration + TAIL) * SAMPLE_HZ) + 5):
            t = time.monotonic()
            if t >= end:
                break
            listed, evil = self._line()
            res.lines += 1
            res.listed += listed
            res.evil_listed += evil
            if t - t0 >= SETTLE and not listed:
                res.all_after_settle = False
                if res.first_miss_after_settle is None:
                    res.first_miss_after_settle = t - t0
            time.sleep(max(0.0, min(1 / SAMPLE_HZ - (time.monotonic() - t), end - time.monotonic())))
        for p in self._senders:
            p.wait(30)
        cap.wait(duration + TAIL + 10)
        with open(cap_path) as f:
            counts = json.load(f)
        res.bytes_out, res.bytes_in, res.mcast_in = counts['out'], counts['inn'], counts['mcast_in']
        shares = [s for t, s in self._shares if t0 + SETTLE <= t <= end]
        res.share = min(shares) if shares else None
        for p in self.daemons.values():
            p.check_alive()
        after = self._rss()
        res.rss = {n: (before[n], after[n]) for n in before}

        if res.fraction < MIN_LISTED:
            res.failures.append(f'victim in {100 * res.fraction:.0f}% of c1\'s lines '
                                f'(want >= {100 * MIN_LISTED:.0f}%)')
        if not res.all_after_settle:
            res.failures.append(f'victim missing from a line {res.first_miss_after_settle:.1f} s '
                                f'after the start')
        if res.evil_listed:
            res.failures.append(f'evil ({self.evil.ip}) in {res.evil_listed} of c1\'s lines')
        if res.share is None:
            res.failures.append(f'no fairness sample (demand loop: {self._demand_error})')
        elif res.share < MIN_SHARE:
            res.failures.append(f'c1 got {100 * res.share:.0f}% of the farm (want >= '
                                f'{100 * MIN_SHARE:.0f}%)')
        if res.bytes_in > MAX_AMPLIFICATION * max(res.bytes_out, 1):
            res.failures.append(f'{res.bytes_in} B answered to evil for {res.bytes_out} B sent')
        for n, (b, a) in res.rss.items():
            if a - b > self.rss_bound:
                res.failures.append(f'{n} RSS grew {a - b} KiB (bound {self.rss_bound})')
        note(f'attack {name!r}: ' + ' | '.join(res.row()[1:]) +
             (f'; FAILED: {res.failures}' if res.failures else ''))
        self.results.append(res)
        # The next attack starts from a healthy farm; if it does not come
        # back, that is this attack's failure and the next ones still run.
        try:
            wait_until(self._line_listed, 15, 0.1, watch=self.watch(),
                       what=f'{self.victim.ip} back in c1\'s line after {name!r}')
        except lan.Timeout as e:
            res.failures.append(str(e))
        return res

    # -- the report

    def table(self):
        rows = [self.HEADER, ['---'] * len(self.HEADER)] + [r.row() for r in self.results]
        return '\n'.join('| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows)

    def report(self):
        text = self.table()
        print(text, flush=True)
        path = os.environ.get('DMLAN_ATTACK_TABLE')
        if path:
            with open(path, 'w') as f:
                f.write(text + '\n')
            note(f'attack table written to {path}')
        failed = [f'{r.name}: {"; ".join(r.failures)}' for r in self.results if r.failures]
        assert not failed, 'attacks that broke a bound:\n  ' + '\n  '.join(failed)
