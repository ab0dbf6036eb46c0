"""Gossip wire format v2 in Python, for tests that forge datagrams.

Written from docs/protocol.md (not from the C++ codec), so that a test that
uses it also checks that the daemon follows the document; the LOAD record
(type 5), not in the document yet, from include/distcc-mdns/gossip_wire.h. Standard library
only; importable from a script that runs on a LAN host (the file system is
shared, only /run differs per host).

    import gossip_wire as gw
    rec = gw.sample(server=0x1234, incarnation=1, sequence=7, slots=4)
    dgram = gw.packet(sender=0x99, incarnation=1, records=[rec], key=None)
    gw.decode(dgram)   # -> {'flags':..., 'sender':..., 'records': [(type, dict)], ...}

Records are bytes (type, length, body); packet() puts a header before them
and, with a key (32 bytes), sets the tagged flag and appends the tag:
libsodium's crypto_auth, i.e. HMAC-SHA-512 truncated to 32 bytes, over
everything before the tag. Encoders check nothing unless asked to (forging
invalid records is the point); valid_* helpers tell whether a record obeys
the documented bounds.
"""

import hashlib
import hmac
import os
import struct

MAGIC = b'dG'
VERSION = 2
MAX_DATAGRAM = 1400
HEADER_SIZE = 29
TAG_SIZE = 32
KEY_SIZE = 32

F_TAGGED = 0x01
F_PUSH_PULL = 0x02
F_FULL_STATE = 0x04
KNOWN_FLAGS = F_TAGGED | F_PUSH_PULL | F_FULL_STATE

T_SAMPLE, T_LEAVE, T_RESERVATION, T_DEMAND, T_LOAD, T_COOKIE, T_PAD = 1, 2, 3, 4, 5, 6, 7
BODY_SIZE = {T_SAMPLE: 46, T_LEAVE: 16, T_RESERVATION: 42, T_DEMAND: 34, T_LOAD: 20, T_COOKIE: 8}
MAX_COUNTER = 1 << 62  # incarnations and sequences at or above are refused

MAX_AGE_MS = 3_600_000
MAX_TTL_MS = 60_000
MAX_SLOTS = 4096

_SAMPLE = struct.Struct('>QQQIHHHIIBBH')      # 46 bytes
_LEAVE = struct.Struct('>QQ')                 # 16
_RESERVATION = struct.Struct('>QQHIIQQ')      # 42
_DEMAND = struct.Struct('>QQQIIH')            # 34
_LOAD = struct.Struct('>QHIHHH')              # 20: a new load on top of a known sample
_COOKIE = struct.Struct('>Q')                 # 8
_HEADER = struct.Struct('>2sBBQQQB')          # 29: ... incarnation, datagram sequence, count
_BODY = {T_SAMPLE: _SAMPLE, T_LEAVE: _LEAVE, T_RESERVATION: _RESERVATION, T_DEMAND: _DEMAND,
         T_LOAD: _LOAD, T_COOKIE: _COOKIE}
assert all(_BODY[t].size == n for t, n in BODY_SIZE.items()) and _HEADER.size == HEADER_SIZE


def record(rtype, body):
    """One record: type byte, length byte, body (any bytes, up to 255)."""
    return bytes((rtype, len(body))) + body


def sample(server, incarnation=1, sequence=1, age_ms=0, running=0, slots=2, cpus=2,
           runnable_milli=0, speed_milli=1000, state=0, options=0, port=3632):
    return record(T_SAMPLE, _SAMPLE.pack(server, incarnation, sequence, age_ms, running, slots,
                                         cpus, runnable_milli, speed_milli, state, options, port))


def leave(node, incarnation):
    return record(T_LEAVE, _LEAVE.pack(node, incarnation))


def reservation(client, server, count, ttl_ms=3000, age_ms=0, incarnation=1, sequence=1):
    return record(T_RESERVATION, _RESERVATION.pack(client, server, count, ttl_ms, age_ms,
                                                   incarnation, sequence))


