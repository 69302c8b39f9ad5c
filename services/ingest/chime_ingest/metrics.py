"""What SREs watch of ingest: updates in, by outcome."""

from prometheus_client import Counter

UPDATES = Counter(
    "chime_ingest_updates_total",
    "Webhook or polled bodies, by outcome (accepted, duplicate, rejected, not_an_update)",
    ["service", "bot_id", "outcome"],
)
