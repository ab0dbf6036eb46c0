#!/usr/bin/env python3
"""lan-users: one system daemon serves every local user of a machine.

h1 and h2 are servers (distccd with 4 slots, distcc-mdnsd), h3 is a client
whose root daemon serves /run/distcc-mdns/socket (the host's own /run), all
three with one gossip key; h4 runs a daemon with another key. Ordinary
users on h3 run the real distcc-mdns-hosts under setpriv.

Asserted:
  (a) uid 65534's `distcc-mdns-hosts --status` (no daemon of its own) is
      answered by the system socket: it says "answered by
      /run/distcc-mdns/socket (distcc-mdnsd running as root)", the line
      comes from the daemon and lists h1 and h2 alive by gossip. Given a
      socket that does not exist, it exits 1 naming it, instead of
      browsing; with a socket directory it may not enter, it says
      "permission denied" (given, exit 1; in the order, a warning, and the
      system socket still answers);
  (b) two uids (65534 and 65533) querying h3's daemon at once each get
      about half of the 8 remote slots (3 to 5, together at most 9), while
      one of them alone gets all 8; when both print a line (which reserves),
      h2 sees h3's reservations as both lines' together;
  (c) h3's --status reports h4's datagrams: "N datagrams from H4
      failed authentication: different key?";
  (d) --set-state on h1's daemon (--admin-group=daemon): uid 1 (daemon,
      a member) drains h1, uid 65534 is refused with a reply naming who may,
      and exits 1.
Figures: the split each user got, the time to the key-mismatch report.
"""

import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

SLOTS = 4
USER_A, USER_B = 65534, 65533
ADMIN = 1  # Debian's "daemon" user, primary group "daemon"


def user_env(host, extra=None):
    """An ordinary user's environment on host: no XDG_RUNTIME_DIR, so its
    own daemon would be /tmp/distcc-mdns-UID/socket (absent)."""
    env = {'HOME': '/nonexistent', 'DISTCC_DIR': None, 'USER': None, 'LOGNAME': None,
           'STATE_DIRECTORY': None, 'XDG_RUNTIME_DIR': None, 'DISTCC_MDNS_SOCKET': None,
           'DISTCC_HOSTS': None}
    env.update(extra or {})
    return env


def as_user(uid, argv):
    return ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups'] + [str(a) for a in argv]


def run_as(host, uid, argv, env=None, timeout=20):
    return host.run(as_user(uid, argv), check=False, timeout=timeout, env=user_env(host, env))


def remote_slots(reply, servers):
    return sum(s['limit'] for s in reply['servers'] if s.get('address') in servers and s.get('excluded') is None)


