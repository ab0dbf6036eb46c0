#!/usr/bin/env python3
"""run_make: real GNU make (Debian 12's 4.3) under a run::Jobserver, through jobserver-harness.

Each recipe appends "start NAME WALL" and "end NAME WALL" to a log (WALL from
`date +%s.%N`); the concurrency at any moment is the starts minus the ends
before it. A recipe writes its end before it exits, so the token make gets
back for it can only start a job after that line.
  a. make never runs more recipes at once than tokens + 1 (the implicit
     one), and does run that many; 0 tokens build serially.
  b. shrinking mid-build kills and blocks nothing: every recipe ends, the
     harness keeps tracing, and concurrency falls to the new target + 1
     once the running jobs end.
  c. growing starts jobs at once.
  d. a failing recipe's status (make's 2) passes through.
  e. SIGINT to the process group (what Ctrl-C does) leaves no process of
     the group behind, the harness exits 130 and no token is lost. (The
     recipes' sleep runs without a shell: dash -c catches SIGINT and acts
     on it only after its current command, so a shell hit between two
     commands runs the next one to its end; seen here as a flake.)
  f. the Both-style MAKEFLAGS (fifo: first, R,W last) works with make 4.3:
     no "invalid --jobserver-auth", parallel jobs; and a fifo-form client (a
     stand-in for make 4.4 and ninja 1.13: it reads fifo:PATH from
     MAKEFLAGS, opens the FIFO and takes tokens) holds as many tokens as
     the target, as the harness's ledger shows.
  g. the real tools as inspectCommand() sees them: make speaks the
     jobserver (Both for 4.3); ninja only from 1.13, else `-j N`; cmake
     --build over Unix Makefiles joins the pool (recipes at once = tokens +
     1), over Ninja follows ninja (`--parallel N` for 1.11).
Every wait polls with a deadline.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, failures, group_alive  # noqa: E402

HARNESS = sys.argv[1]

MAKEFILE = r'''
N ?= 12
all: $(addprefix j,$(shell seq 1 $(N)))
j%:
	@echo "start $@ $$(date +%s.%N)" >> $(LOG); sleep $(SECS); echo "end $@ $$(date +%s.%N)" >> $(LOG)
fail:
	@echo "start $@ $$(date +%s.%N)" >> $(LOG); exit 3
# For Ctrl-C: the sleep is its own recipe line, which make runs without a
# shell. A recipe shell (dash -c) catches SIGINT and acts on it only after
# its current command: one caught between `echo` and `sleep` would sleep on.
long: $(addprefix k,$(shell seq 1 $(N)))
k%:
	@echo "start $@ $$(date +%s.%N)" >> $(LOG)
	@sleep $(SECS)
'''

FIFO_CLIENT = r'''
import os, re, sys, time
want, trace = int(sys.argv[1]), sys.argv[2]
auth = re.findall(r'--jobserver-auth=(\S+)', os.environ['MAKEFLAGS'])
fifo = [a[5:] for a in auth if a.startswith('fifo:')]
if not fifo:
    sys.exit('no fifo: word in MAKEFLAGS')
# make 4.4 opens the FIFO by its path, read-write here so open() never waits.
fd = os.open(fifo[0], os.O_RDWR)
held = b''
for _ in range(want):
    held += os.read(fd, 1)
print(f'held {len(held)}', flush=True)
# Hold them until the harness's ledger counts them in use.
deadline = time.monotonic() + 10
seen = False
for _ in range(1000):
    with open(trace) as f:
        seen = any(line.split()[4] == str(want) for line in f if len(line.split()) == 6)
    if seen or time.monotonic() > deadline:
        break
    time.sleep(0.01)
os.write(fd, held)
sys.exit(0 if seen else 5)
'''


def events(log):
    out = []
    if not os.path.exists(log):
        return out
    with open(log) as f:
        for line in f:
            kind, name, wall = line.split()
            out.append((float(wall), 1 if kind == 'start' else -1, name))
    # At the same instant an end comes before a start.
    out.sort(key=lambda e: (e[0], e[1]))
    return out


def concurrency(log):
    """[(wall, running after this event)]"""
    run, out = 0, []
    for wall, d, _ in events(log):
        run += d
        out.append((wall, run))
    return out


def trace_lines(path):
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 6:
                out.append((float(p[0]),) + tuple(int(x) for x in p[1:]))
    return out


def harness(tmp, name, tokens, make_args, at=(), style='both', env=None, secs=0.3, n=12):
    log = os.path.join(tmp, f'{name}.log')
    trace = os.path.join(tmp, f'{name}.trace')
    argv = [HARNESS, f'--tokens={tokens}', f'--style={style}', f'--trace={trace}']
    argv += [f'--at={t}:{k}' for t, k in at]
    argv += ['--', 'make', '-f', os.path.join(tmp, 'Makefile'), f'LOG={log}', f'SECS={secs}', f'N={n}'] + list(make_args)
    e = dict(os.environ)
    e.pop('MAKEFLAGS', None)
    e.update(env or {})
    started = time.time()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=e)
    return r, log, trace, started


def case_tokens_bound(tmp):
    for tokens in (0, 1, 3, 6):
        r, log, _, _ = harness(tmp, f'bound{tokens}', tokens, [], n=3 * (tokens + 1) + 2)
        peak = max(c for _, c in concurrency(log))
        ends = sum(1 for _, d, _ in events(log) if d < 0)
        check(r.returncode == 0 and ends == 3 * (tokens + 1) + 2,
              f'a: {tokens} tokens: the build ends (rc {r.returncode}, {ends} recipes)')
        check(peak == tokens + 1, f'a: {tokens} tokens: at most and at least {tokens + 1} recipes at once (peak {peak})')
        check('lost 0' in r.stderr, f'a: {tokens} tokens: every token came back ({r.stderr.strip()})')


def case_shrink(tmp):
    # 8 recipes of 1 s run from t=0; the target falls to 1 at t=0.5, while
    # every token is held by a running recipe.
    r, log, trace, started = harness(tmp, 'shrink', 7, [], at=[(0.5, 1)], secs=1.0, n=20)
    ev = events(log)
    starts = [e for e in ev if e[1] > 0]
    ends = [e for e in ev if e[1] < 0]
    check(r.returncode == 0 and len(starts) == 20 and len(ends) == 20,
          f'b: shrinking kills nothing: {len(starts)} started, {len(ends)} ended, rc {r.returncode}')
    conc = concurrency(log)
    first_end = ends[0][0]
    peak_before = max(c for w, c in conc if w < first_end)
    late = [c for w, c in conc if w > first_end + 0.5]
    check(peak_before == 8, f'b: 8 recipes ran before the shrink took effect ({peak_before})')
    check(late and max(late) <= 2, f'b: 0.5 s after the first recipe ended, at most 2 at once (max {max(late) if late else None})')
    # The harness's tracing never stalled: no gap over 0.5 s in its lines.
    walls = [t[0] for t in trace_lines(trace)]
    gaps = max(b - a for a, b in zip(walls, walls[1:]))
    check(gaps < 0.5, f'b: the runner never blocked (longest gap between trace lines {gaps:.3f} s)')
    held = [t for t in trace_lines(trace) if t[1] == 1]
    check(any(t[5] == 6 for t in held), 'b: the ledger showed 6 tokens held back right after the shrink')
    check('lost 0' in r.stderr, f'b: every token came back ({r.stderr.strip()})')


def case_grow(tmp):
    r, log, _, started = harness(tmp, 'grow', 0, [], at=[(1.0, 5)], secs=1.0, n=12)
    conc = concurrency(log)
    # Serial before the growth; 6 at once within 0.3 s of it.
    t_grow = events(log)[0][0] + 1.0
    before = [c for w, c in conc if w < t_grow - 0.1]
    soon = [c for w, c in conc if t_grow - 0.1 <= w <= t_grow + 0.4]
    check(r.returncode == 0 and before and max(before) == 1, f'b/c: serial with 0 tokens (max {max(before) if before else None})')
    check(soon and max(soon) == 6, f'c: growing to 5 started jobs at once: 6 running within 0.4 s (max {max(soon) if soon else None})')


def case_fail(tmp):
    r, log, _, _ = harness(tmp, 'fail', 3, ['fail'])
    check(r.returncode == 2, f'd: a failing recipe: make exits 2 and so does the harness (rc {r.returncode})')
    check('Error 3' in r.stderr, 'd: make reported the recipe\'s status 3')


def sleeping(pgid):
    """The recipes' sleep processes in the group."""
    out = []
    for pid in group_alive(pgid):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                if f.read().split(b'\0')[0] == b'sleep':
                    out.append(pid)
        except OSError:
            pass
    return out


