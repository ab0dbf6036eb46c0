#!/usr/bin/env python3
"""lan-avahi-restart: avahi-daemon restarts under a running distcc-mdnsd.

Round 1: avahi-daemon stops on h1 (the service leaves h2's stock view), then
starts again: h1 must be advertised again within a few seconds (target 3 s
from avahi's 'startup complete'). Round 2: a quick restart (stop+start).
distcc-mdnsd's pid never changes and it never exits.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note  # noqa: E402
from dmtest import figure  # noqa: E402


def daemons(host, path):
    """Pids on host whose command line runs the daemon binary."""
    out = []
    for pid in host.pids():
        try:
            argv = open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\0')
        except OSError:
            continue
        if path.encode() in argv[:2] and b'nsenter' not in argv[0]:
            out.append(pid)
    return sorted(out)


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        cli_d = dm.start_mdnsd(cli, bins)
        browse = cli.browse()
        srv.start_distccd(jobs=4)
        d = dm.start_mdnsd(srv, bins, '--cpus', 2, '--slots', 4)
        pid = d.pid
        first = browse.wait_for('distcc@h1', 10)
        dm.wait_listed(cli, bins, srv.ip, 10, watch=(d, cli_d))

        # Round 1: stop, see it gone, start.
        t0 = time.monotonic()
        srv.stop_avahi()
        browse.wait_gone('distcc@h1', 10)
        figure('avahi_restart.avahi_stop_to_gone_from_stock_browse', time.monotonic() - t0, 's')
        d.check_alive()
        t1 = time.monotonic()
        srv.start_avahi()
        t_up = time.monotonic()
        rec = browse.wait_for('distcc@h1', 15, pred=lambda r: r['t'] > t1)
        figure('avahi_restart.avahi_start_to_visible', rec['t'] - t1, 's', 4.0)
        figure('avahi_restart.startup_complete_to_visible', rec['t'] - t_up, 's', 3.0)
        assert rec['t'] - t_up <= 10, 'not advertised again within 10 s of avahi startup'
        assert rec['txt'].get('id') == first['txt'].get('id'), (first['txt'], rec['txt'])
        dm.wait_listed(cli, bins, srv.ip, 10, watch=(d, cli_d))
        obj = dm.hosts_json(cli, bins, '--no-daemon')
        assert dm.find_server(obj, srv.ip), f'browse mode misses {srv.ip} after restart: {obj}'

        # Round 2: straight restart. h2 may keep its cached copy throughout
        # (the goodbye and the new announcement can overlap), so the proof of
        # re-registration is a browser on h1 itself, whose new avahi-daemon
        # knows only what is registered with it, and a host that joins after
        # the restart with an empty cache.
        t0 = time.monotonic()
        srv.restart_avahi()
        t_up = time.monotonic()
        note(f'round 2: avahi-daemon on h1 restarted in {t_up - t0:.2f}s')
        local = srv.browse()
        rec = local.wait_for('distcc@h1', 15)
        figure('avahi_restart.quick_restart_startup_complete_to_registered',
               rec['t'] - t_up, 's', 3.0)
        assert rec['t'] - t_up <= 10, 'not registered again within 10 s of avahi startup'
        assert rec['address'] == srv.ip and rec['txt'].get('id') == first['txt'].get('id'), rec
        seen = [(round(t - t0, 3), k) for t, k, n, _ in browse.events
                if n == 'distcc@h1' and t > t0]
        note(f'round 2 as h2 saw it (s after the restart began): {seen}')
        late = net.add_host('h3')
        t_join = time.monotonic()
        rec = late.browse().wait_for('distcc@h1', 10)
        figure('avahi_restart.late_joiner_resolves', rec['t'] - t_join, 's', 2.0)
        assert rec['address'] == srv.ip, rec

        assert d.alive() and d.pid == pid, 'distcc-mdnsd restarted or died'
        assert daemons(srv, bins.mdnsd) == [pid], \
            f'distcc-mdnsd processes on h1: {daemons(srv, bins.mdnsd)} (want [{pid}])'
        dm.wait_listed(cli, bins, srv.ip, 10, watch=(d, cli_d))
        note(f'distcc-mdnsd pid {pid} unchanged through two avahi restarts')


if __name__ == '__main__':
    lan.run_test(main)
