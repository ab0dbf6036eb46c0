#!/usr/bin/env python3
"""lan-attack-gossip: forged gossip from a host that runs no daemon removes, freezes or starves nobody.

One LAN (tests/lan/attack.py): servers h1, h2; clients c1, c2; `evil`
(no daemon) sends gossip datagrams (tests/lan/gossip_wire.py, wire v2) from
its own address to every daemon's UDP port, as itself and under the ids of
h1 (the victim server) and c2 (a real client):
  - nothing (the control row);
  - SAMPLE of h1 at its own incarnation, sequence 2^62-1, state down: once,
    and every 200 ms for 6 s under h1's own id;
  - LEAVE of h1 (as evil and as h1), every 200 ms for 6 s, to h1 as well;
  - LOAD of h1 with sequence 0xffffffff (freeze) and with every slot busy;
  - RESERVATION of every slot of h1 and h2 under 30 invented client ids per
    datagram, and DEMAND of 1,000,000 jobs under 30 ids, every 200 ms; and
    the same as itself (a client may claim for itself: it counts once, for
    at most the farm);
  - DEMAND and RESERVATION about c2 cancelling its demand, every 200 ms;
  - a flood of 2000 datagrams/s at c1 for 5 s (beyond the rate limit);
  - push-pull requests (header only, 29 bytes) to every daemon, 100/s for
    5 s: answers must stay within 3x the bytes, measured on evil's wire;
  - one SAMPLE "down" as h1 from h1's own address (a spoofed source, once).
For each, h1 stays in c1's line (>= 95% of lines at 10 Hz, every line from
2 s on), c1 keeps >= 30% of the farm against c2 and the attacker, evil
gets back at most 3x the bytes it sent, and no daemon's RSS grows beyond
the bound. Prints the table (and writes it to $DMLAN_ATTACK_TABLE).

Run on evil with --spoof SRC DST PORT HEX, this file sends one UDP
datagram with a forged source address through a raw socket.
"""

import os
import socket
import struct
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gossip_wire as gw  # noqa: E402

PORT = 3632          # the daemons' gossip port (UDP)
EVIL_ID = 0x00000000000e1111
REPEAT = 0.2         # s between repeated forgeries
INVENTED = 30        # invented client ids per datagram


def spoof(src, dst, port, payload):
    """One UDP datagram from src:PORT to dst:port through a raw socket (the
    kernel fills in the IP checksum; a zero UDP checksum means none)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    udp = struct.pack('!HHHH', PORT, port, 8 + len(payload), 0) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    s.sendto(ip + udp, (dst, 0))
    print(f'spoofed {len(payload)} bytes {src} -> {dst}:{port}', flush=True)


if __name__ == '__main__' and sys.argv[1:2] == ['--spoof']:
    spoof(sys.argv[2], sys.argv[3], int(sys.argv[4]), bytes.fromhex(sys.argv[5]))
    sys.exit(0)

import lan  # noqa: E402
import dmtest as dm  # noqa: E402
import attack as at  # noqa: E402
from lan import note  # noqa: E402


class Target:
    """What the forgeries name: h1's and c2's ids and h1's incarnation."""

    def __init__(self, suite):
        self.victim = int(suite.victim_id, 16)
        self.incarnation = dm.gossip_stats(suite.h1)['incarnation']
        self.client = int(dm.gossip_stats(suite.c2)['node'], 16)
        self.daemons = [h.ip for h in (suite.h1, suite.h2, suite.c1, suite.c2)]
        self.others = [h.ip for h in (suite.h2, suite.c1, suite.c2)]
        note(f'forging about h1 {self.victim:016x} (incarnation {self.incarnation}) '
             f'and c2 {self.client:016x}')


def repeated(duration):
    return max(1, int(duration / REPEAT))


def sample_down(t, sequence=gw.MAX_COUNTER - 1):
    return gw.sample(t.victim, t.incarnation, sequence, running=at.SLOTS, slots=at.SLOTS,
                     cpus=at.SLOTS, state=2)


