#!/usr/bin/env python3
"""lan-setup-user: an ordinary user's build gets live picks from the root daemon, with no daemon of its own.

h1 is a server (distccd --jobs 16, distcc-mdnsd --cpus=16). h2 runs only
the system daemon, as root, on /run/distcc-mdns/socket. An ordinary user
(uid 65534, setpriv, HOME a directory of its own without ~/.distcc) runs
`distcc-mdns-hosts --setup-user`, which finds the system daemon by the
documented order, and then `make -j2 CC="distcc gcc"` with no DISTCC_HOSTS
and no DISTCC_DIR. Asserted: ~/.distcc is made (0755) and ~/.distcc/hosts
links to /run/distcc-mdns/users/65534/hosts, a file of the daemon's (mode
0644) listing h1; the uid is kept in the daemon's state directory; every
unit of the build compiles on h1 (DISTCC_FALLBACK=0: no silent local
compile); the user's file changes while the build runs (its distcc clients
are its demand and its connections its jobs in flight), and is back to
the idle line afterwards. A second --setup-user says there is nothing to do;
a hosts file of the user's own is left alone. Figures: the lines seen.
"""

import os
import shutil
import stat
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure, note  # noqa: E402

USER = 65534
UNITS = 12


def unit(i):
    """A unit that takes gcc -O2 a few tenths of a second (loops to unroll),
    so that the build outlasts the file's 1 s rewrites."""
    body = ''.join(f'  for (int k = 0; k < n; ++k) s += a[(k + {j}) % 7] * {(i + j) % 13 + 1};\n'
                   for j in range(80))
    return f'int u{i}(int *a, int n) {{\n  int s = 0;\n{body}  return s;\n}}\n'


def main(argv):
    lan.check_environment()
    if not shutil.which('setpriv'):
        raise lan.Skip('needs setpriv to act as an ordinary user')
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        os.chmod(net.tmpdir, 0o755)   # the user walks to its home and the binaries
        j1 = srv.start_distccd(jobs=16)
        watch = [dm.start_mdnsd(srv, bins, '--cpus=16')]
        watch.append(dm.start_mdnsd(cli, bins, advertise='no'))
        home = os.path.join(cli.dir, 'user')
        os.mkdir(home, 0o755)
        os.chown(home, USER, USER)
        proj = os.path.join(home, 'proj')
        os.mkdir(proj, 0o755)
        for i in range(UNITS):
            with open(os.path.join(proj, f'u{i}.c'), 'w') as f:
                f.write(unit(i))
        with open(os.path.join(proj, 'Makefile'), 'w') as f:
            f.write('all: ' + ' '.join(f'u{i}.o' for i in range(UNITS)) + '\n'
                    '%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n')
        for p in [proj] + [os.path.join(proj, n) for n in os.listdir(proj)]:
            os.chown(p, USER, USER)
        user_env = {'HOME': home, 'USER': 'nobody', 'LOGNAME': 'nobody', 'DISTCC_DIR': None,
                    'XDG_RUNTIME_DIR': None, 'DISTCC_HOSTS': None, 'DISTCC_MDNS_SOCKET': None}
        as_user = ['setpriv', f'--reuid={USER}', f'--regid={USER}', '--clear-groups']

        r = cli.run(as_user + [bins.hosts, '--setup-user'], env=user_env, check=False)
        assert r.returncode == 0, f'--setup-user failed ({r.returncode}): {r.stdout} {r.stderr}'
        note(f'--setup-user said: {r.stdout.strip()}')
        target = f'/run/distcc-mdns/users/{USER}/hosts'
        link = os.path.join(home, '.distcc', 'hosts')
        assert os.readlink(link) == target, f'{link} -> {os.readlink(link)}, not {target}'
        st = os.stat(os.path.join(home, '.distcc'))
        assert st.st_uid == USER and stat.S_IMODE(st.st_mode) == 0o755, 'bad ~/.distcc'
        assert 'To undo' in r.stdout, f'no way back told: {r.stdout!r}'
        theirs = cli.path(target)
        st = os.stat(theirs)
        assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644, f'{theirs}: {oct(st.st_mode)}'
        with open(os.path.join(cli.dir, 'state', 'users')) as f:
            assert f.read() == f'{USER}\n', 'the uid is not kept in the state directory'

        def line():
            with open(theirs) as f:
                text = f.read()
            assert text.endswith('\n') and text.count('\n') == 1, f'not one whole line: {text!r}'
            return text.strip()
        idle = lan.wait_until(lambda: (lambda t: t if srv.ip in dm.line_hosts(t) else None)(line()),
                              10, watch=watch, what=f'{srv.ip} in {theirs}')
        note(f'idle line: {idle!r}')

        build = cli.spawn(as_user + ['make', '-j2', 'CC=distcc gcc'], name='make', cwd=proj,
                          env=dict(user_env, DISTCC_VERBOSE='1', DISTCC_FALLBACK='0'))
        seen = [idle]

        def watch_file():
            text = line()
            if text != seen[-1]:
                seen.append(text)
            return not build.alive()
        lan.wait_until(watch_file, 80, 0.02, watch=watch, what='the build to end')
        assert build.returncode == 0, f'the build failed ({build.returncode}): {build.tail()}'
        remote = sorted(j['cmd'].split()[-1] for j in dm.distccd_jobs(j1)
                        if j['client'] == cli.ip and j['status'] == 'COMPILE_OK')
        figure('setup_user.units_remote', len(remote), 'units')
        assert remote == sorted(f'u{i}.c' for i in range(UNITS)), f'compiled on h1: {remote}'
        figure('setup_user.lines_during_build', len(seen), 'lines')
        note(f'lines seen: {seen}')
        assert len(seen) >= 2, f'the user\'s file never changed during the build: {seen}'
        lan.wait_until(lambda: line() == idle, 10, watch=watch, what='the idle line again')

        r = cli.run(as_user + [bins.hosts, '--setup-user'], env=user_env)
        assert 'nothing to do' in r.stdout, r.stdout
        # A file of the user's own is never replaced without --force.
        other = os.path.join(cli.dir, 'user2')
        os.makedirs(os.path.join(other, '.distcc'), 0o755)
        with open(os.path.join(other, '.distcc', 'hosts'), 'w') as f:
            f.write('mine/4\n')
        for p in (other, os.path.join(other, '.distcc'), os.path.join(other, '.distcc', 'hosts')):
            os.chown(p, USER, USER)
        r = cli.run(as_user + [bins.hosts, '--setup-user'], env=dict(user_env, HOME=other), check=False)
        assert r.returncode == 1 and '--force' in r.stderr, f'{r.returncode}: {r.stderr}'
        with open(os.path.join(other, '.distcc', 'hosts')) as f:
            assert f.read() == 'mine/4\n'


if __name__ == '__main__':
    lan.run_test(main)
