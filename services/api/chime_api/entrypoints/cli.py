"""`python -m chime_api [serve|migrate|rebuild]` runs the API, migrates its schema or
re-derives its projections; `... keys ...` manages keys; `... purge` deletes expired
idempotency records."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from chime_api.adapters.keys import PostgresKeys
from chime_api.adapters.postgres import projections
from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.domain.keys import ApiKey, Limits, Scope, parse_scopes
from chime_api.handlers import idempotency, keys, webhooks
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


async def create_key(
    settings: ApiSettings,
    name: str,
    scopes: Sequence[str],
    team: str | None = None,
    limits: Limits | None = None,
) -> tuple[ApiKey, str]:
    """The new key and its plaintext, which is shown once and stored nowhere."""
    new = keys.NewKey(name, parse_scopes(list(scopes)), team, limits)
    async with admin_pool(settings) as pool, unit_of_work(pool, SERVICE) as uow:
        return await keys.create_api_key(uow, PostgresKeys(uow.conn), new)


async def list_keys(settings: ApiSettings) -> list[ApiKey]:
    async with admin_pool(settings) as pool, pool.acquire() as conn:
        return await keys.list_api_keys(PostgresKeys(conn))


async def revoke_key(settings: ApiSettings, key_id: str) -> bool:
    async with admin_pool(settings) as pool, unit_of_work(pool, SERVICE) as uow:
        return await keys.revoke_api_key(uow, PostgresKeys(uow.conn), key_id)


async def rotate_key(settings: ApiSettings, key_id: str) -> tuple[ApiKey, str] | None:
    async with admin_pool(settings) as pool, unit_of_work(pool, SERVICE) as uow:
        overlap = settings.key_rotation_overlap
        return await keys.rotate_api_key(uow, PostgresKeys(uow.conn), key_id, overlap)


async def limit_key(settings: ApiSettings, key_id: str, limits: Limits) -> ApiKey | None:
    async with admin_pool(settings) as pool, unit_of_work(pool, SERVICE) as uow:
        return await keys.set_limits(uow, PostgresKeys(uow.conn), key_id, limits)


async def purge(settings: ApiSettings) -> int:
    async with admin_pool(settings) as pool, pool.acquire() as conn:
        return await idempotency.purge_expired(conn, settings.idempotency_ttl)


async def replay_webhook(settings: ApiSettings, webhook_id: str, after: int) -> bool:
    async with admin_pool(settings) as pool, unit_of_work(pool, SERVICE) as uow:
        return await webhooks.replay(uow, webhook_id, after) is not None


# --- the command line ---------------------------------------------------------------------


SERVICE_CLI = ServiceCli(
    service=SERVICE,
    app_factory="chime_api.entrypoints.app:create_app",
    migrations_package=MIGRATIONS,
    settings=ApiSettings,
    projections=projections,
)


def _parser() -> argparse.ArgumentParser:
    parser = SERVICE_CLI.parser(_more_commands)
    parser.description = __doc__
    return parser


def _more_commands(commands: Any) -> None:
    commands.add_parser("purge", help="delete idempotency records older than their TTL")
    hooks = commands.add_parser("webhooks", help="outgoing webhooks").add_subparsers(
        dest="webhooks_command", required=True
    )
    replay = hooks.add_parser("replay", help="deliver again every event after a position")
    replay.add_argument("webhook_id")
    replay.add_argument("--after", type=int, default=0, help="event position (default: all)")
    keys_parser = commands.add_parser("keys", help="manage API keys")
    sub = keys_parser.add_subparsers(dest="keys_command", required=True)
    create = sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        help=f"repeat for several scopes: {', '.join(s.value for s in Scope)}",
    )
    create.add_argument("--team", help="keys of one team see each other's resources")
    _limit_arguments(create, required=False)
    listing = sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    revoke = sub.add_parser("revoke", help="revoke a key: it stops working at once")
    revoke.add_argument("key_id", help="e.g. key_01j...")
    rotate = sub.add_parser(
        "rotate", help="issue a successor; the old key works for the overlap period"
    )
    rotate.add_argument("key_id")
    limit = sub.add_parser("limit", help="set a key's rate limit")
    limit.add_argument("key_id")
    _limit_arguments(limit, required=True)


def _limit_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--rate", type=float, required=required, help="requests per second")
    parser.add_argument("--burst", type=int, required=required, help="bucket size")


def describe(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "team": key.team,
        "scopes": sorted(key.scopes),
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
    }


def _show_new(key: ApiKey, plaintext: str) -> None:
    print(f"created {key.id} ({key.name}) with scopes {' '.join(sorted(key.scopes))}")
    print("the key is shown this once; store it now:", file=sys.stderr)
    print(plaintext)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = ApiSettings()
    if args.command == "purge":
        print(f"purged {asyncio.run(purge(settings))} expired idempotency records")
        return 0
    if args.command == "webhooks":
        if not asyncio.run(replay_webhook(settings, args.webhook_id, args.after)):
            print(f"no webhook {args.webhook_id}", file=sys.stderr)
            return 1
        print(f"{args.webhook_id}: delivering again every event after {args.after}")
        return 0
    if args.command != "keys":
        return SERVICE_CLI.run(args)
    return _keys(args, settings)


def _keys(args: argparse.Namespace, settings: ApiSettings) -> int:
    if args.keys_command == "create":
        limits = Limits(args.rate, args.burst) if args.rate and args.burst else None
        try:
            made = asyncio.run(create_key(settings, args.name, args.scope, args.team, limits))
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        _show_new(*made)
        return 0
    if args.keys_command == "list":
        for key in asyncio.run(list_keys(settings)):
            if args.json:
                print(json.dumps(describe(key)))
            else:
                state = "revoked" if key.revoked_at else "rotated" if key.expires_at else "active"
                scopes = ",".join(sorted(key.scopes))
                print(f"{key.id}  {key.prefix}...  {state:7}  {scopes}  {key.name}")
        return 0
    if args.keys_command == "rotate":
        rotated = asyncio.run(rotate_key(settings, args.key_id))
        if rotated is None:
            print(f"no working key {args.key_id}", file=sys.stderr)
            return 1
        _show_new(*rotated)
        return 0
    if args.keys_command == "limit":
        if asyncio.run(limit_key(settings, args.key_id, Limits(args.rate, args.burst))) is None:
            print(f"no key {args.key_id}", file=sys.stderr)
            return 1
        print(f"{args.key_id}: {args.rate}/s, burst {args.burst}")
        return 0
    if asyncio.run(revoke_key(settings, args.key_id)):
        print(f"revoked {args.key_id}")
        return 0
    print(f"no active key {args.key_id}", file=sys.stderr)
    return 1
