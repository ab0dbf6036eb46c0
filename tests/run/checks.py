"""What the run tests (test_make.py, test_runner_cli.py) share: checks that
record a failure and go on, and the processes left in a process group."""

import os

failures = []


def check(cond, what):
    """Prints ok or FAIL with what was checked; a failure is kept in failures."""
    print(('ok   ' if cond else 'FAIL ') + what, flush=True)
    if not cond:
        failures.append(what)


def group_alive(pgid):
    """Pids of process group pgid still running (zombies count as gone)."""
    alive = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/stat') as f:
                # After the command name in parentheses: the state, the
                # parent, the process group.
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != 'Z':
            alive.append(int(pid))
    return alive


def group_commands(pgid):
    """The command names (comm) of process group pgid's live processes."""
    names = []
    for pid in group_alive(pgid):
        try:
            with open(f'/proc/{pid}/comm') as f:
                names.append(f.read().strip())
        except OSError:
            continue
    return names
