"""Glue shared by the LAN tests: our binaries on lan.py hosts.

The tests are written against the interface of distcc-mdnsd and
distcc-mdns-hosts described in man/ and tests/lan/README.md; each test
script is run as `python3 test_X.py MDNSD HOSTS` (meson passes the paths).
"""

import json
import math
import os
import re
import secrets
import socket
import time

import lan
from lan import note, wait_until

DEFAULT_SOCKET = '/run/distcc-mdns/socket'
STOCK_TXT_KEYS = ('txtvers', 'cpus', 'jobs', 'distcc', 'gnuhost', 'cc_version', 'cc_machine')
OUR_TXT_KEYS = ('id', 'speed', 'state')
SERVER_KEYS = ('name', 'id', 'address', 'port', 'cpus', 'slots', 'running', 'load', 'speed',
               'state', 'age_ms', 'stock', 'limit', 'excluded')
NULLABLE = {'address', 'excluded', 'id', 'cpus', 'slots', 'running', 'load', 'speed', 'age_ms'}
STATES = ('up', 'drain', 'down')

_figures = []


def figure(name, value, unit='s', target=None):
    """Prints a measured figure in a greppable form: FIGURE name = value unit."""
    t = f' (target <= {target:g} {unit})' if target is not None else ''
    ok = '' if target is None or value is None or value <= target else '  ** over target **'
    v = 'n/a' if value is None else (f'{value:.3f}' if isinstance(value, float) else value)
    print(f'FIGURE {name} = {v} {unit}{t}{ok}', flush=True)
    _figures.append((name, value, unit, target))


class Binaries:
    """The paths of distcc-mdnsd and distcc-mdns-hosts from argv."""

    def __init__(self, argv):
        if len(argv) < 2:
            raise AssertionError('usage: test.py PATH/distcc-mdnsd PATH/distcc-mdns-hosts')
        self.mdnsd, self.hosts = (os.path.abspath(a) for a in argv[:2])
        for p in (self.mdnsd, self.hosts):
            if not (os.path.isfile(p) and os.access(p, os.X_OK)):
                raise AssertionError(f'{p} is not built: these tests need a built tree '
                                     f'(meson compile -C BUILDDIR)')


def runner_path(argv, test):
    """distcc-mdns-run's path, the third argument of a test that runs builds."""
    if len(argv) < 3 or not os.access(argv[2], os.X_OK):
        raise AssertionError(f'usage: {test} DISTCC-MDNSD DISTCC-MDNS-HOSTS DISTCC-MDNS-RUN')
    return os.path.abspath(argv[2])


def run_trace(path):
    """The records of distcc-mdns-run's --trace so far (whole lines only)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith('\n')]


# ---------------------------------------------------------------- daemon

def socket_path(host, sock=None):
    """The test's (root namespace) path of a host's query socket."""
    return host.path(sock or DEFAULT_SOCKET)


def start_mdnsd(host, bins, *args, advertise='auto', sock=None, env=None, wait=True,
                name='distcc-mdnsd', timeout=10):
    """Starts distcc-mdnsd -v in the foreground on host; returns its Proc.

    wait=True returns once its socket answers {"op":"hosts"} with ok:true.
    The Proc has .t_start (monotonic time of the spawn).
    """
    args = [str(a) for a in args]
    # Every host of a virtual LAN shares the same CPUs: measured speeds would
    # only say how busy they were at start. Tests give speeds explicitly.
    if not any(a.startswith('--speed') for a in args):
        args.append('--speed=1')
    argv = [bins.mdnsd, f'--advertise={advertise}', '-v'] + args
    if sock:
        argv += ['--socket', sock]
    t0 = time.monotonic()
    proc = host.spawn(argv, name=name, env=env)
    proc.t_start = t0
    proc.sock = sock
    if wait:
        def ready():
            try:
                return query(host, {'op': 'hosts'}, sock=sock, timeout=2).get('ok')
            except (OSError, ValueError):
                return False
        wait_until(ready, timeout, 0.02, what=f'{host.name}: distcc-mdnsd socket answering',
                   watch=(proc,))
        note(f'{host.name}: distcc-mdnsd pid {proc.pid} answering after '
             f'{time.monotonic() - t0:.3f}s')
    return proc


def stop_mdnsd(proc, timeout=5):
    """SIGTERM; asserts a clean exit 0 within timeout. Returns seconds taken."""
    t0 = time.monotonic()
    proc.send_signal(15)
    try:
        rc = proc.wait(timeout)
    except lan.Timeout:
        raise AssertionError(f'{proc.host.name}: distcc-mdnsd did not exit within {timeout}s '
                             f'of SIGTERM') from None
    dt = time.monotonic() - t0
    assert rc == 0, f'{proc.host.name}: distcc-mdnsd exited with {rc} after SIGTERM (want 0)'
    return dt


def exchange(path, payload, timeout=5):
    """Sends payload (bytes) to the unix socket at path (as the test sees
    it); returns all bytes read until the first newline, EOF or timeout."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        # With a timeout the socket is non-blocking, and connect() to a
        # listener whose backlog is full fails with EAGAIN at once where a
        # blocking client would wait: wait as it would, within the timeout.
        while True:
            try:
                s.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)
        s.sendall(payload)
        buf = b''
        while b'\n' not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf
    finally:
        s.close()


