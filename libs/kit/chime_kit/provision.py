"""Give a service its own login role that owns its schema and can touch nothing else.

Run once per service by whoever administers the database (a bootstrap Job, or by hand):

    CHIME_ADMIN_DATABASE_URL=postgresql://admin@db/chime \\
    CHIME_ROLE_PASSWORD=... python -m chime_kit.provision --schema sender --role chime_sender

Then the service connects as that role, and its migrations run inside its own schema.
"""

from __future__ import annotations

import argparse
import asyncio
import os

import asyncpg

from chime_kit.db import Connection


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


async def provision(conn: Connection, schema: str, role: str, password: str | None) -> None:
    role_q, schema_q = _ident(role), _ident(schema)
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await conn.execute(f"CREATE ROLE {role_q} LOGIN")
        if password:
            # Passwords cannot be bind parameters in utility statements; quote_literal them.
            literal = await conn.fetchval("SELECT quote_literal($1)", password)
            await conn.execute(f"ALTER ROLE {role_q} PASSWORD {literal}")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_q} AUTHORIZATION {role_q}")
        await conn.execute(f"ALTER SCHEMA {schema_q} OWNER TO {role_q}")
        await conn.execute(f"REVOKE ALL ON SCHEMA {schema_q} FROM PUBLIC")
        await conn.execute(f"ALTER ROLE {role_q} SET search_path = {schema_q}")
        database = await conn.fetchval("SELECT current_database()")
        await conn.execute(f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC")
        await conn.execute(f"GRANT CONNECT ON DATABASE {_ident(database)} TO {role_q}")


async def _main(schema: str, role: str) -> None:
    conn = await asyncpg.connect(os.environ["CHIME_ADMIN_DATABASE_URL"])
    try:
        await provision(conn, schema, role, os.environ.get("CHIME_ROLE_PASSWORD"))
    finally:
        await conn.close()
    print(f"role {role} owns schema {schema}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", required=True, choices=["ingest", "scheduler", "sender", "api"])
    parser.add_argument("--role", required=True)
    args = parser.parse_args()
    asyncio.run(_main(args.schema, args.role))


if __name__ == "__main__":
    main()
