"""How long to wait between attempts, and the time budget of the whole step. Shared by the token
request and the STS call so that both back off alike and both stop at the step's timeout."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, so that many jobs failing together do not retry together."""

    attempts: int = 5
    base: float = 0.25
    cap: float = 8.0

    def delay(self, retry: int) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** (retry - 1))
        # Jitter, not security: a pseudo-random generator is right here.
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311  # nosec B311


def wait_allowed(wait: float, deadline: Deadline) -> bool:
    """Only wait when there is still time for a meaningful attempt afterwards."""
    return wait + 1.0 < deadline.remaining()


sleep = time.sleep
