"""Running a virtual-LAN test: run_test turns main(argv) into an exit status
(0 pass, 1 fail, 77 skip), SIGINT/SIGTERM/SIGHUP become Interrupted so that
cleanup runs on the way out, and every Lan still open is closed at the end.
"""

import signal
import sys
import threading

from lan_proc import Interrupted, Skip, note

SKIP = 77

# Every Lan not closed yet (lan_net.Lan adds and removes itself), so that
# run_test can close them whatever main did.
active = []


def _on_signal(signum, frame):
    raise Interrupted(signum)


def install_signal_handlers():
    """SIGINT/SIGTERM/SIGHUP raise Interrupted so `with Lan()` cleans up."""
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, _on_signal)


def run_test(main, argv=None):
    """Runs main(argv) and exits: 0 pass, 1 fail (with reason), 77 skip.

    AssertionError, LanError and any other exception fail the test; every
    Lan still open is closed (logs printed first). Signals clean up too.
    """
    install_signal_handlers()
    argv = sys.argv[1:] if argv is None else argv
    code = 0
    try:
        main(argv)
        note('PASS')
    except Skip as e:
        print(f'SKIP: {e}', flush=True)
        code = SKIP
    except Interrupted as e:
        print(f'INTERRUPTED by {e}', flush=True)
        code = 128 + e.signum
    except AssertionError as e:
        print(f'FAIL: {e}', flush=True)
        code = 1
    except Exception as e:
        import traceback
        traceback.print_exc()
        print(f'FAIL: {type(e).__name__}: {e}', flush=True)
        code = 1
    finally:
        for net in list(active):
            net.close(failed=code not in (0, SKIP))
    sys.exit(code)
