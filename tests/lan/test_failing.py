#!/usr/bin/env python3
"""lan-failing: servers the client's distcc recently failed on leave its lines.

h1 is a good server; h2 runs a distccd that accepts connections but refuses
every job from the client (its --allow names another subnet) while its
distcc-mdnsd advertises it as up, the way a broken server looks alive. h3 is
a client whose daemon also keeps $DISTCC_DIR/hosts. Both servers are listed
at first. One compile sent to h2 alone fails, and distcc writes its backoff
file. Asserted: from then on `distcc-mdns-hosts` leaves h2 out (its --json
says why) and keeps h1, the hosts file drops h2 without a restart, a real
compile through the hosts file runs on h1, and once distcc's backoff period
is over (DISTCC_BACKOFF_PERIOD, here a few seconds) h2 is listed again.
"""

import glob
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from dmtest import figure, note  # noqa: E402

PERIOD = 4   # seconds of backoff: long enough to look, short enough to wait out


def refusing_distccd(host):
    """A real distccd on host that accepts but refuses every client: --allow
    names a subnet no host of this LAN is in."""
    argv = ['distccd', '--daemon', '--no-detach', '--log-stderr', '--log-level=info',
            '--allow', '10.255.255.0/24', '--listen', host.ip, '--port', '3632', '--jobs', '4']
    proc = host.spawn(argv, name='distccd-refusing')
    lan.wait_until(lambda: host.listening(3632), 10, 0.02, what=f'{host.name}: distccd listening',
                   watch=(proc,))
    return proc


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(3) as net:
        good, bad, cli = net.hosts
        j_good = good.start_distccd(jobs=4)
        j_bad = refusing_distccd(bad)
        # Forced: in auto mode h2's daemon sees that distccd admits nobody
        # here and does not advertise it (lan-addr-loopback), or advertises
        # its --allow, and clients leave it out from the start.
        watch = [dm.start_mdnsd(good, bins), dm.start_mdnsd(bad, bins, advertise='yes')]
        hosts_file = os.path.join(cli.distcc_dir, 'hosts')
        env = {'DISTCC_BACKOFF_PERIOD': str(PERIOD)}
        watch.append(dm.start_mdnsd(cli, bins, f'--hosts-file={hosts_file}', env=env))

        def file_hosts():
            with open(hosts_file) as f:
                return dm.line_hosts(f.read().strip())

        def both(hosts):
            return good.ip in hosts and bad.ip in hosts
        lan.wait_until(lambda: both(dm.line_hosts(dm.hosts_line(cli, bins, env=env))), 10, watch=watch,
                       what='both servers in the line')
        lan.wait_until(lambda: both(file_hosts()), 10, watch=watch, what='both servers in the hosts file')

        # A job on h2 alone fails: distcc backs off from it.
        name, text = dm.proof_source('fail')
        cli.write(name, text)
        r = cli.distcc(['gcc', '-c', name, '-o', 'fail.o'], hosts=f'{bad.ip}/4', cwd=cli.work, check=False,
                       env=env)
        assert r.returncode != 0, f'the refusing server compiled: {r.stderr[-400:]}'
        t_fail = time.monotonic()
        backoffs = [os.path.basename(p) for p in glob.glob(os.path.join(cli.distcc_dir, 'lock', 'backoff_*'))]
        assert f'backoff_tcp_{bad.ip}_3632_0' in backoffs, f'distcc wrote no backoff for {bad.ip}: {backoffs}'

        obj = dm.hosts_json(cli, bins, env=env)
        hosts = dm.line_hosts(obj['line'])
        assert good.ip in hosts and bad.ip not in hosts, f'failing server still listed: {obj["line"]}'
        s = dm.find_server(obj, bad.ip)
        assert s is not None and s['excluded'].startswith('failing'), f'no reason given: {s}'
        figure('failing.line_without_failing', time.monotonic() - t_fail, 's')

        lan.wait_until(lambda: bad.ip not in file_hosts(), 5, watch=watch,
                       what=f'{bad.ip} out of the hosts file')
        figure('failing.file_without_failing', time.monotonic() - t_fail, 's')
        note(f'hosts file while h2 fails: {" ".join(file_hosts())}')

        # distcc reading the kept file compiles on the good server.
        name, text = dm.proof_source('good')
        cli.write(name, text)
        r = cli.distcc(['gcc', '-c', name, '-o', 'good.o'], hosts=None, cwd=cli.work, env=env)
        dm.wait_job(j_good, cli.ip, name, 10)
        assert not [j for j in dm.distccd_jobs(j_bad) if j['status'] == 'COMPILE_OK'], 'h2 compiled'

        # The backoff is over: h2 is worth a try again.
        lan.wait_until(lambda: bad.ip in dm.line_hosts(dm.hosts_line(cli, bins, env=env)), PERIOD + 5,
                       interval=0.2, watch=watch, what=f'{bad.ip} back in the line after the backoff')
        figure('failing.back_after', time.monotonic() - t_fail, 's', PERIOD)
        lan.wait_until(lambda: bad.ip in file_hosts(), 5, watch=watch, what=f'{bad.ip} back in the hosts file')


if __name__ == '__main__':
    lan.run_test(main)
