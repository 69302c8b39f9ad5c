"""PostgreSQL pool bound to one service's own schema."""

from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

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


class BoundedPool(asyncpg.Pool):
    """A pool whose acquire gives up after `acquire_timeout` unless told otherwise, so a
    database that hangs (a link that stops answering) fails requests with TimeoutError
    (answered 503) instead of holding them forever."""

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def create_pool(
    dsn: str,
    schema: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    acquire_timeout: float | None = None,
    command_timeout: float | None = None,
) -> asyncpg.Pool:
    """Every connection's search_path is the service's schema: its SQL never names another.

    `acquire_timeout` also bounds opening a connection; `command_timeout` each command.
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
        reset=None,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        acquire_timeout=acquire_timeout,
        command_timeout=command_timeout,
        server_settings={"search_path": schema, "application_name": f"chime-{schema}"},
        **({} if acquire_timeout is None else {"timeout": acquire_timeout}),
    )
    await pool
    return pool
