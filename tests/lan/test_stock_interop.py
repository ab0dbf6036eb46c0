#!/usr/bin/env python3
"""lan-stock-interop: stock distcc zeroconf and distcc-mdns understand each other.

A: h1 runs distccd WITHOUT --zeroconf plus distcc-mdnsd. h2 runs no
   distcc-mdnsd: a stock `distcc` with DISTCC_HOSTS=+zeroconf finds h1 (it
   browses the compiler subtype) and compiles there (h1's distccd log).
B: h3 runs a stock `distccd --zeroconf`; it appears in our line on h2 (now
   running distcc-mdnsd) as a stock server, next to h1.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note, wait_until  # noqa: E402
from dmtest import figure  # noqa: E402


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3) as net:
        ours, cli, stock = net.hosts
        d1 = ours.start_distccd(jobs=3)
        md = dm.start_mdnsd(ours, bins, '--cpus', 2, '--slots', 3)

        # A: a stock +zeroconf client compiles on our server.
        name, text = dm.proof_source()
        cli.write(name, text)
        attempts = []

        def compile_zc():
            md.check_alive()
            r = cli.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], '+zeroconf',
                           check=False, timeout=60)
            attempts.append(r.returncode)
            return r if r.returncode == 0 else None
        r = wait_until(compile_zc, 30, 0.2, what='stock +zeroconf compile on h2')
        job = dm.wait_job(d1, cli.ip, name)
        figure('stock_interop.daemon_start_to_zeroconf_compile_done',
               time.monotonic() - md.t_start, 's', 3.0)
        zc = open(os.path.join(cli.distcc_dir, 'zeroconf', 'hosts')).read()
        note(f'attempts {attempts}; h2 zeroconf/hosts {zc.strip()!r}; h1 distccd: {job}')
        assert f'{ours.ip}:3632/3' in zc.split(), f'stock client wrote {zc!r}'
        assert f'compiled on {ours.ip}' in r.stderr, r.stderr[-2000:]

        # B: a stock zeroconf server shows up in our line.
        cli_d = dm.start_mdnsd(cli, bins)
        t0 = time.monotonic()
        stock.start_distccd(jobs=5, zeroconf=True)
        obj = dm.wait_listed(cli, bins, stock.ip, 10, watch=(cli_d, md))
        figure('stock_interop.stock_distccd_start_to_listed', time.monotonic() - t0, 's', 2.0)
        obj = dm.wait_listed(cli, bins, ours.ip, 10, watch=(cli_d, md))
        s3, s1 = dm.find_server(obj, stock.ip), dm.find_server(obj, ours.ip)
        note(f'stock server: {s3}\nour server:   {s1}\nline: {obj["line"]!r}')
        assert s3 and s3['stock'] is True and s3['name'] == 'distcc@h3', s3
        assert s3['slots'] in (None, 5) and 1 <= s3['limit'] <= 5, s3
        assert s3['cpus'] in (None, 2) or s3['cpus'] >= 1, s3
        assert s1 and s1['stock'] is False, s1
        obj = dm.hosts_json(cli, bins, '--no-daemon')
        assert dm.find_server(obj, stock.ip) and dm.find_server(obj, ours.ip), \
            f'browse mode: {obj}'

        # C: migration: the stock server also starts distcc-mdnsd. Its distccd
        # is now advertised twice (stock and ours); the line lists it once
        # (check_reply refuses duplicates), and ours must win.
        t0 = time.monotonic()
        md3 = dm.start_mdnsd(stock, bins, '--cpus', 2, '--slots', 5)

        def ours_too():
            obj = dm.hosts_json(cli, bins)
            mine = [s for s in obj['servers'] if s['address'] == stock.ip]
            return obj if any(not s['stock'] for s in mine) else None
        obj = wait_until(ours_too, 10, 0.05, what=f'our record of {stock.ip} on h2',
                         watch=(cli_d, md, md3))
        figure('stock_interop.mdnsd_beside_stock_zeroconf_to_listed',
               time.monotonic() - t0, 's', 2.0)
        both = [s for s in obj['servers'] if s['address'] == stock.ip]
        note(f'{stock.ip} advertised by both: {both}\nline: {obj["line"]!r}')
        assert dm.line_hosts(obj['line']).count(stock.ip) == 1, obj['line']


if __name__ == '__main__':
    lan.run_test(main)
