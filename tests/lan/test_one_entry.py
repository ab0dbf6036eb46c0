#!/usr/bin/env python3
"""lan-one-entry: one host, one entry.

h1: a multi-homed server (eth0 and eth1 on the LAN, distccd on 0.0.0.0)
    advertised twice: by stock `distccd --zeroconf` ("distcc@h1") and by
    distcc-mdnsd ("distcc@h1 #2", Avahi's name for the second advertiser).
h2: a multi-homed client (eth0 and eth1): it sees every record on both
    interfaces, and a record may resolve to either of h1's addresses.
h3: a stock-only server (`distccd --zeroconf`, no distcc-mdnsd): stays
    listed throughout (the rule hides a stock record only beside ours).

A: in 20 lines sampled on h2, h1 is listed once (one of its two addresses,
   never both), as our record (load, alive); the stock record is not in
   the reply at all. h3 is listed too.
B: h1's distcc-mdnsd is killed (SIGKILL: gossip stops; avahi-daemon
   withdraws the record of its vanished D-Bus client, the stock record
   stays): h1 leaves h2's line within the crash bound and stays out for 6 s.
C: h1's distcc-mdnsd starts again: h1 is back, once, as ours.
D: a clean stop (SIGTERM: gossip's LEAVE, then our record's goodbye) leaves
   the stock record, which lists h1 as a stock server: its distccd runs.
E: ours again, then the machine crashes (avahi-daemon, distcc-mdnsd and
   distccd SIGKILLed: no goodbye, both records stay stale in h2's mDNS
   cache): h1 leaves within the crash bound and stays out for 6 s.
"""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note, wait_until  # noqa: E402
from dmtest import figure  # noqa: E402


