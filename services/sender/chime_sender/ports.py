"""What the sender's handlers need of the world, as ports: PostgreSQL in `adapters/`, in memory
in `adapters/memory.py` (one contract suite runs on both), the Bot API in the kit.

`Deliveries` is machinery (the send queue: claims, leases, attempts, chat pacing); `BotSlots`,
`BotBreakers` and `Instances` too. `DeliveryLog` and `Chats` are projections of the streams.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import SecretStr

from chime_kit.projection import Projection
from chime_kit.telegram import Answer
from chime_sender.domain.circuit import Breaker
from chime_sender.domain.deliveries import Claim, Delivery
from chime_sender.domain.limits import BotPace
from chime_sender.domain.settlement import Live, Settlement


class BotApi(Protocol):
    """`chime_kit.telegram.BotApi` (or a test's wrapper around it)."""

    async def call(
        self, token: SecretStr | str, method: str, payload: dict[str, Any]
    ) -> Answer: ...


@dataclass(frozen=True)
class SentMessage:
    bot_id: int
    chat_id: int
    message_id: int
    options: Mapping[str, Any]  # what it was sent with (its keyboard)


@dataclass(frozen=True)
class Queued:
    """A delivery to queue, as `Deliveries.add` takes it."""

    delivery: Delivery
    origin: str
    parts_total: int
    requested_at: datetime
    version: int


class Deliveries(Protocol):
    async def add(
        self,
        delivery: Delivery,
        origin: str,
        parts_total: int,
        requested_at: datetime,
        version: int,
    ) -> bool:
        """False when this delivery_id is already queued."""
        ...

    async def add_many(self, queued: Sequence[Queued]) -> set[str]:
        """`add` for many deliveries of distinct ids at once; the ids it queued (the others
        were queued before)."""
        ...

    async def ready(
        self, now: datetime, limit: int, skip_bots: Sequence[int], before: datetime | None = None
    ) -> list[Claim]:
        """Pending deliveries due now to chats free now, oldest first, held for this unit of
        work; other replicas skip them."""
        ...

    async def reserve_chats(
        self, chats: Sequence[tuple[int, int]], now: datetime, until: datetime
    ) -> set[tuple[int, int]]: ...

    async def mark_sending(
        self, claims: Sequence[Claim], now: datetime, lease_until: datetime
    ) -> list[Claim]: ...

    async def release(
        self,
        owner: str,
        now: datetime,
        *,
        slots_after: datetime | None = None,
        ids: Sequence[str] = (),
        all_but: Sequence[str] | None = None,
    ) -> int: ...

    async def hold(self, claims: Sequence[Claim]) -> dict[str, Live]:
        """Lock the claims still held by their call (attempt and owner unchanged)."""
        ...

    async def settle(self, settlements: Sequence[Settlement], now: datetime) -> None: ...

    async def expire(self, now: datetime, owner: str | None = None) -> list[tuple[Claim, Live]]:
        """Calls maybe in flight when their process died, locked to be settled as unknown:
        with `owner`, every claim still held by that dead instance; without, claims of no
        live instance whose lease ran out."""
        ...

    async def next_ready_at(self) -> datetime | None: ...

    async def move_chat(self, bot_id: int, old_chat_id: int, new_chat_id: int) -> int:
        """Send the chat's pending deliveries to its new id; returns how many."""
        ...

    async def sent_message(self, delivery_id: str) -> SentMessage | None:
        """Where a delivery that was sent landed, for editing or deleting it."""
        ...


class BotSlots(Protocol):
    """Each bot token's next send slot, on the database's clock every replica shares."""

    async def beyond(self, horizon: timedelta) -> list[int]: ...

    async def lock(self, bot_ids: Sequence[int]) -> tuple[dict[int, BotPace], datetime]: ...

    async def store(self, paces: Mapping[int, BotPace]) -> None: ...

    async def clock(self) -> datetime: ...


class BotBreakers(Protocol):
    """Each bot token's circuit breaker, shared by every replica; the database's clock."""

    async def load(self) -> tuple[dict[int, Breaker], datetime]:
        """Every breaker not closed and quiet (the others are), and the clock."""
        ...

    async def lock(self, bot_ids: Sequence[int]) -> tuple[dict[int, Breaker], datetime]: ...

    async def store(self, breakers: Mapping[int, Breaker]) -> None: ...


class DeliveryLog(Projection, Protocol):
    async def status(self, delivery_id: str) -> str | None: ...


class Chats(Projection, Protocol):
    async def blocked(self, bot_id: int, chat_id: int) -> bool: ...


@dataclass(frozen=True)
class DeadInstance:
    instance_id: str
    calls_until: datetime  # its last promise: it called no slot starting later


class Instances(Protocol):
    async def remove(self, instance_id: str) -> None: ...


@dataclass(frozen=True)
class Misrouted:
    """A send through a bot of a pool the chat never started, while another is its worker."""

    pool: str
    worker: int

    def reason(self, bot_id: int, chat_id: int) -> str:
        return (
            f"chat {chat_id} never started bot {bot_id}: pool {self.pool} serves it through"
            f" bot {self.worker}"
        )


class Assignments(Protocol):
    """Bot pools' assignments and the bots chats started, as ingest reported them."""

    async def assigned(
        self, pool: str, chat_id: int, bot_id: int, pool_bots: list[int]
    ) -> None: ...

    async def started(self, bot_id: int, chat_id: int) -> None: ...

    async def misrouted(self, bot_id: int, chat_id: int) -> Misrouted | None: ...

    async def misrouted_chats(self, bot_id: int, chat_ids: Sequence[int]) -> dict[int, Misrouted]:
        """`misrouted` for many chats at once (a broadcast's): one lookup; the chats that
        may go through `bot_id` are left out."""
        ...

    async def misrouted_pairs(
        self, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], Misrouted]:
        """`misrouted` for many (bot, chat) pairs at once (a consumer batch's requests): one
        lookup; the pairs that may go on are left out."""
        ...


@dataclass(frozen=True)
class Stores:
    """The ports of one unit of work, bound to its transaction."""

    deliveries: Deliveries
    slots: BotSlots
    log: DeliveryLog
    chats: Chats
    instances: Instances
    assignments: Assignments
    breakers: BotBreakers
