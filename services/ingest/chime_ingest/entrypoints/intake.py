"""The one receive path of webhook and polling: check each update once, then store it with
whatever else arrived meanwhile in one transaction (group commit).

Callers wait for their own update's commit and get its outcome. A committer takes every
update waiting when it is free (no fixed wait: under load a batch is what arrived during
the last commit) and `committers` of them overlap, so a commit's round trip is not idle
time. A batch that fails for anything but an unreachable database is stored again one
update per transaction, so a bad update fails alone; an unreachable database fails every
caller of the batch (the webhook answers 503, Telegram retries, dedup drops repeats).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Literal

import asyncpg
import orjson

from chime_contracts.envelope import new_event_id
from chime_ingest import handlers
from chime_ingest.adapters.update_log import Arrival, UpdateLog
from chime_ingest.domain.updates import NotAnUpdate, incoming, parse_update
from chime_ingest.metrics import GROUP_COMMIT_SIZE, UPDATES
from chime_kit.runtime import Runtime
from chime_kit.telemetry import current_traceparent
from chime_kit.unreachable import dependency_unavailable

log = logging.getLogger(__name__)
Outcome = Literal["accepted", "duplicate", "rejected"]
_Waiting = tuple[Arrival, "asyncio.Future[Outcome]"]


class Intake:
    def __init__(
        self,
        runtime: Runtime,
        *,
        on_stored: Callable[[], None],
        max_batch: int = 1000,
        committers: int = 4,
    ) -> None:
        self.runtime = runtime
        self.on_stored = on_stored
        self.max_batch = max_batch
        self.committers = committers
        self._waiting: deque[_Waiting] = deque()
        self._arrived = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._commit_forever(), name=f"ingest-group-commit-{n}")
            for n in range(self.committers)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        while self._waiting:  # none while the server drains requests first; never left hanging
            _, future = self._waiting.popleft()
            if not future.done():
                future.set_exception(StoreUnavailable("ingest is stopping"))

    async def receive_bytes(self, bot_id: int, raw: bytes) -> Outcome:
        """`receive` of a body as it came over HTTP."""
        try:
            body = parse_update(raw)
        except NotAnUpdate as exc:
            await self.reject_body(bot_id, str(exc), raw.decode(errors="replace"))
            raise
        return await self.receive(bot_id, body, raw)

    async def receive(self, bot_id: int, body: Any, raw: bytes | None = None) -> Outcome:
        """Store one update (`raw`: its bytes as they came, when there are any); its outcome
        once committed. NotAnUpdate, having stored the body for inspection, when it cannot
        be an update; a database error when it could not be stored."""
        try:
            arrival = self.arrival(bot_id, body, raw)
        except NotAnUpdate as exc:
            await self.reject_body(bot_id, str(exc), _shown(body, raw))
            raise
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((arrival, future))
        self._arrived.set()
        outcome = await future  # NotAnUpdate too, when PostgreSQL refuses its content
        UPDATES.labels("ingest", str(bot_id), outcome).inc()
        return outcome

    def arrival(self, bot_id: int, body: Any, raw: bytes | None) -> Arrival:
        update = incoming(body, raw)
        if raw is not None and b"\\u0000" not in raw:
            text = raw.decode()  # stored as it came: no second serialisation
        else:
            text = orjson.dumps(update.payload).decode()
        traceparent, _ = current_traceparent()
        return Arrival(
            bot_id=bot_id,
            update_id=update.update_id,
            kind=update.kind,
            payload=text,
            chat_id=update.chat_id,
            user_id=update.user_id,
            reason=update.reason,
            event_id=new_event_id(),
            traceparent=traceparent,
        )

    async def reject_body(self, bot_id: int, reason: str, body: str) -> None:
        """Keep what is not an update for inspection (text cannot hold NUL: replaced)."""
        async with self.runtime.pool.acquire() as conn:
            await UpdateLog(conn).reject_body(bot_id, reason, body.replace("\x00", "\ufffd"))
        UPDATES.labels("ingest", str(bot_id), "not_an_update").inc()

    async def _commit_forever(self) -> None:
        held = _Held(self.runtime.pool)
        try:
            await self._commit_batches(held)
        finally:
            await held.drop()

    async def _commit_batches(self, held: _Held) -> None:
        while True:
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            size = min(self.max_batch, len(self._waiting))
            batch = [self._waiting.popleft() for _ in range(size)]
            if self._waiting:
                self._arrived.set()  # more than a batch: another committer starts on it now
            try:
                await self._commit(batch, held)
            except asyncio.CancelledError:
                _fail(batch, StoreUnavailable("ingest is stopping"))
                raise
            except Exception as exc:  # not expected: _commit settles every future itself
                log.exception("group commit failed")
                _fail(batch, exc)

    async def _commit(self, batch: Sequence[_Waiting], held: _Held) -> None:
        GROUP_COMMIT_SIZE.observe(len(batch))
        try:
            outcomes = await held.store([a for a, _ in batch])
        except Exception as exc:
            if len(batch) == 1 and isinstance(exc, asyncpg.DataError):
                # PostgreSQL refuses what the checks let through (a rare escape in JSON).
                await self._refuse(batch[0], f"PostgreSQL cannot store it: {exc}")
                return
            if dependency_unavailable(exc) or len(batch) == 1:
                _fail(batch, exc)
                return
            log.warning("a batch of %d updates failed (%r); one by one now", len(batch), exc)
            for waiting in batch:
                await self._commit([waiting], held)
            return
        self.on_stored()
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    async def _refuse(self, waiting: _Waiting, reason: str) -> None:
        arrival, future = waiting
        try:
            await self.reject_body(arrival.bot_id, reason, arrival.payload)
        except Exception as exc:
            _fail([waiting], exc)
            return
        if not future.done():
            future.set_exception(NotAnUpdate(reason))


class _Held:
    """A committer's own connection, kept between batches: no pool acquire and release (and
    the session reset that comes with it) per transaction. Dropped after a failure, so the
    next batch starts on a sound connection (or fails to get one, as the pool says)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.conn: Any = None

    async def store(self, arrivals: list[Arrival]) -> list[Outcome]:
        if self.conn is None:
            self.conn = await self.pool.acquire()
        try:
            # One statement stores the whole batch: it commits on its own, one round trip.
            return await handlers.accept_updates(self.conn, arrivals)
        except BaseException:
            await self.drop()
            raise

    async def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.pool.release(conn)


class StoreUnavailable(ConnectionError):
    """The database could not be reached to store the update (answered 503, retried)."""


def _fail(batch: Sequence[_Waiting], exc: BaseException) -> None:
    # A fresh exception per caller: each raises it in its own task.
    unreachable = dependency_unavailable(exc)
    for _, future in batch:
        if not future.done():
            failure: Exception = (
                StoreUnavailable(f"the database is unreachable: {exc!r}")
                if unreachable
                else RuntimeError(f"storing the update failed: {exc!r}")
            )
            failure.__cause__ = exc
            future.set_exception(failure)


def _shown(body: Any, raw: bytes | None) -> str:
    if raw is not None:
        return raw.decode(errors="replace")
    try:
        return orjson.dumps(body).decode()
    except (TypeError, RecursionError):  # orjson writes neither huge integers nor 255 levels
        return "(not shown: orjson cannot write it)"
