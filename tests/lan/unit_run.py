"""A systemd system unit started on a virtual-LAN host as systemd would, without systemd as PID 1.

Reads the installed unit file and does what systemd 252 does for the
settings distcc-mdnsd.service uses: User=/Group= (uid and gid from the
test's passwd), EnvironmentFile= (optional with '-'), ExecStart= with $VAR
split into words and ${VAR} kept whole, LoadCredential= with its
SetCredential= default into $CREDENTIALS_DIRECTORY (mode 0400, owned by the
user), RuntimeDirectory=/StateDirectory= with their modes, and
ProtectHome=yes as an empty tmpfs over /home in the host's mount namespace.
A setting it does not know fails the test, so the unit cannot outgrow it.
Paths under /etc and /var/lib are read from the test's root directory
(`root`), and the installed files from the DESTDIR (`dest`).
"""

import os
import re
import shlex

# Settings that only restrict the process (systemd's sandbox): nothing to do
# here beyond ProtectHome, which the test makes visible.
SANDBOX = {'ProtectSystem', 'PrivateTmp', 'PrivateDevices', 'NoNewPrivileges',
           'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectControlGroups',
           'RestrictAddressFamilies', 'RestrictNamespaces', 'LockPersonality',
           'MemoryDenyWriteExecute', 'SystemCallArchitectures', 'Restart', 'RestartSec', 'Type'}
HANDLED = {'User', 'Group', 'EnvironmentFile', 'ExecStart', 'LoadCredential', 'SetCredential',
           'RuntimeDirectory', 'RuntimeDirectoryMode', 'StateDirectory', 'StateDirectoryMode',
           'ProtectHome'}


def parse_unit(path):
    """{section: {key: [values]}} of a unit file (no line continuations)."""
    sections, current = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in '#;':
                continue
            m = re.match(r'^\[(\w+)\]$', line)
            if m:
                current = sections.setdefault(m.group(1), {})
                continue
            key, _, value = line.partition('=')
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def read_env_file(path):
    """KEY=value lines of an EnvironmentFile= (quotes removed as systemd does)."""
    env = {}
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in '#;':
                continue
            key, _, value = line.partition('=')
            words = shlex.split(value, comments=False) if value else ['']
            env[key.strip()] = ' '.join(words)
    return env


def expand_exec(line, env):
    """ExecStart= words: $VAR splits into words, ${VAR} stays one."""
    out = []
    for word in shlex.split(line):
        m = re.fullmatch(r'\$(\w+)', word)
        if m:
            out.extend(env.get(m.group(1), '').split())
            continue
        out.append(re.sub(r'\$\{(\w+)\}', lambda mm: env.get(mm.group(1), ''), word))
    return out


def user_ids(root, name):
    with open(os.path.join(root, 'etc/passwd')) as f:
        for line in f:
            fields = line.rstrip('\n').split(':')
            if fields[0] == name:
                return int(fields[2]), int(fields[3]), fields[5]
    raise AssertionError(f'user {name} is not in {root}/etc/passwd: was systemd-sysusers run?')


def c_unescape(value):
    return value.encode().decode('unicode_escape')


class UnitRun:
    """What start() did: the Proc, the uid and the paths systemd would use."""

    def __init__(self, proc, uid, gid, argv, env, state_dir, creds_dir):
        self.proc, self.uid, self.gid = proc, uid, gid
        self.argv, self.env = argv, env
        self.state_dir, self.creds_dir = state_dir, creds_dir


def start(host, unit_path, root, dest, name='unit'):
    """Starts unit_path's ExecStart= on host as systemd would; returns a UnitRun."""
    service = parse_unit(unit_path)['Service']
    unknown = set(service) - SANDBOX - HANDLED
    assert not unknown, f'{unit_path}: unit_run.py does not know {sorted(unknown)}: teach it'
    one = {k: v[-1] for k, v in service.items()}
    uid, gid, home = user_ids(root, one['User'])
    env = {}
    for spec in service.get('EnvironmentFile', []):
        optional = spec.startswith('-')
        path = root + spec.lstrip('-')
        if not os.path.exists(path):
            assert optional, f'EnvironmentFile {spec} is missing'
            continue
        env.update(read_env_file(path))

    # RuntimeDirectory=: in the host's own /run.
    run_name = one['RuntimeDirectory']
    run_dir = host.path(f'/run/{run_name}')
    os.makedirs(run_dir, exist_ok=True)
    os.chown(run_dir, uid, gid)
    os.chmod(run_dir, int(one.get('RuntimeDirectoryMode', '0755'), 8))
    # StateDirectory=: under the test's root (the machine's /var/lib stays untouched).
    state_dir = os.path.join(root, 'var/lib', one['StateDirectory'])
    os.makedirs(state_dir, exist_ok=True)
    os.chown(state_dir, uid, gid)
    os.chmod(state_dir, int(one.get('StateDirectoryMode', '0755'), 8))

    # LoadCredential=, with SetCredential= as the default when the file is missing.
    unit_name = os.path.basename(unit_path)
    creds_inside = f'/run/credentials/{unit_name}'
    creds_dir = host.path(creds_inside)
    defaults = {}
    for spec in service.get('SetCredential', []):
        cid, _, value = spec.partition(':')
        defaults[cid] = c_unescape(value)
    wanted = {}
    for spec in service.get('LoadCredential', []):
        cid, _, source = spec.partition(':')
        path = root + source
        if os.path.exists(path):
            with open(path, 'rb') as f:
                wanted[cid] = f.read()
        else:
            assert cid in defaults, (f'LoadCredential={spec}: {source} is missing and there is no '
                                     f'SetCredential= default: systemd 252 would not start the unit')
            wanted[cid] = defaults[cid].encode()
    if wanted:
        os.makedirs(creds_dir, exist_ok=True)
        for cid, data in wanted.items():
            p = os.path.join(creds_dir, cid)
            with open(p, 'wb') as f:
                f.write(data)
            os.chown(p, uid, gid)
            os.chmod(p, 0o400)
        os.chown(creds_dir, uid, gid)
        os.chmod(creds_dir, 0o500)

    if one.get('ProtectHome') in ('yes', 'true', 'read-only', 'tmpfs'):
        host.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755,size=1m', f'dml-{name}-home', '/home'])

    argv = expand_exec(one['ExecStart'], env)
    # The binary as installed under DESTDIR (the unit names its final path).
    argv[0] = os.path.join(dest, argv[0].lstrip('/'))
    run_env = {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
               'LANG': 'C.UTF-8', 'HOME': home, 'USER': one['User'], 'LOGNAME': one['User'],
               'RUNTIME_DIRECTORY': f'/run/{run_name}', 'STATE_DIRECTORY': state_dir,
               'DISTCC_DIR': None, 'TMPDIR': None, 'LC_ALL': None}
    if wanted:
        run_env['CREDENTIALS_DIRECTORY'] = creds_inside
    full = ['setpriv', f'--reuid={uid}', f'--regid={gid}', '--clear-groups', '--'] + argv
    proc = host.spawn(full, name=name, env=run_env)
    return UnitRun(proc, uid, gid, argv, run_env, state_dir, creds_dir)
