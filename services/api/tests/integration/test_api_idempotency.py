"""Idempotency-Key on every POST: replayed for a day, refused with another body, then
expired and purged."""

import pytest
from api_support import READ, WRITE, auth

from chime_api.entrypoints.cli import purge

pytestmark = pytest.mark.integration


async def test_every_post_takes_an_idempotency_key(client):
    spec = (await client.get("/openapi.json")).json()
    posts = [(path, ops["post"]) for path, ops in spec["paths"].items() if "post" in ops]
    assert posts
    for path, post in posts:
        names = {p["name"] for p in post.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in names, path


async def test_an_expired_record_is_forgotten_and_purged(client, make_key, settings, app):
    key = await make_key(WRITE, READ)
    headers = {**auth(key), "Idempotency-Key": "daily-report"}

    async def send(text: str):
        return await client.post(
            "/v1/notifications", json={"chat_id": 1, "text": text}, headers=headers
        )

    first = await client.post(
        "/v1/notifications", json={"chat_id": 1, "text": "a"}, headers=headers
    )
    replay = await client.post(
        "/v1/notifications", json={"chat_id": 1, "text": "a"}, headers=headers
    )
    assert replay.json()["id"] == first.json()["id"]
    other = await client.post(
        "/v1/notifications", json={"chat_id": 1, "text": "b"}, headers=headers
    )
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"

    pool = app.state.service.runtime.pool
    await pool.execute("UPDATE api.idempotency_keys SET created_at = now() - interval '25 hours'")
    # Past its day the key is free again: this is a new request with a new effect.
    fresh = await client.post(
        "/v1/notifications", json={"chat_id": 1, "text": "b"}, headers=headers
    )
    assert fresh.status_code == 202
    assert "idempotent-replayed" not in fresh.headers
    assert fresh.json()["id"] != first.json()["id"]

    await client.post("/v1/notifications", json={"chat_id": 2, "text": "c"},
                      headers={**auth(key), "Idempotency-Key": "old"})  # fmt: skip
    await pool.execute(
        "UPDATE api.idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'"
    )
    assert await purge(settings) == 1
    keys = await pool.fetch("SELECT key FROM api.idempotency_keys")
    assert [r["key"] for r in keys] == ["daily-report"]
