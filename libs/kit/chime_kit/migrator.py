"""Per-service schema migrations: the kit's tables first, then the service's own files.

Files are `NNNN_name.sql`, applied once each in order, each in its own transaction, with the
service's schema as search_path. Concurrent migrators (several replicas, a k8s Job) are
serialised by an advisory lock.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str


def migrations_in(package: str, prefix: str = "") -> list[Migration]:
    folder: Traversable = resources.files(package)
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [Migration(f"{prefix}{f.name.removesuffix('.sql')}", f.read_text()) for f in files]


def kit_migrations() -> list[Migration]:
    return migrations_in("chime_kit.migrations", prefix="kit/")


async def migrate(conn: asyncpg.Connection, schema: str, service_package: str) -> list[str]:
    """Apply what is missing; returns the versions applied now.

    The schema name is checked to be a plain identifier before it is quoted into SQL.
    """
    wanted = kit_migrations() + migrations_in(service_package)
    quoted = _quote_ident(schema)
    lock_key = zlib.crc32(f"chime-migrate-{schema}".encode())
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        # A provisioned role owns its schema but may not create schemas: only create it
        # where it is missing (PostgreSQL checks the right before IF NOT EXISTS).
        if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
            await conn.execute(f"CREATE SCHEMA {quoted}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {quoted}.schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch(f"SELECT version FROM {quoted}.schema_migrations")  # noqa: S608
        done = {r["version"] for r in rows}
        for migration in wanted:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(f"SET LOCAL search_path TO {quoted}")
                await conn.execute(migration.sql)
                await conn.execute(
                    f"INSERT INTO {quoted}.schema_migrations (version) VALUES ($1)",  # noqa: S608
                    migration.version,
                )
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
    return applied_now


def _quote_ident(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a plain schema name: {name!r}")
    return f'"{name}"'
