#!/usr/bin/env python3
"""lan-compile: distcc with the line distcc-mdns-hosts prints compiles remotely.

h1: distccd + distcc-mdnsd; h2: distcc-mdnsd. `distcc gcc -c` on h2 with
DISTCC_HOSTS set to h2's line must compile on h1 (h1's distccd log shows the
job from h2). Then 8 files at once with the -j value: counts where they ran.
"""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note, wait_until  # noqa: E402
from dmtest import figure  # noqa: E402


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        d1 = srv.start_distccd(jobs=4)
        md = dm.start_mdnsd(srv, bins, '--cpus', 2, '--slots', 4)
        cli_d = dm.start_mdnsd(cli, bins)
        dm.wait_listed(cli, bins, srv.ip, 10, watch=(md, cli_d))
        line = dm.hosts_line(cli, bins)
        jobs = int(cli.run([bins.hosts, '-j']).stdout.strip())
        note(f'h2 line {line!r}, -j {jobs}')
        assert srv.ip in dm.line_hosts(line), line

        name, text = dm.proof_source()
        cli.write(name, text)
        t0 = time.monotonic()
        r = cli.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], line)
        job = dm.wait_job(d1, cli.ip, name)
        figure('compile.one_file_through_line', time.monotonic() - t0, 's')
        note(f'h1 distccd: {job}')
        assert f'compiled on {srv.ip}' in r.stderr, r.stderr[-2000:]
        sym = cli.run(['nm', name[:-2] + '.o']).stdout
        assert 'proof_' in sym, sym

        # A burst of 8 compiles with the line, at most -j at a time.
        n = 8
        for i in range(n):
            cli.write(f'burst{i}.c', f'int burst{i}(int x) {{ return x + {i}; }}\n')
        t0 = time.monotonic()
        env = cli.env({'DISTCC_HOSTS': line, 'DISTCC_VERBOSE': '1'})
        pending = [f'burst{i}.c' for i in range(n)]
        running = []
        client_says = 0
        while pending or running:
            while pending and len(running) < max(1, jobs):
                f = pending.pop()
                running.append((f, subprocess.Popen(
                    cli.argv(['distcc', 'gcc', '-c', f, '-o', f[:-2] + '.o']),
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
            f, p = running.pop(0)
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, f'{f}: {err[-1500:]}'
            client_says += f'compiled on {srv.ip} ' in err
        figure('compile.burst_of_8_wall', time.monotonic() - t0, 's')

        def remote():
            return [j for j in dm.distccd_jobs(d1) if j['client'] == cli.ip and
                    j['cmd'].split()[-1].startswith('burst')]
        wait_until(lambda: len(remote()) >= client_says, 5, 0.05,
                   what=f'{client_says} burst jobs in the distccd log of h1')
        note(f'burst: {len(remote())} of {n} compiled on h1 (the rest on localhost)')
        figure('compile.burst_remote_jobs', len(remote()), 'jobs')
        assert remote(), 'no job of the burst ran on h1'


if __name__ == '__main__':
    lan.run_test(main)
