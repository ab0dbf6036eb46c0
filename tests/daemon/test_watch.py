#!/usr/bin/env python3
# The farm and watch operations against a real distcc-mdnsd in a network namespace of its own (needs root).
"""Starts distcc-mdnsd alone (loopback only, no Avahi, no advertising) and
checks, on its query socket:

- the farm object has the schema and agrees with the hosts and stats
  replies; a farm look counts as no demand;
- watch sends an object at once, a new one within 2 s of a change (a
  reserving hosts query raises this machine's want), never two within a
  second, and a heartbeat at least every 5 s;
- a user gets 4 watchers and the fifth is refused, while another user
  (uid 65534) may still watch;
- hosts queries are answered while a watcher does not read.

Usage: test_watch.py DISTCC-MDNSD
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Conn:
    """One query-socket connection: a line out, a line in, with deadlines."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buffer = b""

    def send(self, obj):
        self.sock.sendall((json.dumps(obj) + "\n").encode())

    def line(self, timeout=5.0):
        """The next line as JSON, or None if none came within timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def ask(self, obj, timeout=5.0):
        self.send(obj)
        return self.line(timeout)

    def close(self):
        self.sock.close()


def wait_for_socket(path, proc, limit=10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            Conn(path).close()
            return True
        except OSError:
            time.sleep(0.05)  # polling for the daemon's socket, bounded by the deadline
    return False


SERVER_KEYS = {"name", "id", "host", "address", "addresses", "port", "cpus", "slots", "speed", "state",
               "running", "load", "age_ms", "liveness", "reserved", "stock", "local", "compilers",
               "excluded", "fresh", "clients", "history"}
CLIENT_KEYS = {"id", "name", "address", "self", "want", "local_slots", "share", "holding", "running",
               "local_jobs", "age_ms", "history"}
TOTAL_KEYS = {"servers", "up", "slots", "busy", "reserved", "wanted", "waiting", "utilisation", "clients"}


def check_schema(sock):
    c = Conn(sock)
    stats = c.ask({"op": "stats"})
    hosts = c.ask({"op": "hosts", "reserve": False})
    farm = c.ask({"op": "farm"})
    again = c.ask({"op": "farm"})
    check(farm is not None and farm.get("ok") is True, "farm answers ok")
    check(farm["version"] == 1, "farm version is 1")
    for key in ("seq", "node", "host", "time_ms", "line", "jobs", "totals", "servers", "clients", "stats",
                "queries"):
        check(key in farm, f"farm has '{key}'")
    check(TOTAL_KEYS <= set(farm["totals"]), "totals have every key")
    check(again["seq"] > farm["seq"], "seq grows from one object to the next")
    check(farm["line"] == hosts["line"] and farm["jobs"] == hosts["jobs"],
          "the farm's line and jobs are the hosts reply's")
    check(len(farm["servers"]) == len(hosts["servers"]), "as many servers as the hosts reply")
    for s in farm["servers"]:
        check(SERVER_KEYS <= set(s), f"server {s.get('name')} has every key")
    check(set(farm["stats"]) == set(stats) - {"ok"}, "the farm's stats object has the stats reply's keys")
    check(farm["node"] == stats["gossip"]["node"], "the farm's node is gossip's")
    check(abs(farm["time_ms"] / 1000.0 - time.time()) < 60, "time_ms is the wall clock")
    selfs = [cl for cl in farm["clients"] if cl["self"]]
    check(len(selfs) == 1 and farm["clients"][0]["self"], "this machine is the first client")
    check(CLIENT_KEYS <= set(farm["clients"][0]), "the client has every key")
    check(farm["clients"][0]["id"] == farm["node"], "this machine's client id is its node")
    check(farm["totals"]["clients"] == len(farm["clients"]), "totals count the clients")
    q = again["queries"]
    check(q["stats"] >= 1 and q["hosts"] >= 1 and q["farm"] >= 2, "queries are counted by operation")
    # A look reserves nothing and is no one's demand.
    check(again["clients"][0]["want"] == 0, "a farm look is no demand")
    check(c.ask({"op": "stats"})["demand"]["wanted"] == 0, "gossip hears no demand from looks")
    bad = c.ask({"op": "farm", "extra": [1, 2]})
    check(bad["ok"] is True, "fields the farm op does not read are ignored")
    c.close()


def check_watch(sock):
    w = Conn(sock)
    first = w.ask({"op": "watch"})
    check(first is not None and first.get("ok") is True, "watch answers at once")
    check(first["clients"][0]["want"] == 0, "no demand before the build's line")
    # A line handed out (a reserving query) is this machine's demand for a
    # moment: a view shows it.
    asker = Conn(sock)
    asked_at = time.monotonic()
    line = asker.ask({"op": "hosts", "want": 5})
    check(line["ok"] is True and line["want"] >= 1, "a reserving hosts query")
    objects = []  # (arrival, object)
    seen_want_at = None
    deadline = time.monotonic() + 12.0
    while time.monotonic() < deadline and len(objects) < 20:
        obj = w.line(timeout=deadline - time.monotonic())
        if obj is None:
            break
        now = time.monotonic()
        objects.append((now, obj))
        if seen_want_at is None and obj["clients"][0]["want"] >= 1:
            seen_want_at = now
    check(seen_want_at is not None and seen_want_at - asked_at <= 2.0,
          "a watcher sees the new demand within 2 s (%s)" %
          ("%.2f s" % (seen_want_at - asked_at) if seen_want_at else "never"))
    check(any(o["clients"][0]["want"] == 0 for t, o in objects if seen_want_at and t > seen_want_at),
          "and sees it end")
    gaps = [b[0] - a[0] for a, b in zip(objects, objects[1:])]
    check(len(objects) >= 3, f"objects keep coming ({len(objects)} in 12 s)")
    check(all(g >= 0.85 for g in gaps), "at most one object a second (gaps %s)" %
          ", ".join("%.2f" % g for g in gaps))
    # Ticks a second apart: the heartbeat is due 4.5-5.5 s after an object.
    check(all(g <= 5.7 for g in gaps), "a heartbeat at least every 5 s (at most 5.5 s after an object, plus lateness)")
    seqs = [first["seq"]] + [o["seq"] for _, o in objects]
    check(all(b > a for a, b in zip(seqs, seqs[1:])), "seq grows along the stream")
    check(all("ok" not in o for _, o in objects), "streamed objects carry no 'ok'")
    last = objects[-1][1] if objects else first
    check(len(last["clients"][0]["history"]["want"]) >= 5, "the history grows one a second")
    check(max(last["clients"][0]["history"]["want"]) >= 1, "the history holds the demand")
    # A watching connection still answers other requests, in order.
    w.send({"op": "stats"})
    reply = None
    for _ in range(10):
        reply = w.line(timeout=6.0)
        if reply is None or "gossip" in reply and "version" not in reply:
            break
    check(reply is not None and reply.get("ok") is True and "gossip" in reply,
          "a watcher's other requests are answered")
    asker.close()
    w.close()


CHILD = r"""
import json, socket, sys
oks = []
conns = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sys.argv[1])
    s.sendall(b'{"op":"watch"}\n')
    f = s.makefile('rb')
    r = json.loads(f.readline())
    oks.append([r.get("ok"), r.get("error", "")])
    conns.append((s, f))
