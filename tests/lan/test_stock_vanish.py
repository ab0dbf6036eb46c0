#!/usr/bin/env python3
"""lan-stock-vanish: a stock-only server whose link is pulled leaves every line within 5 s.

h1 runs only a stock `distccd --zeroconf` (no distcc-mdnsd, so no gossip
says when it dies); h2 runs distccd and distcc-mdnsd (a gossip server, the
control). c1 and c2 run distcc-mdnsd as clients; c2 also keeps a
--hosts-file. Stock distcc keeps such a server for 136-148 s after its link
goes; the clients' connect probe (src/daemon/stock_probe.*) drops it:
  - while h1 is up it stays in every line (no probe marks it down);
  - h1's cable pulled: gone from c1's and c2's answers and c2's hosts file
    within 5 s (figures), h2 stays in all of them;
  - the cable back: h1 in every line again within 5 s.
c3 runs distcc-mdnsd --probe-stock=no (the control): it keeps h1 while the
cable is out, and its "stats" has no "stock_probe"; c1's counts the
probes started, and the failed or timed-out ones while the cable was out.
Then `evil` announces 300 stock services at its own address, one closed
port each (more than a client follows): each client's SYNs to evil,
counted on evil's link for 14 s (over 256 of them), stay within the
probe's bounds: 32 a second over the count (and in any 0.9 s but for a
burst the veths deliver late on a loaded machine), fewer than 256 ports
(the table holds h1 and the first 255 of evil's); the daemons live.
"""

import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
import attack as at  # noqa: E402
from lan import note, wait_until  # noqa: E402
from dmtest import figure  # noqa: E402

LEAVE_TARGET = 5.0      # s, issue 20 item 4
PER_SECOND = 32         # StockProbeConfig::perSecond
IN_FLIGHT = 16          # StockProbeConfig::inFlight
# The daemon's ticks are 100 ms apart: starts a second apart by its clock
# arrive 0.999-1.001 s apart at evil, so a window of exactly 1 s would
# count a second's starts twice at its edges.
WINDOW = 0.9
MAX_TARGETS = 256       # StockProbeConfig::maxTargets
HOSTILE = 300           # stock records evil announces
COUNT_FOR = 10.0        # s evil counts SYNs (and 4 more)

