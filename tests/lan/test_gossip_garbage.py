#!/usr/bin/env python3
"""lan-gossip-garbage: a flood at the gossip port harms nothing.

h1 is a server (distccd + distcc-mdnsd), h2 and h3 clients (distcc-mdnsd),
h4 a flooder (no daemon) that sends to h1's gossip port, from one address:
  1. FAST datagrams at FAST_RATE (50 times the per-source limit), drawn
     from POOL distinct ones: random bytes, truncated valid datagrams, valid
     headers with bad bodies (type 0, wrong lengths, out-of-bound fields,
     count mismatches, trailing bytes), wrong magic, versions and flags, a
     sender 0, oversized datagrams (1401-1500 bytes, a few up to 60 kB), and
     the id flood: well-formed datagrams (gossip_wire.py) full of fresh
     samples of random server ids, reservations (60 s to live) of random
     clients on random servers, demands and leaves of random ids, loads
     of unknown servers, some asking for a push-pull answer;
  2. then PACED id-flood datagrams at 90/s, just under the per-source rate
     limit (100/s), so that nearly all of them are accepted and merged (and
     relayed to h2 and h3).
Bounded: FAST + PACED datagrams, and never longer than FLOOD_LIMIT seconds.

Asserted: the daemons stay alive; h1's VmRSS (peak while flooded) grows by
at most RSS_BOUND: its tables are bounded (512 servers, 4096 reservations,
1024 demands, leaves and sources: about 1 MiB of entries with the map
overhead), the rest is slack for the allocator (ASan: plus 32 MiB, its
quarantine cut to 8 MiB); h1 counts invalid and rate-limited datagrams and
accepted some of the id flood, and h1 and h2 keep their tables within the
documented bounds; every query to h1 and h2 is answered within QUERY_BOUND
during and after the flood; the flooder, an unknown source, gets back less
than 1% of the bytes it sent (no amplification: at most the daemon's own
records, never its full state); h2 never leaves h1 out of its line during the
flood (alive or suspect, never dead), and after it h2 still has gossip's
entry of h1 (the id flood did not evict the real server) and lists it
alive with a sample younger than 2 s (at once or within 1.5 s); and
tables full of made-up reservations still take a real one (h3 counts the
job h2 reserves on h1). Figures: the flood, the daemon's counters, table
sizes, RSS, query latency, h2's view of h1 and the share of polls in which
h3 saw h2's reservation during the flood.

Then, tables still full, a probe on h4 sends 12 small push-pull requests
(4/s) from a new port: asserted, h1 answers it no more bytes than it sent
(protocol.md: a learnt peer's first request gets our own records only, so
a forged source address gains no amplification). Figure: the ratio.

Run as a flooder: test_gossip_garbage.py --flood ADDRESS PORT FAST PACED SEED
(prints RESULT {json}); as the probe: --probe ADDRESS PORT N (PROBE {json}).
"""

import json
import os
import random
import socket
import statistics
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gossip_wire as gw  # noqa: E402

FAST = 30000          # datagrams of the fast phase, at FAST_RATE
FAST_RATE = 5000.0    # per second: 6 s of 50 times what one source may send
POOL = 3000           # distinct datagrams of the fast phase
PACED = 630           # id-flood datagrams at PACED_RATE
PACED_RATE = 90.0     # per second, under the daemon's 100/s per source
FLOOD_LIMIT = 28.0    # seconds: the flooder stops sending by then whatever happens
RSS_BOUND = 16 * 1024  # KiB
QUERY_BOUND = 2.0     # seconds per query


# ---------------------------------------------------------------- flooder

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


