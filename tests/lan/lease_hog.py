#!/usr/bin/python3
"""A local user who holds many build leases at once, to take more than one user's share.

Usage: lease_hog.py SOCKET LEASES WANT SECONDS

Opens LEASES connections to the daemon's query socket and sends on each a
build lease ({"op":"hosts","build":true,"want":WANT}), renewed every 0.5 s
as distcc-mdns-run does, for at most SECONDS. After each round it prints one
JSON line: the leases answered and the remote slots their lines add up to
(what this user was handed in all). Run as an ordinary user; tests/lan/test_run.py
checks that another user's build on the same machine keeps its half.
"""

import json
import socket
import sys
import time


def remote_slots(reply):
    return sum(s.get('limit', 0) for s in reply.get('servers', [])
               if s.get('excluded') is None and not s.get('local'))


def main(argv):
    path, leases, want, seconds = argv[1], int(argv[2]), int(argv[3]), float(argv[4])
    request = json.dumps({'op': 'hosts', 'build': True, 'want': want}).encode() + b'\n'
    conns = []
    for _ in range(leases):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(path)
        conns.append([s, b''])
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        answered, slots = 0, 0
        for conn in conns:
            s = conn[0]
            try:
                s.sendall(request)
                while b'\n' not in conn[1]:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise OSError('closed')
                    conn[1] += chunk
            except OSError:
                continue
            line, conn[1] = conn[1].split(b'\n', 1)
            reply = json.loads(line)
            if reply.get('ok'):
                answered += 1
                slots += remote_slots(reply)
        print(json.dumps({'t': time.monotonic(), 'answered': answered, 'slots': slots}), flush=True)
        time.sleep(0.5)  # the renewal period of a lease, not a synchronisation
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
