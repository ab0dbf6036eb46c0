#!/usr/bin/env python3
"""lan-harness: validates lan.py itself with stock tools only.

Two hosts: mDNS between them (avahi-publish -> avahi-browse), a stock
`distccd --zeroconf` seen by the other host, a stock distcc compile proved
from distccd's log (fixed host and +zeroconf), avahi restart, link down/up,
isolation (no route out), bounded polling, parallel LANs, and cleanup after
exception, SIGTERM (meson's timeout: SIGTERM then SIGKILL 0.5 s later),
SIGINT and SIGKILL. Needs no binary of ours (its arguments are ignored).
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
from lan import note, wait_until  # noqa: E402
from dmtest import figure, distccd_jobs, wait_job, proof_source, expected_subtype  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def stock_mdns(net):
    h1, h2 = net.hosts
    r = h1.run('hostname; ls /run; ip route')
    assert r.stdout.split()[0] == 'h1', r.stdout
    assert 'default' not in r.stdout, f'h1 has a default route: {r.stdout}'
    assert h2.run('hostname').stdout.strip() == 'h2'
    # Isolation: nothing outside the test subnet (and multicast) is routable.
    for outside in ('192.0.2.1', '8.8.8.8', '10.0.0.1', '127.0.0.53'):
        if outside.startswith('127.'):
            continue
        r = h1.run(['ip', 'route', 'get', outside], check=False)
        assert r.returncode != 0 and 'unreachable' in r.stderr, \
            f'{outside} is routable from a test host: {r.stdout} {r.stderr}'
    r = h1.run(['ip', 'route', 'get', h2.ip])
    assert 'dev eth0' in r.stdout, r.stdout
    # Per-host /run: each host sees its own avahi pid file.
    pid1 = open(h1.path('/run/avahi-daemon/pid')).read().strip()
    pid2 = open(h2.path('/run/avahi-daemon/pid')).read().strip()
    assert pid1 != pid2
    assert h1.run('cat /run/avahi-daemon/pid').stdout.strip() == pid1

    # avahi-publish on h1, seen by avahi-browse on h2.
    browse = h2.browse('_distcc._tcp')
    t0 = time.monotonic()
    pub = h1.publish('distcc@pub-h1', txt=['txtvers=1', 'cpus=2', 'jobs=3'])
    rec = browse.wait_for('distcc@pub-h1', 10)
    figure('stock.publish_to_resolved_on_other_host', rec['t'] - t0, 's', 2.0)
    assert rec['address'] == h1.ip and rec['port'] == 3632 and rec['txt']['jobs'] == '3', rec
    t1 = time.monotonic()
    r = h2.run(['avahi-browse', '-rtpk', '_distcc._tcp'], timeout=20)
    figure('stock.avahi_browse_rtp_runtime', time.monotonic() - t1, 's')
    # avahi-browse resolves with AVAHI_PROTO_UNSPEC: with IPv6 on (Debian's
    # avahi-daemon.conf) a record seen over IPv4 may resolve to h1's IPv6
    # link-local address and the other way round, so either of h1's counts.
    resolved = [line.split(';') for line in r.stdout.splitlines()
                if line.startswith('=;') and 'distcc\\064pub-h1' in line]
    assert any(f[6] == 'h1.local' and f[8] == '3632' and
               (f[7] == h1.ip or f[7].startswith('fe80:')) for f in resolved if len(f) > 8), r.stdout

    t0 = time.monotonic()
    h1.kill(pub)
    browse.wait_gone('distcc@pub-h1', 10)
    figure('stock.unpublish_to_removed_on_other_host', time.monotonic() - t0, 's', 2.0)
    h1.kill('avahi-publish')   # by name: nothing left to kill, must not fail
    return browse


def stock_distcc(net, browse):
    h1, h2 = net.hosts
    sub = expected_subtype(h1)
    subbrowse = h2.browse(sub)
    t0 = time.monotonic()
    d = h1.start_distccd(jobs=3, zeroconf=True)
    rec = browse.wait_for('distcc@h1', 10)
    figure('stock.distccd_zeroconf_start_to_resolved', rec['t'] - t0, 's', 2.0)
    for k, v in (('txtvers', '1'), ('jobs', '3'), ('distcc', '3.4')):
        assert rec['txt'].get(k) == v, f'TXT {k}: {rec["txt"]}'
    subrec = subbrowse.wait_for('distcc@h1', 10)
    note(f'stock distccd TXT: {rec["txt_raw"]}; also under subtype {sub} at {subrec["address"]}')

    # Fixed host: the job must show up in h1's distccd log.
    name, text = proof_source()
    h2.write(name, text)
    t0 = time.monotonic()
    r = h2.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], f'{h1.ip}/2')
    job = wait_job(d, h2.ip, name)
    figure('stock.distcc_compile_fixed_host', time.monotonic() - t0, 's')
    assert os.path.getsize(os.path.join(h2.work, name[:-2] + '.o')) > 0
    assert f'compiled on {h1.ip}' in r.stderr, r.stderr[-2000:]
    note(f'h1 distccd: {job}')

    # +zeroconf: the stock client browses the subtype and finds h1.
    name, text = proof_source()
    h2.write(name, text)
    t0 = time.monotonic()
    attempts = []

    def compile_zc():
        r = h2.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], '+zeroconf', check=False)
        attempts.append(r.returncode)
        return r.returncode == 0
    wait_until(compile_zc, 20, 0.2, what='stock +zeroconf compile on h2')
    wait_job(d, h2.ip, name)
    figure('stock.distcc_zeroconf_compile', time.monotonic() - t0, 's')
    zc = open(os.path.join(h2.distcc_dir, 'zeroconf', 'hosts')).read()
    note(f'+zeroconf attempts {attempts}; h2 zeroconf/hosts: {zc.strip()!r}')
    assert f'{h1.ip}:3632/3' in zc, zc
    assert len(distccd_jobs(d)) == 2, distccd_jobs(d)
    return d


def restart_and_links(net, browse, d):
    h1, h2 = net.hosts
    old = h1.avahi.pid
    t0 = time.monotonic()
    h1.restart_avahi()
    figure('harness.restart_avahi', time.monotonic() - t0, 's')
    assert h1.avahi.pid != old and h1.avahi.alive()
    t1 = time.monotonic()
    h1.publish('distcc@after-restart', txt=['txtvers=1'])
    rec = browse.wait_for('distcc@after-restart', 10)
    figure('stock.publish_after_avahi_restart', rec['t'] - t1, 's', 2.0)

    # Cable pulled: h2 cannot reach h1's distccd; plugged back: it can.
    probe = ('import socket,sys\ns=socket.socket();s.settimeout(1.5)\n'
             'try:\n s.connect((sys.argv[1],3632));print("up")\n'
             'except OSError as e:\n print("down",e)\n')
    assert h2.run(['python3', '-c', probe, h1.ip]).stdout.startswith('up')
    h1.link_down()
    carrier = h1.run('cat /sys/class/net/eth0/carrier', check=False).stdout.strip()
    assert h2.run(['python3', '-c', probe, h1.ip]).stdout.startswith('down')
    h1.link_up()
    wait_until(lambda: h2.run(['python3', '-c', probe, h1.ip]).stdout.startswith('up'),
               10, 0.1, what='h1 reachable again')
    note(f'link_down: eth0 carrier on h1 was {carrier!r}; reachable again after link_up')
    assert h1.listening(3632) and not h2.listening(3632)
    assert d.alive()


def polling_bounds():
    calls = []
    t0 = time.monotonic()
    try:
        wait_until(lambda: calls.append(1), 0.3, 0.1, what='never')
    except lan.Timeout as e:
        note(f'wait_until gave up as it should: {e}')
    else:
        raise AssertionError('wait_until returned for a false predicate')
    dt = time.monotonic() - t0
    assert 0.29 <= dt < 0.6 and len(calls) <= 5, (dt, len(calls))


CHILD = r'''
import os, signal, sys, time
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import lan
def main(argv):
    with lan.Lan(int(argv[1]), avahi=argv[2] == '1') as net:
        net.hosts[0].start_distccd() if argv[2] == '1' else None
        print('READY', net.tag, net.tmpdir, flush=True)
        if argv[0] == 'raise':
            raise RuntimeError('deliberate failure')
        signal.pause()
lan.run_test(main, sys.argv[2:])
'''


def leftovers(tag):
    ns = [x for x in subprocess.run(['ip', 'netns', 'list'], capture_output=True,
                                    text=True).stdout.split() if x.startswith(f'dml-{tag}-')]
    dirs = [d for d in os.listdir('/tmp') if d.startswith(f'dmlan-{tag}-')]
    procs = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                cmd = open(f'/proc/{pid}/cmdline', 'rb').read()
            except OSError:
                continue
            if f'dmlan-{tag}-'.encode() in cmd:
                procs.append(int(pid))
    return ns + dirs + procs


def cleanup_cases():
    for how, avahi in (('raise', '1'), ('meson-timeout', '1'), ('sigint', '0'),
                       ('sigkill', '1')):
        p = subprocess.Popen([sys.executable, '-c', CHILD, HERE, how, '2', avahi],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        out = []

        def ready():
            line = p.stdout.readline()
            out.append(line)
            return line.split()[1] if line.startswith('READY') else (p.poll() is not None
                                                                      and 'died')
        tag = wait_until(ready, 30, 0.01, what=f'child LAN ({how}) up')
        assert tag != 'died', ''.join(out)
        t0 = time.monotonic()
        if how == 'meson-timeout':        # what meson does on a test timeout
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        elif how == 'sigint':
            os.kill(p.pid, signal.SIGINT)
        elif how == 'sigkill':
            os.killpg(p.pid, signal.SIGKILL)
        rc = p.wait(timeout=20)
        rest = p.stdout.read()
        wait_until(lambda: not leftovers(tag), 15, 0.05,
                   what=f'cleanup after {how} (left: {leftovers(tag)})')
        figure(f'harness.cleanup_after_{how}', time.monotonic() - t0, 's')
        note(f'{how}: child exit {rc}; nothing left of LAN {tag}')
        if how == 'raise':
            assert rc == 1 and 'deliberate failure' in rest and '----- h1' in rest, rest


def main(argv):
    polling_bounds()
    t0 = time.monotonic()
    with lan.Lan(2) as net:
        figure('harness.lan_of_2_up', time.monotonic() - t0, 's')
        with lan.Lan(1, avahi=False) as other:     # a parallel run cannot collide
            assert other.subnet != net.subnet and other.tag != net.tag
            assert other.hosts[0].ns != net.hosts[0].ns
        browse = stock_mdns(net)
        d = stock_distcc(net, browse)
        restart_and_links(net, browse, d)
        tag = net.tag
    assert not leftovers(tag), leftovers(tag)
    cleanup_cases()


if __name__ == '__main__':
    lan.run_test(main)
