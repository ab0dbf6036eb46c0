#!/usr/bin/env python3
"""lan-appear: a server (distccd + distcc-mdnsd) appears in another host's line.

h1 runs distccd (--jobs 4) and distcc-mdnsd --cpus 2 --slots 4; h2 runs
distcc-mdnsd as a resolver only (no distccd, --advertise=auto). Measures the
time from starting h1's daemon to h1 being in h2's `distcc-mdns-hosts` line
(target 1.5 s), checks the JSON record, the stock-readable TXT and subtype,
-j, --status, and the daemon-less browse fallback.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note  # noqa: E402
from dmtest import figure  # noqa: E402


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        cli_d = dm.start_mdnsd(cli, bins)
        browse = cli.browse()
        subtype = dm.expected_subtype(srv)
        subbrowse = cli.browse(subtype)
        srv.start_distccd(jobs=4)

        d = dm.start_mdnsd(srv, bins, '--cpus', 2, '--slots', 4, wait=False)
        obj = dm.wait_listed(cli, bins, srv.ip, 10, watch=(d, cli_d))
        figure('appear.daemon_start_to_client_line', time.monotonic() - d.t_start, 's', 1.5)
        note(f'h2 --json: {obj}')
        assert obj['source'] == 'daemon', f'h2 runs a daemon, yet source is {obj["source"]}'
        s = dm.find_server(obj, srv.ip)
        assert s, f'{srv.ip} in the line but not in servers: {obj}'
        assert s['name'] == 'distcc@h1', s
        assert s['port'] == 3632 and s['cpus'] == 2 and s['slots'] == 4, s
        assert s['state'] == 'up' and s['stock'] is False and s['id'], s
        assert 1 <= s['limit'] <= 4, s
        assert cli.ip not in dm.line_hosts(obj['line']), f'h2 lists itself: {obj["line"]}'

        rec = browse.wait_for('distcc@h1', 5)
        figure('appear.daemon_start_to_stock_browse', rec['t'] - d.t_start, 's', 1.5)
        txt = rec['txt']
        missing = [k for k in dm.STOCK_TXT_KEYS + dm.OUR_TXT_KEYS if k not in txt]
        assert not missing, f'TXT lacks {missing}: {rec["txt_raw"]}'
        assert txt['txtvers'] == '1' and txt['jobs'] == '4' and txt['cpus'] == '2', txt
        assert txt['cc_machine'] == srv.run(['gcc', '-dumpmachine']).stdout.strip(), txt
        long_keys = [k for k in (x.partition('=')[0] for x in rec['txt_raw'])
                     if len(k) > 9 and k not in dm.STOCK_TXT_KEYS]
        assert not long_keys, f'TXT keys over 9 characters: {long_keys}'
        size = dm.txt_size(rec['txt_raw'])
        figure('appear.txt_bytes', size, 'B', 400)
        assert size <= 400, f'TXT record of {size} bytes'
        assert rec['address'] == srv.ip and rec['port'] == 3632, rec
        note(f'TXT: {" ".join(rec["txt_raw"])}')
        subbrowse.wait_for('distcc@h1', 5)
        note(f'also published under the stock subtype {subtype}')
        assert browse.get('distcc@h2') is None, 'h2 advertises without a distccd'

        line = dm.hosts_line(cli, bins)
        assert srv.ip in dm.line_hosts(line), line
        jobs = cli.run([bins.hosts, '-j']).stdout.strip()
        assert jobs.isdigit() and int(jobs) >= 1, f'-j printed {jobs!r}'
        status = cli.run([bins.hosts, '--status']).stdout
        assert srv.ip in status or 'distcc@h1' in status, status
        note(f'h2 line: {line!r}, -j {jobs}\n{status}')

        # No daemon socket: the tool browses by itself for at most --wait.
        obj = dm.hosts_json(cli, bins, '--no-daemon')
        assert obj['source'] == 'browse', obj
        assert dm.find_server(obj, srv.ip), f'browse mode missed {srv.ip}: {obj}'
        figure('appear.browse_mode_runtime', obj['elapsed'], 's', 2.0)
        assert obj['elapsed'] < 5, 'browse mode ignores its 1.5 s default --wait'
        assert cli_d.alive() and d.alive()


if __name__ == '__main__':
    lan.run_test(main)
