#!/usr/bin/env python3
"""lan-wide-area: --domain finds servers on another subnet through unicast DNS-SD.

Two subnets joined by a router that forwards IPv4 and reflects no mDNS
(lan_routed). Subnet A has two servers (distccd and distcc-mdnsd); the
router runs a real DNS server (dnsmasq) serving the records
tools/dns-sd-records prints from A's mDNS. Subnet B has a client whose
avahi-daemon has wide-area browsing on and the router as its nameserver.

Asserts: without --domain the client lists neither server (mDNS stops at
the link); with --domain it lists both (and warns of a second domain the
nameserver refuses), gossip hears them alive across the
router with samples under 2.5 s old throughout (the same liveness rules as
on the link), distcc compiles on one of
them through the client's line, and a server whose daemon is SIGKILLed
leaves the line within 5 s although its DNS records stay. A bad --domain is
refused with a clear message. The helper's zone-file output, read by
dnspython, holds the same records. A server restarted under the records made
before (their TXT names its previous run) is listed again.
distcc-mdns-hosts --no-daemon --domain lists both, and neither without it. Prints the time
from the daemon's start to both servers listed.
"""

import json
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import lan_routed  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402

DOMAIN = 'farm.test'
HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tools',
                      'dns-sd-records')
LISTED_BOUND = 5.0      # daemon start -> both servers of A in B's line
CRASH_BOUND = 5.0       # as on the link (lan-gossip-liveness, lan-one-entry)
# A restarted server on another subnet does not know its clients there, and
# no new record tells them: it returns when a client's gossip next asks it
# (every second for a domain peer heard within the last minute; after that
# with a doubling backoff, src/core/gossip.cpp). On the link its new mDNS
# record brings it within a second.
RESTART_BOUND = 20.0


def records_of(host, servers):
    """tools/dns-sd-records on host once it shows every server with its
    full TXT (the compilers come a moment after the first publication) and
    both of its services; the dnsmasq text."""
    last = []

    def complete(text, s):
        inst = f'distcc@{s.hostname}._distcc._tcp.{DOMAIN}'
        lines = text.splitlines()
        return (f'host-record={s.hostname}.{DOMAIN},{s.ip},120' in lines
                and f'ptr-record=_distcc._tcp.{DOMAIN},{inst}' in lines
                and any(ln.startswith(f'txt-record={inst},') and '"ccid=' in ln for ln in lines)
                and f'srv-host=distcc-mdns@{s.hostname}._distcc-mdns._udp.{DOMAIN},'
                    f'{s.hostname}.{DOMAIN},3632' in lines)

    def look():
        r = host.run(['/usr/bin/python3', HELPER, f'--domain={DOMAIN}'], check=False, timeout=30)
        last[:] = [r.stdout + r.stderr]
        return r.stdout if r.returncode == 0 and all(complete(r.stdout, s) for s in servers) \
            else None
    try:
        return lan.wait_until(look, 30, 0.5, what=f'{host.name}: dns-sd-records showing every server')
    except lan.Timeout:
        lan.note(f'dns-sd-records printed last:\n{"".join(last)}')
        raise


def txt_of(host, name, domain=None):
    """The TXT strings of _distcc._tcp instance `name` as avahi-browse on
    host resolves it (in `domain`, or on the link), as a set."""
    argv = ['avahi-browse', '-p', '-r', '-t'] + (['-d', domain] if domain else []) + ['_distcc._tcp']
    r = host.run(argv, timeout=30)
    for line in r.stdout.splitlines():
        f = line.split(';')
        if len(f) >= 10 and f[0] == '=' and lan.Browse.unescape(f[3]) == name:
            return {lan.Browse.unescape(x) for x in
                    re.findall(r'"((?:[^"\\]|\\.)*)"', ';'.join(f[9:]))}
    return None


# Reads the zone-file output with dnspython (Debian's python3-dnspython, for
# /usr/bin/python3), an independent parser: prints, as JSON, each name's
# SRV (port, target), TXT strings and A addresses.
ZONE_READER = r"""
import json, sys
import dns.rdatatype as t, dns.zone
def text(name):  # the labels as they are on the wire, not escaped again
    return '.'.join(x.decode() for x in name.labels if x)
z = dns.zone.from_text(sys.stdin.read(), relativize=False, check_origin=False)
out = {}
for name, node in z.nodes.items():
    e = out.setdefault(text(name), {})
    for rds in node.rdatasets:
        for rd in rds:
            if rds.rdtype == t.SRV:
                e['srv'] = [rd.port, text(rd.target)]
            elif rds.rdtype == t.TXT:
                e['txt'] = sorted(x.decode() for x in rd.strings)
            elif rds.rdtype == t.A:
                e.setdefault('a', []).append(rd.address)
            elif rds.rdtype == t.PTR:
                e.setdefault('ptr', []).append(text(rd.target))
print(json.dumps(out))
"""


