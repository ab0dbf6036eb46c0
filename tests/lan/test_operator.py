#!/usr/bin/env python3
"""lan-operator: README.md's operator section, followed block by block on a 2-host LAN.

The commands come from README.md's code blocks marked `<!-- operator:NAME -->`,
so the README cannot drift from what is tested: every command of those blocks
must be one this script knows how to carry out here, or the test fails. What
"here" changes, and nothing else:
  - install: `meson install` into a DESTDIR under the test's directory (the
    test's own build tree, already built: `meson setup`/`compile` are
    checked for their arguments only), never into the real /usr;
    `systemd-sysusers` into a test root seeded with this machine's
    passwd/group, bind-mounted over /etc/passwd and /etc/group in each
    host's mount namespace; `systemctl daemon-reload` becomes
    `systemd-analyze verify` of the installed unit;
  - /etc/distcc-mdns, /etc/default/* and /var/lib live in the test root;
  - `systemctl restart distcc` runs Debian's /etc/init.d/distcc with the
    README's /etc/default/distcc lines (ALLOWEDNETS: the LAN's subnet for
    the README's example network); `systemctl enable --now distcc-mdnsd`
    starts the installed unit as systemd would (unit_run.py: its user, a
    masked /home, $CREDENTIALS_DIRECTORY with the key, $STATE_DIRECTORY,
    $DISTCC_MDNS_OPTS from the options file);
  - the user blocks run as uid 65534 on h2 with the installed binaries first
    on PATH.
h1 is a server, h2 a client (its /etc/default/distcc keeps Debian's
STARTDISTCC="false"). Asserts: both daemons run as distcc-mdns with the key
from the credential, h1 is advertised and alive in h2's gossip view with
authenticated datagrams, the user's --setup-user links ~/.distcc/hosts to
the daemon's file for uid 65534, --status shows h1, and the README's make
lines compile every unit, on h2's own cores or on h1, some on h1: under
distcc-mdns-run (its lease to the unit's daemon, running as distcc-mdns,
over the system socket; its line names h1) and with a fixed -j.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
import unit_run  # noqa: E402
from dmtest import figure  # noqa: E402
from lan import note, wait_until  # noqa: E402

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'README.md')
BLOCKS = ('install', 'key', 'options', 'distcc-default', 'start', 'user', 'check')
NOBODY = 65534
EXAMPLE_NET = '192.168.1.0/24'


def readme_blocks():
    """{name: [command lines]} of README.md's operator blocks."""
    with open(README) as f:
        text = f.read()
    blocks = {}
    for m in re.finditer(r'<!-- operator:([\w-]+) -->\n```sh\n(.*?)```', text, re.S):
        lines = [ln.strip() for ln in m.group(2).splitlines()]
        blocks[m.group(1)] = [ln for ln in lines if ln and not ln.startswith('#')]
    missing = [b for b in BLOCKS if b not in blocks]
    assert not missing, f'README.md lacks the operator blocks {missing}'
    extra = set(blocks) - set(BLOCKS)
    assert not extra, f'README.md has operator blocks this test does not run: {sorted(extra)}'
    return blocks


def find(dest, pattern):
    """The one installed file under dest whose path ends with pattern."""
    hits = []
    for d, _, files in os.walk(dest):
        for f in files:
            p = os.path.join(d, f)
            if p.endswith(pattern):
                hits.append(p)
    assert len(hits) == 1, f'installed {pattern}: {hits}'
    return hits[0]


