"""The ingest process: Telegram webhooks plus ops endpoints; the interpreter (and the poller
in polling mode) run in its lifespan."""

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from chime_ingest.entrypoints import webhook
from chime_ingest.entrypoints.service import Ingest, create_service
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


class IngestApp(FastAPI):
    """FastAPI, with the webhook's POSTs served in front of its middleware (`webhook.py`)."""

    max_body_bytes: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (bot := webhook.bot_path(scope)) is not None:
            service = getattr(self.state, "service", None)
            await webhook.telegram_webhook(service, bot, scope, receive, send, self.max_body_bytes)
            return
        await super().__call__(scope, receive, send)


async def _never_reached(request: Request) -> Response:
    # The route is there for FastAPI to answer the path's other methods (405 with Allow).
    raise HTTPException(405)


def create_app(settings: IngestSettings | None = None) -> IngestApp:
    resolved = settings or IngestSettings()

    async def start() -> Ingest:
        return await create_service(resolved)

    app = IngestApp(
        title="Chime ingest",
        lifespan=service_lifespan(start),
        openapi_url=None,
        telemetry=TELEMETRY,
    )
    install_http_edges(app, "ingest", resolved.max_body_bytes)
    app.add_exception_handler(HTTPException, _on_http)
    app.max_body_bytes = resolved.max_body_bytes
    app.router.routes.append(Route(webhook.ROUTE, _never_reached, methods=["POST"]))
    app.router.routes.extend(ops_routes(readiness_of))
    return app
