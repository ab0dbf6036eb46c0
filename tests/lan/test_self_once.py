#!/usr/bin/env python3
"""lan-self-once: a client that is also a server lists its own cores once.

h1 and h2 are servers (distccd --jobs 4, distcc-mdnsd); h1 also asks for
lines. Asserted: h1's line (from its daemon, and from `distcc-mdns-hosts`
on h1) lists h1's own address with its slots and no localhost entry
(before, `10.99.0.1/4 ... localhost/2` put 6 jobs on its cores), while h2's
line lists h1 like any server. h1 recognises its record by its host id,
which the test does not tell it.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        h1, h2 = net.hosts
        watch = []
        for h in (h1, h2):
            h.start_distccd(jobs=4)
            watch.append(dm.start_mdnsd(h, bins))

        def both(host):
            r = dm.hosts_query(host, local_slots=4)
            hosts = dm.line_hosts(r['line'])
            return r if h1.ip in hosts and h2.ip in hosts else None
        r1 = lan.wait_until(lambda: both(h1), 15, 0.1, what='both servers in h1\'s line', watch=watch)
        entries = dm.parse_line(r1['line'])
        figure('self_once.h1_entries', len(entries), 'hosts')
        assert not any(e['host'] == 'localhost' for e in entries), \
            f'h1 lists itself twice: {r1["line"]!r}'
        mine = [e for e in entries if e['host'] == h1.ip]
        assert len(mine) == 1 and mine[0]['limit'] == 4, f'h1 not listed once with its 4 slots: {r1["line"]!r}'
        line = dm.hosts_line(h1, bins, '--local-slots=4')
        assert 'localhost' not in line and h1.ip in dm.line_hosts(line), f'distcc-mdns-hosts on h1: {line!r}'
        # To h2, h1 is a server like any other; h2's own cores are its own.
        r2 = lan.wait_until(lambda: both(h2), 15, 0.1, what='both servers in h2\'s line', watch=watch)
        assert 'localhost' not in r2['line'], f'h2 lists itself twice: {r2["line"]!r}'


if __name__ == '__main__':
    lan.run_test(main)
