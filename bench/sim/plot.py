#!/usr/bin/python3
"""plot.py: turns sim-bench's JSON into SVG plots and the markdown report docs/benchmarks/sim.md."""

import argparse
import json
import os
import sys
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

# One colour and marker per policy, the same in every plot.
STYLE = OrderedDict([
    ("stock", ("#d62728", "s")),
    ("randomize", ("#ff7f0e", "D")),
    ("central-stale", ("#8c564b", "v")),
    ("distcc-mdns", ("#1f77b4", "o")),
    ("distcc-mdns-file", ("#17becf", "^")),
    ("distcc-mdns-noreserve", ("#9467bd", "x")),
    ("omniscient", ("#2ca02c", "*")),
    ("random", ("#ff7f0e", "D")),
    ("d=2 (dmdns::Picker)", ("#1f77b4", "o")),
    ("least loaded", ("#2ca02c", "*")),
])


def style(policy):
    return STYLE.get(policy, ("#7f7f7f", "."))


def rows(data, section):
    return [r for r in data["rows"] if r["section"] == section]


def series(rs, policy):
    pts = sorted((r["x"], r) for r in rs if r["policy"] == policy)
    return [p[0] for p in pts], [p[1] for p in pts]


def fmt_mean(r):
    if r["unstable"]:
        return "unstable"
    return f"{r['mean']:.3f}"


def fmt_cell(r):
    if r["unstable"]:
        return f"unstable (stopped at {r['end']:.0f} s, queues growing)"
    return f"{r['mean']:.3f} / {r['p99']:.2f}"


def fmt_pub(r):
    return "-" if r["published"] is None else f"{r['published']:g}"


def open_table(rs, xname):
    out = [f"| policy | information | {xname} | mean / p99 time in system | published mean |",
           "|---|---|---|---|---|"]
    for r in rs:
        out.append(f"| {r['policy']} | {r['info']} | {r['x']:g} | {fmt_cell(r)} | {fmt_pub(r)} |")
    return "\n".join(out)


def distcc_table(rs, xname=None):
    head = "| policy | information |" + (f" {xname} |" if xname else "")
    head += " job mean (s) | job p99 (s) | makespan mean (s) | makespan p99 (s) | Jain | utilisation | builds | mean / omniscient |"
    cols = head.count("|") - 1
    out = [head, "|" + "---|" * cols]
    groups = OrderedDict()
    for r in rs:
        groups.setdefault(r["x"], []).append(r)
    for x, group in groups.items():
        ideal = next((g["mean"] for g in group if g["policy"] == "omniscient"), None)
        for r in group:
            ratio = f"{r['mean'] / ideal:.3f}" if ideal else "-"
            line = f"| {r['policy']} | {r['info']} |" + (f" {x:g} |" if xname else "")
            line += (f" {r['mean']:.3f} | {r['p99']:.2f} | {r.get('makespan', 0):.2f} | {r.get('makespanP99', 0):.2f} |"
                     f" {r.get('jain', 0):.3f} | {r.get('utilisation', 0):.3f} | {r.get('builds', 0)} | {ratio} |")
            if r["unstable"]:
                line += " UNSTABLE"
            out.append(line)
    return "\n".join(out)


def measured_and_published(ax, rs, policy):
    """One policy's stable means as a line, the published figures as open circles around them."""
    xs, pts = series(rs, policy)
    colour, marker = style(policy)
    keep = [(x, p) for x, p in zip(xs, pts) if not p["unstable"]]
    ax.plot([k[0] for k in keep], [k[1]["mean"] for k in keep], marker=marker, color=colour, label=policy)
    for x, p in zip(xs, pts):
        if p["unstable"]:
            ax.annotate("unstable", (x, 60), color=colour, ha="center", fontsize=8)
    pub = [(x, p["published"]) for x, p in zip(xs, pts) if p["published"] is not None]
    ax.scatter([p[0] for p in pub], [p[1] for p in pub], facecolors="none", edgecolors=colour, s=110,
               linewidths=1.5)


