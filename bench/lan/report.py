#!/usr/bin/python3
"""Plots and the markdown report of a bench/lan/build_bench.py run (its JSON).

    /usr/bin/python3 bench/lan/report.py RESULT.json [--out docs/benchmarks] [--command CMD]

Writes OUT/lan-makespan.svg, OUT/lan-share.svg, OUT/lan-timeline.svg,
OUT/lan-tokens.svg (with the mode mdns-run: the runner's tokens over time per
client, all at once and staggered) and OUT/lan.md. Needs Debian's python3-matplotlib (apt-get install
python3-matplotlib), hence /usr/bin/python3 and not whatever python3 is first
on PATH.
"""

import argparse
import json
import os
import sys

import matplotlib
matplotlib.use('Agg')      # no display: write files only
import matplotlib.pyplot as plt  # noqa: E402

LABEL = {'static': 'static list', 'randomize': '--randomize', 'zeroconf': 'stock +zeroconf',
         'mdns': 'distcc-mdns', 'mdns-learned': 'distcc-mdns, learned speeds',
         'mdns-share': 'distcc-mdns, -j share', 'mdns-run': 'distcc-mdns-run (jobserver)',
         'mdns-run-cold': 'distcc-mdns-run, nothing remembered',
         'mdns-run-nocopies': 'distcc-mdns-run --no-copies'}
COLOR = {'static': '#8c8c8c', 'randomize': '#d9a441', 'zeroconf': '#c0504d', 'mdns': '#2e75b6',
         'mdns-learned': '#1f4e79', 'mdns-share': '#70a8dc', 'mdns-run': '#3a9a5b',
         'mdns-run-cold': '#5fb87a', 'mdns-run-nocopies': '#9ccf8a'}
CLIENT_COLORS = ('#2e75b6', '#c0504d', '#3a9a5b', '#d9a441', '#7f5fa8', '#8c8c8c')
TARGET_SPEEDUP, TARGET_RATIO, TARGET_JAIN = 1.5, 1.15, 0.95


def plot_makespan(res, path):
    modes = res['modes']
    fig, ax = plt.subplots(figsize=(7, 4))
    ideal = next(iter(modes.values()))['ideal']
    for i, (m, r) in enumerate(modes.items()):
        ax.bar(i, r['overall_mean'], color=COLOR[m], width=0.6, label=None)
        top = max(x['overall'] for x in r['runs'])
        ax.text(i, top, f'{r["overall_mean"]:.1f} s\n{r["ratio_mean"]:.2f}x', ha='center',
                va='bottom', fontsize=9)
        ax.plot([i] * len(r['runs']), [x['overall'] for x in r['runs']], 'kD', markersize=4,
                label='one run' if i == 0 else None)
        spans = [c['makespan'] for c in r['clients']]
        ax.plot([i + 0.1 * (k - (len(spans) - 1) / 2) for k in range(len(spans))], spans, 'w.',
                markeredgecolor='k', markersize=6,
                label='one client (run nearest the mean)' if i == 0 else None)
    ax.axhline(ideal, color='k', linestyle='--', linewidth=1, label=f'ideal {ideal:.1f} s')
    ax.axhline(ideal * TARGET_RATIO, color='k', linestyle=':', linewidth=1,
               label=f'ideal + 15% ({ideal * TARGET_RATIO:.1f} s)')
    ax.set_xticks(range(len(modes)), [LABEL[m].replace(', ', '\n') for m in modes])
    ax.set_ylabel('build makespan (s)')
    ax.set_ylim(0, max(x['overall'] for r in modes.values() for x in r['runs']) * 1.4)
    ax.set_title(f'{res["clients"]} clients building together on {len(servers(res))} servers')
    ax.legend(loc='upper center', fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, metadata={'Date': None})  # no date: a rerun of the same JSON changes nothing
    plt.close(fig)


def servers(res):
    return next(iter(res['modes'].values()))['servers']


