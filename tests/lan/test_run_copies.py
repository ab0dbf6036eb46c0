#!/usr/bin/env python3
"""lan-run-copies: a compile stuck on a slow server is copied to a fast one that idles, and the build ends.

s1 advertises speed 3 and s2 speed 1 (both real distccd); on s2 the
compiler sleeps 90 s before it runs (a gcc script first in its distccd's
PATH), a server that turned slow. c3
builds 3 units and main.c under `distcc-mdns-run make`, as uid 65534 beside
the root daemon. distcc fills slot 0 of every host first, so one unit goes
to s2; the others end at once and make has nothing left to start but the
link, which waits for it. Asserted: the build ends within 45 s (without a
copy it waits the 90 s), its program prints the expected sum, the runner's
trace counts a copy started and won, no temporary file is left beside the
objects, and s2 finished no compile (every object came from s1 or c3;
distccd ends the compile of a client that went away). Figure: the build's time.

Then the compile times the runner remembers (Placement::forWork()): the
first build left its measured works in the user's cache
(~/.cache/distcc-mdns/works, keyed by each object's absolute path). With
every object remembered as 50 s of work, s2 (a third of s1's speed) is no
place for any of them: a second build sends s2 no job at all and needs no
copy.
"""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure, note  # noqa: E402
from lan_proc import Timeout  # noqa: E402

NOBODY = 65534
UNITS = 3
SLOW_SLEEP = 90
ADVERTISED = ('--learn-speed=no',)
SLOW_GCC = f'#!/bin/sh\nsleep {SLOW_SLEEP}\nexec /usr/bin/gcc "$@"\n'


def write_project(host):
    for i in range(UNITS):
        host.write(f'proj/u{i}.c', f'int u{i}(int x) {{ return x * {i + 5} + {i % 3}; }}\n')
    decls = ''.join(f'int u{i}(int);\n' for i in range(UNITS))
    calls = ' + '.join(f'u{i}(2)' for i in range(UNITS))
    host.write('proj/main.c', f'#include <stdio.h>\n{decls}int main(void) {{ printf("%d\\n", {calls}); return 0; }}\n')
    objs = ' '.join(f'u{i}.o' for i in range(UNITS))
    host.write('proj/Makefile', f'prog: main.o {objs}\n\t$(CC) -o $@ $^\n%.o: %.c\n\t$(CC) -c $< -o $@\n')
    return sum(2 * (i + 5) + i % 3 for i in range(UNITS))


def slow_compiler(host):
    """A directory for the front of s2's distccd PATH whose gcc sleeps first:
    distccd checks that /usr/lib/distcc names the compiler, then runs it
    from its PATH."""
    slow = os.path.join(host.dir, 'slowbin')
    os.makedirs(slow, exist_ok=True)
    os.chmod(slow, 0o755)
    # distcc asks for the compiler by its target's name (x86_64-linux-gnu-gcc).
    machine = subprocess.run(['gcc', '-dumpmachine'], capture_output=True, text=True, check=True).stdout.strip()
    for name in ('gcc', f'{machine}-gcc'):
        with open(os.path.join(slow, name), 'w') as f:
            f.write(SLOW_GCC)
        os.chmod(os.path.join(slow, name), 0o755)
    return {'PATH': f'{slow}:{lan.PATH}'}


def fnv1a64(text):
    """WorkHistory::key(): FNV-1a of 64 bits."""
    h = 0xcbf29ce484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001b3) % (1 << 64)
    return h


