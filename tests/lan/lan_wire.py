#!/usr/bin/env python3
"""UDP bytes on the wire of the virtual LAN, per host and direction, counted
in the switch namespace from the bridge's ports (no tcpdump, no nftables).

Each host's cable is a veth whose switch end is a port of the bridge: a
frame the host sends enters the switch on that port, a frame it receives
leaves through it. One AF_PACKET socket in the switch namespace sees both
(the kernel marks the second PACKET_OUTGOING), so the counts are what the
hosts really put on and took off the wire, whatever their daemons believe
they sent. A classic BPF filter lets only UDP to or from the port through
(IPv4, and IPv6 without extension headers), cut to the headers, so the
counter keeps up with a 40-host LAN; the kernel's drop count is reported,
and a count with drops is not a measurement.

    lan_wire.py PORT SECONDS      (run in the switch namespace)

prints "counting", then answers every line on stdin with one JSON line:
{"ports": {IFNAME: {"out": [datagrams, udp payload bytes],
"in": [...]}}, "drops": N, "t": monotonic}, where "out" is what the host
behind IFNAME sent and "in" what it received. It exits at stdin's end or
after SECONDS. WireCounter is the side of the test (lan.Lan).
"""

import ctypes
import json
import select
import socket
import struct
import subprocess
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SNAP = 96                # Ethernet + IPv6 + UDP headers, with room
RCVBUF = 8 << 20


def udp_port_filter(port):
    """Classic BPF, offsets from the MAC header: accept (cut to SNAP bytes)
    UDP datagrams from or to `port`, first fragments only; drop the rest."""
    prog = [  # (label, code, k, jump-if-true label, jump-if-false label)
        (None, 0x28, 12, None, None),            # ldh [12]: ethertype
        (None, 0x15, 0x0800, 'v4', None),        # jeq IPv4
        (None, 0x15, 0x86dd, 'v6', 'drop'),      # jeq IPv6
        ('v4', 0x30, 23, None, None),            # ldb [23]: protocol
        (None, 0x15, 17, None, 'drop'),          # jeq UDP
        (None, 0x28, 20, None, None),            # ldh [20]: flags, fragment offset
        (None, 0x45, 0x1fff, 'drop', None),      # jset: a later fragment
        (None, 0xb1, 14, None, None),            # ldxb 4*([14]&0xf): header length
        (None, 0x48, 14, None, None),            # ldh [x+14]: source port
        (None, 0x15, port, 'accept', None),
        (None, 0x48, 16, None, None),            # ldh [x+16]: destination port
        (None, 0x15, port, 'accept', 'drop'),
        ('v6', 0x30, 20, None, None),            # ldb [20]: next header
        (None, 0x15, 17, None, 'drop'),
        (None, 0x28, 54, None, None),            # ldh [54]: source port
        (None, 0x15, port, 'accept', None),
        (None, 0x28, 56, None, None),            # ldh [56]: destination port
        (None, 0x15, port, 'accept', 'drop'),
        ('accept', 0x06, SNAP, None, None),      # ret SNAP
        ('drop', 0x06, 0, None, None),           # ret 0
    ]
    where = {label: i for i, (label, *_) in enumerate(prog) if label}
    out = b''
    for i, (_, code, k, jt, jf) in enumerate(prog):
        rel = [0 if j is None else where[j] - i - 1 for j in (jt, jf)]
        out += struct.pack('HBBI', code, rel[0], rel[1], k)
    return out, len(prog)


def udp_payload(frame):
    """The UDP payload length of a frame the filter let through, else None
    (the filter is the fast path; this is the one that decides)."""
    if len(frame) < 14:
        return None
    kind = frame[12:14]
    if kind == b'\x08\x00' and len(frame) >= 34 and frame[23] == 17:
        udp = 14 + 4 * (frame[14] & 0x0f)
    elif kind == b'\x86\xdd' and len(frame) >= 62 and frame[20] == 17:
        udp = 54
    else:
        return None
    if len(frame) < udp + 8:
        return None
    return struct.unpack('!H', frame[udp + 4:udp + 6])[0] - 8


def count(port, seconds):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)          # SO_RCVBUFFORCE (root)
    code, n = udp_port_filter(port)
    buf = ctypes.create_string_buffer(code)
    s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                 struct.pack('HL', n, ctypes.addressof(buf)))
    # Frames that came in before the filter was attached are dropped.
    s.setblocking(False)
    for _ in range(100_000):
        try:
            s.recv(SNAP)
        except BlockingIOError:
            break
    ports, drops = {}, 0

    def kernel_drops():
        nonlocal drops
        _, d = struct.unpack('II', s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        drops += d          # the kernel resets its counts on every read
        return drops
    kernel_drops()
    drops = 0
    print('counting', flush=True)
    end = time.monotonic() + seconds
    for _ in range(100_000_000):     # bounded by `end` long before this count
        left = end - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([s, sys.stdin], [], [], left)
        if s in ready:
            for _ in range(1000):
                try:
                    frame, addr = s.recvfrom(SNAP)
                except BlockingIOError:
                    break
                size = udp_payload(frame)
                if size is None:
                    continue
                side = ports.setdefault(addr[0], {'out': [0, 0], 'in': [0, 0]})
                # Into the switch from a host: the host sent it.
                c = side['in' if addr[2] == PACKET_OUTGOING else 'out']
                c[0] += 1
                c[1] += size
        if sys.stdin in ready:
            if not sys.stdin.readline():
                break
            print(json.dumps({'ports': ports, 'drops': kernel_drops(), 't': time.monotonic()}),
                  flush=True)


class WireCounter:
    """lan_wire.py in a LAN's switch namespace, counting UDP `port`."""

    def __init__(self, net, port, seconds=3600):
        self.net = net
        argv = ['ip', 'netns', 'exec', net.switch_ns, sys.executable, __file__, str(port),
                str(seconds)]
        # The Lan's teardown kills it with everything else in its namespaces.
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if ready else ''
        if line.strip() != 'counting':
            self.stop()
            raise RuntimeError(f'lan_wire.py did not start: {line!r}')

    def snapshot(self, timeout=10):
        """{host name: {'out': [datagrams, bytes], 'in': [...]}} so far, with
        'drops' (frames the kernel could not queue) and 't'."""
        self.proc.stdin.write('\n')
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ''
        if not line:
            raise RuntimeError('lan_wire.py did not answer')
        raw = json.loads(line)
        by_veth = {h.veth: h.name for h in self.net.hosts}
        snap = {by_veth[k]: v for k, v in raw['ports'].items() if k in by_veth}
        for h in self.net.hosts:
            snap.setdefault(h.name, {'out': [0, 0], 'in': [0, 0]})
        return {'hosts': snap, 'drops': raw['drops'], 't': raw['t']}

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


if __name__ == '__main__':
    count(int(sys.argv[1]), float(sys.argv[2]))
