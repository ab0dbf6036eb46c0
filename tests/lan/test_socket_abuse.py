#!/usr/bin/env python3
"""lan-socket-abuse: the query socket under load and garbage.

h1: distccd + distcc-mdnsd; h2: distcc-mdnsd, whose socket is attacked from
the test process (through h2's /run): 50 parallel good clients while 20
clients hold half-sent lines open, plus garbage, non-JSON, wrong types,
unknown op, oversized lines (> 4096 bytes, with and without newline),
half-closed connections, requests whose sender leaves before the reply,
and one client that pipelines 500 requests and never reads. Every good query
must be answered correctly, every bad one with {"ok":false,"error":...}, and
the daemon must stay alive and answering.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note  # noqa: E402
from dmtest import figure  # noqa: E402

GOOD = b'{"op":"hosts"}\n'
BAD = {
    'garbage': b'\x00\xff\xfe garbage \x01\n',
    'non-json': b'hello there\n',
    'array': b'[1,2,3]\n',
    'string': b'"hosts"\n',
    'null': b'null\n',
    'empty-object': b'{}\n',
    'unknown-op': b'{"op":"nope"}\n',
    'op-number': b'{"op":5}\n',
    'op-null': b'{"op":null}\n',
    'truncated-json': b'{"op":"hosts"\n',
    'deep-nesting': b'[' * 2000 + b']' * 2000 + b'\n',
    'oversized-line': b'x' * 5000 + b'\n',
    'oversized-json': b'{"op":"hosts","pad":"' + b'a' * 5000 + b'"}\n',
    'oversized-no-newline': b'y' * 100_000,
}


def connect(path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def read_line(s):
    buf = b''
    while b'\n' not in buf:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    return buf.split(b'\n', 1)[0]


def good_reply(raw, server_ip):
    obj = json.loads(raw)
    assert obj.get('ok') is True, obj
    dm.check_reply(obj, 'socket reply: ')
    assert server_ip in dm.line_hosts(obj['line']), obj
    return obj


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        srv.start_distccd(jobs=4)
        md = dm.start_mdnsd(srv, bins, '--cpus', 2, '--slots', 4)
        d = dm.start_mdnsd(cli, bins)
        dm.wait_listed(cli, bins, srv.ip, 10, watch=(md, d))
        path = dm.socket_path(cli)

        # Slow clients: 20 connections with half a request, held open.
        slow = []
        for _ in range(20):
            s = connect(path)
            s.sendall(b'{"op":')
            slow.append(s)

        # 50 good clients at once.
        results, errors, lat = [], [], []
        go = threading.Event()

        def good_client():
            try:
                go.wait(10)
                t = time.monotonic()
                s = connect(path)
                s.sendall(GOOD)
                raw = read_line(s)
                s.close()
                lat.append(time.monotonic() - t)
                results.append(good_reply(raw, srv.ip))
            except Exception as e:      # reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=good_client) for _ in range(50)]
        for t in threads:
            t.start()
        go.set()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads), 'a good client hung for 30 s'
        assert not errors, f'{len(errors)} of 50 good queries failed: {errors[:5]}'
        assert len(results) == 50
        figure('socket.parallel50_latency_median', statistics.median(lat), 's', 0.1)
        figure('socket.parallel50_latency_max', max(lat), 's', 0.5)
        d.check_alive()

        # Malformed requests: each answered with ok:false and an error.
        for what, payload in BAD.items():
            s = connect(path)
            try:
                s.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass
            raw = read_line(s)
            s.close()
            try:
                obj = json.loads(raw)
            except ValueError:
                raise AssertionError(f'{what}: reply is not JSON: {raw[:200]!r}') from None
            assert obj.get('ok') is False and isinstance(obj.get('error'), str) and obj['error'], \
                f'{what}: want {{"ok":false,"error":...}}, got {raw[:300]!r}'
            note(f'{what:22} -> {raw[:100].decode(errors="replace")}')
            d.check_alive()

        # Half-closed: request then shutdown(SHUT_WR); the reply still comes.
        s = connect(path)
        s.sendall(GOOD)
        s.shutdown(socket.SHUT_WR)
        good_reply(read_line(s), srv.ip)
        s.close()

        # Two requests in one write.
        s = connect(path)
        s.sendall(GOOD + GOOD)
        s.shutdown(socket.SHUT_WR)
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        replies = [x for x in data.split(b'\n') if x]
        note(f'pipelined pair: {len(replies)} replies')
        assert replies, 'no reply to two pipelined requests'
        for raw in replies:
            good_reply(raw, srv.ip)

        # Senders that leave before the reply (SIGPIPE/EPIPE on the daemon side),
        # and connections that say nothing at all.
        for i in range(100):
            s = connect(path)
            if i % 2:
                s.sendall(GOOD)
            s.close()
        # A client that pipelines 500 requests and never reads.
        hog = connect(path)
        hog.setblocking(False)
        sent = 0
        for _ in range(500):
            try:
                sent += hog.send(GOOD)
            except BlockingIOError:
                break
        note(f'non-reading client pushed {sent} bytes')
        d.check_alive()

        # Everyone else is still served while the hog and slow clients hang on.
        t0 = time.monotonic()
        good_reply(read_line_of(path), srv.ip)
        figure('socket.query_with_hog_and_slow_clients', time.monotonic() - t0, 's', 0.5)
        obj = dm.hosts_json(cli, bins)
        assert obj['source'] == 'daemon', obj
        procs = [subprocess.Popen(cli.argv([bins.hosts, '--json']), env=cli.env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(20)]
        for p in procs:
            out, err = p.communicate(timeout=20)
            assert p.returncode == 0, err
            o = json.loads(out)
            assert o['source'] == 'daemon' and srv.ip in dm.line_hosts(o['line']), o
        note('20 parallel distcc-mdns-hosts --json: all answered by the daemon')

        hog.close()
        for s in slow:
            s.close()
        t0 = time.monotonic()
        good_reply(read_line_of(path), srv.ip)
        figure('socket.query_after_abuse', time.monotonic() - t0, 's', 0.1)
        d.check_alive()
        md.check_alive()


def read_line_of(path):
    s = connect(path)
    try:
        s.sendall(GOOD)
        return read_line(s)
    finally:
        s.close()


if __name__ == '__main__':
    lan.run_test(main)
