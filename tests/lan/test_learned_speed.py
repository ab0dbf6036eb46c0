#!/usr/bin/env python3
"""lan-learned-speed: servers whose benchmark lies are judged by their jobs.

Three servers of emulated true speeds 2, 1 and 0.5 (4 cores each, distccd's
default 6 slots; bench/lan's fakecc and processor-sharing CPU model) all
advertise --speed=1: the benchmark is wrong by up to 2x. Four clients build
50 units each at once (200 in all, the farm overloaded), their daemons
timing their remote jobs (--learn-speed=yes, the default) and gossiping
them. Asserted, on every client after the build: each server's learned
speed, relative to the others', is within 15% of its true ratio (the
benchmark alone is off by up to 2x), from jobs of every client.

Then the same run under a CPU hog on this machine (one busy loop for the
whole phase): the learned ratios still hold, and once the build is over no
idle server at least as fast as the clients is left out as slower. Every
host's /proc/loadavg shows the jobs on its own model CPU (bench/lan's
--emulate-load), not the whole machine's runnable tasks, which every
namespace of one kernel shares and which no real server would see.
Figures: the table (server, true, benchmark, learned, jobs) per client.
"""

import math
import os
import re
import sys
import types

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', '..', 'bench', 'lan'))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
import build_bench as bb  # noqa: E402
from dmtest import figure  # noqa: E402
from lan import note  # noqa: E402

SERVERS = (('s1', 4, 2.0), ('s2', 4, 1.0), ('s3', 4, 0.5))
CLIENTS = 4
UNITS = 50          # per client: 200 in all
TOLERANCE = 0.15
# Units of nearly equal work (seconds of one core at speed 1): the learned
# ratio is a mean over ~60 jobs per server, and a narrow spread keeps its
# noise well inside the tolerance; big enough that distcc's own overhead
# per job (tens of ms) does not flatten the ratios.
ARGS = types.SimpleNamespace(clients=CLIENTS, units=UNITS, median=1.5, sigma=0.15, seed=17, emulate_load=True,
                             jobs=0, build_timeout=150.0, speed_error=1.0)


def learned_table(farm, env):
    """Every client's view of every server: true, benchmark, learned, jobs."""
    name = {h.ip: h.name for h in farm.servers}
    out = {}
    for c in farm.clients:
        obj = dm.hosts_json(c, farm.bins, env=env)
        rows = {}
        for s in obj['servers']:
            if s.get('address') in name:
                rows[name[s['address']]] = s
        out[c.name] = rows
    return out


def check_ratios(table, phase):
    """Per client: learned speeds normalised by their geometric mean against
    the true ones normalised the same way, each within TOLERANCE. Every
    client's table is printed before anything is asserted."""
    true = {n: s for n, _, s in SERVERS}
    failures = []
    for client, rows in table.items():
        print(f'{phase} {client}: server  true  benchmark  learned  jobs  used  source')
        for n in sorted(rows):
            r = rows[n]
            print(f'{phase} {client}:   {n:<5} {true[n]:>5.2f} {r.get("benchmark_speed") or 0:>9.2f} '
                  f'{r.get("learned_speed") or 0:>8.2f} {r.get("speed_jobs", 0):>5} '
                  f'{r.get("speed", 0):>5.2f}  {r.get("speed_source")}')
        missing = [n for n in true if n not in rows or rows[n].get('learned_speed') is None]
        if missing:
            failures.append(f'{phase} {client}: no learned speed for {missing}')
            continue
        tg = {n: math.log(true[n]) for n in true}
        tmean = sum(tg.values()) / len(tg)

        def errors(key):
            lg = {n: math.log(rows[n][key]) for n in true}
            lmean = sum(lg.values()) / len(lg)
            return {n: math.exp((lg[n] - lmean) - (tg[n] - tmean)) for n in true}
        learned, bench = errors('learned_speed'), errors('benchmark_speed')
        worst = max(abs(v - 1) for v in learned.values())
        figure(f'learned_speed.{phase}.{client}.worst_learned_error', round(worst, 3), 'x', TOLERANCE)
        figure(f'learned_speed.{phase}.{client}.worst_benchmark_error',
               round(max(abs(v - 1) for v in bench.values()), 3), 'x')
        for n, rel in learned.items():
            if abs(rel - 1) > TOLERANCE:
                failures.append(f'{phase} {client}: {n} learned {rows[n]["learned_speed"]:.2f} is {rel:.2f} x '
                                f'its true ratio (true {true[n]})')
            if rows[n]['speed_source'] != 'learned':
                failures.append(f'{phase} {client}: {n} still uses its benchmark')
    assert not failures, '; '.join(failures)


