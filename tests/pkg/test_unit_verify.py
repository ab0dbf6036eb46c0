#!/usr/bin/env python3
"""unit-verify: the installed units pass `systemd-analyze verify` and keep the issue 16 contract.

Installs the build tree into a DESTDIR under a temporary directory (never the
real /usr), then: `systemd-analyze verify` of the system unit and (with a
private $XDG_RUNTIME_DIR) of the user unit, their ExecStart= pointed at the
DESTDIR copy of the binary and MANPATH at its man pages, with no warning at
all; systemd-sysusers creates the distcc-mdns user from the installed
sysusers.d file in a scratch root; the system unit runs as that fixed user
(no DynamicUser=), reads $DISTCC_MDNS_OPTS from the optional
/etc/default/distcc-mdns, loads the key as a credential with a default so a
missing key does not stop the unit, and keeps its sandbox; the example
options file is installed. Needs no root; exits 77 only without
systemd-analyze.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile


def find(dest, suffix):
    hits = [os.path.join(d, f) for d, _, files in os.walk(dest) for f in files
            if os.path.join(d, f).endswith(suffix)]
    assert len(hits) == 1, f'installed {suffix}: {hits}'
    return hits[0]


def verify(unit, dest, mdnsd, user=False, extra_env=None):
    """systemd-analyze verify of a copy of unit that runs the DESTDIR binary."""
    work = tempfile.mkdtemp(dir=dest)
    copy = os.path.join(work, os.path.basename(unit))
    final_sbin = os.path.dirname(mdnsd)[len(dest):]
    with open(unit) as f:
        text = f.read()
    assert final_sbin + '/distcc-mdnsd' in text, f'{unit} does not run {final_sbin}/distcc-mdnsd'
    with open(copy, 'w') as f:
        f.write(text.replace(final_sbin + '/', os.path.dirname(mdnsd) + '/'))
    env = dict(os.environ, MANPATH=os.path.join(os.path.dirname(os.path.dirname(mdnsd)), 'share', 'man'))
    env.update(extra_env or {})
    argv = ['systemd-analyze'] + (['--user'] if user else []) + ['verify', copy]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    print(f'{" ".join(argv)}: exit {r.returncode}{r.stdout}{r.stderr}', flush=True)
    assert r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), (
        f'systemd-analyze verify {os.path.basename(unit)} is not clean: {r.stdout}{r.stderr}')
    return text


def main(build):
    if not shutil.which('systemd-analyze'):
        print('SKIP: systemd-analyze is missing (Debian: systemd)', flush=True)
        return 77
    with tempfile.TemporaryDirectory(prefix='dmdns-unit-') as tmp:
        dest = os.path.join(tmp, 'destdir')
        r = subprocess.run(['meson', 'install', '-C', build, '--no-rebuild', '--quiet',
                            '--destdir', dest], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f'meson install: {r.stdout}{r.stderr}'
        mdnsd = find(dest, '/sbin/distcc-mdnsd')
        system = find(dest, '/lib/systemd/system/distcc-mdnsd.service')
        user = find(dest, '/lib/systemd/user/distcc-mdnsd-user.service')
        sysusers = find(dest, '/lib/sysusers.d/distcc-mdns.conf')
        example = find(dest, '/share/doc/distcc-mdns/examples/distcc-mdns.default')
        find(dest, '/share/man/man8/distcc-mdnsd.8')

        text = verify(system, dest, mdnsd)
        xdg = os.path.join(tmp, 'xdg')
        os.mkdir(xdg, 0o700)
        verify(user, dest, mdnsd, user=True, extra_env={'XDG_RUNTIME_DIR': xdg})

        settings = {}
        for line in text.splitlines():
            m = re.match(r'^(\w+)=(.*)$', line)
            if m:
                settings.setdefault(m.group(1), []).append(m.group(2))
        want = {
            'User': ['distcc-mdns'],
            'EnvironmentFile': ['-/etc/default/distcc-mdns'],
            'LoadCredential': ['gossip-key:/etc/distcc-mdns/key'],
            'SetCredential': ['gossip-key:\\n'],
            'RuntimeDirectory': ['distcc-mdns'], 'RuntimeDirectoryMode': ['0755'],
            'StateDirectory': ['distcc-mdns'],
            'ProtectHome': ['yes'], 'ProtectSystem': ['strict'], 'NoNewPrivileges': ['yes'],
        }
        for key, value in want.items():
            assert settings.get(key) == value, f'{key}= is {settings.get(key)}, want {value}'
        assert 'DynamicUser' not in settings, 'the unit must not use DynamicUser='
        assert settings['ExecStart'][0].endswith(
            'distcc-mdnsd --socket=/run/distcc-mdns/socket $DISTCC_MDNS_OPTS'), settings['ExecStart']

        root = os.path.join(tmp, 'root')
        os.makedirs(os.path.join(root, 'etc'))
        r = subprocess.run(['systemd-sysusers', f'--root={root}', sysusers], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, f'systemd-sysusers: {r.stderr}'
        with open(os.path.join(root, 'etc', 'passwd')) as f:
            users = [line.split(':') for line in f]
        assert any(u[0] == 'distcc-mdns' and 0 < int(u[2]) < 1000 for u in users), users

        with open(example) as f:
            assert re.search(r'^DISTCC_MDNS_OPTS=""$', f.read(), re.M), f'{example}: no DISTCC_MDNS_OPTS=""'
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1]))
    except AssertionError as e:
        print(f'FAIL: {e}', flush=True)
        sys.exit(1)
