#!/usr/bin/env python3
"""lan-situations: the line distcc-mdns-hosts prints in each situation a user meets.

Servers: h1 fast (8 slots, speed 2), h2 (4 slots, speed 1), later h3 slow
(4 slots, speed 0.3); clients h4 and h5 (speed 1, 2 local slots). Each
situation's line is printed by the real command and asserted:
- no servers: `localhost/2` alone, and -j 2, so the build goes on locally;
- idle farm: h1/8 and h2/4 at their full slots, localhost left out (its 2
  slots are under a fifth of the capacity);
- a slow server present: h3 is left out as too slow, the line is unchanged;
- saturated farm, two clients each wanting 24 remote jobs of the 12 slots:
  each line's limits add up to its fair share, 6, localhost comes last
  (overloaded, its own slots count), and -j says what fits.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure, note  # noqa: E402

LOCAL = 2


def remote_limits(line):
    return {e['host']: e['limit'] for e in dm.parse_line(line) if e['host'] != 'localhost'}


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(5) as net:
        fast, mid, slow, c1, c2 = net.hosts
        watch = [dm.start_mdnsd(c, bins) for c in (c1, c2)]

        def line(client, *args):
            return dm.hosts_line(client, bins, f'--local-slots={LOCAL}', *args)

        def jobs(client, *args):
            return int(line(client, '-j', *args))

        got = line(c1)
        note(f'no servers: {got}')
        assert got == f'localhost/{LOCAL}', f'no servers, yet: {got!r}'
        assert jobs(c1) == LOCAL

        for host, slots, speed in ((fast, 8, 2), (mid, 4, 1)):
            host.start_distccd(jobs=slots)
            watch.append(dm.start_mdnsd(host, bins, f'--speed={speed}'))
        for c in (c1, c2):
            for s in (fast, mid):
                dm.wait_listed(c, bins, s.ip, 10, watch=watch)
        got = line(c1)
        note(f'idle farm: {got}')
        assert remote_limits(got) == {fast.ip: 8, mid.ip: 4}, f'idle farm: {got!r}'
        assert 'localhost' not in dm.line_hosts(got), f'localhost under a fifth kept: {got!r}'
        assert jobs(c1) == 12

        slow.start_distccd(jobs=4)
        watch.append(dm.start_mdnsd(slow, bins, '--speed=0.3'))
        obj = lan.wait_until(lambda: (lambda o: o if dm.find_server(o, slow.ip) else None)(dm.hosts_json(c1, bins)),
                             10, watch=watch, what=f'{slow.ip} known on {c1.name}')
        got = line(c1)
        note(f'slow server present: {got}')
        assert remote_limits(got) == {fast.ip: 8, mid.ip: 4}, f'slow server present: {got!r}'
        assert dm.find_server(obj, slow.ip)['excluded'] == 'too slow', dm.find_server(obj, slow.ip)

        # Both clients build with -j far beyond the farm; each asks again once
        # it has heard the other's demand.
        want = 24
        for c in (c1, c2):
            line(c, f'--want={want}')
        for c in (c1, c2):
            # The other's 24 counts as the farm's 16 slots: no claim counts
            # for more than the whole farm.
            lan.wait_until(lambda c=c: dm.query(c, {'op': 'stats'})['demand']['others_wanted'] >= 16, 5,
                           watch=watch, what=f'{c.name} counting the other demand')
        for c in (c1, c2):
            got = line(c, f'--want={want}')
            share = sum(remote_limits(got).values())
            note(f'saturated farm, {c.name}: {got} (-j {jobs(c, f"--want={want}")})')
            figure(f'situations.{c.name}_share', share, 'slots', 6)
            assert abs(share - 6) <= 0.6, f'{c.name}: limits add up to {share}, fair share 6: {got!r}'
            assert slow.ip not in dm.line_hosts(got), f'the slow server used under overload: {got!r}'
            assert dm.line_hosts(got)[-1] == 'localhost', f'overloaded, localhost must stay (last): {got!r}'
            assert jobs(c, f'--want={want}') == share + LOCAL


if __name__ == '__main__':
    lan.run_test(main)
