"""What SREs watch of the scheduler: how late things fire, how much fires, what waits."""

from prometheus_client import Counter, Gauge, Histogram

FIRED = Counter("chime_scheduler_fired_total", "Occurrences fired", ["service", "source"])
FIRE_LAG = Histogram(
    "chime_scheduler_fire_lag_seconds",
    "How long after its scheduled instant an occurrence fired (jitter included)",
    ["service"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 60.0, 300.0, 3600.0),
)
LIVE_SCHEDULES = Gauge("chime_scheduler_live_schedules", "Schedules that will fire again")
DUE_BACKLOG = Gauge(
    "chime_scheduler_due_backlog", "Schedules due now and not yet fired (counted to 1,000,000)"
)
