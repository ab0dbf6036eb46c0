"""distcc-mdns-hosts --top, plain lines and --json --watch against a fake daemon that serves farm objects.

Usage: test_top.py DISTCC-MDNS-HOSTS FARM.JSON
The fake daemon listens on a private query socket and answers "watch" with
the fixture, then with each object the test pushes; --top runs on a pty
whose screen pyte renders.
"""
import copy
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptyscreen  # noqa: E402

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


class FakeDaemon:
    """A query socket: "watch" gets the current object and then every push; "farm" one object."""

    def __init__(self, path, farm, watch_op=True):
        self.farm = farm
        self.watch_op = watch_op
        self.watchers = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        data = b""
        while b"\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        request = json.loads(data.split(b"\n")[0])
        op = request.get("op")
        if op == "watch" and self.watch_op:
            with self.lock:
                conn.sendall((json.dumps(self.farm) + "\n").encode())
                self.watchers.append(conn)
            return
        if op == "farm" and self.watch_op:
            conn.sendall((json.dumps(self.farm) + "\n").encode())
        else:
            conn.sendall((json.dumps({"ok": False, "error": f"unknown op '{op}'"}) + "\n").encode())
        conn.close()

    def push(self, farm):
        with self.lock:
            self.farm = farm
            for conn in list(self.watchers):
                try:
                    conn.sendall((json.dumps(farm) + "\n").encode())
                except OSError:
                    self.watchers.remove(conn)

    def watcher_count(self):
        with self.lock:
            return len(self.watchers)

    def close(self):
        # The listener first, so that nobody reconnects in between.
        # shutdown() wakes the accept() of the other thread; close() alone
        # would leave the socket listening while that call holds it.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for conn in self.watchers:
                conn.close()
            self.watchers = []


def row_of(lines, name):
    for line in lines:
        if line[1:].startswith(name + " "):
            return line
    return None


def wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def binstate(pid, file, host, slot, phase):
    """distcc 3.4's struct dcc_task_state on LP64 (296 bytes)."""
    return struct.pack("<QQQ128s128sii8x", 296, 0x44494800, pid, file.encode(), host.encode(), slot, phase)