def finish_axes(ax, xlabel, ylabel, title):
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def plot_supermarket(data, out):
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.4))
    rs = rows(data, "supermarket")
    for policy in ("random", "d=2 (dmdns::Picker)", "least loaded"):
        measured_and_published(a, rs, policy)
    a.scatter([], [], facecolors="none", edgecolors="black", s=110, label="published (field facts)")
    finish_axes(a, "load", "mean time in system (job means)", "100 single-slot servers, exponential jobs")

    rs = rows(data, "stale")
    for policy in ("d=2 (dmdns::Picker)", "least loaded"):
        measured_and_published(b, [r for r in rs if r["x"] > 0], policy)
    rand = [r for r in rs if r["policy"] == "random"]
    if rand:
        b.axhline(rand[0]["mean"], color=style("random")[0], linestyle="--", label="random (fresh)")
    b.set_xscale("log")
    finish_axes(b, "refresh period T (job means)", "mean time in system", "load 0.9, every load refreshed every T")
    fig.suptitle("sim-bench: the supermarket model with the real dmdns::Picker (circles: published)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def plot_distcc(data, out):
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    (a, b), (c, d) = axes
    policies = ["stock", "randomize", "central-stale", "distcc-mdns", "distcc-mdns-file", "omniscient"]

    def sweep(ax, section, xlabel, title):
        rs = rows(data, section)
        for policy in policies:
            xs, pts = series(rs, policy)
            if not xs:
                continue
            colour, marker = style(policy)
            ax.plot(xs, [p["mean"] for p in pts], marker=marker, color=colour, label=policy)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean job time (s)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)

    sweep(a, "loads", "offered load (work / capacity)", f"by load, make -j{data['parallel']}")
    sweep(b, "parallel", "make -j of every client", f"by make -j, load {data['load']:g}")
    b.set_xscale("log", base=2)
    js = sorted({r["x"] for r in rows(data, "parallel")})
    b.set_xticks(js)
    b.set_xticklabels([f"{j:g}" for j in js])

    rs = rows(data, "ages")
    for policy in ("distcc-mdns", "distcc-mdns-noreserve", "central-stale"):
        xs, pts = series(rs, policy)
        if xs:
            colour, marker = style(policy)
            label = policy + (" (x: report period)" if policy == "central-stale" else " (x: median age)")
            c.plot(xs, [p["mean"] for p in pts], marker=marker, color=colour, label=label)
    ideal = [r for r in rows(data, "distcc") if r["policy"] == "omniscient"]
    if ideal:
        c.axhline(ideal[0]["mean"], color=style("omniscient")[0], linestyle="--", label="omniscient")
        c.axhline(ideal[0]["mean"] * 1.15, color=style("omniscient")[0], linestyle=":", label="omniscient + 15%")
    c.set_xscale("log")
    c.set_xlabel("information age (s)")
    c.set_ylabel("mean job time (s)")
    c.set_title(f"how old the loads are, load {data['load']:g}")
    c.grid(True, which="both", alpha=0.3)
    c.legend(fontsize=8)

    rs = rows(data, "distcc")
    names = [r["policy"] for r in rs]
    xs = range(len(rs))
    width = 0.38
    d.bar([x - width / 2 for x in xs], [r["mean"] for r in rs], width, color=[style(n)[0] for n in names],
          label="job mean")
    d2 = d.twinx()
    d2.bar([x + width / 2 for x in xs], [r.get("makespan", 0) for r in rs], width, color=[style(n)[0] for n in names],
           alpha=0.45, hatch="//", label="build makespan mean")
    d.set_xticks(list(xs))
    d.set_xticklabels([f"{n}\nJain {r.get('jain', 0):.3f}" for n, r in zip(names, rs)], rotation=25, ha="right",
                      fontsize=8)
    d.set_ylabel("mean job time (s), solid")
    d2.set_ylabel("mean build makespan (s), hatched")
    d.set_title(f"load {data['load']:g}, make -j{data['parallel']}: job time and makespan")
    fig.suptitle(f"sim-bench, distcc regime: {data['clients']} clients, builds of {data['units']} units, "
                 f"20 heterogeneous servers, seed {data['seed']}", fontsize=11)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def report(data, args):
    sections = []
    have = {r["section"] for r in data["rows"]}

    def add(section, title, text, table):
        if section in have:
            sections.append(f"## {title}\n\n{text}\n\n{table}\n")

    add("supermarket", "Supermarket model: 100 single-slot servers",
        "Poisson arrivals, exponential jobs of mean 1, one FIFO queue per server; time in system in job means. "
        "`d=2` is the real `dmdns::Picker` (equal servers: uniform sampling of two distinct servers, "
        "fewer jobs wins; `roomFirst` off). `least loaded` sends each job to a server with the fewest "
        "jobs (ties at random). At 0.99 the runs have 10x the jobs; random there is M/M/1 at 0.99 (mean 100), "
        "whose queues take some 40,000 job means to forget their start, longer than the run: it comes out "
        "short. Published figures: field facts section 3.",
        open_table(rows(data, "supermarket"), "load"))
    add("stale", "Stale information: all loads refreshed at once every T",
        "Load 0.9. The dispatcher reads a board refreshed every T job means and does not count what it sent "
        "since (the periodic-update model of the literature).",
        open_table(rows(data, "stale"), "T"))
    add("mixed", "Mixed speeds: 20 servers at 4x and 80 at 1x",
        "One slot each, load 0.9 of capacity. `uniform d=2` is a reference policy of the simulator (the "
        "Picker always samples in proportion to capacity, so it cannot express it): two uniform samples, "
        "fewer jobs wins. A run stops as unstable once 50 jobs per slot are in system.",
        open_table(rows(data, "mixed"), "load"))
    add("slots", "distcc-like servers: 20 x 8 slots",
        "Load 0.9, exponential jobs. x: the refresh period of the board, or the constant age of every load "
        "the Picker reads. The published \"loads 1 / 5 job-times old\" match a board refreshed every 1 / 5; "
        "every count exactly that old (each server's count as it was then) is the harsher reading.",
        open_table(rows(data, "slots"), "x"))
    add("distcc", "distcc regime (headline)",
        f"{data['regime']}. " + DISTCC_TEXT + " Target: distcc-mdns within 15% of omniscient at load 0.9.",
        distcc_table(rows(data, "distcc")))
    add("parallel", "distcc regime by make -j", "The same farm and load; every client at the -j shown.",
        distcc_table(rows(data, "parallel"), "-j"))
    add("loads", "distcc regime by load", "Offered load = build work started per second / capacity.",
        distcc_table(rows(data, "loads"), "load"))
    add("ages", "How old the information is",
        "distcc-mdns with gossip ages of the given median (p99 3.2x the median), with and without "
        "reservations; central-stale with reports every x seconds.",
        distcc_table(rows(data, "ages"), "x"))

    summary = headline(data)
    images = "\n".join(f"![{os.path.splitext(os.path.basename(p))[0]}]({os.path.basename(p)})" for p in args.svg)
    return f"""# Scheduling simulator results

Generated by `bench/sim/plot.py` from a run of `build/bench/sim/sim-bench`; do not edit by hand,
rerun `tools/bench-sim` instead.

- command: `{args.command}`
- date: {args.date}
- seed: {data['seed']}; wall time of the run: {data['wallSeconds']:.0f} s

The simulator (`bench/sim/sim.cpp`) is discrete-event: servers have slots and a speed (work units per
second per slot) and a FIFO backlog like distccd's listen queue; jobs are placed when they start and never
move. Every policy sees the same arrivals and job sizes for a seed. The d=2 and distcc-mdns policies call
the core library's `dmdns::Picker` and `planHostsLine()`; nothing of the algorithm is copied.

{images}

{summary}
{chr(10).join(sections)}
## Policies of the distcc regime

{POLICY_TEXT}
"""


