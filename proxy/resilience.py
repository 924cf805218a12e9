"""Client-side resilience for upstream calls: a per-endpoint circuit breaker and the retry
backoff schedule. Kept apart from `Upstream` so each rule is small and testable alone."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable


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

    def release(self) -> None:
        """A call let through ended without a verdict (cancelled): let the next probe go."""
        self.probing = False


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Pause before retry number `attempt` (1-based): exponential, capped, full jitter on
    the upper half so that replicas retrying together spread out."""
    ceiling = min(maximum, initial * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)


class ByteBudget:
    """Bounds the bytes of upstream answers being read at once, so memory stays flat under
    load: 32 callers listing 10,000 objects would otherwise buffer 32 x 1.8 MB together.

    A reader waits, first come first served, until its `size` fits; meanwhile the bytes wait
    in the kernel's socket buffer, not in the proxy. A size larger than the whole budget is
    let through when nothing else is being read, so any allowed answer is readable. The CPU
    spent per answer is the same, so throughput does not drop: the proxy parses one answer
    at a time anyway.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.in_use = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def _fits(self, size: int) -> bool:
        return self.in_use == 0 or self.in_use + size <= self.total

    async def acquire(self, size: int) -> None:
        if not self._waiters and self._fits(size):
            self.in_use += size
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release(size)  # granted just as we were cancelled: give it back
            else:
                with contextlib.suppress(ValueError):  # _wake() may have dropped it already
                    self._waiters.remove(entry)
                self._wake()
            raise

    def release(self, size: int) -> None:
        self.in_use -= size
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._fits(self._waiters[0][0]):
            size, waiter = self._waiters.popleft()
            if waiter.done():  # cancelled while queued; its acquire() cleans up
                continue
            self.in_use += size
            waiter.set_result(None)

    @contextlib.asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        await self.acquire(size)
        try:
            yield
        finally:
            self.release(size)
