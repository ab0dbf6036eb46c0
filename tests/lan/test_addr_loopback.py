#!/usr/bin/env python3
"""lan-addr-loopback: a distccd only loopback can reach is not advertised,
and the daemon's log says why and what to change.

h1: distcc-mdnsd first (no distccd: "not advertising: no distccd listening
on port 3632", once), then distccd as Debian's /etc/default/distcc starts it
(LISTENER="127.0.0.1"): not advertised, the log names LISTENER=; then
listening on the network but admitting only 127.0.0.1 (ALLOWEDNETS): not
advertised, the log names ALLOWEDNETS=; then a distccd that admits the
subnet: advertised, with listen= and allow= in its TXT. h2 browses with the
stock avahi-browse throughout; its distcc-mdnsd -v then logs h1 joining,
draining (--set-state) and leaving, one line each.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note  # noqa: E402
from dmtest import figure  # noqa: E402

# A daemon that advertises shows in a browser on the link within about a
# second (field facts); this window is three times that.
WINDOW = 3.0


def distccd(host, *args, name):
    """A foreground distccd with exactly these --listen/--allow arguments."""
    argv = ['distccd', '--daemon', '--no-detach', '--log-stderr', '--log-level=info',
            '--jobs', '2'] + list(args)
    t0 = time.monotonic()
    proc = host.spawn(argv, name=name)
    proc.t_spawn = t0
    lan.wait_until(lambda: host.listening(3632), 10, 0.02,
                   what=f'{host.name}: {name} listening', watch=(proc,))
    return proc


def not_seen(browse, seconds):
    def check():
        assert browse.get('distcc@h1') is None, browse.get('distcc@h1')
    dm.observe(seconds, check)


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        browse = cli.browse()
        md = dm.start_mdnsd(srv, bins)
        md.wait_log(r'not advertising: no distccd listening on port 3632 \(start distccd, or give '
                    r'--advertise=no on a machine that only builds\)$', 10)

        # Debian's defaults: LISTENER="127.0.0.1", ALLOWEDNETS="127.0.0.1".
        start = md.log_size()
        d = distccd(srv, '--listen', '127.0.0.1', '--allow', '127.0.0.1', name='distccd-debian')
        m = md.wait_log(r'not advertising: distccd listens only on 127\.0\.0\.1: set LISTENER=.*'
                        r'/etc/default/distcc.*$', 10, start=start)
        note(f'h1: {m.group(0)}')
        # The host's own --status says it too, from the daemon that answered.
        status = srv.run([bins.hosts, '--status']).stdout
        assert re.search(r'this host is not advertised: distccd listens only on 127\.0\.0\.1: set '
                         r'LISTENER=', status), status
        not_seen(browse, WINDOW)
        d.stop()

        # Listening on the network, but admitting only loopback.
        start = md.log_size()
        d = distccd(srv, '--allow', '127.0.0.1', name='distccd-allow-loopback')
        m = md.wait_log(r'not advertising: distccd admits only 127\.0\.0\.1 \(its --allow\): set '
                        r'ALLOWEDNETS= in /etc/default/distcc .*' + str(net.subnet).replace('.', r'\.'),
                        10, start=start)
        note(f'h1: {m.group(0)}')
        not_seen(browse, WINDOW)
        d.stop()

        # Fixed: advertised, and says where it accepts.
        d = distccd(srv, '--allow', str(net.subnet), '--allow', '127.0.0.1', name='distccd-fixed')
        rec = browse.wait_for('distcc@h1', 10)
        figure('addr_loopback.advertised_after_fix', rec['t'] - d.t_spawn, 's')
        assert rec['txt'].get('listen') == '0.0.0.0', rec['txt']
        assert rec['txt'].get('allow') == str(net.subnet), rec['txt']
        cli_d = dm.start_mdnsd(cli, bins)
        dm.wait_listed(cli, bins, srv.ip, 10, watch=(md, cli_d))

        # -v on the client: one line for the join, the state change, the leave.
        cli_d.wait_log(rf"server 'distcc@h1' (joined at|moved from no usable address to) "
                       rf"{re.escape(srv.ip)}\b", 10)
        srv.run([bins.hosts, '--set-state=drain'])
        cli_d.wait_log(r"server 'distcc@h1' is drain now \(was up\)$", 10)
        dm.stop_mdnsd(md)
        cli_d.wait_log(r"server 'distcc@h1' left$", 10)

        # Each reason logged once at its change, never twice in a row.
        said = [line.split('not advertising: ', 1)[1] for line in md.log().splitlines()
                if 'not advertising: ' in line]
        note(f'h1 said, in turn: {said}')
        assert all(a != b for a, b in zip(said, said[1:])), said
        assert sum(r.startswith('distccd listens only on 127.0.0.1') for r in said) == 1, said
        assert sum(r.startswith('distccd admits only 127.0.0.1') for r in said) == 1, said

if __name__ == '__main__':
    lan.run_test(main)
