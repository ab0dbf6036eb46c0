#!/usr/bin/env python3
"""lan-relay: servers of another subnet, learned through gossip from a trusted peer (WHERE).

Two subnets joined by a router that forwards IPv4 and reflects no mDNS
(lan_routed). Subnet A: servers a1 and a2. Subnet B: client b1 and server
b2. Every server runs distccd and distcc-mdnsd --advertise=yes. b1's one
--peer is a1; a1's one --peer is b1; a2 and b2 name no peer.

Asserts: b1 lists every server of A (a1 through its --peer, a2 through
a1's WHERE) and its own link's b2, all alive by gossip, within 2 s of its
daemon's start; a2's samples on b1 stay as fresh as on the link (under
2.5 s, never suspect); distcc on b1 compiles on a2 through the line b1
prints; servers of B reach A's client the same way (a1 lists b2 through
b1's WHERE), while nodes that trust no relay (a2, b2) list nothing across
the router; a2's daemon SIGKILLed leaves b1's line within 5 s (goal 3.5 s,
as on the link) and stays out, and its restart is listed again within
10 s (the relay names the new run). Then with one --key-file on all four
(every key holder a relay) and the same --peer pair, a2 lists b2 and b2
lists a2, alive, two relay hops away.
"""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import lan_routed  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

LISTED_GOAL = 2.0   # issue 20: every server of A listed on B within 2 s
CRASH_GOAL = 3.5    # as on the link
CRASH_BOUND = 5.0   # what the test allows on a loaded 2-CPU machine
# A restarted server is named again by its relay once the relay hears its
# new run (mDNS on A), in its next full answer to b1's pull.
RESTART_BOUND = 10.0


