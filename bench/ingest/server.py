"""Ingest as `python -m chime_ingest serve` runs it, plus POST /bench/empty: answered 200 at
once, in front of the app as the webhook is (same server, event loop and body reading, no
span, no metric, no storage): the ceiling the bench compares the webhook with. Run by
`run.py`, configured through the usual CHIME_INGEST_* variables."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from chime_ingest.entrypoints.app import create_app
from chime_ingest.entrypoints.webhook import read_body
from chime_ingest.settings import SERVICE, IngestSettings
from chime_kit.service import serve

_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
}
_BODY = {"type": "http.response.body", "body": b'{"ok":true}'}


def create_bench_app() -> object:
    app = create_app()

    async def bench(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/bench/empty":
            await read_body(scope, receive, app.max_body_bytes)
            await send(_START)
            await send(_BODY)
            return
        await app(scope, receive, send)

    return bench


if __name__ == "__main__":
    serve("server:create_bench_app", IngestSettings(), SERVICE)
