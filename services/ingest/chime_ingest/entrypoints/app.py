"""The ingest process: Telegram webhooks plus ops endpoints; consumers run in its lifespan."""

from fastapi import FastAPI

from chime_ingest.bootstrap import Ingest, build
from chime_ingest.entrypoints import webhook
from chime_ingest.settings import IngestSettings
from chime_kit.http import TELEMETRY, RequestObserver
from chime_kit.ops import ops_routes
from chime_kit.service import readiness_of, service_lifespan


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    async def start() -> Ingest:
        return await build(settings or IngestSettings())

    app = FastAPI(
        title="Chime ingest",
        lifespan=service_lifespan(start),
        openapi_url=None,
        telemetry=TELEMETRY,
    )
    app.add_middleware(RequestObserver, service="ingest")
    app.include_router(webhook.router)
    app.router.routes.extend(ops_routes(readiness_of))
    return app
