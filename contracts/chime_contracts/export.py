"""Export JSON Schema of every event and an AsyncAPI 3.0 description of the bus.

python -m chime_contracts.export [--out contracts/schemas]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from chime_contracts.envelope import Envelope, Event
from chime_contracts.registry import ALL_EVENTS
from chime_contracts.routing import EVENTS_EXCHANGE

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "schemas"


def event_schema(cls: type[Event]) -> dict[str, Any]:
    """JSON Schema of the whole message on the wire: the envelope around this event."""
    schema = Envelope[cls].model_json_schema(mode="serialization")  # type: ignore[valid-type]
    schema["title"] = cls.type_name()
    schema["description"] = (cls.__doc__ or "").strip()
    return schema


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for cls in ALL_EVENTS:
        name = cls.type_name()
        key = name.replace(".", "_")
        channels[key] = {
            "address": name,
            "description": (cls.__doc__ or "").strip(),
            "messages": {
                key: {
                    "name": name,
                    "contentType": "application/json",
                    "payload": event_schema(cls),
                }
            },
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": EVENTS_EXCHANGE,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                    },
                }
            },
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "summary": f"published by {cls.producer}",
            "channel": {"$ref": f"#/channels/{key}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Chime events",
            "version": "1.0.0",
            "description": (
                f"Every event Chime publishes on the durable topic exchange "
                f"`{EVENTS_EXCHANGE}`. The routing key is the versioned event type; bind a "
                "quorum queue of your own to the keys you consume. Messages are persistent "
                "JSON envelopes; headers carry W3C `traceparent`."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
    }


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in ALL_EVENTS:
        path = out / f"{cls.type_name()}.json"
        path.write_text(json.dumps(event_schema(cls), indent=2, sort_keys=True) + "\n")
        written.append(path)
    path = out / "asyncapi.json"
    path.write_text(json.dumps(asyncapi_document(), indent=2, sort_keys=True) + "\n")
    written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    for path in write_all(args.out):
        print(path)


if __name__ == "__main__":
    main()
