"""PostgreSQL pool bound to one service's own schema."""

import re
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy
from prometheus_client import REGISTRY, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

ACQUIRE_SECONDS = Histogram(
    "chime_db_pool_acquire_seconds",
    "Time to get a pooled database connection (a wait means the pool was exhausted)",
    ["service"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)

# Everything asyncpg raises when the database or the link to it fails: server errors, a
# closed or broken connection (InterfaceError, "cannot switch to state" InternalClientError),
# the socket (OSError covers ConnectionError) and timeouts. Loops that must outlive the
# database catch these; `unreachable.dependency_unavailable` tells which may pass by waiting.
DATABASE_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

# What a handler writes through: a pooled connection or a plain one.
Connection = asyncpg.Connection | PoolConnectionProxy


async def _init_connection(conn: asyncpg.Connection) -> None:
    for codec in ("json", "jsonb"):
        await conn.set_type_codec(
            codec,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


# Statements that may leave state in the session past their transaction: session advisory
# locks (not the `_xact` ones), LISTEN, a SET or RESET that is not LOCAL, set_config, a
# temporary table, a cursor WITH HOLD, a prepared statement of SQL's own, DISCARD. A loose
# match (a word in a string literal counts too): a false alarm costs one reset, a miss
# would hand the next user of the connection someone else's lock or settings.
_SESSION_STATE = re.compile(
    r"advisory_(?!xact)\w*lock|\b(?:UN)?LISTEN\b|(?:^|;)\s*(?:SET|RESET)\s+(?!LOCAL\b)"
    r"|\bset_config\b|\bTEMP(?:ORARY)?\b|\bHOLD\b|\bPREPARE\b|\bDISCARD\b",
    re.IGNORECASE,
)
# Statements seen and found to leave nothing (a service's SQL is mostly a few hundred
# constant strings); bounded, for SQL built with values in it.
_STATELESS: set[str] = set()
_STATELESS_MAX = 4096


def may_leave_session_state(query: str) -> bool:
    """Whether `query` could leave state in the session beyond its transaction."""
    if query in _STATELESS:
        return False
    if _SESSION_STATE.search(query):
        return True
    if len(_STATELESS) < _STATELESS_MAX:
        _STATELESS.add(query)
    return False


class TrackedConnection(asyncpg.Connection):
    """A connection that notes whether any of its statements may have left session state,
    so the pool resets only those (`reset_session_state`), not every connection released.

    Every way of sending SQL text passes here (asyncpg's `add_listener` too, through
    `fetch`); COPY and the codecs leave no session state."""

    session_state = False

    def _note(self, query: str) -> None:
        if not self.session_state and may_leave_session_state(query):
            self.session_state = True

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return super().execute(query, *args, **kwargs)

    def executemany(self, command: str, *args: Any, **kwargs: Any) -> Any:
        self._note(command)
        return super().executemany(command, *args, **kwargs)

    def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return super().fetch(query, *args, **kwargs)

    def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return super().fetchval(query, *args, **kwargs)

    def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return super().fetchrow(query, *args, **kwargs)

    def fetchmany(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return super().fetchmany(query, *args, **kwargs)

    def cursor(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return super().cursor(query, *args, **kwargs)

    def prepare(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return super().prepare(query, *args, **kwargs)


async def reset_session_state(conn: asyncpg.Connection) -> None:
    """The pool's reset of a released connection: asyncpg's (unlock advisory locks, close
    cursors, UNLISTEN, RESET ALL) only where a statement may have left such state. Most
    connections ran transactions of plain statements, where asyncpg's reset was a round trip
    per release that found nothing; an open transaction is rolled back either way."""
    if getattr(conn, "session_state", True):
        await conn.execute(conn.get_reset_query())
        if isinstance(conn, TrackedConnection):
            conn.session_state = False


class BoundedPool(asyncpg.Pool):
    """A pool whose acquire gives up after `acquire_timeout` unless told otherwise, so a
    database that hangs (a link that stops answering) fails requests with TimeoutError
    (answered 503) instead of holding them forever."""

    def __init__(
        self,
        *args: Any,
        acquire_timeout: float | None = None,
        service: str = "unknown",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout
        self.service = service
        self.waiting = 0
        self._acquire_seconds = ACQUIRE_SECONDS.labels(service)
        _POOLS.add(self)

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's)
        # asyncpg's one path to a connection, whether `acquire` is awaited or entered.
        self.waiting += 1
        started = time.perf_counter()
        try:
            return await super()._acquire(timeout)  # type: ignore[misc]
        finally:
            self.waiting -= 1
            self._acquire_seconds.observe(time.perf_counter() - started)

    @property
    def in_use(self) -> int:
        return self.get_size() - self.get_idle_size()


_POOLS: weakref.WeakSet[BoundedPool] = weakref.WeakSet()


class PoolCollector(Collector):
    """Read at each scrape from every open pool of the process, summed per service."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = (
            GaugeMetricFamily(
                "chime_db_pool_size", "Connections the pool may open (its maximum)", labels=_BY
            ),
            GaugeMetricFamily("chime_db_pool_open", "Connections open now", labels=_BY),
            GaugeMetricFamily("chime_db_pool_in_use", "Connections handed out now", labels=_BY),
            GaugeMetricFamily(
                "chime_db_pool_waiting", "Callers waiting for a connection now", labels=_BY
            ),
        )
        totals: dict[str, list[int]] = {}
        for pool in list(_POOLS):
            if pool.is_closing():
                continue
            figures = (pool.get_max_size(), pool.get_size(), pool.in_use, pool.waiting)
            total = totals.setdefault(pool.service, [0] * len(families))
            for i, figure in enumerate(figures):
                total[i] += figure
        for service, total in totals.items():
            for family, value in zip(families, total, strict=True):
                family.add_metric([service], value)
        yield from families


_BY = ["service"]
REGISTRY.register(PoolCollector())


async def create_pool(
    dsn: str,
    schema: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    acquire_timeout: float | None = None,
    command_timeout: float | None = None,
    reset: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """Every connection's search_path is the service's schema: its SQL never names another.

    `acquire_timeout` also bounds opening a connection; `command_timeout` each command.
    `reset` replaces the reset of a released connection, by default asyncpg's (a round trip
    clearing advisory locks, LISTENs, cursors and settings) for the connections whose
    statements may have left any (`reset_session_state`); an open transaction is rolled
    back whatever it is.
    """
    pool = BoundedPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50000,
        max_inactive_connection_lifetime=300.0,
        connect=None,
        setup=None,
        init=_init_connection,
        reset=reset_session_state if reset is None else reset,
        loop=None,
        connection_class=TrackedConnection,
        record_class=asyncpg.Record,
        acquire_timeout=acquire_timeout,
        service=schema,
        command_timeout=command_timeout,
        server_settings={"search_path": schema, "application_name": f"chime-{schema}"},
        **({} if acquire_timeout is None else {"timeout": acquire_timeout}),
    )
    await pool
    return pool
