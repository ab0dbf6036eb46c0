#!/usr/bin/env python3
"""The flooder and the probe of lan-gossip-garbage, run on a LAN host: the
junk datagrams (gossip_wire.py builds the well-formed parts), a paced sender
that stops after FLOOD_LIMIT seconds whatever happens, and a probe that asks
for push-pull answers from a source the daemon never heard of.

    gossip_flood.py --flood ADDRESS PORT FAST PACED SEED    prints RESULT {json}
    gossip_flood.py --probe ADDRESS PORT N                  prints PROBE {json}

Standard library only (it runs under the test's python3, from the shared
file system).
"""

import json
import os
import random
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gossip_wire as gw  # noqa: E402

FAST_RATE = 5000.0    # datagrams per second of the fast phase: 50 times what one source may send
POOL = 3000           # distinct datagrams of the fast phase
PACED_RATE = 90.0     # id-flood datagrams per second, under the daemon's 100/s per source
FLOOD_LIMIT = 28.0    # seconds: the flooder stops sending by then whatever happens


# ---------------------------------------------------------------- datagrams

def _valid_packet(rnd):
    """A well-formed datagram of random records (not tagged)."""
    recs = []
    size = gw.HEADER_SIZE
    while True:
        kind = rnd.randrange(4)
        if kind == 0:
            r = gw.sample(gw.random_id(), rnd.randrange(1, 1 << 40), rnd.randrange(1, 1 << 40),
                          age_ms=rnd.randrange(0, 500), running=rnd.randrange(0, 9),
                          slots=rnd.randrange(1, 65), cpus=rnd.randrange(1, 65),
                          speed_milli=rnd.randrange(1, 5000), port=rnd.randrange(1, 65536))
        elif kind == 1:
            r = gw.reservation(gw.random_id(), gw.random_id(), rnd.randrange(0, 17),
                               ttl_ms=3000, age_ms=rnd.randrange(0, 100),
                               incarnation=rnd.randrange(1, 1 << 40), sequence=rnd.randrange(1, 1 << 40))
        elif kind == 2:
            r = gw.demand(gw.random_id(), rnd.randrange(1, 1 << 40), rnd.randrange(1, 1 << 40),
                          wanted=rnd.randrange(0, 1000), local_slots=rnd.randrange(0, 65))
        else:
            r = gw.leave(gw.random_id(), rnd.randrange(1, 1 << 40))
        if size + len(r) > gw.MAX_DATAGRAM:
            break
        recs.append(r)
        size += len(r)
    flags = gw.F_PUSH_PULL | gw.F_FULL_STATE if rnd.random() < 0.2 else 0
    return gw.packet(gw.random_id(), rnd.randrange(1, 1 << 40), recs, flags=flags)


def _id_flood(rnd):
    """Well-formed datagrams a daemon merges into its tables: fresh samples
    of random server ids, reservations (60 s to live) of random clients on
    random servers, demands of random clients, leaves of random nodes."""
    sender, inc = gw.random_id(), rnd.randrange(1, 1 << 40)
    flags = gw.F_PUSH_PULL if rnd.random() < 0.1 else 0
    big = lambda: rnd.randrange(1, 1 << 40)  # noqa: E731
    k = rnd.random()
    if k < 0.05:      # loads on top of samples nobody has (made-up ids)
        n = gw.records_per_datagram(gw.T_LOAD)
        recs = [gw.load(gw.random_id(), rnd.randrange(1 << 16), rnd.randrange(1 << 32),
                        running=rnd.randrange(0, 9)) for _ in range(n)]
    elif k < 0.55:
        n = gw.records_per_datagram(gw.T_SAMPLE)
        recs = [gw.sample(gw.random_id(), big(), big(), age_ms=0, running=rnd.randrange(0, 4),
                          slots=rnd.randrange(1, 65)) for _ in range(n)]
    elif k < 0.8:
        n = gw.records_per_datagram(gw.T_RESERVATION)
        recs = [gw.reservation(gw.random_id(), gw.random_id(), rnd.randrange(1, 17), ttl_ms=60000,
                               incarnation=big(), sequence=big()) for _ in range(n)]
    elif k < 0.9:
        n = gw.records_per_datagram(gw.T_DEMAND)
        recs = [gw.demand(gw.random_id(), big(), big(), wanted=rnd.randrange(1, 1000),
                          local_slots=rnd.randrange(1, 65)) for _ in range(n)]
    else:
        n = gw.records_per_datagram(gw.T_LEAVE)
        recs = [gw.leave(gw.random_id(), big()) for _ in range(n)]
    return gw.packet(sender, inc, recs, flags=flags)