# Runs on evil: counts TCP SYNs (without ACK) arriving on eth0, per source
# address, for argv[1] seconds; prints {source: [[arrival time, port]]}.
SYN_COUNTER = r'''
import json, socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800))
s.bind(("eth0", 0))
s.settimeout(0.2)
# The kernel's arrival time of each frame: a busy counter reads late.
# (Linux's SO_TIMESTAMPNS, 35; this Python names no constant for it.)
TS = getattr(socket, "SO_TIMESTAMPNS", 35)
s.setsockopt(socket.SOL_SOCKET, TS, 1)
end = time.monotonic() + float(sys.argv[1])
syns = {}
print("counting", flush=True)
while time.monotonic() < end:
    try:
        frame, anc, _, _ = s.recvmsg(2048, 64)
    except socket.timeout:
        continue
    ip = frame[14:]
    if len(ip) < 20 or ip[9] != 6:
        continue
    tcp = ip[(ip[0] & 15) * 4:]
    if len(tcp) >= 14 and tcp[13] & 0x02 and not tcp[13] & 0x10:
        at = next((struct.unpack("qq", d[:16]) for level, kind, d in anc
                   if level == socket.SOL_SOCKET and kind == TS), None)
        t = at[0] + at[1] / 1e9 if at else time.time()
        port = int.from_bytes(tcp[2:4], "big")
        syns.setdefault(socket.inet_ntoa(ip[12:16]), []).append([t, port])
print(json.dumps(syns), flush=True)
'''


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(6) as net:
        stock, ours, c1, c2, evil, c3 = net.hosts
        stock.start_distccd(jobs=3, zeroconf=True)
        ours.start_distccd(jobs=3)
        d_ours = dm.start_mdnsd(ours, bins, '--cpus', 2, '--slots', 3)
        hosts_file = os.path.join(c2.distcc_dir, 'hosts')
        d1 = dm.start_mdnsd(c1, bins, advertise='no')
        d2 = dm.start_mdnsd(c2, bins, f'--hosts-file={hosts_file}', advertise='no')
        r = c3.run([bins.mdnsd, '--probe-stock=sometimes'], check=False, timeout=10)
        assert r.returncode == 2 and '--probe-stock' in r.stderr, \
            f'bad --probe-stock accepted: {r.returncode} {r.stderr!r}'
        d3 = dm.start_mdnsd(c3, bins, '--probe-stock=no', advertise='no')
        daemons = (d_ours, d1, d2, d3)

        def file_line():
            try:
                with open(hosts_file) as f:
                    return f.read().strip()
            except FileNotFoundError:
                return ''

        # Looks that claim nothing ("reserve": false): a claiming poll of
        # c1's would cut c2's file line to a fair share of the farm.
        lines = {
            'c1 socket': lambda: dm.hosts_query(c1)['line'],
            'c2 socket': lambda: dm.hosts_query(c2)['line'],
            'c2 hosts file': file_line,
        }

        def listed():
            """{which: set of hosts in its line}."""
            for d in daemons:
                d.check_alive()
            return {k: set(dm.line_hosts(f())) for k, f in lines.items()}

        def control():
            return set(dm.line_hosts(dm.hosts_query(c3)['line']))

        def probe_stats(host):
            return dm.query(host, {'op': 'stats'})['stock_probe']

        wait_until(lambda: all({stock.ip, ours.ip} <= v for v in listed().values())
                   and {stock.ip, ours.ip} <= control(), 15, 0.1,
                   what='both servers in every line', watch=daemons)
        assert probe_stats(c3) is None, f'c3 runs --probe-stock=no: {probe_stats(c3)}'
        # c1 probes h1 about once a second while it is up.
        wait_until(lambda: probe_stats(c1)['connected'] >= 1, 5, 0.1,
                   what="c1's first probe of h1 connected", watch=daemons)
        before = probe_stats(c1)
        note(f'c1 stock_probe before the pull: {before}')
        assert before['tracked'] == 1 and before['started'] >= 1, before
        note(f'lines: {dict((k, f()) for k, f in lines.items())}')

        # Up: the probe keeps it (3 s at 10 Hz, every line).
        polls = 0
        t_end = time.monotonic() + 3
        while time.monotonic() < t_end and polls < 60:
            now = listed()
            assert all(stock.ip in v for v in now.values()), f'{stock.ip} left a line while up: {now}'
            polls += 1
            time.sleep(0.1)     # the sampling rate of the check
        note(f'{stock.ip} in every line for {polls} polls while up')

        # Cable pulled: every line lets go of the stock server.
        t0 = time.monotonic()
        stock.link_down()
        gone = {}
        t_end = t0 + 15
        while time.monotonic() < t_end and len(gone) < len(lines):
            for k, v in listed().items():
                if k not in gone and stock.ip not in v:
                    gone[k] = time.monotonic() - t0
                    assert ours.ip in v, f'{k}: the gossip server left too: {v}'
            time.sleep(0.05)
        for k in lines:
            figure(f'stock_vanish.link_pulled_to_gone.{k.replace(" ", "_")}',
                   gone.get(k, float('inf')), 's', LEAVE_TARGET)
        assert len(gone) == len(lines), f'still listed after 15 s: {set(lines) - set(gone)}'
        worst = max(gone.values())
        figure('stock_vanish.link_pulled_to_gone_from_every_line', worst, 's', LEAVE_TARGET)
        assert worst <= LEAVE_TARGET, f'{stock.ip} left every line only after {worst:.2f}s: {gone}'
        now = listed()
        assert all(ours.ip in v for v in now.values()), f'the gossip server left a line: {now}'
        for d in (d1, d2):
            assert d.wait_log(rf'stock server {stock.ip}:3632 is unreachable', 2), \
                f'{d.host.name}: no log of the probe marking {stock.ip} down'
        # Without the probe, nothing says the stock server went.
        assert stock.ip in control(), f'c3 (--probe-stock=no) dropped {stock.ip}: {control()}'
        # The control has made its point: the flood below counts c1's and
        # c2's SYNs on a machine with one daemon fewer resolving evil's
        # 300 records.
        d3.stop()
        daemons = (d_ours, d1, d2)
        after = probe_stats(c1)
        note(f'c1 stock_probe after the pull: {after}')
        assert after['failed'] + after['timed_out'] > before['failed'] + before['timed_out'], after
        assert after['started'] > before['started'], after

        # Cable back: listed again.
        t1 = time.monotonic()
        stock.link_up()
        back = {}
        t_end = t1 + 15
        while time.monotonic() < t_end and len(back) < len(lines):
            for k, v in listed().items():
                if k not in back and stock.ip in v:
                    back[k] = time.monotonic() - t1
            time.sleep(0.05)
        for k in lines:
            figure(f'stock_vanish.link_back_to_listed.{k.replace(" ", "_")}',
                   back.get(k, float('inf')), 's', LEAVE_TARGET)
        assert len(back) == len(lines), f'not listed again after 15 s: {set(lines) - set(back)}'
        assert max(back.values()) <= LEAVE_TARGET, f'listed again only after {back}'

        # A hostile host: 300 stock records at its own address, each on its
        # own closed port (every probe is refused at once, so each costs
        # the client one SYN).
        counter = evil.spawn(['python3', '-c', SYN_COUNTER, str(COUNT_FOR + 4)], name='syn-counter')
        assert counter.wait_log('counting', 10), 'the SYN counter did not start'
        items = ['txtvers=1', 'cpus=2', 'jobs=4', 'distcc=3.4', 'gnuhost=x86_64-pc-linux-gnu',
                 'cc_version=12', 'cc_machine=x86_64-linux-gnu']
        payloads = [at.announce(f'distcc@evil{i}', f'evil{i}', evil.ip, 20000 + i, items)
                    for i in range(HOSTILE)]
        t2 = time.monotonic()
        for k in range(0, HOSTILE, 30):
            sender = evil.spawn(['python3', os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                         'attack.py'),
                                 '--send', '224.0.0.251', '5353', '5353', '0', '1'] +
                                [p.hex() for p in payloads[k:k + 30]], name=f'announce{k}')
            assert sender.wait(10) == 0, f'announcer exited with {sender.returncode}'
        syns = json.loads(wait_until(
            lambda: next((x for x in reversed(counter.log().splitlines()) if x.startswith('{')),
                         None), COUNT_FOR + 10, 0.2, what='SYN counts from evil'))
        figure('stock_vanish.hostile_announce_to_counts', time.monotonic() - t2, 's')
        for client in (c1, c2):
            seen = sorted(syns.get(client.ip, []))
            times = [t for t, _ in seen]
            ports = {p for _, p in seen}
            most, j, densest = 0, 0, []
            for i in range(len(times)):
                while times[i] - times[j] >= WINDOW:
                    j += 1
                if i - j + 1 > most:
                    most, densest = i - j + 1, seen[j:i + 1]
            note(f'{client.name}: densest second: ' +
                 ' '.join(f'{t - densest[0][0]:.3f}:{p}' for t, p in densest))
            figure(f'stock_vanish.hostile_syns_from_{client.name}', len(times), 'SYNs')
            figure(f'stock_vanish.hostile_most_syns_in_0.9s_from_{client.name}', most, 'SYNs',
                   PER_SECOND)
            figure(f'stock_vanish.hostile_ports_probed_by_{client.name}', len(ports), 'servers',
                   MAX_TARGETS)
            # More SYNs than the table holds: an unbounded table would
            # have tried (nearly) every one of evil's 300 ports.
            assert len(times) > MAX_TARGETS, f'{client.name}: only {len(times)} SYNs to evil'
            # h1 takes one of the client's places: the rest stay untried.
            assert len(ports) < MAX_TARGETS, f'{client.name} probed {len(ports)} of evil\'s ports'
            # The daemon starts at most 32 connects in any second of its
            # clock (the adapter test checks that exactly); on a loaded
            # machine the veths may deliver a burst late, so on the wire
            # one burst of in-flight connects may join a second's 32. Over
            # the whole count the rate holds: n <= 32 x (span + 1).
            assert most <= PER_SECOND + IN_FLIGHT, f'{client.name}: {most} SYNs in one second'
            span = times[-1] - times[0]
            figure(f'stock_vanish.hostile_syns_per_second_from_{client.name}',
                   len(times) / (span + 1), 'SYN/s', PER_SECOND)
            assert len(times) <= PER_SECOND * (span + 1), \
                f'{client.name}: {len(times)} SYNs in {span:.1f}s'
        # What the lines list now is the planner's business: evil's records
        # beyond the table are never probed, and a line holds so many.
        note(f'after the flood: {listed()}')
        flooded = probe_stats(c1)
        note(f'c1 stock_probe after the flood: {flooded}')
        assert flooded['tracked'] <= MAX_TARGETS and flooded['untracked'] > 0, flooded
        for d in daemons:
            d.check_alive()


if __name__ == '__main__':
    lan.run_test(main)
