#!/usr/bin/env python3
"""lan-local-files: a hostile local user against the files a root daemon writes.

No network namespace: one distcc-mdnsd runs as root on this machine with a
private socket, --no-gossip, --hosts-file and --zeroconf-compat in a home
directory owned by uid 65534 (nobody), all on a 1 MiB tmpfs mounted in a
private mount namespace (the test re-executes itself under `unshare -m`).
Acting as nobody (setpriv, /usr/bin/python3), the test plants at every path
the daemon writes (DIR/zeroconf, its lock and hosts, the hosts file, its
directory) in turn a symbolic link to a root-owned directory or file
outside, a FIFO, and (made by root) a directory or file of uid 65533. For
each: nothing outside is created or changed (owners, modes, contents), the
plant is left as it was, the daemon still answers {"op":"hosts"}, its log
reports the refusal, and once the plant goes the files come back. FIFOs and
links at the old and new temporary names change nothing. Faults: a deleted
hosts file comes back within 3 s; a deleted hosts-file directory and a full
file system are logged once (while retried every second), and the files
come back once the directory or the space does.
"""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
from lan import note  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

USER = 65534    # the user the files are for (nobody)
OTHER = 65533   # another user, whose directories and files are planted by root
USER_PYTHON = '/usr/bin/python3'   # root's python3 may be a shim other users cannot run
PRIVATE_MOUNTS = 'DMLOCAL_PRIVATE_MOUNTS'

# Runs file operations as the user: argv[1] is a JSON list of [op, args...].
USER_OPS = r'''
import json, os, shutil, sys
for op, *args in json.loads(sys.argv[1]):
    if op == 'remove':
        p = args[0]
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.unlink(p)
    elif op == 'symlink':
        os.symlink(args[0], args[1])
    elif op == 'mkfifo':
        os.mkfifo(args[0], 0o644)
    elif op == 'mkdir':
        os.mkdir(args[0], 0o755)
    else:
        raise SystemExit('unknown op ' + op)
'''


def as_user(*ops):
    """Runs ops (see USER_OPS) in one process as the user."""
    subprocess.run(['setpriv', f'--reuid={USER}', f'--regid={USER}', '--clear-groups',
                    USER_PYTHON, '-c', USER_OPS, json.dumps(ops)], check=True, timeout=10)


def snapshot(top):
    """Every path under top (itself included): type, mode, owner, size, mtime, content."""
    seen = {}
    for root, dirs, files in os.walk(top):
        for p in [root] + [os.path.join(root, n) for n in dirs + files]:
            st = os.lstat(p)
            content = None
            if stat.S_ISREG(st.st_mode):
                with open(p, 'rb') as f:
                    content = f.read()
            seen[p] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, content)
    return seen


def plant_state(path):
    """What is at path, to see that the daemon left a plant as it was."""
    st = os.lstat(path)
    link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
    return (stat.S_IFMT(st.st_mode), st.st_mode & 0o7777, st.st_uid, st.st_ino, link)


