#!/usr/bin/env python3
"""lan-file-share: hosts files of clients building at once shrink to fair shares.

h1 and h2 are servers with 4 slots each (8 in all); h3 and h4 are clients
whose daemons keep $DISTCC_DIR/hosts (--hosts-file). A build's demand is
the distcc processes running on the client, whether they compile, wait for
a slot or run locally; here stand-ins named distcc (a copy of sleep) make
8 on h3 and 4 on h4 (a demand above the farm's slots would count as the
farm's slots). Asserted: alone, h3's file offers all 8 slots; with h4
building too, the limits in h3's file add up to about 5.3 and in h4's to
2.7 (slots x demand / all demand, within 10% or one slot), and localhost
stays in both;
when h4's build ends, h3's file offers all 8 again. Figures: how long each
change took to reach the files.
"""

import os
import shutil
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure, note  # noqa: E402

SLOTS = 4


def start_build(host, count):
    """count processes whose executable is named distcc, as a build's clients."""
    fake = os.path.join(host.dir, 'fakebin', 'distcc')
    os.makedirs(os.path.dirname(fake), exist_ok=True)
    if not os.path.exists(fake):
        shutil.copy('/bin/sleep', fake)
    return [host.spawn([fake, '120'], name=f'distcc-{i}') for i in range(count)]


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(4) as net:
        s1, s2, c1, c2 = net.hosts
        servers = {s1.ip, s2.ip}
        watch = []
        for s in (s1, s2):
            s.start_distccd(jobs=SLOTS)
            watch.append(dm.start_mdnsd(s, bins))
        files = {}
        for c in (c1, c2):
            files[c.name] = os.path.join(c.distcc_dir, 'hosts')
            watch.append(dm.start_mdnsd(c, bins, f'--hosts-file={files[c.name]}'))

        def offered(client):
            with open(files[client.name]) as f:
                entries = dm.parse_line(f.read().strip())
            return (sum(e['limit'] for e in entries if e['host'] in servers),
                    any(e['host'] == 'localhost' for e in entries))

        for c in (c1, c2):
            lan.wait_until(lambda c=c: offered(c)[0] == 2 * SLOTS, 10, watch=watch,
                           what=f'both servers in {c.name}\'s hosts file')

        big = start_build(c1, 8)
        lan.wait_until(lambda: dm.query(c2, {'op': 'stats'})['demand']['others_wanted'] == 8, 5,
                       watch=watch + big, what='h4 hearing h3\'s demand of 8')
        assert offered(c1)[0] == 2 * SLOTS, f'h3 building alone was limited: {offered(c1)}'

        t0 = time.monotonic()
        small = start_build(c2, 4)
        farm = 2 * SLOTS
        for c, want in ((c1, 8), (c2, 4)):
            fair = farm * want / 12
            # Within 10%, or one slot: limits are whole slots.
            got = lan.wait_until(lambda c=c, fair=fair: (lambda o: o if abs(o[0] - fair) <= max(0.1 * fair, 1.0) else None)(
                offered(c)), 10, watch=watch + big + small, what=f'{c.name}\'s file at its share {fair}')
            figure(f'file_share.{c.name}_share', got[0], 'slots', fair)
            assert got[1], f'{c.name}: localhost left out of an overloaded line'
        figure('file_share.both_building_to_shares', time.monotonic() - t0, 's')
        with open(files[c1.name]) as f:
            note(f'h3 file while both build: {f.read().strip()}')

        t0 = time.monotonic()
        for p in small:
            p.stop(signal.SIGKILL)
        lan.wait_until(lambda: offered(c1)[0] == farm, 10, watch=watch + big,
                       what='h3 offered the whole farm again')
        figure('file_share.other_done_to_whole_farm', time.monotonic() - t0, 's')
        for p in big:
            p.stop(signal.SIGKILL)


if __name__ == '__main__':
    lan.run_test(main)
