"""Runs the calling test again under /usr/bin/python3 when prometheus_client is missing.

Debian's python3-prometheus-client is only on /usr/bin/python3's path; a
python3 found first on PATH (a pyenv shim, as meson finds here) lacks it.
Import this module before anything that needs the package.
"""

import os
import sys


def reexec():
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        if os.path.realpath(sys.executable) != os.path.realpath('/usr/bin/python3') \
                and os.access('/usr/bin/python3', os.X_OK):
            os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv)


reexec()
