"""The webhook against real PostgreSQL and RabbitMQ: verified, deduplicated, never stuck."""

import json
from pathlib import Path

import httpx
import pytest

from chime_ingest.domain.bots import webhook_secret
from chime_ingest.entrypoints.app import create_app
from chime_ingest.settings import IngestSettings
from chime_kit.testing import eventually, serving

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "telegram-bot-api" / "samples"
VALID = [p for p in sorted(SAMPLES.glob("*.json")) if p.name != "MANIFEST.json"]
INVALID = sorted((SAMPLES / "invalid").glob("*.json"))

pytestmark = pytest.mark.integration

TOKEN = "5550001:AAIngestWebhookTestTokenXXXXXXXXXXXX"
BOT_ID = 5550001
SECRET = webhook_secret("k", BOT_ID)


@pytest.fixture
async def ingest(database_url, amqp_url):
    settings = IngestSettings(
        database_url=database_url, amqp_url=amqp_url, bot_tokens=[TOKEN], webhook_secret_key="k"
    )
    app = create_app(settings)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield client, app


def post(client, body, secret=SECRET, bot_id=BOT_ID):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    return client.post(f"/telegram/{bot_id}/webhook", content=content, headers=headers)


def message(update_id: int, text: str = "hi") -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1,
            "chat": {"id": 9, "type": "private"},
            "from": {"id": 9, "is_bot": False, "first_name": "N"},
            "text": text,
        },
    }


async def counts(app):
    pool = app.state.service.runtime.pool
    return dict(await pool.fetch("SELECT status, count(*) FROM updates GROUP BY status"))


async def test_secret_is_checked_and_unknown_bots_refused(ingest):
    client, app = ingest
    assert (await post(client, message(1), secret=None)).status_code == 401
    assert (await post(client, message(1), secret="wrong")).status_code == 401
    assert (await post(client, message(1), bot_id=1)).status_code == 404
    assert await counts(app) == {}


async def test_updates_are_stored_once_and_published(ingest):
    client, app = ingest
    for _ in range(3):
        response = await post(client, message(10))
        assert response.status_code == 200
    assert await counts(app) == {"accepted": 1}
    pool = app.state.service.runtime.pool

    async def interpreted():
        return await pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = 'ingest.update-received'"
        )

    assert await eventually(interpreted) == 1


async def test_malformed_bodies_get_a_clear_4xx_and_the_stream_goes_on(ingest):
    client, app = ingest
    bad = await post(client, b"{not json")
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    assert "not JSON" in bad.json()["detail"]
    assert (await post(client, {"no": "update_id"})).status_code == 400
    assert (await post(client, message(11))).status_code == 200
    pool = app.state.service.runtime.pool
    assert await pool.fetchval("SELECT count(*) FROM rejected_bodies") == 2


async def test_real_samples_are_accepted_and_broken_ones_recorded_as_rejected(ingest):
    client, app = ingest
    valid = [json.loads(p.read_text()) for p in VALID]
    invalid = [json.loads(p.read_text()) for p in INVALID]
    for n, body in enumerate(valid + invalid):
        body["update_id"] = 1000 + n  # the samples reuse ids across suites
        assert (await post(client, body)).status_code == 200
    assert await counts(app) == {"accepted": len(valid), "rejected": len(invalid)}
    pool = app.state.service.runtime.pool
    reasons = await pool.fetch("SELECT reason FROM updates WHERE status = 'rejected'")
    assert all(r["reason"] for r in reasons)


async def test_health_readiness_and_metrics(ingest):
    client, _ = ingest
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": True, "rabbitmq": True, "outbox_relay": True}
    await post(client, message(20))
    await post(client, message(20))
    metrics = (await client.get("/metrics")).text
    assert 'chime_outbox_pending{service="ingest"}' in metrics
    assert (
        f'chime_ingest_updates_total{{bot_id="{BOT_ID}",outcome="accepted",service="ingest"}}'
        in metrics
    )
    assert (
        f'chime_ingest_updates_total{{bot_id="{BOT_ID}",outcome="duplicate",service="ingest"}}'
        in metrics
    )
