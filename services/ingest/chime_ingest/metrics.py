"""What SREs watch of ingest: updates in, by outcome; how they are committed and interpreted."""

from prometheus_client import Counter, Gauge, Histogram

UPDATES = Counter(
    "chime_ingest_updates_total",
    "Webhook or polled bodies, by outcome (accepted, duplicate, rejected, not_an_update)",
    ["service", "bot_id", "outcome"],
)
GROUP_COMMIT_SIZE = Histogram(
    "chime_ingest_group_commit_updates",
    "Updates stored per transaction of the receive path (webhook requests committed together)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
INTERPRETED = Counter(
    "chime_ingest_interpreted_total",
    "Accepted updates the interpreter took, by outcome (interpreted, failed: retried later,"
    " poison: given up on and marked)",
    ["outcome"],
)
POOL_CHATS = Gauge(
    "chime_ingest_pool_chats",
    "Private chats assigned to each worker bot of a pool (its load), as last read from the"
    " pools projection",
    ["pool", "bot"],
)
