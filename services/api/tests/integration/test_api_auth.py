"""API keys: 401 without a valid key, 403 without the scope, revocation takes effect."""

import asyncio

import pytest
from api_support import READ, WRITE, auth

from chime_api.entrypoints.cli import list_keys, main, revoke_key

pytestmark = pytest.mark.integration

BODY = {"chat_id": 42, "text": "hello"}


def assert_unauthorized(response):
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    problem = response.json()
    assert problem["status"] == 401
    assert problem["title"] == "Not authenticated"
    assert problem["instance"] == "/v1/notifications"


async def test_requests_without_a_valid_key_get_401(client, make_key, settings):
    key = await make_key(WRITE, READ)
    assert_unauthorized(await client.post("/v1/notifications", json=BODY))
    assert_unauthorized(await client.get("/v1/notifications"))
    assert_unauthorized(await client.get("/v1/notifications", headers=auth("nonsense")))
    assert_unauthorized(
        await client.get("/v1/notifications", headers={"Authorization": f"Basic {key}"})
    )
    # The right id with a wrong secret.
    assert_unauthorized(await client.get("/v1/notifications", headers=auth(key[:-4] + "AAAA")))
    assert (await client.get("/v1/notifications", headers=auth(key))).status_code == 200


async def test_a_revoked_key_stops_working_at_once(client, make_key, settings):
    key = await make_key(READ)
    assert (await client.get("/v1/notifications", headers=auth(key))).status_code == 200
    [stored] = await list_keys(settings)
    assert await revoke_key(settings, stored.id)
    assert not await revoke_key(settings, stored.id)
    assert_unauthorized(await client.get("/v1/notifications", headers=auth(key)))


async def test_the_x_api_key_header_is_accepted(client, make_key):
    key = await make_key(READ)
    response = await client.get("/v1/notifications", headers={"X-API-Key": key})
    assert response.status_code == 200


async def test_a_key_without_the_scope_gets_403(client, make_key):
    reader = await make_key(READ)
    writer = await make_key(WRITE)
    denied = await client.post("/v1/notifications", json=BODY, headers=auth(reader))
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"
    assert denied.json()["detail"] == "this API key lacks the scope notify"
    assert (await client.get("/v1/notifications", headers=auth(writer))).status_code == 403
    assert (await client.get("/v1/notifications/ntf_x", headers=auth(writer))).status_code == 403


async def test_the_cli_creates_lists_and_revokes_keys(database_url, monkeypatch, capsys):
    monkeypatch.setenv("CHIME_API_DATABASE_URL", database_url)
    argv = ["keys", "create", "--name", "billing", "--scope", WRITE, "--scope", READ]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out.splitlines()
    plaintext = out[-1]
    assert plaintext.startswith("chime_")
    key_id = out[0].split()[1]
    assert key_id.startswith("key_")

    assert await asyncio.to_thread(main, ["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing
    assert "billing" in listing
    assert plaintext not in listing
    assert plaintext[len("chime_") + 12 :] not in listing

    assert await asyncio.to_thread(main, ["keys", "revoke", key_id]) == 0
    assert await asyncio.to_thread(main, ["keys", "revoke", key_id]) == 1
    assert await asyncio.to_thread(main, ["keys", "list", "--json"]) == 0
    assert '"revoked_at": "' in capsys.readouterr().out


async def test_key_changes_are_recorded_as_events(settings, make_key):
    import asyncpg

    await make_key(READ)
    [key] = await list_keys(settings)
    await revoke_key(settings, key.id)
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        types = await conn.fetch(
            "SELECT type FROM api.events WHERE stream_id = $1 ORDER BY version",
            f"api-key-{key.id}",
        )
        assert [r["type"] for r in types] == ["api_key.created.v1", "api_key.revoked.v1"]
        assert await conn.fetchval("SELECT count(*) FROM api.outbox") == 0
    finally:
        await conn.close()