def _bad_body(rnd):
    """A valid header whose body breaks one rule."""
    sender, inc = gw.random_id(), rnd.randrange(1, 1 << 40)
    good = [gw.sample(gw.random_id()), gw.leave(gw.random_id(), 1),
            gw.reservation(gw.random_id(), gw.random_id(), 1), gw.demand(gw.random_id())]
    bad = [
        gw.record(0, b'\0' * 16),                                   # type 0
        gw.record(gw.T_SAMPLE, os.urandom(45)),                     # wrong length
        gw.record(gw.T_LEAVE, os.urandom(17)),
        gw.record(gw.T_RESERVATION, os.urandom(rnd.randrange(0, 42))),
        gw.record(gw.T_DEMAND, os.urandom(35)),
        gw.sample(0),                                               # id 0
        gw.sample(gw.random_id(), slots=0),
        gw.sample(gw.random_id(), slots=5000),
        gw.sample(gw.random_id(), cpus=0),
        gw.sample(gw.random_id(), speed_milli=0),
        gw.sample(gw.random_id(), speed_milli=1_000_001),
        gw.sample(gw.random_id(), runnable_milli=2_000_000_000),
        gw.sample(gw.random_id(), state=3),
        gw.sample(gw.random_id(), options=0x04),
        gw.sample(gw.random_id(), options=0x02),                    # cpp without lzo
        gw.sample(gw.random_id(), port=0),
        gw.sample(gw.random_id(), age_ms=3_600_001),
        gw.leave(0, 5),
        gw.reservation(0, 1, 1),
        gw.reservation(1, 0, 1),
        gw.reservation(1, 2, 4097),
        gw.reservation(1, 2, 1, ttl_ms=0),
        gw.reservation(1, 2, 1, ttl_ms=60001, age_ms=0),
        gw.reservation(1, 2, 1, ttl_ms=100, age_ms=101),
        gw.demand(0),
        gw.demand(1, wanted=1_000_001),
        gw.demand(1, local_slots=4097),
        gw.demand(1, age_ms=3_600_001),
    ]
    recs = [rnd.choice(good) for _ in range(rnd.randrange(0, 5))]
    recs.insert(rnd.randrange(len(recs) + 1), rnd.choice(bad))
    how = rnd.randrange(4)
    if how == 0:
        return gw.packet(sender, inc, recs)
    if how == 1:      # count says more records than there are
        return gw.packet(sender, inc, [rnd.choice(good)], count=rnd.randrange(2, 256))
    if how == 2:      # trailing bytes after valid records
        return gw.packet(sender, inc, [rnd.choice(good)]) + os.urandom(rnd.randrange(1, 40))
    return gw.packet(sender, inc, [rnd.choice(good)], count=0)  # count 0, bytes follow


def _bad_header(rnd):
    good = [gw.sample(gw.random_id())]
    how = rnd.randrange(6)
    if how == 0:
        return gw.packet(gw.random_id(), 1, good, version=rnd.choice((0, 2, 3, 255)))
    if how == 1:
        return gw.packet(gw.random_id(), 1, good, magic=rnd.choice((b'Gd', b'dg', b'\0\0', b'DG')))
    if how == 2:
        return gw.packet(gw.random_id(), 1, good, flags=rnd.choice((0x08, 0x10, 0x80, 0xff)))
    if how == 3:
        return gw.packet(0, 1, good)                                  # sender 0
    if how == 4:      # tagged, too short to hold a tag
        return gw.header(gw.random_id(), 1, 0, flags=gw.F_TAGGED) + os.urandom(rnd.randrange(0, 32))
    return gw.header(gw.random_id(), 1, 1)[:rnd.randrange(0, gw.HEADER_SIZE)]  # short header


def _oversized(rnd):
    if rnd.random() < 0.02:
        return os.urandom(rnd.randrange(8000, 60000))
    n = gw.records_per_datagram(gw.T_SAMPLE) + 1
    d = gw.packet(gw.random_id(), 1, [gw.sample(gw.random_id(), 1, i) for i in range(n)])
    return d + os.urandom(rnd.randrange(0, 60))