class Operator:
    """Carries out README commands on the LAN, each mapped as the docstring says."""

    def __init__(self, net, bins, build):
        self.net, self.bins, self.build = net, bins, build
        self.dir = os.path.join(net.tmpdir, 'operator')
        self.dest = os.path.join(self.dir, 'destdir')
        self.root = os.path.join(self.dir, 'root')
        os.makedirs(os.path.join(self.root, 'etc'), exist_ok=True)
        os.makedirs(os.path.join(self.root, 'var/lib'), exist_ok=True)
        self.runs = {}

    def unknown(self, cmd):
        raise AssertionError(f'README operator command {cmd!r} is not one test_operator.py '
                             f'knows how to run: update the test with the README')

    # -- install
    def install(self, cmd):
        argv = shlex.split(cmd)
        if argv[:2] == ['meson', 'setup']:
            assert 'build' in argv and any(a.startswith('--prefix=') for a in argv), cmd
            note(f'operator: {cmd}: using the test\'s configured build tree {self.build}')
        elif argv[:2] == ['meson', 'compile']:
            note(f'operator: {cmd}: the build tree is built already')
        elif argv[:2] == ['meson', 'install']:
            r = subprocess.run(['meson', 'install', '-C', self.build, '--no-rebuild', '--quiet',
                                '--destdir', self.dest], capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, f'meson install: {r.stdout} {r.stderr}'
            self.unit = find(self.dest, '/lib/systemd/system/distcc-mdnsd.service')
            self.sysusers = find(self.dest, '/lib/sysusers.d/distcc-mdns.conf')
            self.mdnsd = find(self.dest, '/sbin/distcc-mdnsd')
            self.hosts_bin = find(self.dest, '/bin/distcc-mdns-hosts')
            self.example = find(self.dest, '/doc/distcc-mdns/examples/distcc-mdns.default')
        elif argv[0] == 'systemd-sysusers':
            assert argv[1:] == [os.path.basename(self.sysusers)], cmd
            for f in ('passwd', 'group', 'shadow', 'gshadow'):
                if os.path.exists(f'/etc/{f}'):
                    shutil.copy2(f'/etc/{f}', os.path.join(self.root, 'etc', f))
            # The README names the file, which systemd-sysusers looks up in
            # the sysusers.d directories: the installed one, under the root.
            in_root = os.path.join(self.root, self.sysusers[len(self.dest):].lstrip('/'))
            os.makedirs(os.path.dirname(in_root), exist_ok=True)
            shutil.copy(self.sysusers, in_root)
            r = subprocess.run(['systemd-sysusers', f'--root={self.root}'] + argv[1:],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, f'systemd-sysusers: {r.stderr}'
            for h in self.net.hosts:
                for f in ('passwd', 'group'):
                    h.run(['mount', '--bind', os.path.join(self.root, 'etc', f), f'/etc/{f}'])
        elif argv[:2] == ['systemctl', 'daemon-reload']:
            self.verify()
        else:
            self.unknown(cmd)

    def verify(self):
        if not shutil.which('systemd-analyze'):
            note('operator: systemd-analyze missing: the unit is not verified here')
            return
        copy = os.path.join(self.dir, 'verify', os.path.basename(self.unit))
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        with open(self.unit) as f:
            text = f.read()
        # The unit names the final path of the binary; here it is under DESTDIR.
        prefix_sbin = os.path.dirname(self.mdnsd)[len(self.dest):]
        with open(copy, 'w') as f:
            f.write(text.replace(prefix_sbin + '/', os.path.dirname(self.mdnsd) + '/'))
        man = os.path.join(os.path.dirname(os.path.dirname(self.mdnsd)), 'share', 'man')
        r = subprocess.run(['systemd-analyze', 'verify', copy], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, MANPATH=man))
        assert r.returncode == 0 and not r.stderr.strip(), (
            f'systemd-analyze verify: {r.returncode} {r.stdout} {r.stderr}')

    # -- key, options
    def key(self, cmd):
        argv = shlex.split(cmd)
        if argv[:2] == ['mkdir', '-p']:
            os.makedirs(self.root + argv[2], exist_ok=True)
        elif argv[0] == 'distcc-mdnsd' and argv[1].startswith('--generate-key='):
            path = self.root + argv[1].split('=', 1)[1]
            r = subprocess.run([self.mdnsd, f'--generate-key={path}'], capture_output=True,
                               text=True, timeout=10)
            assert r.returncode == 0, f'{cmd}: {r.stderr}'
            st = os.stat(path)
            assert st.st_mode & 0o777 == 0o600, f'{path} has mode {st.st_mode & 0o777:o}'
            self.key_path = path
        else:
            self.unknown(cmd)

    def options(self, cmd):
        argv = shlex.split(cmd)
        if argv[0] != 'cp' or not argv[1].endswith('/distcc-mdns.default'):
            self.unknown(cmd)
        target = self.root + argv[2]
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy(self.example, target)
        # What an operator edits: -v, and one speed for hosts sharing CPUs.
        with open(target) as f:
            text = f.read()
        assert re.search(r'^DISTCC_MDNS_OPTS=""$', text, re.M), f'{target}: no DISTCC_MDNS_OPTS line'
        with open(target, 'w') as f:
            f.write(re.sub(r'^DISTCC_MDNS_OPTS=""$', 'DISTCC_MDNS_OPTS="-v --speed=1"', text,
                           flags=re.M))

    def distcc_default(self, lines):
        with open('/etc/default/distcc') as f:
            text = f.read()
        for line in lines:
            key, _, value = line.partition('=')
            assert re.fullmatch(r'[A-Z]+', key) and value.startswith('"'), line
            value = value.replace(EXAMPLE_NET, str(self.net.subnet))
            text, n = re.subn(rf'^{key}=.*$', f'{key}={value}', text, flags=re.M)
            assert n == 1, f'{key} is not in Debian\'s /etc/default/distcc'
        self.server_default = os.path.join(self.dir, 'distcc.default')
        with open(self.server_default, 'w') as f:
            f.write(text)

    # -- start
    def start(self, cmd, host, server):
        argv = shlex.split(cmd)
        if argv == ['systemctl', 'restart', 'distcc']:
            logdir = os.path.join(self.dir, f'log-{host.name}')
            os.makedirs(logdir, exist_ok=True)
            os.chmod(logdir, 0o1777)
            host.run(['mount', '--bind', logdir, '/var/log'])
            if server:
                host.run(['mount', '--bind', self.server_default, '/etc/default/distcc'])
            host.run(['/etc/init.d/distcc', 'restart'], env={'TMPDIR': None})
            if server:
                wait_until(lambda: host.listening(3632), 10, 0.05, what=f'{host.name}: distccd on 3632')
        elif argv == ['systemctl', 'enable', '--now', 'distcc-mdnsd']:
            self.runs[host.name] = unit_run.start(host, self.unit, self.root, self.dest,
                                                  name='distcc-mdnsd')
        else:
            self.unknown(cmd)

    # -- a user's commands on h2
    def user_env(self, host):
        home = os.path.join(host.dir, 'nobody-home')
        os.makedirs(home, exist_ok=True)
        os.chown(home, NOBODY, NOBODY)
        bindirs = ':'.join(sorted({os.path.dirname(self.hosts_bin), os.path.dirname(self.mdnsd)}))
        return home, {'HOME': home, 'USER': 'nobody', 'LOGNAME': 'nobody', 'DISTCC_DIR': None,
                      'XDG_RUNTIME_DIR': None, 'DISTCC_MDNS_SOCKET': None, 'DISTCC_HOSTS': None,
                      'STATE_DIRECTORY': None,
                      'PATH': f'{bindirs}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'}

    def as_user(self, host, cmd, cwd=None, timeout=60):
        home, env = self.user_env(host)
        r = host.run(['setpriv', f'--reuid={NOBODY}', f'--regid={NOBODY}', '--clear-groups',
                      'sh', '-c', cmd], env=env, cwd=cwd or home, check=False, timeout=timeout)
        note(f'operator: {host.name} as uid {NOBODY}: {cmd} -> {r.returncode}\n{r.stdout}{r.stderr}')
        return r


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    build = os.path.dirname(os.path.dirname(os.path.dirname(bins.mdnsd)))
    if not os.path.isdir(os.path.join(build, 'meson-private')):
        print(f'SKIP: {bins.mdnsd} is not in a meson build tree: nothing to install', flush=True)
        sys.exit(77)
    if not os.path.exists('/etc/init.d/distcc'):
        print('SKIP: Debian\'s distcc package (/etc/init.d/distcc) is not installed', flush=True)
        sys.exit(77)
    blocks = readme_blocks()
    with lan.Lan(2) as net:
        h1, h2 = net.hosts
        op = Operator(net, bins, build)
        for cmd in blocks['install']:
            op.install(cmd)
        for cmd in blocks['key']:
            op.key(cmd)
        for cmd in blocks['options']:
            op.options(cmd)
        op.distcc_default(blocks['distcc-default'])
        for host, server in ((h1, True), (h2, False)):
            for cmd in blocks['start']:
                op.start(cmd, host, server)
        d1, d2 = op.runs['h1'].proc, op.runs['h2'].proc
        daemons = [d1, d2]
        for host in (h1, h2):
            wait_until(lambda: dm.query(host, {'op': 'hosts'}).get('ok')
                       if os.path.exists(dm.socket_path(host)) else False,
                       10, 0.05, what=f'{host.name}: the unit\'s daemon answering', watch=daemons)

        # As the unit runs it: its user, the key from the credential, its state.
        uid = op.runs['h1'].uid
        for p in daemons:
            with open(f'/proc/{p.pid}/status') as f:
                uids = re.search(r'^Uid:\s+(\d+)', f.read(), re.M).group(1)
            assert int(uids) == uid, f'{p.name} runs as uid {uids}, not distcc-mdns ({uid})'
            assert re.search(r'gossip on udp port 3632 as node \w+, authenticated', p.log()), (
                f'the daemon did not take the key from $CREDENTIALS_DIRECTORY:\n{p.tail(20)}')
        assert os.listdir(op.runs['h1'].state_dir), 'nothing in $STATE_DIRECTORY'
        assert os.stat(dm.socket_path(h1)).st_uid == uid
        assert os.stat(os.path.dirname(dm.socket_path(h1))).st_mode & 0o777 == 0o755

        # h1 is advertised and alive in h2's view, by authenticated gossip.
        wait_until(lambda: dm.all_alive(h2, [h1.ip]), 15, 0.1, what='h1 alive at h2',
                   watch=daemons)
        g = dm.gossip_stats(h2)
        assert g['keys'] == 1 and g['accepted'] > 0, f'h2 gossip: {g}'
        assert g['unauthenticated'] == 0, f'h2 refused datagrams: {g}'

        # The user's one-time setup and the check, as uid 65534 on h2.
        home, _ = op.user_env(h2)
        for cmd in blocks['user']:
            r = op.as_user(h2, cmd)
            assert r.returncode == 0, (
                f'{cmd!r} failed ({r.returncode}): {r.stderr.strip()}. distcc-mdns-hosts '
                f'--setup-user comes with issue 16\'s per-uid hosts files (engineer "files"); '
                f'without it this step cannot pass')
        link = os.path.join(home, '.distcc', 'hosts')
        assert os.path.islink(link), f'{link} is not a link after --setup-user'
        target = os.readlink(link)
        assert target == '/run/distcc-mdns/users/65534/hosts', f'{link} -> {target}'
        wait_until(lambda: h1.ip in open(h2.path(target)).read(), 10, 0.1,
                   what='h1 in the user\'s hosts file', watch=daemons)

        src = os.path.join(home, 'src')
        os.makedirs(src, exist_ok=True)
        units = [f'u{i}' for i in range(8)]
        for u in units:
            with open(os.path.join(src, f'{u}.c'), 'w') as f:
                f.write(f'int {u}(int x) {{ return x * {len(u)}; }}\n')
        with open(os.path.join(src, 'Makefile'), 'w') as f:
            f.write('all: ' + ' '.join(f'{u}.o' for u in units) + '\n'
                    '%.o: %.c\n\t$(CC) -c $< -o $@\n')
        os.chown(src, NOBODY, NOBODY)
        for name in os.listdir(src):
            os.chown(os.path.join(src, name), NOBODY, NOBODY)
        def clean():
            for name in os.listdir(src):
                if name.endswith('.o'):
                    os.unlink(os.path.join(src, name))
            # A build that just ended leaves h1 busy in its load sample
            # for a moment, and the line may leave it out then: each build
            # starts once the daemon lists h1 for the user again.
            wait_until(lambda: h1.ip in open(h2.path(target)).read(), 10, 0.1,
                       what='h1 in the user\'s hosts file before a build', watch=daemons)

        for cmd in blocks['check']:
            if cmd.startswith('distcc-mdns-run '):
                # The runner's lease goes to the unit's daemon (running as
                # distcc-mdns, not root) over the system socket; its build
                # reads its own hosts file, not the user's link.
                clean()
                r = op.as_user(h2, 'DISTCC_VERBOSE=1 DISTCC_FALLBACK=0 ' + cmd.replace('distcc-mdns-run ', 'distcc-mdns-run --verbose ', 1),
                               cwd=src, timeout=120)
                assert r.returncode == 0, f'{cmd}: {r.stderr[-2000:]}'
                assert 'no distcc-mdnsd answers' not in r.stderr, f'{cmd}: no daemon: {r.stderr[-2000:]}'
                # --verbose logs each token count with the line the unit's
                # daemon gave: h1 in it.
                assert re.search(rf'distcc-mdns-run: \d+ tokens: .*{re.escape(h1.ip)}/', r.stderr), \
                    f'{cmd}: no line from the daemon naming h1: {r.stderr[-2000:]}'
                done = dict(re.findall(r'compile (\S+\.c) on (\S+) completed ok', r.stderr))
                remote = sorted(u for u, where in done.items() if where.startswith(h1.ip))
                figure('operator.run_units_on_h1', len(remote), f'of {len(units)}')
                assert set(done) == {f'{u}.c' for u in units}, f'units not compiled: {done}'
                assert remote, f'no unit compiled on h1 under the runner: {done}\n{r.stderr[-3000:]}'
            elif cmd.startswith('make '):
                clean()
                r = op.as_user(h2, 'DISTCC_VERBOSE=1 DISTCC_FALLBACK=0 ' + cmd, cwd=src, timeout=120)
                assert r.returncode == 0, f'{cmd}: {r.stderr[-2000:]}'
                # The line puts h2's own cores first (localhost/N): the
                # rest of a -j burst goes to h1.
                done = dict(re.findall(r'compile (\S+\.c) on (\S+) completed ok', r.stderr))
                remote = sorted(u for u, where in done.items() if where.startswith(h1.ip))
                figure('operator.units_on_h1', len(remote), f'of {len(units)}')
                assert set(done) == {f'{u}.c' for u in units}, f'units not compiled: {done}'
                assert set(done.values()) <= {'localhost'} | {w for w in done.values()
                                                              if w.startswith(h1.ip)}, done
                assert remote, f'no unit compiled on h1: {done}\n{r.stderr[-3000:]}'
            elif cmd == 'distcc-mdns-hosts --status':
                r = op.as_user(h2, cmd)
                assert r.returncode == 0 and h1.ip in r.stdout, f'--status: {r.stdout} {r.stderr}'
            else:
                op.unknown(cmd)
        for p in daemons:
            p.check_alive()


if __name__ == '__main__':
    lan.run_test(main)
