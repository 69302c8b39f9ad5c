"""One chat's side of a conversation: its stream, its language, and the replies to it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import SendRequested
from chime_contracts.events.schedules import ScheduleOwner
from chime_contracts.events.shared import InlineButton, SendSource
from chime_ingest.domain import chats
from chime_ingest.domain.chats import CHAT, ChatState
from chime_ingest.locale import DEFAULT_LANGUAGE, Texts, supported
from chime_ingest.ports import ChatSnapshot, ChatsView, Pooling
from chime_kit.event_store import Append, ConcurrencyError, Recorded
from chime_kit.streams import Decided, Work, decide


@dataclass
class Chat:
    """What a handler of one update needs: the chat it came from and how to answer there."""

    uow: Work
    view: ChatsView
    bot_id: int
    chat_id: int
    chat_type: str
    update_id: int
    user_id: int | None
    language_code: str | None
    default_zone: str
    reply_to: int | None = None
    pooling: Pooling | None = None  # the bot pools, when any are configured

    @property
    def stream(self) -> str:
        return chats.stream_id(self.bot_id, self.chat_id)

    @property
    def owner(self) -> ScheduleOwner:
        return ScheduleOwner(kind="chat", id=f"{self.bot_id}:{self.chat_id}")

    @property
    def request_id(self) -> str:
        """Derived from the update, so a re-interpreted update asks only once."""
        return f"{self.bot_id}-{self.update_id}"

    @property
    def private(self) -> bool:
        return self.chat_type == "private"

    async def state(self) -> ChatState:
        """From the chat's snapshot (its row in the projection) while it is current, else
        folded from its stream."""
        snapshot = await self.view.snapshot(self.bot_id, self.chat_id)
        if snapshot is None:
            snapshot = await self._restored()
        return snapshot.state

    async def _restored(self) -> ChatSnapshot:
        """The chat folded from its whole stream, its row repaired from it on the way (a
        row behind its stream: an upgrade's, or a writer's that did not project)."""
        stream = await self.uow.load(self.stream)
        events = [Recorded(self.stream, n, e) for n, e in enumerate(stream.events, start=1)]
        await self.view.restore(self.bot_id, self.chat_id, events)
        return ChatSnapshot(stream.version, CHAT.fold(stream.events))

    async def decide(self, decision: Callable[[ChatState], Sequence[Event]]) -> Decided[ChatState]:
        """Append to this chat's stream at the version decided from; a race is retried.

        Decided first from the snapshot (a row behind its stream is restored first),
        appended at its version: if the stream moved on (the snapshot was stale) the append
        fails on the event store's version check and nothing of it is kept, and the decision
        is taken again from the replayed stream.
        """
        snapshot = await self.view.snapshot(self.bot_id, self.chat_id)
        if snapshot is None:
            snapshot = await self._restored()
        before = snapshot.state
        events = decision(before)
        if not events:
            return Decided(before, before, snapshot.version, [])
        envelopes = [self.uow.wrap(e) for e in events]
        try:
            recorded = await self._append(snapshot.version, envelopes)
        except ConcurrencyError:
            pass  # stale: decided again below, from the stream itself
        else:
            await self.uow.publish(envelopes)
            await self.view.apply(recorded)
            after = CHAT.fold(envelopes, before)
            return Decided(before, after, recorded[-1].version, recorded)
        return await decide(self.uow, self.stream, CHAT, decision, project=self.view.apply)

    async def _append(self, version: int, envelopes: list[Envelope[Any]]) -> list[Recorded]:
        """Append a decision's events one statement each, no savepoint: only the first can
        lose a race (ConcurrencyError, nothing written). Once it holds version + 1, no other
        writer can hold a later one: theirs would have to be decided from a version they
        cannot see before this transaction commits."""
        recorded: list[Recorded] = []
        for n, envelope in enumerate(envelopes):
            try:
                recorded += await self.uow.append([Append(self.stream, version + n, [envelope])])
            except ConcurrencyError as exc:
                if n == 0:
                    raise
                # Not possible (see above); never left half-appended: the update fails.
                raise RuntimeError(f"{self.stream} moved on in the middle of a decision") from exc
        return recorded

    def language(self, state: ChatState) -> str:
        """The chat's choice, else Telegram's language of the sender, else English."""
        return state.language or supported(self.language_code) or DEFAULT_LANGUAGE

    async def texts(self) -> tuple[ChatState, Texts]:
        state = await self.state()
        return state, Texts(self.language(state))

    async def reply(self, text: str, buttons: list[list[InlineButton]] | None = None) -> None:
        await self.uow.emit(
            SendRequested(
                delivery_id=f"reply:{self.bot_id}:{self.update_id}",
                bot_id=self.bot_id,
                chat_id=self.chat_id,
                text=text,
                reply_to_message_id=self.reply_to,
                origin="ingest.reply",
                source=SendSource(kind="reply", id=f"{self.bot_id}:{self.update_id}"),
                buttons=buttons,
            )
        )

    async def emit(self, *events: Event) -> None:
        await self.uow.emit(*events)


def now() -> datetime:
    return datetime.now(UTC)
