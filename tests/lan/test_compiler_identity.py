#!/usr/bin/env python3
"""lan-compiler-identity: two servers whose gcc differs only in its binary.

h1 and h2 run distccd and distcc-mdnsd with the machine's gcc, but on h2 (in
its own mount namespace) cc1 is a patched copy: the same file with a few
bytes appended, so `gcc -dumpversion` and -dumpmachine agree everywhere and
only the identity (a hash of the driver, cc1 and cc1plus) tells them apart.
h3 is the client, with its own daemon:
- by default (--match=version) both servers are listed; h2's identity
  differs and --status warns of it;
- with --match=exact h2 is left out, and --status gives the reason with both
  identities; h1, the same build, stays listed; a compile with that line
  runs on h1;
- a bad --match value is a clear error.
"""

import os
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note, wait_until  # noqa: E402


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3) as net:
        same, patched, cli = net.hosts
        cc1 = cli.run(['gcc', '-print-prog-name=cc1']).stdout.strip()
        assert cc1.startswith('/') and os.path.isfile(cc1), f'gcc has no cc1 file: {cc1!r}'
        copy = os.path.join(patched.dir, 'cc1-patched')
        shutil.copy2(cc1, copy)
        with open(copy, 'ab') as f:
            f.write(b'\0distcc-mdns test: a locally patched cc1\0')
        # Over the real one in h2's mount namespace only (the LAN's hosts
        # keep their mounts private).
        patched.run(['mount', '--bind', copy, cc1])
        assert patched.run(['cmp', '-s', cc1, copy], check=False).returncode == 0
        assert same.run(['cmp', '-s', cc1, copy], check=False).returncode != 0, \
            'the patched cc1 leaked to h1'
        # Still a working gcc of the same version, as distccd will run it.
        versions = {h.name: h.run(['gcc', '-dumpversion']).stdout.strip() for h in net.hosts}
        assert len(set(versions.values())) == 1, versions

        procs = []
        for h in (same, patched):
            h.start_distccd(jobs=2)
            procs.append(dm.start_mdnsd(h, bins, '--cpus', 2, '--slots', 2))
        procs.append(dm.start_mdnsd(cli, bins))

        def both_listed():
            obj = dm.hosts_json(cli, bins, '--local-slots', 1)
            hosts = dm.line_hosts(obj['line'])
            return obj if same.ip in hosts and patched.ip in hosts else None
        obj = wait_until(both_listed, 15, 0.1, what='h1 and h2 in the default line on h3',
                         watch=tuple(procs))
        assert obj['match'] == 'version', obj
        s1, s2 = dm.find_server(obj, same.ip), dm.find_server(obj, patched.ip)
        note(f'default: line {obj["line"]!r}\nh1 {s1["identity"]}\nh2 {s2["identity"]}')
        assert s1['identity']['match'] == 'same', s1
        assert s2['identity']['match'] == 'differs', s2
        here, there = s2['identity']['here'], s2['identity']['there']
        assert here == s1['identity']['there'] and here != there, (s1, s2)
        assert s2['excluded'] is None, s2
        status = cli.run([bins.hosts, '--status', '--local-slots', 1]).stdout
        note(status)
        row = next(line for line in status.splitlines() if line.startswith('distcc@h2'))
        assert 'warning: compiler identity differs: ' in row and f'({here}) here' in row \
            and f'({there}) there' in row, row
        assert 'warning' not in next(line for line in status.splitlines()
                                     if line.startswith('distcc@h1')), status

        # Exact: h2 is left out with the reason, h1 stays.
        obj = dm.hosts_json(cli, bins, '--match=exact', '--local-slots', 1)
        note(f'exact: line {obj["line"]!r}')
        assert obj['match'] == 'exact', obj
        hosts = dm.line_hosts(obj['line'])
        assert same.ip in hosts and patched.ip not in hosts, obj['line']
        s2 = next(s for s in obj['servers'] if s['name'] == 'distcc@h2')
        version = versions[cli.name]
        reason = (f'compiler identity differs: {s2["identity"]["machine"]} {version} ({here}) here, '
                  f'{version} ({there}) there')
        assert s2['excluded'] == reason, (s2, reason)
        status = cli.run([bins.hosts, '--status', '--match=exact', '--local-slots', 1]).stdout
        note(status)
        row = next(line for line in status.splitlines() if line.startswith('distcc@h2'))
        assert 'left out: ' + reason in row, row

        # The exact line compiles on h1 alone.
        name, text = dm.proof_source('identity')
        cli.write(name, text)
        line = dm.hosts_line(cli, bins, '--match=exact', '--local-slots', 1)
        r = cli.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], line)
        assert f'compiled on {same.ip}' in r.stderr, r.stderr[-2000:]

        # A bad value is refused, saying what is allowed.
        r = cli.run([bins.hosts, '--match=fuzzy'], check=False)
        assert r.returncode != 0 and 'exact or version' in r.stderr, (r.returncode, r.stderr)
        for p in procs:
            p.check_alive()


if __name__ == '__main__':
    lan.run_test(main)
