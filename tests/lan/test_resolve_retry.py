#!/usr/bin/env python3
"""lan-resolve-retry: an instance whose resolver Avahi could not make is resolved later.

Avahi refuses a client more than objects-per-client-max browsers, resolvers
and entry groups, and under load a D-Bus call may fail; Avahi's browser
does not announce the instance again, so without a retry that server would
never be listed while it stays up (seen in the 40-host LAN: "cannot resolve
'distcc-mdns@h20': An unexpected D-Bus error occurred").

h1 runs two stock distccd (ports 3632 and 3633) and publishes one record for
each (stock TXT keys), the second only once the first is resolved; h2's
avahi-daemon allows its clients OBJECTS objects, so that h2's distcc-mdnsd
has room for the first record's resolvers only. Asserted: the second
record's resolver cannot be made (logged) and it is not listed; once the
first record is withdrawn (its resolvers freed), the second is listed within
RETRY_LIMIT (the retries back off from 1 s).
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lan  # noqa: E402
import dmtest as dm  # noqa: E402
from lan import note  # noqa: E402
from dmtest import figure  # noqa: E402

OBJECTS = int(os.environ.get('DMLAN_OBJECTS', '7'))
RETRY_LIMIT = 10.0     # s from the first record's withdrawal to the second listed


def entries(cli):
    """{port: server} of h2's hosts answer (a look: claims nothing)."""
    return {s['port']: s for s in dm.hosts_query(cli)['servers']}


def main(argv):
    lan.check_environment()
    bins = dm.Binaries(argv)
    with lan.Lan(2) as net:
        srv, cli = net.hosts
        cli.stop_avahi()
        cli.start_avahi(conf={'server': {'objects-per-client-max': OBJECTS}})
        srv.start_distccd(jobs=3, listen=srv.ip)
        srv.start_distccd(jobs=3, listen=srv.ip, port=3633, name='distccd-2')
        d = dm.start_mdnsd(cli, bins, advertise='no')
        machine = srv.run(['gcc', '-dumpmachine']).stdout.strip()
        version = srv.run(['gcc', '-dumpversion']).stdout.strip()
        txt = ['txtvers=1', 'cpus=2', 'jobs=3', 'distcc=3.4', f'gnuhost={machine}',
               f'cc_version={version}', f'cc_machine={machine}']
        first = srv.publish('distcc@first', port=3632, txt=txt)
        lan.wait_until(lambda: 3632 in entries(cli), 10, 0.05, what='the first record listed', watch=(d,))
        srv.publish('distcc@second', port=3633, txt=txt)
        assert d.wait_log(r"cannot resolve 'distcc@second'", 10), \
            f'the second resolver was made (raise nothing, lower OBJECTS):\n{d.tail()}'
        assert 3633 not in entries(cli), f'listed without a resolver: {entries(cli)}'

        t0 = time.monotonic()
        first.stop()
        lan.wait_until(lambda: 3633 in entries(cli), 30, 0.05, what='the second record listed',
                       watch=(d,))
        took = time.monotonic() - t0
        figure('resolve_retry.room_to_listed', took, 's', RETRY_LIMIT)
        assert took <= RETRY_LIMIT, f'listed {took:.2f} s after there was room'
        assert d.wait_log(r"resolving 'distcc@second' again in", 1), d.tail()
        note(f'h2 log:\n{d.tail(12)}')
        d.check_alive()


if __name__ == '__main__':
    lan.run_test(main)