class Daemon:
    """distcc-mdnsd as root, its stderr in a log file outside the small tmpfs."""

    def __init__(self, mdnsd, sock, log_path, *args):
        self.sock = sock
        self.log_path = log_path
        self.log = open(log_path, 'wb')
        self.proc = subprocess.Popen([mdnsd, '--advertise=no', '--no-gossip', '--speed=1', '-vv',
                                      '--socket', sock, *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def mark(self):
        """Where the log ends now, for count(since=)."""
        return len(self.text())

    def count(self, pattern, since=0):
        return len(re.findall(pattern, self.text()[since:], re.M))

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f'distcc-mdnsd exited ({self.proc.returncode}):\n{self.text()[-3000:]}')

    def query(self):
        """{"op":"hosts"} on the socket; the parsed reply."""
        return json.loads(dm.exchange(self.sock, b'{"op":"hosts"}\n').split(b'\n', 1)[0])

    def answers(self):
        self.alive()
        reply = self.query()
        assert reply.get('ok') is True, f'the daemon does not answer: {reply}'

    def wait(self, pred, timeout, what):
        """Polls pred every 20 ms for at most timeout s; fails naming what."""
        def look():
            self.alive()
            return pred()
        try:
            return lan.wait_until(look, timeout, 0.02, what=what)
        except lan.Timeout:
            raise AssertionError(f'not within {timeout} s: {what}\nlog tail:\n'
                                 f'{self.text()[-2000:]}') from None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


def remove_as_root(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def ours(path):
    """True when path is a regular file of the user's with mode 0644."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == USER and st.st_mode & 0o7777 == 0o644


def reexec_in_private_mounts(argv):
    if os.environ.get(PRIVATE_MOUNTS):
        return
    if not shutil.which('unshare'):
        raise lan.Skip('unshare (util-linux) is missing')
    probe = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'true'],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise lan.Skip(f'cannot make a private mount namespace: {probe.stderr.strip()}')
    os.environ[PRIVATE_MOUNTS] = '1'
    sys.stdout.flush()
    os.execvp('unshare', ['unshare', '--mount', '--propagation', 'private',
                          sys.executable, os.path.abspath(__file__), *argv])


def main(argv):
    if os.geteuid() != 0:
        raise lan.Skip('needs root: the daemon must run as root for a user to attack it')
    if not os.access(USER_PYTHON, os.X_OK) or not shutil.which('setpriv'):
        raise lan.Skip(f'needs {USER_PYTHON} and setpriv to act as uid {USER}')
    if not argv or not os.access(argv[0], os.X_OK):
        raise AssertionError('usage: test_local_files.py PATH/distcc-mdnsd [PATH/distcc-mdns-hosts]')
    mdnsd = os.path.abspath(argv[0])
    reexec_in_private_mounts(argv)

    top = tempfile.mkdtemp(prefix='dmlocal-', dir='/tmp')
    fs = os.path.join(top, 'fs')
    daemon = None
    try:
        os.chmod(top, 0o755)
        os.mkdir(fs)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'dmlocal', fs], check=True)
        outside = os.path.join(fs, 'outside')          # root's: what links point at
        os.mkdir(outside, 0o755)
        os.mkdir(os.path.join(outside, 'dir'), 0o755)
        secret = os.path.join(outside, 'secret')
        with open(secret, 'w') as f:
            f.write('root only\n')
        os.chmod(secret, 0o600)
        home = os.path.join(fs, 'home')
        os.mkdir(home, 0o755)
        os.chown(home, USER, USER)
        distcc_dir = os.path.join(home, 'distcc')     # --zeroconf-compat
        hosts_dir = os.path.join(home, 'h')           # --hosts-file's directory
        as_user(['mkdir', distcc_dir], ['mkdir', hosts_dir])
        zdir = os.path.join(distcc_dir, 'zeroconf')
        hosts_file = os.path.join(hosts_dir, 'hosts')
        zlock, zhosts = os.path.join(zdir, 'lock'), os.path.join(zdir, 'hosts')

        # The hole as reported: zeroconf a link to root's directory before
        # the daemon starts (it used to chown the target and fill it).
        as_user(['symlink', os.path.join(outside, 'dir'), zdir])
        before = snapshot(outside)
        daemon = Daemon(mdnsd, os.path.join(top, 'sock'), os.path.join(top, 'daemon.log'),
                        f'--hosts-file={hosts_file}', f'--zeroconf-compat={distcc_dir}')
        daemon.wait(lambda: daemon.count(rf'warning: .*refused: {re.escape(zdir)} is a symbolic link'), 10,
                    'the daemon reports the linked zeroconf at start')
        daemon.wait(lambda: ours(hosts_file), 5, 'the hosts file written beside the refusal')
        daemon.answers()
        assert snapshot(outside) == before, 'the link target changed'
        as_user(['remove', zdir])
        daemon.wait(lambda: ours(zhosts) and ours(zlock), 3, 'zeroconf files once the link is gone')
        assert os.lstat(zdir).st_uid == USER, 'zeroconf is not given to the user'
        note('start: a linked zeroconf was refused, the files came once it went')

        # Every path the daemon writes, every kind of plant. The two
        # keepers work apart, so a zeroconf path and a hosts-file path are
        # attacked at once (the test stays under a minute).
        rounds = [  # [(name, path, is a directory, what must come back)]
            [('zeroconf', zdir, True, lambda: ours(zhosts) and ours(zlock)),
             ('hosts directory', hosts_dir, True, lambda: ours(hosts_file))],
            [('zeroconf/lock', zlock, False, lambda: ours(zlock)),
             ('hosts file', hosts_file, False, lambda: ours(hosts_file))],
            [('zeroconf/hosts', zhosts, False, lambda: ours(zhosts))],
        ]
        cases = 0
        for kind in ('link', 'fifo', 'foreign'):
            for attacks in rounds:
                before = snapshot(outside)
                mark = daemon.mark()
                planted = []
                for name, path, is_dir, back in attacks:
                    target = os.path.join(outside, 'dir') if is_dir else secret
                    p = re.escape(path)
                    if kind == 'link':
                        as_user(['remove', path], ['symlink', target, path])
                        cause = rf'{p} is a symbolic link'
                    elif kind == 'fifo':
                        as_user(['remove', path], ['mkfifo', path])
                        cause = rf'{p} is a FIFO'
                    else:
                        # Another user's, made by root at a side name and
                        # moved in at once: the daemon never sees it empty.
                        side = path + '.planted'
                        if is_dir:
                            os.mkdir(side, 0o755)
                        else:
                            with open(side, 'w') as f:
                                f.write('theirs\n')
                        os.chown(side, OTHER, OTHER)
                        remove_as_root(path)
                        os.rename(side, path)
                        cause = (rf'(?:{p} is owned by uid {OTHER}, neither root nor uid {USER}'
                                 rf'|is owned by uid {USER}, neither root nor uid {OTHER} who owns {p}(?:;|$))')
                    planted.append((name, path, back, cause, plant_state(path)))
                t0 = time.monotonic()
                took = {}
                for name, path, back, cause, state in planted:
                    refusals = rf'warning: .*refused: .*{cause}'
                    daemon.wait(lambda: daemon.count(refusals, mark), 5, f'{name} {kind}: refusal in the log')
                    took[name] = time.monotonic() - t0
                for name, path, back, cause, state in planted:
                    refusals = rf'warning: .*refused: .*{cause}'
                    retries = rf'debug: .*still refused: .*{cause}'
                    daemon.wait(lambda: daemon.count(retries, mark), 3, f'{name} {kind}: refused again at a retry')
                    daemon.answers()
                    assert snapshot(outside) == before, f'{name} {kind}: something outside changed'
                    assert plant_state(path) == state, f'{name} {kind}: the plant was touched'
                    n = daemon.count(refusals, mark)
                    assert n == 1, f'{name} {kind}: the refusal was logged {n} times'
                    note(f'{name} {kind}: refused within {took[name]:.2f} s and at a retry, logged once; '
                         f'nothing outside changed')
                    cases += 1
                for name, path, back, cause, state in planted:
                    if kind == 'foreign':
                        remove_as_root(path)
                    else:
                        as_user(['remove', path])
                    if path == hosts_dir:
                        as_user(['mkdir', hosts_dir])
                for name, path, back, cause, state in planted:
                    daemon.wait(back, 3, f'{name} {kind}: the files back once the plant went')
        figure('local_files.plants_refused', cases, 'cases')
        # Temporary names: the old predictable one and made-up new ones.
        pid = daemon.proc.pid
        temps = [f'{hosts_file}.tmp.{pid}', os.path.join(hosts_dir, '.hosts.tmp.aaaaaaaaaaaa'),
                 f'{zhosts}.tmp.{pid}']
        as_user(['mkfifo', temps[0]], ['symlink', secret, temps[1]], ['mkfifo', temps[2]])
        planted = [plant_state(p) for p in temps]
        before = snapshot(outside)
        old = os.lstat(hosts_file).st_ino
        as_user(['remove', hosts_file], ['remove', zhosts])
        daemon.wait(lambda: ours(hosts_file) and ours(zhosts), 3, 'files rewritten beside planted temporaries')
        assert [plant_state(p) for p in temps] == planted, 'a planted temporary name was touched'
        assert snapshot(outside) == before, 'temporaries: something outside changed'
        daemon.answers()
        as_user(*[['remove', p] for p in temps])
        note(f'temporary names: FIFOs and a link left alone (inode {old} replaced)')

        # A deleted hosts file comes back even though its line did not change.
        as_user(['remove', hosts_file])
        t0 = time.monotonic()
        daemon.wait(lambda: ours(hosts_file), 3, 'the deleted hosts file rewritten')
        figure('local_files.deleted_hosts_file_back', time.monotonic() - t0, 's', 1.5)

        # The hosts file's directory deleted: logged once, retried, back.
        mark = daemon.mark()
        missing = rf'warning: hosts file .*cannot open directory {re.escape(hosts_dir)}: No such file'
        retried = rf'debug: hosts file .*still failing: cannot open directory {re.escape(hosts_dir)}'
        as_user(['remove', hosts_dir])
        daemon.wait(lambda: daemon.count(retried, mark) >= 3, 6, 'three retries of the missing directory')
        n = daemon.count(missing, mark)
        assert n == 1, f'the missing directory was logged {n} times'
        daemon.answers()
        as_user(['mkdir', hosts_dir])
        t0 = time.monotonic()
        daemon.wait(lambda: ours(hosts_file), 3, 'the hosts file back in the new directory')
        figure('local_files.directory_back', time.monotonic() - t0, 's', 1.5)

        # A full file system: the daemon stopped while both files go and
        # the space is taken, so that it finds the space gone.
        mark = daemon.mark()
        os.kill(pid, signal.SIGSTOP)
        try:
            os.unlink(hosts_file)
            os.unlink(zhosts)
            fill = os.path.join(fs, 'fill')
            with open(fill, 'wb', buffering=0) as f:
                for block in (65536, 4096, 1):
                    try:
                        while True:
                            f.write(b'\0' * block)
                    except OSError as e:
                        assert e.errno == 28, f'filling the tmpfs: {e}'
        finally:
            os.kill(pid, signal.SIGCONT)
        full = r'warning: hosts file .*No space left on device; will retry'
        zfull = r'warning: zeroconf files .*No space left on device; will retry'
        still = r'debug: hosts file .*still failing: .*No space left on device'
        daemon.wait(lambda: daemon.count(still, mark) >= 3, 6, 'three retries on the full file system')
        n, nz = daemon.count(full, mark), daemon.count(zfull, mark)
        assert n == 1 and nz == 1, f'ENOSPC logged {n} times for the hosts file, {nz} for zeroconf'
        assert not os.path.exists(hosts_file)
        assert not [n for n in os.listdir(hosts_dir) if n != 'lock'], 'a temporary file was left behind'
        daemon.answers()
        os.unlink(fill)
        t0 = time.monotonic()
        daemon.wait(lambda: ours(hosts_file) and ours(zhosts), 3, 'both files back once there is space')
        figure('local_files.space_back', time.monotonic() - t0, 's', 1.5)
        assert daemon.count(r'hosts file .*: written again', mark) == 1

        code = daemon.stop()
        assert code == 0, f'distcc-mdnsd exited {code} on SIGTERM'
        daemon = None
    finally:
        if daemon is not None:
            daemon.stop()
            print(daemon.text()[-4000:], flush=True)
        subprocess.run(['umount', '-l', fs], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == '__main__':
    lan.run_test(main)
