"""What the sender does, step by step; no framework imports.

`store` keeps each request (consumers); `claim` takes ready deliveries and their send slots;
`call` waits for a slot and calls the Bot API, outside any transaction; `settle` writes a batch
of answers as typed `Settlement`s and records the outcome events; `recovery` settles what
dead or stopping senders left. Each takes the unit of work and the ports (`ports.Stores`),
PostgreSQL or in memory, and `Sending`: the Bot API port, configuration and this process's
own state, kept apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import SecretStr

from chime_kit.in_flight import InFlight
from chime_sender.domain.circuit import Breakers
from chime_sender.domain.deliveries import Claim
from chime_sender.domain.settlement import Policy
from chime_sender.ports import BotApi


@dataclass
class Local:
    """What this process alone knows and shares with no replica."""

    # This process's view of the breakers every replica shares (`handlers.breakers`).
    breakers: Breakers
    # Per bot, the next_slot_at a 429 seen here pushed it to (database clock). Slots granted
    # before it are not used, so calls already waiting for one do not hit the pause.
    paused_to: dict[int, datetime] = field(default_factory=dict)
    # Messages this process's consumers are storing right now: a delivery requested after
    # the oldest of them waits, so one stored a moment late is still sent first.
    in_flight: tuple[InFlight, ...] = ()
    # Whether a claim may still be called now: its owner's heartbeat is fresh (see
    # entrypoints.heartbeat). A call it refuses is postponed, never made.
    may_call: Callable[[Claim], bool] = lambda _claim: True


@dataclass
class Sending:
    """The Bot API port, the configuration, and this process's state."""

    api: BotApi
    tokens: Mapping[int, SecretStr]
    policy: Policy
    local: Local
