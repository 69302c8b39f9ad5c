"""`python -m chime_ingest [serve|migrate|rebuild]` runs ingest, migrates its schema or
re-derives its projections; `... webhooks sync` registers every configured bot's webhook
and reports drift, `... webhooks status` shows each bot's pending updates and last errors;
`... pools` shows each bot pool's workers with the chats assigned to them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from chime_ingest.adapters.postgres import projections
from chime_ingest.adapters.telegram import TelegramBotApi
from chime_ingest.adapters.update_log import UpdateLog
from chime_ingest.entrypoints.pools import lines, pool_loads
from chime_ingest.entrypoints.webhooks import webhook_reports
from chime_ingest.settings import MIGRATIONS, SERVICE, IngestSettings
from chime_kit.db import DATABASE_ERRORS, create_pool
from chime_kit.service import ServiceCli
from chime_kit.telegram import BotApi

CLI = ServiceCli(
    service=SERVICE,
    app_factory="chime_ingest.entrypoints.app:create_app",
    migrations_package=MIGRATIONS,
    settings=IngestSettings,
    projections=projections,
)


async def webhooks(settings: IngestSettings, command: str, out: TextIO) -> int:
    """Print each bot's report; 1 when a call failed (or, for `status`, drift was found)."""
    api = TelegramBotApi(BotApi(settings.telegram_api_base))
    try:
        reports = await webhook_reports(settings, api, sync=command == "sync")
    finally:
        await api.aclose()
    backlog = await _backlog(settings) if command == "status" else {}
    for report in reports:
        for line in report.lines():
            print(line, file=out)
        if command == "status":
            if isinstance(backlog, str):
                print(f"  here: ingest's tables could not be read ({backlog})", file=out)
            else:
                waiting, poison = backlog.get(report.bot_id, (0, 0))
                print(f"  here: {waiting} waiting to be interpreted, {poison} poison", file=out)
    failed = any(r.error for r in reports)
    drifted = command == "status" and any(r.drift for r in reports)
    return 1 if failed or drifted else 0


async def _backlog(settings: IngestSettings) -> dict[int, tuple[int, int]] | str:
    """Ingest's own view per bot, or why it could not be read."""
    try:
        pool = await create_pool(
            settings.database_url.get_secret_value(), SERVICE, min_size=1, max_size=1,
            acquire_timeout=5.0,
        )  # fmt: skip
    except DATABASE_ERRORS as exc:
        return type(exc).__name__
    try:
        async with pool.acquire() as conn:
            return await UpdateLog(conn).backlog()
    except DATABASE_ERRORS as exc:
        return type(exc).__name__
    finally:
        await pool.close()


async def pools(settings: IngestSettings, out: TextIO) -> int:
    """Print each pool's workers and their load; 1 when ingest's tables cannot be read."""
    try:
        pool = await create_pool(
            settings.database_url.get_secret_value(), SERVICE, min_size=1, max_size=1,
            acquire_timeout=5.0,
        )  # fmt: skip
    except DATABASE_ERRORS as exc:
        print(f"ingest's tables could not be read ({type(exc).__name__})", file=out)
        return 1
    try:
        async with pool.acquire() as conn:
            loads = await pool_loads(conn, settings.pools())
    finally:
        await pool.close()
    for line in lines(loads, settings.pools()) or ["no bot pools"]:
        print(line, file=out)
    return 0


def _more_commands(commands: Any) -> None:
    commands.add_parser("pools", help="each bot pool's workers and the chats assigned to them")
    hooks = commands.add_parser("webhooks", help="each configured bot's webhook at Telegram")
    what = hooks.add_subparsers(dest="webhooks", required=True)
    what.add_parser(
        "sync",
        help="register every bot's webhook (URL, secret token, allowed updates, max"
        " connections) and print what had drifted from the configuration",
    )
    what.add_parser(
        "status",
        help="print each bot's webhook, pending updates, last error and drift (exit 1 on"
        " drift or a failed call)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = CLI.parser(_more_commands).parse_args(argv)
    if args.command == "webhooks":
        return asyncio.run(webhooks(IngestSettings(), args.webhooks, sys.stdout))
    if args.command == "pools":
        return asyncio.run(pools(IngestSettings(), sys.stdout))
    return CLI.run(args)
