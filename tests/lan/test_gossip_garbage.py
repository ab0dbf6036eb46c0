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

The flooder, the probe and their junk datagrams are in gossip_flood.py.
"""

import json
import os
import random
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402
from gossip_flood import FLOOD_LIMIT  # noqa: E402

FLOODER = os.path.join(HERE, 'gossip_flood.py')
FAST = 30000          # datagrams of the fast phase (gossip_flood.FAST_RATE)
PACED = 630           # id-flood datagrams at gossip_flood.PACED_RATE
RSS_BOUND = 16 * 1024  # KiB
QUERY_BOUND = 2.0     # seconds per query


class Farm:
    """h1 a server, h2 and h3 clients, h4 the flooder (no daemon)."""

    def __init__(self, net, bins):
        self.srv, self.cli, self.cli2, self.flooder = net.hosts
        self.srv.start_distccd(jobs=2)
        env = None
        self.sanitized = dm.sanitized(bins.mdnsd)
        if self.sanitized:   # ASan keeps freed memory in a quarantine (256 MiB by default)
            env = {'ASAN_OPTIONS': ':'.join(x for x in (os.environ.get('ASAN_OPTIONS'),
                                                        'quarantine_size_mb=8') if x)}
        self.d = dm.start_mdnsd(self.srv, bins, env=env)
        c = dm.start_mdnsd(self.cli, bins)
        c2 = dm.start_mdnsd(self.cli2, bins)
        self.daemons = (self.d, c, c2)
        for h in (self.cli, self.cli2):
            lan.wait_until(lambda h=h: dm.all_alive(h, [self.srv.ip]), 15, 0.1,
                           watch=self.daemons,
                           what=f'{h.name} listing {self.srv.ip} alive by gossip')
        with open(f'/proc/{self.d.pid}/comm') as f:
            assert f.read().strip() == 'distcc-mdnsd', f'pid {self.d.pid} is not the daemon'

    def check_alive(self):
        for p in self.daemons:
            p.check_alive()


class Observation:
    """What the clients saw while h4 flooded: query latencies, h2's view of
    h1 (liveness per poll, sample ages, when it was left out), whether h3
    saw the job h2 reserved, and h1's peak VmRSS."""

    def __init__(self, rss0):
        self.latencies, self.ages, self.states, self.rss_peak = [], [], {}, rss0
        self.seen_reserved, self.drops = [], []
        self.seconds = 0.0


def observe_flood(farm, fl, rss0):
    """Polls every 0.1 s until the flooder exits (bounded: FLOOD_LIMIT + 5 s)."""
    srv, cli, cli2 = farm.srv, farm.cli, farm.cli2
    obs = Observation(rss0)
    t0 = time.monotonic()
    for i in range(int((FLOOD_LIMIT + 5) / 0.1)):
        if i % 10 == 0:
            dm.hosts_query(cli, want=1)
        s = dm.find_server(dm.hosts_query(cli2), srv.ip)
        obs.seen_reserved.append(bool(s and s['reserved'] >= 1))
        farm.check_alive()
        for h in (srv, cli):
            q0 = time.monotonic()
            r = dm.hosts_query(h, timeout=QUERY_BOUND + 5)
            obs.latencies.append(time.monotonic() - q0)
            if h is cli:
                s = dm.find_server(r, srv.ip)
                st = s['liveness'] if s else 'unknown'
                if s is None or srv.ip not in dm.line_hosts(r['line']) or st is None:
                    st = (f'left out ({s and s["excluded"]})' if st is not None
                          else 'listed, but gossip forgot it (evicted)')
                    obs.drops.append(round(time.monotonic() - t0, 1))
                obs.states[st] = obs.states.get(st, 0) + 1
                if s and s['age_ms'] is not None:
                    obs.ages.append(s['age_ms'] / 1000)
        obs.rss_peak = max(obs.rss_peak, dm.vm_rss_kib(farm.d.pid))
        if not fl.alive():
            break
        time.sleep(0.1)     # the sampling period of this observation
    obs.seconds = time.monotonic() - t0
    return obs


def seconds_to_fresh(farm):
    """Seconds until h2 lists h1 alive with a sample younger than 2 s: at
    once, or within a heartbeat (1 s) if the flood left it suspect; None if
    not within 1.5 s."""
    t1 = time.monotonic()

    def fresh():
        s = dm.live_server(dm.hosts_query(farm.cli), farm.srv.ip)
        return s if s and s['age_ms'] is not None and s['age_ms'] < 2000 else None
    try:
        lan.wait_until(fresh, 1.5, 0.05, watch=farm.daemons,
                       what=f'{farm.srv.ip} alive with a fresh sample on {farm.cli.name}')
        return time.monotonic() - t1
    except lan.Timeout:
        return None


