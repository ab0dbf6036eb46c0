#!/usr/bin/env python3
"""A FAKE distcc-mdnsd / distcc-mdns-hosts, to test the LAN tests themselves.

NOT the product: a slow, minimal stand-in built on the stock avahi-publish
and avahi-browse commands that implements the interface the LAN tests
expect (options, TXT keys, subtype, JSON, socket protocol). When a LAN test
fails against the real binaries but passes against this fake, the
difference is in the binaries (or the fake is too lenient).

    tests/lan/fake_mdns.py --install DIR    # DIR/distcc-mdnsd, DIR/distcc-mdns-hosts
    python3 tests/lan/test_appear.py DIR/distcc-mdnsd DIR/distcc-mdns-hosts

Acts as the daemon or the tool depending on the name it is run under.
"""

import argparse
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time

MAX_REQ = 4096
VALID_STATES = ('up', 'drain', 'down')


def log(msg):
    print(f'fake-mdns[{os.getpid()}] {msg}', file=sys.stderr, flush=True)


def default_socket():
    return os.environ.get('DISTCC_MDNS_SOCKET') or '/run/distcc-mdns/socket'


def _int(v, lo, hi):
    if v is None or not re.fullmatch(r'\d{1,9}', v):
        return None
    n = int(v)
    return n if lo <= n <= hi else None


def unescape(s):
    return re.sub(r'\\(\d{3}|.)', lambda m: chr(int(m.group(1))) if m.group(1).isdigit()
                  else m.group(1), s)


def parse_browse_line(line):
    """avahi-browse -p line -> (kind, name, record-or-None)."""
    f = line.rstrip('\n').split(';')
    if len(f) < 6 or f[2] != 'IPv4':
        return None
    kind, name = f[0], unescape(f[3])
    if kind != '=' or len(f) < 10:
        return (kind, name, None)
    items = [unescape(x) for x in re.findall(r'"((?:[^"\\]|\\.)*)"', ';'.join(f[9:]))]
    txt = {}
    for it in items:
        k, eq, v = it.partition('=')
        if eq:
            txt.setdefault(k.lower(), v)
    return (kind, name, record(name, f[7], f[8], txt))


def record(name, address, port, txt):
    """Validated server entry, or None when the record is unusable."""
    port = _int(port, 1, 65535)
    if port is None or txt.get('txtvers') != '1':
        return None
    jobs = _int(txt.get('jobs'), 1, 4096)
    if jobs is None:
        return None
    cpus = _int(txt.get('cpus'), 1, 4096)
    stock = 'id' not in txt
    speed = None
    if not stock:
        try:
            speed = float(txt.get('speed', '1'))
        except ValueError:
            speed = None
        if speed is None or not math.isfinite(speed) or not 0 < speed <= 1000:
            return None
    state = txt.get('state', 'up')
    if state not in VALID_STATES:
        return None
    ident = txt.get('id')
    if ident is not None and not re.fullmatch(r'[A-Za-z0-9._-]{1,64}', ident):
        return None
    run = _int(txt.get('run'), 0, 1_000_000)
    return dict(name=name, id=ident, address=address, port=port, cpus=cpus, slots=jobs,
                running=None if stock else (run or 0), load=None if stock else 0.0,
                speed=speed if not stock else 1.0, state=state, stock=stock, limit=jobs,
                seen=time.monotonic())


def compose(servers, own_addresses=()):
    ups = sorted((s for s in servers if s['state'] == 'up' and
                  s['address'] not in own_addresses), key=lambda s: s['address'])
    # One distccd per address:port: several records for it (stock and ours,
    # or a rogue) are merged, ours first.
    picked, seen = [], set()
    for s in sorted(ups, key=lambda s: (s['address'], s['port'], s['stock'], -s['limit'])):
        if (s['address'], s['port']) not in seen:
            seen.add((s['address'], s['port']))
            picked.append(s)
    ups = picked
    toks = [s['address'] + (f':{s["port"]}' if s['port'] != 3632 else '') + f'/{s["limit"]}'
            for s in ups]
    toks.append('localhost/2')
    out = []
    now = time.monotonic()
    for s in ups:
        e = {k: v for k, v in s.items() if k != 'seen'}
        e['age_ms'] = None if s['stock'] else int((now - s['seen']) * 1000)
        out.append(e)
    return {'line': ' '.join(toks), 'jobs': sum(s['limit'] for s in ups) + 2, 'servers': out}


