"""Webhook delivery rounds hold no transaction while a receiver answers: endpoints are
claimed (leased) in a short transaction, posted to outside any, and each outcome recorded in
another. A dead replica's claim is taken again once its lease has run out (what it posted
but did not record is delivered again: at least once); two replicas never post to one
endpoint at once; a slow receiver does not hold the event feed back, nor does a transaction
begun after the feed's snapshot."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chime_api.adapters.feed import feed_after
from chime_api.adapters.keys import PostgresKeys
from chime_api.adapters.notifications import PostgresNotifications
from chime_api.adapters.webhooks import PostgresWebhooks, Webhook
from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.domain.keys import ApiKey, Scope
from chime_api.handlers import keys, notifications, webhooks
from chime_api.handlers.notifications import NotificationRequest
from chime_api.handlers.webhooks import Round
from chime_kit.db import create_pool
from chime_kit.runtime import run_migrations
from chime_kit.testing import eventually, serving
from chime_kit.unit_of_work import unit_of_work

pytestmark = pytest.mark.integration
TYPES = ["notification.requested.v1"]


class Receiver:
    """Acknowledges every delivery; counts those in flight per endpoint. Once `held` is set
    to an event, calls after the first `hold_after` deliveries wait until it is set."""

    def __init__(self, pause: float = 0.0, hold_after: int = 0) -> None:
        self.pause = pause
        self.hold_after = hold_after
        self.held: asyncio.Event | None = None
        self.deliveries: list[tuple[str, str]] = []  # (webhook id, event id)
        self.in_flight: Counter[str] = Counter()
        self.most_at_once = 0
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        hook_id = request.headers["chime-webhook-id"]
        self.in_flight[hook_id] += 1
        self.most_at_once = max(self.most_at_once, self.in_flight[hook_id])
        try:
            if self.held is not None and len(self.deliveries) >= self.hold_after:
                await self.held.wait()
            await asyncio.sleep(self.pause)
            event = orjson.loads(await request.body())
            self.deliveries.append((hook_id, event["id"]))
            return Response(status_code=204)
        finally:
            self.in_flight[hook_id] -= 1


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await run_migrations(database_url, SERVICE, MIGRATIONS)
    pool = await create_pool(database_url, SERVICE, min_size=1, max_size=8)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def caller(pool: asyncpg.Pool, team: str) -> ApiKey:
    new = keys.NewKey("hooks", frozenset({Scope.NOTIFY, Scope.READ}), team)
    async with unit_of_work(pool, SERVICE) as uow:
        key, _ = await keys.create_api_key(uow, PostgresKeys(uow.conn), new)
    return key


async def endpoint(pool: asyncpg.Pool, key: ApiKey, url: str) -> Webhook:
    async with unit_of_work(pool, SERVICE) as uow:
        return await webhooks.create_webhook(uow, key, url, TYPES)


async def notify(pool: asyncpg.Pool, key: ApiKey, count: int) -> list[str]:
    made = []
    for n in range(count):
        async with unit_of_work(pool, SERVICE) as uow:
            request = NotificationRequest(chat_id=n, bot_id=7, text="x")
            made.append(
                await notifications.request_notification(
                    uow, PostgresNotifications(uow.conn), key, request
                )
            )
    return [n.id for n in made]


async def current(pool: asyncpg.Pool, hook_id: str) -> Webhook:
    async with pool.acquire() as conn:
        hook = await PostgresWebhooks(conn).get(hook_id)
    assert hook is not None
    return hook


async def test_a_dead_replicas_claim_is_taken_again_after_its_lease(pool, http):
    receiver = Receiver()
    key = await caller(pool, "crash")
    async with serving(receiver.app) as base:
        hook = await endpoint(pool, key, f"{base}/hook")
        await notify(pool, key, 3)
        # A replica claims the endpoint, posts every event and dies before recording.
        dead = Round("dead", lease_seconds=60, call_seconds=5)
        async with pool.acquire() as conn:
            [claimed] = await webhooks.claim(conn, dead, 10)
        for event in claimed.events:
            assert await webhooks.post_event(http, claimed.hook, event, 5) is None
        first = [event_id for _, event_id in receiver.deliveries]
        assert len(first) == 3

        alive = Round("alive", lease_seconds=60, call_seconds=5)
        assert await webhooks.deliver_due(pool, http, alive) == 0  # still held
        assert len(receiver.deliveries) == 3
        leased = await pool.fetchval(
            "SELECT lease_until > now() FROM webhook_claims WHERE holder = 'dead'"
        )
        assert leased is True

        # Its lease runs out (as 60 s later): the next round takes the claim over.
        await pool.execute("UPDATE webhook_claims SET lease_until = now() - interval '1 s'")
        assert await webhooks.deliver_due(pool, http, alive) == 3
    again = [event_id for _, event_id in receiver.deliveries[3:]]
    assert again == first  # at least once: what was not recorded goes out again, in order
    state = await current(pool, hook.id)
    assert (state.delivered, state.attempts, state.last_error) == (3, 0, None)
    assert await pool.fetchval("SELECT count(*) FROM webhook_claims") == 0
    assert await webhooks.deliver_due(pool, http, alive) == 0  # nothing new: nothing sent


async def test_two_replicas_never_post_to_one_endpoint_at_once(pool, http):
    receiver = Receiver(pause=0.02)
    key = await caller(pool, "pair")
    async with serving(receiver.app) as base:
        hooks = [await endpoint(pool, key, f"{base}/hook") for _ in range(4)]
        await notify(pool, key, 3)

        # Claiming at the same moment, no endpoint goes to both (the feed may leave one for
        # the next round: it reads nothing while it cannot tell a transaction's order).
        one, other = Round("one"), Round("other")
        async with pool.acquire() as a, pool.acquire() as b:
            mine, theirs = await asyncio.gather(
                webhooks.claim(a, one, 10), webhooks.claim(b, other, 10)
            )
        holders = dict(await pool.fetch("SELECT webhook_id, holder FROM webhook_claims"))
        assert {c.hook.id: "one" for c in mine} | {c.hook.id: "other" for c in theirs} == holders
        assert len(mine) + len(theirs) == len(holders) >= 1
        await pool.execute("DELETE FROM webhook_claims")  # give them back undelivered

        async def replica(round_: Round) -> None:
            while len(receiver.deliveries) < 12:
                if not await webhooks.deliver_due(pool, http, round_, limit=2):
                    await asyncio.sleep(0.01)

        await asyncio.wait_for(asyncio.gather(replica(one), replica(other)), timeout=60)
    assert receiver.most_at_once == 1
    delivered = Counter(receiver.deliveries)
    assert len(delivered) == 12
    assert set(delivered.values()) == {1}  # nothing crashed, so nothing went twice
    for hook in hooks:
        state = await current(pool, hook.id)
        assert (state.delivered, state.attempts) == (3, 0)


async def test_a_slow_receiver_does_not_hold_the_feed_back(pool, http):
    receiver = Receiver()
    receiver.held = asyncio.Event()
    key = await caller(pool, "slow")
    async with serving(receiver.app) as base:
        hook = await endpoint(pool, key, f"{base}/hook")
        [first] = await notify(pool, key, 1)
        round_ = Round("slow", lease_seconds=120, call_seconds=30)
        delivering = asyncio.create_task(webhooks.deliver_due(pool, http, round_))
        try:

            async def waiting() -> bool:
                return sum(receiver.in_flight.values()) == 1

            await eventually(waiting, within=15)
            # While the receiver sits on the call: no api transaction holds a transaction id
            # (nothing for the feed to wait for), and a new event is in the feed at once.
            writing = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'chime-api' AND backend_xid IS NOT NULL"
            )
            assert writing == 0
            [second] = await notify(pool, key, 1)
            async with pool.acquire() as conn:
                feed = await feed_after(conn, key.owner, hook.position, TYPES)
            assert [e.envelope["data"]["notification_id"] for e in feed] == [first, second]
            assert not delivering.done()
        finally:
            receiver.held.set()
        assert await delivering == 1
        state = await current(pool, hook.id)
        assert state.position == feed[0].position
        assert await webhooks.deliver_due(pool, http, round_) == 1  # the second one
    assert len(receiver.deliveries) == 2


async def test_a_stopped_round_keeps_what_was_acknowledged_and_gives_its_claim_back(pool, http):
    receiver = Receiver(hold_after=1)
    receiver.held = asyncio.Event()
    key = await caller(pool, "stopping")
    async with serving(receiver.app) as base:
        hook = await endpoint(pool, key, f"{base}/hook")
        await notify(pool, key, 3)
        round_ = Round("stopping", lease_seconds=120, call_seconds=30)
        delivering = asyncio.create_task(webhooks.deliver_due(pool, http, round_))

        async def second_in_flight() -> bool:
            return sum(receiver.in_flight.values()) == 1 and len(receiver.deliveries) == 1

        try:
            await eventually(second_in_flight, within=15)
            delivering.cancel()  # the replica stops while the receiver sits on the second
            with pytest.raises(asyncio.CancelledError):
                await delivering
        finally:
            receiver.held.set()
    state = await current(pool, hook.id)
    assert (state.delivered, state.attempts) == (1, 0)
    assert await pool.fetchval("SELECT count(*) FROM webhook_claims") == 0


async def test_endpoints_with_nothing_new_do_not_keep_the_others_waiting(pool, http):
    receiver = Receiver()
    quiet, busy = await caller(pool, "quiet"), await caller(pool, "busy")
    async with serving(receiver.app) as base:
        idle = [await endpoint(pool, quiet, f"{base}/hook") for _ in range(12)]
        waiting = await endpoint(pool, busy, f"{base}/hook")
        # Twelve endpoints due for longer than the one with something new, all up to date.
        await pool.execute(
            "UPDATE webhooks SET next_attempt_at = now() - interval '1 hour'"
            " WHERE id = ANY($1::text[])",
            [hook.id for hook in idle],
        )
        await pool.execute(
            "UPDATE webhooks SET next_attempt_at = now() - interval '1 minute' WHERE id = $1",
            waiting.id,
        )
        await notify(pool, busy, 2)
        round_ = Round("fair")
        sent = [await webhooks.deliver_due(pool, http, round_, limit=10) for _ in range(2)]
    assert sent == [0, 2]  # the first round looked at ten of the idle ones, the next on
    assert [hook for hook, _ in receiver.deliveries] == [waiting.id, waiting.id]


async def test_a_transaction_begun_after_the_feeds_snapshot_holds_nothing_back(pool) -> None:
    """The feed reads what committed before its snapshot while an api transaction that
    began after it runs: that xid is past the snapshot's, not one of the epoch before."""
    key = await caller(pool, "frontier")
    await notify(pool, key, 2)
    async with (
        pool.acquire() as reader,
        pool.acquire() as writer,
        reader.transaction(isolation="repeatable_read"),
    ):
        await reader.fetchval("SELECT 1")  # the reader's snapshot is taken here
        await writer.fetchval("SELECT txid_current()")  # one xid used up since
        async with writer.transaction():
            later = await writer.fetchval("SELECT txid_current()")  # an api xid, after it
            snapshot_xmax = await reader.fetchval(
                "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
            )
            assert later > snapshot_xmax
            seen = await feed_after(reader, key.owner, 0, TYPES)
    assert [e.type for e in seen] == TYPES * 2
