#!/usr/bin/env python3
"""run_job: distcc-mdns-run's job wrapper (`distcc-mdns-run --job distcc CC ARGS`) against a stand-in runner.

The test is the runner: it listens on the job socket, reads the wrapper's
"job PID" and answers "backup ENTRY" as the runner does for a straggler. A
fake `distcc` (a shell script first in PATH) "compiles" by writing the
host it was sent to into the -o file, after a delay its DISTCC_HOSTS
chooses: `slow...` sleeps 20 s, `mid...` 1.5 s, `fail...` exits 1,
anything else 0.2 s. Checked:
  a. a copy on a fast host wins: the wrapper exits 0 long before the slow
     original would, the output is the copy's, the original is ended,
     no temporary file is left, and the runner hears "won".
  b. a copy that fails changes nothing: the runner hears "failed", the
     original's output and status stand.
  c. an original that ends first wins: its status and output, the copy is
     ended and its temporary file removed.
  d. a failing original's status passes through (3).
  e. hostile lines from the socket (garbage, a shell word, localhost, an
     over-long line) start no copy; the compile still succeeds.
  f. without the socket variable, or for a command that cannot be copied
     (-MD writes a file named after the output), the wrapper execs the
     command itself: no connection, and the compiler runs as the
     wrapper's own pid.
  g. a socket nobody listens on: the compile runs as ever.
  h. SIGINT to the process group (Ctrl-C) ends the original and the copy.
  j. the original's own leftover compiler is ended before the rename
     (nothing of the process group is left); a failed copy's messages are
     not shown, a winning copy's are, once; -o /dev/null is never copied.
  i. a socket another user listens on (a stale variable whose path was
     taken since) is told nothing and names no server (as root: the
     listener runs as uid 65534).
  k. a compile the runner's files in DISTCC_DIR remember as long gets a
     DISTCC_HOSTS of the fast entries only, their limits doubled; a short or unknown one, or
     files that do not parse, leave the line as it is.
Every wait polls with a deadline.
"""

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, failures, group_alive  # noqa: E402

RUNNER = os.path.realpath(sys.argv[1])

FAKE_DISTCC = r'''#!/bin/sh
# A stand-in for distcc: the -o file gets the host it went to.
out=
prev=
for a in "$@"; do
    [ "$prev" = "-o" ] && out=$a
    prev=$a
done
echo "$$" >> "$FAKE_PIDS"
case "$DISTCC_HOSTS" in
    slow*) sleep 20 ;;
    mid*) sleep 1.5 ;;
    fail*) echo "error from the failing copy" >&2; exit 1 ;;
    bad*) sleep 0.2; exit 3 ;;
    # a local compiler that distcc leaves running when it is ended
    orphan*) (sleep 3; echo late > "$out") & sleep 20 ;;
    *) echo "warning from $DISTCC_HOSTS" >&2; sleep 0.2 ;;
esac
echo "object from $DISTCC_HOSTS" > "$out"
'''


def fnv1a64(text):
    """WorkHistory::key(): FNV-1a of 64 bits."""
    h = 0xcbf29ce484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001b3) % (1 << 64)
    return h


