#!/usr/bin/env python3
"""lan-attack-mdns: forged mDNS from a host that runs no daemon removes or drains nobody.

One LAN (tests/lan/attack.py): servers h1, h2; clients c1, c2; `evil`
sends forged mDNS from its own address, from port 5353 to the mDNS group:
  - nothing (the control row: the bounds hold without an attack);
  - a goodbye (TTL 0) of h1's `_distcc._tcp` PTR, once, and every 200 ms
    for 10 s;
  - a TXT for h1's instance name (cache-flush, so caches replace the
    genuine one) saying state=drain, another id, slots=1, every 200 ms.
For each, h1 stays in c1's line (>= 95% of lines at 10 Hz, every line from
2 s on), c1 keeps >= 30% of the farm against c2, evil gets no more than 3x
its bytes back, and no daemon's RSS grows beyond the bound. Prints the
table (and writes it to $DMLAN_ATTACK_TABLE).
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
import attack as at  # noqa: E402

# An id no host has: 16 hex digits, like a host id.
FORGED_ID = '00000000deadbeef'


def nothing(suite, duration):
    pass


def goodbye_once(suite, duration):
    suite.mdns_from_evil([at.goodbye(suite.victim_instance)])


def goodbye_repeated(suite, duration):
    suite.mdns_from_evil([at.goodbye(suite.victim_instance)], every=0.2, count=int(duration / 0.2))


def txt_forgery(**changes):
    def attack(suite, duration):
        items = at.replace_txt(suite.victim_txt, **changes)
        suite.mdns_from_evil([at.forged_txt(suite.victim_instance, items)], every=0.2,
                             count=int(duration / 0.2))
    return attack


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with at.Suite(bins) as suite:
        suite.settle()
        suite.run('none (control)', nothing, 4)
        suite.run('mDNS goodbye for h1, once', goodbye_once, 6)
        suite.run('mDNS goodbye for h1, every 200 ms for 10 s', goodbye_repeated, 10)
        suite.run('TXT for h1: state=drain, every 200 ms', txt_forgery(state='drain'), 6)
        suite.run(f'TXT for h1: id={FORGED_ID}, every 200 ms', txt_forgery(id=FORGED_ID), 6)
        suite.run('TXT for h1: jobs=1 (slots), every 200 ms', txt_forgery(jobs=1), 6)
        suite.report()


if __name__ == '__main__':
    lan.run_test(main)