def demand(client, incarnation=1, sequence=1, age_ms=0, wanted=1, local_slots=1):
    return record(T_DEMAND, _DEMAND.pack(client, incarnation, sequence, age_ms, wanted,
                                         local_slots))


def load(server, incarnation16=1, sequence32=1, age_10ms=0, running=0, runnable_tenths=0):
    """LOAD: server id, low 16 bits of its incarnation, low 32 bits of the
    sample's sequence, age in 10 ms units, running jobs, runnable in tenths."""
    return record(T_LOAD, _LOAD.pack(server, incarnation16, sequence32, age_10ms, running,
                                     runnable_tenths))


def cookie(value):
    """COOKIE: in a request, the echo of the cookie the receiver handed us."""
    return record(T_COOKIE, _COOKIE.pack(value))


def pad(length):
    """PAD: ignored bytes that let a request ask for a larger answer."""
    return record(T_PAD, bytes(length))


def tag(key, body):
    """crypto_auth (HMAC-SHA-512-256) of body with a 32-byte key."""
    if len(key) != KEY_SIZE:
        raise ValueError(f'a key is {KEY_SIZE} bytes, not {len(key)}')
    return hmac.new(key, body, hashlib.sha512).digest()[:TAG_SIZE]


def header(sender, incarnation, count, flags=0, version=VERSION, magic=MAGIC, sequence=0):
    return _HEADER.pack(magic, version, flags, sender, incarnation, sequence, count)


def packet(sender, incarnation, records=(), flags=0, key=None, count=None, raw_tag=None,
           version=VERSION, magic=MAGIC, sequence=0):
    """A datagram: header, records, and a tag when key (32 bytes) or raw_tag
    (any bytes, a forged tag) is given; both set the tagged flag. count
    overrides the record count (to forge a mismatch)."""
    records = list(records)
    if key is not None or raw_tag is not None:
        flags |= F_TAGGED
    body = header(sender, incarnation, len(records) if count is None else count, flags,
                  version, magic, sequence) + b''.join(records)
    if key is not None:
        return body + tag(key, body)
    if raw_tag is not None:
        return body + raw_tag
    return body


