"""distcc on the virtual LAN: a real distccd on a host (foreground, logging
every job) and the stock distcc client run so that a failure to distribute
shows as a failure.

DistccHost is a part of lan_host.Host: its methods run on that host.
"""

from lan_proc import wait_until


class DistccHost:
    """distccd and the distcc client on one host (a mixin of Host: uses its
    spawn, run, listening, ip and lan)."""

    def start_distccd(self, jobs=2, zeroconf=False, port=3632, listen=None, extra=(),
                      wait=True, name='distccd', env=None):
        """Starts a real distccd in the foreground (--daemon --no-detach).

        As root it drops to user distcc or nobody; its TMPDIR is this host's
        1777 tmp. It logs every job to logs/NAME.log (--log-level=info), e.g.
        'COMPILE_OK ... gcc foo.c'. Only compilers in /usr/lib/distcc run.
        wait=True returns once the port listens.
        """
        argv = ['distccd', '--daemon', '--no-detach', '--log-stderr', '--log-level=info',
                '--allow', str(self.lan.subnet), '--listen', listen or self.ip,
                '--port', str(port), '--jobs', str(jobs)]
        if zeroconf:
            argv.append('--zeroconf')
        argv += list(extra)
        proc = self.spawn(argv, name=name, env=env)
        self.distccd = proc
        if wait:
            wait_until(lambda: self.listening(port), 10, 0.02,
                       what=f'{self.name}: distccd listening on {port}', watch=(proc,))
        return proc

    def distcc(self, args, hosts, cwd=None, timeout=60, check=True, env=None):
        """Runs the stock distcc client: `distcc ARGS` with DISTCC_HOSTS=hosts
        (None: leave DISTCC_HOSTS unset), verbose, never falling back to a
        local compile, so a failure to distribute shows as a failure."""
        e = {'DISTCC_VERBOSE': '1', 'DISTCC_FALLBACK': '0', 'DISTCC_SKIP_LOCAL_RETRY': '1',
             'DISTCC_HOSTS': hosts}
        e.update(env or {})
        return self.run(['distcc'] + list(args), cwd=cwd, timeout=timeout, check=check, env=e)