def wait_alive(host, server, bins, timeout, what, watch):
    """Polls host's --json until it lists server alive; on a timeout notes
    what host lists and its gossip peers."""
    try:
        lan.wait_until(lambda: (dm.find_server(dm.hosts_json(host, bins), server.ip) or {})
                       .get('liveness') == 'alive', timeout, 0.1, what=what, watch=watch)
    except lan.Timeout:
        obj = dm.hosts_json(host, bins)
        lan.note(f'{host.name} lists {[(s["name"], s["liveness"]) for s in obj["servers"]]}; '
                 f'gossip peers {dm.query(host, {"op": "stats"})["gossip"]["peers"]}')
        raise


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan_routed.Routed(2, 2) as net:
        a1, a2 = net.a.hosts[:2]
        b1, b2 = net.b.hosts[:2]
        distccd, daemons = {}, {}
        for s in (a1, a2, b2):
            other = net.b.subnet if s in (a1, a2) else net.a.subnet
            distccd[s] = s.start_distccd(jobs=3, extra=['--allow', str(other)])
        daemons[a1] = dm.start_mdnsd(a1, bins, '--advertise=yes', f'--peer={b1.ip}', timeout=30)
        for s in (a2, b2):
            daemons[s] = dm.start_mdnsd(s, bins, '--advertise=yes', timeout=30)
        # a1 hears a2 on its link before b1 asks it.
        dm.wait_listed(a1, bins, a2.ip, 15, watch=list(daemons.values()))

        t0 = time.monotonic()
        d_cli = dm.start_mdnsd(b1, bins, f'--peer={a1.ip}', timeout=30)
        watch = list(daemons.values()) + [d_cli]

        def all_alive():
            obj = dm.hosts_json(b1, bins)
            found = [dm.find_server(obj, s.ip) for s in (a1, a2, b2)]
            return obj if all(x and x['liveness'] == 'alive' for x in found) else None
        obj = lan.wait_until(all_alive, 15, 0.05, what='a1, a2 and b2 alive on b1', watch=watch)
        listed = time.monotonic() - t0
        figure('relay.start_to_listed', listed, 's', LISTED_GOAL)
        for s in (a1, a2, b2):
            e = dm.find_server(obj, s.ip)
            lan.note(f'b1 lists {e["name"]} at {e["address"]}: {e["liveness"]}, slots {e["slots"]}, '
                     f'sample age {e["age_ms"]} ms')
        assert dm.find_server(obj, a2.ip)['slots'] == 3, 'a2 without its gossip sample'
        assert listed <= LISTED_GOAL, f'A\'s servers listed on b1 after {listed:.2f}s'
        stats = dm.query(b1, {'op': 'stats'})['gossip']
        assert f'{a2.ip}:3632' in stats['peers'], f'b1 does not gossip with a2 itself: {stats["peers"]}'

        # As fresh as on the link: b1 asks a2 itself every second.
        ages = []

        def fresh():
            e = dm.find_server(dm.hosts_json(b1, bins), a2.ip)
            assert e and e['liveness'] == 'alive', f'a2 not alive on b1: {e}'
            ages.append(e['age_ms'])
        dm.observe(4.0, fresh, 0.2)
        figure('relay.sample_age_max', max(ages) / 1000, 's', 2.0)
        assert max(ages) < 2500, f'a2\'s samples on b1 up to {max(ages)} ms old'

        # B's server reaches A's client the same way; nodes that trust no
        # relay list nothing across the router.
        wait_alive(a1, b2, bins, 5, 'b2 alive on a1 (through its --peer b1)', watch)
        for host, away in ((a2, (b1, b2)), (b2, (a1, a2))):
            line = dm.hosts_line(host, bins)
            for s in away:
                assert s.ip not in line, f'{host.name} lists {s.name} without a trusted relay: {line!r}'

        # distcc on b1 compiles on a2 through b1's own entry for it.
        line = dm.hosts_line(b1, bins)
        only_a2 = ' '.join(h for h in line.split() if a2.ip in h)
        assert only_a2, f'no entry for a2 in {line!r}'
        name, text = dm.proof_source()
        b1.write(name, text)
        b1.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], only_a2)
        dm.wait_job(distccd[a2], b1.ip, name)
        lan.note(f'{name} compiled on a2 through {only_a2!r}')

        # A crash: out of b1's line by gossip, then forgotten.
        t1 = time.monotonic()
        daemons[a2].send_signal(signal.SIGKILL)
        dm.wait_listed(b1, bins, a2.ip, CRASH_BOUND + 2, present=False, watch=[d_cli, daemons[a1]])
        gone = time.monotonic() - t1
        figure('relay.crash_to_gone', gone, 's', CRASH_GOAL)
        assert gone <= CRASH_BOUND, f'crashed a2 still listed on b1 after {gone:.2f}s'
        assert a1.ip in dm.hosts_line(b1, bins), 'a1 left with a2'

        def stays_out():
            line = dm.hosts_line(b1, bins)
            assert a2.ip not in line, f'dead a2 back in b1\'s line: {line!r}'
        dm.observe(3.0, stays_out, 0.2)

        # Its restart: the relay names its new run, and b1 lists it again.
        t2 = time.monotonic()
        daemons[a2] = dm.start_mdnsd(a2, bins, '--advertise=yes', name='distcc-mdnsd-again', timeout=30)
        wait_alive(b1, a2, bins, RESTART_BOUND, 'a2 alive on b1 again', [d_cli, daemons[a1], daemons[a2]])
        figure('relay.restart_to_listed', time.monotonic() - t2, 's')

        # With a key every key holder relays: through the same --peer pair,
        # each subnet's other nodes list the other subnet's servers (two
        # hops: b1 names b2 to a1, which hears it and names it to a2).
        for d in list(daemons.values()) + [d_cli]:
            dm.stop_mdnsd(d)
        r = a1.run([bins.mdnsd, '--generate-key'], timeout=10)
        key = {h: h.write('gossip.key', r.stdout, 0o600) for h in (a1, a2, b1, b2)}
        daemons = {a1: dm.start_mdnsd(a1, bins, '--advertise=yes', f'--peer={b1.ip}',
                                      f'--key-file={key[a1]}', name='distcc-mdnsd-keyed', timeout=30)}
        for s in (a2, b2):
            daemons[s] = dm.start_mdnsd(s, bins, '--advertise=yes', f'--key-file={key[s]}',
                                        name='distcc-mdnsd-keyed', timeout=30)
        daemons[b1] = dm.start_mdnsd(b1, bins, f'--peer={a1.ip}', f'--key-file={key[b1]}',
                                     name='distcc-mdnsd-keyed', timeout=30)
        t3 = time.monotonic()
        for host, away in ((a2, b2), (b2, a2)):
            wait_alive(host, away, bins, 10, f'{away.name} alive on {host.name} with a key (two hops)',
                       list(daemons.values()))
        figure('relay.keyed_two_hops_listed', time.monotonic() - t3, 's')


if __name__ == '__main__':
    lan.run_test(main)
