"""The webhook against real PostgreSQL and RabbitMQ: verified, deduplicated, never stuck."""

import json
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chime_ingest.domain.bots import webhook_secret
from chime_ingest.entrypoints.app import create_app
from chime_ingest.settings import IngestSettings
from chime_kit.faulty_link import faulty_link
from chime_kit.testing import eventually, serving

SAMPLES = Path(__file__).resolve().parents[4].parent / "shared" / "telegram-bot-api" / "samples"
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


async def test_updates_are_stored_once_and_interpreted_once(ingest):
    client, app = ingest
    for _ in range(3):
        response = await post(client, message(10))
        assert response.status_code == 200
    assert await counts(app) == {"accepted": 1}
    pool = app.state.service.runtime.pool

    async def interpreted():
        return await pool.fetchval("SELECT count(*) = 0 FROM update_queue")

    await eventually(interpreted)


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


def nested(depth: int) -> bytes:
    update = json.dumps(message(70))[:-1].encode()
    return update + b', "x": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


async def test_nul_characters_are_replaced_and_the_update_accepted(ingest):
    client, app = ingest
    escaped = json.dumps(message(30, "/help\u0000me")).encode()
    assert b"\\u0000" in escaped
    assert (await post(client, escaped)).status_code == 200
    pool = app.state.service.runtime.pool
    row = await pool.fetchrow("SELECT status, payload FROM updates WHERE update_id = 30")
    assert row["status"] == "accepted"
    assert row["payload"]["message"]["text"] == "/help\ufffdme"
    raw_nul = await post(client, b'{"update_id": 31,\x00 "message": {}}')
    assert raw_nul.status_code == 400
    assert raw_nul.headers["content-type"] == "application/problem+json"
    assert "\x00" not in await pool.fetchval("SELECT body FROM rejected_bodies")


@pytest.mark.parametrize("update_id", [2**63, 2**64 - 1, -1])
async def test_update_ids_beyond_what_the_log_keys_are_not_updates(ingest, update_id):
    client, app = ingest
    response = await post(client, message(update_id))
    assert response.status_code == 400
    assert "update_id" in response.json()["detail"]
    assert await counts(app) == {}


@pytest.mark.parametrize("depth", [40, 300, 1000, 2000])
async def test_absurd_nesting_is_refused_before_it_is_parsed_into_anything(ingest, depth):
    client, app = ingest
    response = await post(client, nested(depth))
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]
    assert await counts(app) == {}
    assert (await post(client, nested(20))).status_code == 200


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("chat.id", 2**63),
        ("chat.id", 2**53),
        ("from.id", -(2**63)),
        ("message_id", 2**63),
        ("message_id", 2**31),
        ("date", 2**64 - 1),
    ],
)
async def test_ids_out_of_telegram_ranges_are_recorded_as_rejected(ingest, where, value):
    client, app = ingest
    body = message(40)
    part = body["message"]
    *path, last = where.split(".")
    for key in path:
        part = part[key]
    part[last] = value
    assert (await post(client, body)).status_code == 200
    pool = app.state.service.runtime.pool
    row = await pool.fetchrow("SELECT status, reason FROM updates WHERE update_id = 40")
    assert row["status"] == "rejected"
    assert f"message.{where}" in row["reason"]
    assert (await post(client, message(41))).status_code == 200


async def test_bodies_over_the_limit_are_refused_while_streamed(database_url, amqp_url):
    settings = IngestSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        bot_tokens=[TOKEN],
        webhook_secret_key="k",
        max_body_bytes=4096,
    )
    app = create_app(settings)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        big = message(50, "x" * 5000)
        declared = await post(client, big)
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"

        async def chunks():
            payload = json.dumps(big).encode()
            for start in range(0, len(payload), 1000):
                yield payload[start : start + 1000]

        streamed = await client.post(
            f"/telegram/{BOT_ID}/webhook",
            content=chunks(),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        assert streamed.status_code == 413
        assert (await post(client, message(51, "x" * 3000))).status_code == 200
        assert await counts(app) == {"accepted": 1}


def test_the_default_body_limit_is_far_above_any_real_update():
    largest = max(len(json.dumps(json.loads(p.read_text()))) for p in VALID + INVALID)
    assert largest < 2048
    assert IngestSettings.model_fields["max_body_bytes"].default >= 256 * 1024


def assert_retry_later(response):
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert response.headers["content-type"] == "application/problem+json"


async def test_while_postgresql_is_unreachable_the_webhook_answers_503(database_url, amqp_url):
    target = urlsplit(database_url)
    async with faulty_link(target.hostname, target.port) as link:
        through = database_url.replace(f":{target.port}/", f":{link.port}/")
        settings = IngestSettings(
            database_url=through, amqp_url=amqp_url, bot_tokens=[TOKEN], webhook_secret_key="k"
        )
        app = create_app(settings)
        async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
            assert (await post(client, message(80))).status_code == 200
            link.cut()
            after_cut = await post(client, message(81))
            if after_cut.status_code != 200:  # a pooled connection may notice the cut first
                assert_retry_later(after_cut)
            link.down(60)
            for n in range(82, 87):
                assert_retry_later(await post(client, message(n)))
            link.up()

            async def accepted_again():
                return (await post(client, message(90))).status_code == 200

            await eventually(accepted_again)
            for n in range(81, 87):  # Telegram's retries of what was answered 503
                assert (await post(client, message(n))).status_code == 200
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM ingest.updates")
    finally:
        await conn.close()
    assert stored == 8  # 80, 81 to 86 retried, 90: each once


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
UPDATE_LIKE = st.fixed_dictionaries(
    {"update_id": st.integers() | JSON},
    optional={
        "message": st.dictionaries(
            st.sampled_from(["message_id", "date", "chat", "from", "text"]), JSON
        )
    },
)


@settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=JSON.map(json.dumps) | UPDATE_LIKE.map(json.dumps) | st.binary(max_size=64))
async def test_odd_bodies_never_get_a_5xx(ingest, body):
    client, _ = ingest
    content = body if isinstance(body, bytes) else body.encode()
    response = await post(client, content)
    assert response.status_code in (200, 400), response.text
