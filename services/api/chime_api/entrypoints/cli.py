"""`python -m chime_api [serve|migrate]` runs the API or migrates its schema;
`python -m chime_api keys ...` manages keys."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from chime_api import handlers
from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.domain.keys import ApiKey, Scope, parse_scopes
from chime_api.settings import ApiSettings
from chime_kit.db import create_pool
from chime_kit.runtime import run_migrations
from chime_kit.service import ServiceCli
from chime_kit.unit_of_work import unit_of_work

# --- what the commands do (tests call these too) -----------------------------------------


@asynccontextmanager
async def admin_pool(settings: ApiSettings) -> AsyncIterator[asyncpg.Pool]:
    """A one-connection pool on the api's schema, migrated first."""
    dsn = settings.database_url.get_secret_value()
    await run_migrations(dsn, SERVICE, MIGRATIONS)
    pool = await create_pool(dsn, SERVICE, min_size=1, max_size=1)
    try:
        yield pool
    finally:
        await pool.close()


async def create_key(settings: ApiSettings, name: str, scopes: Sequence[str]) -> tuple[ApiKey, str]:
    """The new key and its plaintext, which is shown once and stored nowhere."""
    parsed = parse_scopes(list(scopes))
    async with admin_pool(settings) as pool, unit_of_work(pool, SERVICE) as uow:
        return await handlers.create_api_key(uow, name, parsed)


async def list_keys(settings: ApiSettings) -> list[ApiKey]:
    async with admin_pool(settings) as pool, pool.acquire() as conn:
        return await handlers.list_api_keys(conn)


async def revoke_key(settings: ApiSettings, key_id: str) -> bool:
    async with admin_pool(settings) as pool, unit_of_work(pool, SERVICE) as uow:
        return await handlers.revoke_api_key(uow, key_id)


# --- the command line ---------------------------------------------------------------------


SERVICE_CLI = ServiceCli(
    service=SERVICE,
    app_factory="chime_api.entrypoints.app:create_app",
    migrations_package=MIGRATIONS,
    settings=ApiSettings,
)


def _parser() -> argparse.ArgumentParser:
    parser = SERVICE_CLI.parser(_key_commands)
    parser.description = __doc__
    return parser


def _key_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=[s.value for s in Scope],
        help="repeat for several scopes",
    )
    listing = keys.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    revoke = keys.add_parser("revoke", help="revoke a key: it stops working at once")
    revoke.add_argument("key_id", help="e.g. key_01j...")


def _describe(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": sorted(key.scopes),
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command != "keys":
        return SERVICE_CLI.run(args)
    settings = ApiSettings()
    if args.keys_command == "create":
        key, plaintext = asyncio.run(create_key(settings, args.name, args.scope))
        print(f"created {key.id} ({key.name}) with scopes {' '.join(sorted(key.scopes))}")
        print("the key is shown this once; store it now:", file=sys.stderr)
        print(plaintext)
        return 0
    if args.keys_command == "list":
        for key in asyncio.run(list_keys(settings)):
            described = _describe(key)
            if args.json:
                print(json.dumps(described))
            else:
                state = "revoked" if key.revoked_at else "active"
                scopes = ",".join(sorted(key.scopes))
                print(f"{key.id}  {key.prefix}...  {state:7}  {scopes}  {key.name}")
        return 0
    if asyncio.run(revoke_key(settings, args.key_id)):
        print(f"revoked {args.key_id}")
        return 0
    print(f"no active key {args.key_id}", file=sys.stderr)
    return 1
