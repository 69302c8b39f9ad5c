"""The api's projections, for `python -m chime_api rebuild` (each in its own module)."""

from __future__ import annotations

from collections.abc import Sequence

from chime_api.adapters.chats import PostgresChats
from chime_api.adapters.keys import PostgresKeys
from chime_api.adapters.notifications import PostgresNotifications
from chime_api.adapters.recipients import PostgresRecipients
from chime_api.adapters.schedules import PostgresRequests
from chime_api.adapters.webhooks import PostgresWebhooks
from chime_api.history.adapters.log import HistoryReplay
from chime_kit.db import Connection
from chime_kit.projection import Projection


def projections(conn: Connection) -> Sequence[Projection]:
    """Every projection of the api; keys first (the others read a key's team)."""
    return [
        PostgresKeys(conn),
        PostgresNotifications(conn),
        PostgresRequests(conn),
        PostgresChats(conn),
        PostgresRecipients(conn),
        PostgresWebhooks(conn),
        HistoryReplay(conn),
    ]