def records_per_datagram(rtype, tagged=False):
    """How many records of one type fit a maximal datagram."""
    room = MAX_DATAGRAM - HEADER_SIZE - (TAG_SIZE if tagged else 0)
    return min(255, room // (2 + BODY_SIZE[rtype]))


def key_from_hex(text):
    """A key file's content (64 hex characters, optional newline) -> 32 bytes."""
    text = text[:-1] if text.endswith('\n') else text
    if len(text) != 2 * KEY_SIZE:
        raise ValueError(f'a key is {2 * KEY_SIZE} hex characters, not {len(text)}')
    return bytes.fromhex(text)


def node_id(hex_id):
    """The 16-hex-digit id of the TXT `id` key / stats `node` as a number."""
    v = int(hex_id, 16)
    if not 0 < v < 1 << 64:
        raise ValueError(f'bad node id {hex_id!r}')
    return v


def random_id():
    """A random valid (non-zero) 64-bit id."""
    while True:
        v = int.from_bytes(os.urandom(8), 'big')
        if v:
            return v


# ---------------------------------------------------------------- decoding

class Invalid(ValueError):
    """The datagram breaks the v2 format."""


def _fields(rtype, body):
    if rtype == T_SAMPLE:
        k = ('server', 'incarnation', 'sequence', 'age_ms', 'running', 'slots', 'cpus',
             'runnable_milli', 'speed_milli', 'state', 'options', 'port')
    elif rtype == T_LEAVE:
        k = ('node', 'incarnation')
    elif rtype == T_RESERVATION:
        k = ('client', 'server', 'count', 'ttl_ms', 'age_ms', 'incarnation', 'sequence')
    elif rtype == T_DEMAND:
        k = ('client', 'incarnation', 'sequence', 'age_ms', 'wanted', 'local_slots')
    elif rtype == T_COOKIE:
        k = ('value',)
    else:
        k = ('server', 'incarnation16', 'sequence32', 'age_10ms', 'running', 'runnable_tenths')
    return dict(zip(k, _BODY[rtype].unpack(body)))


def check_record(rtype, f):
    """The reason a decoded record breaks the documented bounds, or ''."""
    if f.get('incarnation', 0) >= MAX_COUNTER or f.get('sequence', 0) >= MAX_COUNTER:
        return 'absurd counter'
    if rtype == T_COOKIE and f['value'] == 0:
        return 'cookie 0'
    if rtype == T_SAMPLE:
        if f['server'] == 0:
            return 'server id 0'
        if f['age_ms'] > MAX_AGE_MS:
            return 'age'
        if not 1 <= f['slots'] <= MAX_SLOTS or not 1 <= f['cpus'] <= MAX_SLOTS:
            return 'slots/cpus'
        if f['runnable_milli'] > 1_000_000_000 or not 1 <= f['speed_milli'] <= 1_000_000:
            return 'runnable/speed'
        if f['state'] > 2 or f['options'] & ~3 or (f['options'] & 2 and not f['options'] & 1):
            return 'state/options'
        if f['port'] == 0:
            return 'port 0'
    elif rtype == T_LEAVE:
        if f['node'] == 0:
            return 'node id 0'
    elif rtype == T_RESERVATION:
        if f['client'] == 0 or f['server'] == 0:
            return 'id 0'
        if f['count'] > MAX_SLOTS or not 1 <= f['ttl_ms'] <= MAX_TTL_MS or f['age_ms'] > f['ttl_ms']:
            return 'count/ttl/age'
    elif rtype == T_DEMAND:
        if f['client'] == 0:
            return 'client id 0'
        if f['age_ms'] > MAX_AGE_MS or f['wanted'] > 1_000_000 or f['local_slots'] > MAX_SLOTS:
            return 'age/wanted/slots'
    elif rtype == T_LOAD:
        if f['server'] == 0:
            return 'server id 0'
    return ''


def decode(data, key=None):
    """Decodes one datagram strictly as docs/protocol.md says; raises Invalid.

    Returns {'flags', 'sender', 'incarnation', 'records': [(type, fields)],
    'unknown': n, 'tagged', 'tag_ok'} (tag_ok is None without a key)."""
    if len(data) > MAX_DATAGRAM:
        raise Invalid(f'{len(data)} bytes')
    if len(data) < HEADER_SIZE:
        raise Invalid('short')
    magic, version, flags, sender, inc, seq, count = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise Invalid('magic/version')
    if inc >= MAX_COUNTER or seq >= MAX_COUNTER:
        raise Invalid('absurd counter')
    if flags & ~KNOWN_FLAGS or sender == 0:
        raise Invalid('flags/sender')
    end = len(data)
    tagged = bool(flags & F_TAGGED)
    if tagged:
        if end < HEADER_SIZE + TAG_SIZE:
            raise Invalid('no room for the tag')
        end -= TAG_SIZE
    pos, records, unknown = HEADER_SIZE, [], 0
    for i in range(count):
        if pos + 2 > end:
            raise Invalid(f'record {i}: truncated')
        rtype, length = data[pos], data[pos + 1]
        pos += 2
        if pos + length > end:
            raise Invalid(f'record {i}: past the end')
        body = data[pos:pos + length]
        pos += length
        if rtype == 0:
            raise Invalid('type 0')
        if rtype == T_PAD:
            continue
        if rtype not in BODY_SIZE:
            unknown += 1
            continue
        if length != BODY_SIZE[rtype]:
            raise Invalid(f'record {i}: length {length}')
        f = _fields(rtype, body)
        why = check_record(rtype, f)
        if why:
            raise Invalid(f'record {i}: {why}')
        records.append((rtype, f))
    if pos != end:
        raise Invalid('trailing bytes')
    tag_ok = None
    if key is not None:
        tag_ok = tagged and hmac.compare_digest(tag(key, data[:end]), data[end:])
    return dict(flags=flags, sender=sender, incarnation=inc, sequence=seq, records=records, unknown=unknown,
                tagged=tagged, tag_ok=tag_ok)
