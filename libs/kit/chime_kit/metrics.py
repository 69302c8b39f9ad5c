"""Prometheus metrics shared by every service, labelled by service."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "chime_events_consumed_total",
    "Events taken from a queue, by outcome (applied, duplicate, poison, error)",
    ["service", "queue", "outcome"],
)
EVENTS_PUBLISHED = Counter(
    "chime_outbox_published_total", "Events the outbox relay published with a confirm", ["service"]
)
PUBLISH_FAILURES = Counter(
    "chime_outbox_publish_failures_total",
    "Outbox publishes that were returned or not confirmed (they stay pending)",
    ["service"],
)
HANDLER_SECONDS = Histogram(
    "chime_handler_seconds", "Time to apply one consumed event", ["service", "queue"]
)
OUTBOX_PENDING = Gauge(
    "chime_outbox_pending",
    "Events waiting in a service's outbox (counted every few seconds)",
    ["service"],
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "chime_outbox_oldest_seconds",
    "Age of the oldest event waiting in the outbox: how far the relay lags (counted with"
    " chime_outbox_pending)",
    ["service"],
)
