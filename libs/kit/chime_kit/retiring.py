"""A queue whose routes moved to another queue of the same service (an upgrade that put
several projections on one queue): it must not stay bound and fill up unread, and the
messages it still holds must not be lost.

The consumer that took its routes unbinds it at start (so it stops filling), drains what
it holds into the same routes (claimed under the same inbox names, so a message that also
reached the new queue is applied once), and deletes it once it is empty and nobody else
consumes it (an older replica still running during a rolling update does). A later start
finds it gone: declaring it again makes an empty queue, deleted at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from chime_kit.broker import EVENTS, consumer_queue_arguments

log = logging.getLogger(__name__)

# How often a queue being drained is looked at again.
CHECK_SECONDS = 5.0
CLOSE_SECONDS = 5.0


class RetiredQueue:
    """Unbinds, drains and deletes the queue `name` (bound to `bindings` before)."""

    def __init__(
        self,
        name: str,
        bindings: Sequence[str],
        *,
        delivery_limit: int,
        on_message: Callable[[AbstractIncomingMessage], Awaitable[None]],
        idle: Callable[[], bool],
    ) -> None:
        self.name = name
        self.bindings = list(bindings)
        self.delivery_limit = delivery_limit
        self._on_message = on_message
        # True when every message taken from any channel is settled.
        self._idle = idle
        self._task: asyncio.Task[None] | None = None
        self.deleted = asyncio.Event()

    def start(self, connection: AbstractRobustConnection, *, prefetch: int) -> None:
        self._task = asyncio.create_task(
            self._run(connection, prefetch), name=f"retire-{self.name}"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self, connection: AbstractRobustConnection, prefetch: int) -> None:
        channel = await connection.channel()
        try:
            await channel.set_qos(prefetch_count=prefetch)
            exchange = await EVENTS.declare(channel)
            queue = await channel.declare_queue(
                self.name,
                durable=True,
                arguments=consumer_queue_arguments(self.name, delivery_limit=self.delivery_limit),
            )
            for key in self.bindings:
                await queue.unbind(exchange, key)
        except Exception as exc:  # declared otherwise (another delivery limit): by hand
            log.error("retiring queue %s failed (%r): unbind and delete it by hand", self.name, exc)
            await _close(channel)
            return
        # Stopping cancels this task: the channel then goes with the connection, for an
        # await here could wait for a reader task the loop's shutdown cancelled too.
        self._tag: str | None = None
        while True:
            try:
                if await self._step(queue):
                    break
            except Exception as exc:  # the broker refused (still in use): look again
                log.warning("retiring queue %s: %r; trying again", self.name, exc)
            await asyncio.sleep(CHECK_SECONDS)
        await _close(channel)

    async def _step(self, queue: AbstractQueue) -> bool:
        """One look at the queue: consume it while it holds messages, delete it once it is
        empty, settled and unused (True then). Quorum queues refuse a conditional delete
        (`if-empty`, `if-unused`), so the conditions are checked here, the last time after
        this consumer let go of it: an unbound queue nobody consumes cannot fill again."""
        declared = await queue.declare()
        ready = declared.message_count or 0
        others = (declared.consumer_count or 0) - (1 if self._tag else 0)
        if ready == 0 and others == 0 and self._idle():
            if self._tag is not None:
                tag, self._tag = self._tag, None
                await queue.cancel(tag)
                declared = await queue.declare()
                if declared.message_count or declared.consumer_count:
                    return False
            await queue.delete(if_unused=False, if_empty=False)
            log.info("retired queue %s deleted", self.name)
            self.deleted.set()
            return True
        if self._tag is None and ready > 0:
            log.info("draining retired queue %s (%d messages)", self.name, ready)
            self._tag = await queue.consume(self._on_message)
        return False


async def _close(channel: AbstractRobustChannel) -> None:
    # Bounded: a stopping process must not wait on a connection that stopped answering.
    if not channel.is_closed:
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await channel.close()
        except Exception as exc:  # closing a channel the broker dropped
            log.debug("closing the channel of a retired queue: %r", exc)
