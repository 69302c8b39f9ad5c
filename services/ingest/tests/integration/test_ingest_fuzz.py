"""Random and malformed updates through the conversation: nothing escapes, ever.

On the in-memory fakes (the same handlers as PostgreSQL), so hypothesis can try hundreds;
the events any update makes must still be valid contracts.
"""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UpdateReceived
from chime_ingest import handlers
from chime_ingest.adapters.memory import InMemoryChats
from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.domain.updates import NotAnUpdate, screened
from chime_kit.testing import contract_backend

pytestmark = pytest.mark.unit

BOT = 42
KINDS = ["message", "edited_message", "channel_post", "callback_query", "my_chat_member",
         "poll", "future_kind"]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
ids = st.integers(-(2**52), 2**52)
words = st.sampled_from(
    ["/start", "/stop", "/remind", "/every", "/ping", "/list", "/topics", "/cancel", "/pause",
     "/resume", "/snooze", "/subscribe", "/unsubscribe", "/language", "/tz", "/help", "/x",
     "/start@chime_bot", "/list@other_bot", "in", "10m", "fri", "18:30", "next", "monday",
     "2026-02-30", "25:99", "weekday", "\"30 8 * * *\"", "mon,wed", "2", "weeks", "on", "sat",
     "1st", "of", "the", "month", "09:00-18:00", "uk", "Європа", "\u0000", "\U0001f600", "#"]
)  # fmt: skip
texts = st.lists(words, min_size=0, max_size=8).map(" ".join) | st.text(max_size=40)
users = st.fixed_dictionaries(
    {"id": ids, "is_bot": st.booleans(), "first_name": st.text(max_size=5)},
    optional={"language_code": st.sampled_from(["en", "uk", "uk-UA", "zz", ""]),
              "username": st.text(max_size=5)},
)  # fmt: skip
chats = st.fixed_dictionaries(
    {"id": ids, "type": st.sampled_from(["private", "group", "supergroup", "channel", "odd"])}
)
messages = st.fixed_dictionaries(
    {"message_id": st.integers(-(2**31), 2**31 - 1), "date": st.integers(0, 2**40), "chat": chats},
    optional={"from": users, "text": texts, "caption": texts, "migrate_to_chat_id": ids,
              "migrate_from_chat_id": ids, "edit_date": st.integers(0, 2**40),
              "sticker": json_values, "extra": json_values},
)  # fmt: skip
members = st.fixed_dictionaries(
    {"user": users, "status": st.sampled_from(["member", "kicked", "left", "administrator",
                                               "creator", "restricted", "owner?"])},
    optional={"until_date": st.integers(0, 2**31), "can_post_messages": st.booleans()},
)  # fmt: skip
parts = {
    "message": messages,
    "edited_message": messages,
    "channel_post": messages,
    "callback_query": st.fixed_dictionaries(
        {"id": st.text(min_size=1, max_size=8), "from": users, "chat_instance": st.just("c")},
        optional={
            "message": messages,
            "data": st.sampled_from(
                [
                    "snooze:15m",
                    "snooze:1h",
                    "snooze:0m",
                    "snooze:9999w",
                    "list:schedules:2",
                    "list:topics:0",
                    "lang:uk",
                    "lang:zz",
                    "x",
                    "",
                ]
            )
            | st.text(max_size=64),
        },
    ),
    "my_chat_member": st.fixed_dictionaries(
        {
            "chat": chats,
            "from": users,
            "date": st.integers(0, 2**40),
            "old_chat_member": members,
            "new_chat_member": members,
        }
    ),
}
updates = st.one_of(
    *(
        st.builds(lambda kind, part, uid: {"update_id": uid, kind: part},
                  st.just(kind), parts.get(kind, json_values), st.integers(0, 2**31))
        for kind in KINDS
    ),
    st.dictionaries(st.text(max_size=10), json_values, max_size=3).map(
        lambda body: {**body, "update_id": 1}
    ),
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=updates)
async def test_no_update_makes_the_conversation_raise(body: dict[str, Any]) -> None:
    async with contract_backend(None, "ingest", "chime_ingest.migrations") as backend:
        received = envelope_of(
            UpdateReceived(bot_id=BOT, update_id=body["update_id"], kind="fuzz", update=body),
            producer="ingest",
        )
        async with backend.work(received) as work:
            await handlers.interpret(work, InMemoryChats(), received.data, "Europe/Kyiv")
        for envelope in work.emitted:  # type: ignore[attr-defined]
            assert type(envelope.data).model_validate_json(envelope.data.model_dump_json())


@pytest.mark.integration
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=updates)
async def test_no_screened_update_makes_the_real_path_raise(
    database_url: str, body: dict[str, Any]
) -> None:
    """The same on PostgreSQL, for what the receive path lets through (`screened`)."""
    try:
        body = screened(body)
    except NotAnUpdate:
        return
    async with contract_backend(database_url, "ingest", "chime_ingest.migrations") as backend:
        received = envelope_of(
            UpdateReceived(bot_id=BOT, update_id=body["update_id"], kind="fuzz", update=body),
            producer="ingest",
        )
        async with backend.work(received) as work:
            view = backend.pick(work, PostgresChats, InMemoryChats())
            await handlers.interpret(work, view, received.data, "Europe/Kyiv")
