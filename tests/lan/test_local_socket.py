#!/usr/bin/env python3
"""lan-local-socket: the query socket against hostile local users.

distcc-mdnsd runs as root with --no-gossip on a private socket; the
attackers run as other users (setpriv, /usr/bin/python3):
(a) in an empty network namespace of its own (nothing to advertise there,
    nothing sent anywhere) the daemon keeps its advertiser, so set-state
    really changes the state: uid 65534 opens 200 connections that never
    finish a request and one client that pipelines requests and never
    reads; root's set-state (drain, then up, each confirmed by the reply)
    and hosts requests are still answered within 1 s, the hog is dropped,
    and the daemon's RSS stays bounded;
(b) uid 65534 squats /tmp/distcc-mdns-65533/ and serves a fake line there;
    distcc-mdns-hosts run as uid 65533 (no XDG_RUNTIME_DIR) warns naming
    the path and does not print the fake line; given that socket
    explicitly, it refuses with a non-zero exit;
(c) --socket=DIR/x with DIR mode 1777 leaves DIR's mode alone; a socket
    directory that is a symlink is refused and its target left unchanged.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402
from lan import note, wait_until  # noqa: E402

ATTACKER = 65534
VICTIM = 65533
FAKE_HOST = '192.0.2.66'
PY = '/usr/bin/python3'


def as_user(uid, argv, env=None, **kw):
    return subprocess.Popen(['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups'] + argv,
                            env=env or {'PATH': '/usr/bin:/bin', 'HOME': '/nonexistent', 'LANG': 'C.UTF-8'},
                            **kw)


def request(path, obj, timeout=1.0):
    """One request line; the reply object and the seconds it took."""
    t0 = time.monotonic()
    buf = dm.exchange(path, json.dumps(obj).encode() + b'\n', timeout)
    return json.loads(buf.split(b'\n', 1)[0]), time.monotonic() - t0


def answers(path):
    try:
        return request(path, {'op': 'hosts'})[0].get('ok') is True
    except (OSError, ValueError):
        return False


class Daemon:
    def __init__(self, mdnsd, sock, log):
        self.log = log
        # unshare --net: an empty namespace where no distccd listens, so
        # --advertise=auto keeps an advertiser that publishes nothing.
        self.proc = subprocess.Popen(['unshare', '--net', mdnsd, '--no-gossip', '--advertise=auto',
                                      '--speed=1', '-v', f'--socket={sock}'],
                                     stdout=log, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def check_alive(self):
        assert self.proc.poll() is None, f'distcc-mdnsd exited with {self.proc.returncode}'


# Run as the attacker: holds 200 half requests open and pipelines on one
# more connection without reading; prints one JSON line when the idle
# connections are open and one when it is done.
ATTACK = r'''
import json, socket, sys, time
path = sys.argv[1]
held, refused = [], 0
for _ in range(200):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    try:
        s.sendall(b'{"op":')
    except OSError:
        pass  # refused and closed already: counted below
    held.append(s)
hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
hog.connect(path)
hog.setblocking(False)
print(json.dumps({'open': len(held)}), flush=True)
sent, dropped, end = 0, False, time.monotonic() + 4
batch = b'{"op":"hosts"}\n' * 200
while time.monotonic() < end and not dropped:
    try:
        sent += hog.send(batch)
    except BlockingIOError:
        time.sleep(0.01)
    except (BrokenPipeError, ConnectionResetError):
        dropped = True
for s in held:
    s.setblocking(False)
    try:
        data = s.recv(4096)
    except OSError:
        data = b''
    if b'too many connections' in data:
        refused += 1
print(json.dumps({'sent': sent, 'hog_dropped': dropped, 'refused': refused}), flush=True)
'''

# Run as the attacker: a fake daemon that gives every client a made-up line.
FAKE = r'''
import json, os, socket, sys
path = sys.argv[1]
os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
os.chmod(os.path.dirname(path), 0o755)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
os.chmod(path, 0o666)
srv.listen(16)
print('ready', flush=True)
reply = json.dumps({'ok': True, 'line': sys.argv[2] + '/99', 'jobs': 99, 'servers': [],
                    'source': 'daemon'}).encode() + b'\n'
while True:
    c, _ = srv.accept()
    c.settimeout(2)
    try:
        c.recv(65536)
        c.sendall(reply)
    except OSError:
        pass
    c.close()
'''


def part_a(bins, tmp):
    sock = os.path.join(tmp, 'a', 'socket')
    os.makedirs(os.path.dirname(os.path.dirname(sock)), exist_ok=True)
    with open(os.path.join(tmp, 'a.log'), 'w') as log:
        d = Daemon(bins[0], sock, log)
        try:
            wait_until(lambda: answers(sock), 10, 0.02, what='distcc-mdnsd answering')
            mode = stat.S_IMODE(os.lstat(os.path.dirname(sock)).st_mode)
            assert mode == 0o755, f'a root daemon creates its socket directory 0755, got {mode:o}'
            rss0 = dm.vm_rss_kib(d.proc.pid)
            attacker = as_user(ATTACKER, [PY, '-c', ATTACK, sock], stdout=subprocess.PIPE, text=True)
            try:
                first = json.loads(attacker.stdout.readline() or '{}')
                assert first.get('open') == 200, f'the attacker could not connect: {first}'
                # Root asks while every idle connection is held and the hog writes.
                reply, took = request(sock, {'op': 'set-state', 'state': 'drain'})
                figure('local_socket.set_state_under_attack', took, 's', 1.0)
                assert took <= 1.0, f'set-state took {took:.3f} s'
                assert reply.get('ok') is True and reply.get('state') == 'drain', reply
                t0 = time.monotonic()
                r = subprocess.run([bins[1], f'--socket={sock}', '--set-state=up'],
                                   capture_output=True, text=True, timeout=5)
                took = time.monotonic() - t0
                figure('local_socket.set_state_tool_under_attack', took, 's', 1.0)
                assert r.returncode == 0 and took <= 1.0, (r.returncode, r.stderr, took)
                reply, took = request(sock, {'op': 'hosts'})
                figure('local_socket.root_query_under_attack', took, 's', 1.0)
                assert reply.get('ok') is True and took <= 1.0, (reply, took)
                out, _ = attacker.communicate(timeout=20)
            finally:
                if attacker.poll() is None:
                    attacker.kill()
                    attacker.wait()
            result = json.loads(out.strip().splitlines()[-1])
            note(f'attacker: {result}')
            figure('local_socket.attacker_refused', result['refused'], 'connections')
            assert result['refused'] >= 200 - 32, f'one user held more than 32 connections: {result}'
            assert result['hog_dropped'], f'the non-reading client was not dropped: {result}'
            rss1 = dm.vm_rss_kib(d.proc.pid)
            figure('local_socket.rss_before', rss0, 'KiB')
            figure('local_socket.rss_after', rss1, 'KiB', 65536)
            assert rss1 < 64 * 1024, f'daemon RSS {rss1} KiB after the attack'
            # The idle connections are gone: an ordinary user is served again.
            wait_until(lambda: answers(sock), 10, 0.02, what='answering after the attack')
            d.check_alive()
        finally:
            d.stop()


def part_b(bins, tmp):
    squat = f'/tmp/distcc-mdns-{VICTIM}'
    shutil.rmtree(squat, ignore_errors=True)
    fake = as_user(ATTACKER, [PY, '-c', FAKE, squat + '/socket', FAKE_HOST],
                   stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout.readline().strip() == 'ready', 'the fake daemon did not start'
        # Reachable as a daemon would be: the attacker's server answers.
        assert os.stat(squat).st_uid == ATTACKER
        env = {'PATH': '/usr/bin:/bin', 'HOME': '/nonexistent', 'LANG': 'C.UTF-8'}
        hosts = as_user(VICTIM, [bins[1], '--any-compiler', '--wait=0.2'], env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = hosts.communicate(timeout=20)
        note(f'uid {VICTIM}: stdout {out.strip()!r}; stderr {err.strip()!r}')
        assert FAKE_HOST not in out, f'the squatter\'s line was used: {out!r}'
        assert squat in err and 'ignoring' in err, f'no warning naming {squat}: {err!r}'
        assert hosts.returncode == 0, f'exit {hosts.returncode}: {err}'
        explicit = as_user(VICTIM, [bins[1], '--any-compiler', '--wait=0.2', f'--socket={squat}/socket'],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = explicit.communicate(timeout=20)
        assert explicit.returncode != 0 and FAKE_HOST not in out, (explicit.returncode, out)
        assert 'refusing' in err and squat in err, err
        env['DISTCC_MDNS_SOCKET'] = squat + '/socket'
        viaenv = as_user(VICTIM, [bins[1], '--set-state=up'], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = viaenv.communicate(timeout=20)
        assert viaenv.returncode != 0 and 'refusing' in err, (viaenv.returncode, err)
        note('squatted socket: ignored with a warning in the search order, refused when named')
    finally:
        fake.kill()
        fake.wait()
        shutil.rmtree(squat, ignore_errors=True)


def part_c(bins, tmp):
    shared = os.path.join(tmp, 'shared')
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    with open(os.path.join(tmp, 'c.log'), 'w') as log:
        d = Daemon(bins[0], os.path.join(shared, 'x'), log)
        try:
            wait_until(lambda: answers(os.path.join(shared, 'x')), 10, 0.02,
                       what='distcc-mdnsd answering in DIR/x')
            mode = stat.S_IMODE(os.lstat(shared).st_mode)
            assert mode == 0o1777, f'the daemon changed {shared} to {mode:o}'
            note(f'--socket={shared}/x: {shared} keeps mode {mode:o}')
        finally:
            d.stop()
    target = os.path.join(tmp, 'target')
    os.mkdir(target, 0o750)
    os.chmod(target, 0o750)
    link = os.path.join(tmp, 'link')
    os.symlink(target, link)
    r = subprocess.run([bins[0], '--no-gossip', '--advertise=no', '--speed=1', f'--socket={link}/socket'],
                       capture_output=True, text=True, timeout=10)
    note(f'symlinked socket directory: exit {r.returncode}: {r.stderr.strip()}')
    assert r.returncode != 0, 'the daemon used a symlinked socket directory'
    assert link in r.stderr and 'symbolic link' in r.stderr, r.stderr
    assert stat.S_IMODE(os.lstat(target).st_mode) == 0o750 and not os.listdir(target), \
        'the link\'s target was changed'


def main(argv):
    if os.geteuid() != 0:
        print('lan-local-socket: needs root (runs users 65534 and 65533 with setpriv): skipped')
        return 77
    if not shutil.which('setpriv'):
        print('lan-local-socket: needs setpriv: skipped')
        return 77
    bins = [os.path.abspath(a) for a in argv[:2]]
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix='dmdns-local-')
    os.chmod(tmp, 0o755)  # the other users reach the sockets below
    try:
        part_a(bins, tmp)
        part_b(bins, tmp)
        part_c(bins, tmp)
    except BaseException:
        for name in ('a.log', 'c.log'):
            p = os.path.join(tmp, name)
            if os.path.exists(p):
                print(f'--- {name}:\n' + open(p).read()[-3000:], flush=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figure('local_socket.duration', time.monotonic() - t0, 's', 60)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
