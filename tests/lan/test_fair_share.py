#!/usr/bin/env python3
"""lan-fair-share: clients asking for more than the farm get their fair shares.

h1 and h2 are servers with 4 slots each (8 in all); h3 and h4 are clients.
Each client asks its daemon for a line with a demand ("want") the farm
cannot satisfy, and asks again once it counts the other's demand by gossip.
Asserted: with equal demands (8 and 8) each line's limits add up to 4, and
with unequal ones (12 and 4) to 6 and 2: within 10% of slots x demand /
total demand (here exactly, by the largest-remainder rounding), and never
more than the farm. Figures: the shares and the demand's propagation time.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

SLOTS = 4


def limits(reply, servers):
    return sum(s['limit'] for s in reply['servers'] if s['address'] in servers and s['excluded'] is None)


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(4) as net:
        s1, s2, c1, c2 = net.hosts
        servers = {s1.ip, s2.ip}
        daemons = []
        for s in (s1, s2):
            s.start_distccd(jobs=SLOTS)
            daemons.append(dm.start_mdnsd(s, bins))
        for c in (c1, c2):
            daemons.append(dm.start_mdnsd(c, bins))
        for c in (c1, c2):
            for s in (s1, s2):
                dm.wait_listed(c, bins, s.ip, 10, watch=daemons)
        farm = SLOTS * len(servers)

        # Each want is at most the farm's slots: a larger one is clamped to
        # that, here and in what the other client counts.
        for want1, want2 in ((8, 8), (8, 4)):
            total = want1 + want2
            # Both ask; then each asks again once the other's demand arrived.
            t0 = time.monotonic()
            dm.hosts_query(c1, want=want1)
            dm.hosts_query(c2, want=want2)
            for c, other in ((c1, want2), (c2, want1)):
                lan.wait_until(lambda c=c, other=other: dm.query(c, {'op': 'stats'})['demand']['others_wanted']
                               == other, 5, watch=daemons, what=f'{c.name} counting the other demand')
            figure(f'fair_share.demand_propagation_{want1}_{want2}', time.monotonic() - t0, 's')
            got = {}
            for c, want in ((c1, want1), (c2, want2)):
                r = dm.hosts_query(c, want=want)
                got[c.name] = limits(r, servers)
                fair = farm * want / total
                figure(f'fair_share.{c.name}_share_{want1}_{want2}', got[c.name], 'slots', round(fair, 2))
                assert r['share'] is not None, f'{c.name}: the farm was not seen as overloaded: {r}'
                # Within 10%, or one slot: limits are whole slots.
                assert abs(got[c.name] - fair) <= max(0.1 * fair, 1.0), (f'{c.name} wants {want} of {total} on {farm} '
                                                              f'slots: its limits add up to {got[c.name]}, '
                                                              f'fair is {fair:.1f}')
            assert sum(got.values()) <= farm, f'the shares overbook the farm: {got}'


if __name__ == '__main__':
    lan.run_test(main)