def query_raw(host, payload, sock=None, timeout=5):
    """Sends payload (bytes) to a host's query socket; returns all bytes read
    until the first newline, EOF or timeout."""
    return exchange(socket_path(host, sock), payload, timeout)


def query(host, req, sock=None, timeout=5):
    """One request (dict or str) -> parsed reply dict."""
    data = (json.dumps(req) if isinstance(req, dict) else req).encode()
    if not data.endswith(b'\n'):
        data += b'\n'
    raw = query_raw(host, data, sock, timeout)
    line = raw.split(b'\n', 1)[0]
    if not line:
        raise ValueError(f'no reply to {data[:80]!r}')
    return json.loads(line)


# ---------------------------------------------------------------- hosts tool

def check_server(s, where=''):
    """Asserts one server entry of the JSON output is well-formed and sane."""
    missing = [k for k in SERVER_KEYS if k not in s]
    assert not missing, f'{where}server entry lacks {missing}: {s}'
    for k in SERVER_KEYS:
        if s[k] is None:
            assert k in NULLABLE, f'{where}{k} is null: {s}'
    assert isinstance(s['name'], str) and s['name'], f'{where}bad name: {s}'
    assert isinstance(s['port'], int) and 1 <= s['port'] <= 65535, f'{where}bad port: {s}'
    if s.get('excluded') is None:
        # Listed in the line: an address and a limit it can use.
        assert isinstance(s['address'], str) and s['address'], f'{where}bad address: {s}'
        assert isinstance(s['limit'], int) and 1 <= s['limit'] <= 4096, f'{where}bad limit: {s}'
    else:
        # Left out: no limit, and a reason.
        assert isinstance(s['excluded'], str) and s['excluded'], f'{where}bad excluded: {s}'
        assert s['limit'] == 0, f'{where}left out yet limited: {s}'
    assert isinstance(s['stock'], bool), f'{where}bad stock: {s}'
    assert s['state'] in STATES, f'{where}bad state: {s}'
    v = s['cpus']        # 0 or null: unknown (a stock TXT may lack it or carry junk)
    assert v is None or (isinstance(v, int) and 0 <= v <= 4096), f'{where}bad cpus: {s}'
    v = s['slots']
    assert v is None or (isinstance(v, int) and 1 <= v <= 4096), f'{where}bad slots: {s}'
    v = s['running']
    assert v is None or (isinstance(v, int) and 0 <= v <= 1_000_000), f'{where}bad running: {s}'
    for k in ('load', 'speed'):
        v = s[k]
        assert v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)
                             and math.isfinite(v) and v >= 0), f'{where}bad {k}: {s}'
    v = s['speed']
    assert v is None or 0 < v <= 1000, f'{where}absurd speed: {s}'
    v = s['age_ms']
    assert v is None or (isinstance(v, int) and v >= 0), f'{where}bad age_ms: {s}'
    assert s['id'] is None or isinstance(s['id'], str), f'{where}bad id: {s}'


def check_reply(obj, where=''):
    """Asserts the shape shared by --json output and socket replies."""
    assert isinstance(obj, dict), f'{where}not an object: {obj!r}'
    assert isinstance(obj.get('line'), str), f'{where}no line: {obj}'
    assert isinstance(obj.get('jobs'), int) and obj['jobs'] >= 1, f'{where}bad jobs: {obj}'
    assert isinstance(obj.get('servers'), list), f'{where}no servers: {obj}'
    for s in obj['servers']:
        check_server(s, where)
    entries = parse_line(obj['line'])
    keys = [(e['host'], e['port']) for e in entries]
    dup = sorted({k for k in keys if keys.count(k) > 1}, key=str)
    assert not dup, (f'{where}hosts listed twice in the line (double slots): {dup}: '
                     f'{obj["line"]}')


