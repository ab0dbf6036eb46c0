#!/usr/bin/env python3
"""lan-per-user: a per-user daemon runs beside the machine's root daemon and never speaks for it.

h1 and h2 each run distccd and a root distcc-mdnsd. On h1, uid 65534 starts
its own distcc-mdnsd with no port or advertise option (issue 16 item 9).
Asserts that it starts (no "Address already in use"), gossips from a port
the kernel chose under a node id other than h1's, advertises nothing, and
that h2's daemon answers it there (it hears h2's server alive through
gossip), and h2's -v log shows it joining as a client. Then it stops: at
h2, h1's server stays in the line and never turns "left" over the next 3 s
(before issue 16 it shared h1's node id and its goodbye took h1's distccd
out for about 2 s).
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402
from lan import wait_until  # noqa: E402

NOBODY = 65534


def user_dirs(host):
    """A home, socket dir and state dir that uid 65534 owns on host."""
    base = os.path.join(host.dir, 'nobody')
    dirs = {k: os.path.join(base, k) for k in ('home', 'run', 'state')}
    for d in [base] + list(dirs.values()):
        os.makedirs(d, exist_ok=True)
        os.chown(d, NOBODY, NOBODY)
        os.chmod(d, 0o700)
    os.chmod(base, 0o755)
    return dirs


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        h1, h2 = net.hosts
        for h in net.hosts:
            h.start_distccd(jobs=2)
        d1 = dm.start_mdnsd(h1, bins, advertise='yes')
        d2 = dm.start_mdnsd(h2, bins, advertise='yes')
        root = [d1, d2]
        wait_until(lambda: dm.all_alive(h1, [h2.ip]) and dm.all_alive(h2, [h1.ip]), 15, 0.1,
                   what='both root daemons list both servers alive', watch=root)
        h1_node = dm.gossip_stats(h1)['node']

        # Watches h1's _distcc._tcp records from before the user's daemon starts.
        browse = h2.browse()
        browse.wait_for('distcc@h1', 5)

        # uid 65534's own daemon: only the options a user would give.
        dirs = user_dirs(h1)
        sock = os.path.join(dirs['run'], 'socket')
        env = {'HOME': dirs['home'], 'USER': 'nobody', 'LOGNAME': 'nobody',
               'STATE_DIRECTORY': None, 'XDG_RUNTIME_DIR': None}
        t0 = time.monotonic()
        user = h1.spawn(['setpriv', f'--reuid={NOBODY}', f'--regid={NOBODY}', '--clear-groups',
                         bins.mdnsd, '-v', '--speed=1', f'--socket={sock}',
                         f'--state-dir={dirs["state"]}'], name='distcc-mdnsd-user', env=env)

        def answering():
            try:
                return dm.query(h1, {'op': 'hosts'}, sock=sock, timeout=2).get('ok')
            except (OSError, ValueError):
                return False
        wait_until(answering, 10, 0.05, what='the per-user daemon answering', watch=[user] + root)
        figure('per_user.start_to_answering', time.monotonic() - t0, 's')
        log = user.log()
        assert 'Address already in use' not in log, f'per-user daemon hit the root one\'s port:\n{log}'
        assert 'per-user daemon of uid 65534' in log, f'not started as a per-user daemon:\n{log}'

        stats = dm.gossip_stats(h1, sock=sock)
        assert stats['port'] not in (0, 3632), f'per-user daemon gossips on {stats["port"]}'
        assert stats['node'] != h1_node, f'per-user daemon gossips as h1 itself ({h1_node})'
        figure('per_user.gossip_port', stats['port'], '')

        # h2 answers it at its own port: h2's server reaches it alive by gossip.
        def hears_h2():
            s = dm.live_server(dm.hosts_query(h1, sock=sock), h2.ip)
            return s is not None and s['age_ms'] is not None and s['age_ms'] < 2000
        wait_until(hears_h2, 10, 0.1, what='h2 alive through gossip at the per-user daemon',
                   watch=[user] + root)
        assert dm.gossip_stats(h1, sock=sock)['accepted'] > 0
        # -v at h2 names both nodes of h1 as they joined: the server, and
        # the per-user daemon as a client at its own port.
        d2.wait_log(re.escape(f'gossip peer {h1_node} at {h1.ip}:3632 joined'), 5)
        d2.wait_log(re.escape(f'gossip peer {stats["node"]} at {h1.ip}:{stats["port"]} joined '
                              f'(a client, no server)'), 10)

        # It advertises nothing: h1 is on mDNS once, by the root daemon (an
        # advertisement is seen within about a second, hears_h2 took longer).
        names = [n for n in browse.names() if n.startswith('distcc@h1')]
        browse.stop()
        assert names == ['distcc@h1'], f'h1 advertised by the per-user daemon too: {names}'

        # Its goodbye must not be h1's distccd leaving.
        dm.stop_mdnsd(user)
        dropped = []

        def h1_still_there():
            r = dm.hosts_query(h2)
            s = dm.find_server(r, h1.ip)
            if s is None or s.get('liveness') in ('left', 'dead') or h1.ip not in dm.line_hosts(r['line']):
                dropped.append(s)
        samples = dm.observe(3.0, h1_still_there, 0.02)
        figure('per_user.samples_after_stop', samples, '')
        assert not dropped and samples > 10, (
            f'after the per-user daemon stopped, h2 dropped h1 in {len(dropped)} of {samples} '
            f'samples: {dropped[:3]}')
        for p in root:
            p.check_alive()


if __name__ == '__main__':
    lan.run_test(main)
