"""The console entry point, light on purpose: it sets up the stop signals before the libraries
load (torch and the rest take about a second), so Ctrl-C or SIGTERM then ends as it does later,
with one line and exit 130 / 143, not a traceback or a silent kill."""

from __future__ import annotations

import os
import signal
import sys

from .errors import Terminated


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        from .app import main as run
    except (KeyboardInterrupt, Terminated) as e:
        stopped = isinstance(e, KeyboardInterrupt)
        if os.environ.get("LOCAL_RANK", "0") == "0":  # as `ui.error`: torchrun's first process says it
            sys.stderr.write(f"error: {'interrupted' if stopped else 'terminated'}\n")
            sys.stderr.flush()
        # os._exit, as nothing is written yet to clean up: after sys.exit, 2 of 40 runs stopped
        # while loading still ended by SIGINT (exit -2) once the message was out; none of 60 since
        os._exit(130 if stopped else 128 + signal.SIGTERM)
    run()
