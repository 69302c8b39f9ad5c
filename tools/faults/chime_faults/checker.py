"""The auditor, in the manner of Jepsen's queue checker: every request the platform
accepted ends delivered exactly once, failed with a reason, or (only where Telegram left a
call unanswered) in the documented unknown-outcome window. Pure: evidence in, verdict out.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["api", "reminder", "confirmation"]
MessageKey = tuple[str, Kind]  # the request's token, which of its messages
TOKEN = re.compile(r"\bfs[0-9a-z]{10,}\b")
# The api reports a crash-unknown outcome as `unknown`, or (before that status existed)
# as `failed` with this reason.
UNKNOWN_REASON = "outcome unknown"


def classify(text: str) -> tuple[str, Kind] | None:
    """The suite's token in a message the bot sent, and what kind of message it was."""
    match = TOKEN.search(text)
    if match is None:
        return None
    if text.startswith("⏰ Got it."):
        return match.group(0), "confirmation"
    if text.startswith("⏰ "):
        return match.group(0), "reminder"
    return match.group(0), "api"


@dataclass(frozen=True)
class Request:
    token: str
    kind: Kind
    bot_id: int
    chat_id: int
    accepted: bool
    reason: str | None = None  # why it was not accepted
    notification_id: str | None = None


@dataclass(frozen=True)
class SenderRow:
    state: str
    last_error: str | None


@dataclass
class Evidence:
    delivered: Counter[MessageKey] = field(default_factory=Counter)
    sender: dict[MessageKey, SenderRow] = field(default_factory=dict)
    api: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # id: status, reason


@dataclass
class Tally:
    requested: int = 0
    rejected: int = 0
    messages: int = 0  # that the accepted requests ask for (a reminder is two)
    once: int = 0
    twice: int = 0
    lost: int = 0
    unknown_sent: int = 0
    unknown_unsent: int = 0
    failed: int = 0
    misreported: int = 0
    examples: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)  # of failures and rejections

    @property
    def unknown(self) -> int:
        return self.unknown_sent + self.unknown_unsent

    def note(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)


def expected_messages(request: Request) -> list[Kind]:
    return ["confirmation", "reminder"] if request.kind == "reminder" else ["api"]


def _is_unknown(row: SenderRow | None, api: tuple[str, str | None] | None) -> bool:
    if row is not None and row.state == "unknown":
        return True
    return api is not None and (
        api[0] == "unknown" or (api[0] == "failed" and UNKNOWN_REASON in (api[1] or ""))
    )


def check(requests: list[Request], evidence: Evidence, *, unanswered_calls: bool) -> Tally:
    """`unanswered_calls`: the fault made Telegram leave calls unanswered, so an unknown
    outcome may be undelivered; anywhere else such a message never left and was lost."""
    tally = Tally()
    for request in requests:
        tally.requested += 1
        if not request.accepted:
            tally.rejected += 1
            tally.reasons[f"rejected: {request.reason}"] += 1
            for kind in expected_messages(request):
                if evidence.delivered[(request.token, kind)] > 1:
                    tally.twice += 1
                    tally.note(f"{request.token} {kind}: not accepted, yet sent twice")
            continue
        for kind in expected_messages(request):
            tally.messages += 1
            key = (request.token, kind)
            sent = evidence.delivered[key]
            row = evidence.sender.get(key)
            api = evidence.api.get(request.notification_id or "") if kind == "api" else None
            if sent > 1:
                tally.twice += 1
                tally.note(f"{request.token} {kind}: sent {sent} times")
            elif _is_unknown(row, api):
                if sent:
                    tally.unknown_sent += 1
                else:
                    tally.unknown_unsent += 1
                    if not unanswered_calls:
                        tally.note(f"{request.token} {kind}: unknown, never reached Telegram")
            elif sent == 1:
                if api is not None and api[0] != "sent":
                    tally.misreported += 1
                    tally.note(f"{request.token}: delivered, api says {api[0]} ({api[1]})")
                else:
                    tally.once += 1
            elif row is not None and row.state in ("failed", "dead") and row.last_error:
                tally.failed += 1
                tally.reasons[f"failed: {row.last_error}"] += 1
            else:
                tally.lost += 1
                state = row.state if row else "no sender row"
                tally.note(f"{request.token} {kind}: never delivered ({state}; api {api})")
    return tally


def violations(tally: Tally, *, unanswered_calls: bool, fenced_calls: int = 0) -> list[str]:
    """`fenced_calls`: how many calls a sender killed mid-burst may have been let start
    without making them (its last heartbeat's call fence); those end unknown though they
    never left, and more than that is a violation."""
    found = []
    if tally.lost:
        found.append(f"{tally.lost} lost")
    if tally.twice:
        found.append(f"{tally.twice} sent twice")
    if tally.misreported:
        found.append(f"{tally.misreported} delivered but reported otherwise")
    if tally.unknown_unsent > fenced_calls and not unanswered_calls:
        beyond = f" (the dead sender's call fence allows {fenced_calls})" if fenced_calls else ""
        found.append(f"{tally.unknown_unsent} reported unknown though never sent{beyond}")
    return found