def h1_entries(obj, h1):
    """h1's hosts in the line and its server objects in the reply."""
    hosts = [h for h in dm.line_hosts(obj['line']) if h in h1.ips]
    servers = [s for s in obj['servers'] if s['host'] == f'{h1.hostname}.local'
               or s['address'] in h1.ips]
    return hosts, servers


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3, nics=[2, 2, 1]) as net:
        h1, h2, h3 = net.hosts
        assert len(h1.ips) == 2 and len(h2.ips) == 2, (h1.ips, h2.ips)
        h1.start_distccd(jobs=3, zeroconf=True, listen='0.0.0.0')
        h3.start_distccd(jobs=2, zeroconf=True)
        b = h2.browse()
        cd = dm.start_mdnsd(h2, bins)
        m1 = dm.start_mdnsd(h1, bins, '--cpus', 2, '--slots', 3)
        b.wait_for('distcc@h1', 10)
        b.wait_for('distcc@h1 #2', 10)

        # A: listed once, as ours, whichever address each record resolved to.
        def ours_listed():
            obj = dm.hosts_json(h2, bins)
            hosts, servers = h1_entries(obj, h1)
            ok = (len(hosts) == 1 and h3.ip in dm.line_hosts(obj['line']) and servers
                  and servers[0]['liveness'] == 'alive')
            return obj if ok else None
        obj = wait_until(ours_listed, 10, 0.05, what='h1 (ours, alive) and h3 in h2\'s line',
                         watch=(cd, m1))
        # Longer than lan-appear's 1.5 s: Avahi first probes "distcc@h1", which
        # the stock record holds, and renames ours "distcc@h1 #2".
        figure('one_entry.daemon_start_to_listed_once', time.monotonic() - m1.t_start, 's', 3.0)
        seen = set()
        for _ in range(20):
            obj = dm.hosts_json(h2, bins)
            hosts, servers = h1_entries(obj, h1)
            assert len(hosts) == 1, f'h1 listed {len(hosts)} times: {obj["line"]!r}'
            assert [s['stock'] for s in servers] == [False], \
                f'h1 must be one record, ours: {servers}'
            assert h3.ip in dm.line_hosts(obj['line']), obj['line']
            seen.update(servers[0]['addresses'])
            time.sleep(0.1)
        rows = h2.run(['avahi-browse', '-prt', '_distcc._tcp']).stdout
        mine = [r.split(';') for r in rows.splitlines()
                if r.startswith('=') and 'distcc\\064h1' in r]
        ifaces, protos = sorted({f[1] for f in mine}), sorted({f[2] for f in mine})
        note(f'h2 line {obj["line"]!r}; h1 record addresses seen {sorted(seen)}; '
             f'h1 resolved on h2\'s {ifaces} over {protos}')
        # The setup is what it claims: h1's records reach h2 on both of its
        # interfaces and over both protocols (Avahi publishes AAAA over IPv4).
        assert ifaces == ['eth0', 'eth1'] and protos == ['IPv4', 'IPv6'], rows
        figure('one_entry.h1_addresses_in_its_record', len(seen), '')

        # B: our daemon crashes; avahi-daemon withdraws its record (the D-Bus
        # client is gone), the stock one stays; h1 leaves the line with its gossip.
        t = time.monotonic()
        h1.kill(m1, signal.SIGKILL)
        crash = gone_for_good(h1, h2, h3, bins, cd, t, 'daemon_crash')
        assert b.get('distcc@h1'), f'mDNS must still list h1\'s stock record: {b.names()}'

        # C: back once as ours.
        m1 = dm.start_mdnsd(h1, bins, '--cpus', 2, '--slots', 3, name='distcc-mdnsd-2')
        obj = wait_until(ours_listed, 10, 0.05, what='h1 back in h2\'s line', watch=(cd, m1))
        figure('one_entry.restart_to_listed_once', time.monotonic() - m1.t_start, 's', 3.0)

        # D: a clean stop (gossip's LEAVE, then our record's goodbye) leaves the
        # stock record to list h1: its distccd still runs.
        t = time.monotonic()
        rc = h1.kill(m1, signal.SIGTERM)
        assert rc == 0, f'distcc-mdnsd exited {rc}'

        def stock_listed():
            obj = dm.hosts_json(h2, bins)
            hosts, servers = h1_entries(obj, h1)
            return obj if len(hosts) == 1 and [s['stock'] for s in servers] == [True] else None
        obj = wait_until(stock_listed, 10, 0.05, what='h1 listed by its stock record',
                         watch=(cd,))
        figure('one_entry.clean_stop_to_stock_record', time.monotonic() - t, 's', 2.0)
        note(f'after the clean stop: {obj["line"]!r}')

        # E: the machine crashes: no goodbye at all (avahi-daemon killed
        # first), both of h1's records stay in h2's mDNS cache, stale.
        m1 = dm.start_mdnsd(h1, bins, '--cpus', 2, '--slots', 3, name='distcc-mdnsd-3')
        wait_until(ours_listed, 10, 0.05, what='h1 back in h2\'s line', watch=(cd, m1))
        t = time.monotonic()
        h1.kill(h1.avahi, signal.SIGKILL)
        h1.kill(m1, signal.SIGKILL)
        h1.kill('distccd', signal.SIGKILL)
        gone_for_good(h1, h2, h3, bins, cd, t, 'machine_crash')
        assert b.get('distcc@h1') and b.get('distcc@h1 #2'), \
            f'mDNS must still list both of h1\'s stale records: {b.names()}'


def gone_for_good(h1, h2, h3, bins, cd, t, what):
    """Waits until h1 left h2's line (bound 5 s), then checks for 6 s that it
    stays out while the stock-only h3 stays in; returns the time it took."""
    def h1_gone():
        hosts, _ = h1_entries(dm.hosts_json(h2, bins), h1)
        return not hosts
    wait_until(h1_gone, 10, 0.05, what=f'h1 out of h2\'s line ({what})', watch=(cd,))
    crash = time.monotonic() - t
    figure(f'one_entry.{what}_to_gone_from_line', crash, 's', 5.0)
    assert crash <= 5.0, f'h1 still listed {crash:.2f}s after the crash ({what})'
    t_gone = time.monotonic()
    while time.monotonic() - t_gone < 6.0:     # bounded: 6 s of samples
        obj = dm.hosts_json(h2, bins)
        hosts, servers = h1_entries(obj, h1)
        assert not hosts, f'h1 back through its stock record ({what}): {obj["line"]!r} {servers}'
        assert h3.ip in dm.line_hosts(obj['line']), obj['line']
        time.sleep(0.2)
    return crash


if __name__ == '__main__':
    lan.run_test(main)
