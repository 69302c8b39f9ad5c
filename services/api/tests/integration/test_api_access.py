"""The auth and scope matrix over every route, and no route that shows or touches another
team's data. The table names each operation's scope; a route missing from it fails."""

import re

import pytest
from api_support import auth

from chime_api.domain.keys import Scope

pytestmark = pytest.mark.integration

SCOPES = {
    ("POST", "/v1/notifications"): "notify",
    ("GET", "/v1/notifications"): "read",
    ("GET", "/v1/notifications/{notification_id}"): "read",
    ("POST", "/v1/notifications/{notification_id}/edit"): "notify",
    ("DELETE", "/v1/notifications/{notification_id}/message"): "notify",
    ("POST", "/v1/keys"): "admin",
    ("GET", "/v1/keys"): "admin",
    ("GET", "/v1/keys/{key_id}"): "admin",
    ("PATCH", "/v1/keys/{key_id}"): "admin",
    ("DELETE", "/v1/keys/{key_id}"): "admin",
    ("POST", "/v1/keys/{key_id}/rotate"): "admin",
    ("GET", "/v1/usage"): "read",
    ("POST", "/v1/schedules"): "schedule",
    ("GET", "/v1/schedules"): "read",
    ("GET", "/v1/schedules/{schedule_id}/preview"): "read",
    ("GET", "/v1/schedules/{schedule_id}"): "read",
    ("PATCH", "/v1/schedules/{schedule_id}"): "schedule",
    ("DELETE", "/v1/schedules/{schedule_id}"): "schedule",
    ("POST", "/v1/schedules/{schedule_id}/pause"): "schedule",
    ("POST", "/v1/schedules/{schedule_id}/resume"): "schedule",
    ("POST", "/v1/schedule-previews"): "schedule",
    ("POST", "/v1/broadcasts"): "broadcast",
    ("GET", "/v1/broadcasts"): "read",
    ("GET", "/v1/broadcasts/{broadcast_id}"): "read",
    ("POST", "/v1/broadcasts/{broadcast_id}/cancel"): "broadcast",
    ("GET", "/v1/broadcasts/{broadcast_id}/recipients"): "read",
    ("GET", "/v1/chats"): "read",
    ("GET", "/v1/chats/{chat_id}"): "read",
    ("GET", "/v1/topics"): "read",
    ("POST", "/v1/topics/{topic}/subscriptions"): "topics",
    ("GET", "/v1/topics/{topic}/subscriptions"): "read",
    ("DELETE", "/v1/topics/{topic}/subscriptions/{chat_id}"): "topics",
    ("GET", "/v1/events"): "read",
    ("POST", "/v1/webhooks"): "read",
    ("GET", "/v1/webhooks"): "read",
    ("GET", "/v1/webhooks/{webhook_id}"): "read",
    ("DELETE", "/v1/webhooks/{webhook_id}"): "read",
    ("POST", "/v1/webhooks/{webhook_id}/replay"): "read",
    ("POST", "/v1/webhooks/{webhook_id}/secret-rotations"): "read",
    ("POST", "/v1/webhooks/{webhook_id}/pause"): "read",
    ("POST", "/v1/webhooks/{webhook_id}/resume"): "read",
    ("GET", "/v1/history/chats/{chat_id}/last"): "read",
    ("GET", "/v1/history/chats/{chat_id}/messages"): "read",
    ("GET", "/v1/history/chats/{chat_id}/search"): "read",
    ("DELETE", "/v1/history/chats/{chat_id}"): "admin",
    ("GET", "/v1/stats/global"): "read",
    ("GET", "/v1/stats/bots/{bot_id}"): "read",
    ("GET", "/v1/stats/chats/{chat_id}"): "read",
    ("GET", "/v1/stats/keys/{api_key_id}"): "read",
    ("GET", "/v1/stats/top-chats"): "read",
}
# Chats and bots are the installation's, not a team's: any key with `read` may read their
# history and stats (forgetting one needs `admin`); a topic name is per team, so another
# team's request reaches its own (empty) topic. Everything else with an id is a team's own.
INSTALLATION_WIDE = (
    "/v1/topics/", "/v1/chats/", "/v1/history/chats/", "/v1/stats/chats/", "/v1/stats/bots/",
)  # fmt: skip
# A stream ends at once with max_seconds=0 (what is there now).
PARAMS = {("GET", "/v1/events"): {"max_seconds": 0}}
ALL = [s.value for s in Scope]


