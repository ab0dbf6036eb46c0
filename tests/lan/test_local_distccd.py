#!/usr/bin/env python3
"""lan-local-distccd: only distccd counts as the local distccd; one incarnation per run.

A: on h1, with no distccd, uid 65534 listens on 3632 (anyone may bind it).
   h1's distcc-mdnsd --advertise=auto logs the refusal (uid 65534 and the
   command) and h2's distcc-mdns-hosts --json never lists h1 during a window
   at least as long as the positive control needs.
B: the positive control: the squatter goes, a real distccd (root, dropping
   to user distccd) starts on h1: h2 lists h1 within that window.
C: the incarnation in h1's TXT record (inc=) is the one h1's gossip stats
   give and the one in its state directory; a restarted daemon takes a
   larger one, again the same in TXT and gossip.
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

# Listens on every address of the host, port 3632, as whoever runs it.
SQUATTER = ('import socket, time\n'
            's = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n'
            's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n'
            's.bind(("0.0.0.0", 3632))\n'
            's.listen(16)\n'
            'time.sleep(120)\n')

# Long enough for the positive control (B asserts it), short enough for the budget.
WINDOW = 8.0


def incarnations(srv, cli_browse, bins, d):
    """(TXT inc, gossip incarnation, stored) for srv once its TXT carries one."""
    rec = cli_browse.wait_for('distcc@h1', 10, pred=lambda r: r['txt'].get('inc'))
    txt = int(rec['txt']['inc'])
    gossip = dm.gossip_stats(srv)['incarnation']
    with open(os.path.join(srv.dir, 'state', 'incarnation')) as f:
        stored = int(f.read().strip())
    note(f'h1 incarnation: TXT {txt}, gossip {gossip}, state file {stored}')
    return txt, gossip, stored


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        cli_d = dm.start_mdnsd(cli, bins)
        browse = cli.browse()

        # A: another user on the port before distccd.
        squatter = srv.spawn(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                              '/usr/bin/python3', '-c', SQUATTER], name='squatter')
        wait_until(lambda: srv.listening(3632), 10, 0.02, what='squatter listening on 3632',
                   watch=(squatter,))
        d = dm.start_mdnsd(srv, bins, '--cpus', 2, '--slots', 4)
        seen = []

        def absent():
            obj = dm.hosts_json(cli, bins)
            if srv.ip in dm.line_hosts(obj['line']) or dm.find_server(obj, srv.ip):
                seen.append(obj['line'])
            if browse.get('distcc@h1'):
                seen.append('distcc@h1 in avahi-browse')
        polls = dm.observe(WINDOW, absent, interval=0.2)
        assert not seen, f'the squatter was advertised: {seen[:3]}'
        assert d.alive() and cli_d.alive()
        figure('local_distccd.squatter_polls_without_h1', polls, 'polls')
        d.wait_log(r'not advertising port 3632: .*uid 65534.*command .*python3', 5)
        log = d.log()
        assert log.count('not advertising port 3632') == 1, \
            f'refusal not logged exactly once:\n{d.tail()}'

        # B: positive control: the real distccd is listed within the window.
        srv.kill(squatter)
        wait_until(lambda: not srv.listening(3632), 5, 0.02, what='squatter gone')
        t0 = time.monotonic()
        srv.start_distccd(jobs=4)
        dm.wait_listed(cli, bins, srv.ip, WINDOW, watch=(d, cli_d))
        dt = time.monotonic() - t0
        figure('local_distccd.distccd_start_to_listed', dt, 's', WINDOW)
        assert dt <= WINDOW

        # C: one incarnation per run, in TXT, gossip and the state file.
        txt, gossip, stored = incarnations(srv, browse, bins, d)
        assert txt == gossip == stored, f'TXT {txt}, gossip {gossip}, stored {stored}'
        dm.stop_mdnsd(d)
        browse.wait_gone('distcc@h1', 5)
        d = dm.start_mdnsd(srv, bins, '--cpus', 2, '--slots', 4, name='distcc-mdnsd-2')
        txt2, gossip2, stored2 = incarnations(srv, browse, bins, d)
        assert txt2 == gossip2 == stored2, f'TXT {txt2}, gossip {gossip2}, stored {stored2}'
        assert txt2 > txt, f'restart took incarnation {txt2}, not above {txt}'
        assert d.alive() and cli_d.alive()


if __name__ == '__main__':
    lan.run_test(main)
