"""The api process: the HTTP API, plus ops endpoints; its lifespan runs the consumers."""

from __future__ import annotations

from fastapi import FastAPI

from chime_api import operator
from chime_api.bootstrap import Api, build
from chime_api.entrypoints import (
    broadcasts,
    chats,
    events,
    keys,
    notifications,
    schedules,
    topics,
    usage,
    webhooks,
)
from chime_api.entrypoints.errors import install_problem_handlers
from chime_api.entrypoints.request_ids import RequestIds
from chime_api.history.entrypoints import routes as history_routes
from chime_api.settings import ApiSettings
from chime_kit.http import TELEMETRY, install_http_edges
from chime_kit.ops import ops_routes
from chime_kit.service import readiness_of, service_lifespan

DESCRIPTION = """\
Chime's front door for internal services. Authenticate with an API key
(`Authorization: Bearer chime_...` or `X-API-Key`); errors are RFC 9457 problem+json;
every POST takes an `Idempotency-Key`. While the database is unreachable every route
answers 503 with `Retry-After`; retry a POST with the same `Idempotency-Key`.
"""
# The longest text (32,768 characters) written as \\u escapes is under 200 KB.
MAX_BODY_BYTES = 512 * 1024


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    async def start() -> Api:
        return await build(settings or ApiSettings())

    app = FastAPI(
        title="Chime API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=service_lifespan(start),
        telemetry=TELEMETRY,
    )
    install_http_edges(app, "api", MAX_BODY_BYTES)
    install_problem_handlers(app)
    app.add_middleware(RequestIds)
    app.include_router(notifications.router)
    app.include_router(keys.router)
    app.include_router(usage.router)
    app.include_router(schedules.router)
    app.include_router(schedules.previews)
    app.include_router(broadcasts.router)
    app.include_router(topics.router)
    app.include_router(chats.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(history_routes.router)
    operator.mount(app)
    app.router.routes.extend(ops_routes(readiness_of))
    return app
