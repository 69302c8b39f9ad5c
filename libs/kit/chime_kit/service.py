"""How every service process is shaped: an ASGI app whose lifespan runs the service.

Services with an HTTP API (ingest, api) add their routes; the others (scheduler, sender)
serve only /healthz, /readyz and /metrics.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request

from chime_kit.ops import ReadinessCheck, ops_routes
from chime_kit.runtime import Runtime
from chime_kit.settings import ServiceSettings
from chime_kit.telemetry import setup_logging


class Service(Protocol):
    runtime: Runtime

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
