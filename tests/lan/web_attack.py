#!/usr/bin/env python3
"""Hostile HTTP clients against a daemon's --http port (run on a LAN host by test_web.py).

Usage: web_attack.py HOST PORT SECONDS. For SECONDS it keeps: up to 500
connections open at once (some idle, some sending a byte at a time, far
slower than any request deadline), malformed request lines, oversized
headers and bodies, and endless header streams. Prints one JSON line of
what it saw: connections made, 503s, 4xx, resets, slow clients the server
cut and after how long. Every loop is bounded in count and time.
"""

import json
import random
import select
import socket
import sys
import time

JUNK = [b'\r\n\r\n', b'GARBAGE\r\n\r\n', b'GET\r\n\r\n', b'GET / HTTP/9.9\r\n\r\n',
        b'GET /%zz%00 HTTP/1.1\r\n\r\n', b'\x00\x01\x02\xff\xfe\r\n\r\n',
        b'GET ' + b'/a' * 9000 + b' HTTP/1.1\r\n\r\n',
        b'GET / HTTP/1.1\r\nHost: ' + b'h' * 20000 + b'\r\n\r\n',
        b'POST /farm.json HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n' + b'x' * 65536,
        b'GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n',
        b'GET /events HTTP/1.1\r\nHost: evil.example\r\n\r\n']
MAX_OPEN = 500


def connect(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    return s


def main(argv):
    host, port, seconds = argv[1], int(argv[2]), float(argv[3])
    stats = {'connections': 0, 'status_503': 0, 'status_4xx': 0, 'status_2xx': 0, 'closed': 0,
             'reset': 0, 'slow_cut': 0, 'slow_cut_after_max': 0.0, 'endless_cut': 0, 'max_open': 0}
    open_socks = {}  # socket -> [kind, opened, sent_bytes, received]
    end = time.monotonic() + seconds
    rnd = random.Random(19)
    last_trickle = 0.0
    rounds = 0
    while time.monotonic() < end and rounds < 1_000_000:
        rounds += 1
        # Top up to MAX_OPEN connections of every kind.
        for _ in range(min(50, MAX_OPEN - len(open_socks))):
            kind = rnd.choice(['idle', 'slow', 'junk', 'junk', 'endless'])
            try:
                s = connect(host, port)
            except OSError:
                break
            open_socks[s] = [kind, time.monotonic(), 0, b'']
            stats['connections'] += 1
        stats['max_open'] = max(stats['max_open'], len(open_socks))
        now = time.monotonic()
        # One byte from every slow client, once a second (a byte a minute
        # would only be slower: the server's deadline is per request).
        trickle = now - last_trickle >= 1.0
        if trickle:
            last_trickle = now
        for s, st in list(open_socks.items()):
            kind = st[0]
            try:
                if kind == 'junk' and st[2] == 0:
                    data = rnd.choice(JUNK)
                    st[2] = s.send(data) or 1
                elif kind == 'slow' and trickle:
                    st[2] += s.send(b'GET /farm.json HTTP/1.1\r\nX: '[st[2] % 28:st[2] % 28 + 1] or b'a')
                elif kind == 'endless':
                    if st[2] == 0:
                        st[2] += s.send(b'GET / HTTP/1.1\r\n')
                    st[2] += s.send(b'X-Endless-%d: yes\r\n' % st[2])
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass  # noticed below as closed or reset
        readable, _, _ = select.select(list(open_socks), [], [], 0.05)
        for s in readable:
            st = open_socks[s]
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                stats['reset'] += 1
                data = None
            if data:
                st[3] = (st[3] + data)[:64]
                continue
            # Closed (or reset) by the server.
            head = st[3]
            if head.startswith(b'HTTP/1.1 503'):
                stats['status_503'] += 1
            elif head.startswith(b'HTTP/1.1 4'):
                stats['status_4xx'] += 1
            elif head.startswith(b'HTTP/1.1 2'):
                stats['status_2xx'] += 1
            else:
                stats['closed'] += 1
            if st[0] == 'slow' and not head.startswith(b'HTTP/1.1 503'):
                stats['slow_cut'] += 1
                stats['slow_cut_after_max'] = max(stats['slow_cut_after_max'], time.monotonic() - st[1])
            if st[0] == 'endless':
                stats['endless_cut'] += 1
            s.close()
            del open_socks[s]
        # Junk that got nothing back for 15 s is dropped by us.
        for s, st in list(open_socks.items()):
            if st[0] in ('junk', 'idle') and time.monotonic() - st[1] > 15:
                s.close()
                del open_socks[s]
    for s in open_socks:
        s.close()
    print(json.dumps(stats), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