def remembered_long(c3, proj, servers, s2, env, argv, total):
    """The second build, every object remembered as long: nothing goes to s2."""
    works = os.path.join(proj, '.cache', 'distcc-mdns', 'works')
    real = os.path.realpath(proj)
    keys = {f'{fnv1a64(os.path.join(real, name)):016x}' for name in [f'u{i}.o' for i in range(UNITS)] + ['main.o']}
    with open(works) as f:
        lines = [l.split() for l in f if not l.startswith('#')]
    note(f'the first build left {len(lines)} compile times: {lines}')
    assert lines and {l[0] for l in lines} <= keys and all(float(l[1]) > 0 for l in lines), \
        f'the first build remembered no compile of its own objects: {lines} (keys {sorted(keys)})'
    with open(works, 'w') as f:
        f.write(''.join(f'{k} 50 1\n' for k in sorted(keys)))
    os.chown(works, NOBODY, NOBODY)
    for name in os.listdir(proj):
        if name.endswith('.o') or name == 'prog':
            os.unlink(os.path.join(proj, name))
    on_s2_before = len([j for j in dm.distccd_jobs(servers[s2.name]) if j['client'] == c3.ip])
    trace_file = os.path.join(proj, 'trace2.json')
    argv = [a if not a.startswith('--trace=') else f'--trace={trace_file}' for a in argv]
    build = c3.spawn(argv, name='run2', env=env)
    try:
        rc = build.wait(45)
    except Timeout:
        raise AssertionError(f'the second build waits for the slow server: {build.tail()}') from None
    assert rc == 0, f'the second build failed ({rc}): {build.tail()}'
    out = c3.run([os.path.join(proj, 'prog')]).stdout.strip()
    assert out == str(total), f'the second build\'s program prints {out}, not {total}'
    records = dm.run_trace(trace_file)
    last = records[-1] if records else {}
    on_s2 = len([j for j in dm.distccd_jobs(servers[s2.name]) if j['client'] == c3.ip]) - on_s2_before
    note(f'second build: copies {last.get("copies")}, jobs s2 got {on_s2}')
    assert on_s2 == 0, f'a compile remembered as 50 s of work went to s2 (a third of s1\'s speed): {on_s2}'
    assert last.get('copies') == 0, f'the second build needed copies: {last}'


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    runner = dm.runner_path(argv, 'test_run_copies.py')
    with lan.Lan(3) as net:
        s1, s2, c3 = net.hosts
        servers = {s1.name: s1.start_distccd(jobs=4),
                   s2.name: s2.start_distccd(jobs=4, env=slow_compiler(s2))}
        daemons = [dm.start_mdnsd(s1, bins, '--speed=3', *ADVERTISED),
                   dm.start_mdnsd(s2, bins, '--speed=1', *ADVERTISED),
                   dm.start_mdnsd(c3, bins, '--speed=1', *ADVERTISED)]
        for s in (s1, s2):
            dm.wait_listed(c3, bins, s.ip, 10, watch=daemons)
        total = write_project(c3)
        proj = os.path.join(c3.work, 'proj')
        for root, dirs, files in os.walk(proj):
            for name in [root] + [os.path.join(root, f) for f in dirs + files]:
                os.chown(name, NOBODY, NOBODY)
        trace_file = os.path.join(proj, 'trace.json')
        argv = ['setpriv', f'--reuid={NOBODY}', f'--regid={NOBODY}', '--clear-groups',
                runner, '--local-slots=2', f'--trace={trace_file}', '-v', 'make', '-C', proj]
        env = {'DISTCC_HOSTS': None, 'CC': 'gcc', 'HOME': proj, 'USER': 'nobody', 'LOGNAME': 'nobody'}
        start = time.monotonic()
        build = c3.spawn(argv, name='run', env=env)
        try:
            rc = build.wait(45)
        except Timeout:
            raise AssertionError(f'the build still waits for the slow server after 45 s: {build.tail()}') from None
        took = time.monotonic() - start
        figure('run_copies.build_seconds', took, 's', 45.0)
        assert rc == 0, f'the build failed ({rc}): {build.tail()}'
        out = c3.run([os.path.join(proj, 'prog')]).stdout.strip()
        assert out == str(total), f'the program prints {out}, not {total}'
        records = dm.run_trace(trace_file)
        last = records[-1] if records else {}
        note(f'trace: copies {last.get("copies")}, won {last.get("copies_won")}')
        assert last.get('copies', 0) >= 1 and last.get('copies_won', 0) >= 1, \
            f'the trace counts no copy that won: {last}'
        left = [f for f in os.listdir(proj) if '.dmrun' in f]
        assert not left, f'temporary files left beside the objects: {left}'
        on_s1 = [j for j in dm.distccd_jobs(servers[s1.name]) if j['client'] == c3.ip and j['status'] == 'COMPILE_OK']
        figure('run_copies.compiles_on_s1', len(on_s1), 'jobs')
        note(f'the runner said: {[l for l in build.log().splitlines() if "cop" in l][:5]}')
        # s2 never finishes a compile within the test: every object came
        # from s1 or from c3 itself. (distccd ends a compile whose client
        # went away: the ended originals show as CLI_DISCONN there.)
        on_s2 = [j for j in dm.distccd_jobs(servers[s2.name]) if j['client'] == c3.ip]
        note(f's2: {[j["status"] for j in on_s2]}')
        assert not [j for j in on_s2 if j['status'] == 'COMPILE_OK'], \
            f's2 finished a compile, which sleeps {SLOW_SLEEP} s first: {on_s2}'
        remembered_long(c3, proj, servers, s2, env, argv, total)

if __name__ == '__main__':
    lan.run_test(main)