async def operations(client):
    spec = (await client.get("/openapi.json")).json()
    return [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]


def concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x"), path)


async def test_every_route_is_in_the_matrix(client):
    assert sorted(await operations(client)) == sorted(SCOPES)


async def test_401_without_a_key_and_403_without_the_scope(client, make_key):
    keys_without = {scope: await make_key(*(s for s in ALL if s != scope), team="m")
                    for scope in ALL}  # fmt: skip
    only = {scope: await make_key(scope, team="m") for scope in ALL}
    ids = {"topic": "t", "chat_id": "1", "bot_id": "7", "api_key_id": "key_x"}
    for (method, path), scope in SCOPES.items():
        url = concrete(path, ids)
        params = PARAMS.get((method, path))
        anonymous = await client.request(method, url, params=params)
        assert anonymous.status_code == 401, (method, path)
        denied = await client.request(method, url, params=params, headers=auth(keys_without[scope]))
        assert denied.status_code == 403, (method, path)
        assert denied.json()["type"] == "/problems/insufficient-scope"
        allowed = await client.request(method, url, params=params, headers=auth(only[scope]))
        assert allowed.status_code not in (401, 403), (method, path, allowed.text)


async def test_no_route_shows_or_changes_another_teams_data(client, make_key, tap):
    mine = await make_key(*ALL, team="mine")
    theirs = await make_key(*ALL, team="theirs")
    schedule = {"chat_id": 1, "spec": {"kind": "cron", "expression": "0 9 * * *"},
                "time_zone": "UTC", "message": {"text": "x"}}  # fmt: skip
    made = {
        "notification_id": await client.post(
            "/v1/notifications", json={"chat_id": 1, "text": "x"}, headers=auth(mine)),
        "schedule_id": await client.post("/v1/schedules", json=schedule, headers=auth(mine)),
        "broadcast_id": await client.post(
            "/v1/broadcasts", json={"topic": "t", "message": {"text": "x"}}, headers=auth(mine)),
        "key_id": await client.post(
            "/v1/keys", json={"name": "n", "scopes": ["read"]}, headers=auth(mine)),
        "webhook_id": await client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/h"}, headers=auth(mine)),
    }  # fmt: skip
    ids = {name: response.json()["id"] for name, response in made.items()}
    await client.post("/v1/topics/t/subscriptions", json={"chat_id": 5}, headers=auth(mine))
    ids |= {"topic": "t", "chat_id": "5"}
    bodies = {
        ("PATCH", "/v1/keys/{key_id}"): {"rate_per_second": 1.0, "burst": 1},
        ("PATCH", "/v1/schedules/{schedule_id}"): {"message": {"text": "y"}},
        ("POST", "/v1/notifications/{notification_id}/edit"): {"text": "y"},
        ("POST", "/v1/webhooks/{webhook_id}/replay"): {"after_position": 0},
    }
    secrets = set(ids.values()) - {"t", "5"}
    for method, path in SCOPES:
        url = concrete(path, ids)
        response = await client.request(
            method, url, json=bodies.get((method, path)), params=PARAMS.get((method, path)),
            headers=auth(theirs),
        )  # fmt: skip
        if "{" in path and not path.startswith(INSTALLATION_WIDE):
            assert response.status_code == 404, (method, path, response.status_code)
        if response.status_code < 300:  # a 404 may echo the id it was asked for
            for secret in secrets:
                assert secret not in response.text, (method, path)
    # A team's topic namespace is its own: the other team saw no subscriber, and its
    # unsubscribe did not remove ours.
    ours = await client.get("/v1/topics/t/subscriptions", headers=auth(mine))
    assert [s["chat_id"] for s in ours.json()["items"]] == [5]
    for name in ("schedule_id", "broadcast_id"):
        path = f"/v1/{name.removesuffix('_id')}s/{ids[name]}"
        assert (await client.get(path, headers=auth(mine))).json()["status"] == "requested"
