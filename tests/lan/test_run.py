#!/usr/bin/env python3
"""lan-run: two builds under distcc-mdns-run share the farm as their demands come and go.

h1 and h2 are servers (distccd --jobs 4: 8 slots in all); h3 and h4 are
clients, each running `distcc-mdns-run --local-slots=2 make` (no -j) on a
project of real C units compiled through distcc (each recipe then holds
its token 0.4 s more, standing in for a slower compile). h3 builds alone
first; h4 starts mid-way. Asserted, from h3's --trace: alone it holds
every slot of the farm plus its local ones (8 + 2 jobs); once h4's build
lease is gossiped its tokens fall to its fair share (4 + 2, give or take
one) within 5 s (the daemon's share plus the local slots), and rise again (to the farm, give or
take one) after h4's build ends; h4's build also gets a share.
Both builds exit 0, compiled units on the servers, and their programs
(linked from every unit) print the expected sum. Figures: the time from
h4's start to h3's drop, and the jobs each server ran for each client.
"""

import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure, note  # noqa: E402

SLOTS = 4      # per server
LOCAL = 2      # --local-slots of each client
UNITS = {'h3': 120, 'h4': 40}


def write_project(host, units):
    for i in range(units):
        host.write(f'proj/u{i}.c', f'int u{i}(int x) {{ return x * {i + 3} + {i % 7}; }}\n')
    decls = ''.join(f'int u{i}(int);\n' for i in range(units))
    calls = ' + '.join(f'u{i}(1)' for i in range(units))
    host.write('proj/main.c', f'#include <stdio.h>\n{decls}int main(void) {{ printf("%d\\n", {calls}); return 0; }}\n')
    objs = ' '.join(f'u{i}.o' for i in range(units))
    host.write('proj/Makefile',
               f'prog: main.o {objs}\n\t$(CC) -o $@ $^\n'
               '%.o: %.c\n\t$(CC) -c $< -o $@ && sleep 0.4\n')
    return sum(1 * (i + 3) + i % 7 for i in range(units))


def trace(host):
    path = os.path.join(host.work, 'trace.json')
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith('\n')]


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    if len(argv) < 3 or not os.access(argv[2], os.X_OK):
        raise AssertionError('usage: test_run.py DISTCC-MDNSD DISTCC-MDNS-HOSTS DISTCC-MDNS-RUN')
    runner = os.path.abspath(argv[2])
    with lan.Lan(4) as net:
        s1, s2, c3, c4 = net.hosts
        servers = {}
        daemons = []
        for s in (s1, s2):
            servers[s.name] = s.start_distccd(jobs=SLOTS)
            daemons.append(dm.start_mdnsd(s, bins))
        for c in (c3, c4):
            daemons.append(dm.start_mdnsd(c, bins))
        for c in (c3, c4):
            for s in (s1, s2):
                dm.wait_listed(c, bins, s.ip, 10, watch=daemons)
        sums = {c.name: write_project(c, UNITS[c.name]) for c in (c3, c4)}

        def start(c):
            return c.spawn([runner, f'--local-slots={LOCAL}', f'--trace={os.path.join(c.work, "trace.json")}',
                            'make', '-C', os.path.join(c.work, 'proj')],
                           name='run', env={'DISTCC_HOSTS': None, 'CC': 'gcc', 'DISTCC_FALLBACK': '0'})

        alone = 2 * SLOTS + LOCAL
        shared = SLOTS + LOCAL
        b3 = start(c3)
        lan.wait_until(lambda: any(r['tokens'] == alone and r['in_use'] == alone for r in trace(c3)), 15,
                       watch=daemons + [b3], what=f'h3 alone running {alone} jobs')
        note(f'h3 alone: {alone} tokens, {alone} jobs running')

        t4 = time.monotonic()
        b4 = start(c4)

        def dropped():
            for r in trace(c3):
                if r['share'] is not None and r['tokens'] <= shared:
                    return r
            return None
        r = lan.wait_until(dropped, 10, watch=daemons + [b3, b4], what=f'h3 falling to its share')
        took = time.monotonic() - t4
        figure('run.second_start_to_drop', took, 's', 5.0)
        figure('run.h3_share', r['share'], 'slots', SLOTS)
        assert took <= 5.0, f'h3 kept more than its share for {took:.1f} s after h4 started'
        # The tokens are the daemon's share plus the local slots; the share is
        # half the farm, give or take the slot that rounding and the moment's
        # reservations move.
        assert r['tokens'] == r['share'] + LOCAL, f'h3\'s tokens are not its share plus its local slots: {r}'
        assert SLOTS - 1 <= r['share'] <= SLOTS, f'h3\'s share is not half the farm: {r}'
        r4 = lan.wait_until(lambda: next((x for x in trace(c4) if x['share'] is not None and x['in_use'] >= 2), None),
                            10, watch=daemons + [b3, b4], what='h4 building on its share')
        figure('run.h4_share', r4['share'], 'slots', SLOTS)

        rc4 = b4.wait(120)
        assert rc4 == 0, f'h4 build failed ({rc4}): {b4.tail()}'
        rc3 = b3.wait(180)
        assert rc3 == 0, f'h3 build failed ({rc3}): {b3.tail()}'
        # h4's demand is withdrawn when its runner ends: h3 takes the farm back.
        records = trace(c3)
        note(f'h3 tokens over time: {[(round(x["t"], 1), x["tokens"], x["in_use"]) for x in records][:80]}')
        back = max((x['tokens'] for x in records if x['t'] > r['t']), default=0)
        figure('run.h3_tokens_after_h4', back, 'tokens', alone)
        # A slot may still count as another's for a moment (its reservation).
        assert back >= alone - 1, f'h3 did not take the farm back after h4 ended: at most {back} tokens'

        for c in (c3, c4):
            out = c.run([os.path.join(c.work, 'proj', 'prog')]).stdout.strip()
            assert out == str(sums[c.name]), f'{c.name}: the program prints {out}, not {sums[c.name]}'
            for name, proc in servers.items():
                jobs = [j for j in dm.distccd_jobs(proc) if j['client'] == c.ip and j['status'] == 'COMPILE_OK']
                figure(f'run.{c.name}_jobs_on_{name}', len(jobs), 'jobs')
            remote = sum(1 for proc in servers.values() for j in dm.distccd_jobs(proc)
                         if j['client'] == c.ip and j['status'] == 'COMPILE_OK')
            assert remote > 0, f'{c.name}: no unit compiled on a server'


if __name__ == '__main__':
    lan.run_test(main)