def case_sigint(tmp):
    log = os.path.join(tmp, 'int.log')
    e = dict(os.environ)
    e.pop('MAKEFLAGS', None)
    argv = [HARNESS, '--tokens=3', '--', 'make', '-f', os.path.join(tmp, 'Makefile'), f'LOG={log}', 'SECS=30', 'N=8', 'long']
    # A session of its own: the harness leads a process group, as a shell's
    # foreground job does; Ctrl-C is SIGINT to that group.
    p = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    deadline = time.monotonic() + 20
    for _ in range(2000):
        if len(sleeping(p.pid)) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    running = len(sleeping(p.pid))
    check(running == 4, f'e: 4 recipes running before Ctrl-C ({running})')
    check(len(group_alive(p.pid)) >= 6, f'e: harness, make and recipes in one group ({len(group_alive(p.pid))})')
    os.killpg(p.pid, signal.SIGINT)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        for pid in group_alive(p.pid):
            try:
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
                with open(f'/proc/{pid}/wchan') as f:
                    wchan = f.read()
                with open(f'/proc/{pid}/status') as f:
                    sig = [ln.strip() for ln in f if ln.startswith(('State', 'SigIgn', 'SigBlk', 'SigPnd', 'ShdPnd'))]
                print(f'e: still running after 20 s: {pid} {cmd} wchan={wchan} {sig}', flush=True)
            except OSError:
                pass
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
    check(p.returncode == 130, f'e: the harness exits 130 after SIGINT to the group (rc {p.returncode})')
    left = group_alive(p.pid)
    for _ in range(500):
        if not left:
            break
        time.sleep(0.01)
        left = group_alive(p.pid)
    if left:
        os.killpg(p.pid, signal.SIGKILL)
    check(not left, f'e: no process of the group left ({left})')
    check('lost 0' in err, f'e: make returned every token ({err.strip()})')