def _garbage(rnd):
    k = rnd.randrange(10)
    if k < 2:
        return 'random', os.urandom(rnd.randrange(0, 1501))
    if k < 3:
        d = _valid_packet(rnd)
        return 'truncated', d[:rnd.randrange(0, len(d))]
    if k < 5:
        return 'bad_body', _bad_body(rnd)
    if k < 6:
        return 'bad_header', _bad_header(rnd)
    if k < 7:
        return 'oversized', _oversized(rnd)
    return 'id_flood', _id_flood(rnd)



# ---------------------------------------------------------------- senders

class Replies:
    """What came back on a socket: datagrams and bytes, and how many of them
    are flagged full state (a daemon's whole tables)."""

    def __init__(self, sock):
        self.sock = sock
        self.count = self.bytes = self.full = self.full_bytes = 0

    def drain(self):
        """Reads what is queued (at most 1000 datagrams) without blocking."""
        for _ in range(1000):
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            self.count += 1
            self.bytes += len(data)
            if data[:2] == gw.MAGIC and len(data) > 3 and data[3] & gw.F_FULL_STATE:
                self.full += 1
                self.full_bytes += len(data)


def flood(address, port, fast, paced, seed):
    """Sends `fast` junk datagrams at FAST_RATE, then `paced` id-flood
    datagrams at PACED_RATE, to address:port from one socket; prints RESULT
    {json}: what was sent (by kind) and what came back."""
    rnd = random.Random(seed)
    # A pool of distinct datagrams made beforehand, so that the fast phase is
    # limited by FAST_RATE and not by Python building datagrams.
    pool = [_garbage(rnd) for _ in range(POOL)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    replies = Replies(s)
    counts, sent_bytes, errors = {}, 0, 0
    t0 = time.monotonic()
    deadline = t0 + FLOOD_LIMIT

    def send(kind, data):
        nonlocal sent_bytes, errors
        try:
            s.sendto(data, (address, port))
        except OSError:        # EAGAIN, ENOBUFS, EMSGSIZE: counted, not fatal
            errors += 1
            return
        counts[kind] = counts.get(kind, 0) + 1
        sent_bytes += len(data)

    def pace(start, i, rate):
        # Keeps the sender at `rate`; paces this process, synchronises nothing.
        ahead = start + i / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)

    start = time.monotonic()
    for i in range(fast):
        if time.monotonic() > deadline:
            break
        send(*pool[rnd.randrange(POOL)])
        if i % 100 == 0:
            replies.drain()
            pace(start, i, FAST_RATE)
    t_fast = time.monotonic() - start
    start = time.monotonic()
    for i in range(paced):
        if time.monotonic() > deadline:
            break
        pace(start, i, PACED_RATE)
        send('paced_id_flood', _id_flood(rnd))
        replies.drain()
    replies.drain()
    result = dict(sent=sum(counts.values()), bytes=sent_bytes, counts=counts, send_errors=errors,
                  fast_seconds=round(t_fast, 3), seconds=round(time.monotonic() - t0, 3),
                  replies=replies.count, reply_bytes=replies.bytes,
                  full_state_replies=replies.full, full_state_reply_bytes=replies.full_bytes,
                  seed=seed)
    print('RESULT ' + json.dumps(result), flush=True)


def probe(address, port, n):
    """From a new source port: n small push-pull requests, 4 per second,
    then 0.5 s more of listening; prints PROBE {json} with the bytes sent
    and the bytes answered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    replies = Replies(s)
    sender = gw.random_id()
    sent = 0
    start = time.monotonic()
    end = start + n / 4.0 + 0.5
    i = 0
    for _ in range(int((n / 4.0 + 0.5) / 0.01) + 2):      # bounded: one pass per 10 ms
        now = time.monotonic()
        if now >= end:
            break
        if i < n and now >= start + i / 4.0:
            d = gw.packet(sender, 1, [gw.demand(sender, 1, i + 1, wanted=1)], flags=gw.F_PUSH_PULL)
            s.sendto(d, (address, port))
            sent += len(d)
            i += 1
        replies.drain()
        time.sleep(0.01)
    print('PROBE ' + json.dumps(dict(requests=i, request_bytes=sent, replies=replies.count,
                                     reply_bytes=replies.bytes,
                                     full_state_replies=replies.full)), flush=True)


if __name__ == '__main__':
    if len(sys.argv) == 7 and sys.argv[1] == '--flood':
        a = sys.argv[2:]
        flood(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == '--probe':
        probe(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        print(__doc__)
        sys.exit(2)
