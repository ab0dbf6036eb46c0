#!/usr/bin/env python3
"""lan-rogue-speed: a slow host advertising speed=1000 gets its true share once its jobs show it.

Two honest servers (2 cores, true speed 1, advertising 1) and a rogue one
(2 cores, true speed 0.25, advertising --speed=1000: its TXT and gossip
samples say 1000) on bench/lan's fakecc and processor-sharing CPU model;
two clients build 50 units each at once (100 jobs), timing their remote
jobs (--learn-speed=yes, the default). Asserted after the build, on every
client: the speed the planner uses for the rogue is the learned one and
within 2x of its true speed (not 1000); a line for as many jobs as the farm
has slots gives it no more than its true share of the farm's capacity
(0.5 of 4.5 core-speeds: 11%, one slot of slack for the rounding to whole
slots). Figures: the rogue's jobs in the build, its share of the jobs
the CPU model started after the build's 50th (a reading only: the model
starts a job when distccd accepts it, so a job queued early in the rogue's
backlog counts as late), and its limits.
"""

import os
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

SERVERS = (('s1', 2, 1.0), ('s2', 2, 1.0), ('rogue', 2, 0.25))
ADVERTISE = {'s1': 1.0, 's2': 1.0, 'rogue': 1000.0}
CLIENTS = 2
ARGS = types.SimpleNamespace(clients=CLIENTS, units=50, median=0.6, sigma=0.15, seed=23, emulate_load=True,
                             jobs=0, build_timeout=150.0, speed_error=1.0)
AFTER_JOBS = 50


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    names = [n for n, _, _ in SERVERS] + [f'c{i + 1}' for i in range(CLIENTS)]
    capacity = {n: cores * speed for n, cores, speed in SERVERS}
    true_share = capacity['rogue'] / sum(capacity.values())
    with lan.Lan(len(names), names=names, hostnames=names) as net:
        farm = bb.Farm(net, ARGS, bins, servers=SERVERS, advertise=ADVERTISE)
        try:
            rogue = farm.servers[2]
            farm_slots = sum(bb.slots(c) for _, c, _ in SERVERS)
            looked = {}

            def after(f, env):
                for c in f.clients:
                    obj = dm.hosts_json(c, f.bins, env=env)
                    line = dm.hosts_query(c, local_slots=bb.CLIENT_CORES, want=farm_slots, reserve=False)
                    looked[c.name] = (dm.find_server(obj, rogue.ip), line)
            r = bb.run_mode(farm, 'mdns-learned', bb.workload(ARGS), before_stop=after)
        finally:
            farm.close()
        note(f'build: overall {r["overall"]:.1f} s, jobs per server {[s["jobs"] for s in r["servers"]]}, '
             f'local {r["local_jobs"]}')
        remote = sorted((j for j in r['jobs'] if j['host'] in capacity), key=lambda j: j['start'])
        on_rogue = sum(1 for j in remote if j['host'] == 'rogue')
        figure('rogue_speed.jobs_on_rogue', on_rogue, 'jobs')
        later = remote[AFTER_JOBS:]
        if later:
            figure(f'rogue_speed.share_after_{AFTER_JOBS}_jobs',
                   round(sum(1 for j in later if j['host'] == 'rogue') / len(later), 3), '')
        figure('rogue_speed.true_share', round(true_share, 3), '')
        assert len(remote) >= AFTER_JOBS, f'only {len(remote)} remote jobs: the farm was not used'
        for c, (view, line) in looked.items():
            assert view is not None, f'{c}: the rogue is not in the view'
            print(f'{c}: rogue benchmark {view.get("benchmark_speed")}, learned {view.get("learned_speed")}, '
                  f'jobs {view.get("speed_jobs")}, used {view.get("speed")} ({view.get("speed_source")})')
            assert view.get('benchmark_speed') == 1000, f'{c}: the rogue does not advertise 1000: {view}'
            assert view.get('speed_source') == 'learned', f'{c}: the rogue is still judged by its claim: {view}'
            assert view['speed'] <= 2 * 0.25, f'{c}: the rogue is used at speed {view["speed"]}: {view}'
            limits = {s['address']: s['limit'] for s in line['servers'] if s.get('excluded') is None}
            total = sum(limits.values())
            mine = limits.get(rogue.ip, 0)
            figure(f'rogue_speed.{c}.rogue_limit', mine, 'slots')
            figure(f'rogue_speed.{c}.line_limits', total, 'slots')
            # Whole slots: its true share of the line, rounded up, at most.
            allowed = int(true_share * total) + 1
            assert mine <= allowed, (f'{c}: the rogue gets {mine} of {total} slots, more than its true '
                                     f'share ({true_share:.0%}): {line}')


if __name__ == '__main__':
    lan.run_test(main)
