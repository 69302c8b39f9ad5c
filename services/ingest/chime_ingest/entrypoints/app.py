"""The ingest process: Telegram webhooks plus ops endpoints; the interpreter (and the poller
in polling mode) run in its lifespan."""

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from chime_ingest.bootstrap import Ingest, build
from chime_ingest.entrypoints import webhook
from chime_ingest.settings import IngestSettings
from chime_kit.http import TELEMETRY, install_http_edges, problem_response
from chime_kit.ops import ops_routes
from chime_kit.service import readiness_of, service_lifespan


async def _on_http(request: Request, exc: Exception) -> Response:
    # 404, 405 and 413 (the body limit) as problem+json, like the webhook's own answers.
    assert isinstance(exc, HTTPException)
    return problem_response(
        exc.status_code, str(exc.detail), instance=request.url.path, headers=exc.headers
    )


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    resolved = settings or IngestSettings()

    async def start() -> Ingest:
        return await build(resolved)

    app = FastAPI(
        title="Chime ingest",
        lifespan=service_lifespan(start),
        openapi_url=None,
        telemetry=TELEMETRY,
    )
    install_http_edges(app, "ingest", resolved.max_body_bytes)
    app.add_exception_handler(HTTPException, _on_http)
    app.router.routes.extend(webhook.routes)
    app.router.routes.extend(ops_routes(readiness_of))
    return app
