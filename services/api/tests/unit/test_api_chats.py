"""The chats read model on the in-memory fakes: what each event does to a chat, what is kept
in its stream, who the chat talks through, listing filters and pages."""

from datetime import UTC, datetime, timedelta

import pytest

from chime_api.adapters.memory import InMemoryChats
from chime_api.domain.chats import SEEN_STEP, ChatFilter, assigned_bot, stream_of
from chime_api.handlers.chats import get_chat, list_chats, record_chat_event
from chime_contracts.envelope import envelope_of
from chime_contracts.events import (
    ChatBlocked,
    ChatMemberChanged,
    ChatStopped,
    LanguageSet,
    MessageReceived,
    TimeZoneSet,
    UserStarted,
)
from chime_kit.fakes import InMemoryEvents, InMemoryWork

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def received(bot, chat, at, language=None):
    return envelope_of(
        MessageReceived(
            bot_id=bot, update_id=1, update_kind="message", chat_id=chat, chat_type="private",
            message_id=1, user_id=chat, language_code=language, content_type="text",
            text="hi", sent_at=at,
        ),
        producer="ingest",
    )  # fmt: skip


def started(bot, chat, language=None):
    event = UserStarted(
        bot_id=bot, chat_id=chat, user_id=chat, username="u", language_code=language
    )
    return envelope_of(event, producer="ingest")


def blocked(bot, chat, at):
    event = ChatBlocked(bot_id=bot, chat_id=chat, detected_by="send_forbidden", blocked_at=at)
    return envelope_of(event, producer="sender")


def member(bot, chat, state, at):
    event = ChatMemberChanged(
        bot_id=bot, chat_id=chat, chat_type="private", old_state="member", new_state=state,
        changed_at=at,
    )  # fmt: skip
    return envelope_of(event, producer="ingest")


@pytest.fixture
def world():
    events = InMemoryEvents()
    chats = InMemoryChats()

    async def feed(*envelopes):
        for envelope in envelopes:
            await record_chat_event(InMemoryWork(events, "api", envelope), chats, envelope)

    return events, chats, feed


async def test_a_started_chat_is_known_with_its_bot_language_and_times(world):
    _, chats, feed = world
    start = started(7, 100, language="uk")
    await feed(start, received(7, 100, T0 + timedelta(seconds=30)))
    chat = await get_chat(chats, 100)
    assert chat is not None
    assert chat.assigned_bot_id == 7
    assert chat.language == "uk"
    (bot,) = chat.bots
    assert bot.started_at == start.occurred_at
    assert bot.username == "u"
    assert bot.chat_type == "private"
    assert chat.first_seen_at == min(start.occurred_at, T0 + timedelta(seconds=30))
    assert await get_chat(chats, 101) is None


async def test_messages_move_last_seen_once_per_step_and_only_those_are_kept(world):
    events, chats, feed = world
    await feed(*(received(7, 100, T0 + timedelta(minutes=m)) for m in range(12)))
    # The first, then the first at least a step after the last one kept: 0, 5, 10.
    assert len(events.streams[stream_of(7, 100)]) == 3
    chat = await get_chat(chats, 100)
    assert chat is not None
    assert chat.last_seen_at == T0 + 2 * SEEN_STEP
    assert chat.bots[0].version == 3


async def test_blocking_follows_the_events_own_time_not_their_arrival(world):
    _, chats, feed = world
    await feed(received(7, 100, T0), blocked(7, 100, T0 + timedelta(minutes=1)))
    assert (await chats.get(7, 100)).blocked
    # A message older than the block, arriving late, does not unblock it.
    await feed(received(7, 100, T0 + timedelta(seconds=30)))
    assert (await chats.get(7, 100)).blocked
    # Writing again later does; so does the user's unblocking (member) after a kick.
    await feed(received(7, 100, T0 + timedelta(minutes=2)))
    assert not (await chats.get(7, 100)).blocked
    await feed(member(7, 100, "kicked", T0 + timedelta(minutes=3)))
    assert (await chats.get(7, 100)).blocked
    await feed(member(7, 100, "member", T0 + timedelta(minutes=4)))
    assert not (await chats.get(7, 100)).blocked


async def test_a_repeated_event_changes_nothing_and_is_not_kept(world):
    events, chats, feed = world
    block = blocked(7, 100, T0)
    zone = envelope_of(
        TimeZoneSet(bot_id=7, chat_id=100, user_id=100, time_zone="Europe/Kyiv"), producer="ingest"
    )
    await feed(block, block, zone, zone)
    assert len(events.streams[stream_of(7, 100)]) == 2
    assert (await chats.get(7, 100)).time_zone == "Europe/Kyiv"


async def test_language_set_wins_over_telegrams_language_code(world):
    _, chats, feed = world
    chosen = LanguageSet(bot_id=7, chat_id=100, language="en", chosen_by="command")
    await feed(started(7, 100, "uk"), envelope_of(chosen, producer="ingest"))
    await feed(received(7, 100, T0 + timedelta(hours=1), language="de"))
    assert (await chats.get(7, 100)).language == "en"


async def test_the_assigned_bot_is_the_one_last_written_to_and_not_blocked(world):
    _, chats, feed = world
    await feed(received(7, 100, T0), received(8, 100, T0 + timedelta(minutes=1)))
    chat = await get_chat(chats, 100)
    assert [b.bot_id for b in chat.bots] == [7, 8]
    assert chat.assigned_bot_id == 8
    await feed(blocked(8, 100, T0 + timedelta(minutes=2)))
    assert (await get_chat(chats, 100)).assigned_bot_id == 7
    await feed(blocked(7, 100, T0 + timedelta(minutes=3)))
    assert (await get_chat(chats, 100)).assigned_bot_id == 8  # all blocked: the latest
    assert assigned_bot([await chats.get(7, 100)]).bot_id == 7


async def test_listing_filters_by_a_bots_view_and_pages_newest_first(world):
    _, chats, feed = world
    for n in range(5):
        await feed(
            received(7, 100 + n, T0 + timedelta(minutes=n), language="uk" if n % 2 else "en")
        )
    await feed(
        received(8, 104, T0 + timedelta(minutes=9)), blocked(7, 103, T0 + timedelta(hours=1))
    )
    await feed(
        envelope_of(
            ChatStopped(bot_id=7, chat_id=102, stopped_at=T0 + timedelta(hours=2)),
            producer="ingest",
        )
    )

    async def ids(where, limit=10, after=None):
        found, more = await list_chats(chats, where, limit, after)
        return [c.chat_id for c in found], more

    assert await ids(ChatFilter()) == ([104, 103, 102, 101, 100], False)
    assert await ids(ChatFilter(blocked=True)) == ([103], False)
    assert await ids(ChatFilter(bot_id=8)) == ([104], False)
    assert await ids(ChatFilter(language="uk")) == ([103, 101], False)
    assert await ids(ChatFilter(bot_id=8, blocked=True)) == ([], False)
    first, more = await list_chats(chats, ChatFilter(), 2, None)
    assert [c.chat_id for c in first] == [104, 103]
    assert more
    after = (first[-1].first_seen_at, first[-1].chat_id)
    assert await ids(ChatFilter(), 2, after) == ([102, 101], True)
    assert (await chats.get(7, 102)).stopped
