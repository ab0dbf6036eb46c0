#!/usr/bin/env python3
"""lan-auto-drain: a desktop whose owner starts working drains itself, and comes back.

h1 is a server started with --auto-drain=0.5 and --cpus=16 (drain while the
owner's own load, smoothed over 10 s, exceeds 8 tasks; up again below 4);
h2 is a client. Twelve busy loops start on h1 (the owner's work, not distcc's):
asserted, h1 leaves h2's line with state drain; once they stop, h1 comes
back. Figures: the time to drain and to come back (set by the smoothing).
The host's runnable count is the whole machine's (/proc/loadavg is not per
network namespace), so the bounds are wide and the thresholds high: a
busy machine (a build beside the test) makes the drain come sooner but
must not keep h1 drained once the loops stop.
"""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

BURNERS = 12


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        srv.start_distccd(jobs=4)
        d_srv = dm.start_mdnsd(srv, bins, '--auto-drain=0.5', '--cpus=16')
        d_cli = dm.start_mdnsd(cli, bins)
        watch = [d_srv, d_cli]
        dm.wait_listed(cli, bins, srv.ip, 10, watch=watch)

        t0 = time.monotonic()
        burners = [srv.spawn(['python3', '-c', 'while True: pass'], name=f'owner-work-{i}')
                   for i in range(BURNERS)]
        obj = dm.wait_listed(cli, bins, srv.ip, 30, present=False, interval=0.2, watch=watch)
        figure('auto_drain.owner_load_to_drained', time.monotonic() - t0, 's')
        s = dm.find_server(obj, srv.ip)
        assert s is not None and s['state'] == 'drain', f'h1 left the line but is not drained: {s}'
        assert 'owner' in d_srv.log(), 'the daemon did not say why it drained'

        t0 = time.monotonic()
        for b in burners:
            b.stop(signal.SIGKILL)
        dm.wait_listed(cli, bins, srv.ip, 60, interval=0.2, watch=watch)
        figure('auto_drain.owner_idle_to_up', time.monotonic() - t0, 's')


if __name__ == '__main__':
    lan.run_test(main)
