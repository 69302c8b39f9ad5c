"""How events are routed on RabbitMQ.

One durable topic exchange carries every event; the routing key is the event's versioned
type (`reminder.requested.v1`), so a consumer binds the exact versions it understands, or
`reminder.*.v1`, or `#`. Each consuming queue dead-letters into a direct exchange under its
own name, where its dead-letter queue `<queue>.dlq` is bound. Every event is also appended
to the stream `chime.events.log`, kept for a limited age.
"""

EVENTS_EXCHANGE = "chime.events"
# A RabbitMQ stream bound to every event: a replayable log for consumers that want history,
# and the reason no event of a healthy installation is ever unroutable.
EVENT_LOG_QUEUE = "chime.events.log"
DEAD_LETTER_EXCHANGE = "chime.dead"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dlq"
