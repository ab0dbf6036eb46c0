#!/usr/bin/env python3
"""lan-rogue: a rogue publisher of malformed _distcc._tcp records crashes nothing.

h1: honest server (distccd + distcc-mdnsd). h2: runs distcc-mdnsd and a
dozen stock `avahi-publish -s` services with absurd, malformed and binary TXT
(cpus=-1, jobs=999999, speed=1e9, state=weird, txtvers=2, duplicate keys,
non-UTF-8, port 0, an SRV target that does not resolve, a name with control
characters, an impersonation of distcc@h1), plus a few flapping ones. h3:
client daemon. Every reply must stay well-formed and sane (limit 1..4096,
finite speed <= 1000, state up/drain/down...), the honest server stays listed
with its true values, and every daemon stays alive and answering.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note  # noqa: E402
from dmtest import figure  # noqa: E402

STOCK = ['distcc=3.4', 'gnuhost=x86_64-pc-linux-gnu', 'cc_version=12',
         'cc_machine=x86_64-linux-gnu']
ROGUES = [
    # (name, port, txt, srv host)
    ('distcc@rogue-neg', 3632, ['txtvers=1', 'cpus=-1', 'jobs=999999', *STOCK,
                                'id=rogue-neg', 'speed=1e9', 'state=weird'], None),
    ('distcc@rogue-v2', 3632, ['txtvers=2', 'cpus=4', 'jobs=4', *STOCK, 'id=rogue-v2',
                               'speed=1.0', 'state=up'], None),
    ('distcc@rogue-junk', 3632, [b'\xff\xfe\x80=\x01\x02', b'=novalue', b'cpus', b'jobs=4=4',
                                 b'txtvers=1', b'id=' + b'\xc3\x28' * 60, b'state=up\x07',
                                 b'speed=NaN', b'cc_machine=' + b'A' * 240, b'\x7f' * 200],
     None),
    ('distcc@rogue-huge', 3632, ['txtvers=1', 'cpus=99999999999999999999',
                                 'jobs=4294967297', *STOCK, 'id=' + 'x' * 240, 'run=-5',
                                 'load=nan', 'speed=inf', 'seq=-1', 'inc=abc', 'dmver=999',
                                 'opts=' + ',' * 200, 'cc=' + '%s%n' * 50], None),
    ('distcc@rogue-dup', 3632, ['txtvers=1', 'cpus=2', 'jobs=0', 'JOBS=8', *STOCK,
                                'state=up', 'STATE=down', 'speed=-3', 'speed=2'], None),
    ('distcc@rogue-zero', 3632, ['txtvers=1', 'cpus=0', 'jobs=0', *STOCK, 'speed=0',
                                 'run=0', 'load=-1'], None),
    ('distcc@rogue-float', 3632, ['txtvers=1', 'cpus=2.5', 'jobs=1e3', *STOCK,
                                  'speed=0x10', 'run=1.5', 'load=1e400'], None),
    ('distcc@rogue-port0', 0, ['txtvers=1', 'cpus=2', 'jobs=2', *STOCK], None),
    ('distcc@rogue-empty', 3632, [], None),
    ('distcc@rogue-ghost', 3632, ['txtvers=1', 'cpus=2', 'jobs=2', *STOCK],
     'ghost-nowhere.local'),
    ('distcc@x;"\\\x01\x1b[31m\n\tevil' + 'y' * 30, 3632,
     ['txtvers=1', 'cpus=2', 'jobs=2', *STOCK], None),
    ('distcc@h1', 3632, ['txtvers=1', 'cpus=64', 'jobs=64', *STOCK, 'state=up'], None),
]


def check_all(obj, honest, where, own=False):
    """Sanity of a reply with rogues around; returns the rogue entries listed.
    Every entry at the honest server's address must carry its true values
    (a rogue must not poison it); own: the reply comes from the honest server
    itself, which may list itself as localhost rather than by address."""
    dm.check_reply(obj, where)
    mine = [s for s in obj['servers'] if s['address'] == honest.ip]
    assert own or mine, f'{where}honest server {honest.ip} missing: {obj}'
    for s in mine:
        assert s['slots'] == 4 and s['cpus'] == 2 and s['state'] == 'up', \
            f'{where}an entry at the honest server\'s address carries other values ' \
            f'(rogue record mixed into it?): {s}'
    for e in dm.parse_line(obj['line']):
        assert e['port'] != 0, f'{where}port 0 in the line: {obj["line"]}'
    return [x for x in obj['servers'] if x['address'] != honest.ip]


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3) as net:
        honest, rogue, cli = net.hosts
        honest.start_distccd(jobs=4)
        md1 = dm.start_mdnsd(honest, bins, '--cpus', 2, '--slots', 4)
        md2 = dm.start_mdnsd(rogue, bins)
        md3 = dm.start_mdnsd(cli, bins)
        daemons = (md1, md2, md3)
        browse = cli.browse()
        dm.wait_listed(cli, bins, honest.ip, 10, watch=daemons)
        first = browse.wait_for('distcc@h1', 5)

        t0 = time.monotonic()
        pubs = [rogue.publish(n, port=p, txt=t, host=h, pname=f'rogue{i}')
                for i, (n, p, t, h) in enumerate(ROGUES)]

        def settled():
            return all(p.wait_log(r'Established under name|Failed|failure|rror', 10) for p in pubs)
        settled()
        live = [(r, p) for r, p in zip(ROGUES, pubs)
                if 'Established under name' in p.log() and p.alive()]
        note(f'{len(live)} of {len(ROGUES)} rogue services published; refused by avahi: '
             f'{[r[0] for r, p in zip(ROGUES, pubs) if (r, p) not in live]}')
        for (n, port, txt, host), p in live:
            real = re.search(r"Established under name '(.*?)'\n", p.log(), re.S).group(1)
            browse.wait_event('+', real, 0, 10)      # in the stock view on h3
        figure('rogue.publish_to_all_rogues_browsable_on_client', time.monotonic() - t0, 's')

        # Flapping rogues: published and withdrawn at once, a few times.
        for i in range(3):
            f = rogue.publish(f'distcc@flap{i}', txt=['txtvers=1', 'cpus=2', 'jobs=2', *STOCK],
                              pname=f'flap{i}')
            f.wait_log('Established under name|rror', 10)
            rogue.kill(f)

        # Every reply over 3 s (bounded count) must be sane; daemons must live.
        polls = 0
        listed = {}
        t_end = time.monotonic() + 3
        while time.monotonic() < t_end and polls < 100:
            for p in daemons:
                p.check_alive()
            obj = dm.hosts_json(cli, bins)
            for x in check_all(obj, honest, 'h3 --json: '):
                listed[x['name']] = x
            r = dm.query(cli, {'op': 'hosts'})
            assert r.get('ok') is True, r
            check_all(r, honest, 'h3 socket: ')
            polls += 1
            time.sleep(0.1)
        note(f'{polls} polls sane; rogue entries listed on h3:')
        for name, x in sorted(listed.items()):
            note(f'  {name!r}: {x}')
        excluded = [r[0] for r, _ in live if not any(n.startswith(r[0]) for n in listed)]
        note(f'rogues excluded: {excluded}')
        figure('rogue.rogue_entries_listed', len(listed), 'entries')

        for host in (honest, rogue):
            check_all(dm.hosts_json(host, bins), honest, f'{host.name} --json: ',
                      own=host is honest)
        obj = dm.hosts_json(cli, bins, '--no-daemon')
        check_all(obj, honest, 'h3 browse mode: ')
        st = cli.run([bins.hosts, '--status'], timeout=15)
        assert honest.ip in st.stdout or 'distcc@h1' in st.stdout, st.stdout
        # Names come from the network: --status must not pass control
        # characters (terminal escapes) through to the terminal.
        bad = sorted({hex(ord(c)) for c in st.stdout if ord(c) < 32 and c not in '\n\t'
                      or ord(c) == 127})
        assert not bad, f'--status prints raw control characters {bad}:\n{st.stdout!r}'
        for p in daemons:
            p.check_alive()
        assert any(r['address'] == honest.ip and r['txt'].get('id') == first['txt'].get('id')
                   for r in map(browse.get, browse.names()) if r), \
            f'the stock view on h3 lost the honest server: {browse.services}'
        view = sorted((n, r['address']) for n, r in ((n, browse.get(n)) for n in browse.names())
                      if r)
        note(f'stock view on h3: {view}')


if __name__ == '__main__':
    lan.run_test(main)
