#!/usr/bin/env python3
"""lan-hosts-file: distcc-mdnsd --hosts-file keeps a running build's picks fresh.

h1 is a server (distccd --jobs 8), h3 a client whose daemon keeps
$DISTCC_DIR/hosts (which distcc reads for every compile when DISTCC_HOSTS is
unset). h3 starts `make -j2 CC="distcc gcc"` on a project built in two
phases with a barrier between them (a bounded wait for a flag file). While
the build waits, h2 joins as a second server. Asserted: the hosts file
lists only h1 during phase 1 and h2 once it joined, without the daemon
restarting; phase 1 compiled nothing on h2, phase 2 of the same running
build compiled on h2; the file never held a partial line. Figures: join to
file, and where the jobs ran.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure, note  # noqa: E402

PHASE = 6   # units per phase


def write_project(host):
    for phase in (1, 2):
        for i in range(PHASE):
            host.write(f'proj/p{phase}_{i}.c', f'int p{phase}_{i}(int x) {{ return x * {i + 3} + {phase}; }}\n')
    objs1 = ' '.join(f'p1_{i}.o' for i in range(PHASE))
    objs2 = ' '.join(f'p2_{i}.o' for i in range(PHASE))
    host.write('proj/Makefile',
               f'all: {objs2}\n'
               f'phase1: {objs1}\n\ttouch phase1\n'
               # The barrier polls for the test's flag, at most 60 s.
               f'barrier: phase1\n\tfor i in $$(seq 1 1200); do [ -e go ] && exit 0; sleep 0.05; done; exit 1\n'
               f'p1_%.o: p1_%.c\n\t$(CC) -c $< -o $@\n'
               f'p2_%.o: p2_%.c barrier\n\t$(CC) -c $< -o $@\n')


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3) as net:
        s1, s2, cli = net.hosts
        j1 = s1.start_distccd(jobs=8)
        d1 = dm.start_mdnsd(s1, bins)
        hosts_file = os.path.join(cli.distcc_dir, 'hosts')
        dc = dm.start_mdnsd(cli, bins, f'--hosts-file={hosts_file}')
        watch = [d1, dc]
        seen = []

        def file_line():
            with open(hosts_file) as f:
                text = f.read()
            assert text.endswith('\n') and text.count('\n') == 1, f'not one whole line: {text!r}'
            dm.parse_line(text.strip())
            if not seen or seen[-1] != text:
                seen.append(text)
            return text.strip()

        lan.wait_until(lambda: s1.ip in dm.line_hosts(file_line()), 10, watch=watch,
                       what=f'{s1.ip} in {hosts_file}')

        write_project(cli)
        build = cli.spawn(['make', '-j2', 'CC=distcc gcc'], name='make', cwd=os.path.join(cli.work, 'proj'),
                          env={'DISTCC_HOSTS': None, 'DISTCC_VERBOSE': '1', 'DISTCC_FALLBACK': '0'})
        lan.wait_until(lambda: os.path.exists(os.path.join(cli.work, 'proj', 'phase1')), 30,
                       watch=watch + [build], what='phase 1 of the build')
        assert s2.ip not in dm.line_hosts(file_line())

        # h2 joins while the build waits at its barrier.
        t0 = time.monotonic()
        j2 = s2.start_distccd(jobs=8)
        d2 = dm.start_mdnsd(s2, bins)
        watch.append(d2)
        lan.wait_until(lambda: s2.ip in dm.line_hosts(file_line()), 10, watch=watch,
                       what=f'{s2.ip} in {hosts_file}')
        figure('hosts_file.join_to_file', time.monotonic() - t0, 's')
        note(f'hosts file now: {file_line()!r}')
        cli.write('proj/go', '')

        rc = build.wait(60)
        assert rc == 0, f'make failed ({rc}): {build.tail()}'
        assert dc.alive(), 'the daemon did not keep running'

        def units(proc, phase):
            return sorted(j['cmd'].split()[-1] for j in dm.distccd_jobs(proc)
                          if j['client'] == cli.ip and j['status'] == 'COMPILE_OK'
                          and j['cmd'].split()[-1].startswith(f'p{phase}_'))
        on = {(name, phase): units(proc, phase) for name, proc in (('h1', j1), ('h2', j2)) for phase in (1, 2)}
        for k, v in sorted(on.items()):
            figure(f'hosts_file.{k[0]}_phase{k[1]}_jobs', len(v), 'jobs')
        assert not on[('h2', 1)], f'h2 compiled phase 1 before it existed: {on}'
        assert on[('h2', 2)], f'no phase-2 compile of the running build went to the new server h2: {on}'
        figure('hosts_file.versions_seen', len(seen), 'lines')


if __name__ == '__main__':
    lan.run_test(main)