def part_a(cli, bins, servers, daemons):
    def status():
        r = run_as(cli, USER_A, [bins.hosts, '--status'])
        assert r.returncode == 0, f'--status as uid {USER_A} exited {r.returncode}: {r.stderr}'
        out = r.stdout
        rows = out.splitlines()
        if all(any(f' {ip} ' in row and ' alive ' in row for row in rows) for ip in servers):
            return out
        return None
    out = lan.wait_until(status, 10, 0.2, what=f'uid {USER_A} --status listing {servers} alive',
                         watch=daemons)
    dm.note(f'uid {USER_A} --status:\n{out}')
    assert 'answered by /run/distcc-mdns/socket (distcc-mdnsd running as root)' in out, \
        f'--status does not say the system daemon answered: {out}'
    assert re.search(r'^line \(daemon\): ', out, re.M), f'the line did not come from the daemon: {out}'
    for ip in servers:
        assert ip in out.split('line (daemon):', 1)[1].splitlines()[0], f'{ip} not in the line: {out}'

    # An explicit socket that does not answer is an error, not browsing.
    t0 = time.monotonic()
    r = run_as(cli, USER_A, [bins.hosts, '--socket=/run/none/socket', '--wait=5'])
    dt = time.monotonic() - t0
    assert r.returncode == 1, f'a missing --socket exited {r.returncode}: {r.stdout} {r.stderr}'
    assert '/run/none/socket' in r.stderr and 'missing' in r.stderr, f'unclear error: {r.stderr!r}'
    assert not r.stdout.strip(), f'a line was printed for a missing --socket: {r.stdout!r}'
    assert dt < 4, f'it browsed ({dt:.1f}s) instead of failing'
    r = run_as(cli, USER_A, [bins.hosts, '--status'], env={'DISTCC_MDNS_SOCKET': '/run/none/socket'})
    assert r.returncode == 1, f'a missing DISTCC_MDNS_SOCKET exited {r.returncode}'

    # In the order, a place the user may not look into is "permission
    # denied" (warned), and the next place still answers.
    xdg = cli.path('/run/xdg-65534')
    os.makedirs(os.path.join(xdg, 'distcc-mdns'), exist_ok=True)
    os.chmod(os.path.join(xdg, 'distcc-mdns'), 0o700)
    r = run_as(cli, USER_A, [bins.hosts, '--status'], env={'XDG_RUNTIME_DIR': '/run/xdg-65534'})
    assert r.returncode == 0, r.stderr
    assert '/run/xdg-65534/distcc-mdns/socket: permission denied' in r.stderr, \
        f'the unreachable own socket was not reported: {r.stderr!r}'
    assert 'answered by /run/distcc-mdns/socket' in r.stdout, r.stdout

    # A socket the user may not reach is "permission denied", not "no daemon".
    private = cli.path('/run/private')
    os.makedirs(private, mode=0o700, exist_ok=True)
    os.chmod(private, 0o700)
    d = dm.start_mdnsd(cli, bins, '--no-gossip', advertise='no', sock='/run/private/socket',
                       name='private-daemon')
    try:
        r = run_as(cli, USER_A, [bins.hosts, '--socket=/run/private/socket'])
        assert r.returncode == 1, f'an unreachable --socket exited {r.returncode}'
        assert 'permission denied' in r.stderr, f'not reported as permission denied: {r.stderr!r}'
    finally:
        dm.stop_mdnsd(d)


def look(cli, bins, uids):
    """Every uid in uids runs distcc-mdns-hosts --json at once; their views."""
    procs = {uid: subprocess.Popen(cli.argv(as_user(uid, [bins.hosts, '--json'])), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=cli.env(user_env(cli)))
             for uid in uids}
    views = {}
    for uid, p in procs.items():
        out, err = p.communicate(timeout=20)
        assert p.returncode == 0, f'uid {uid} --json exited {p.returncode}: {err}'
        views[uid] = json.loads(out)
        assert views[uid]['source'] == 'daemon', f'uid {uid} was not answered by the daemon: {err}'
    return views


def part_b(cli, bins, servers, daemons):
    farm = SLOTS * len(servers)
    # Alone (root's polls above count for 5 s only): all of it.
    alone = lan.wait_until(lambda: (v := look(cli, bins, [USER_A])[USER_A]) and remote_slots(v, servers) == farm
                           and v, 12, 0.3, what=f'uid {USER_A} alone getting all {farm} remote slots',
                           watch=daemons)
    figure('users.alone_slots', remote_slots(alone, servers), 'slots')

    # Both at once: from the second round on each counts the other.
    seen = []
    for _ in range(6):
        views = look(cli, bins, [USER_A, USER_B])
        seen.append({uid: remote_slots(v, servers) for uid, v in views.items()})
    dm.note(f'remote slots per round (uid {USER_A}, uid {USER_B}): '
            f'{[(s[USER_A], s[USER_B]) for s in seen]}')
    for s in seen[1:]:
        for uid in (USER_A, USER_B):
            assert 3 <= s[uid] <= 5, f'uid {uid} got {s[uid]} of {farm} remote slots with two users: {seen}'
        assert s[USER_A] + s[USER_B] <= farm + 1, f'the two users got more than the farm: {seen}'
    figure('users.two_users_slots_a', seen[-1][USER_A], 'slots')
    figure('users.two_users_slots_b', seen[-1][USER_B], 'slots')


