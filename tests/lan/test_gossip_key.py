#!/usr/bin/env python3
"""lan-gossip-key: --key-file authenticates gossip.

h1 is a server (distccd + distcc-mdnsd), h2 and h3 clients, all three with
one key from `distcc-mdnsd --generate-key` (a 0600 file each); h4 runs the
daemon with another key, h5 without a key; h6 runs no daemon and forges
datagrams with tests/lan/gossip_wire.py.

Asserted:
  - --generate-key prints 64 hex characters and a newline, a new key each
    time; a key file with mode 0644, with 63 characters, with a non-hex
    character, or missing makes distcc-mdnsd exit non-zero at once, naming
    the file and what is wrong;
  - the keyed daemons converge: h2 and h3 list h1 alive by gossip;
  - h4 (other key) never hears h1's gossip: its view of h1 (listed through
    mDNS) has liveness null all through a window of several gossip periods
    and push-pulls; h4 counts the keyed datagrams as unauthenticated, and
    the keyed daemons count h4's and h5's datagrams as unauthenticated;
  - forged LEAVEs for h1's node id (untagged, tagged with a wrong key,
    tagged with zeros), sent from h6 to h1, h2 and h3 with h1's incarnation
    and higher ones, are all counted as unauthenticated, h1 stays alive in
    h2's and h3's lines throughout, and h1 does not take a new incarnation
    (it would if it had believed one of them);
  - control: the same LEAVE tagged with the right key is accepted by h1
    (so the forged ones above were well-formed, reached the daemon and were
    refused for their tag only), which says its own word again and keeps
    its incarnation;
  - replay: a push-pull request tagged with the right key (a key holder
    under an id of its own) gets an answer from h1 once; the same bytes
    sent again, and an older sequence after a newer one, get none and are
    counted as replayed;
  - rotation: h1 restarted with the old key and a new one (signing with the
    old) and h3 with the new key and the old one (signing with the new)
    hear each other, h2 (old key only) still hears h1, and h2 counts h3's
    new-key datagrams as unauthenticated.
The view of h5 (no key: the protocol trusts the LAN, so it may accept the
keyed datagrams without checking their tag) is printed, not asserted.
"""

import os
import re
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
import gossip_wire as gw  # noqa: E402
from dmtest import figure  # noqa: E402

FORGED_EACH = 8       # datagrams of each forged kind to each target
WINDOW = 4.5          # seconds of observation: two push-pull intervals and more


def generate_key(host, bins):
    r = host.run([bins.mdnsd, '--generate-key'], check=False, timeout=10)
    assert r.returncode == 0, f'--generate-key exited {r.returncode}: {r.stderr}'
    assert re.fullmatch(r'[0-9a-f]{64}\n', r.stdout), f'--generate-key printed {r.stdout!r}'
    return r.stdout


def check_bad_key(host, bins, path, *words):
    """distcc-mdnsd with this key file exits non-zero, naming it and why."""
    t0 = time.monotonic()
    r = host.run([bins.mdnsd, f'--key-file={path}', '--advertise=no',
                  '--socket=/run/badkey/socket'], check=False, timeout=10)
    dt = time.monotonic() - t0
    msg = (r.stderr + r.stdout).strip()
    assert r.returncode != 0, f'distcc-mdnsd accepted the key file {path}: {msg}'
    assert path in msg and any(w in msg for w in words), \
        f'unclear message for the bad key file {path} (want it and one of {words}): {msg!r}'
    dm.note(f'bad key file refused in {dt:.2f}s: {msg.splitlines()[-1]!r}')
    return dt