def plot_share(res, path):
    """Each server's share of the work against its share of the capacity."""
    modes = res['modes']
    srv = servers(res)
    cap = sum(s['capacity'] for s in srv)
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(modes)
    for k, (m, r) in enumerate(modes.items()):
        total = sum(s['work'] for s in r['servers']) + sum(
            j['work'] for j in r['jobs'] if j['host'] not in {s['name'] for s in r['servers']})
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(srv))]
        ax.bar(xs, [100 * s['work'] / total for s in r['servers']], width, color=COLOR[m],
               label=LABEL[m])
    ax.plot(range(len(srv)), [100 * s['capacity'] / cap for s in srv], 'k_', markersize=28,
            markeredgewidth=2, label='share of capacity')
    ax.set_xticks(range(len(srv)), [f'{s["name"]}\n{s["cores"]}x{s["speed"]:g}' for s in srv])
    ax.set_ylabel('share of all work (%)')
    ax.set_title('where the work ran (server: cores x speed)')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={'Date': None})  # no date: a rerun of the same JSON changes nothing
    plt.close(fig)


def running_curve(r, hosts, weight, steps=400):
    """Sum over hosts of weight(host, jobs running there), sampled at `steps`
    points from 0 to the last job's end; returns (times, values)."""
    end = max((j['end'] for j in r['jobs']), default=1.0)
    ts = [end * i / steps for i in range(steps + 1)]
    events = {}           # host -> [(time, +1 at a start or -1 at an end)]
    for j in r['jobs']:
        if j['host'] in hosts:
            events.setdefault(j['host'], []).extend([(j['start'], 1), (j['end'], -1)])
    ys = [0.0] * len(ts)
    for name, ev in events.items():
        ev.sort()
        n, k = 0, 0
        for i, t in enumerate(ts):
            while k < len(ev) and ev[k][0] <= t:
                n += ev[k][1]
                k += 1
            ys[i] += weight(name, n)
    return ts, ys


def plot_timeline(res, path):
    """Top: the farm's busy share, sum of min(running, cores) x speed over the
    capacity. Bottom: jobs compiling on the clients themselves."""
    modes = res['modes']
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True,
                                      gridspec_kw={'height_ratios': [2, 1]})
    for m, r in modes.items():
        srv = {s['name']: s for s in r['servers']}
        cap = sum(s['capacity'] for s in srv.values())
        ts, ys = running_curve(r, srv, lambda h, n: min(n, srv[h]['cores']) * srv[h]['speed'])
        top.plot(ts, [100 * y / cap for y in ys], color=COLOR[m], label=LABEL[m], linewidth=1.5)
        clients = {c['name'] for c in r['clients']}
        ts, ys = running_curve(r, clients, lambda h, n: n)
        bottom.plot(ts, ys, color=COLOR[m], linewidth=1.5)
    ideal = next(iter(modes.values()))['ideal']
    for ax in (top, bottom):
        ax.axvline(ideal, color='k', linestyle='--', linewidth=1,
                   label='ideal makespan' if ax is top else None)
    top.set_ylabel('farm capacity in use (%)')
    top.set_ylim(0, 105)
    top.set_title('how busy the servers were (a long tail is a slow finish)')
    top.legend(fontsize=8, loc='upper right')
    bottom.set_ylabel('jobs on the clients')
    bottom.set_xlabel('time since the builds started (s)')
    fig.tight_layout()
    fig.savefig(path, metadata={'Date': None})  # no date: a rerun of the same JSON changes nothing
    plt.close(fig)


def token_series(client, key='tokens'):
    """(times since the first spawn, values) of one client's runner trace, as
    steps: a value holds until the next record."""
    tr = [x for x in client.get('trace') or [] if x.get(key) is not None]
    return [client['start'] + x['t'] for x in tr], [x[key] for x in tr]