def flood_figures(res, delta, after, cafter, amp, obs, rss0, rss1, fresh_after):
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
    figure('gossip.flood_rss_peak', obs.rss_peak / 1024, 'MiB')
    figure('gossip.flood_rss_after', rss1 / 1024, 'MiB')
    figure('gossip.flood_rss_growth', (obs.rss_peak - rss0) / 1024, 'MiB', RSS_BOUND / 1024)
    figure('gossip.flood_query_latency_max', max(obs.latencies), 's', QUERY_BOUND)
    figure('gossip.flood_query_latency_median', statistics.median(obs.latencies), 's')
    figure('gossip.flood_client_view_of_server', json.dumps(obs.states, sort_keys=True), 'polls')
    figure('gossip.flood_reservation_seen_during', sum(obs.seen_reserved) / len(obs.seen_reserved),
           'of polls')
    if obs.ages:
        figure('gossip.flood_client_sample_age_median', statistics.median(obs.ages), 's')
        figure('gossip.flood_client_sample_age_max', max(obs.ages), 's')
    figure('gossip.flood_fresh_after', fresh_after, 's')


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(4) as net:
        farm = Farm(net, bins)
        srv, cli, cli2, flooder = farm.srv, farm.cli, farm.cli2, farm.flooder
        before = dm.gossip_stats(srv)
        assert before is not None, 'gossip is off on h1'
        port = before['port']
        # Warm up what a normal run allocates before taking the baseline.
        for _ in range(20):
            dm.hosts_query(srv)
            dm.hosts_query(cli)
        rss0 = dm.vm_rss_kib(farm.d.pid)

        # The flood, observed: the daemons answer; what h2 thinks of h1;
        # whether h3 sees the job h2 reserves on h1 every second (the tables
        # are full of made-up reservations that live 60 s).
        seed = random.randrange(1 << 32)
        dm.note(f'flooding {srv.ip}:{port}/udp from {flooder.ip}, seed {seed}')
        fl = flooder.spawn(['python3', FLOODER, '--flood', srv.ip, port, FAST, PACED, seed],
                           name='flooder')
        obs = observe_flood(farm, fl, rss0)
        assert fl.wait(5) == 0, f'flooder failed: {fl.tail()}'
        res = json.loads(fl.wait_log(r'^RESULT (.*)$', 5).group(1))

        # Straight after the flood.
        farm.check_alive()
        dropped = {k: v for k, v in obs.states.items() if k not in ('alive', 'suspect')}
        r = dm.hosts_query(cli)
        first_after = dm.find_server(r, srv.ip)
        listed_after = srv.ip in dm.line_hosts(r['line'])
        fresh_after = seconds_to_fresh(farm)
        # Amplification: small push-pull requests from a source h1 never
        # heard of, while its tables are full of the flood's entries.
        pr = flooder.spawn(['python3', FLOODER, '--probe', srv.ip, port, 12], name='probe')
        assert pr.wait(15) == 0, f'probe failed: {pr.tail()}'
        amp = json.loads(pr.wait_log(r'^PROBE (.*)$', 5).group(1))
        after = dm.gossip_stats(srv)
        cafter = dm.gossip_stats(cli)
        rss1 = dm.vm_rss_kib(farm.d.pid)
        obs.rss_peak = max(obs.rss_peak, rss1)

        delta = {k: after[k] - before[k] for k in ('received', 'accepted', 'invalid',
                                                   'rate_limited', 'unauthenticated', 'evicted')}
        flood_figures(res, delta, after, cafter, amp, obs, rss0, rss1, fresh_after)
        dm.note(f'observed {obs.seconds:.1f}s; flooder {res}')

        # h2 still lists h1, from gossip, alive and fresh.
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
        limit = RSS_BOUND + (32 * 1024 if farm.sanitized else 0)
        assert obs.rss_peak - rss0 <= limit, (f'h1 VmRSS grew from {rss0} to {obs.rss_peak} KiB '
                                              f'(bound {limit} KiB)')
        assert max(obs.latencies) <= QUERY_BOUND, \
            f'a query took {max(obs.latencies):.2f}s during the flood'
        # Flooded or not, h1 keeps sampling and gossiping: a flood one source
        # may send (at most 100 datagrams/s get in) must not make it dead.
        assert not dropped, (f'during the flood {cli.name} lost {srv.ip} (out of its line or gossip entry evicted) in '
                             f'{sum(dropped.values())} of {sum(obs.states.values())} polls ({obs.states}); '
                             f'largest sample age {max(obs.ages):.2f}s; left out at {obs.drops} s after the '
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
        lan.wait_until(counted, 5, 0.1, watch=farm.daemons,
                       what=f'{cli2.name} counting the job {cli.name} reserved on {srv.ip}')
        figure('gossip.flood_reservation_seen_after', time.monotonic() - t1, 's')


if __name__ == '__main__':
    lan.run_test(main)
