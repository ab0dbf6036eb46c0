#!/usr/bin/env python3
"""lan-set-state: distcc-mdns-hosts --set-state drain|up on a server.

h1 is a server, h2 a client. `distcc-mdns-hosts --set-state drain` on h1
(as root) makes h1 leave h2's line, with state "drain", and `up` brings it
back; both times the delay is printed (target: within a second, by gossip).
The same request from another user is refused and changes nothing.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        srv.start_distccd(jobs=4)
        d_srv = dm.start_mdnsd(srv, bins)
        d_cli = dm.start_mdnsd(cli, bins)
        watch = [d_srv, d_cli]
        dm.wait_listed(cli, bins, srv.ip, 10, watch=watch)

        # Another user may not drain the host.
        r = srv.run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                     bins.hosts, '--set-state=drain', '--socket=/run/distcc-mdns/socket'], check=False)
        assert r.returncode == 1 and 'only root' in r.stderr, f'nobody drained h1: {r.returncode} {r.stderr!r}'
        dm.wait_listed(cli, bins, srv.ip, 1, watch=watch)

        r = srv.run([bins.hosts, '--set-state=drain'], check=False)
        assert r.returncode == 0 and r.stdout.strip() == 'state: drain', f'{r.returncode} {r.stdout!r} {r.stderr!r}'
        t0 = time.monotonic()
        obj = dm.wait_listed(cli, bins, srv.ip, 5, present=False, watch=watch)
        figure('set_state.drain_to_gone', time.monotonic() - t0, 's', 1.0)
        s = dm.find_server(obj, srv.ip)
        assert s is not None and s['state'] == 'drain' and s['excluded'] == 'not up', f'{s}'

        r = srv.run([bins.hosts, '--set-state=up'], check=False)
        assert r.returncode == 0 and r.stdout.strip() == 'state: up', f'{r.returncode} {r.stdout!r} {r.stderr!r}'
        t0 = time.monotonic()
        dm.wait_listed(cli, bins, srv.ip, 5, watch=watch)
        figure('set_state.up_to_listed', time.monotonic() - t0, 's', 1.0)

        r = srv.run([bins.hosts, '--set-state=down'], check=False)
        assert r.returncode == 2 and '--set-state' in r.stderr, f'{r.returncode} {r.stderr!r}'


if __name__ == '__main__':
    lan.run_test(main)
