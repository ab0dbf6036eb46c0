"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe).

The browser reads commands on its fd 3 and writes answers and events on its
fd 4, each a JSON message ended by a NUL byte. Every network request a page
makes is recorded (Network.requestWillBeSent), and the browser runs with a
proxy that refuses everything except the hosts the test names, so a page
that fetched from anywhere else would both show in the record and fail.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time


class CdpError(Exception):
    pass


def find_chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """One headless browser. wrap(argv) may run it elsewhere (a LAN host's
    namespaces); allow lists the host[:port]s the proxy rule lets through."""

    def __init__(self, allow, wrap=None, env=None, log_path=None):
        binary = find_chromium()
        if not binary:
            raise CdpError('chromium is not installed (Debian: apt-get install chromium)')
        self.profile = tempfile.mkdtemp(prefix='dmdns-chromium-')
        self.messages = []  # every event received, in order
        self.next_id = 0
        self.buffer = b''
        # fds above 4, so that moving them to 3 and 4 in the child cannot
        # clobber one with the other.
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        hi_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        hi_w = fcntl.fcntl(res_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(res_w)
        argv = [binary, '--headless=new', '--disable-gpu', '--remote-debugging-pipe',
                f'--user-data-dir={self.profile}', '--no-first-run', '--no-default-browser-check',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-extensions', '--disable-default-apps', '--mute-audio',
                '--disable-dev-shm-usage',
                # Everything goes to a proxy that does not exist, but the
                # daemon under test: any other fetch fails and is seen.
                '--proxy-server=http://127.0.0.1:9',
                # (<-loopback>: loopback too, which Chromium otherwise
                # never sends to a proxy.)
                '--proxy-bypass-list=' + ';'.join(['<-loopback>'] + list(allow)),
                'about:blank']
        if os.geteuid() == 0:
            argv.insert(1, '--no-sandbox')  # Chromium refuses to run as root with its sandbox
        if wrap:
            argv = wrap(argv)

        def child():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)
        log = open(log_path or os.devnull, 'ab')
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=env, preexec_fn=child, pass_fds=(3, 4),
                                     start_new_session=True)
        log.close()
        os.close(hi_r)
        os.close(hi_w)
        self.wfd = cmd_w
        self.rfd = res_r

    # -- the protocol

    def _send(self, message):
        data = json.dumps(message).encode() + b'\0'
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]

    def _read_one(self, deadline):
        while b'\0' not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.rfd], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise CdpError(f'chromium closed its pipe (exit {self.proc.poll()})')
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b'\0', 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None, timeout=15):
        self.next_id += 1
        mid = self.next_id
        msg = {'id': mid, 'method': method, 'params': params or {}}
        if session:
            msg['sessionId'] = session
        self._send(msg)
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_one(deadline)
            if m is None:
                raise CdpError(f'no answer to {method} within {timeout}s')
            if m.get('id') == mid:
                if 'error' in m:
                    raise CdpError(f'{method}: {m["error"]}')
                return m.get('result', {})
            self.messages.append(m)

    def pump(self, seconds):
        """Reads events for up to seconds (no command outstanding)."""
        deadline = time.monotonic() + seconds
        while True:
            m = self._read_one(deadline)
            if m is None:
                return
            self.messages.append(m)

    # -- pages

    def open(self, url, width=1280, height=900):
        """A new tab on url, its network recorded; returns its session id."""
        target = self.call('Target.createTarget', {'url': 'about:blank'})['targetId']
        session = self.call('Target.attachToTarget', {'targetId': target, 'flatten': True})['sessionId']
        self.call('Network.enable', session=session)
        self.call('Page.enable', session=session)
        self.call('Emulation.setDeviceMetricsOverride',
                  {'width': width, 'height': height, 'deviceScaleFactor': 1, 'mobile': False},
                  session=session)
        self.call('Page.navigate', {'url': url}, session=session)
        return session

    def evaluate(self, session, expression, timeout=15):
        r = self.call('Runtime.evaluate', {'expression': expression, 'returnByValue': True},
                      session=session, timeout=timeout)
        if 'exceptionDetails' in r:
            raise CdpError(f'{expression[:60]}: {r["exceptionDetails"]}')
        return r.get('result', {}).get('value')

    def screenshot(self, session, path):
        """The page as rendered, cut below its content."""
        height = self.evaluate(session, 'Math.ceil(document.body.getBoundingClientRect().bottom)') or 900
        width = self.evaluate(session, 'document.documentElement.clientWidth') or 1280
        clip = {'x': 0, 'y': 0, 'width': width, 'height': height + 8, 'scale': 1}
        data = self.call('Page.captureScreenshot', {'format': 'png', 'clip': clip},
                         session=session)['data']
        with open(path, 'wb') as f:
            f.write(base64.b64decode(data))

    def requests(self):
        """Every URL a page asked for, in order (the page itself included)."""
        return [m['params']['request']['url'] for m in self.messages
                if m.get('method') == 'Network.requestWillBeSent']

    def failed(self):
        """Requests that failed, with Chromium's reason."""
        return [m['params'].get('errorText') for m in self.messages
                if m.get('method') == 'Network.loadingFailed']

    def console_errors(self):
        return [m['params'] for m in self.messages
                if m.get('method') in ('Runtime.exceptionThrown', 'Log.entryAdded')
                and (m.get('method') == 'Runtime.exceptionThrown'
                     or m['params'].get('entry', {}).get('level') == 'error')]

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self._send({'id': 0, 'method': 'Browser.close'})
                except OSError:
                    pass
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        finally:
            for fd in (self.wfd, self.rfd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
