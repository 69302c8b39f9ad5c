"""Deliveries as the sender sees them: one message (maybe several parts) for one chat."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chime_contracts.events.shared import SendSource


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    bot_id: int
    chat_id: int
    text: str
    parse_mode: str | None
    reply_to_message_id: int | None
    correlation_id: str
    traceparent: str | None
    source: SendSource | None = None
    # The Bot API method and what the request adds to its payload beyond chat and text
    # (keyboard, media, flags), rendered when the request was stored.
    method: str = "sendMessage"
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def paid(self) -> bool:
        """Whether it asks for Telegram's paid broadcast limit (`allow_paid_broadcast`)."""
        return bool(self.options.get(PAID_BROADCAST))

    def unpaid(self) -> Delivery:
        """The same delivery without the paid broadcast flag."""
        options = {k: v for k, v in self.options.items() if k != PAID_BROADCAST}
        return replace(self, options=options)


PAID_BROADCAST = "allow_paid_broadcast"
Lane = tuple[int, bool]  # (bot id, paid): the send slots a call takes


def lane_of(delivery: Delivery) -> Lane:
    return (delivery.bot_id, delivery.paid)


@dataclass(frozen=True)
class Claim:
    """A delivery taken for one call: `attempt` fences the outcome against a stale lease.

    `slot` is the start of the bot's send slot granted to it (the database's clock, which
    every replica shares); `send_at` is the same instant on this process's clock; `late` is
    how late after it the call may still start (see `limits.Lateness`). `due_at` is when the
    delivery was due (its `next_attempt_at` when claimed, the database's clock).
    """

    delivery: Delivery
    attempt: int
    failures: int
    parts_sent: int
    first_message_id: int | None
    chat_blocked: bool
    # The delivery stream's version when claimed: its outcome is appended after it.
    version: int = 0
    slot: datetime | None = None
    send_at: datetime | None = None
    late: timedelta | None = None
    # The sender instance that holds the claim; its calls are fenced by its heartbeat.
    owner: str | None = None
    due_at: datetime | None = None

    @property
    def paced_seconds(self) -> float | None:
        """How long the call waited for its send slot since it was due: held back by its
        chat's and its bot's limits (and any backlog); None without a slot."""
        if self.slot is None or self.due_at is None:
            return None
        return max(0.0, (self.slot - self.due_at).total_seconds())


def choose(candidates: Iterable[Claim], budgets: Mapping[Lane, int]) -> list[Claim]:
    """Oldest first: at most one per chat (sends to a chat are serial) and at most the lane's
    budget (its bot's free or paid send slots) per lane. Lanes missing from `budgets` (a bot
    with no token) are taken: they fail at once, as do deliveries to blocked chats, without
    spending any budget.
    """
    chosen: list[Claim] = []
    chats: set[tuple[int, int]] = set()
    spent: dict[Lane, int] = {}
    for claim in candidates:
        d = claim.delivery
        if (d.bot_id, d.chat_id) in chats:
            continue
        lane = lane_of(d)
        free = claim.chat_blocked or lane not in budgets
        if not free:
            if spent.get(lane, 0) >= budgets[lane]:
                continue
            spent[lane] = spent.get(lane, 0) + 1
        chats.add((d.bot_id, d.chat_id))
        chosen.append(claim)
    return chosen
