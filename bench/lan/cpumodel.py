#!/usr/bin/env python3
"""Processor-sharing CPU models of the virtual hosts, served to fakecc over unix sockets.

    python3 bench/lan/cpumodel.py DIR LOG NAME:CORES:SPEED [NAME:CORES:SPEED...]

For every host NAME it listens on DIR/NAME.sock. A fakecc compile connects
and sends one line "WORK [CLIENT [UNIT]]" (WORK in seconds of one core at
speed 1); the model answers "done" once the job has received that much
work. While n jobs run on a host each gets speed x min(1, cores / n), like
a CPU shared by the kernel's scheduler, so an overloaded host slows down
every job on it, and nothing burns real CPU. Every finished job is appended
to LOG as one JSON line (host, client, unit, work, start, end on the
time.monotonic() clock, and the jobs running when it arrived), which is how
the benchmark counts jobs per host. It also keeps DIR/NAME.loadavg in
/proc/loadavg's format, its runnable tasks being the jobs on that host's
model CPU: bind-mounted over a host's /proc/loadavg (as lxcfs does) it
makes the host's load its own, not the whole machine's, which every
network namespace of one kernel would otherwise share. Runs until SIGTERM.
"""

import asyncio
import json
import os
import signal
import sys
import time


class Cpu:
    """One host: jobs share cores x speed; a timer fires at the next completion."""

    def __init__(self, name, cores, speed, log, loadavg=None):
        self.name, self.cores, self.speed, self.log = name, cores, speed, log
        self.loadavg = loadavg
        self.jobs = {}          # id -> [remaining work, future, record]
        self.last = time.monotonic()
        self.timer = None
        self.next_id = 0
        self.write_load()

    def rate(self):
        n = len(self.jobs)
        return self.speed * min(1.0, self.cores / n) if n else 0.0

    def advance(self):
        now = time.monotonic()
        r = self.rate()
        for job in self.jobs.values():
            job[0] -= (now - self.last) * r
        self.last = now
        return now

    def write_load(self):
        """The host's /proc/loadavg: its jobs are its runnable tasks (+1, the
        reader, as the kernel counts it). Written in place at a fixed width,
        so that a reader never finds the file empty or half old."""
        if not self.loadavg:
            return
        n = len(self.jobs)
        text = f'{n}.00 {n}.00 {n}.00 {n + 1}/{n + 100} 1'.ljust(63) + '\n'
        fd = os.open(self.loadavg, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, text.encode(), 0)
        finally:
            os.close(fd)

    def reschedule(self):
        self.write_load()
        # Every arrival or departure changes every job's rate: one timer for the
        # earliest completion, recomputed each time.
        if self.timer:
            self.timer.cancel()
            self.timer = None
        if self.jobs:
            left = min(j[0] for j in self.jobs.values())
            self.timer = asyncio.get_running_loop().call_later(max(0.0, left / self.rate()),
                                                               self.finish_due)

    def finish_due(self):
        self.timer = None
        now = self.advance()
        for jid in [k for k, j in self.jobs.items() if j[0] <= 1e-6]:
            _, fut, rec = self.jobs.pop(jid)
            rec['end'] = now
            self.log.write(json.dumps(rec) + '\n')
            if not fut.done():
                fut.set_result(None)
        self.log.flush()
        self.reschedule()

    async def run(self, work, client, unit):
        now = self.advance()
        rec = dict(host=self.name, client=client, unit=unit, work=work, start=now,
                   running=len(self.jobs))
        fut = asyncio.get_running_loop().create_future()
        jid = self.next_id
        self.next_id += 1
        self.jobs[jid] = [work, fut, rec]
        self.reschedule()
        try:
            await fut
        finally:
            if jid in self.jobs:          # the compile went away before its end
                self.advance()
                del self.jobs[jid]
                self.reschedule()


async def serve(cpu, path):
    async def handle(reader, writer):
        try:
            words = (await reader.readline()).decode('ascii', 'replace').split()
            work = float(words[0]) if words else -1.0
            if not 0 <= work < 1e4:
                writer.write(b'error bad work\n')
                return
            await cpu.run(work, words[1] if len(words) > 1 else '',
                          words[2] if len(words) > 2 else '')
            writer.write(b'done\n')
            await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()
    if os.path.exists(path):
        os.unlink(path)
    server = await asyncio.start_unix_server(handle, path, backlog=1024)
    os.chmod(path, 0o666)      # distccd's compiles run as user distcc
    return server


async def main(argv):
    sock_dir, log_path, specs = argv[0], argv[1], argv[2:]
    log = open(log_path, 'a')
    servers = []
    for spec in specs:
        name, cores, speed = spec.split(':')
        cpu = Cpu(name, int(cores), float(speed), log, os.path.join(sock_dir, f'{name}.loadavg'))
        servers.append(await serve(cpu, os.path.join(sock_dir, f'{name}.sock')))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    print('ready', flush=True)
    await stop.wait()
    for s in servers:
        s.close()
    log.close()


if __name__ == '__main__':
    if len(sys.argv) < 4:
        print(__doc__)
        sys.exit(2)
    asyncio.run(main(sys.argv[1:]))
