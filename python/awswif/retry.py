"""How long to wait between attempts, and the budget of the whole step: its time (timeoutSeconds)
and the most attempts any one call may make (retryMaxAttempts). Shared by the token request, the
STS calls and credential_process, so that all back off alike and all stop within the budget."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

# As configure-aws-credentials' retry-max-attempts default: with the backoff below, about half a
# minute of retrying a throttled or failing call before giving up, if the step's time allows.
MAX_ATTEMPTS_DEFAULT = 12


class Deadline:
    def __init__(self, seconds: float, max_attempts: int = MAX_ATTEMPTS_DEFAULT) -> None:
        self.seconds = seconds
        self.max_attempts = max_attempts
        self._start = time.monotonic()
        self._end = self._start + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self._start


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, so that many jobs failing together do not retry together.
    `attempts` caps a call below the deadline's own cap (tests use it for speed)."""

    attempts: int = MAX_ATTEMPTS_DEFAULT
    base: float = 0.25
    cap: float = 8.0

    def delay(self, retry: int) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** (retry - 1))
        # Jitter, not security: a pseudo-random generator is right here.
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311  # nosec B311

    def may_retry(self, attempt: int, wait: float, deadline: Deadline) -> bool:
        """After `attempt` failed: whether another one is within both caps and the time left."""
        return attempt < min(self.attempts, deadline.max_attempts) and wait_allowed(wait, deadline)


def wait_allowed(wait: float, deadline: Deadline) -> bool:
    """Only wait when there is still time for a meaningful attempt afterwards."""
    return wait + 1.0 < deadline.remaining()


sleep = time.sleep
