"""What the firing span costs an occurrence: CPU per `telemetry.linked_span` (no link, the
creating request's, and an update's too), beside building one envelope of the fired event
in the same run (a fire builds two). Spans are not exported, as with no OTLP endpoint
(`ALWAYS_OFF`), and then sampled and dropped (`ALWAYS_ON` into no processor)."""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace import Tracer

from chime_contracts.envelope import envelope_of
from chime_contracts.events import ScheduleFired
from chime_kit.telemetry import linked_span

REQUEST = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UPDATE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def cpu_us(n: int, work: Callable[[], object]) -> float:
    started = time.process_time()
    for _ in range(n):
        work()
    return (time.process_time() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000)
    n = parser.parse_args().n
    now = datetime.now(UTC)
    fired = ScheduleFired(
        schedule_id="s1", occurrence=now, fired_at=now, delivery_id="schedule:s1:1",
        missed=0, next_at=None, fire_at=None,
    )  # fmt: skip
    print(
        f"python {platform.python_version()}, opentelemetry-sdk "
        f"{metadata.version('opentelemetry-sdk')}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}; {n} each"
    )
    envelope = cpu_us(n, lambda: envelope_of(fired, producer="scheduler"))
    print(f"peer: one envelope of schedule.fired.v1          {envelope:6.1f} us")
    samplers: list[tuple[str, Sampler]] = [("ALWAYS_OFF", ALWAYS_OFF), ("ALWAYS_ON", ALWAYS_ON)]
    for name, sampler in samplers:
        tracer = TracerProvider(sampler=sampler).get_tracer("bench")
        for label, links in (("no link", (None, None)), ("request", (REQUEST, None)),
                             ("request and update", (REQUEST, UPDATE))):  # fmt: skip

            def fire(links: tuple[str | None, str | None] = links, tracer: Tracer = tracer) -> None:
                with linked_span(tracer, "fire schedule", *links, **{"chime.schedule_id": "s1"}):
                    pass

            cost = cpu_us(n, fire)
            print(
                f"{name:10} span linked to {label:18} {cost:6.1f} us "
                f"({cost / envelope:.2f} envelopes)"
            )


if __name__ == "__main__":
    main()