def timed_jobs(farm):
    """Server name -> the wall times (s) the clients' daemons timed, from
    their debug logs ("job on ADDRESS:PORT (ID) took N ms")."""
    name = {h.ip: h.name for h in farm.servers}
    out = {}
    for p in farm.daemons:
        try:
            with open(p.log_path) as f:
                for line in f:
                    m = re.search(r'job on ([0-9.]+):\d+ \(\w+\) took (\d+) ms', line)
                    if m and m.group(1) in name:
                        out.setdefault(name[m.group(1)], []).append(int(m.group(2)) / 1000)
        except OSError:
            continue
    return out


def phase(farm, name, hog):
    """One build of every client at once on @farm; returns what the clients
    said after it: the learned table, their stats, their idle lines."""
    hogs = []
    try:
        if hog:
            # A busy loop in a server's namespace, from before the daemons
            # start to the end of the build.
            hogs.append(farm.servers[0].spawn(['/usr/bin/python3', '-c', 'while True: pass'], name='hog'))
        looked = {}

        def after(f, env):
            looked['table'] = learned_table(f, env)
            looked['timed'] = timed_jobs(f)
            looked['stats'] = {c.name: dm.query(c, {'op': 'stats'}) for c in f.clients}
            for h in hogs:
                h.popen.kill()
            # Idle now: every client's line for a build of its own.
            looked['idle'] = {c.name: dm.hosts_json(c, f.bins, env=env) for c in f.clients}
        r = bb.run_mode(farm, 'mdns-learned', bb.workload(ARGS), before_stop=after)
        note(f'{name}: overall {r["overall"]:.1f} s, {r["ratio"]:.2f} x ideal, jobs per server '
             f'{[s["jobs"] for s in r["servers"]]}, local {r["local_jobs"]}')
        figure(f'learned_speed.{name}.makespan', r['overall'], 's')
        for n, walls in sorted(looked['timed'].items()):
            gm = math.exp(sum(math.log(max(1e-3, w)) for w in walls) / len(walls))
            print(f'{name} timed {n}: {len(walls)} jobs, geometric mean wall {gm:.3f} s')
        # What the CPU model saw of each server's jobs: their compile times
        # (the server's share of its cores included) and how many ran.
        for n, _, speed in SERVERS:
            mine = [j for j in r['jobs'] if j['host'] == n]
            if mine:
                gm = math.exp(sum(math.log(max(1e-3, j['end'] - j['start'])) for j in mine) / len(mine))
                print(f'{name} model {n}: {len(mine)} jobs, geometric mean compile {gm:.3f} s '
                      f'(alone {ARGS.median / speed:.3f} s), mean running at arrival '
                      f'{sum(j["running"] for j in mine) / len(mine):.1f}')
        for c, st in looked['stats'].items():
            sp = st.get('speed', {})
            print(f'{name} {c}: jobs timed {sp.get("jobs_timed")}, unmatched {sp.get("jobs_unmatched")}, '
                  f'untimed {sp.get("jobs_untimed")}, own benchmark {sp.get("worst")}..{sp.get("best")}')
            assert sp.get('learn') is True and sp.get('jobs_timed', 0) > 0, f'{name} {c}: no job timed: {sp}'
        check_ratios(looked['table'], name)
        return looked
    finally:
        for h in hogs:
            h.popen.kill()


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    names = [n for n, _, _ in SERVERS] + [f'c{i + 1}' for i in range(CLIENTS)]
    true = {n: s for n, _, s in SERVERS}
    with lan.Lan(len(names), names=names, hostnames=names) as net:
        # 1: the benchmark wrong by up to 2x: every server says 1.
        farm = bb.Farm(net, ARGS, bins, servers=SERVERS, advertise={n: 1.0 for n in true})
        farm.client_args = ['-v']   # with start_mdnsd's own: debug, every timed job logged
        try:
            phase(farm, 'wrong', hog=False)
            # 2: the same under a CPU hog on this machine.
            looked = phase(farm, 'hog', hog=True)
        finally:
            farm.close()
        name = {h.ip: h.name for h in farm.servers}
        for c, obj in looked['idle'].items():
            for s in obj['servers']:
                n = name.get(s.get('address'))
                if n is None or true[n] < bb.CLIENT_SPEED:
                    continue
                reason = s.get('excluded') or ''
                assert 'slower' not in reason and 'too slow' not in reason, (
                    f'hog {c}: idle {n} (true speed {true[n]}) left out: {reason}; {s}')


if __name__ == '__main__':
    lan.run_test(main)
