"""How every service process is shaped: an ASGI app whose lifespan runs the service.

Services with an HTTP API (ingest, api) add their routes; the others (scheduler, sender)
serve only /healthz, /readyz and /metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request

from chime_kit.db import Connection, create_pool
from chime_kit.ops import ReadinessCheck, ops_routes
from chime_kit.projection import Projection, Rebuilt, rebuild
from chime_kit.runtime import Runtime, run_migrations
from chime_kit.settings import ServiceSettings
from chime_kit.telemetry import setup_logging


class Service(Protocol):
    @property
    def runtime(self) -> Runtime: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def service_lifespan(
    build: Callable[[], Awaitable[Service]],
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        service = await build()
        await service.start()
        app.state.service = service
        # Start-up garbage is permanent: keep the full collector from walking it again.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            app.state.service = None
            await service.stop()

    return lifespan


def readiness_of(request: Request) -> ReadinessCheck | None:
    service = getattr(request.app.state, "service", None)
    return service.runtime.readiness if service is not None else None


def ops_app(build: Callable[[], Awaitable[Service]]) -> Starlette:
    return Starlette(routes=ops_routes(readiness_of), lifespan=service_lifespan(build))


@dataclass(frozen=True)
class ServiceCli:
    """`python -m chime_<service> [serve]` runs it; `... migrate` migrates its schema and exits
    (a Kubernetes Job runs that before a rollout); `... rebuild` re-derives every projection
    of the service from its events (`projections` names them, bound to a connection)."""

    service: str
    app_factory: str
    migrations_package: str
    settings: Callable[[], ServiceSettings]
    projections: Callable[[Connection], Sequence[Projection]] | None = None

    def parser(self, more_commands: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
        """`more_commands(subparsers)` lets a service add commands of its own."""
        parser = argparse.ArgumentParser(prog=f"python -m chime_{self.service}")
        commands = parser.add_subparsers(dest="command")
        commands.add_parser("serve", help="run the service (the default)")
        commands.add_parser("migrate", help="bring the service's schema up to date and exit")
        if self.projections is not None:
            commands.add_parser(
                "rebuild",
                help="re-derive every projection from the events, in one transaction"
                " (readers see the old rows until it commits; writers wait)",
            )
        if more_commands is not None:
            more_commands(commands)
        return parser

    def run(self, args: argparse.Namespace) -> int:
        settings = self.settings()
        if args.command in (None, "serve"):
            serve(self.app_factory, settings, self.service)
            return 0
        if args.command == "migrate":
            setup_logging(self.service, settings.log_level, settings.log_json)
            dsn = settings.database_url.get_secret_value()
            applied = asyncio.run(run_migrations(dsn, self.service, self.migrations_package))
            logging.getLogger(__name__).info(
                "schema %s: %s", self.service, ", ".join(applied) or "already up to date"
            )
            return 0
        if args.command == "rebuild" and self.projections is not None:
            setup_logging(self.service, settings.log_level, settings.log_json)
            asyncio.run(self.rebuild(settings.database_url.get_secret_value()))
            return 0
        raise SystemExit(f"unknown command {args.command!r}")

    async def rebuild(self, dsn: str) -> Rebuilt:
        assert self.projections is not None
        pool = await create_pool(dsn, self.service, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                return await rebuild(conn, self.projections(conn))
        finally:
            await pool.close()

    def main(self, argv: Sequence[str] | None = None) -> int:
        return self.run(self.parser().parse_args(argv))


def serve(app_factory: str, settings: ServiceSettings, service: str) -> None:
    """Run a service's app factory (`module:function`) with uvicorn."""
    setup_logging(service, settings.log_level, settings.log_json)
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
