"""What SREs watch of the scheduler: how late things fire, and how much fires."""

from prometheus_client import Counter, Histogram

FIRED = Counter("chime_scheduler_fired_total", "Occurrences fired", ["service", "source"])
FIRE_LAG = Histogram(
    "chime_scheduler_fire_lag_seconds",
    "How long after its due time an occurrence fired",
    ["service"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 60.0, 300.0, 3600.0),
)