def check_zone(host, servers, txts):
    """The --format=zone output, read by dnspython, holds for each server
    the PTR, SRV, A and TXT (every string mDNS publishes, in `txts`)."""
    r = host.run(['/usr/bin/python3', '-c', 'import dns.zone'], check=False)
    if r.returncode != 0:
        lan.note('zone format not checked: /usr/bin/python3 has no dnspython '
                 '(apt-get install python3-dnspython)')
        return
    zone = host.run(['/usr/bin/python3', HELPER, f'--domain={DOMAIN}', '--format=zone'],
                    timeout=30).stdout
    got = json.loads(host.run(['/usr/bin/python3', '-c', ZONE_READER], input=zone).stdout)
    ptrs = got.get(f'_distcc._tcp.{DOMAIN}', {}).get('ptr', [])
    for s in servers:
        inst = f'distcc@{s.hostname}._distcc._tcp.{DOMAIN}'
        assert inst in ptrs, f'{inst} not in the zone\'s PTR records {ptrs}'
        e = got.get(inst, {})
        assert e.get('srv') == [3632, f'{s.hostname}.{DOMAIN}'], f'{inst}: {e}'
        assert set(e.get('txt', [])) == txts[s], f'{inst}: TXT {e.get("txt")} != {sorted(txts[s])}'
        assert got.get(f'{s.hostname}.{DOMAIN}', {}).get('a') == [s.ip], f'{s.name}: {got}'
    lan.note(f'zone format read by dnspython: {len(got)} names, every server\'s records')


