#!/usr/bin/env python3
"""daemon-key: distcc-mdnsd's key handling as an operator meets it, and its word when avahi-daemon is missing.

No root and no LAN: the daemon runs on loopback with --no-resolve, a gossip
port picked free, and D-Bus pointed at a socket that does not exist.
  - `--generate-key > FILE` (umask 022) leaves FILE 0600 and says so on
    stderr; --key-file accepts it. `--generate-key=PATH` makes a new 0600
    file and refuses to replace one.
  - $CREDENTIALS_DIRECTORY/gossip-key (what the unit's LoadCredential=
    gives): a key authenticates gossip; a blank one (the unit's
    SetCredential= default) means no key, said in the log; a bad one stops
    the daemon with the reason; --key-file wins over it.
  - With no avahi-daemon (nor D-Bus) the log says so and how to start it;
    with a bus (a private dbus-daemon standing in for the system bus) but no
    avahi-daemon on it, it says it waits for avahi-daemon and how to start it.
Every wait polls the daemon's log with a deadline.
"""

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time


def free_udp_port():
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(('::', 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, mdnsd, tmp, name, creds=None, extra=(), bus=None):
        self.log_path = os.path.join(tmp, f'{name}.log')
        state = os.path.join(tmp, f'{name}-state')
        os.makedirs(state, exist_ok=True)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f'unix:path={bus or tmp + "/no-such-bus"}')
        env.pop('CREDENTIALS_DIRECTORY', None)
        if creds:
            env['CREDENTIALS_DIRECTORY'] = creds
        argv = [mdnsd, '-v', '--no-resolve', '--advertise=no', '--speed=1',
                f'--gossip-port={free_udp_port()}', f'--socket={tmp}/{name}.sock',
                f'--state-dir={state}'] + list(extra)
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         env=env)

    def log(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def wait_log(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.02) + 1):
            if text in self.log():
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        raise AssertionError(f'{text!r} not in the log (exit {self.proc.poll()}):\n{self.log()}')

    def wait_exit(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f'still running after {timeout}s:\n{self.log()}') from None

    def stop(self):
        self.proc.terminate()
        rc = self.wait_exit(5)
        assert rc == 0, f'exit {rc} after SIGTERM:\n{self.log()}'


def write_key(path, text, mode):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)


def main(mdnsd):
    with tempfile.TemporaryDirectory(prefix='dmdns-key-') as tmp:
        # --generate-key > FILE, as the README of many tools says to do it.
        out = os.path.join(tmp, 'printed.key')
        r = subprocess.run(['sh', '-c', f'umask 022 && "{mdnsd}" --generate-key > "{out}"'],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o600, oct(os.stat(out).st_mode)
        assert 'made it private (mode 0600)' in r.stderr, r.stderr
        with open(out) as f:
            assert len(f.read().strip()) == 64

        made = os.path.join(tmp, 'made.key')
        r = subprocess.run(['sh', '-c', f'umask 0 && "{mdnsd}" --generate-key="{made}"'],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and stat.S_IMODE(os.stat(made).st_mode) == 0o600, r.stderr
        with open(made) as f:
            before = f.read()
        r = subprocess.run([mdnsd, f'--generate-key={made}'], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 1 and 'already exists' in r.stderr, (r.returncode, r.stderr)
        with open(made) as f:
            assert f.read() == before, 'an existing key was replaced'

        # The printed key works as --key-file; no avahi-daemon is reported with the fix.
        d = Daemon(mdnsd, tmp, 'printed', extra=[f'--key-file={out}'])
        d.wait_log(', authenticated')
        d.wait_log('cannot reach avahi-daemon')
        d.wait_log('systemctl start dbus avahi-daemon')
        d.stop()

        # The unit's credential.
        creds = os.path.join(tmp, 'creds')
        os.mkdir(creds, 0o700)
        key = os.path.join(creds, 'gossip-key')
        with open(made) as f:
            write_key(key, f.read(), 0o400)
        d = Daemon(mdnsd, tmp, 'credential', creds=creds)
        d.wait_log(', authenticated')
        d.stop()

        os.chmod(key, 0o600)
        write_key(key, '\n', 0o400)
        d = Daemon(mdnsd, tmp, 'blank', creds=creds)
        d.wait_log('is empty (no /etc/distcc-mdns/key): gossip is not authenticated')
        d.wait_log('gossip on udp port')
        assert ', authenticated' not in d.log(), d.log()
        d.stop()

        os.chmod(key, 0o600)
        with open(made) as f:
            write_key(key, f.read(), 0o644)
        d = Daemon(mdnsd, tmp, 'bad', creds=creds)
        rc = d.wait_exit(10)
        assert rc == 1 and 'has mode 0644' in d.log(), (rc, d.log())

        d = Daemon(mdnsd, tmp, 'both', creds=creds, extra=[f'--key-file={out}'])
        d.wait_log('--key-file given, credential')
        d.wait_log(', authenticated')
        d.stop()

        # A bus without avahi-daemon on it.
        if not shutil.which('dbus-daemon'):
            print('dbus-daemon missing: the waiting-for-avahi message is not checked', flush=True)
            return 0
        bus = os.path.join(tmp, 'bus')
        dbus = subprocess.Popen(['dbus-daemon', '--session', '--nofork', f'--address=unix:path={bus}'],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            for _ in range(500):
                if os.path.exists(bus) or dbus.poll() is not None:
                    break
                time.sleep(0.01)
            assert os.path.exists(bus), f'dbus-daemon did not start (exit {dbus.poll()})'
            d = Daemon(mdnsd, tmp, 'no-avahi', bus=bus)
            d.wait_log('avahi-daemon is not running: waiting for it. Start it (systemctl start avahi-daemon)')
            d.wait_log('gossip on udp port')
            d.stop()
        finally:
            dbus.terminate()
            dbus.wait(5)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(os.path.abspath(sys.argv[1])))
    except AssertionError as e:
        print(f'FAIL: {e}', flush=True)
        sys.exit(1)
