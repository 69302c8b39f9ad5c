"""The webhook served in front of FastAPI keeps what FastAPI's layers gave it."""

import json

import httpx
import pytest
from ingest_harness import message
from opentelemetry.instrumentation.utils import suppress_http_instrumentation

from chime_ingest.domain.bots import webhook_secret
from chime_ingest.entrypoints.app import create_app
from chime_ingest.settings import IngestSettings
from chime_kit.testing import serving

pytestmark = pytest.mark.integration

TOKEN = "5550041:AAIngestDoorTestTokenXXXXXXXXXXXXXXXX"
BOT = 5550041
TRACE = "0af7651916cd43dd8448eb211c80319c"


async def test_other_methods_fall_through_and_a_callers_trace_is_continued(
    database_url, amqp_url, spans
):
    settings = IngestSettings(
        database_url=database_url, amqp_url=amqp_url, bot_tokens=[TOKEN], webhook_secret_key="k"
    )
    app = create_app(settings)
    path = f"/telegram/{BOT}/webhook"
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        wrong = await client.get(path)
        assert wrong.status_code == 405
        assert "POST" in wrong.headers["allow"]
        assert (await client.options(path)).status_code == 204
        assert (await client.post("/telegram/x/webhook", content=b"{}")).status_code == 404
        # The client of the outside world: httpx's instrumentation must not replace the
        # traceparent the caller sends.
        with suppress_http_instrumentation():
            posted = await client.post(
                path,
                content=json.dumps(message(1, 9)).encode(),
                headers={
                    "X-Telegram-Bot-Api-Secret-Token": webhook_secret("k", BOT),
                    "traceparent": f"00-{TRACE}-b7ad6b7169203331-01",
                },
            )
        assert posted.status_code == 200
        assert posted.json() == {"ok": True}
        metrics = (await client.get("/metrics")).text
    assert 'route="/telegram/{bot_id}/webhook",service="ingest",status="200"' in metrics
    (server,) = [
        s
        for s in spans.get_finished_spans()
        if s.name == "POST /telegram/{bot_id}/webhook" and s.attributes.get("chime.bot_id")
    ]
    assert format(server.context.trace_id, "032x") == TRACE
    assert server.attributes["chime.service"] == "ingest"
    assert server.attributes["chime.bot_id"] == BOT
    assert server.attributes["http.response.status_code"] == 200
