"""A program under a pseudo-terminal, its screen rendered by pyte; and that screen as SVG (for docs/img/top.svg)."""
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from xml.sax.saxutils import escape

try:
    import pyte
except ImportError:  # the caller skips (exit 77) with the reason
    pyte = None


class PtyProgram:
    """@argv on a COLS x ROWS pty; screen() is what a terminal would show."""

    def __init__(self, argv, cols=80, rows=24, env=None, base_env=None):
        """env is added to base_env (default: this process's environment)."""
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = dict(os.environ if base_env is None else base_env)
        full_env.update({"TERM": "xterm", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
        full_env.update(env or {})
        # The pty becomes the program's controlling terminal in its own
        # session, as in a terminal emulator.
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=full_env,
                                     start_new_session=True)
        os.close(slave)
        os.set_blocking(self.master, False)
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = b""

    def pump(self, seconds=0.05):
        """Feeds what the program wrote within @seconds to the screen."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(left, 0))
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: the program exited
                    data = b""
                if data:
                    self.raw = (self.raw + data)[-65536:]
                    self.stream.feed(data)
                    continue
            if left <= 0:
                return

    def lines(self):
        return [line.rstrip() for line in self.screen.display]

    def text(self):
        return "\n".join(self.lines())

    def wait_for(self, predicate, timeout):
        """Polls the screen until @predicate(lines) holds; the time it took, or None."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            self.pump(0.05)
            if predicate(self.lines()):
                return time.monotonic() - start
            if self.proc.poll() is not None:
                self.pump(0.05)
                return time.monotonic() - start if predicate(self.lines()) else None
        return None

    def resize(self, cols, rows):
        """As a terminal window resized: the pty's size, then SIGWINCH."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.screen.resize(rows, cols)
        os.killpg(self.proc.pid, signal.SIGWINCH)

    def send(self, keys):
        os.write(self.master, keys)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        os.close(self.master)


def screen_svg(screen, title="distcc-mdns-hosts --top"):
    """The pyte screen as an SVG picture of a dark terminal (bold kept)."""
    cw, ch, pad = 8.4, 17, 10
    width = int(screen.columns * cw + 2 * pad)
    height = int(screen.lines * ch + 2 * pad + 22)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">',
           f'<title>{escape(title)}</title>',
           f'<rect width="{width}" height="{height}" rx="6" fill="#1e1e1e"/>',
           f'<text x="{pad}" y="16" fill="#9a9a9a" font-family="monospace" font-size="12">{escape(title)}</text>',
           '<g font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14" '
           'fill="#d4d4d4">']
    for y in range(screen.lines):
        row = screen.buffer[y]
        x = 0
        while x < screen.columns:
            # Each run of non-blank cells of one boldness is one text
            # element at its own column: no renderer collapses the blanks.
            if not (row[x].data or " ").strip():
                x += 1
                continue
            bold = row[x].bold
            start = x
            text = ""
            while x < screen.columns and (row[x].data or " ").strip() and row[x].bold == bold:
                text += row[x].data
                x += 1
            weight = ' font-weight="bold" fill="#ffffff"' if bold else ""
            out.append(f'<text x="{pad + start * cw:.1f}" y="{22 + pad + (y + 1) * ch - 4}"'
                       f' textLength="{len(text) * cw:.1f}"{weight}>{escape(text)}</text>')
    out.append("</g></svg>")
    return "\n".join(out) + "\n"
