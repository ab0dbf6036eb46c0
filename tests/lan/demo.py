#!/usr/bin/env python3
"""The distcc-mdns demo (run by tools/demo): a virtual LAN of four hosts.

Three servers with different capacities run distccd and distcc-mdnsd; a
laptop joins last, runs distcc-mdnsd as a resolver, prints its view
(`distcc-mdns-hosts --status`) and hosts line, and builds a generated C
project of 12 files with `make -jN CC="distcc gcc"`. Each server's distccd
log tells where the jobs ran. Everything is torn down at the end.

usage: demo.py PATH/distcc-mdnsd PATH/distcc-mdns-hosts
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import wait_until  # noqa: E402

SERVERS = [  # hostname, distccd --jobs (= --slots), --cpus
    ('alpha', 8, 4),
    ('beta', 4, 2),
    ('gamma', 2, 1),
]
FILES = 12


def say(msg=''):
    print(msg, flush=True)


def step(msg):
    say(f'\n== {msg}')


def project(host):
    """Writes a small C project: FILES units plus main.c and a Makefile."""
    for i in range(FILES):
        funcs = []
        for j in range(60):
            funcs.append(
                f'static unsigned f{j}(unsigned x) {{\n'
                f'    for (unsigned k = 0; k < {j + 3}u; k++)\n'
                f'        x = (x * {2 * j + 3}u + k) ^ (x >> {j % 13 + 1});\n'
                f'    switch (x % 5u) {{ case 0: return x + {j}u; case 1: return x * 7u;\n'
                f'    case 2: return x ^ 0x{j:04x}u; default: return x - {i}u; }}\n}}\n')
        calls = ' + '.join(f'f{j}(x + {j}u)' for j in range(60))
        host.write(f'demo/unit{i:02d}.c', f'/* generated unit {i} */\n' + ''.join(funcs) +
                   f'unsigned unit{i:02d}(unsigned x) {{ return {calls}; }}\n')
    decls = ''.join(f'unsigned unit{i:02d}(unsigned);\n' for i in range(FILES))
    sums = ' + '.join(f'unit{i:02d}(1u)' for i in range(FILES))
    host.write('demo/main.c', '#include <stdio.h>\n' + decls +
               f'int main(void) {{ printf("checksum %u\\n", {sums}); return 0; }}\n')
    host.write('demo/Makefile',
               'CC ?= gcc\nCFLAGS ?= -O2\n'
               'OBJS := $(patsubst %.c,%.o,$(sort $(wildcard unit*.c))) main.o\n'
               'demo: $(OBJS)\n\tgcc -o $@ $(OBJS)\n'
               '%.o: %.c\n\t$(CC) $(CFLAGS) -c $< -o $@\n'
               'clean:\n\trm -f demo *.o\n')
    return os.path.join(host.work, 'demo')


def main(argv):
    bins = dm.Binaries(argv)
    t_start = time.monotonic()
    step('starting three servers on a virtual LAN (network namespaces, real avahi-daemon)')
    with lan.Lan(len(SERVERS), hostnames=[s[0] for s in SERVERS],
                 names=[s[0] for s in SERVERS]) as net:
        daemons = []
        for host, (name, jobs, cpus) in zip(net.hosts, SERVERS):
            host.start_distccd(jobs=jobs)
            daemons.append(dm.start_mdnsd(host, bins, '--cpus', cpus, '--slots', jobs))
            say(f'   {name:6} {host.ip:15} distccd --jobs {jobs}; '
                f'distcc-mdnsd --cpus {cpus} --slots {jobs}')

        step('a laptop joins the LAN and starts distcc-mdnsd (resolver only: no distccd)')
        laptop = net.add_host('laptop')
        t0 = time.monotonic()
        ld = dm.start_mdnsd(laptop, bins)
        ips = [h.ip for h in net.hosts[:len(SERVERS)]]

        def all_seen():
            obj = dm.hosts_json(laptop, bins)
            return obj if set(ips) <= set(dm.line_hosts(obj['line'])) else None
        try:
            wait_until(all_seen, 15, 0.1, what='all three servers in the laptop\'s line',
                       watch=daemons + [ld])
        except lan.Timeout:
            say(f'   the laptop sees: {dm.hosts_line(laptop, bins)!r}')
            raise
        say(f'   laptop {laptop.ip}: all three servers found {time.monotonic() - t0:.2f} s '
            f'after its daemon started')

        step('distcc-mdns-hosts --status (on the laptop)')
        say(laptop.run([bins.hosts, '--status']).stdout.rstrip())
        line = dm.hosts_line(laptop, bins)
        jobs = int(laptop.run([bins.hosts, '-j']).stdout.strip())
        step('the hosts line distcc reads, and the make -j value')
        say(f'   DISTCC_HOSTS="{line}"')
        say(f'   make -j{jobs}')

        step(f'building {FILES} generated C files with make -j{jobs} CC="distcc gcc"')
        src = project(laptop)
        t0 = time.monotonic()
        client_log = os.path.join(laptop.dir, 'distcc-client.log')
        r = laptop.run(['make', f'-j{jobs}', 'CC=distcc gcc'], cwd=src, timeout=600,
                       env={'DISTCC_HOSTS': line, 'DISTCC_VERBOSE': '1',
                            'DISTCC_LOG': client_log}, check=False)
        wall = time.monotonic() - t0
        say(r.stdout.rstrip())
        if r.returncode != 0:
            say(r.stderr)
            raise AssertionError(f'make failed with status {r.returncode}')
        say(laptop.run(['./demo'], cwd=src).stdout.rstrip())
        say(f'   built in {wall:.2f} s')

        step('where the jobs ran (from each server\'s distccd log)')
        servers = net.hosts[:len(SERVERS)]
        with open(client_log, errors='replace') as f:
            client_text = f.read()

        def jobs_on(h):
            return [j for j in dm.distccd_jobs(h.distccd) if j['client'] == laptop.ip]
        # distccd logs a job just after the client has its object file: wait
        # (bounded) until every server logged what the client says it sent.
        want = {h.name: client_text.count(f' compiled on {h.ip} ') for h in servers}
        try:
            wait_until(lambda: all(len(jobs_on(h)) >= want[h.name] for h in servers), 5, 0.05,
                       what='distccd logs to catch up')
        except lan.Timeout:
            say('   (some distccd logs lag behind the client)')
        remote = 0
        for h, (name, jobs_, cpus) in zip(net.hosts, SERVERS):
            done = jobs_on(h)
            remote += len(done)
            files = ' '.join(sorted(j['cmd'].split()[-1] for j in done))
            say(f'   {name:6} {h.ip:15} slots {jobs_}: {len(done):2} job(s)  {files}')
        say(f'   laptop (local): {FILES + 1 - remote} job(s) of {FILES + 1} compiles '
            f'(main.c included)')
        step(f'tearing the LAN down (demo took {time.monotonic() - t_start:.1f} s)')


if __name__ == '__main__':
    lan.run_test(main)
