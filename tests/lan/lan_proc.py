"""Processes of the virtual LAN: the harness's errors, its one wait
(wait_until, bounded in time and calls) and Proc, a background process on a
host whose output goes to a log file.

Standard library only; nothing here knows about namespaces or services.
"""

import os
import re
import shlex
import signal
import subprocess
import time

T0 = time.monotonic()


def note(msg):
    """Prints a timestamped progress line (seconds since the script started)."""
    print(f'[{time.monotonic() - T0:7.3f}] {msg}', flush=True)


class LanError(Exception):
    """The harness or a process on a host failed."""


class Timeout(LanError):
    """wait_until gave up."""


class ProcessDied(LanError):
    """A process that had to stay alive exited."""


class Skip(Exception):
    """The test cannot run here (not root, no netns...): exit 77."""


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived; cleanup runs on the way out."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# ---------------------------------------------------------------- polling

def wait_until(predicate, timeout, interval=0.05, what='condition', watch=()):
    """Calls predicate() until it returns something truthy and returns that.

    Bounded in time (timeout seconds) and in count (timeout/interval + 2
    calls). Sleeps only between calls. Before every call each Proc in `watch`
    must still be alive, else ProcessDied (with its log tail) is raised at
    once instead of waiting out the timeout. Raises Timeout on expiry.
    Exceptions from predicate propagate.
    """
    start = time.monotonic()
    deadline = start + timeout
    calls = int(timeout / interval) + 2
    for _ in range(calls):
        for p in watch:
            p.check_alive()
        value = predicate()
        if value:
            return value
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(interval, deadline - now))
    raise Timeout(f'timed out after {time.monotonic() - start:.2f}s '
                  f'(limit {timeout:g}s) waiting for {what}')


# ---------------------------------------------------------------- helpers

def sh(argv, check=True, timeout=20, input=None):
    """Runs a command in the root namespaces (iproute2 mostly)."""
    r = subprocess.run(argv, stdin=subprocess.DEVNULL if input is None else None,
                       input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise LanError(f'{shlex.join(argv)} failed ({r.returncode}): '
                       f'{r.stderr.strip() or r.stdout.strip()}')
    return r


def pid_alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
        return state not in ('Z', 'X')
    except (OSError, IndexError):
        return False


def comm(pid):
    try:
        with open(f'/proc/{pid}/comm') as f:
            return f.read().strip()
    except OSError:
        return None


def rc_text(rc):
    if rc is None:
        return 'nothing (running)'
    if rc < 0:
        try:
            return f'signal {signal.Signals(-rc).name}'
        except ValueError:
            return f'signal {-rc}'
    return f'status {rc}'


# ---------------------------------------------------------------- processes

class Proc:
    """A background process on a host; stdout+stderr go to a log file."""

    def __init__(self, host, name, argv, popen, log_path):
        self.host = host
        self.name = name
        self.argv = argv
        self.popen = popen
        self.log_path = log_path
        self.started = time.monotonic()

    def __repr__(self):
        return f'<Proc {self.host.name}:{self.name} pid {self.pid}>'

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.poll()

    def alive(self):
        return self.popen.poll() is None

    def check_alive(self):
        if not self.alive():
            raise ProcessDied(f'{self.host.name}: {self.name} (pid {self.pid}) exited with '
                              f'{rc_text(self.popen.returncode)}\n'
                              f'--- {self.log_path} (last lines) ---\n{self.tail(30)}')

    def send_signal(self, sig):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        """Waits for exit; returns the exit status (negative: signal)."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Timeout(f'{self.host.name}: {self.name} (pid {self.pid}) still running '
                          f'after {timeout:g}s') from None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Sends sig, waits up to timeout, then SIGKILL. Returns the exit status."""
        self.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            return self.popen.wait(timeout=5)

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def tail(self, n=40):
        return '\n'.join(self.log().splitlines()[-n:])

    def wait_log(self, pattern, timeout, start=0, interval=0.02):
        """Waits until regex `pattern` matches the log (from byte offset start)."""
        rx = re.compile(pattern, re.M)

        def look():
            dead = not self.alive()       # sampled before reading the log
            m = rx.search(self.log()[start:])
            if not m and dead:
                self.check_alive()
            return m
        return wait_until(look, timeout, interval, what=f'{self.host.name}:{self.name} log '
                          f'matching {pattern!r}')

    def log_size(self):
        try:
            return len(self.log())
        except OSError:
            return 0

