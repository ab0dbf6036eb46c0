#!/usr/bin/env python3
"""lan-look: a look without a build leaves the other clients' limits alone after a few seconds.

h1 is a server (distccd --jobs 4, distcc-mdnsd --slots=4); h2 (client A) and
h3 (client B) run distcc-mdnsd --advertise=no. On this idle farm B's line
gives h1 its 4 slots. Then A runs `distcc-mdns-hosts` once, as
`export DISTCC_HOSTS="$(distcc-mdns-hosts)"` does, and no build follows.
Asserted: B sees A's claim (its limit on h1 drops: the test would prove
nothing otherwise), then B's limits are back to the untouched ones within
3 s of A's look ending (before, A's demand stood for 35 s). `--status`, `-j` and
`--json` on A change B's line not at all (1.5 s observed after each).
Figures: when B saw the claim (from A's query) and when it was gone (from
the end of A's command).
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

GONE_WITHIN = 3.0


def limits(host):
    """B's limit per server, from a look (reserve: false) at its daemon."""
    r = dm.hosts_query(host, local_slots=1)
    return {s['address']: s.get('limit', 0) for s in r['servers']}


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3) as net:
        srv, a, b = net.hosts
        srv.start_distccd(jobs=4)
        watch = [dm.start_mdnsd(srv, bins, '--slots=4')]
        watch += [dm.start_mdnsd(a, bins, advertise='no'), dm.start_mdnsd(b, bins, advertise='no')]
        untouched = {srv.ip: 4}

        def idle():
            return limits(b) == untouched and limits(a).get(srv.ip) == 4
        lan.wait_until(idle, 15, 0.1, what=f'{srv.ip}/4 in both clients\' views', watch=watch)

        # Looks: nothing at all for others.
        for look in (['--status'], ['-j'], ['--json']):
            a.run([bins.hosts] + look)

            def unchanged():
                now = limits(b)
                assert now == untouched, f'after {look} on A, B sees {now}, not {untouched}'
            dm.observe(1.5, unchanged, 0.1)

        # A line handed out, no build after it.
        t0 = time.monotonic()
        line = dm.hosts_line(a, bins)
        # The look is over when the command returns: "after 3 s" counts
        # from there (the command itself takes 0.05-0.5 s on a busy machine).
        t_done = time.monotonic()
        figure('look.command', t_done - t0)
        assert srv.ip in line, f'A was not given h1: {line!r}'

        def claimed():
            now = limits(b)
            return now if now.get(srv.ip, 0) < 4 else None
        seen = lan.wait_until(claimed, 2.5, 0.05, what='B seeing A\'s claim on h1', watch=watch)
        t_seen = time.monotonic() - t0
        figure('look.claim_seen', t_seen)
        lan.note(f'B during the claim: {seen}')

        back = lan.wait_until(lambda: limits(b) == untouched, GONE_WITHIN + 3, 0.05,
                              what='B\'s limits back to the untouched ones', watch=watch)
        t_back = time.monotonic() - t_done
        figure('look.claim_gone', t_back, target=GONE_WITHIN)
        assert back and t_back <= GONE_WITHIN, \
            f'A\'s look cut B\'s limits for {t_back:.1f} s (at most {GONE_WITHIN:g} s)'


if __name__ == '__main__':
    lan.run_test(main)
