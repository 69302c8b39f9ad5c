"""How events are routed on RabbitMQ.

One durable topic exchange carries every event; the routing key is the event's versioned
type (`reminder.requested.v1`), so a consumer binds the exact versions it understands, or
`reminder.*.v1`, or `#`. Each consuming queue dead-letters into a direct exchange under its
own name, where its dead-letter queue `<queue>.dlq` is bound. Every event is also appended
to the stream `chime.events.log`, kept for a limited age.
"""

import re

EVENTS_EXCHANGE = "chime.events"
# A RabbitMQ stream bound to every event: a replayable log for consumers that want history,
# and the reason no event of a healthy installation is ever unroutable.
EVENT_LOG_QUEUE = "chime.events.log"
DEAD_LETTER_EXCHANGE = "chime.dead"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dlq"


_TYPE_OF_KEY = re.compile(r"^(.+?\.v[0-9]+)(?:\..*)?$")


def event_type_of(routing_key: str) -> str:
    """The versioned event type a routing key starts with (`message.sent.v1.api` → its type)."""
    match = _TYPE_OF_KEY.match(routing_key)
    return match.group(1) if match else routing_key


def every_refinement_of(type_name: str) -> str:
    """The binding key for every message of an event type, refined or not."""
    return f"{type_name}.#"


def topic_matches(binding: str, routing_key: str) -> bool:
    """Does a topic-exchange `binding` match `routing_key`, as RabbitMQ decides it."""
    return _match(binding.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])
