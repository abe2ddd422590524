"""Whether this worker can reach Redis, told once per change, and how long to wait meanwhile.

A Redis restart (or failover) must not kill a long-lived worker (issue 11, defect 2): its poll
loop, reaper and control channel report failures and successes here; the first failure logs
``redis unavailable`` and the first success after it ``redis back`` (once per outage, not once
per poll), and every component waits :meth:`RedisHealth.delay_seconds` between attempts: an
exponential backoff with "equal jitter" (half fixed, half random, as in the AWS Architecture
Blog's "Exponential Backoff and Jitter"), bounded by ``max_delay_seconds``, so a fleet of workers
does not reconnect in lockstep.
"""

from __future__ import annotations

import random
import time

import structlog
from redis.exceptions import RedisError

log = structlog.get_logger("worker.redis")

BASE_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 5.0

REDIS_OUTAGE_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)
"""What a Redis outage raises: redis-py's errors, and socket errors that escape them on some
paths."""


class RedisHealth:
    """This process's view of Redis: up, or down since a moment.

    Args:
        base_delay_seconds: The first backoff delay.
        max_delay_seconds: The longest backoff delay.
    """

    def __init__(
        self,
        *,
        base_delay_seconds: float = BASE_DELAY_SECONDS,
        max_delay_seconds: float = MAX_DELAY_SECONDS,
    ) -> None:
        self.base_delay_seconds = base_delay_seconds
        self.max_delay_seconds = max_delay_seconds
        self.down_since: float | None = None
        self.failures = 0

    @property
    def up(self) -> bool:
        """No failure since the last success."""
        return self.down_since is None

    def failed(self, exc: BaseException, *, source: str) -> None:
        """Record a failed Redis call; logs ``redis unavailable`` when Redis was up.

        Args:
            exc: The error (its text is logged).
            source: Which component saw it (``poll``, ``reaper``, ``control``, ``job``).
        """
        self.failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("redis unavailable", source=source, error=str(exc) or type(exc).__name__)

    def ok(self) -> None:
        """Record a successful Redis call; logs ``redis back`` when Redis was down."""
        if self.down_since is not None:
            log.info("redis back", down_seconds=round(time.monotonic() - self.down_since, 3))
        self.down_since = None
        self.failures = 0

    def delay_seconds(self) -> float:
        """The wait before the next attempt: ``min(max, base * 2**(failures-1))``, half of it
        fixed and half random."""
        exponent = max(0, min(self.failures - 1, 32))
        ceiling = float(min(self.max_delay_seconds, self.base_delay_seconds * 2.0**exponent))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


__all__ = ["MAX_DELAY_SECONDS", "REDIS_OUTAGE_ERRORS", "RedisHealth"]