def case_both_style(tmp):
    # A recipe that shows the MAKEFLAGS make 4.3 hands on.
    mk = os.path.join(tmp, 'Makeflags.mk')
    with open(mk, 'w') as f:
        f.write('all:\n\t@echo "MAKEFLAGS=$$MAKEFLAGS"\n')
    e = dict(os.environ)
    e['MAKEFLAGS'] = 'k -j9 --jobserver-auth=8,9 -- V=1'
    r = subprocess.run([HARNESS, '--tokens=2', '--style=both', '--', 'make', '-f', mk], capture_output=True, text=True, timeout=60, env=e)
    check(r.returncode == 0 and 'invalid' not in r.stderr and 'jobserver unavailable' not in r.stderr,
          f'f: make 4.3 takes fifo: first and R,W last (rc {r.returncode}, stderr {r.stderr.strip()!r})')
    m = re.search(r'MAKEFLAGS=(.*)', r.stdout)
    check(m is not None and '-j9' not in m.group(1) and '--jobserver-auth=8,9' not in m.group(1) and 'k' in m.group(1).split()[0]
          and m.group(1).rstrip().endswith('-- V=1'),
          f'f: the user\'s flags and variables reach the recipe, the old pool does not ({m.group(1) if m else None!r})')
    # Parallel jobs under the Both style were seen in (a); the fifo form:
    trace = os.path.join(tmp, 'fifo.trace')
    client = os.path.join(tmp, 'fifo_client.py')
    with open(client, 'w') as f:
        f.write(FIFO_CLIENT)
    for style in ('both', 'fifo'):
        open(trace, 'w').close()
        r = subprocess.run([HARNESS, '--tokens=3', f'--style={style}', f'--trace={trace}', '--', '/usr/bin/python3', client, '3', trace],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and 'held 3' in r.stdout,
              f'f: a fifo-form client ({style}) took 3 tokens through fifo:PATH and the ledger saw them in use (rc {r.returncode}, {r.stdout.strip()!r} {r.stderr.strip()!r})')
        check('lost 0' in r.stderr, f'f: its tokens came back ({style})')


