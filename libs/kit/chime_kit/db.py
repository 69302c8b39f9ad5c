"""PostgreSQL pool bound to one service's own schema."""

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

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


async def create_pool(
    dsn: str, schema: str, *, min_size: int = 2, max_size: int = 10
) -> asyncpg.Pool:
    """Every connection's search_path is the service's schema: its SQL never names another."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": schema, "application_name": f"chime-{schema}"},
    )
    assert pool is not None
    return pool