def hosts_json(host, bins, *args, timeout=15, env=None):
    """Runs distcc-mdns-hosts --json on host; returns the checked dict
    (plus 'elapsed': seconds the command took)."""
    t0 = time.monotonic()
    r = host.run([bins.hosts, '--json'] + [str(a) for a in args], timeout=timeout, env=env,
                 check=False)
    dt = time.monotonic() - t0
    assert r.returncode == 0, (f'{host.name}: distcc-mdns-hosts --json exited '
                               f'{r.returncode}: {r.stderr.strip()}')
    try:
        obj = json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f'{host.name}: distcc-mdns-hosts --json printed no JSON: '
                             f'{r.stdout!r} {r.stderr!r}') from None
    check_reply(obj, f'{host.name} --json: ')
    assert obj.get('source') in ('daemon', 'browse'), f'bad source: {obj}'
    obj['elapsed'] = dt
    return obj


def hosts_line(host, bins, *args, timeout=15, env=None):
    r = host.run([bins.hosts] + [str(a) for a in args], timeout=timeout, env=env, check=False)
    assert r.returncode == 0, (f'{host.name}: distcc-mdns-hosts exited {r.returncode}: '
                               f'{r.stderr.strip()}')
    line = r.stdout.strip()
    assert '\n' not in line, f'{host.name}: more than one line: {r.stdout!r}'
    parse_line(line)
    return line


_TCP = re.compile(r'^(?P<host>\[[^\]]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d+))?'
                  r'(?:/(?P<limit>\d+))?(?P<opts>(?:,(?:lzo|cpp|auth(?:=[^,\s]+)?))*)$')


def parse_line(line):
    """Parses a distcc hosts line (the subset we write); returns a list of
    dicts {host, port, limit, opts} (localhost has port None)."""
    out = []
    for tok in line.split('#', 1)[0].split():
        if tok in ('+zeroconf', '--randomize') or re.fullmatch(r'--localslots(_cpp)?=\d+', tok):
            continue
        m = _TCP.match(tok)
        assert m, f'bad token {tok!r} in hosts line {line!r}'
        limit = int(m.group('limit')) if m.group('limit') else (2 if m.group('host') ==
                                                                 'localhost' else 4)
        assert 1 <= limit <= 4096, f'limit out of range in {tok!r}'
        port = int(m.group('port')) if m.group('port') else (None if m.group('host') ==
                                                             'localhost' else 3632)
        assert port is None or 1 <= port <= 65535, f'bad port in {tok!r}'
        out.append(dict(host=m.group('host'), port=port, limit=limit,
                        opts=[o for o in m.group('opts').split(',') if o]))
    return out


def line_hosts(line):
    return [e['host'] for e in parse_line(line)]


def find_server(obj, address):
    return next((s for s in obj['servers'] if s['address'] == address), None)


def wait_listed(host, bins, address, timeout, present=True, args=(), interval=0.05,
                watch=()):
    """Polls distcc-mdns-hosts --json on host until `address` is in (or, with
    present=False, out of) its line. Returns the JSON of the last poll."""
    def look():
        obj = hosts_json(host, bins, *args)
        there = address in line_hosts(obj['line'])
        return obj if there == present else None
    what = f'{address} {"in" if present else "out of"} the hosts line on {host.name}'
    return wait_until(look, timeout, interval, what=what, watch=watch)


# ---------------------------------------------------------------- distcc

_SUMMARY = re.compile(r'\(dcc_job_summary\) client: (?P<client>[\d.]+):\d+ (?P<status>\S+) '
                      r'exit:(?P<exit>-?\d+).* time:(?P<ms>\d+)ms (?P<cmd>.*)$', re.M)


def start_farm(servers, client, bins, slots, *client_args):
    """distccd --jobs @slots and distcc-mdnsd on each of @servers, then
    distcc-mdnsd with @client_args on @client, which lists every server
    before this returns. Returns the daemons' Procs, the client's last."""
    watch = []
    for s in servers:
        s.start_distccd(jobs=slots)
        watch.append(start_mdnsd(s, bins))
    watch.append(start_mdnsd(client, bins, *client_args))
    for s in servers:
        wait_listed(client, bins, s.ip, 10, watch=watch)
    return watch


def distccd_jobs(proc):
    """Job summaries in a distccd log: [{client, status, exit, ms, cmd}]."""
    return [m.groupdict() for m in _SUMMARY.finditer(proc.log())]


def wait_job(server_proc, client_ip, filename, timeout=10):
    """Waits until the server's distccd log shows COMPILE_OK of filename from client_ip."""
    def look():
        for j in distccd_jobs(server_proc):
            if (j['client'] == client_ip and j['status'] == 'COMPILE_OK'
                    and j['cmd'].split()[-1:] == [filename]):
                return j
        return None
    return wait_until(look, timeout, 0.05, what=f'{server_proc.host.name} distccd log: '
                      f'COMPILE_OK {filename} from {client_ip}')