def wait_for(cond, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


class FakeRunner:
    """The runner's job socket, one wrapper at a time."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(5)
        self.conn = None
        self.heard = ''

    def accept(self):
        self.conn, _ = self.sock.accept()
        self.conn.settimeout(5)
        return self.read_line()

    def read_line(self):
        while '\n' not in self.heard:
            data = self.conn.recv(512)
            if not data:
                break
            self.heard += data.decode(errors='replace')
        line, _, self.heard = self.heard.partition('\n')
        return line

    def connected_within(self, seconds):
        """Whether a wrapper connected (checked after it ended: a connection
        waits in the backlog, so this returns at once when there is one)."""
        self.sock.settimeout(seconds)
        try:
            self.sock.accept()[0].close()
            return True
        except OSError:
            return False
        finally:
            self.sock.settimeout(5)

    def send(self, text):
        self.conn.sendall(text.encode())

    def rest(self):
        """Everything the wrapper said until it closed."""
        try:
            while True:
                data = self.conn.recv(512)
                if not data:
                    break
                self.heard += data.decode(errors='replace')
        except OSError:
            pass
        return self.heard

    def close(self):
        if self.conn:
            self.conn.close()
        self.sock.close()
        os.unlink(self.path)


def setup(tmp):
    bindir = os.path.join(tmp, 'bin')
    os.makedirs(bindir)
    fake = os.path.join(bindir, 'distcc')
    with open(fake, 'w') as f:
        f.write(FAKE_DISTCC)
    os.chmod(fake, 0o755)
    env = dict(os.environ)
    env['PATH'] = f'{bindir}:{env.get("PATH", "/usr/bin:/bin")}'
    env['DISTCC_DIR'] = os.path.join(tmp, 'distcc')
    os.makedirs(env['DISTCC_DIR'])
    return env


def job(tmp, env, hosts, name, extra=(), sock=True):
    """Starts the wrapper compiling NAME.c into obj/NAME.o with DISTCC_HOSTS=hosts."""
    e = dict(env)
    e['DISTCC_HOSTS'] = hosts
    e['FAKE_PIDS'] = os.path.join(tmp, f'{name}.pids')
    if sock:
        e['DISTCC_MDNS_RUN_JOBS'] = os.path.join(tmp, 'jobs')
    else:
        e.pop('DISTCC_MDNS_RUN_JOBS', None)
    os.makedirs(os.path.join(tmp, 'obj'), exist_ok=True)
    argv = [RUNNER, '--job', 'distcc', 'cc', *extra, '-c', f'{name}.c', '-o', f'obj/{name}.o']
    return subprocess.Popen(argv, env=e, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def output(tmp, name):
    try:
        with open(os.path.join(tmp, 'obj', f'{name}.o')) as f:
            return f.read().strip()
    except OSError:
        return None


def leftovers(tmp):
    return [f for f in os.listdir(os.path.join(tmp, 'obj')) if f.startswith('.')]


def pids(tmp, name):
    try:
        with open(os.path.join(tmp, f'{name}.pids')) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def case_copy_wins(tmp, env, runner):
    start = time.monotonic()
    p = job(tmp, env, 'slow:3632/2', 'a')
    first = runner.accept()
    words = first.split(' ')
    key = f'{fnv1a64(os.path.join(os.path.realpath(tmp), "obj", "a.o")):016x}'
    check(len(words) == 3 and words[0] == 'job' and words[1].isdigit() and words[2] == key,
          f'a: the wrapper says "job PID KEY", KEY the hash of its absolute output ({first!r}, {key})')
    original = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
    runner.send('backup fast:3632/4\n')
    rc = p.wait(15)
    took = time.monotonic() - start
    err = p.stderr.read()
    check(rc == 0, f'a: the wrapper exits 0 ({rc}; {err.strip()!r})')
    check(took < 10, f'a: long before the slow original would end (20 s): {took:.1f} s')
    check(output(tmp, 'a') == 'object from fast:3632/4', f'a: the output is the copy\'s ({output(tmp, "a")!r})')
    check(not leftovers(tmp), f'a: no temporary file left ({leftovers(tmp)})')
    check(original > 0 and wait_for(lambda: not alive(original), 5), 'a: the slow original is ended')
    check('won' in runner.rest(), 'a: the runner hears "won"')
    check(err.count('warning from fast:3632/4') == 1, f'a: the winning copy\'s messages are shown once: {err!r}')


def case_placed(tmp, env, runner):
    """k. A compile the runner remembers as long goes only to the entries
    where it ends soon (Placement::forWork()): the runner's files in
    DISTCC_DIR say the line, its speeds and the median work. Unknown and
    short compiles keep the whole line; files that do not parse change
    nothing."""
    ddir = env['DISTCC_DIR']
    line = 'quick:3632/10 crawl:3632/2'

    def key(name):
        return f'{fnv1a64(os.path.join(os.path.realpath(tmp), "obj", name + ".o")):016x}'

    def write(name, text):
        with open(os.path.join(ddir, name), 'w') as f:
            f.write(text)

    def compiled(name, want, what):
        p = job(tmp, env, line, name)
        runner.accept()
        rc = p.wait(15)
        check(rc == 0 and output(tmp, name) == f'object from {want}',
              f'k: {what}: sent to {want!r} ({rc}, {output(tmp, name)!r})')

    # As the runner writes it: sorted by key after a header, here among
    # 3000 other objects' entries, which the compile bisects past.
    entries = [f'{key(f"other{i}")} 0.2 3' for i in range(3000)]
    entries += [f'{key("long")} 6 3', f'{key("short")} 0.5 3']
    write('works', '# remembered\n' + '\n'.join(sorted(entries)) + '\n')
    write('placement', f'median 1.6\nspeeds 1.5 0.6\nhosts {line}\n')
    compiled('long', 'quick/20', 'a compile remembered as 6 s of work goes to the fast server only')
    compiled('short', line, 'one of 0.5 s goes anywhere')
    compiled('unknown', line, 'one not remembered goes anywhere')
    for bad in ('median 1.6\nspeeds 1.5\nhosts ' + line + '\n', 'garbage\x00\xff', ''):
        write('placement', bad)
        compiled('long', line, f'a placement file that does not parse ({bad[:20]!r}) changes nothing')
    write('placement', f'median 1.6\nspeeds 1.5 0.6\nhosts {line}\n')
    write('works', f'{key("long")} 6x 3\n')
    compiled('long', line, 'a works line that does not parse changes nothing')
    for name in ('works', 'placement'):
        os.unlink(os.path.join(ddir, name))


def case_copy_fails(tmp, env, runner):
    p = job(tmp, env, 'mid:3632/2', 'b')
    runner.accept()
    runner.send('backup fail:3632/4\n')
    rc = p.wait(15)
    err = p.stderr.read()
    check('failing copy' not in err, f'b: the failed copy\'s messages are not shown: {err!r}')
    check(rc == 0 and output(tmp, 'b') == 'object from mid:3632/2',
          f'b: a failed copy changes nothing: exit {rc}, output {output(tmp, "b")!r}')
    check('failed' in runner.rest() and not leftovers(tmp), 'b: the runner hears "failed", no file left')


def case_original_first(tmp, env, runner):
    p = job(tmp, env, 'mid:3632/2', 'c')
    runner.accept()
    runner.send('backup slow:3632/4\n')
    # The copy has started once a second pid is in the file.
    check(wait_for(lambda: len(pids(tmp, 'c')) == 2, 5), 'c: the copy started')
    rc = p.wait(15)
    copy = pids(tmp, 'c')[-1] if len(pids(tmp, 'c')) == 2 else 0
    check(rc == 0 and output(tmp, 'c') == 'object from mid:3632/2',
          f'c: the original ended first and its output stands: exit {rc}, {output(tmp, "c")!r}')
    check(copy > 0 and wait_for(lambda: not alive(copy), 5) and not leftovers(tmp),
          'c: the copy is ended, its temporary file removed')
    p = job(tmp, env, 'bad:3632/2', 'd')
    runner.accept()
    rc = p.wait(15)
    check(rc == 3, f'd: a failing original\'s status passes through ({rc})')


def case_leftovers(tmp, env, runner):
    """The original's own child (a local compiler distcc leaves running when
    it is ended) is ended before the copy's file is renamed in: nothing of
    the wrapper's process group is left when it exits."""
    p = job(tmp, env, 'orphan:3632/2', 'l')
    runner.accept()
    runner.send('backup fast:3632/4\n')
    rc = p.wait(15)
    check(rc == 0 and output(tmp, 'l') == 'object from fast:3632/4', f'l: the copy won ({rc}, {output(tmp, "l")!r})')
    check(not group_alive(p.pid), f'l: the original\'s leftover compiler is ended too ({group_alive(p.pid)})')