def own_addresses():
    r = subprocess.run(['ip', '-4', '-o', 'addr'], capture_output=True, text=True)
    return {m.group(1) for m in re.finditer(r'inet ([\d.]+)/', r.stdout)}


def listening(port):
    for fn in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    x = line.split()
                    if x[3] == '0A' and int(x[1].rsplit(':', 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


# ---------------------------------------------------------------- daemon

class Daemon:
    def __init__(self, a):
        self.a = a
        self.table = {}
        self.lock = threading.Lock()
        self.pub = None
        self.stop = threading.Event()
        self.id = secrets.token_hex(8)
        self.mine = own_addresses()

    def txt(self):
        cpus = self.a.cpus or os.cpu_count()
        slots = self.a.slots or cpus + 2
        mach = subprocess.run(['gcc', '-dumpmachine'], capture_output=True,
                              text=True).stdout.strip()
        ver = subprocess.run(['gcc', '-dumpversion'], capture_output=True,
                             text=True).stdout.strip()
        self.subtype = '_' + re.sub(r'[^a-z0-9]', '-', f'{mach}--{ver}') + '._sub._distcc._tcp'
        return ['txtvers=1', f'cpus={cpus}', f'jobs={slots}', 'distcc=3.4',
                'gnuhost=x86_64-pc-linux-gnu', f'cc_version={ver}', f'cc_machine={mach}',
                'dmver=1', f'id={self.id}', 'speed=1.0', 'state=up', 'run=0']

    def advertiser(self):
        txt = self.txt()
        base = f'distcc@{socket.gethostname()}'
        name, n = base, 1
        out = None
        while not self.stop.is_set():
            want = self.a.advertise == 'yes' or (self.a.advertise == 'auto' and
                                                 listening(self.a.distcc_port))
            alive = self.pub is not None and self.pub.poll() is None
            if want and not alive:
                if out is not None and out.seek(0) == 0 and b'ollision' in out.read():
                    n += 1                  # taken on this very host (stock distccd)
                    name = f'{base} #{n}'
                out = open(f'/tmp/fake-mdns-{os.getpid()}.log', 'w+b')
                os.unlink(out.name)
                self.pub = subprocess.Popen(['avahi-publish', '-s', '--sub', self.subtype, name,
                                             '_distcc._tcp', str(self.a.distcc_port)] + txt,
                                            stdout=out, stderr=out)
                log(f'advertising {name!r}')
            elif not want and alive:
                self.pub.terminate()
                self.pub.wait()
                log('withdrawn')
            self.stop.wait(0.2)

    def resolver(self):
        while not self.stop.is_set():
            p = subprocess.Popen(['avahi-browse', '-prk', '_distcc._tcp'],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.browser = p
            for raw in p.stdout:
                ev = parse_browse_line(raw.decode('utf-8', 'replace'))
                if not ev:
                    continue
                kind, name, rec = ev
                with self.lock:
                    if kind == '=' and rec:
                        self.table[name] = rec
                    elif kind == '=' or kind == '-':
                        self.table.pop(name, None)
            p.wait()
            with self.lock:
                self.table.clear()
            self.stop.wait(0.3)

    def reply(self, line):
        try:
            req = json.loads(line)
        except (ValueError, RecursionError) as e:
            return {'ok': False, 'error': f'not JSON: {type(e).__name__}'}
        if not isinstance(req, dict) or req.get('op') != 'hosts':
            return {'ok': False, 'error': 'unknown or missing op'}
        with self.lock:
            r = compose(self.table.values(), self.mine)
        r['ok'] = True
        return r

    def serve_conn(self, c):
        buf = b''
        try:
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while b'\n' in buf:
                    line, buf = buf.split(b'\n', 1)
                    if len(line) > MAX_REQ:
                        r = {'ok': False, 'error': 'request too long'}
                    else:
                        r = self.reply(line.decode('utf-8', 'replace'))
                    c.sendall(json.dumps(r).encode() + b'\n')
                if len(buf) > MAX_REQ:
                    c.sendall(b'{"ok":false,"error":"request too long"}\n')
                    break
        except OSError:
            pass
        finally:
            c.close()

    def run(self):
        path = self.a.socket or default_socket()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(128)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

        def term(*_):
            self.stop.set()
            if self.pub and self.pub.poll() is None:
                self.pub.terminate()
                self.pub.wait()
            if getattr(self, 'browser', None):
                self.browser.kill()
            os.unlink(path)
            log('SIGTERM: withdrawn, exiting')
            os._exit(0)
        signal.signal(signal.SIGTERM, term)
        if self.a.advertise != 'no':
            threading.Thread(target=self.advertiser, daemon=True).start()
        if not self.a.no_resolve:
            threading.Thread(target=self.resolver, daemon=True).start()
        log(f'listening on {path}')
        while True:
            c, _ = srv.accept()
            threading.Thread(target=self.serve_conn, args=(c,), daemon=True).start()


def mdnsd(argv):
    p = argparse.ArgumentParser(prog='distcc-mdnsd')
    p.add_argument('--advertise', choices=('auto', 'yes', 'no'), default='auto')
    p.add_argument('--distcc-port', type=int, default=3632)
    p.add_argument('--cpus', type=int)
    p.add_argument('--slots', type=int)
    p.add_argument('--no-resolve', action='store_true')
    p.add_argument('--socket')
    p.add_argument('-v', action='count', default=0)
    Daemon(p.parse_args(argv)).run()


# ---------------------------------------------------------------- tool

def hosts(argv):
    p = argparse.ArgumentParser(prog='distcc-mdns-hosts')
    p.add_argument('--wait', type=float, default=1.5)
    p.add_argument('-j', action='store_true')
    p.add_argument('--json', action='store_true')
    p.add_argument('--status', action='store_true')
    p.add_argument('--socket')
    a = p.parse_args(argv)
    r = None
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(a.socket or default_socket())
        s.sendall(b'{"op":"hosts"}\n')
        buf = b''
        while b'\n' not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        r = json.loads(buf.split(b'\n')[0])
        r.pop('ok', None)
        r['source'] = 'daemon'
    except (OSError, ValueError):
        table = {}
        try:
            out = subprocess.run(['avahi-browse', '-prtk', '_distcc._tcp'], capture_output=True,
                                 text=True, errors='replace', timeout=a.wait).stdout
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b'').decode('utf-8', 'replace')
        for line in out.splitlines():
            ev = parse_browse_line(line)
            if ev and ev[0] == '=' and ev[2]:
                table[ev[1]] = ev[2]
        r = compose(table.values(), own_addresses())
        r['source'] = 'browse'
    if a.json:
        print(json.dumps(r))
    elif a.j:
        print(r['jobs'])
    elif a.status:
        print(f'{"NAME":30} {"ADDRESS":15} {"LIMIT":>5} STATE')
        for s in r['servers']:
            name = ''.join(c if c.isprintable() else '?' for c in s['name'])
            print(f'{name[:30]:30} {s["address"]:15} {s["limit"]:5} {s["state"]}')
    else:
        print(r['line'])


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--install':
        me = os.path.abspath(__file__)
        os.makedirs(sys.argv[2], exist_ok=True)
        for n in ('distcc-mdnsd', 'distcc-mdns-hosts'):
            dst = os.path.join(sys.argv[2], n)
            if os.path.lexists(dst):
                os.unlink(dst)
            os.symlink(me, dst)
        print(f'{sys.argv[2]}/distcc-mdnsd and distcc-mdns-hosts -> {me}')
    elif os.path.basename(sys.argv[0]) == 'distcc-mdnsd':
        mdnsd(sys.argv[1:])
    else:
        hosts(sys.argv[1:])
