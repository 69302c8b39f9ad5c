"""A supervised background task that works, then sleeps until woken or until a timeout passes.

A body that raises (anything but cancellation) is logged at once with its traceback and
started again after an exponential backoff with jitter; it never dies silently. Each loop
tells the process's probes how it is doing: `ready` turns false once it has kept failing for
`failing_after` seconds, `wedged` turns true when it has shown no sign of life (a `clear()`,
`sleep()` or `beat()`) for `wedged_after` seconds while it should be running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

log = logging.getLogger(__name__)
LOOP_RESTARTS = Counter(
    "chime_loop_restarts_total",
    "Background loops restarted after their body raised (or returned), by loop",
    ["loop"],
)


def restart_delay(
    failures: int,
    base: float,
    cap: float,
    rng: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff with jitter: in [½, 1] of `min(cap, base * 2**(failures-1))`, so
    replicas that failed together do not come back in step, yet none retries at once."""
    ceiling = min(cap, base * 2.0 ** max(0, failures - 1))
    return ceiling * (0.5 + rng() / 2)


class BackgroundLoop:
    """Runs `body` as a supervised task; `wake()` cuts its current `sleep()` short.

    The body is expected to loop forever, calling `clear()` before each look for work and
    `sleep()` when there is none; those calls are its heartbeat. A body whose iterations can
    legitimately take longer than `wedged_after` calls `beat()` as it goes.

    Sleeping uses `asyncio.timeout`, not `asyncio.wait_for`: on Python 3.11 `wait_for` can
    swallow a cancellation that arrives as the wait ends, and `stop()` would hang.
    """

    def __init__(
        self,
        name: str,
        body: Callable[[], Coroutine[Any, Any, None]],
        *,
        restart_base_seconds: float = 0.1,
        restart_max_seconds: float = 10.0,
        failing_after: float = 30.0,
        wedged_after: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._body = body
        self.restart_base_seconds = restart_base_seconds
        self.restart_max_seconds = restart_max_seconds
        self.failing_after = failing_after
        self.wedged_after = wedged_after
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_beat = clock()
        self._resting = False  # in sleep() or a restart's backoff: idle, not wedged
        self._looks = 0  # clear() calls since the body last (re)started
        self.failures = 0  # consecutive failed runs of the body
        self._failing_since: float | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        self.beat()
        self._task = asyncio.create_task(self._supervise(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self, *_: object) -> None:
        self._wake.set()

    @property
    def woken(self) -> bool:
        """Woken since the last `clear()`: there may be work a look would find."""
        return self._wake.is_set()

    def clear(self) -> None:
        """Call before looking for work, so a wake during the look is not lost."""
        self._wake.clear()
        self.beat()
        self._looks += 1
        if self._looks >= 2:  # a whole iteration ran since the body (re)started
            self._recovered()

    def beat(self) -> None:
        """The body is alive and working (called by `clear()` and `sleep()` too)."""
        self._last_beat = self._clock()

    async def sleep(self, seconds: float) -> None:
        self._recovered()  # the body got as far as having nothing to do: it works
        self._resting = True
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, seconds)):
                    await self._wake.wait()
        finally:
            self._resting = False
            self.beat()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def ready(self) -> bool:
        """False once the body has kept failing for longer than `failing_after`."""
        since = self._failing_since
        return since is None or self._clock() - since <= self.failing_after

    @property
    def wedged(self) -> bool:
        """True when the body should be running but has shown no sign of life for too long."""
        if not self.running or self._resting:
            return False
        return self._clock() - self._last_beat > self.wedged_after

    def _recovered(self) -> None:
        if self.failures:
            log.info("background loop %s recovered after %d failures", self.name, self.failures)
        self.failures = 0
        self._failing_since = None

    async def _supervise(self) -> None:
        while True:
            self._looks = 0
            try:
                await self._body()
                raise RuntimeError("the loop's body returned")
            except Exception as exc:
                self.failures += 1
                if self._failing_since is None:
                    self._failing_since = self._clock()
                self.last_error = repr(exc)
                LOOP_RESTARTS.labels(self.name).inc()
                delay = restart_delay(
                    self.failures, self.restart_base_seconds, self.restart_max_seconds
                )
                log.exception(
                    "background loop %s failed (%d in a row); restarting in %.2fs",
                    self.name,
                    self.failures,
                    delay,
                )
            self._resting = True
            try:
                await asyncio.sleep(delay)
            finally:
                self._resting = False
                self.beat()


async def work_until_idle(
    loop: BackgroundLoop,
    work: Callable[[], Awaitable[bool]],
    *,
    max_idle: float,
    next_due: Callable[[], Awaitable[datetime | None]] | None = None,
    min_sleep: float = 0.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """The body of a loop that works until idle, then sleeps until the next due time or a
    wake-up, whichever comes first (relay, firing, delivery).

    `work()` returns True while there may be more to do at once (a full batch); then it is
    called again without sleeping. Otherwise the loop sleeps `max_idle` at most, less when
    `next_due()` names a sooner time, and never less than `min_sleep` (work due but not yet
    takeable, such as a paced chat, is looked at again soon, not in a busy loop). A
    `loop.wake()` cuts the sleep short; one that arrives while `work()` runs is not lost.
    """
    while True:
        loop.clear()
        if await work():
            continue
        timeout = max_idle
        if next_due is not None and (due := await next_due()) is not None:
            timeout = min(timeout, max(min_sleep, (due - now()).total_seconds()))
        await loop.sleep(timeout)
