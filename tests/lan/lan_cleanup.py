#!/usr/bin/env python3
"""Removing a virtual LAN: teardown (kill every process of its namespaces,
delete them, remove its files), the janitor that repeats it when the test
process dies without doing it, and --cleanup-stale for what a killed run left.

A LAN writes its namespaces and files to TMPDIR/state.json before creating
them; the janitor (`lan_cleanup.py --janitor STATE`, in its own session)
waits for the owner's pipe to close and then tears down what the file names.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from lan_netns import NS_PREFIX, TMP_PREFIX, netns_exists, netns_pids
from lan_proc import pid_alive, sh


def teardown(netns, tmpdir=None, log=None):
    """Kills every process in the namespaces, deletes them, removes tmpdir.

    Idempotent; used by Lan.close(), the janitor and --cleanup-stale.
    `netns` is a list; the switch namespace should come last.
    """
    me = os.getpid()
    for _ in range(100):
        pids = set()
        for ns in netns:
            pids |= netns_pids(ns)
        pids.discard(me)
        pids = {p for p in pids if pid_alive(p)}
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    else:
        if log:
            log(f'teardown: processes survive in {netns}: {sorted(pids)}')
    for ns in netns:
        if netns_exists(ns):
            r = subprocess.run(['ip', 'netns', 'del', ns], capture_output=True, text=True)
            if r.returncode != 0 and log:
                log(f'teardown: ip netns del {ns}: {r.stderr.strip()}')
    if tmpdir and os.path.isdir(tmpdir):
        # A host's /run is bind-mounted only inside its own (now dead) mount
        # namespace, so here it is a plain directory.
        shutil.rmtree(tmpdir, ignore_errors=True)


def start_janitor(state_path):
    """Starts the janitor of the LAN described by state_path; closing its
    stdin (or dying) tells it to clean up."""
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), '--janitor',
                             state_path], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)


def janitor(state_path):
    """Blocks until the owner's pipe closes, then cleans what is left."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    cleanup_state(state_path)


def cleanup_state(state_path):
    try:
        with open(state_path) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return False
    teardown(state.get('netns', []), state.get('tmpdir'))
    try:
        os.unlink(state_path)
    except FileNotFoundError:
        pass
    return True


def state_files():
    for fn in os.listdir('/tmp'):
        path = os.path.join('/tmp', fn, 'state.json')
        if fn.startswith(TMP_PREFIX) and os.path.isfile(path):
            yield path


def cleanup_stale():
    n = 0
    known = set()
    for path in list(state_files()):
        try:
            with open(path) as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        if pid_alive(state.get('owner', 0)) or pid_alive(state.get('janitor', 0)):
            known |= set(state.get('netns', []))
            continue
        print(f'removing stale LAN {os.path.dirname(path)}: {state.get("netns")}')
        cleanup_state(path)
        n += 1
    r = sh(['ip', 'netns', 'list'], check=False)
    orphans = [line.split()[0] for line in r.stdout.splitlines()
               if line.startswith(NS_PREFIX + '-') and line.split()[0] not in known]
    if orphans:
        print(f'namespaces of no running LAN (remove with ip netns del): {orphans}')
    print(f'{n} stale LAN(s) removed')


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--janitor':
        janitor(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == '--cleanup-stale':
        cleanup_stale()
    else:
        print(__doc__)
        sys.exit(2)
