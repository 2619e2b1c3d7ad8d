"""Run one piece of start-up work on a thread while the main thread waits on the network."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Optional, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """The work starts on start() (at the latest on result()), so the caller picks the moment: a
    thread that imports holds the GIL about half the time and slows whatever the main thread still
    has to do before it waits."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._result: Optional[T] = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="awswif-background", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._work()
        except BaseException as exc:  # handed to the caller of result(), where it is handled
            self._error = exc

    def result(self) -> T:
        self.start()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
