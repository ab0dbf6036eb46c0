#!/usr/bin/env python3
"""lan-addr-churn: with Avahi publishing IPv6 (Debian's shipped
avahi-daemon.conf: AAAA over IPv4 too) and distccd on IPv4 only, lines name
only addresses distccd accepts, while the servers' daemons restart; a real
build through such a line compiles every unit remotely.

h1, h2: distccd listening on 0.0.0.0 only (IPv4), --allow the subnet, and
distcc-mdnsd; h3: distcc-mdnsd as a client. 200 lines are sampled on h3
while h1's and h2's daemons restart in turn (and h3's every fifth time); every address in them must be
h1's or h2's IPv4 address (never an IPv6 one, which distccd refuses). Then
`make -j8` with CC="distcc gcc" and the line (localhost dropped, no local
fallback) compiles 8 units, each one in a distccd log.
"""

import os
import re
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note, wait_until  # noqa: E402
from dmtest import figure  # noqa: E402

SAMPLES = 200
UNITS = 8


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3) as net:
        h1, h2, cli = net.hosts
        assert net.ipv6, 'the LAN runs with IPv6 on by default'
        servers = (h1, h2)
        distccd = {h.name: h.start_distccd(jobs=2, listen='0.0.0.0') for h in servers}
        for h in servers:
            listeners = h.run(['ss', '-Hltn', 'sport = :3632']).stdout
            assert '0.0.0.0:3632' in listeners and '[::]' not in listeners, listeners
        daemons = {h.name: dm.start_mdnsd(h, bins) for h in (h1, h2, cli)}

        # Avahi does publish the servers' IPv6 addresses: the trap is set.
        browse = cli.browse()
        rec = browse.wait_for('distcc@h1', 15)
        note(f'h1 TXT: {" ".join(rec["txt_raw"])}')
        assert rec['txt'].get('listen') == '0.0.0.0', rec['txt']
        wait_until(lambda: browse.services6.get('distcc@h1') or ':' in rec.get('resolved', ''), 15,
                   0.05, what='an IPv6 address of distcc@h1 in avahi-browse on h3')
        for h in servers:
            dm.wait_listed(cli, bins, h.ip, 15, watch=(daemons[cli.name],))

        accepted = {h1.ip, h2.ip, 'localhost'}
        stop = threading.Event()
        restarts = []
        errors = []
        cli_procs = [daemons[cli.name]]

        def churn():
            try:
                i = 0
                while not stop.is_set() and i < 100:
                    # The servers in turn, and every fifth time the client
                    # too: its fresh resolvers find A and AAAA records in
                    # Avahi's cache at once.
                    h = cli if i % 5 == 4 else servers[i % 2]
                    dm.stop_mdnsd(daemons[h.name])
                    daemons[h.name] = dm.start_mdnsd(h, bins)
                    if h is cli:
                        cli_procs.append(daemons[h.name])
                    restarts.append(h.name)
                    i += 1
                    stop.wait(0.3)
            except Exception as e:  # reported by the main thread
                errors.append(e)

        t = threading.Thread(target=churn, daemon=True)
        t.start()
        bad, listed = [], 0
        t0 = time.monotonic()
        try:
            # One line every 0.1 s: the sampling spans many restarts.
            for _ in range(SAMPLES):
                line = dm.hosts_line(cli, bins)
                hosts = [h for h in dm.line_hosts(line) if h != 'localhost']
                listed += bool(hosts)
                if set(dm.line_hosts(line)) - accepted:
                    bad.append(line)
                stop.wait(0.1)
        finally:
            stop.set()
            t.join(60)
        figure('addr_churn.sampling', time.monotonic() - t0, 's')
        figure('addr_churn.daemon_restarts', len(restarts), 'restarts')
        figure('addr_churn.lines_naming_a_server', listed, 'lines')
        figure('addr_churn.lines_naming_a_refused_address', len(bad), 'lines', target=0)
        assert not errors, errors
        assert not bad, f'{len(bad)} of {SAMPLES} lines name an address distccd refuses: {bad[:5]}'
        assert len(restarts) >= 4, f'only {len(restarts)} daemon restarts during the sampling'
        assert listed >= SAMPLES // 4, f'only {listed} of {SAMPLES} lines named a server'
        # -v said where each server is, never at an IPv6 address.
        log = ''.join(p.log() for p in cli_procs)
        for h in servers:
            # Avahi may report the IPv6 sighting first: joined without an
            # address distccd accepts, then at the IPv4 one.
            assert re.search(rf"server 'distcc@{h.name}' (joined at|moved from no usable address to) "
                             rf"{re.escape(h.ip)}\b", log), log[-3000:]
        v6 = re.findall(r"server '[^']*' (?:joined at|moved from .* to) [0-9a-f]*:.*", log)
        assert not v6, v6

        # A real build through the line, every unit remote.
        for h in servers:
            dm.wait_listed(cli, bins, h.ip, 15, watch=(daemons[cli.name],))
        line = dm.hosts_line(cli, bins)
        remote = ' '.join(tok for tok in line.split() if not tok.startswith('localhost'))
        note(f'h3 line {line!r}; building with {remote!r}')
        objs = []
        for i in range(UNITS):
            cli.write(f'build/unit{i}.c', f'int unit{i}(int x) {{ return x * {i + 3}; }}\n')
            objs.append(f'unit{i}.o')
        cli.write('build/Makefile', 'all: ' + ' '.join(objs) + '\n'
                  '%.o: %.c\n\t$(CC) -c $< -o $@\n')
        t0 = time.monotonic()
        r = cli.run(['make', '-j8', 'CC=distcc gcc'], cwd=os.path.join(cli.work, 'build'),
                    timeout=120, check=False,
                    env={'DISTCC_HOSTS': remote, 'DISTCC_VERBOSE': '1', 'DISTCC_FALLBACK': '0',
                         'DISTCC_SKIP_LOCAL_RETRY': '1'})
        figure('addr_churn.build_wall', time.monotonic() - t0, 's')
        assert r.returncode == 0, r.stderr[-3000:]
        assert 'Connection refused' not in r.stderr, r.stderr[-3000:]

        def compiled():
            done = set()
            for proc in distccd.values():
                for j in dm.distccd_jobs(proc):
                    if j['client'] == cli.ip and j['status'] == 'COMPILE_OK':
                        done.add(j['cmd'].split()[-1])
            return done
        want = {f'unit{i}.c' for i in range(UNITS)}
        wait_until(lambda: want <= compiled(), 10, 0.05,
                   what=f'all {UNITS} units in the distccd logs of h1 and h2')
        figure('addr_churn.units_compiled_remotely', len(want & compiled()), 'units')


if __name__ == '__main__':
    lan.run_test(main)
