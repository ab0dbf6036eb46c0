#!/usr/bin/env python3
"""lan-top: distcc-mdns-hosts --top on a pseudo-terminal while a real build runs.

h1-h3 are servers (distccd --jobs 4), h4 a client. --top runs on h4 in an
80x24 pty whose screen pyte renders. A real build on h4 starts (make -j12
with distcc, four slow compiles per server, two at a time): every server's
row must show its running jobs within 2 s of its distccd holding them (the
figure per server is printed), and h4's distcc jobs from its state files
appear; `--json --watch`, started before the build, printed the daemon's
objects with seq growing, one of them with every server running. Then h3
is drained (`distcc-mdns-hosts --set-state=drain` on it): its row says
drain and why h4's line leaves it out. q quits with status 0.
DMTOP_SVG=PATH saves the screen during the build as SVG (docs/img/top.svg).
"""

import json
import os
import re
import select
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'top'))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402
import ptyscreen  # noqa: E402

FILES = 12
LINES_PER_FILE = 1000


def shown_name(name):
    """A server's name as the 12-column NAME cell shows it."""
    return name if len(name) <= 12 else name[:11] + '~'


def row(lines, name):
    """The cells of @name's server row: NAME STATE SLT RUN RES QUE ... or None."""
    for line in lines[:22]:
        cells = line[1:].split()
        if cells and cells[0] == shown_name(name) and len(cells) > 4 and cells[1] in dm.STATES:
            return cells
    return None


def running(lines, name):
    cells = row(lines, name)
    return int(cells[3]) if cells and cells[3].isdigit() else 0


def running_in(farm, address):
    """Whether the farm object says the server at @address runs jobs."""
    return any(s['address'] == address and (s['running'] or 0) > 0 for s in farm['servers'])


def slow_source(i):
    """A C file gcc -O2 takes about a second of CPU for (more when the LAN's hosts share the CPUs)."""
    out = [f'unsigned long f{i}(unsigned long *v, unsigned long x) {{']
    for k in range(LINES_PER_FILE):
        out.append(f'  x = x * {k * 2 + 3 + i}u + v[{(k * 7) % 64}]; '
                   f'if (x & {1 << (k % 20)}u) v[{k % 64}] ^= x >> {k % 13};')
    out.append('  return x; }')
    return '\n'.join(out) + '\n'