def flood(address, port, fast, paced, seed):
    rnd = random.Random(seed)
    # A pool of distinct datagrams made beforehand, so that the fast phase is
    # limited by FAST_RATE and not by Python building datagrams.
    pool = [_garbage(rnd) for _ in range(POOL)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    counts, sent_bytes, errors = {}, 0, 0
    replies, reply_bytes, full_replies, full_bytes = 0, 0, 0, 0
    t0 = time.monotonic()
    deadline = t0 + FLOOD_LIMIT

    def drain():
        nonlocal replies, reply_bytes, full_replies, full_bytes
        for _ in range(1000):
            try:
                data = s.recv(65536)
            except BlockingIOError:
                return
            replies += 1
            reply_bytes += len(data)
            if data[:2] == gw.MAGIC and len(data) > 3 and data[3] & gw.F_FULL_STATE:
                full_replies += 1
                full_bytes += len(data)

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
            drain()
            pace(start, i, FAST_RATE)
    t_fast = time.monotonic() - start
    start = time.monotonic()
    for i in range(paced):
        if time.monotonic() > deadline:
            break
        pace(start, i, PACED_RATE)
        send('paced_id_flood', _id_flood(rnd))
        drain()
    drain()
    result = dict(sent=sum(counts.values()), bytes=sent_bytes, counts=counts, send_errors=errors,
                  fast_seconds=round(t_fast, 3), seconds=round(time.monotonic() - t0, 3),
                  replies=replies, reply_bytes=reply_bytes, full_state_replies=full_replies,
                  full_state_reply_bytes=full_bytes, seed=seed)
    print('RESULT ' + json.dumps(result), flush=True)


def probe(address, port, n):
    """From a new source port: n small push-pull requests, 4 per second,
    then 0.5 s more of listening; prints PROBE {json} with the bytes sent
    and the bytes answered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    sender = gw.random_id()
    sent = got = replies = full = 0
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
        for _ in range(1000):
            try:
                data = s.recv(65536)
            except BlockingIOError:
                break
            replies += 1
            got += len(data)
            full += bool(len(data) > 3 and data[3] & gw.F_FULL_STATE)
        time.sleep(0.01)
    print('PROBE ' + json.dumps(dict(requests=i, request_bytes=sent, replies=replies,
                                     reply_bytes=got, full_state_replies=full)), flush=True)


# ---------------------------------------------------------------- test

def main(argv):
    import lan
    import dmtest as dm
    from dmtest import figure

    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(4) as net:
        srv, cli, cli2, flooder = net.hosts
        srv.start_distccd(jobs=2)
        env = None
        sanitized = dm.sanitized(bins.mdnsd)
        if sanitized:   # ASan keeps freed memory in a quarantine (256 MiB by default)
            env = {'ASAN_OPTIONS': ':'.join(x for x in (os.environ.get('ASAN_OPTIONS'),
                                                        'quarantine_size_mb=8') if x)}
        d = dm.start_mdnsd(srv, bins, env=env)
        c = dm.start_mdnsd(cli, bins)
        c2 = dm.start_mdnsd(cli2, bins)
        daemons = (d, c, c2)
        for h in (cli, cli2):
            lan.wait_until(lambda h=h: dm.all_alive(h, [srv.ip]), 15, 0.1, watch=daemons,
                           what=f'{h.name} listing {srv.ip} alive by gossip')
        with open(f'/proc/{d.pid}/comm') as f:
            assert f.read().strip() == 'distcc-mdnsd', f'pid {d.pid} is not the daemon'
        before = dm.gossip_stats(srv)
        assert before is not None, 'gossip is off on h1'
        port = before['port']
        # Warm up what a normal run allocates before taking the baseline.
        for _ in range(20):
            dm.hosts_query(srv)
            dm.hosts_query(cli)
        rss0 = dm.vm_rss_kib(d.pid)

        seed = random.randrange(1 << 32)
        dm.note(f'flooding {srv.ip}:{port}/udp from {flooder.ip}, seed {seed}')
        fl = flooder.spawn(['python3', os.path.abspath(__file__), '--flood', srv.ip, port, FAST,
                            PACED, seed], name='flooder')

        # While it floods: the daemons answer; what h2 thinks of h1; whether
        # h3 sees the job h2 reserves on h1 every second (the tables are full
        # of made-up reservations that live 60 s).
        latencies, ages, states, rss_peak = [], [], {}, rss0
        seen_reserved, drops = [], []
        t0 = time.monotonic()
        for i in range(int((FLOOD_LIMIT + 5) / 0.1)):
            if i % 10 == 0:
                dm.hosts_query(cli, want=1)
            s = dm.find_server(dm.hosts_query(cli2), srv.ip)
            seen_reserved.append(bool(s and s['reserved'] >= 1))
            for p in daemons:
                p.check_alive()
            for h in (srv, cli):
                q0 = time.monotonic()
                r = dm.hosts_query(h, timeout=QUERY_BOUND + 5)
                latencies.append(time.monotonic() - q0)
                if h is cli:
                    s = dm.find_server(r, srv.ip)
                    st = s['liveness'] if s else 'unknown'
                    if s is None or srv.ip not in dm.line_hosts(r['line']) or st is None:
                        st = (f'left out ({s and s["excluded"]})' if st is not None
                              else 'listed, but gossip forgot it (evicted)')
                        drops.append(round(time.monotonic() - t0, 1))
                    states[st] = states.get(st, 0) + 1
                    if s and s['age_ms'] is not None:
                        ages.append(s['age_ms'] / 1000)
            rss_peak = max(rss_peak, dm.vm_rss_kib(d.pid))
            if not fl.alive():
                break
            time.sleep(0.1)     # the sampling period of this observation
        assert fl.wait(5) == 0, f'flooder failed: {fl.tail()}'
        flood_time = time.monotonic() - t0
        res = json.loads(fl.wait_log(r'^RESULT (.*)$', 5).group(1))

        # Straight after the flood.
        for p in daemons:
            p.check_alive()
        reserved_during = sum(seen_reserved) / len(seen_reserved)
        dropped = {k: v for k, v in states.items() if k not in ('alive', 'suspect')}
        r = dm.hosts_query(cli)
        first_after = dm.find_server(r, srv.ip)
        listed_after = srv.ip in dm.line_hosts(r['line'])
        # Alive with a fresh sample: at once, or within a heartbeat (1 s) if
        # the flood left it suspect.
        t1 = time.monotonic()

        def fresh():
            s = dm.live_server(dm.hosts_query(cli), srv.ip)
            return s if s and s['age_ms'] is not None and s['age_ms'] < 2000 else None
        try:
            lan.wait_until(fresh, 1.5, 0.05, watch=daemons,
                           what=f'{srv.ip} alive with a fresh sample on {cli.name}')
            fresh_after = time.monotonic() - t1
        except lan.Timeout:
            fresh_after = None
        # Amplification: small push-pull requests from a source h1 never
        # heard of, while its tables are full of the flood's entries.
        pr = flooder.spawn(['python3', os.path.abspath(__file__), '--probe', srv.ip, port, 12],
                           name='probe')
        assert pr.wait(15) == 0, f'probe failed: {pr.tail()}'
        amp = json.loads(pr.wait_log(r'^PROBE (.*)$', 5).group(1))
        after = dm.gossip_stats(srv)
        cafter = dm.gossip_stats(cli)
        rss1 = dm.vm_rss_kib(d.pid)
        rss_peak = max(rss_peak, rss1)

        delta = {k: after[k] - before[k] for k in ('received', 'accepted', 'invalid',
                                                   'rate_limited', 'unauthenticated', 'evicted')}
        figure('gossip.flood_datagrams_sent', res['sent'], 'datagrams')
        figure('gossip.flood_bytes_sent', res['bytes'], 'B')
        figure('gossip.flood_seconds', res['seconds'], 's')
        fast_sent = res['sent'] - res['counts'].get('paced_id_flood', 0)
        figure('gossip.flood_fast_phase_rate', round(fast_sent / max(res['fast_seconds'], 1e-3)),
               'datagrams/s')
        for k, v in sorted(res['counts'].items()):
            figure(f'gossip.flood_sent_{k}', v, 'datagrams')
        for k, v in delta.items():
            figure(f'gossip.flood_daemon_{k}', v, 'datagrams' if k != 'evicted' else 'entries')
        figure('gossip.flood_daemon_last_error', repr(after.get('last_error')), '')
        figure('gossip.flood_tables_server', f"servers={after['servers']} reservations="
               f"{after['reservations']} demands={after['demands']}", '')
        figure('gossip.flood_tables_client', f"servers={cafter['servers']} reservations="
               f"{cafter['reservations']} demands={cafter['demands']} evicted={cafter['evicted']}", '')
        figure('gossip.flood_replies_to_flooder', res['replies'], 'datagrams')
        figure('gossip.flood_reply_bytes_to_flooder', res['reply_bytes'], 'B',
               res['bytes'] / 100)
        figure('gossip.flood_full_state_replies_to_flooder', res['full_state_replies'], 'datagrams')
        figure('gossip.probe_request_bytes', amp['request_bytes'], 'B')
        figure('gossip.probe_reply_bytes', amp['reply_bytes'], 'B', amp['request_bytes'])
        figure('gossip.probe_amplification', amp['reply_bytes'] / max(amp['request_bytes'], 1), 'x', 3)
        figure('gossip.probe_full_state_replies', amp['full_state_replies'], 'datagrams', 0)
        figure('gossip.flood_full_state_reply_bytes_to_flooder', res['full_state_reply_bytes'], 'B')
        figure('gossip.flood_rss_before', rss0 / 1024, 'MiB')
        figure('gossip.flood_rss_peak', rss_peak / 1024, 'MiB')
        figure('gossip.flood_rss_after', rss1 / 1024, 'MiB')
        figure('gossip.flood_rss_growth', (rss_peak - rss0) / 1024, 'MiB', RSS_BOUND / 1024)
        figure('gossip.flood_query_latency_max', max(latencies), 's', QUERY_BOUND)
        figure('gossip.flood_query_latency_median', statistics.median(latencies), 's')
        figure('gossip.flood_client_view_of_server', json.dumps(states, sort_keys=True), 'polls')
        figure('gossip.flood_reservation_seen_during', reserved_during, 'of polls')
        if ages:
            figure('gossip.flood_client_sample_age_median', statistics.median(ages), 's')
            figure('gossip.flood_client_sample_age_max', max(ages), 's')
        figure('gossip.flood_fresh_after', fresh_after, 's')
        dm.note(f'observed {flood_time:.1f}s; flooder {res}')

        assert first_after is not None and listed_after, \
            f'after the flood {cli.name} no longer lists {srv.ip}: {first_after}; line {r["line"]!r}'
        assert first_after['liveness'] is not None, \
            f'{cli.name} forgot what gossip said of {srv.ip} (evicted by the id flood): {first_after}'
        assert fresh_after is not None, \
            (f'after the flood {srv.ip} is not alive with a sample younger than 2 s on {cli.name}: '
             f'{dm.find_server(dm.hosts_query(cli), srv.ip)}')

        assert res['sent'] >= FAST // 2, f'the flooder sent only {res["sent"]} datagrams: {res}'
        assert delta['invalid'] > 0, f'h1 counted no invalid datagram: {after}'
        assert delta['rate_limited'] > 0, f'h1 rate-limited nothing of {res["sent"]}: {after}'
        assert delta['accepted'] > 0, f'h1 accepted nothing of the id flood (the test is void): {after}'
        assert after['servers'] <= 512 and after['reservations'] <= 4096 and \
            after['demands'] <= 1024, f'h1 tables over their bounds: {after}'
        assert cafter['servers'] <= 512 and cafter['reservations'] <= 4096 and \
            cafter['demands'] <= 1024, f'h2 tables over their bounds: {cafter}'
        # An unknown source that never echoes its cookie may get a cookie
        # and h1's own sample back, at most 3 times what it sent (QUIC's
        # rule), never the full state: that would amplify a spoofed flood.
        assert amp['reply_bytes'] <= 3 * amp['request_bytes'] and amp['full_state_replies'] == 0, \
            (f'{amp["requests"]} push-pull requests ({amp["request_bytes"]} bytes) from an unknown '
             f'source got {amp["replies"]} datagrams, {amp["reply_bytes"]} bytes back '
             f'({amp["full_state_replies"]} flagged full state): amplification '
             f'{amp["reply_bytes"] / max(amp["request_bytes"], 1):.0f}x')
        assert res['reply_bytes'] * 100 <= res['bytes'], \
            (f'h1 answered the flooder (an unknown source) with {res["replies"]} datagrams, '
             f'{res["reply_bytes"]} bytes ({res["full_state_replies"]} datagrams, '
             f'{res["full_state_reply_bytes"]} bytes flagged full state): amplification of its '
             f'{res["bytes"]} bytes')
        limit = RSS_BOUND + (32 * 1024 if sanitized else 0)
        assert rss_peak - rss0 <= limit, (f'h1 VmRSS grew from {rss0} to {rss_peak} KiB '
                                          f'(bound {limit} KiB)')
        assert max(latencies) <= QUERY_BOUND, f'a query took {max(latencies):.2f}s during the flood'
        # Flooded or not, h1 keeps sampling and gossiping: a flood one source
        # may send (at most 100 datagrams/s get in) must not make it dead.
        assert not dropped, (f'during the flood {cli.name} lost {srv.ip} (out of its line or gossip entry evicted) in '
                             f'{sum(dropped.values())} of {sum(states.values())} polls ({states}); '
                             f'largest sample age {max(ages):.2f}s; left out at {drops} s after the '
                             f'flood started, which lasted {res["seconds"]}s (fast phase '
                             f'{res["fast_seconds"]}s)')
        # Still answering promptly afterwards.
        for h in (srv, cli, cli2):
            q0 = time.monotonic()
            dm.hosts_query(h)
            dt = time.monotonic() - q0
            assert dt <= QUERY_BOUND, f'{h.name}: query took {dt:.2f}s after the flood'

        # Tables full of made-up reservations still take real ones: h3 counts
        # the job h2 reserves on h1 (reserved again until seen).
        t1 = time.monotonic()

        def counted():
            dm.hosts_query(cli, want=1)
            s = dm.find_server(dm.hosts_query(cli2), srv.ip)
            return s and s['reserved'] >= 1
        lan.wait_until(counted, 5, 0.1, watch=daemons,
                       what=f'{cli2.name} counting the job {cli.name} reserved on {srv.ip}')
        figure('gossip.flood_reservation_seen_after', time.monotonic() - t1, 's')


if __name__ == '__main__':
    if len(sys.argv) == 7 and sys.argv[1] == '--flood':
        a = sys.argv[2:]
        flood(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == '--probe':
        probe(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        import lan
        lan.run_test(main)