def plot_tokens(res, path):
    """The runner's tokens per client over time: one all-at-once run (the one
    nearest the mean) and the staggered run, when there are."""
    panels = []
    if 'mdns-run' in res['modes']:
        panels.append(('all clients at once (the run nearest the mean)', res['modes']['mdns-run'], None))
    st = res.get('stagger')
    if st:
        panels.append((f'staggered: client i starts {st["stagger"]:g} x i s after the first', st['run'],
                       st.get('figures')))
    if not panels:
        return False
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 3.2 * len(panels)), squeeze=False)
    farm = sum(s['slots'] for s in servers(res))
    for ax, (title, r, figs) in zip(axes[:, 0], panels):
        for k, c in enumerate(r['clients']):
            color = CLIENT_COLORS[k % len(CLIENT_COLORS)]
            ts, ys = token_series(c)
            ax.step(ts, ys, where='post', color=color, linewidth=1.4, label=f'{c["name"]} tokens')
            ts, ys = token_series(c, 'in_use')
            ax.step(ts, ys, where='post', color=color, linewidth=0.7, linestyle=':',
                    label='jobs in use' if k == 0 else None)
            end = c['start'] + c['makespan']
            ax.axvline(end, color=color, linewidth=0.6, alpha=0.5)
            if figs and k > 0:
                ax.axvline(c['start'], color=color, linewidth=0.8, linestyle='--')
        ax.axhline(farm, color='k', linestyle='--', linewidth=0.8, label=f"the farm's {farm} slots")
        if figs:
            # The first client's fair share, step by step as builds start.
            xs = [0.0] + [e['at'] for e in figs['starts']]
            ys = [figs['fair_alone']] + [e['fair'] for e in figs['starts']]
            ax.step(xs + [r['clients'][0]['start'] + r['clients'][0]['makespan']], ys + ys[-1:],
                    where='post', color='k', linewidth=0.8, linestyle=':',
                    label="the first client's fair share")
        ax.set_title(title)
        ax.set_ylabel('tokens (incl. the implicit one)')
        ax.set_ylim(0, farm * 1.25)
        ax.legend(fontsize=7, loc='upper right', ncol=2)
    axes[-1, 0].set_xlabel('time since the first build started (s); thin lines: a build ends')
    fig.tight_layout()
    fig.savefig(path, metadata={'Date': None})  # no date: a rerun of the same JSON changes nothing
    plt.close(fig)
    return True


def no_server_seconds(client, ips):
    """Seconds of the client's build during which its hosts line named no server."""
    lines = client['hosts_lines'] + [[client['makespan'], None]]
    return sum(b[0] - a[0] for a, b in zip(lines, lines[1:])
               if not any(tok.split('/')[0] in ips for tok in a[1].split()))


def verdict(ok):
    return 'met' if ok else '**not met**'


def stagger_section(w, st):
    r, f = st['run'], st['figures']
    w('## Staggered starts under the runner')
    w('')
    w(f'Every client builds {st["units"]} units (the same log-normal work, so that the first '
      f'build still runs when the last starts) under `distcc-mdns-run`; client i starts '
      f'{st["stagger"]:g} x i s after the first, which is alone for the first {st["stagger"]:g} s. '
      f'Tokens are the runner\'s target including the implicit one, from its `--trace`. The '
      f'fair share of n builds is ceil(farm slots / n) + the client\'s {CLIENT_CORES_NOTE}.')
    w('')
    w('| client | starts at | makespan | local jobs | remote jobs |')
    w('|---|---|---|---|---|')
    for c in r['clients']:
        w(f'| {c["name"]} | {c["start"]:.1f} s | {c["makespan"]:.1f} s | {c["local_jobs"]} | '
          f'{c["remote_jobs"]} |')
    w('')
    if not f:
        w('The first client left no trace.')
        w('')
        return
    reached = (f'reached at {f["reached_farm_at"]:.2f} s' if f['reached_farm_at'] is not None
               else 'never reached')
    usable = f.get('usable_slots')
    usable_at = f.get('reached_usable_at')
    w(f'- Alone (0-{f["alone_until"]:.1f} s), the first client\'s tokens peaked at '
      f'**{f["peak_alone"]}** against the farm\'s {usable} usable slots with its own '
      f'local compile slot ({"reached at " + format(usable_at, ".2f") + " s" if usable_at is not None else "never reached"}; '
      f'goal {verdict(usable_at is not None)}) and its {f["farm_slots"]} distccd slots ({reached}; '
      f'the daemon\'s share then: {f["peak_share"] or "null (room for every demand)"}). A slot is '
      f'usable while a job there runs at half a client\'s speed or more (the planner\'s minimum '
      f'speed): a 2-core server at speed 0.6 has 2 of its 4 distccd slots usable, and a third or '
      f'fourth job there adds no throughput to it, only time to every job it runs. The '
      f'daemon\'s lines offered it {f.get("line_slots_alone")} remote slots at most (plus its '
      f'local ones; the planner lists a slow server at its cores, not its distccd slots), and '
      f'at most {f.get("peak_in_use_alone")} of its jobs ran at once; over the window it held '
      f'{f.get("mean_tokens_alone")} tokens and ran {f.get("mean_in_use_alone")} jobs on average.')
    for e in f['starts']:
        fell = 'never' if e['tokens_fell'] is None else f'{e["tokens_fell"]:.2f} s'
        used = 'never' if e['in_use_fell'] is None else f'{e["in_use_fell"]:.2f} s'
        ok = e['tokens_fell'] is not None and e['tokens_fell'] <= 2.0
        w(f'- {e["client"]} starts at {e["at"]:.1f} s ({e["builds"]} builds running): the first '
          f'client\'s tokens went from {e["tokens_before"]} to its fair share {e["fair"]} or '
          f'less after **{fell}** (goal 2 s: {verdict(ok)}; lowest before the next start '
          f'{e["tokens_min"]}); its jobs in use fell to it after {used} (tokens are withheld '
          f'as jobs end, never taken from a running job).'
          + ('' if e['first_running'] else ' The first client had already finished.'))
    w('')