def real_distcc(hosts, tmp, env):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    src = os.path.join(tmp, "real_job.c")
    with open(src, "w") as f:
        f.write("int f(void) { return 1; }\n")
    state = os.path.join(env["DISTCC_DIR"], "state")
    job_env = dict(env, DISTCC_HOSTS=f"127.0.0.1:{port}", DISTCC_IO_TIMEOUT="30", DISTCC_FALLBACK="0")
    job = subprocess.Popen(["distcc", "gcc", "-c", "real_job.c", "-o", "real_job.o"], cwd=tmp,
                           env=job_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn = None
    try:
        listener.settimeout(10)
        conn, _ = listener.accept()  # distcc connected: it writes its state before and after
        name = f"binstate_{job.pid}"
        check(wait(lambda: os.path.exists(os.path.join(state, name)), 5), f"distcc wrote {name}")
        mon = ""
        for _ in range(50):
            mon = subprocess.run(["distccmon-text"], capture_output=True, text=True, env=env).stdout
            # Connect, Send, then Compile while it waits for the answer
            # that never comes: a phase that stays.
            if "Compile" in mon:
                break
            time.sleep(0.1)
        mon_row = [l.split() for l in mon.splitlines() if l.split()[:1] == [str(job.pid)]]
        p = subprocess.Popen([hosts, "--top"], stdout=subprocess.PIPE, env=env, text=True)
        frame = []
        for line in p.stdout:
            if not line.strip():
                break
            frame.append(line.rstrip("\n"))
        p.kill()
        p.wait()
        ours = [l.split() for l in frame if l.split()[:1] == [str(job.pid)]]
        check(len(mon_row) == 1 and len(ours) == 1, f"distccmon-text and --top list the job ({mon_row}, {ours})")
        if mon_row and ours:
            # distccmon-text: PID PHASE FILE HOST[SLOT]; ours: PID FILE HOST[SLOT] PHASE FOR.
            check(ours[0][1] == mon_row[0][2] and ours[0][2] == mon_row[0][3] and ours[0][3] == mon_row[0][1],
                  f"the same file, host, slot and phase ({' '.join(ours[0])} / {' '.join(mon_row[0])})")
    finally:
        job.kill()
        job.wait()
        if conn:
            conn.close()
        listener.close()


class Output:
    """What a child wrote to its stdout so far, read without blocking."""

    def __init__(self, p):
        self.p, self.data = p, b""
        os.set_blocking(p.stdout.fileno(), False)

    def text(self):
        try:
            self.data += self.p.stdout.read() or b""
        except (BlockingIOError, TypeError):
            pass
        return self.data.decode(errors="replace")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    if ptyscreen.pyte is None:
        print("SKIP: python3-pyte is not installed for", sys.executable)
        return 77
    hosts, fixture = sys.argv[1], sys.argv[2]
    base = json.load(open(fixture))
    tmp = tempfile.mkdtemp(prefix="dmdns-top-")
    os.chmod(tmp, 0o700)
    sock_path = os.path.join(tmp, "socket")
    daemon = FakeDaemon(sock_path, base)
    distcc_dir = os.path.join(tmp, "distcc")
    os.makedirs(os.path.join(distcc_dir, "state"))
    env = {"DISTCC_DIR": distcc_dir, "DISTCC_MDNS_SOCKET": sock_path}
    try:
        # 1. The screen: every server and client of the fixture, the marks.
        prog = ptyscreen.PtyProgram([hosts, "--top"], env=env)
        took = prog.wait_for(lambda l: row_of(l, "s3") is not None, 5)
        check(took is not None, f"--top shows the fixture's servers ({took and round(took, 2)} s)")
        lines = prog.lines()
        for name in ("s1", "s2", "s3", "c1"):
            check(row_of(lines, name) is not None, f"row for server {name}")
        check("drain" in (row_of(lines, "s3") or "") and "(not up)" in (row_of(lines, "s3") or ""),
              "the drained server shows its state and why it is left out")
        check("c1:3 c2:2" in (row_of(lines, "s1") or ""), "s1's row says who runs there")
        check(lines[2].startswith("line: s1/3 s2/3 localhost/2 (-j9)"), "this machine's line")
        check(lines[1].startswith("farm: 3/4 up  slots 32 busy 11 rsvd 4 (34%)"), "the totals")
        check(any(l.startswith("*c1 ") for l in lines), "this machine's rows are marked")
        check(prog.screen.buffer[[i for i, l in enumerate(lines) if l.startswith("*c1 ")][0]][1].bold,
              "and drawn bold")
        check(all(len(l) <= 80 for l in lines) and lines[23].startswith("q quit"), "fits 80x24, keys at the bottom")

        # 2. An update is drawn at once: s1 busier, a new server.
        newer = copy.deepcopy(base)
        newer["seq"] = 18
        newer["servers"][0]["running"] = 7
        s4 = copy.deepcopy(base["servers"][1])
        s4["name"] = "s4"
        newer["servers"].append(s4)
        daemon.push(newer)
        took = prog.wait_for(lambda l: row_of(l, "s4") is not None and " 8   7 " in (row_of(l, "s1") or ""), 3)
        check(took is not None and took < 1.0, f"a pushed change is on screen within 1 s ({took and round(took, 3)} s)")

        # 3. Sort keys: b puts the busiest (s1, 7 running) first.
        prog.send(b"b")
        took = prog.wait_for(lambda l: l[4][1:].startswith("s1 ") and "sort busy" in l[0], 2)
        check(took is not None, "b sorts by busy slots")
        prog.send(b"n")
        check(prog.wait_for(lambda l: l[4][1:].startswith("c1 "), 2) is not None, "n sorts by name again")

        # A larger window: the screen follows at once, keys at its bottom.
        prog.resize(100, 30)
        took = prog.wait_for(lambda l: len(l) == 30 and l[29].startswith("q quit") and len(l[4]) > 80, 2)
        check(took is not None, f"a resized terminal is filled ({took and round(took, 2)} s)")

        # 4. This user's distcc jobs from the state files (a live pid: ours).
        with open(os.path.join(distcc_dir, "state", "binstate_%d" % os.getpid()), "wb") as f:
            f.write(binstate(os.getpid(), "src/widget.c", "10.0.0.1", 2, 5))
        took = prog.wait_for(lambda l: any("src/widget.c" in x and "Compile" in x for x in l), 3)
        check(took is not None, f"your distcc jobs are listed within the next refresh ({took and round(took, 2)} s)")

        # 5. The daemon goes away: the picture stays with a note; q quits.
        daemon.close()
        took = prog.wait_for(lambda l: any(x.startswith("! ") for x in l), 3)
        check(took is not None, "a lost daemon is said on screen")
        os.unlink(sock_path)
        daemon = FakeDaemon(sock_path, newer)
        took = prog.wait_for(lambda l: not any(x.startswith("! ") for x in l), 4)
        check(took is not None, "--top reconnects to a daemon that is back")
        prog.send(b"q")
        check(wait(lambda: prog.proc.poll() is not None, 3), "q quits")
        check(prog.proc.returncode == 0, f"exit status 0 ({prog.proc.returncode})")
        prog.pump(0.2)
        check(b"\x1b[?1049l" in prog.raw, "the terminal is restored (alternate screen left)")
        prog.stop()
        os.unlink(os.path.join(distcc_dir, "state", "binstate_%d" % os.getpid()))

        full_env = dict(os.environ, **env)
        # 6. stdout not a terminal: plain lines, a frame per change.
        p = subprocess.Popen([hosts, "--top"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        out = Output(p)

        def frames():
            return out.text().split("\n\n")

        check(wait(lambda: len(frames()) >= 2, 5), "non-tty --top prints a plain frame")
        first = frames()[0]
        check("\x1b" not in first and row_of(first.split("\n"), "s4") is not None, "plain lines, no escapes")
        check("q quit" not in first, "no keys line in plain output")
        third = copy.deepcopy(newer)
        third["seq"] = 19
        third["servers"] = third["servers"][:2]
        daemon.push(third)
        check(wait(lambda: len(frames()) >= 3, 3), "a second frame for the change")
        check(row_of(frames()[1].split("\n"), "s4") is None and "seq 19" in frames()[1], "the change is in it")
        p.kill()
        p.wait()

        # 7. --json --watch: each object, one line, as sent.
        p = subprocess.Popen([hosts, "--json", "--watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=full_env)
        out = Output(p)

        def objects():
            return [json.loads(x) for x in out.text().split("\n")[:-1]]

        check(wait(lambda: len(objects()) >= 1 and daemon.watcher_count() >= 1, 5), "--json --watch prints the first object")
        for seq in (20, 21, 22):
            o = copy.deepcopy(third)
            o["seq"] = seq
            daemon.push(o)
        check(wait(lambda: len(objects()) >= 4, 3), "and one line per change")
        check([o["seq"] for o in objects()] == [19, 20, 21, 22], f"in order ({[o['seq'] for o in objects()]})")
        p.kill()
        p.wait()
        check(subprocess.run([hosts, "--watch"], capture_output=True, env=full_env).returncode == 2,
              "--watch without --json is a usage error")
        r = subprocess.run([hosts, "--top", "--no-daemon"], capture_output=True, text=True, env=full_env)
        check(r.returncode == 2 and "--no-daemon" in r.stderr, f"--top --no-daemon is a usage error ({r.stderr.strip()})")

        # Keys from /dev/null: the screen is drawn and --top idles rather
        # than spinning on a stdin that is always readable.
        master, slave = os.openpty()
        p = subprocess.Popen([hosts, "--top"], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                             env=dict(full_env, TERM="xterm"), start_new_session=True)
        os.close(slave)
        os.set_blocking(master, False)
        seen = b""

        def drawn():
            nonlocal seen
            try:
                seen += os.read(master, 65536)
            except (BlockingIOError, OSError):
                pass
            return b"q quit" in seen
        check(wait(drawn, 5), "with stdin from /dev/null the screen is drawn")
        t0 = time.monotonic()
        cpu0 = sum(int(x) for x in open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[11:13])
        wait(lambda: drawn() and time.monotonic() - t0 > 1.5, 2)
        cpu = sum(int(x) for x in open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[11:13]) - cpu0
        check(cpu < 0.5 * os.sysconf("SC_CLK_TCK"), f"and idles ({cpu} ticks of CPU in 1.5 s)")
        p.kill()
        p.wait()
        os.close(master)

        # A terminal terminfo does not know: one line, not a garbled screen.
        prog = ptyscreen.PtyProgram([hosts, "--top"], env=dict(env, TERM="dmdns-no-such-terminal"))
        check(wait(lambda: prog.proc.poll() is not None, 5), "an unknown TERM ends --top")
        prog.pump(0.2)
        check(prog.proc.returncode == 1 and b"not in terminfo" in prog.raw,
              f"with a clear error ({prog.proc.returncode}: {prog.raw[-200:]!r})")
        prog.stop()

        # 8. Without a daemon, or with one that does not know "watch": one clear line, exit 1.
        r = subprocess.run([hosts, "--top", "--socket=" + os.path.join(tmp, "none")], capture_output=True,
                           text=True, timeout=10)
        check(r.returncode == 1 and "--top needs a running distcc-mdnsd" in r.stderr and
              r.stderr.count("\n") == 1, f"no daemon: exit 1, one line ({r.returncode}: {r.stderr.strip()})")
        daemon.close()
        os.unlink(sock_path)
        daemon = FakeDaemon(sock_path, base, watch_op=False)
        r = subprocess.run([hosts, "--top"], capture_output=True, text=True, timeout=10, env=full_env)
        check(r.returncode == 1 and "unknown op 'watch'" in r.stderr,
              f"an older daemon: its refusal is said ({r.stderr.strip()})")

        # 9. A real file: Debian's distcc compiling against a server that
        # accepts and never answers, so that the job stays in its phase;
        # distccmon-text reads the same file.
        daemon.close()
        os.unlink(sock_path)
        daemon = FakeDaemon(sock_path, base)
        if shutil.which("distcc") and shutil.which("distccmon-text") and shutil.which("gcc"):
            real_distcc(hosts, tmp, full_env)
        else:
            print("note: distcc, distccmon-text or gcc missing: the real state file is not checked")
    finally:
        daemon.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
