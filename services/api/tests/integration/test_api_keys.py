"""/v1/keys over HTTP: shown once, hashed, team-scoped, rotated with overlap, revoked; the
same 401 for every key that does not work."""

from datetime import UTC, datetime, timedelta

import pytest
from api_support import auth

from chime_api.domain import keys as domain
from chime_api.domain.keys import Limits
from chime_api.entrypoints.cli import create_key, limit_key

pytestmark = pytest.mark.integration


def unauthorized_body(response):
    assert response.status_code == 401
    body = response.json()
    body.pop("instance")
    body.pop("request_id")
    return body


async def test_an_admin_creates_a_key_shown_once_and_stored_hashed(client, make_key, app):
    admin = await make_key("admin", team="billing")
    made = await client.post(
        "/v1/keys",
        json={"name": "worker", "scopes": ["notify", "read"]},
        headers={**auth(admin), "Idempotency-Key": "k1"},
    )
    assert made.status_code == 201
    body = made.json()
    plaintext = body["key"]
    assert plaintext.startswith(body["prefix"])
    assert body["team"] == "billing"
    assert made.headers["cache-control"] == "no-store"
    pool = app.state.service.runtime.pool
    stored = await pool.fetchval("SELECT count(*) FROM api.api_keys WHERE secret_hash = $1",
                                 domain.hash_secret(domain.parse_key(plaintext)[1]))  # fmt: skip
    assert stored == 1
    assert await pool.fetchval(
        "SELECT count(*) FROM api.idempotency_keys WHERE response_body::text LIKE $1",
        f"%{plaintext[-20:]}%",
    ) == 0  # fmt: skip
    # A retry replays the response, without the key: it is shown once.
    again = await client.post(
        "/v1/keys",
        json={"name": "worker", "scopes": ["notify", "read"]},
        headers={**auth(admin), "Idempotency-Key": "k1"},
    )
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == body["id"]
    assert again.json()["key"] is None
    # The new key works with its scopes, and is not an admin.
    assert (await client.get("/v1/notifications", headers=auth(plaintext))).status_code == 200
    assert (await client.get("/v1/keys", headers=auth(plaintext))).status_code == 403


async def test_a_team_sees_only_its_own_keys(client, make_key):
    billing = await make_key("admin", team="billing")
    other = await make_key("admin", team="search")
    loner = await make_key("admin")
    listed = (await client.get("/v1/keys", headers=auth(billing))).json()["items"]
    assert {k["team"] for k in listed} == {"billing"}
    foreign = (await client.get("/v1/keys", headers=auth(other))).json()["items"][0]["id"]
    for method, path in [
        ("GET", f"/v1/keys/{foreign}"),
        ("PATCH", f"/v1/keys/{foreign}"),
        ("DELETE", f"/v1/keys/{foreign}"),
        ("POST", f"/v1/keys/{foreign}/rotate"),
    ]:
        json = {"rate_per_second": 1.0, "burst": 1} if method == "PATCH" else None
        response = await client.request(method, path, json=json, headers=auth(billing))
        assert response.status_code == 404, (method, path)
    assert (await client.get(f"/v1/keys/{foreign}", headers=auth(other))).status_code == 200
    # A key without a team manages only itself and cannot create keys.
    mine = (await client.get("/v1/keys", headers=auth(loner))).json()["items"]
    assert len(mine) == 1
    refused = await client.post("/v1/keys", json={"name": "x", "scopes": ["read"]},
                                headers=auth(loner))  # fmt: skip
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/no-team"


async def test_a_rotated_key_works_until_the_overlap_ends(client, make_key, settings, app):
    admin = await make_key("admin", "read", team="ops")
    [me] = (await client.get("/v1/keys", headers=auth(admin))).json()["items"]
    rotated = await client.post(f"/v1/keys/{me['id']}/rotate", headers=auth(admin))
    assert rotated.status_code == 201
    successor = rotated.json()["key"]
    assert set(rotated.json()["scopes"]) == {"admin", "read"}
    old = (await client.get(f"/v1/keys/{me['id']}", headers=auth(successor))).json()
    expires = datetime.fromisoformat(old["expires_at"])
    assert expires - datetime.now(UTC) > settings.key_rotation_overlap - timedelta(minutes=1)
    # Both work during the overlap.
    assert (await client.get("/v1/notifications", headers=auth(admin))).status_code == 200
    assert (await client.get("/v1/notifications", headers=auth(successor))).status_code == 200
    # Once the overlap is over the old key gets the same 401 as an unknown key.
    pool = app.state.service.runtime.pool
    await pool.execute(
        "UPDATE api.api_keys SET expires_at = now() - interval '1s' WHERE id = $1", me["id"]
    )
    expired = await client.get("/v1/notifications", headers=auth(admin))
    unknown = await client.get("/v1/notifications", headers=auth(domain.issue_key().plaintext))
    assert unauthorized_body(expired) == unauthorized_body(unknown)


async def test_unknown_revoked_and_wrong_secret_keys_get_one_401(client, make_key, settings):
    admin = await make_key("admin", team="t")
    victim_key, victim = await create_key(settings, "victim", ["read"], "t")
    # The right id and a well-formed checksum, but another secret.
    forged = domain.issue_key().plaintext
    id_part = victim_key.id.removeprefix("key_")
    body = f"chime_{id_part}_{forged[len('chime_') + 27 : -6]}"
    forged = body + domain._checksum(body)
    revoked = await client.delete(f"/v1/keys/{victim_key.id}", headers=auth(admin))
    assert revoked.status_code == 204
    answers = [
        await client.get("/v1/notifications", headers=auth(k))
        for k in (victim, forged, domain.issue_key().plaintext, "chime_nonsense")
    ]
    bodies = [unauthorized_body(a) for a in answers]
    assert all(b == bodies[0] for b in bodies)


async def test_a_scope_it_lacks_is_403_naming_it(client, make_key):
    notifier = await make_key("notify", team="t")
    denied = await client.get("/v1/keys", headers=auth(notifier))
    assert denied.status_code == 403
    assert denied.json()["type"] == "/problems/insufficient-scope"
    assert 'scope="admin"' in denied.headers["www-authenticate"]


async def test_limits_are_set_over_http_and_by_the_cli(client, make_key, settings):
    admin = await make_key("admin", team="lim")
    [me] = (await client.get("/v1/keys", headers=auth(admin))).json()["items"]
    assert me["limits"] is None
    patched = await client.patch(
        f"/v1/keys/{me['id']}", json={"rate_per_second": 2.5, "burst": 5}, headers=auth(admin)
    )
    assert patched.json()["limits"] == {"rate_per_second": 2.5, "burst": 5}
    assert await limit_key(settings, me["id"], Limits(9, 20)) is not None
    now = (await client.get(f"/v1/keys/{me['id']}", headers=auth(admin))).json()
    assert now["limits"] == {"rate_per_second": 9.0, "burst": 20}