def case_not_regular(tmp, env, runner):
    """An output that is no regular file (-o /dev/null) is never replaced:
    the compile runs as the wrapper itself."""
    e = dict(env)
    e['DISTCC_HOSTS'] = 'fast:3632/2'
    e['DISTCC_MDNS_RUN_JOBS'] = runner.path
    e['FAKE_PIDS'] = os.path.join(tmp, 'n.pids')
    p = subprocess.run([RUNNER, '--job', 'distcc', 'cc', '-c', 'n.c', '-o', '/dev/null'], env=e, cwd=tmp,
                       capture_output=True, text=True, timeout=30)
    connected = runner.connected_within(0.5)
    check(p.returncode == 0 and not connected and stat.S_ISCHR(os.stat('/dev/null').st_mode),
          f'n: -o /dev/null is not copied (exit {p.returncode}, connected {connected}), /dev/null intact')


def case_hostile_lines(tmp, env, runner):
    for i, line in enumerate(['garbage\n', 'backup ;rm -rf /\n', 'backup localhost/2\n',
                              'backup ' + 'x' * 400 + '\n', 'backup $(reboot)\n']):
        name = f'e{i}'
        p = job(tmp, env, 'mid:3632/2', name)
        runner.accept()
        try:
            runner.send(line)
        except OSError:
            pass
        rc = p.wait(15)
        check(rc == 0 and output(tmp, name) == 'object from mid:3632/2' and len(pids(tmp, name)) == 1,
              f'e: {line.strip()[:30]!r} starts no copy (exit {rc}, {len(pids(tmp, name))} process)')