def forger_script(targets, port, node, incarnation, wrong_key_hex, right_key_hex, mode):
    """A python program for h6: sends LEAVEs for `node` to every target."""
    return f'''
import os, socket, sys, time
sys.dont_write_bytecode = True
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import gossip_wire as gw
node, inc = {node}, {incarnation}
wrong = bytes.fromhex({wrong_key_hex!r})
right = bytes.fromhex({right_key_hex!r})
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if {mode!r} == 'forged':
    kinds = []
    for n, i in enumerate((inc, inc + 1, inc + 1000, 2**63)):
        recs = [gw.leave(node, i)]
        kinds += [('untagged', gw.packet(node, i, recs)),
                  ('untagged_other_sender', gw.packet(gw.random_id(), 1, recs)),
                  ('wrong_key', gw.packet(node, i, recs, key=wrong)),
                  ('zero_tag', gw.packet(node, i, recs, raw_tag=bytes(32))),
                  ('push_pull_untagged', gw.packet(node, i, recs, flags=gw.F_PUSH_PULL))]
elif {mode!r} == 'right':
    # Distinct datagrams (one sender, growing sequences): a repeat would be
    # a replay.
    me = gw.random_id()
    kinds = [('right_key', gw.packet(me, 1, [gw.leave(node, inc)], key=right, sequence=r + 1))
             for r in range({FORGED_EACH})]
else:
    # A key holder's push-pull request under an id of its own; then the
    # same bytes again, and an older sequence after a newer one.
    me = gw.random_id()
    first = gw.packet(me, 1, [gw.pad(90)], flags=gw.F_PUSH_PULL, key=right, sequence=500)
    older = gw.packet(me, 1, [gw.pad(90)], flags=gw.F_PUSH_PULL, key=right, sequence=400)
    s.settimeout(1.0)
    answers = {{}}
    for kind, data in (('first', first), ('replayed', first), ('replayed_again', first),
                       ('older', older)):
        s.sendto(data, ({targets!r}[0], {port}))
        got = 0
        deadline = time.monotonic() + 1.0
        for _ in range(100):
            if time.monotonic() >= deadline:
                break
            try:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                s.recvfrom(2048)
                got += 1
            except socket.timeout:
                break
        answers[kind] = got
    print("ANSWERS", answers, flush=True)
    sys.exit(0)
sent = {{}}
t0 = time.monotonic()
k = 0
for rep in range({FORGED_EACH} if {mode!r} == 'forged' else 1):
    for kind, data in kinds:
        for t in {targets!r}:
            s.sendto(data, (t, {port}))
            sent[kind] = sent.get(kind, 0) + 1
            k += 1
            # 40 datagrams/s per target: well under the 100/s rate limit
            ahead = t0 + k / (40.0 * len({targets!r})) - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
print("SENT", sum(sent.values()) // len({targets!r}), sent, flush=True)
'''


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(6) as net:
        srv, c1, c2, other, plain, forger = net.hosts
        keyed = (srv, c1, c2)

        # ---- keys
        key = generate_key(srv, bins)
        key2 = generate_key(other, bins)
        assert key != key2, 'two --generate-key runs printed the same key'
        paths = {h.name: h.write('gossip.key', key, 0o600) for h in keyed}
        other_path = other.write('gossip.key', key2, 0o600)

        # ---- bad key files
        bad = {
            'mode': plain.write('bad/mode.key', key, 0o644),
            'short': plain.write('bad/short.key', key[:63] + '\n', 0o600),
            'nonhex': plain.write('bad/nonhex.key', 'g' + key[1:], 0o600),
        }
        refuse = [check_bad_key(plain, bins, bad['mode'], '644', 'mode'),
                  check_bad_key(plain, bins, bad['short'], '63', '64'),
                  check_bad_key(plain, bins, bad['nonhex'], 'hex'),
                  check_bad_key(plain, bins, os.path.join(plain.work, 'bad/missing.key'),
                                'exist', 'No such')]
        figure('gossip.bad_key_exit_max', max(refuse), 's', 1.0)

        # ---- daemons
        srv.start_distccd(jobs=2)
        daemons = [dm.start_mdnsd(h, bins, f'--key-file={paths[h.name]}') for h in keyed]
        daemons.append(dm.start_mdnsd(other, bins, f'--key-file={other_path}'))
        daemons.append(dm.start_mdnsd(plain, bins))
        for c in (c1, c2):
            lan.wait_until(lambda c=c: dm.all_alive(c, [srv.ip]), 15, 0.05, watch=daemons,
                           what=f'{c.name} (same key) listing {srv.ip} alive by gossip')
        # From the start of h1's daemon (the others started after it).
        figure('gossip.keyed_convergence', time.monotonic() - daemons[0].t_start, 's', 3.0)
        for h in (other, plain):
            dm.wait_listed(h, bins, srv.ip, 10, watch=daemons)   # through mDNS

        # Everybody gossips to everybody: the keyed daemons refuse h4's and
        # h5's datagrams, h4 refuses theirs. h4 and h5 have no news of their
        # own, only a pull every 2 s to one of their 4 peers: a given keyed
        # daemon waits (3/4)^2 per 2 s, 0.02% odds of none in 30 s.
        for h in keyed + (other,):
            lan.wait_until(lambda h=h: dm.gossip_stats(h)['unauthenticated'] > 0, 30, 0.1,
                           watch=daemons, what=f'{h.name} counting unauthenticated datagrams')

        views = {'other': {}, 'plain': {}}

        def look():
            for label, h in (('other', other), ('plain', plain)):
                s = dm.find_server(dm.hosts_query(h), srv.ip)
                v = s['liveness'] if s else 'unlisted'
                views[label][v] = views[label].get(v, 0) + 1
            assert set(views['other']) <= {None}, \
                f'h4 (another key) heard h1 by gossip: liveness {views["other"]}'
        n = dm.observe(WINDOW, look, 0.1)
        figure('gossip.other_key_view_of_server', str(views['other']), f'of {n} polls')
        figure('gossip.no_key_view_of_server', str(views['plain']), f'of {n} polls')
        st = {h.name: dm.gossip_stats(h) for h in keyed + (other, plain)}
        for name, g in st.items():
            figure(f'gossip.{name}_unauthenticated', g['unauthenticated'], 'datagrams')
        assert st['h4']['accepted'] == 0 and st['h4']['servers'] == 0, \
            f'h4 (another key) accepted gossip: {st["h4"]}'

        # ---- forged LEAVEs for h1
        node = gw.node_id(st['h1']['node'])
        inc0 = st['h1']['incarnation']
        port = st['h1']['port']
        before = {h.name: dm.gossip_stats(h) for h in keyed}
        wrong = os.urandom(32).hex()
        fp = forger.spawn(['python3', '-c', forger_script([h.ip for h in keyed], port, node, inc0,
                                                          wrong, key.strip(), 'forged')],
                          name='forger')
        listed = {c.name: 0 for c in (c1, c2)}

        def still_alive():
            for c in (c1, c2):
                r = dm.hosts_query(c)
                assert dm.live_server(r, srv.ip), (f'{c.name} dropped {srv.ip} after forged LEAVEs: '
                                                   f'{dm.find_server(r, srv.ip)}')
                listed[c.name] += 1
        # Through the forging and a while after it.
        lan.wait_until(lambda: (still_alive(), not fp.alive())[1], 30, 0.05, watch=daemons,
                       what='the forger to finish')
        assert fp.wait(5) == 0, f'forger failed: {fp.tail()}'
        per_target = int(fp.wait_log(r'^SENT (\d+)', 5).group(1))
        dm.observe(2.0, still_alive, 0.05)
        after = {h.name: dm.gossip_stats(h) for h in keyed}
        for h in keyed:
            # Forgeries with absurd counters are refused by the decoder
            # before the tag is looked at: invalid, not unauthenticated.
            got = (after[h.name]['unauthenticated'] - before[h.name]['unauthenticated'] +
                   after[h.name]['invalid'] - before[h.name]['invalid'])
            figure(f'gossip.forged_leaves_refused_{h.name}', got, f'of {per_target}')
            assert got >= per_target, (f'{h.name} counted {got} unauthenticated datagrams, but '
                                       f'{per_target} forged ones were sent to it: {after[h.name]}')
        assert after['h1']['incarnation'] == inc0, \
            f'h1 took a new incarnation ({inc0} -> {after["h1"]["incarnation"]}): it believed a forgery'
        figure('gossip.polls_alive_during_forgery', sum(listed.values()), 'polls')

        # ---- control: a correctly tagged LEAVE is accepted, and refuted
        before = dm.gossip_stats(srv)
        fp2 = forger.spawn(['python3', '-c', forger_script([srv.ip], port, node, inc0, wrong,
                                                           key.strip(), 'right')],
                           name='forger-right-key')
        assert fp2.wait(10) == 0, f'forger failed: {fp2.tail()}'
        sent = int(fp2.wait_log(r'^SENT (\d+)', 5).group(1))
        after = dm.gossip_stats(srv)
        assert after['unauthenticated'] == before['unauthenticated'] and \
            after['accepted'] - before['accepted'] >= sent, \
            f'h1 did not accept {sent} correctly tagged LEAVEs: {before} -> {after}'
        assert after['incarnation'] == inc0, f'h1 changed its incarnation: {inc0} -> {after["incarnation"]}'
        for c in (c1, c2):
            lan.wait_until(lambda c=c: dm.all_alive(c, [srv.ip]), 10, 0.05, watch=daemons,
                           what=f'{c.name} listing {srv.ip} alive after the refutation')

        # ---- replay: a keyed datagram counts once
        before = dm.gossip_stats(srv)
        fp3 = forger.spawn(['python3', '-c', forger_script([srv.ip], port, node, inc0, wrong,
                                                           key.strip(), 'replay')],
                           name='replayer')
        assert fp3.wait(15) == 0, f'replayer failed: {fp3.tail()}'
        answers = eval(fp3.wait_log(r'^ANSWERS (.*)$', 5).group(1))   # a dict the script printed
        after = dm.gossip_stats(srv)
        figure('gossip.replay_answers', str(answers), 'datagrams')
        assert answers['first'] >= 1, f'h1 did not answer a correctly tagged request: {answers}'
        assert answers['replayed'] == answers['replayed_again'] == answers['older'] == 0, \
            f'h1 answered a replayed request: {answers}'
        assert after['replayed'] - before['replayed'] >= 3, \
            f'h1 counted {after["replayed"] - before["replayed"]} replays of 3: {after}'

        # ---- rotation: two keys, the first signs, either verifies
        new = generate_key(c2, bins)
        new_paths = {h.name: h.write('gossip-new.key', new, 0o600) for h in (srv, c2)}
        for i, h in enumerate(keyed):
            if h is c1:
                continue
            dm.stop_mdnsd(daemons[i])
            first, second = (paths[h.name], new_paths[h.name]) if h is srv else \
                (new_paths[h.name], paths[h.name])
            daemons[i] = dm.start_mdnsd(h, bins, f'--key-file={first}', f'--key-file={second}')
        assert dm.gossip_stats(srv)['keys'] == 2
        before = dm.gossip_stats(c1)
        for c in (c1, c2):
            lan.wait_until(lambda c=c: dm.all_alive(c, [srv.ip]), 15, 0.05, watch=daemons,
                           what=f'{c.name} listing {srv.ip} alive by gossip during the rotation')
        lan.wait_until(lambda: dm.gossip_stats(c1)['unauthenticated'] > before['unauthenticated'], 15,
                       0.1, watch=daemons, what='h2 (old key only) refusing h3\'s new-key datagrams')
        lan.wait_until(lambda: dm.gossip_stats(srv)['accepted'] > 0 and
                       dm.gossip_stats(c2)['servers'] >= 1, 15, 0.1, watch=daemons,
                       what='h1 and h3 hearing each other across the rotation')


if __name__ == '__main__':
    lan.run_test(main)
