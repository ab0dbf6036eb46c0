#!/usr/bin/env python3
"""A virtual LAN of hosts in network namespaces, for distcc-mdns tests.

Standard library only. Needs root. Every host has

  - its own network namespace with one veth named eth0, plugged into a bridge
    that lives in a separate "switch" namespace (nothing is added to the root
    namespace: no bridge, no veth, no address, no route);
  - an address in a private /24 of 10.77.0.0/16 chosen per run (a lock file
    keeps concurrent runs apart; the namespaces have no default route, so no
    packet can leave them except over the bridge to the other hosts);
  - a route 224.0.0.0/4 dev eth0 so multicast (mDNS) leaves by eth0;
  - its own mount and UTS namespaces: a per-host directory bind-mounted over
    /run, and its own hostname. One long-lived anchor process per host
    (`sleep infinity`) holds these namespaces; every command for the host
    enters them with `nsenter -t ANCHOR -n -m -u`, so it sees the same /run;
  - optionally its own D-Bus system bus and a real avahi-daemon, both run in
    the foreground as our children with their output captured to log files.

Everything is cleaned up (processes killed, namespaces deleted, temporary
directory removed) on success, failure, exception, SIGINT, SIGTERM and SIGHUP.
A janitor process in its own session repeats the cleanup if this process dies
without doing it (meson's timeout sends SIGTERM, then SIGKILL 0.5 s later).

Typical use:

    import lan
    def main(args):
        with lan.Lan(2) as net:
            h1, h2 = net.hosts
            h1.spawn(['avahi-publish', '-s', 'x', '_distcc._tcp', '3632'])
            b = h2.browse('_distcc._tcp')
            b.wait_for('x', timeout=5)
    lan.run_test(main)      # exit 0 pass, 1 fail, 77 skip

Interactive: `sudo python3 tests/lan/lan.py --shell 3` builds a LAN of three
hosts, prints how to enter them, and tears it down on Ctrl-C.
`python3 tests/lan/lan.py --cleanup-stale` removes what a killed run left.

The harness is split by concern; this module re-exports their names so that
`import lan` is all a test needs:

  lan_proc.py     errors, note, wait_until, Proc (processes and polling)
  lan_netns.py    the per-run subnet, the switch and bridge, host namespaces
  lan_cleanup.py  teardown, the janitor, --cleanup-stale
  lan_avahi.py    per-host D-Bus and avahi-daemon; stock avahi-browse/publish
  lan_distcc.py   distccd and the stock distcc client on a host
  lan_host.py     Host: namespaces, run/spawn/kill, links, sockets
  lan_net.py      Lan: the switch and its hosts, built and torn down as one
  lan_runner.py   run_test (exit 0/1/77) and the signal handling
"""

import signal
import sys

from lan_avahi import Browse
from lan_cleanup import cleanup_stale, janitor, teardown
from lan_host import PASS_ENV, Host
from lan_net import Lan
from lan_netns import (NS_PREFIX, PATH, SUPERNET, TMP_PREFIX, TOOLS, check_environment,
                       netns_exists, netns_pids)
from lan_proc import Interrupted, LanError, ProcessDied, Proc, Skip, Timeout, note, wait_until
from lan_proc import sh as _sh     # the old private name, used by bench/lan/build_bench.py
from lan_runner import SKIP, install_signal_handlers, run_test

__all__ = ['Browse', 'Host', 'Interrupted', 'Lan', 'LanError', 'NS_PREFIX', 'PASS_ENV', 'PATH',
           'ProcessDied', 'Proc', 'SKIP', 'SUPERNET', 'Skip', 'TMP_PREFIX', 'TOOLS', 'Timeout',
           '_sh', 'check_environment', 'install_signal_handlers', 'netns_exists', 'netns_pids',
           'note', 'run_test', 'teardown', 'wait_until']


def _shell(n):
    def main(_):
        with Lan(n) as net:
            for h in net.hosts:
                print(f'{h.name} {h.ip}: nsenter -t {h.anchor_pid} -n -m -u -- bash')
            print('Ctrl-C tears the LAN down.', flush=True)
            signal.pause()
    run_test(main, [])


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--janitor':
        janitor(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == '--cleanup-stale':
        cleanup_stale()
    elif len(sys.argv) in (2, 3) and sys.argv[1] == '--shell':
        _shell(int(sys.argv[2]) if len(sys.argv) == 3 else 2)
    else:
        print(__doc__)
        sys.exit(2)
