# Writes the seed corpus of the SPEED fuzz target: python3 tests/fuzz/corpus_speed.py tests/fuzz/corpus/speed
import math, os, struct, sys
out = sys.argv[1]
HONEST = [0x20, 0x21, 0x22, 0x23]

def speed(client, server, seq, log_time, jobs=30, age=0, inc=1, length=42):
    body = struct.pack('>QQQQIIH', client, server, inc, seq, age, int(round(log_time * 10000)), jobs)
    return bytes([9, length]) + body[:length] if length <= 42 else bytes([9, length]) + body + b'\0' * (length - 42)

def sample(server, seq, speed_, inc=1):
    body = struct.pack('>QQQIHHHIIBBH', server, inc, seq, 0, 0, 4, 4, 0, int(speed_ * 1000), 0, 0, 3632)
    return bytes([1, 46]) + body

def dgram(sender, records, seq=1, inc=1):
    head = b'dG' + bytes([2, 0]) + struct.pack('>QQQ', sender, inc, seq) + bytes([len(records)])
    return head + b''.join(records)

def step(d, source, own=False, wait=0):
    assert len(d) <= 255, len(d)
    return bytes([len(d), source | (4 if own else 0) | (wait << 3)]) + d

slow, fast, normal = math.log(50000), 0.0, math.log(1000)
seeds = {
    'one-liar-slow': step(dgram(0xa1, [speed(0xa1, 0x20, 1, slow, 65535)]), 0),
    'three-liars-slow': b''.join(step(dgram(0xa1 + i, [speed(0xa1 + i, 0x20, 1, slow, 65535)]), i) for i in range(3)),
    'four-liars-all': b''.join(step(dgram(0xa1 + i, [speed(0xa1 + i, h, 1, slow, 9000) for h in HONEST]), i, wait=1)
                               for i in range(4)),
    'one-liar-relative': step(dgram(0xa1, [speed(0xa1, h, 1, slow if h == 0x20 else normal, 65535)
                                           for h in HONEST]), 0),
    'three-liars-relative': b''.join(step(dgram(0xa1 + i, [speed(0xa1 + i, h, 1, slow if h == 0x20 else normal, 65535)
                                                        for h in HONEST]), i) for i in range(3)),
    'liar-relative-fast': step(dgram(0xa1, [speed(0xa1, h, 1, fast if h == 0x21 else normal, 65535)
                                            for h in HONEST]), 0),
    'liar-fast': step(dgram(0xa1, [speed(0xa1, 0x21, 1, fast, 65535)]), 0),
    'many-ids-one-address': b''.join(step(dgram(0xb0 + i, [speed(0xb0 + i, 0x22, 1, slow)]), 1) for i in range(20)),
    'flood-fake-servers': b''.join(step(dgram(0xa1, [speed(0xa1, 0x9000 + 5 * i + k, i * 5 + k + 1, normal)
                                                   for k in range(5)], seq=i + 1), i % 3) for i in range(8)),
    'forged-honest-address': step(dgram(0x20, [speed(0x20, 0x21, 1, slow, 65535)]), 3),
    'not-its-own-jobs': step(dgram(0xa1, [speed(0xa2, 0x20, 1, slow, 65535)]), 0),
    'log-time-past-bound': step(dgram(0xa1, [speed(0xa1, 0x20, 1, 21.0)]), 0),
    'wrong-length': step(dgram(0xa1, [speed(0xa1, 0x20, 1, slow, length=41)]), 0),
    'rogue-benchmarks': b''.join(step(dgram(0xa1 + i, [sample(0xa1 + i, 1, 1000.0)] +
                                            [speed(0xa1 + i, h, 1, slow, 65535) for h in HONEST[:2]]), i, own=True)
                                 for i in range(3)),
    'stale-replays': b''.join(step(dgram(0xa1, [speed(0xa1, 0x23, s, slow if s % 2 else fast)], seq=10 - s), 0, wait=2)
                              for s in (5, 4, 5, 3, 6)),
    'slow-decay': b''.join(step(dgram(0xa1 + (i % 2), [speed(0xa1 + (i % 2), 0x20, i + 1, slow, 65535)], seq=i + 1),
                                i % 2, wait=31) for i in range(40)),
}
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
print(len(seeds), 'seeds')
