#!/usr/bin/env python3
"""lan-run: two builds under distcc-mdns-run share the farm as their demands come and go.

h1 and h2 are servers (distccd --jobs 4: 8 slots in all); h3 and h4 are
clients, each running `distcc-mdns-run --local-slots=2 make` (no -j; on h4
as uid 65534 beside the root daemon, as users build) on a
project of real C units compiled through distcc (each recipe then holds
its token 0.4 s more, standing in for a slower compile). h3 builds alone
first; h4 starts mid-way. Asserted, from h3's --trace: alone it holds
every slot of the farm plus the local one that compiles (8 + 1 jobs: the
other local slot preprocesses and has no token); once h4's build
lease is gossiped its tokens fall to its fair share (4 + 1, give or take
one) within 5 s (the daemon's share plus the local compile slot; root's look on h4 just before
takes none of h4's), and rise again (to the farm, give or
take one) after h4's build ends, whose demand h3's daemon drops within 3 s
(the lease ends with the runner's connection, not after a time to live); h4's build also gets a share.
Alone, h3's tokens never fall below the farm's (less one) as its own jobs
run: they are its own, not other clients' (the daemon reads the build's
connections and this machine's reservations). Both builds exit 0,
compiled units on the servers, and their programs
(linked from every unit) print the expected sum. Figures: the time from
h4's start to h3's drop, and the jobs each server ran for each client.

Then a hostile local user: uid 65534 on h3 holds 10 build leases wanting a
million jobs each (lease_hog.py) while root builds there. A user's builds
are one user: root's share stays half the farm, and the hog's ten lines add
up to no more than the other half once each lease has renewed (never to more
than the farm, even while they first ask one after another).
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
# The local slots that compile, and have tokens, while the line has at
# least as many remote slots as local ones (one preprocesses).
LOCAL_COMPILE = LOCAL - 1
UNITS = {'h3': 120, 'h4': 40}
NOBODY = 65534  # h4's build runs as this user
# Every host of the LAN shares this machine's 2 CPUs: speeds learned from
# the jobs would read the builds' contention as slow servers, and the
# planner would count fewer of their slots as worth using (lan-learned-speed
# tests learning). Here the servers are as fast as they say.
ADVERTISED = ('--learn-speed=no',)


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


def trace_path(host):
    return os.path.join(host.work, 'proj', 'trace.json')


def trace(host):
    return dm.run_trace(trace_path(host))


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    runner = dm.runner_path(argv, 'test_run.py')
    with lan.Lan(4) as net:
        s1, s2, c3, c4 = net.hosts
        servers = {}
        daemons = []
        for s in (s1, s2):
            servers[s.name] = s.start_distccd(jobs=SLOTS)
            daemons.append(dm.start_mdnsd(s, bins, *ADVERTISED))
        for c in (c3, c4):
            daemons.append(dm.start_mdnsd(c, bins, *ADVERTISED))
        for c in (c3, c4):
            for s in (s1, s2):
                dm.wait_listed(c, bins, s.ip, 10, watch=daemons)
        sums = {c.name: write_project(c, UNITS[c.name]) for c in (c3, c4)}

        # h4 builds as an ordinary user (uid 65534) beside h4's root daemon,
        # as people run builds: its lease comes through the system socket.
        proj4 = os.path.join(c4.work, 'proj')
        for root, dirs, files in os.walk(proj4):
            for name in [root] + [os.path.join(root, f) for f in dirs + files]:
                os.chown(name, NOBODY, NOBODY)

        def start(c):
            argv = [runner, f'--local-slots={LOCAL}', f'--trace={trace_path(c)}',
                    'make', '-C', os.path.join(c.work, 'proj')]
            env = {'DISTCC_HOSTS': None, 'CC': 'gcc', 'DISTCC_FALLBACK': '0'}
            if c is c4:
                argv = ['setpriv', f'--reuid={NOBODY}', f'--regid={NOBODY}', '--clear-groups'] + argv
                env.update({'HOME': proj4, 'USER': 'nobody', 'LOGNAME': 'nobody'})
            return c.spawn(argv, name='run', env=env)

        alone = 2 * SLOTS + LOCAL_COMPILE
        shared = SLOTS + LOCAL_COMPILE
        t3 = time.monotonic()
        b3 = start(c3)
        lan.wait_until(lambda: any(r['tokens'] == alone and r['in_use'] == alone for r in trace(c3)), 15,
                       watch=daemons + [b3], what=f'h3 alone running {alone} jobs')
        note(f'h3 alone: {alone} tokens, {alone} jobs running')

        # A look by another user (root's --json, as `--status` or a
        # readiness probe) counts as a user building for 5 s for other
        # looks, but takes nothing from a build's lease (addLocalUsers).
        dm.hosts_json(c4, bins)
        t4 = time.monotonic()
        b4 = start(c4)

        def dropped():
            for r in trace(c3):
                if r['share'] is not None and r['tokens'] <= shared:
                    return r
            return None
        r = lan.wait_until(dropped, 10, watch=daemons + [b3, b4], what='h3 falling to its share')
        took = time.monotonic() - t4
        figure('run.second_start_to_drop', took, 's', 5.0)
        figure('run.h3_share', r['share'], 'slots', SLOTS)
        assert took <= 5.0, f'h3 kept more than its share for {took:.1f} s after h4 started'
        # The tokens are the daemon's share plus the local compile slot; the
        # share is half the farm, give or take the slot that rounding and the
        # moment's reservations move.
        assert r['tokens'] == r['share'] + LOCAL_COMPILE, \
            f'h3\'s tokens are not its share plus its local compile slot: {r}'
        assert SLOTS - 1 <= r['share'] <= SLOTS, f'h3\'s share is not half the farm: {r}'
        r4 = lan.wait_until(lambda: next((x for x in trace(c4) if x['share'] is not None and x['in_use'] >= 2), None),
                            10, watch=daemons + [b3, b4], what='h4 building on its share')
        figure('run.h4_share', r4['share'], 'slots', SLOTS)
        assert SLOTS - 1 <= r4['share'] <= SLOTS, f'h4\'s share is not half the farm: {r4}'

        rc4 = b4.wait(120)
        t_end = time.monotonic()
        assert rc4 == 0, f'h4 build failed ({rc4}): {b4.tail()}'
        # Its lease ends with its connection: h3's daemon stops counting its
        # demand at once, not after the demand's 5 s time to live.
        if b3.alive():
            lan.wait_until(lambda: dm.query(c3, {'op': 'stats'})['demand']['others_wanted'] == 0, 3, 0.05,
                           watch=daemons, what='h3\'s daemon dropping h4\'s demand after h4\'s build ended')
            figure('run.h4_end_to_demand_withdrawn', time.monotonic() - t_end, 's', 1.0)
        else:
            note('h3 ended before h4: the withdrawal was not observable while h3 built')
        rc3 = b3.wait(180)
        assert rc3 == 0, f'h3 build failed ({rc3}): {b3.tail()}'
        # h4's demand is withdrawn when its runner ends: h3 takes the farm back.
        records = trace(c3)
        note(f'h3 tokens over time: {[(round(x["t"], 1), x["tokens"], x["in_use"]) for x in records][:80]}')
        note(f'h4 tokens over time: {[(round(x["t"], 1), x["tokens"], x["in_use"], x["share"]) for x in trace(c4)][:80]}')
        # Alone, a build's own running jobs are not other clients': its line
        # holds the whole farm at every renewal, not a slot or two less.
        alone_records = [x for x in records if x['in_use'] >= 2 and x['t'] < t4 - t3 and not x['tail']]
        low = min((x['tokens'] for x in alone_records), default=alone)
        figure('run.h3_fewest_tokens_alone', low, 'tokens')
        assert low >= alone - 1, f'h3\'s tokens fell to {low} while it built alone: {alone_records}'
        # While h3 still had work queued (not in its tail) after h4's end
        # (0.5 s for h4's last reservations and samples to clear): its
        # trace's clock starts at its own start.
        after = [x for x in records if x['t'] > t_end - t3 + 0.5 and not x['tail']]
        if after:
            back = max(x['tokens'] for x in after)
            figure('run.h3_tokens_after_h4', back, 'tokens', alone)
            # A slot may still count as another's for a moment (its reservation).
            assert back >= alone - 1, f'h3 did not take the farm back after h4 ended: at most {back} tokens'
        else:
            note('h3 was in its tail when h4 ended: nothing left to take the farm back for')

        for c in (c3, c4):
            out = c.run([os.path.join(c.work, 'proj', 'prog')]).stdout.strip()
            assert out == str(sums[c.name]), f'{c.name}: the program prints {out}, not {sums[c.name]}'
            for name, proc in servers.items():
                jobs = [j for j in dm.distccd_jobs(proc) if j['client'] == c.ip and j['status'] == 'COMPILE_OK']
                figure(f'run.{c.name}_jobs_on_{name}', len(jobs), 'jobs')
            remote = sum(1 for proc in servers.values() for j in dm.distccd_jobs(proc)
                         if j['client'] == c.ip and j['status'] == 'COMPILE_OK')
            assert remote > 0, f'{c.name}: no unit compiled on a server'

        hostile_leases(c3, runner, daemons)


HOG_LEASES = 10


def hostile_leases(c3, runner, daemons):
    """uid 65534 on h3 holds HOG_LEASES build leases wanting a million jobs
    each while root builds on h3: the leases count as one user, so root's
    build keeps half of the machine's slots (the whole farm: h4 is idle) and
    the hog's lines add up to no more than the other half."""
    sock = '/run/distcc-mdns/socket'
    hog = c3.spawn(['setpriv', f'--reuid={NOBODY}', f'--regid={NOBODY}', '--clear-groups', '/usr/bin/python3',
                    os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lease_hog.py'),
                    sock, str(HOG_LEASES), '1000000', '60'], name='lease-hog', env={'HOME': '/'})

    def hog_rounds():
        return [json.loads(x) for x in hog.log().splitlines() if x.startswith('{')]
    lan.wait_until(lambda: any(r['answered'] == HOG_LEASES for r in hog_rounds()), 10, watch=daemons + [hog],
                   what=f'uid {NOBODY} holding {HOG_LEASES} build leases on h3')
    write_project(c3, 60)
    path = os.path.join(c3.work, 'proj', 'trace2.json')
    b = c3.spawn([runner, f'--local-slots={LOCAL}', f'--trace={path}', 'make', '-B', '-C', os.path.join(c3.work, 'proj')],
                 name='run-beside-hog', env={'DISTCC_HOSTS': None, 'CC': 'gcc', 'DISTCC_FALLBACK': '0'})

    def records():
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(x) for x in f if x.endswith('\n')]
    # Half of the farm's 2 x SLOTS, give or take the slot rounding moves.
    r = lan.wait_until(lambda: next((x for x in records() if x['in_use'] >= 2 and x['share'] is not None), None),
                       15, watch=daemons + [hog, b], what='root\'s build on h3 getting its share beside the hog')
    t_shared = time.monotonic()
    rc = b.wait(120)
    t_done = time.monotonic()
    assert rc == 0, f'root\'s build beside the hog failed ({rc}): {b.tail()}'
    during = [x for x in records() if x['share'] is not None and not x['tail'] and x['in_use'] >= 2]
    least = min(x['share'] for x in during)
    rounds = hog_rounds()
    # Each lease's next renewal (0.5 s) brings the hog's lines to its half.
    # (the build's lease ends as its make exits: a second before its end.)
    beside = [x['slots'] for x in rounds if t_shared + 1.0 < x['t'] < t_done - 1.0]
    figure('run.share_beside_hog', least, 'slots', SLOTS)
    figure('run.hog_slots_most', max(x['slots'] for x in rounds), 'slots', 2 * SLOTS)
    figure('run.hog_slots_beside_root', max(beside, default=0), 'slots', SLOTS)
    note(f'root beside {HOG_LEASES} leases of uid {NOBODY}: share {sorted({x["share"] for x in during})}, '
         f'first {r["share"]}; the hog\'s lines added up to {[x["slots"] for x in rounds]} remote slots per round')
    assert least >= SLOTS - 1, f'{HOG_LEASES} leases of one user cut root\'s share to {least} (half is {SLOTS})'
    # Never more than the farm, not even while the leases first ask one
    # after another; beside root's build no more than the user's half.
    assert all(x['slots'] <= 2 * SLOTS for x in rounds), f'the hog was handed more than the farm: {rounds}'
    assert beside, 'the hog renewed no lease while root built'
    assert max(beside) <= SLOTS + 1, f'{HOG_LEASES} leases of one user were handed {max(beside)} remote slots ' \
        f'beside root\'s build, more than its half ({SLOTS})'
    hog.stop()


if __name__ == '__main__':
    lan.run_test(main)
