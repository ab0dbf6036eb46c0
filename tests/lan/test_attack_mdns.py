#!/usr/bin/env python3
"""lan-attack-mdns: forged mDNS from a host that runs no daemon removes or drains nobody.

One LAN (tests/lan/attack.py): servers h1, h2; clients c1, c2; `evil`
sends forged mDNS responses from its own address and port 5353, unicast to
every host but h1 (so that h1's avahi-daemon cannot defend its records):
  - nothing (the control row: the bounds hold without an attack);
  - a goodbye (TTL 0) of h1's `_distcc._tcp` PTR: once; every 200 ms for
    6 s; every 1.2 s (each lands just after Avahi queried h1 back in);
  - a TXT for h1's instance name (cache-flush, so caches replace the
    genuine one) saying state=drain, another id, jobs=1, every 200 ms;
  - a TXT for h1 with h1's own id and host but what gossip does not carry
    (h1's PROFILE digest covers it): a compiler no client has, or
    `allow=192.0.2.0/24` (no client admitted), every 200 ms for 5 s, and
    both every 1.2 s for 6 s;
  - evil's own service, distcc@evil at evil's address, claiming h1's id
    (so that h1's gossip samples would vouch for it), every 200 ms.
For each, evil never enters c1's line, h1 stays in it as itself (>= 95% of lines at 10 Hz, every
line from 2 s on, through the attack and 4 s after it), c1 keeps >= 30% of
the farm against c2, evil gets no more than 3x its bytes back, and no
daemon's RSS grows beyond the bound. Prints the table (and writes it to
$DMLAN_ATTACK_TABLE).

Without the directory's vouching (before issue 14), the goodbyes every
1.2 s took h1 out of about one line in ten, and the forged id re-pointed
h1's name to the forger's id; without the PROFILE digest, the forged
compiler or `allow` took h1 out of every line.

The positive control: h1's distccd restarts admitting c2 only; h1's daemon
advertises the new `allow` (and gossips its digest), and c1 drops h1 from
its line within 3 s while c2 keeps it; back to the whole subnet, c1 lists
h1 again within 3 s. A genuine TXT change still goes through.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
import attack as at  # noqa: E402
from lan import note, wait_until  # noqa: E402

# An id no host has: 16 hex digits, like a host id.
FORGED_ID = '00000000deadbeef'


def nothing(suite, duration):
    pass


def goodbye_once(suite, duration):
    suite.mdns_from_evil([at.goodbye(suite.victim_instance)])


def goodbye_repeated(suite, duration):
    suite.mdns_from_evil([at.goodbye(suite.victim_instance)], every=0.2, count=int(duration / 0.2))


def goodbye_paced(suite, duration):
    # Avahi removes a record 1 s after its goodbye and at once asks again;
    # the genuine answer comes back within ~0.1 s. A goodbye every 1.2 s
    # hits each fresh copy.
    suite.mdns_from_evil([at.goodbye(suite.victim_instance)], every=1.2, count=int(duration / 1.2))


def txt_forgery(**changes):
    def attack(suite, duration):
        items = at.replace_txt(suite.victim_txt, **changes)
        suite.mdns_from_evil([at.forged_txt(suite.victim_instance, items)], every=0.2,
                             count=int(duration / 0.2))
    return attack


def foreign_compilers(suite, duration):
    items = at.foreign_compilers(suite.victim_txt)
    suite.mdns_from_evil([at.forged_txt(suite.victim_instance, items)], every=0.2,
                         count=int(duration / 0.2))


def foreign_profile_paced(suite, duration):
    # A kept-open Avahi resolver reports nothing while a TXT changes less
    # than ~1 s apart, so the 200 ms streams above land mostly when they
    # stop; one every 1.2 s is reported every time.
    items = at.replace_txt(at.foreign_compilers(suite.victim_txt), allow='192.0.2.0/24')
    suite.mdns_from_evil([at.forged_txt(suite.victim_instance, items)], every=1.2,
                         count=int(duration / 1.2))


def genuine_change(suite, allow, c1_lists, bound=3.0):
    """Restarts h1's distccd with allow; returns the seconds until c1's
    line does (c1_lists) or does not list h1 while c2's lists it."""
    suite.restart_victim_distccd(allow)
    t0 = time.monotonic()
    wait_until(lambda: suite.listed_by(suite.c2) and suite.listed_by(suite.c1) == c1_lists,
               bound, 0.05, watch=suite.watch(),
               what=f'h1 {"in" if c1_lists else "out of"} c1\'s line and in c2\'s after '
                    f'its distccd restarted with --allow {allow}')
    return time.monotonic() - t0


def impostor(suite, duration):
    items = list(suite.victim_txt)
    suite.mdns_from_evil([at.announce('distcc@evil', 'evil', suite.evil.ip, 3632, items)],
                         every=0.2, count=int(duration / 0.2))


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with at.Suite(bins) as suite:
        suite.settle()
        suite.run('none (control)', nothing, 2)
        suite.run('mDNS goodbye for h1, once', goodbye_once, 3)
        suite.run('mDNS goodbye for h1, every 200 ms for 6 s', goodbye_repeated, 6)
        suite.run('mDNS goodbye for h1, every 1.2 s for 8 s', goodbye_paced, 8)
        suite.run('TXT for h1: state=drain, every 200 ms for 5 s', txt_forgery(state='drain'), 5)
        suite.run(f'TXT for h1: id={FORGED_ID}, every 200 ms for 5 s', txt_forgery(id=FORGED_ID), 5)
        suite.run('TXT for h1: jobs=1 (slots), every 200 ms for 5 s', txt_forgery(jobs=1), 5)
        suite.run('TXT for h1 with its own id: a compiler no client has, every 200 ms for 5 s',
                  foreign_compilers, 5)
        suite.run('TXT for h1 with its own id: allow=192.0.2.0/24, every 200 ms for 5 s',
                  txt_forgery(allow='192.0.2.0/24'), 5)
        suite.run('TXT for h1 with its own id: both, every 1.2 s for 6 s', foreign_profile_paced, 6)
        suite.run('distcc@evil at evil\'s address with h1\'s id, every 200 ms for 5 s', impostor, 5)
        suite.report()
        # The positive control, after the table: a genuine change of h1's
        # TXT (its distccd's --allow) reaches the clients.
        gone = genuine_change(suite, [f'{suite.c2.ip}/32', f'{suite.h2.ip}/32'], c1_lists=False)
        note(f'h1 admitting c2 only: out of c1\'s line after {gone:.2f} s (bound 3 s)')
        back = genuine_change(suite, [str(suite.net.subnet)], c1_lists=True)
        note(f'h1 admitting the subnet again: back in c1\'s line after {back:.2f} s (bound 3 s)')


if __name__ == '__main__':
    lan.run_test(main)