def proof_source(tag=None):
    tag = tag or secrets.token_hex(4)
    name = f'proof_{tag}.c'
    text = (f'/* distcc-mdns LAN test {tag} */\n'
            f'int proof_{tag}(int x) {{ return x * 3 + {len(tag)}; }}\n')
    return name, text


def expected_subtype(host):
    """The subtype stock distcc browses for this host's default gcc."""
    machine = host.run(['gcc', '-dumpmachine']).stdout.strip()
    version = host.run(['gcc', '-dumpversion']).stdout.strip()
    s = re.sub(r'[^a-z0-9]', '-', f'{machine}--{version}'.lower())
    return f'_{s}._sub._distcc._tcp'


def txt_size(raw_items):
    return sum(1 + len(x.encode('utf-8', 'surrogateescape')) for x in raw_items)


# ---------------------------------------------------------------- gossip
# Helpers of the gossip tests (test_gossip_*.py, bench/lan-gossip.py).

LIVENESS = ('alive', 'suspect', 'dead', 'left', None)


def hosts_query(host, local_slots=1, want=None, reserve=None, sock=None, timeout=5):
    """{"op":"hosts"} on a host's daemon socket; returns the reply, checked
    like --json output plus the gossip keys. With want=N the daemon reserves
    the N jobs (unless reserve=False); without, the query only looks
    ("reserve": false is sent, so that polls never steer other clients)."""
    req = {'op': 'hosts', 'local_slots': local_slots}
    if want is not None:
        req['want'] = want
    if reserve is None and want is None:
        reserve = False
    if reserve is not None:
        req['reserve'] = reserve
    r = query(host, req, sock=sock, timeout=timeout)
    check_reply(r, f'{host.name} hosts query: ')
    for s in r['servers']:
        assert s.get('liveness', 'missing') in LIVENESS, f'{host.name}: bad liveness: {s}'
        v = s.get('reserved')
        assert isinstance(v, int) and v >= 0, f'{host.name}: bad reserved: {s}'
        v = s.get('expected', 0)
        assert isinstance(v, int) and v >= 0, f'{host.name}: bad expected: {s}'
    return r


def gossip_stats(host, sock=None, timeout=5):
    """{"op":"stats"} -> its "gossip" object (None when gossip is off)."""
    r = query(host, {'op': 'stats'}, sock=sock, timeout=timeout)
    assert isinstance(r, dict) and 'gossip' in r, f'{host.name}: stats reply lacks "gossip": {r}'
    g = r['gossip']
    if g is not None:
        for k in ('received', 'accepted', 'invalid', 'unauthenticated', 'rate_limited', 'looped',
                  'sent', 'bytes_sent', 'bytes_received', 'servers', 'reservations', 'demands',
                  'evicted', 'incarnation', 'port'):
            assert isinstance(g.get(k), int) and g[k] >= 0, f'{host.name}: stats {k}: {g}'
    return g


def live_server(reply, address):
    """The entry of address in a hosts reply when it is in the line with
    liveness alive, else None."""
    s = find_server(reply, address)
    if s is None or s.get('excluded') is not None or s.get('liveness') != 'alive':
        return None
    return s if address in line_hosts(reply['line']) else None


def all_alive(host, addresses, max_age_ms=2000):
    """True when host's daemon lists every address, alive, sampled at most
    max_age_ms ago."""
    r = hosts_query(host)
    for a in addresses:
        s = live_server(r, a)
        if s is None or s['age_ms'] is None or s['age_ms'] > max_age_ms:
            return False
    return True


def vm_rss_kib(pid):
    """VmRSS of a process in KiB, from /proc/PID/status."""
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError(f'no VmRSS in /proc/{pid}/status')


def percentile(values, q):
    """The q-th percentile (0-100, nearest rank) of a non-empty list."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def sanitized(binary):
    """True when binary was built with AddressSanitizer (its RSS is larger):
    linked statically it holds the runtime's name, dynamically it needs
    libasan and calls __asan_init."""
    with open(binary, 'rb') as f:
        data = f.read()
    return any(m in data for m in (b'AddressSanitizer', b'__asan_init', b'libasan.so'))


def observe(seconds, check, interval=0.05):
    """Calls check() repeatedly for `seconds` (an observation window, not a
    wait): bounded in count and time. Returns the number of calls."""
    end = time.monotonic() + seconds
    n = 0
    for n in range(1, int(seconds / interval) + 2):
        check()
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(interval, left))
    return n
