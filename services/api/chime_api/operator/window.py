"""What the operator page shows, folded from the events as they pass: pure, no I/O.

Per-replica and since the replica started (it is a live view, not a history: the stats
read models are the history). Time is cut in buckets of `bucket_seconds`; what is older
than the window is dropped as new buckets open.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FIRED_AS_SENDS = frozenset({"reminder", "snooze"})


@dataclass
class Bucket:
    sent: int = 0
    failed: int = 0
    lag_max: float | None = None
    sent_by_bot: Counter[int] = field(default_factory=Counter)
    failed_by_bot: Counter[int] = field(default_factory=Counter)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Window:
    def __init__(
        self, started: float, *, bucket_seconds: int = 10, window_seconds: int = 600
    ) -> None:
        self.started = started
        self.bucket_seconds = bucket_seconds
        self.buckets: dict[int, Bucket] = {}
        self.keep = window_seconds // bucket_seconds
        self.totals: Counter[str] = Counter()
        self.failures: deque[dict[str, Any]] = deque(maxlen=20)
        self.blocked: deque[dict[str, Any]] = deque(maxlen=20)
        self._blocked_chats: set[tuple[Any, Any]] = set()
        self.lags: deque[tuple[float, float]] = deque(maxlen=5000)

    def _bucket(self, now: float) -> Bucket:
        index = int(now // self.bucket_seconds)
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = Bucket()
            for old in [i for i in self.buckets if i <= index - self.keep]:
                del self.buckets[old]
        return bucket

    def observe(self, event: dict[str, Any], now: float) -> None:
        """Fold one envelope (as parsed JSON) in; unknown or malformed ones are ignored."""
        data = event.get("data")
        kind = event.get("type")
        if not isinstance(data, dict) or not isinstance(kind, str):
            return
        bot = data.get("bot_id")
        if not isinstance(bot, int):
            bot = 0  # not a send: nobody's load
        if kind == "message.sent.v1":
            bucket = self._bucket(now)
            bucket.sent += 1
            bucket.sent_by_bot[bot] += 1
            self.totals["sent"] += 1
        elif kind == "send.failed.v1":
            bucket = self._bucket(now)
            bucket.failed += 1
            bucket.failed_by_bot[bot] += 1
            self.totals["failed"] += 1
            self.failures.appendleft(
                {
                    "at": data.get("failed_at"),
                    "bot_id": bot,
                    "chat_id": data.get("chat_id"),
                    "reason": data.get("reason"),
                    "error_code": data.get("error_code"),
                    "description": data.get("description"),
                    "permanent": data.get("permanent"),
                    "source": (data.get("source") or {}).get("kind"),
                }
            )
        elif kind == "chat.blocked.v1":
            self._blocked(bot, data.get("chat_id"), data.get("blocked_at"))
        elif kind == "chat.member.changed.v1" and data.get("new_state") == "kicked":
            # Telegram tells the bot itself (my_chat_member) when a user blocks it, often
            # before a send would have found out; the sender then never reports it again.
            self._blocked(bot, data.get("chat_id"), data.get("changed_at"))
        elif kind == "notification.due.v1":
            self._lag(_time(data.get("due_at")), _time(data.get("fired_at")), now)
        elif kind == "schedule.fired.v1":
            self._lag(_time(data.get("occurrence")), _time(data.get("fired_at")), now)
        elif (
            # A reminder or a snooze fires as its send (a schedule's is counted above).
            kind == "send.requested.v1" and (data.get("source") or {}).get("kind") in FIRED_AS_SENDS
        ):
            self._lag(_time(data.get("scheduled_for")), _time(event.get("occurred_at")), now)

    def _blocked(self, bot: Any, chat_id: Any, at: Any) -> None:
        # Ingest and the sender may both report one chat: it is counted once.
        if (bot, chat_id) in self._blocked_chats:
            return
        self._blocked_chats.add((bot, chat_id))
        self.totals["blocked"] += 1
        self.blocked.appendleft({"at": at, "bot_id": bot, "chat_id": chat_id})

    def _lag(self, due: datetime | None, fired: datetime | None, now: float) -> None:
        if due is None or fired is None:
            return
        lag = (fired - due).total_seconds()
        if lag < 0:  # ahead of its instant (clocks of replicas differ): no lag
            return
        self.lags.append((now, lag))
        bucket = self._bucket(now)
        bucket.lag_max = lag if bucket.lag_max is None else max(bucket.lag_max, lag)

    def snapshot(self, now: float) -> dict[str, Any]:
        current = int(now // self.bucket_seconds)
        indexes = range(current - self.keep + 1, current + 1)
        series = []
        for index in indexes:
            bucket = self.buckets.get(index, Bucket())
            series.append(
                {
                    "t": datetime.fromtimestamp(index * self.bucket_seconds, UTC).isoformat(),
                    "sent": bucket.sent,
                    "failed": bucket.failed,
                    "lag_max": bucket.lag_max,
                }
            )
        # The last minute's whole buckets and the one still filling, over the time they span.
        whole = 60 // self.bucket_seconds
        minute = [self.buckets.get(i, Bucket()) for i in indexes[-whole - 1 :]]
        spanned = whole * self.bucket_seconds + now % self.bucket_seconds
        seconds = max(1.0, min(spanned, now - self.started))
        sent_by_bot: Counter[int] = Counter()
        failed_by_bot: Counter[int] = Counter()
        for bucket in minute:
            sent_by_bot.update(bucket.sent_by_bot)
            failed_by_bot.update(bucket.failed_by_bot)
        recent = [lag for at, lag in self.lags if now - at <= 300]
        return {
            "bucket_seconds": self.bucket_seconds,
            "rate": {
                "sent_per_second": round(sum(b.sent for b in minute) / seconds, 3),
                "failed_per_second": round(sum(b.failed for b in minute) / seconds, 3),
            },
            "totals": {k: self.totals[k] for k in ("sent", "failed", "blocked")},
            "series": series,
            "schedule_lag": {
                "samples": len(recent),
                "p50": round(statistics.median(recent), 3) if recent else None,
                "p99": round(_quantile(recent, 0.99), 3) if recent else None,
                "max": round(max(recent), 3) if recent else None,
            },
            "bots": [
                {
                    "bot_id": bot,
                    "sent_last_minute": sent_by_bot[bot],
                    "failed_last_minute": failed_by_bot[bot],
                    "per_second": round(sent_by_bot[bot] / seconds, 3),
                }
                for bot in sorted(
                    set(sent_by_bot) | set(failed_by_bot),
                    key=lambda b: (-sent_by_bot[b], -failed_by_bot[b]),
                )
            ][:50],
            "recent_failures": list(self.failures),
            "blocked_chats": list(self.blocked),
        }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
