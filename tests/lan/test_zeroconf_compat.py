#!/usr/bin/env python3
"""lan-zeroconf-compat: a stock distcc with DISTCC_HOSTS=+zeroconf uses our picks.

h1 is a server (distccd + distcc-mdnsd, which advertises ,lzo and ,cpp); h2
runs distcc-mdnsd --zeroconf-compat=$DISTCC_DIR. Asserted: the daemon holds
$DISTCC_DIR/zeroconf/lock, so the stock client forks no browser of its own
(its log never says "Spawning zeroconf daemon" and no other process holds
the lock), the file holds our line with ,lzo (stock's browser never writes
options) but no ,cpp: a plain +zeroconf build, not run under distcc-pump,
compiles every file on h1 without one "did you forget to run under
'distcc-pump'" warning (with ,cpp it printed two per file and preprocessed
locally); with --zeroconf-compat-pump the file offers ,lzo,cpp. Once h1
leaves, the file holds localhost alone and a +zeroconf compile runs here
(an empty file would leave distcc with no hosts at all). When the
daemon stops, the lock is free again and the stock client falls back to its
own browser, as before.
"""

import fcntl
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure  # noqa: E402


def lock_free(path):
    """True when no process holds a write lock on path (tried without blocking)."""
    with open(path, 'r+') as f:
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.lockf(f, fcntl.LOCK_UN)
        return True


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        j1 = srv.start_distccd(jobs=4)
        d1 = dm.start_mdnsd(srv, bins)
        dc = dm.start_mdnsd(cli, bins, f'--zeroconf-compat={cli.distcc_dir}')
        watch = [d1, dc]
        zdir = os.path.join(cli.distcc_dir, 'zeroconf')
        hosts = os.path.join(zdir, 'hosts')

        def our_line():
            try:
                with open(hosts) as f:
                    text = f.read()
            except FileNotFoundError:
                return None
            return text if srv.ip in text else None
        text = lan.wait_until(our_line, 10, watch=watch, what=f'{srv.ip} in {hosts}')
        assert ',lzo' in text and 'localhost' not in text, f'not our line: {text!r}'
        assert ',cpp' not in text, f'pump mode in a plain +zeroconf file: {text!r}'
        assert not lock_free(os.path.join(zdir, 'lock')), 'the daemon does not hold the zeroconf lock'
        figure('zeroconf_compat.hosts_file', len(text.split()), 'hosts')

        name, source = dm.proof_source()
        cli.write(name, source)
        r = cli.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], '+zeroconf')
        assert 'Spawning zeroconf daemon' not in r.stderr, 'the stock client forked its own browser'
        dm.wait_job(j1, cli.ip, name)

        # A plain build of several files: every one on h1, no pump warning.
        names = []
        for k in range(6):
            n, src = dm.proof_source(f'z{k}{os.getpid()}')
            cli.write(n, src)
            names.append(n)
        warnings = 0
        for n in names:
            r = cli.distcc(['gcc', '-c', n, '-o', n[:-2] + '.o'], '+zeroconf')
            warnings += r.stderr.count('distcc-pump')
            assert 'preprocessing locally' not in r.stderr, f'{n}: {r.stderr[-400:]}'
        for n in names:
            dm.wait_job(j1, cli.ip, n)
        figure('zeroconf_compat.pump_warnings', warnings, 'warnings', target=0)
        assert warnings == 0, f'{warnings} pump warnings in a plain +zeroconf build'

        # Asked for: the file offers pump mode where the server does.
        dm.stop_mdnsd(dc)
        watch.remove(dc)
        dc = dm.start_mdnsd(cli, bins, f'--zeroconf-compat={cli.distcc_dir}', '--zeroconf-compat-pump')
        watch.append(dc)

        def pump_line():
            text = our_line()
            return text if text and ',lzo,cpp' in text else None
        lan.wait_until(pump_line, 10, watch=watch, what=f',lzo,cpp in {hosts} with --zeroconf-compat-pump')

        # The only server leaves: the file keeps localhost, so a line of
        # only +zeroconf compiles here instead of finding no hosts at all.
        dm.stop_mdnsd(d1)
        watch.remove(d1)

        def local_only():
            with open(hosts) as f:
                text = f.read()
            return text if text.startswith('localhost') else None
        text = lan.wait_until(local_only, 10, watch=watch, what=f'localhost alone in {hosts}')
        assert len(text.split()) == 1, f'more than localhost: {text!r}'
        name, source = dm.proof_source()
        cli.write(name, source)
        r = cli.distcc(['gcc', '-c', name, '-o', name[:-2] + '.o'], '+zeroconf', check=False)
        assert r.returncode == 0, f'+zeroconf with no server did not compile here: {r.stderr[-400:]}'
        assert os.path.exists(os.path.join(cli.work, name[:-2] + '.o'))

        dm.stop_mdnsd(dc)
        assert lock_free(os.path.join(zdir, 'lock')), 'the lock outlived the daemon'


if __name__ == '__main__':
    lan.run_test(main)