def part_b_reserve(cli, peer, bins, servers, daemons):
    """Both users print a line (which reserves) at once: the other machines
    see h3's reservations as both users' together, not the last one's."""
    procs = {uid: subprocess.Popen(cli.argv(as_user(uid, [bins.hosts])), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=cli.env(user_env(cli)))
             for uid in (USER_A, USER_B)}
    t0 = time.monotonic()
    handed = 0
    for uid, p in procs.items():
        out, err = p.communicate(timeout=20)
        assert p.returncode == 0, f'uid {uid} exited {p.returncode}: {err}'
        handed += sum(h['limit'] for h in dm.parse_line(out.strip()) if h['host'] in servers)
    assert handed >= 6, f'the two lines listed {handed} remote slots'

    def reserved():
        r = dm.hosts_query(peer)
        total = sum(s['reserved'] for s in r['servers'] if s.get('address') in servers)
        return total if total >= handed else None
    total = lan.wait_until(reserved, 2.5, 0.05, what=f'{peer.name} seeing both users\' {handed} reserved jobs',
                           watch=daemons)
    figure('users.both_reservations_seen', time.monotonic() - t0, 's')
    dm.note(f'{peer.name} sees {total} jobs reserved by h3 for two lines of {handed} remote slots')


def part_c(cli, bins, other, daemons, t_start):
    pattern = re.compile(rf'^(\d+) datagrams? from {re.escape(other.ip)} failed authentication: different key\?',
                         re.M)

    def reported():
        r = run_as(cli, USER_A, [bins.hosts, '--status'])
        m = pattern.search(r.stdout)
        return (m, r.stdout) if m else None
    m, out = lan.wait_until(reported, 15, 0.3, what=f'{cli.name} --status reporting {other.ip}', watch=daemons)
    figure('users.key_mismatch_reported', time.monotonic() - t_start, 's')
    assert int(m.group(1)) > 0
    dm.note(f'key mismatch line: {m.group(0)!r}')
    log = daemons[2].log()
    assert f'a datagram from {other.ip} failed authentication' in log, 'no warning in the log'
    assert log.count(f'a datagram from {other.ip} failed authentication') == 1, 'warned more than once'


def part_d(srv, cli, bins, daemons):
    r = run_as(srv, USER_A, [bins.hosts, '--set-state=drain'])
    assert r.returncode == 1, f'uid {USER_A} --set-state exited {r.returncode}: {r.stdout} {r.stderr}'
    assert 'members of group daemon' in r.stderr and f'uid {USER_A} may not' in r.stderr, \
        f'unclear refusal: {r.stderr!r}'
    r = run_as(srv, ADMIN, [bins.hosts, '--set-state=drain'])
    assert r.returncode == 0, f'uid {ADMIN} (group daemon) --set-state exited {r.returncode}: {r.stderr}'
    assert r.stdout.strip() == 'state: drain', r.stdout
    dm.wait_listed(cli, bins, srv.ip, 10, present=False, watch=daemons)
    r = srv.run([bins.hosts, '--set-state=up'], check=False)
    assert r.returncode == 0, r.stderr


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(4) as net:
        s1, s2, cli, other = net.hosts
        servers = [s1.ip, s2.ip]
        key = s1.run([bins.mdnsd, '--generate-key']).stdout
        key2 = s1.run([bins.mdnsd, '--generate-key']).stdout
        daemons = []
        for s in (s1, s2):
            s.start_distccd(jobs=SLOTS)
        for h in (s1, s2, cli):
            path = h.write('gossip.key', key, 0o600)
            extra = ['--admin-group=daemon'] if h is s1 else []
            daemons.append(dm.start_mdnsd(h, bins, f'--key-file={path}', *extra))
        t_other = time.monotonic()
        daemons.append(dm.start_mdnsd(other, bins, f'--key-file={other.write("gossip.key", key2, 0o600)}'))
        for ip in servers:
            dm.wait_listed(cli, bins, ip, 10, watch=daemons)

        part_a(cli, bins, servers, daemons)
        part_b(cli, bins, servers, daemons)
        part_b_reserve(cli, s2, bins, servers, daemons)
        part_c(cli, bins, other, daemons, t_other)
        part_d(s1, cli, bins, daemons)


if __name__ == '__main__':
    lan.run_test(main)