def main(argv):
    lan.check_environment()
    if ptyscreen.pyte is None:
        raise lan.Skip(f'python3-pyte is not installed for {sys.executable}')
    bins = dm.Binaries(argv)
    with lan.Lan(4) as net:
        servers, cli = net.hosts[:3], net.hosts[3]
        for s in servers:
            s.start_distccd(jobs=4)
        daemons = [dm.start_mdnsd(h, bins) for h in net.hosts]
        for s in servers:
            dm.wait_listed(cli, bins, s.ip, 15, watch=daemons)
        names = {s.ip: dm.find_server(dm.hosts_json(cli, bins), s.ip)['name'] for s in servers}
        assert len({shown_name(n) for n in names.values()}) == len(servers), f'names not told apart: {names}'

        top = ptyscreen.PtyProgram(cli.argv([bins.hosts, '--top']), base_env=cli.env())
        try:
            took = top.wait_for(lambda l: all(row(l, n) for n in names.values()), 5)
            assert took is not None, f'--top shows no row for every server:\n{top.text()}'
            figure('top.first_screen', took, 's', 2.0)
            assert all(running(top.lines(), n) == 0 for n in names.values()), f'busy before the build:\n{top.text()}'

            watcher = cli.spawn([bins.hosts, '--json', '--watch'], name='json-watch', stdout_pipe=True)
            os.set_blocking(watcher.popen.stdout.fileno(), False)

            # The build: four slow compiles per server, two at a time, distcc's slots in
            # its order (slot 0 of each host first).
            for i in range(FILES):
                cli.write(f'build/slow{i}.c', slow_source(i))
            cli.write('build/Makefile', 'all: ' + ' '.join(f'slow{i}.o' for i in range(FILES)) +
                      '\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n')
            hosts_line = ' '.join(f'{s.ip}/2' for s in servers)
            build = cli.spawn(['make', '-C', 'build', f'-j{FILES}',
                               'CC=distcc gcc'], name='build',
                              env={'DISTCC_HOSTS': hosts_line, 'DISTCC_FALLBACK': '0'})

            # When distccd on each server first holds a job, and when --top
            # first shows it running there.
            started, seen = {}, {}
            deadline = time.monotonic() + 60
            while len(seen) < len(servers) and time.monotonic() < deadline:
                now = time.monotonic()
                for s in servers:
                    if s.ip not in started and s.established(3632) > 0:
                        started[s.ip] = now
                top.pump(0.05)
                now = time.monotonic()
                for s in servers:
                    if s.ip in started and s.ip not in seen and running(top.lines(), names[s.ip]) > 0:
                        seen[s.ip] = now
                assert build.popen.poll() is None or len(started) == len(servers), \
                    f'the build ended before every server ran a job: {build.popen.returncode}'
            assert len(seen) == len(servers), (f'--top did not show every server running '
                                               f'(started {started}, seen {seen}):\n{top.text()}')
            for s in servers:
                figure(f'top.job_start_to_shown.{s.name}', seen[s.ip] - started[s.ip], 's', 2.0)
                assert seen[s.ip] - started[s.ip] <= 2.0, f'{s.name}: shown {seen[s.ip] - started[s.ip]:.2f} s late'

            # h4's own distcc jobs, from its state files.
            took = top.wait_for(lambda l: any('slow' in x and '.c' in x and
                                              ('Compile' in x or 'Send' in x or 'Receive' in x) for x in l), 3)
            assert took is not None, f'no distcc job of h4 on --top:\n{top.text()}'
            lan.note('screen during the build:\n' + top.text())

            # Who runs there: each server counts its distccd's connections
            # per client address and gossips them (a changed list at most
            # every 10 s): every server row names h4 with its jobs.
            t0 = time.monotonic()
            took = top.wait_for(lambda l: all(re.search(r'\bh4:[1-9]', ' '.join(row(l, names[s.ip]) or []))
                                              for s in servers), 12)
            assert took is not None, f'not every server row names h4 running jobs there:\n{top.text()}'
            figure('top.clients_shown', time.monotonic() - t0, 's', 10.0)


            # The same stream for scripts: --json --watch passed the
            # daemon's objects through, one a line, seq growing, and one
            # of them had every server running.
            objects, pending = [], b''
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (
                    len(objects) >= 2 and any(all(running_in(o, s.ip) for s in servers) for o in objects)):
                select.select([watcher.popen.stdout], [], [], 0.1)
                pending += watcher.popen.stdout.read() or b''
                *done, pending = pending.split(b'\n')
                objects += [json.loads(x) for x in done]
            watcher.stop()
            assert len(objects) >= 2, f'--json --watch printed {len(objects)} objects'
            seqs = [o['seq'] for o in objects]
            assert seqs == sorted(set(seqs)), f'--json --watch: seq {seqs}'
            assert any(all(running_in(o, s.ip) for s in servers) for o in objects), \
                f'--json --watch: no object with every server running ({len(objects)} objects)'

            # Drain h3: its row says so, with the reason h4's line leaves it out.
            drained = servers[2]
            drained.run([bins.hosts, '--set-state=drain'])
            t0 = time.monotonic()
            took = top.wait_for(lambda l: (row(l, names[drained.ip]) or [''] * 2)[1] == 'drain' and
                                any(x[1:].split()[:1] == [shown_name(names[drained.ip])] and '(not up)' in x
                                    for x in l), 5)
            assert took is not None, f'no drained row for {drained.name}:\n{top.text()}'
            figure('top.drain_to_shown', time.monotonic() - t0, 's', 2.0)
            if os.environ.get('DMTOP_SVG'):
                with open(os.environ['DMTOP_SVG'], 'w') as f:
                    f.write(ptyscreen.screen_svg(top.screen))

            top.send(b'q')
            assert lan.wait_until(lambda: top.proc.poll() is not None, 3, what='--top quits on q') is not None
            assert top.proc.returncode == 0, f'--top exited {top.proc.returncode}'
            build.stop()
        finally:
            top.stop()


if __name__ == '__main__':
    lan.run_test(main)
