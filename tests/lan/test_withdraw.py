#!/usr/bin/env python3
"""lan-withdraw: a server leaves the client's line when it stops serving.

A: SIGTERM on h1's distcc-mdnsd: exits 0 and h1 leaves h2's line (target 2 s)
   and the stock mDNS view.
B: the daemon keeps running (--advertise=auto) but distccd stops: withdrawn.
C: distccd starts again: back in the line.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note, wait_until  # noqa: E402
from dmtest import figure  # noqa: E402


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        cli_d = dm.start_mdnsd(cli, bins)
        browse = cli.browse()
        srv.start_distccd(jobs=4)
        d = dm.start_mdnsd(srv, bins, '--cpus', 2, '--slots', 4)
        dm.wait_listed(cli, bins, srv.ip, 10, watch=(d, cli_d))
        browse.wait_for('distcc@h1', 5)

        # A: SIGTERM withdraws and exits 0.
        t0 = time.monotonic()
        dt_exit = dm.stop_mdnsd(d)
        figure('withdraw.sigterm_to_exit', dt_exit, 's', 1.0)
        dm.wait_listed(cli, bins, srv.ip, 10, present=False, watch=(cli_d,))
        figure('withdraw.sigterm_to_gone_from_client_line', time.monotonic() - t0, 's', 2.0)
        browse.wait_gone('distcc@h1', 5)
        figure('withdraw.sigterm_to_gone_from_stock_browse', time.monotonic() - t0, 's', 2.0)

        # B: the daemon stays, distccd goes.
        d = dm.start_mdnsd(srv, bins, '--cpus', 2, '--slots', 4, name='distcc-mdnsd-2')
        dm.wait_listed(cli, bins, srv.ip, 10, watch=(d, cli_d))
        figure('withdraw.daemon_restart_to_listed', time.monotonic() - d.t_start, 's', 1.5)
        t0 = time.monotonic()
        srv.kill(srv.distccd)
        srv.kill('distccd')                 # its pre-forked workers too, if any remain
        wait_until(lambda: not srv.listening(3632), 5, 0.02, what='distccd port closed')
        dm.wait_listed(cli, bins, srv.ip, 20, present=False, watch=(d, cli_d))
        figure('withdraw.distccd_stop_to_gone_from_client_line', time.monotonic() - t0, 's', 5.0)
        browse.wait_gone('distcc@h1', 10)
        figure('withdraw.distccd_stop_to_gone_from_stock_browse', time.monotonic() - t0, 's',
               5.0)
        assert d.alive(), 'distcc-mdnsd exited when distccd stopped'

        # C: distccd is back.
        t0 = time.monotonic()
        srv.start_distccd(jobs=4, name='distccd-2')
        dm.wait_listed(cli, bins, srv.ip, 20, watch=(d, cli_d))
        figure('withdraw.distccd_start_to_listed', time.monotonic() - t0, 's', 5.0)
        browse.wait_for('distcc@h1', 10)
        note(f'daemon pid {d.pid} kept running through distccd stop/start')
        assert d.alive()
        assert srv.run([bins.hosts, '-j']).returncode == 0


if __name__ == '__main__':
    lan.run_test(main)