def headline(data):
    """The figures the issue asks for, computed from the rows: reproduction and target."""
    out = ["## Headline", "",
           "Reproduction of the published figures (field facts section 3), mean time in system:", "",
           "| check | policy | information | x | measured | published | deviation |", "|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        if r["published"] is None or r["unstable"]:
            continue
        dev = (r["mean"] - r["published"]) / r["published"] * 100
        out.append(f"| {r['section']} | {r['policy']} | {r['info']} | {r['x']:g} | {r['mean']:.3f} |"
                   f" {r['published']:g} | {dev:+.1f}% |")
    unstable = [r for r in data["rows"] if r["unstable"]]
    for r in unstable:
        out.append(f"| {r['section']} | {r['policy']} | {r['info']} | {r['x']:g} | unstable | - | - |")
    rs = rows(data, "distcc")
    ideal = next((r["mean"] for r in rs if r["policy"] == "omniscient"), None)
    if ideal:
        out += ["", f"distcc regime at load {data['load']:g}, make -j{data['parallel']}: mean job time / omniscient's "
                f"({ideal:.3f} s), target for distcc-mdns at most 1.15:", ""]
        for r in rs:
            ratio = r["mean"] / ideal
            verdict = ""
            if r["policy"].startswith("distcc-mdns"):
                verdict = " (target met)" if ratio <= 1.15 else " (target NOT met)"
            out.append(f"- {r['policy']}: {ratio:.3f}{verdict}")
    return "\n".join(out) + "\n"


DISTCC_TEXT = (
    "Each client builds its units with make -j: a new unit starts when one of its jobs ends. Builds fall due "
    "on a per-client schedule (exponential gaps whose mean makes the offered load); a build due while the "
    "client's previous one runs starts when that ends, so a policy that builds slower gets through fewer "
    "builds (see builds and utilisation). Job time: from make starting the job to its end, including any "
    "wait at the client for a distcc slot lock. Makespan: build start to its last job's end. Jain's index "
    "over the clients' 1 / mean makespan. Nothing compiles on the clients: every job goes to a server, so "
    "capacity is the same for every policy.")

POLICY_TEXT = """- **stock**: one static hosts line, the same on every client, each server with its slots as /LIMIT;
  distcc's `dcc_lock_one` over the client's own lock files: slot 0 of every host in line order, then slot 1,
  and so on; when every slot of the line is held, it sleeps 1 s and tries again.
- **randomize**: the same with the line shuffled for every job (`--randomize`).
- **central-stale**: one central scheduler sends each job to the least expected wait
  `(jobs + 1) / (slots x speed)` of all servers, on job counts reported all at once every
  `--report-period` seconds; it does not count what it sent since the last report.
- **distcc-mdns**: for every job the client calls the real `dmdns::Picker::pick()` (default policy:
  servers with room first, capacity-weighted two choices on expected wait) on counts aged by gossip (each
  server's count as it was a lognormal age ago, median/p99 from gossip-sim: 0.5/1.6 s) with reservations
  as gossip keeps them: a job placed counts as reserved on its server for its own client at once and for
  the others after a gossip delay, until a sample measured 1 s after it covers it (3 s at most). This is
  a client that asks its daemon for every compile.
- **distcc-mdns-file**: `distcc-mdnsd --hosts-file`: every 1 s each client's line is rewritten from the
  real `planHostsLine()` (its own Picker seed, aged counts, its own jobs as `own`, the other building
  clients' make -j as their demand, no `want`, as the daemon does), and distcc picks slots breadth-first
  over that line's /LIMITs. The line's localhost entry is left out (no local compiles in this model); with
  no remote slot free the job waits like stock.
- **omniscient**: least expected wait `(jobs + 1) / (slots x speed)` of all servers on the true counts at
  that instant. It is the ideal the target refers to, not an optimum: the earliest-finish rule
  (queue ahead / capacity + 1 / speed) did worse in this regime."""


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("json", help="sim-bench --json output")
    p.add_argument("--out", default="docs/benchmarks", help="directory for the SVGs and sim.md")
    p.add_argument("--command", default="tools/bench-sim", help="the command line to quote")
    p.add_argument("--date", default="", help="the date to quote")
    p.add_argument("--png", action="store_true", help="also write PNG copies (to look at them)")
    args = p.parse_args()
    with open(args.json) as f:
        data = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    have = {r["section"] for r in data["rows"]}
    args.svg = []
    plots = [("sim-supermarket", plot_supermarket, {"supermarket", "stale"}),
             ("sim-distcc", plot_distcc, {"distcc", "loads", "parallel", "ages"})]
    for name, fn, needs in plots:
        if needs <= have:
            path = os.path.join(args.out, name + ".svg")
            fn(data, path)
            args.svg.append(path)
            if args.png:
                fn(data, os.path.join(args.out, name + ".png"))
    with open(os.path.join(args.out, "sim.md"), "w") as f:
        f.write(report(data, args))
    print(f"plot.py: wrote {', '.join(args.svg + [os.path.join(args.out, 'sim.md')])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