def inspect(argv):
    r = subprocess.run([HARNESS, '--inspect', '--'] + argv, capture_output=True, text=True, timeout=60)
    return dict(line.split('=', 1) for line in r.stdout.splitlines())


def version(tool):
    out = subprocess.run([tool, '--version'], capture_output=True, text=True).stdout
    m = re.search(r'(\d+)\.(\d+)', out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def case_real_tools(tmp):
    info = inspect(['make', '-C', tmp])
    make44 = version('make') >= (4, 4)
    check(info['kind'] == 'make' and info['speaks'] == '1' and info['style'] == ('fifo' if make44 else 'both')
          and info['fixed'] == f'make -C {tmp}', f'g: make: {info}')
    if shutil.which('ninja'):
        info = inspect(['ninja', '-C', tmp])
        new = version('ninja') >= (1, 13)
        check(info['speaks'] == ('1' if new else '0') and info['fixed'] == (f'ninja -C {tmp}' if new else f'ninja -j 5 -C {tmp}'),
              f'g: ninja {version("ninja")}: {info}')
    if not shutil.which('cmake'):
        print('g: no cmake, its cases skipped')
        return
    src = os.path.join(tmp, 'cmake-src')
    os.makedirs(src)
    log = os.path.join(tmp, 'cmake.log')
    with open(os.path.join(src, 'CMakeLists.txt'), 'w') as f:
        f.write('cmake_minimum_required(VERSION 3.13)\nproject(t NONE)\n')
        for i in range(9):
            f.write(f'add_custom_target(t{i} ALL COMMAND sh -c "echo start t{i} $(date +%s.%N) >> {log}; '
                    f'sleep 0.3; echo end t{i} $(date +%s.%N) >> {log}" VERBATIM)\n')
    build = os.path.join(tmp, 'cmake-make')
    subprocess.run(['cmake', '-S', src, '-B', build, '-G', 'Unix Makefiles'], check=True, capture_output=True, timeout=60)
    info = inspect(['cmake', '--build', build])
    check(info['kind'] == 'cmake-build' and info['speaks'] == '1', f'g: cmake --build over Unix Makefiles speaks the jobserver: {info}')
    e = dict(os.environ)
    e.pop('MAKEFLAGS', None)
    e.pop('CMAKE_BUILD_PARALLEL_LEVEL', None)
    r = subprocess.run([HARNESS, '--tokens=2', '--', 'cmake', '--build', build], capture_output=True, text=True, timeout=90, env=e)
    conc = concurrency(log)
    peak = max(c for _, c in conc) if conc else 0
    check(r.returncode == 0 and peak == 3 and len(conc) == 18,
          f'g: cmake --build under the pool ran 3 recipes at once on 2 tokens (rc {r.returncode}, peak {peak}, {len(conc)} events)')
    if shutil.which('ninja'):
        build = os.path.join(tmp, 'cmake-ninja')
        subprocess.run(['cmake', '-S', src, '-B', build, '-G', 'Ninja'], check=True, capture_output=True, timeout=60)
        info = inspect(['cmake', '--build', build])
        new = version('ninja') >= (1, 13)
        want = f'cmake --build {build}' if new else f'cmake --build {build} --parallel 5'
        check(info['speaks'] == ('1' if new else '0') and info['fixed'] == want, f'g: cmake --build over Ninja follows ninja: {info}')


def main():
    if not shutil.which('make'):
        print('run_make: GNU make is not installed', file=sys.stderr)
        sys.exit(77)
    with tempfile.TemporaryDirectory(prefix='dmdns-run-make-') as tmp:
        with open(os.path.join(tmp, 'Makefile'), 'w') as f:
            f.write(MAKEFILE)
        for case in (case_tokens_bound, case_shrink, case_grow, case_fail, case_sigint, case_both_style, case_real_tools):
            case(tmp)
    if failures:
        print(f'{len(failures)} checks failed', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