CLIENT_CORES_NOTE = 'local slot that compiles (of its 2: the other preprocesses)'


def markdown(res, command, tokens_plot=False):
    modes = res['modes']
    srv = servers(res)
    first = next(iter(modes.values()))
    out = []
    w = out.append
    w('# Virtual-LAN build benchmark')
    w('')
    w('Generated by `tools/bench-lan` (bench/lan/); do not edit by hand.')
    load = ''
    if res.get('load_before'):
        load = (f' The machine is shared with other builds: load average (1, 5, 15 min) '
                f'{", ".join(map(str, res["load_before"]))} at the start, '
                f'{", ".join(map(str, res["load_after"]))} at the end.')
    w(f'Run {res["date"]} on a machine with {res["machine_cpus"]} CPUs, '
      f'{res["wall_seconds"]} s of wall time.{load}')
    w('')
    w('```sh')
    w(command or res['command'])
    w('```')
    w('')
    w('## Farm and workload')
    w('')
    w('Every host is a network namespace on one virtual LAN with its own avahi-daemon. '
      'Servers run a real `distccd --jobs SLOTS` whose compiler is `fakecc`: a compile asks '
      'its host\'s processor-sharing CPU model for the work written in the source file, and '
      'each of n running jobs gets speed x min(1, cores/n), so an overloaded server slows '
      'every job on it without burning this machine\'s CPU. Clients run the real distcc '
      'client under `make -jN`; preprocessing (`fakecc -E`) is instant.')
    w('')
    w('| server | cores | speed | advertised `--speed` | capacity (cores x speed) | distccd --jobs |')
    w('|---|---|---|---|---|---|')
    for s in srv:
        w(f'| {s["name"]} | {s["cores"]} | {s["speed"]:g} | {s.get("advertised", s["speed"]):g} | '
          f'{s["capacity"]:g} | {s["slots"]} |')
    w(f'| **all** | {sum(s["cores"] for s in srv)} | | | **{first["capacity"]:g}** | '
      f'{sum(s["slots"] for s in srv)} |')
    w('')
    w(f'{res["clients"]} clients ({res["client_cores"]} cores at speed {res["client_speed"]:g} '
      f'each) build {res["units"]} translation units each, all starting together. A unit\'s '
      f'work (seconds of one core at speed 1) is log-normal with median {res["median"]:g} and '
      f'sigma {res["sigma"]:g}, clipped to [0.1, {10 * res["median"]:g}], seed {res["seed"]}: '
      f'{first["total_work"]:.0f} s of work in all, the same in every mode.')
    w('')
    w(f'**Ideal** = total work / server capacity = {first["total_work"]:.0f} / '
      f'{first["capacity"]:g} = **{first["ideal"]:.1f} s** (the clients\' own CPUs are not '
      f'counted: the stock modes never compile locally). **Jain** is Jain\'s fairness index '
      f'(sum x)^2 / (n sum x^2) over the clients\' throughputs x = work of the build / its '
      f'makespan: 1 when every client progresses at the same rate; **Jain (makespans)** the '
      f'same over the clients\' makespans, the measure of issue 18. **Stretch** is a job\'s '
      f'time over its time alone on that host (1: it never shared a core).')
    w('')
    w('## Modes')
    w('')
    w('| mode | clients | servers | make -j |')
    w('|---|---|---|---|')
    desc = {
        'static': ('`DISTCC_HOSTS` lists every server `/SLOTS`, fastest first, the same on '
                   'every client', '`distccd`'),
        'randomize': ('the same list after `--randomize`', '`distccd`'),
        'zeroconf': ('`DISTCC_HOSTS=+zeroconf` (stock distcc\'s browser writes '
                     '`ip:port/jobs` lines)', '`distccd --zeroconf`'),
        'mdns': ('`distcc-mdnsd --hosts-file=$DISTCC_DIR/hosts --learn-speed=no`, `DISTCC_HOSTS` unset',
                 '`distccd` + `distcc-mdnsd --speed=S --cpus=C --learn-speed=no`'),
        'mdns-learned': ('as distcc-mdns with `--learn-speed=yes` (the default): speeds learned from '
                         'the clients\' jobs', '`distccd` + `distcc-mdnsd --speed=S --cpus=C`'),
        'mdns-share': ('as distcc-mdns; a diagnostic, not the documented use',
                       '`distccd` + `distcc-mdnsd --speed=S --cpus=C`'),
        'mdns-run': ('`distcc-mdnsd --learn-speed=no` (no hosts file); every build runs as '
                     '`distcc-mdns-run --trace=FILE make -C DIR`, `CC=fakecc` (the runner makes it '
                     '`RUNNER --job distcc fakecc` and keeps its own hosts file: `localhost/1` of the '
                     '2 local slots while the farm has more, a token for every slot of that file, '
                     '`DISTCC_PAUSE_TIME_MSEC=50`, and copies of compiles stuck on slow servers)',
                     '`distccd` + `distcc-mdnsd --speed=S --cpus=C --learn-speed=no`'),
        'mdns-run-cold': ('as distcc-mdns-run, its compile-time cache emptied before every run '
                          '(mdns-run keeps it from one run to the next, as a rebuild finds it)',
                          '`distccd` + `distcc-mdnsd --speed=S --cpus=C --learn-speed=no`'),
        'mdns-run-nocopies': ('as distcc-mdns-run with `--no-copies`',
                              '`distccd` + `distcc-mdnsd --speed=S --cpus=C --learn-speed=no`'),
    }
    for m, r in modes.items():
        js = sorted({c['jobs_flag'] for c in r['clients']})
        if js == [0]:
            w(f'| {LABEL[m]} | {desc[m][0]} | {desc[m][1]} | none: the runner\'s jobserver, '
              f'tokens following the live share |')
            continue
        how = {'mdns': '`distcc-mdns-hosts -j` at the start',
               'mdns-learned': '`distcc-mdns-hosts -j` at the start',
               'mdns-share': "the farm's slots / clients"}.get(m, 'the slots in the list')
        w(f'| {LABEL[m]} | {desc[m][0]} | {desc[m][1]} | {",".join(map(str, js))} ({how}) |')
    w('')
    w('## Results')
    w('')
    w(f'Each mode ran {res["repeat"]} time(s), the modes taking turns; the figures are means '
      f'over the runs (each run\'s overall makespan in brackets), the per-client makespans '
      f'and the jobs per server those of the run nearest the mean.')
    w('')
    w('| mode | overall makespan | / ideal | Jain | Jain (makespans) | per-client makespans (s) | '
      'local jobs | mean stretch |')
    w('|---|---|---|---|---|---|---|---|')
    for m, r in modes.items():
        spans = ', '.join(f'{c["makespan"]:.1f}' for c in r['clients'])
        runs = ', '.join(f'{x["overall"]:.1f}' for x in r['runs'])
        jm = r.get('jain_makespan_mean')
        stretch = r.get('mean_stretch_mean')
        w(f'| {LABEL[m]} | {r["overall_mean"]:.1f} s ({runs}) | {r["ratio_mean"]:.2f} | '
          f'{r["jain_throughput_mean"]:.3f} | {"" if jm is None else f"{jm:.3f}"} | {spans} | '
          f'{r["local_jobs_mean"]:.0f} ({", ".join(str(x["local_jobs"]) for x in r["runs"])}) | '
          f'{"" if stretch is None else f"{stretch:.2f}"} |')
    w('')
    w('Jobs per server (work share in %, capacity share in the header):')
    w('')
    cap = first['capacity']
    w('| mode | ' + ' | '.join(f'{s["name"]} ({100 * s["capacity"] / cap:.0f}%)' for s in srv)
      + ' |')
    w('|---|' + '---|' * len(srv))
    for m, r in modes.items():
        total = r['total_work']
        w(f'| {LABEL[m]} | ' + ' | '.join(f'{s["jobs"]} ({100 * s["work"] / total:.0f}%)'
                                          for s in r['servers']) + ' |')
    w('')
    w('![makespan per mode](lan-makespan.svg)')
    w('')
    w('![work share per server](lan-share.svg)')
    w('')
    w('![farm busy over time](lan-timeline.svg)')
    w('')
    if tokens_plot:
        w('![the runner\'s tokens over time per client](lan-tokens.svg)')
        w('')
    if res.get('stagger'):
        stagger_section(w, res['stagger'])
    w('## Targets (reported, not asserted)')
    w('')
    if 'mdns' in modes:
        r = modes['mdns']
        if 'zeroconf' in modes:
            sp = modes['zeroconf']['overall_mean'] / r['overall_mean']
            w(f'- distcc-mdns at least {TARGET_SPEEDUP}x faster than stock +zeroconf: '
              f'{sp:.2f}x, {verdict(sp >= TARGET_SPEEDUP)}.')
        w(f'- within 15% of the ideal: {r["ratio_mean"]:.2f} x ideal, '
          f'{verdict(r["ratio_mean"] <= TARGET_RATIO)}.')
        w(f'- Jain fairness at least {TARGET_JAIN}: {r["jain_throughput_mean"]:.3f}, '
          f'{verdict(r["jain_throughput_mean"] >= TARGET_JAIN)}.')
        # distcc-mdns lists localhost under load and compiles some units on
        # the clients, which the stock modes never do: say what the ideal
        # would be with the clients' CPUs counted too.
        whole = first['capacity'] + res['clients'] * res['client_cores'] * res['client_speed']
        ideal_all = r['total_work'] / whole
        w(f'- Counting the clients\' CPUs too (distcc-mdns uses them, the stock modes do not), '
          f'the ideal is {r["total_work"]:.0f} / {whole:g} = {ideal_all:.1f} s and distcc-mdns '
          f'takes {r["overall_mean"] / ideal_all:.2f} x that.')
        w('')
    if 'mdns-run' in modes:
        # Issue 18's goals for the runner, over the same runs.
        rr = modes['mdns-run']
        w(f'- distcc-mdns-run within 15% of the ideal: {rr["ratio_mean"]:.2f} x ideal, '
          f'{verdict(rr["ratio_mean"] <= TARGET_RATIO)}.')
        w(f'- distcc-mdns-run Jain over the makespans at least {TARGET_JAIN}: '
          f'{rr["jain_makespan_mean"]:.3f}, {verdict(rr["jain_makespan_mean"] >= TARGET_JAIN)}.')
        if 'mdns' in modes:
            lm = modes['mdns']['local_jobs_mean']
            w(f'- distcc-mdns-run compiles fewer units on the clients than distcc-mdns at a fixed '
              f'`-j`: {rr["local_jobs_mean"]:.0f} against {lm:.0f} of {len(rr["jobs"])} (means), '
              f'{verdict(rr["local_jobs_mean"] < lm)}.')
        if 'mdns-run-cold' in modes:
            cold = modes['mdns-run-cold']
            w(f'- What the remembered compile times give (distcc-mdns-run(1), REMEMBERED COMPILE '
              f'TIMES): {rr["ratio_mean"]:.2f} x ideal with the cache kept from run to run (its first '
              f'run builds cold: ' + ', '.join(f'{x["ratio"]:.2f}' for x in rr['runs'])
              + f') against {cold["ratio_mean"]:.2f} with it emptied before every run ('
              + ', '.join(f'{x["ratio"]:.2f}' for x in cold['runs']) + ').')
        k = rr.get('remembered')
        if k:
            w(f'- After the run nearest the mean the runners remembered {k["units"]} of its {k["of"]} '
              f'units, their work off by {100 * k["error_p50"]:.0f}% at the median and '
              f'{100 * k["error_p90"]:.0f}% at the 90th percentile.')
        tails = [c for c in rr['clients'] if c.get('first_tail') is not None]
        if tails:
            w('- When the runner first called each build\'s tail (idle tokens: make has no job '
              'waiting; from then on only tokens for the fast slots), in the run nearest the mean: '
              + ', '.join(f'{c["name"]} at {c["first_tail"]:.1f} s of {c["makespan"]:.1f} s with '
                          f'{c["in_use_at_first_tail"]} jobs in use ({c["tail_seconds"]:.1f} s in the '
                          f'tail)' for c in tails) + '.')
        if 'copies_mean' in rr:
            w(f'- Copies of compiles stuck on slow servers (started when make has no job waiting and '
              f'an idle slot gives a job over twice the speed the compile gets where it runs): '
              f'{rr["copies_mean"]:.1f} a run, {rr["copies_won_mean"]:.1f} of them gave the object '
              f'first (means; distccd ends the losing side\'s compile once its client goes away).')
        w('')
    for m in modes:
        # What ends a build is its last job: on which host, started when.
        r = modes[m]
        last = []
        for c in r['clients']:
            mine = [j for j in r['jobs'] if j['client'] == c['name']]
            if mine:
                j = max(mine, key=lambda j: j['end'])
                last.append(f'{c["name"]} on {j["host"]} ({j["work"]:.1f} s of work, '
                            f'{j["start"]:.1f}-{j["end"]:.1f} s)')
        w(f'- {LABEL[m]}, each client\'s last job (run nearest the mean): ' + ', '.join(last) + '.')
    w('')
    for m in (m for m in modes if m.startswith('mdns')):
        r = modes[m]
        ips = {s['ip'] for s in r['servers']}
        njobs = len(r['jobs'])
        bare = ', '.join(f'{c["name"]} {no_server_seconds(c, ips):.1f} s' for c in r['clients'])
        w(f'- {LABEL[m]} (run nearest the mean): {r["local_jobs"]} of {njobs} jobs compiled on the clients; '
          f'time each client\'s hosts file listed no server (localhost only): {bare}.')
    w('')
    for m in (m for m in ('mdns', 'mdns-run') if m in modes):
        r = modes[m]
        c = r['clients'][0]
        w(f'Hosts lines distcc read on {c["name"]} in the {LABEL[m]} mode (time since the '
          f'start, first {min(8, len(c["hosts_lines"]))} of {len(c["hosts_lines"])} versions):')
        w('')
        w('```')
        ipname = {s['ip']: s['name'] for s in r['servers']}
        for t, line in c['hosts_lines'][:8]:
            named = ' '.join(f'{ipname.get(tok.split("/")[0], tok.split("/")[0])}'
                             f'{"/" + tok.split("/")[1] if "/" in tok else ""}'
                             for tok in line.split())
            w(f'{t:6.1f} s  {named}')
        w('```')
        snaps = r.get('no_server_snapshots') or {}
        if snaps:
            name, snap = sorted(snaps.items())[0]
            w('')
            w(f'`distcc-mdns-hosts --json` on {name} the first time its hosts file named no '
              f'server ({snap["t"]:.1f} s after the start; line `{snap["line"]}`):')
            w('')
            w('| server | running | slots | reserved | limit | excluded |')
            w('|---|---|---|---|---|---|')
            for x in snap['servers']:
                w(f'| {x["name"]} | {x["running"]} | {x["slots"]} | {x["reserved"]} | '
                  f'{x["limit"]} | {x["excluded"] or ""} |')
        w('')
    return '\n'.join(out)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('json')
    ap.add_argument('--out', default='docs/benchmarks')
    ap.add_argument('--command', default='', help='the command to show in the report')
    a = ap.parse_args(argv)
    with open(a.json) as f:
        res = json.load(f)
    if not res.get('modes'):
        sys.exit(f'{a.json} holds no mode')
    os.makedirs(a.out, exist_ok=True)
    plt.rcParams.update({'svg.hashsalt': 'distcc-mdns', 'font.size': 9})
    plot_makespan(res, os.path.join(a.out, 'lan-makespan.svg'))
    plot_share(res, os.path.join(a.out, 'lan-share.svg'))
    plot_timeline(res, os.path.join(a.out, 'lan-timeline.svg'))
    tokens = plot_tokens(res, os.path.join(a.out, 'lan-tokens.svg'))
    with open(os.path.join(a.out, 'lan.md'), 'w') as f:
        f.write(markdown(res, a.command, tokens))
    print(f'wrote {a.out}/lan.md and lan-makespan.svg, lan-share.svg, lan-timeline.svg'
          + (', lan-tokens.svg' if tokens else ''))


if __name__ == '__main__':
    main(sys.argv[1:])
