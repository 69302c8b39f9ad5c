"""The sender's Prometheus metrics, labelled service="sender" like the kit's."""

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "chime_sender_deliveries_total",
    "Deliveries settled, by outcome (sent, failed, blocked, dead, unknown)",
    ["service", "outcome"],
)
TELEGRAM_SECONDS = Histogram(
    "chime_sender_telegram_call_seconds",
    "Latency of Bot API calls, by method and result",
    ["service", "method", "result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LIMITER_WAIT = Histogram(
    "chime_sender_limiter_wait_seconds",
    "Wait of each call for its send slot since its delivery was due: held back by the chat's"
    " and the bot token's rate limits (and any backlog)",
    ["service"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
RATE_LIMITED = Counter(
    "chime_sender_telegram_429_total", "429 Too Many Requests answers received", ["service"]
)
BREAKER_STATE = Gauge(
    "chime_sender_breaker_state",
    "Circuit breaker per bot: 0 closed, 1 half-open, 2 open",
    ["service", "bot_id"],
)
SLOTS_MISSED = Counter(
    "chime_sender_slots_missed_total",
    "Send slots given up because the call was too late for them (a busy process)",
    ["service"],
)
CLAIMS_RELEASED = Counter(
    "chime_sender_claims_released_total",
    "Claims given back unsent, pending again at once: by a stopping sender, or found never"
    " called when their sender died",
    ["service"],
)
SETTLE_BATCH = Histogram(
    "chime_sender_settle_batch_size",
    "Answers settled together in one transaction",
    ["service"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
UNKNOWN_OUTCOMES = Counter(
    "chime_sender_unknown_outcomes_total",
    "Calls whose outcome is unknown (never re-sent), by cause: timeout, no_answer, 504, crash",
    ["service", "cause"],
)
