"""Usage per key per day: requests counted in memory by each replica and flushed, messages
and failures read from the notifications projection."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from chime_api.adapters.limits import add_usage
from chime_api.adapters.usage import UsageDay, usage_page
from chime_api.domain.keys import ApiKey
from chime_kit.db import Connection


@dataclass
class UsageCounter:
    """This replica's counts since the last flush."""

    requests: Counter[tuple[str, date]] = field(default_factory=Counter)
    limited: Counter[tuple[str, date]] = field(default_factory=Counter)

    def count(self, key_id: str, limited: bool) -> None:
        day = datetime.now(UTC).date()
        self.requests[key_id, day] += 1
        if limited:
            self.limited[key_id, day] += 1

    async def flush(self, conn: Connection) -> int:
        """Write the counts and start again; on failure they are kept for the next flush."""
        requests, limited = self.requests, self.limited
        if not requests:
            return 0
        self.requests, self.limited = Counter(), Counter()
        try:
            await add_usage(conn, {k: (n, limited[k]) for k, n in requests.items()})
        except BaseException:
            self.requests.update(requests)
            self.limited.update(limited)
            raise
        return len(requests)


async def usage_of(
    conn: Connection,
    caller: ApiKey,
    since: date,
    until: date,
    key_id: str | None,
    limit: int,
    after: tuple[date, str] | None,
) -> tuple[list[UsageDay], bool]:
    rows = await usage_page(conn, caller, since, until, key_id, limit + 1, after)
    return rows[:limit], len(rows) > limit