def attacks(t):
    """(name, duration, attack(suite, duration)) in the order they run."""
    def send(packets, count=1, to=None, every=REPEAT):
        return lambda suite, duration: suite.send_from_evil(
            to or t.others, PORT, packets, every=every,
            count=count if count else repeated(duration), source_port=PORT, name='gossip-forger')

    invented = range(0x7000, 0x7000 + INVENTED)
    reserve_all = [gw.packet(EVIL_ID, 1, [gw.reservation(c, server, at.SLOTS, sequence=n)
                                          for c in invented], sequence=n)
                   for n, server in enumerate((t.victim, int(t.h2_id, 16)), 1)]
    return [
        ('none (control)', 2, lambda suite, duration: None),
        ('SAMPLE h1 down, seq 2^62-1, once', 4,
         send([gw.packet(EVIL_ID, 1, [sample_down(t)])])),
        ('SAMPLE h1 down as h1, every 200 ms for 6 s', 6,
         send([gw.packet(t.victim, t.incarnation, [sample_down(t)]),
               gw.packet(t.victim, t.incarnation, [sample_down(t, 5)])], count=0)),
        ('LEAVE h1 (as evil and as h1), every 200 ms for 6 s', 6,
         send([gw.packet(EVIL_ID, 1, [gw.leave(t.victim, t.incarnation)]),
               gw.packet(t.victim, t.incarnation, [gw.leave(t.victim, t.incarnation)])],
              count=0, to=t.daemons)),
        ('LOAD h1 seq 0xffffffff: frozen idle, and all busy, every 200 ms for 6 s', 6,
         send([gw.packet(EVIL_ID, 1, [gw.load(t.victim, t.incarnation & 0xffff, 0xffffffff)]),
               gw.packet(t.victim, t.incarnation,
                         [gw.load(t.victim, t.incarnation & 0xffff, 0xfffffff0, 0, at.SLOTS,
                                  10 * at.SLOTS)])], count=0)),
        (f'RESERVATION of every slot under {INVENTED} ids, every 200 ms for 6 s', 6,
         send(reserve_all, count=0)),
        (f'DEMAND of 1,000,000 under {INVENTED} ids, every 200 ms for 6 s', 6,
         send([gw.packet(EVIL_ID, 1, [gw.demand(c, 1, 1, 0, 1_000_000, 4) for c in invented])],
              count=0)),
        ('DEMAND of 1,000,000 and every slot reserved, as itself, every 200 ms for 6 s', 6,
         send([gw.packet(EVIL_ID, 1, [gw.demand(EVIL_ID, 1, n, 0, 1_000_000, 4),
                                      gw.reservation(EVIL_ID, t.victim, at.SLOTS, sequence=n),
                                      gw.reservation(EVIL_ID, int(t.h2_id, 16), at.SLOTS,
                                                     sequence=n)], sequence=n)
               for n in range(1, 3)], count=0)),
        ('DEMAND and RESERVATION cancelling c2\'s, every 200 ms for 6 s', 6,
         send([gw.packet(EVIL_ID, 1, [gw.demand(t.client, 1, 2**40, 0, 0, 0),
                                      gw.reservation(t.client, t.victim, 0, sequence=2**40)]),
               gw.packet(t.client, 1, [gw.demand(t.client, 1, 2**40, 0, 0, 0)])], count=0)),
        ('flood of 2000 datagrams/s at c1 for 5 s', 5,
         send([gw.packet(EVIL_ID, 1, [sample_down(t)]), gw.packet(EVIL_ID, 1, [gw.leave(t.victim, 1)])],
              count=1000, every=0.001, to=[t.daemons[2]])),
        ('push-pull requests, 29 bytes, 100/s for 5 s, to every daemon', 5,
         send([gw.packet(EVIL_ID, 1, [], flags=gw.F_PUSH_PULL)], count=500, every=0.01,
              to=t.daemons)),
        ('SAMPLE h1 down from h1\'s own address (spoofed), once', 4, None),
    ]


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with at.Suite(bins) as suite:
        suite.settle()
        t = Target(suite)
        t.h2_id = dm.gossip_stats(suite.h2)['node']
        for name, duration, attack in attacks(t):
            if attack is None:
                # The spoofed one: a raw socket on evil, one datagram per
                # daemon; evil's own address appears nowhere.
                def attack(suite, duration, t=t):
                    payload = gw.packet(t.victim, t.incarnation, [sample_down(t, 2)]).hex()
                    for ip in t.others:
                        p = suite.evil.spawn(['python3', os.path.abspath(__file__), '--spoof',
                                              suite.h1.ip, ip, str(PORT), payload], name='spoofer')
                        suite._senders.append(p)
            suite.run(name, attack, duration)
        stats = {h.name: dm.gossip_stats(h) for h in (suite.h1, suite.h2, suite.c1, suite.c2)}
        for n, g in stats.items():
            note(f'{n}: untrusted {g.get("untrusted")}, contradicted {g.get("contradicted")}, '
                 f'probes {g.get("probes")}, rate limited {g["rate_limited"]}, '
                 f'cookie answers {g.get("cookie_answers")}, incarnation {g["incarnation"]}')
        # The victim kept its one incarnation however often it was told it left.
        assert stats['h1']['incarnation'] == t.incarnation, \
            f'h1 changed its incarnation {t.incarnation} -> {stats["h1"]["incarnation"]}'
        assert stats['c1']['rate_limited'] > 0, 'the flood at c1 was never rate-limited'
        suite.report()


if __name__ == '__main__':
    lan.run_test(main)
