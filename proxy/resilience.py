"""Client-side resilience for upstream calls: a per-endpoint circuit breaker and the retry
backoff schedule. Kept apart from `Upstream` so each rule is small and testable alone."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class CircuitBreaker:
    """Opens after `failures` consecutive failures; while open every call is refused at
    once; after `open_seconds` one probe call is let through (half-open): its success
    closes the circuit, its failure opens it again."""

    def __init__(
        self, failures: int, open_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.open_seconds = open_seconds
        self.clock = clock
        self.consecutive = 0
        self.opened_at: float | None = None
        self.probing = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.open_seconds:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """May a call go out now? (In half-open state only one probe at a time.)"""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.probing:
            self.probing = True
            return True
        return False

    def retry_after(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.open_seconds - (self.clock() - self.opened_at))

    def success(self) -> None:
        self.consecutive = 0
        self.opened_at = None
        self.probing = False

    def failure(self) -> None:
        self.consecutive += 1
        if self.probing or self.consecutive >= self.failures:
            self.opened_at = self.clock()
        self.probing = False


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Pause before retry number `attempt` (1-based): exponential, capped, full jitter on
    the upper half so that replicas retrying together spread out."""
    ceiling = min(maximum, initial * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)