def main(argv):
    lan.check_environment()
    lan_routed.check_dns_tools()
    bins = dm.Binaries(argv)
    with lan_routed.Routed(2, 1, avahi=False) as net:
        a1, a2 = net.a.hosts[:2]
        b1 = net.b.hosts[0]
        net.a.start_avahi([a1, a2])
        # The client's resolver is the router; wide-area browsing is on.
        lan_routed.set_resolv_conf(b1, [net.router_b])
        b1.start_avahi(conf={'wide-area': {'enable-wide-area': 'yes'}})

        # Refused at once, before anything starts.
        for bad in ('local', 'a..b', 'farm test'):
            r = b1.run([bins.mdnsd, f'--domain={bad}'], check=False, timeout=10)
            assert r.returncode == 2 and '--domain' in r.stderr, \
                f'bad --domain={bad!r} accepted: {r.returncode} {r.stderr!r}'
        r = b1.run([bins.mdnsd] + [f'--domain=d{i}.test' for i in range(5)], check=False, timeout=10)
        assert r.returncode == 2 and 'at most 4' in r.stderr, f'a fifth --domain accepted: {r.stderr!r}'

        distccd, daemons = {}, {}
        for s in (a1, a2):
            distccd[s] = s.start_distccd(jobs=3, extra=['--allow', str(net.b.subnet)])
            daemons[s] = dm.start_mdnsd(s, bins, '--advertise=yes', timeout=30)
        records = records_of(a1, [a1, a2])
        dnsmasq = lan_routed.start_dnsmasq(net.router, records, [net.router.ip, net.router_b])
        lan.note('records served:\n' + records)
        # What DNS serves is what the server publishes: every TXT string.
        txts = {}
        for s in (a1, a2):
            name = f'distcc@{s.hostname}'
            txts[s] = txt_of(a1, name)
            wide = lan.wait_until(lambda: txt_of(b1, name, DOMAIN), 10, 0.5,
                                  what=f'{name} in {DOMAIN} by avahi-browse on b1')
            assert wide == txts[s], f'{name}: DNS TXT {sorted(wide)} != mDNS TXT {sorted(txts[s])}'
        # The zone-file output says the same.
        check_zone(a1, (a1, a2), txts)

        # The control: mDNS alone does not cross the router.
        d_cli = dm.start_mdnsd(b1, bins, timeout=30)

        def unseen():
            line = dm.hosts_line(b1, bins)
            assert a1.ip not in line and a2.ip not in line, f'seen without --domain: {line!r}'
        n = dm.observe(3.0, unseen, 0.25)
        lan.note(f'control: {n} lines in 3 s without --domain name no server of {net.a.subnet}')
        dm.stop_mdnsd(d_cli)

        # With --domain: both servers, from DNS, alive by gossip.
        t0 = time.monotonic()
        d_cli = dm.start_mdnsd(b1, bins, f'--domain={DOMAIN.upper()}.', '--domain=empty.test',
                               timeout=30)
        watch = [d_cli, dnsmasq]
        for s in (a1, a2):
            dm.wait_listed(b1, bins, s.ip, 15, watch=watch)
        listed = time.monotonic() - t0
        figure('wide_area.start_to_listed', listed, 's', LISTED_BOUND)
        assert listed <= LISTED_BOUND, f'A\'s servers listed after {listed:.2f}s'

        def both_alive():
            obj = dm.hosts_json(b1, bins)
            found = [dm.find_server(obj, s.ip) for s in (a1, a2)]
            return obj if all(x and x['liveness'] == 'alive' and x['slots'] == 3 for x in found) \
                else None
        obj = lan.wait_until(both_alive, 5, 0.1, what='both servers alive by gossip on b1',
                             watch=watch)
        for s in (a1, a2):
            e = dm.find_server(obj, s.ip)
            lan.note(f'b1 lists {e["name"]} at {e["address"]}: {e["liveness"]}, '
                     f'sample age {e["age_ms"]} ms')
        # A domain the nameserver refuses is named in a warning (and tried
        # again later); the one it serves is not.
        d_cli.wait_log(r'browsing _distcc._tcp in empty\.test failed: .*trying again', 10)
        assert f' in {DOMAIN} failed' not in d_cli.log(), d_cli.tail(40)

        # Samples as fresh as on the link: a server across the router is
        # asked for its news every second, as a --peer is, so it is never
        # suspected while it runs.
        ages = []

        def fresh():
            obj = dm.hosts_json(b1, bins)
            for s in (a1, a2):
                e = dm.find_server(obj, s.ip)
                assert e and e['liveness'] == 'alive', f'{s.name} not alive on b1: {e}'
                ages.append(e['age_ms'])
        dm.observe(3.0, fresh, 0.25)
        figure('wide_area.sample_age_max', max(ages) / 1000, 's', 2.0)
        assert max(ages) <= 2500, f'samples from across the router up to {max(ages)} ms old'
        stats = dm.query(b1, {'op': 'stats'})['gossip']
        assert stats['accepted'] > 0, f'no gossip accepted across the router: {stats}'
        queries = dnsmasq.tail(400)
        assert f'_distcc._tcp.{DOMAIN}' in queries, f'dnsmasq was not asked: {queries}'

        # distcc-mdns-hosts browsing by itself takes --domain too.
        obj = dm.hosts_json(b1, bins, '--no-daemon', f'--domain={DOMAIN}', '--wait=5')
        got = dm.line_hosts(obj['line'])
        assert a1.ip in got and a2.ip in got, f'--no-daemon --domain: {obj["line"]!r}'
        figure('wide_area.hosts_browse', obj['elapsed'], 's')
        obj = dm.hosts_json(b1, bins, '--no-daemon', '--wait=1')
        assert a1.ip not in obj['line'] and a2.ip not in obj['line'], \
            f'--no-daemon without --domain: {obj["line"]!r}'

        # distcc compiles on A through the line B's client prints.
        line = dm.hosts_line(b1, bins)
        name, text = dm.proof_source()
        b1.write(name, text)
        t1 = time.monotonic()
        b1.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], line)

        def compiled():
            for s in (a1, a2):
                for j in dm.distccd_jobs(distccd[s]):
                    if j['client'] == b1.ip and j['status'] == 'COMPILE_OK' \
                            and j['cmd'].split()[-1:] == [name]:
                        return s
            return None
        where = lan.wait_until(compiled, 10, 0.05, what=f'COMPILE_OK {name} from {b1.ip} on A')
        lan.note(f'{name} compiled on {where.name} ({where.ip}) for {b1.ip} across the router')
        figure('wide_area.compile', time.monotonic() - t1, 's')

        # Liveness as on the link: a daemon killed outright leaves the line,
        # though DNS still serves its records.
        t2 = time.monotonic()
        daemons[a2].send_signal(signal.SIGKILL)
        dm.wait_listed(b1, bins, a2.ip, CRASH_BOUND + 2, present=False, watch=watch)
        gone = time.monotonic() - t2
        figure('wide_area.crash_to_gone', gone, 's', CRASH_BOUND)
        assert gone <= CRASH_BOUND, f'crashed server still listed after {gone:.2f}s'
        assert a1.ip in dm.hosts_line(b1, bins), 'the live server left with the crashed one'

        # A restart under the records made before it (their TXT names the
        # previous run): a clean stop leaves at once, the new run is listed
        # again, alive, from the same DNS records.
        t3 = time.monotonic()
        dm.stop_mdnsd(daemons[a1])
        dm.wait_listed(b1, bins, a1.ip, 3, present=False, watch=watch)
        figure('wide_area.clean_stop_to_gone', time.monotonic() - t3, 's', 1.0)
        daemons[a1] = dm.start_mdnsd(a1, bins, '--advertise=yes', name='distcc-mdnsd-again',
                                     timeout=30)
        t4 = time.monotonic()
        lan.wait_until(lambda: (dm.find_server(dm.hosts_json(b1, bins), a1.ip) or {})
                       .get('liveness') == 'alive', RESTART_BOUND, 0.1,
                       what='a1 listed and alive again on b1', watch=watch + [daemons[a1]])
        figure('wide_area.restart_to_listed', time.monotonic() - t4, 's', RESTART_BOUND)
        figure('wide_area.stop_to_listed_again', time.monotonic() - t3, 's')


if __name__ == '__main__':
    lan.run_test(main)
