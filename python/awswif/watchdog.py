"""The step's time limit (the timeoutSeconds input), enforced whatever a network call is doing:
retries stop at the deadline by themselves, and this ends the step if a call hangs past it. It
stands down before the export starts, so a timeout never leaves half the variables set."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class Watchdog:
    def __init__(self, seconds: float, expire: Callable[[str], None]) -> None:
        self.phase = "starting"
        self._expire = expire
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            self._expire(self.phase)
            # The main thread may be blocked in a socket read: end the process from here. The
            # launcher still exits 0; the failure was reported through the logging commands above.
            os._exit(0)

    def disarm(self) -> None:
        """Blocks for good if the deadline has fired: the process is ending."""
        with self._lock:
            self._done = True
            self._timer.cancel()
