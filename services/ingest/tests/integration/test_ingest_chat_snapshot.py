"""A chat's row in `chats` is its stream's snapshot: decisions start from it while it is
current (one small row read, no replay), and a row that is behind its stream, or went stale
between its read and the append, never decides: the stream is replayed instead, and a row
found behind is folded again from it."""

from typing import Any

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import LanguageSet, UpdateReceived
from chime_ingest import handlers
from chime_ingest.__main__ import CLI
from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.domain import replies
from chime_ingest.domain.chats import CHAT
from chime_ingest.locale import Texts
from chime_ingest.ports import ChatSnapshot
from chime_kit.event_store import Append, Recorded
from chime_kit.unit_of_work import UnitOfWork, unit_of_work

pytestmark = pytest.mark.integration

CHAT_ID = 7


async def snapshot_and_fold(talk: Any) -> tuple[ChatSnapshot | None, ChatSnapshot]:
    """The row's snapshot, and the state folded from the whole stream at its version."""
    async with unit_of_work(talk.pool, "ingest") as uow:
        snapshot = await PostgresChats(uow.conn).snapshot(talk.BOT, CHAT_ID)
        stream = await uow.load(f"chat-{talk.BOT}-{CHAT_ID}")
    return snapshot, ChatSnapshot(stream.version, CHAT.fold(stream.events))


def streams_loaded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The streams loaded from now on (until `monkeypatch.undo()`), in order."""
    loaded: list[str] = []
    load = UnitOfWork.load

    async def counted(self: UnitOfWork, stream_id: str) -> Any:
        loaded.append(stream_id)
        return await load(self, stream_id)

    monkeypatch.setattr(UnitOfWork, "load", counted)
    return loaded


async def test_the_row_is_the_streams_snapshot_and_an_update_reads_no_stream(
    talk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await snapshot_and_fold(talk) == (ChatSnapshot(0, CHAT.initial),) * 2
    await talk(talk.message("/start", language="uk"))  # user.started + language.set
    await talk(talk.message("/tz Asia/Tokyo"))
    await talk(talk.message("/stop"))
    snapshot, folded = await snapshot_and_fold(talk)
    assert snapshot == folded
    assert folded.version == 4
    assert folded.state.language_chosen_by == "telegram"
    assert folded.state.stopped

    loaded = streams_loaded(monkeypatch)
    welcome = talk.reply_of(await talk(talk.message("/start", language="uk")))
    assert Texts("uk").say(replies.WELCOME_BACK) in welcome
    assert "Asia/Tokyo" in welcome
    talk.reply_of(await talk(talk.message("/help")))
    assert loaded == []  # decided and answered from the row alone
    monkeypatch.undo()
    assert (await talk.stream())[-2:] == ["user.started.v1", "chat.resumed.v1"]
    snapshot, folded = await snapshot_and_fold(talk)
    assert snapshot == folded
    assert folded.version == 6


async def test_a_row_behind_its_stream_is_folded_again_by_the_next_update(
    talk: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await talk(talk.message("/start", language="en"))  # user.started + language.set
    # An event in the stream its row never saw (a writer that did not project it).
    async with unit_of_work(talk.pool, "ingest") as uow:
        chosen = LanguageSet(
            bot_id=talk.BOT, chat_id=CHAT_ID, user_id=CHAT_ID, language="uk", chosen_by="command"
        )
        await uow.append([Append(f"chat-{talk.BOT}-{CHAT_ID}", 2, [uow.wrap(chosen)])])
    snapshot, folded = await snapshot_and_fold(talk)
    assert snapshot is None
    assert folded.state.language == "uk"

    # Read from the stream, in the language the row did not know of, and the row repaired.
    uk = Texts("uk")
    assert talk.reply_of(await talk(talk.message("/help"))) == uk.say(replies.HELP)
    row = await talk.chat()
    assert row is not None
    assert (row["language"], row["language_chosen_by"], row["version"]) == ("uk", "command", 3)
    snapshot, folded = await snapshot_and_fold(talk)
    assert snapshot == folded

    # From then on decided from the row alone, as any current chat.
    loaded = streams_loaded(monkeypatch)
    assert talk.reply_of(await talk(talk.message("/stop"))) == uk.say(replies.STOPPED)
    again = await talk(talk.message("/stop"))
    assert talk.reply_of(again) == uk.say(replies.ALREADY_STOPPED)
    assert loaded == []
    monkeypatch.undo()
    assert await talk.stream() == [
        "user.started.v1", "language.set.v1", "language.set.v1", "chat.stopped.v1",
    ]  # fmt: skip

    # The repaired row is the one a rebuild derives.
    repaired = await talk.chat()
    await CLI.rebuild(database_url)
    assert await talk.chat() == repaired
    snapshot, folded = await snapshot_and_fold(talk)
    assert snapshot == folded
    assert folded.version == 4


async def test_a_restore_never_takes_a_row_back_to_an_earlier_version(talk: Any) -> None:
    await talk(talk.message("/start", language=None))  # version 1
    async with unit_of_work(talk.pool, "ingest") as uow:
        early = (await uow.load(f"chat-{talk.BOT}-{CHAT_ID}")).events
    await talk(talk.message("/stop"))  # version 2, projected
    before = await talk.chat()
    assert before is not None
    assert (before["stopped"], before["version"]) == (True, 2)

    # A replica that read the stream at version 1 (before the stop) restores late: the row,
    # already at version 2, stays as it is.
    async with unit_of_work(talk.pool, "ingest") as uow:
        events = [Recorded(f"chat-{talk.BOT}-{CHAT_ID}", n, e) for n, e in enumerate(early, 1)]
        await PostgresChats(uow.conn).restore(talk.BOT, CHAT_ID, events)
    assert await talk.chat() == before


class Frozen(PostgresChats):
    """The projection as a replica saw it a moment ago: its snapshot has gone stale."""

    def __init__(self, conn: Any, stale: ChatSnapshot) -> None:
        super().__init__(conn)
        self.stale = stale

    async def snapshot(self, bot_id: int, chat_id: int) -> ChatSnapshot | None:
        return self.stale


async def test_a_snapshot_gone_stale_before_its_append_decides_nothing(talk: Any) -> None:
    await talk(talk.message("/start", language=None))  # user.started alone: version 1
    stale, _ = await snapshot_and_fold(talk)
    assert stale is not None
    assert stale.version == 1
    await talk(talk.message("/stop"))  # version 2, which the stale snapshot does not know

    # A /start decided from the stale snapshot would be a start with its language (two
    # events) and no resume; its first append, after version 1, loses, nothing of it is
    # kept, and the stream decides instead: the chat was stopped, so it resumes.
    body = talk.message("/start", language="uk")
    received = envelope_of(
        UpdateReceived(bot_id=talk.BOT, update_id=body["update_id"], kind="message", update=body),
        producer="ingest",
    )
    async with unit_of_work(talk.pool, "ingest", received) as uow:
        await handlers.interpret(uow, Frozen(uow.conn, stale), received.data, "Europe/Kyiv")
    assert await talk.stream() == [
        "user.started.v1", "chat.stopped.v1", "user.started.v1", "chat.resumed.v1",
        "language.set.v1",
    ]  # fmt: skip
    [sent] = [
        e for e in uow.emitted if e.type == "send.requested.v1"
    ]  # the one reply, in the language the stream chose, welcoming back
    assert Texts("uk").say(replies.WELCOME_BACK) in sent.data.text
    snapshot, folded = await snapshot_and_fold(talk)
    assert snapshot == folded
    assert folded.version == 5
    assert not folded.state.stopped
