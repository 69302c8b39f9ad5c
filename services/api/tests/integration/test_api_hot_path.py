"""The hot path (authenticate, take a token, read): a key a replica remembers is still
checked in PostgreSQL at every request, so revocation, the end of a rotation's overlap and
new limits apply at the next request on every replica."""

import pytest
from api_support import READ, WRITE, auth, running

from chime_api.adapters.limits import _SPEND_AND_READ
from chime_api.domain.keys import Limits
from chime_api.entrypoints.app import create_app
from chime_api.entrypoints.cli import create_key, limit_key, revoke_key, rotate_key
from chime_api.handlers.keys import KNOWN_KEYS

pytestmark = pytest.mark.integration


async def test_a_remembered_key_revoked_is_refused_at_its_next_request_on_both_replicas(
    settings,
):
    key, plaintext = await create_key(settings, "worker", [READ], team="t")
    _, other = await create_key(settings, "other", [READ], team="t")
    one, two = create_app(settings), create_app(settings)
    async with running(one) as a, running(two) as b:
        for client in (a, b, a, b):  # both replicas have seen it work
            assert (await client.get("/v1/notifications", headers=auth(plaintext))).is_success
        assert await revoke_key(settings, key.id)
        for client in (a, b):
            refused = await client.get("/v1/notifications", headers=auth(plaintext))
            assert refused.status_code == 401
            assert refused.json()["type"] == "/problems/unauthorized"
            # Nothing else is refused with it.
            assert (await client.get("/v1/notifications", headers=auth(other))).is_success


async def test_a_remembered_key_past_its_overlap_is_refused_and_new_limits_apply_at_once(
    settings,
):
    key, plaintext = await create_key(settings, "worker", [READ], team="t")
    one, two = create_app(settings), create_app(settings)
    async with running(one) as a, running(two) as b:
        for client in (a, b):
            answer = await client.get("/v1/notifications", headers=auth(plaintext))
            assert answer.headers["ratelimit-policy"].startswith('"default";q=100000;')
        assert await limit_key(settings, key.id, Limits(1, 7)) is not None
        for client in (a, b):
            answer = await client.get("/v1/notifications", headers=auth(plaintext))
            assert answer.headers["ratelimit-policy"] == '"default";q=7;w=7'
        rotated = await rotate_key(settings, key.id)
        assert rotated is not None
        _, successor = rotated
        async with one.state.service.runtime.pool.acquire() as conn:  # the overlap ends
            await conn.execute(
                "UPDATE api_keys SET expires_at = now() - interval '1s' WHERE id = $1", key.id
            )
        for client in (a, b):
            expired = await client.get("/v1/notifications", headers=auth(plaintext))
            assert expired.status_code == 401
            assert (await client.get("/v1/notifications", headers=auth(successor))).is_success


async def test_the_hot_pool_skips_the_reset_yet_rolls_back_a_transaction_left_open(app):
    async with running(app):
        pool = app.state.service.deps.limits_pool
        conn = await pool.acquire()
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        await conn.execute("SET work_mem = '7MB'")  # session state: no user of it does this
        await conn.transaction().start()
        await conn.execute(
            "INSERT INTO usage_requests (api_key_id, day, requests, limited)"
            " VALUES ('key_x', current_date, 1, 0)"
        )
        await pool.release(conn)
        async with pool.acquire() as again:
            assert await again.fetchval("SELECT count(*) FROM usage_requests") == 0
            if await again.fetchval("SELECT pg_backend_pid()") == backend:  # not reset
                assert await again.fetchval("SHOW work_mem") == "7MB"


async def test_a_remembered_key_reads_in_its_own_statement_and_is_refused_as_before(
    client, settings
):
    """Once a replica has seen a key work, `GET /v1/notifications[/{id}]` check the key,
    spend its token and read in one statement: the same answers as the first request's two
    statements, and the same refusals in the same order (401, 429, 403, 404)."""
    key, writer = await create_key(settings, "writer", [WRITE, READ], team="t")
    _, notifier = await create_key(settings, "notifier", [WRITE], team="t")  # no read
    _, stranger = await create_key(settings, "stranger", [WRITE, READ], team="u")
    ids = []
    for n in range(3):
        sent = await client.post(
            "/v1/notifications", json={"chat_id": n + 1, "text": "x"}, headers=auth(writer)
        )
        ids.append(sent.json()["id"])
    assert KNOWN_KEYS.get(writer) is not None  # remembered: reads now go in its statement
    one = f"/v1/notifications/{ids[0]}"
    first = await client.get(one, headers=auth(writer))
    assert first.status_code == 200
    assert first.json()["id"] == ids[0]
    assert "ratelimit" in first.headers
    assert any("WHERE id = $5" in sql for sql, _ in _SPEND_AND_READ)

    # Pages in the key's statement come newest first and follow their cursor.
    seen = []
    cursor = None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/notifications", params=query, headers=auth(writer))).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))

    # Another owner's notification is not found, remembered or not.
    for _ in range(2):
        assert (await client.get(one, headers=auth(stranger))).status_code == 404
    # A remembered key without the scope: 403, after its token (the RateLimit headers).
    await client.post("/v1/notifications", json={"chat_id": 9, "text": "x"}, headers=auth(notifier))
    forbidden = await client.get(one, headers=auth(notifier))
    assert forbidden.status_code == 403
    assert forbidden.json()["type"] == "/problems/insufficient-scope"
    assert "ratelimit" in forbidden.headers
    # Out of tokens: 429 with Retry-After, before the scope or the read.
    assert await limit_key(settings, key.id, Limits(0.001, 1)) is not None
    answers = [await client.get(one, headers=auth(writer)) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 429]
    assert answers[1].headers["retry-after"].isdigit()
    assert answers[1].json()["type"] == "/problems/rate-limited"
    # Revoked: 401 as for a key never seen.
    assert await revoke_key(settings, key.id)
    revoked = await client.get(one, headers=auth(writer))
    assert revoked.status_code == 401
    assert revoked.json()["type"] == "/problems/unauthorized"