def case_direct(tmp, env, runner):
    p = job(tmp, env, 'fast:3632/2', 'f', sock=False)
    rc = p.wait(15)
    check(rc == 0 and pids(tmp, 'f') == [p.pid], f'f: without the socket variable the compiler runs as the '
          f'wrapper\'s own pid ({pids(tmp, "f")} against {p.pid})')
    p = job(tmp, env, 'fast:3632/2', 'g', extra=('-MD',))
    rc = p.wait(15)
    connected = runner.connected_within(0.5)
    check(rc == 0 and not connected and pids(tmp, 'g') == [p.pid],
          f'f: a compile with -MD is not copied: no connection, run as the wrapper ({pids(tmp, "g")}, {p.pid})')


def case_nobody_listens(tmp, env):
    e = dict(env)
    p = job(tmp, e, 'fast:3632/2', 'h')   # the socket path exists no more
    rc = p.wait(15)
    check(rc == 0 and output(tmp, 'h') == 'object from fast:3632/2', f'g: no runner listening: the compile runs ({rc})')


HOSTILE_LISTENER = r'''
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
print('ready', flush=True)
s.settimeout(10)
try:
    c, _ = s.accept()
    c.sendall(b'backup fast:3632/4\n')
    c.settimeout(5)
    data = b''
    while True:
        chunk = c.recv(512)
        if not chunk:
            break
        data += chunk
    print('heard', repr(data.decode(errors='replace')), flush=True)
except OSError as e:
    print('no connection', e, flush=True)
'''


def case_other_users_socket(tmp, env):
    """A socket another user listens on (a stale DISTCC_MDNS_RUN_JOBS whose
    path was taken since): the wrapper tells it nothing and takes no
    server from it."""
    if os.geteuid() != 0:
        print('skip i: needs root to listen as another user', flush=True)
        return
    os.chmod(tmp, 0o755)
    d = os.path.join(tmp, 'other')
    os.makedirs(d)
    os.chown(d, 65534, 65534)
    path = os.path.join(d, 'jobs')
    listener = subprocess.Popen(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                                 '/usr/bin/python3', '-c', HOSTILE_LISTENER, path],
                                stdout=subprocess.PIPE, text=True)
    check(listener.stdout.readline().strip() == 'ready', 'i: uid 65534 listens')
    e = dict(env)
    e['DISTCC_MDNS_RUN_JOBS'] = path
    e['DISTCC_HOSTS'] = 'mid:3632/2'
    e['FAKE_PIDS'] = os.path.join(tmp, 'k.pids')
    p = subprocess.run([RUNNER, '--job', 'distcc', 'cc', '-c', 'k.c', '-o', 'obj/k.o'], env=e, cwd=tmp,
                       capture_output=True, text=True, timeout=30)
    heard = listener.communicate(timeout=20)[0]
    check(p.returncode == 0 and output(tmp, 'k') == 'object from mid:3632/2' and len(pids(tmp, 'k')) == 1,
          f'i: another user\'s socket names no server: exit {p.returncode}, {output(tmp, "k")!r}, '
          f'{len(pids(tmp, "k"))} process')
    check("heard ''" in heard or 'no connection' in heard, f'i: and hears nothing of the compile: {heard.strip()!r}')


def case_sigint(tmp, env, runner):
    p = job(tmp, env, 'slow:3632/2', 'i')
    runner.accept()
    runner.send('backup slow2:3632/4\n')
    check(wait_for(lambda: len(pids(tmp, 'i')) == 2, 5), 'h: original and copy run')
    os.killpg(p.pid, signal.SIGINT)
    try:
        rc = p.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc is not None and rc != 0, f'h: SIGINT ends the wrapper ({rc})')
    check(wait_for(lambda: not group_alive(p.pid), 5), f'h: nothing of the group is left ({group_alive(p.pid)})')
    check(not leftovers(tmp), 'h: no temporary file left')


def main():
    tmp = tempfile.mkdtemp(prefix='run-job-')
    try:
        env = setup(tmp)
        runner = FakeRunner(os.path.join(tmp, 'jobs'))
        for case in (case_copy_wins, case_placed, case_copy_fails, case_original_first, case_leftovers, case_not_regular,
                     case_hostile_lines, case_direct, case_sigint):
            case(tmp, env, runner)
        runner.close()
        case_nobody_listens(tmp, env)
        case_other_users_socket(tmp, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f'{len(failures)} failed')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
