"""The real-compiler workload: generated C units that take `gcc -O2` about
one to three seconds of one core each, and their measured compile cost.

A unit is N functions of loops, shifts, branches and a switch, each with its
own constants, so gcc's optimiser does real work on every one and no two
units are alike (no cache could help any system). It includes no header:
preprocessing costs next to nothing, so the clients' own slow quota is not
what the benchmark measures. Sizes come from a fixed seed, the same in
every run and every system.
"""

import os
import random
import resource
import subprocess
import time

# Seconds of one unthrottled core per function at -O2, measured on the
# project's machine (about 6 ms): only used to pick sizes, never as a result.
SECONDS_PER_FUNCTION = 0.006


def sizes(clients, units, median, seed):
    """Per client, the number of functions of each unit: the median cost
    times 0.7-1.5 (a little variety, a longer right side, as real units)."""
    rng = random.Random(seed)
    base = median / SECONDS_PER_FUNCTION
    return [[max(20, int(base * rng.uniform(0.7, 1.5))) for _ in range(units)] for _ in range(clients)]


def unit_source(tag, functions):
    out = [f'/* distcc-mdns real-compiler benchmark unit {tag}: {functions} functions */',
           'typedef unsigned long u64;']
    for i in range(functions):
        rot = i % 13 + 1
        out.append(f'''u64 f_{tag}_{i}(u64 *a, int n, u64 s)
{{
	u64 acc = {i * 7919 + 13}u;
	for (int k = 0; k < n; ++k) {{
		u64 x = a[k] ^ (s + {i}u);
		x = (x << {rot}) | (x >> {64 - rot});
		if (x & {1 << (i % 7)}u)
			acc += x * {i * 31 + 7}u;
		else
			acc ^= x + {i * 17 + 3}u;
		switch ((x + k) & 7) {{
		case 0: acc += {i}; break;
		case 1: acc -= k; break;
		case 2: acc *= 3; break;
		case 3: acc ^= acc >> 5; break;
		case 4: acc += a[(k + {i}) % n]; break;
		default: acc = ~acc;
		}}
		a[k] = acc;
	}}
	return acc;
}}''')
    return '\n'.join(out) + '\n'


def write_project(dirpath, tag, functions):
    """One directory: uNNN.c per unit and a Makefile that compiles them with
    $(CC) -O2 (every object is a target of `all`; no link step)."""
    os.makedirs(dirpath, exist_ok=True)
    names = []
    for i, n in enumerate(functions):
        name = f'u{i:03d}'
        with open(os.path.join(dirpath, f'{name}.c'), 'w') as f:
            f.write(unit_source(f'{tag}_{name}', n))
        names.append(name)
    objs = ' '.join(f'{n}.o' for n in names)
    with open(os.path.join(dirpath, 'Makefile'), 'w') as f:
        f.write(f'all: {objs}\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n'
                f'clean:\n\trm -f *.o\n.PHONY: all clean\n')
    return [os.path.join(dirpath, f'{n}.c') for n in names]


def clean(dirpath):
    for fn in os.listdir(dirpath):
        if fn.endswith('.o'):
            os.unlink(os.path.join(dirpath, fn))


def measure(sources, outdir, note=print):
    """Compiles every source once, alone and unthrottled, with gcc -O2 (as
    the builds do); returns {source: user+sys seconds of gcc and its
    children}. Sequential on purpose: a compile that shares the core with
    another of ours would be charged for waiting."""
    os.makedirs(outdir, exist_ok=True)
    cost = {}
    t0 = time.monotonic()
    for i, src in enumerate(sources):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(['gcc', '-O2', '-c', src, '-o', os.path.join(outdir, 'measure.o')],
                       check=True, stdin=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cost[src] = round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3)
        if (i + 1) % 20 == 0:
            note(f'measured {i + 1}/{len(sources)} units ({time.monotonic() - t0:.0f} s)')
    return cost
