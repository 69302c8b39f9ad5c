"""A background task that works, then sleeps until woken or until a timeout passes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundLoop:
    """Runs `body` as a task; `wake()` cuts its current `sleep()` short.

    Sleeping uses `asyncio.timeout`, not `asyncio.wait_for`: on Python 3.11 `wait_for` can
    swallow a cancellation that arrives as the wait ends, and `stop()` would hang.
    """

    def __init__(self, name: str, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name = name
        self._body = body
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._body(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self, *_: object) -> None:
        self._wake.set()

    def clear(self) -> None:
        """Call before looking for work, so a wake during the look is not lost."""
        self._wake.clear()

    async def sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, seconds)):
                await self._wake.wait()