print(json.dumps(oks))
"""


def check_watcher_caps(sock):
    mine = []
    for i in range(5):
        c = Conn(sock)
        mine.append((c, c.ask({"op": "watch"})))
    check(all(r["ok"] is True for _, r in mine[:4]), "a user's first four watchers are served")
    fifth = mine[4][1]
    check(fifth["ok"] is False and "too many watchers" in fifth["error"], "the fifth is refused: %s" %
          fifth.get("error"))
    # The refused connection is not a watcher but still a connection.
    check(mine[4][0].ask({"op": "stats"})["ok"] is True, "the refused connection still answers")
    # Another user is not held back by this one's watchers.
    child = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                            "-c", CHILD, sock, "5"], capture_output=True, text=True, timeout=30)
    check(child.returncode == 0, "uid 65534's watchers ran: " + child.stderr.strip()[-200:])
    if child.returncode == 0:
        oks = json.loads(child.stdout)
        check([o[0] for o in oks] == [True, True, True, True, False],
              f"uid 65534 gets four watchers too, and the fifth is refused: {oks}")
    # One of ours closes: a watcher of ours fits again.
    mine[0][0].close()
    again = None
    for _ in range(50):  # the daemon learns of the close on its loop: bounded retries
        c = Conn(sock)
        again = c.ask({"op": "watch"})
        if again and again["ok"]:
            mine.append((c, again))
            break
        c.close()
        time.sleep(0.02)  # polling for the daemon to see the close, bounded above
    check(again is not None and again["ok"] is True, "a closed watcher frees its place")
    for c, _ in mine[1:]:
        c.close()


def check_hosts_beside_stuck_watcher(sock):
    stuck = Conn(sock)
    stuck.send({"op": "watch"})  # never read
    c = Conn(sock)
    start = time.monotonic()
    answered = 0
    for _ in range(50):
        r = c.ask({"op": "hosts"}, timeout=2.0)
        if r is None or not r.get("ok"):
            break
        answered += 1
    took = time.monotonic() - start
    check(answered == 50, f"hosts queries answered beside a watcher that does not read ({answered} of 50)")
    check(took < 5.0, f"and at once ({took:.2f} s for 50)")
    stuck.close()
    c.close()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    if os.geteuid() != 0:
        print("test_watch.py: needs root (a network namespace and another user); skipped")
        return SKIP
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        print("test_watch.py: needs unshare and setpriv (util-linux); skipped")
        return SKIP
    daemon = os.path.abspath(sys.argv[1])
    top = tempfile.mkdtemp(prefix="dmdns-watch-")
    os.chmod(top, 0o755)
    sock = os.path.join(top, "run", "socket")
    env = dict(os.environ)
    # No system bus: no Avahi, whatever this machine runs; gossip alone.
    env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=" + os.path.join(top, "no-bus")
    log = open(os.path.join(top, "log"), "w")
    proc = subprocess.Popen(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", daemon,
                             "--advertise=no", "--speed=1", "--socket=" + sock,
                             "--state-dir=" + os.path.join(top, "state"), "-v"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        if not wait_for_socket(sock, proc):
            check(False, "the daemon answers on its socket")
        else:
            check_schema(sock)
            check_watch(sock)
            check_watcher_caps(sock)
            check_hosts_beside_stuck_watcher(sock)
            check(proc.poll() is None, "the daemon is still running")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if failures:
            with open(os.path.join(top, "log")) as f:
                print("daemon log:\n" + f.read()[-3000:])
        shutil.rmtree(top, ignore_errors=True)
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
