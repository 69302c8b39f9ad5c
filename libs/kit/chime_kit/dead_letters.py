"""Look into a consumer's dead-letter queue, and send its messages back once the cause is
fixed.

    python -m chime_kit.dead_letters list sender.send-requested [--limit 20]
    python -m chime_kit.dead_letters replay sender.send-requested [--limit 100]

The broker is `CHIME_AMQP_URL`. Replaying publishes each message straight to its original
queue (through the default exchange, so only that consumer sees it again) with publisher
confirms, and only then removes it from the dead-letter queue. The consumer's inbox makes
replaying an event it already applied harmless.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from chime_contracts.routing import dead_letter_queue
from chime_kit.settings import ServiceSettings


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    type: str | None
    reason: str
    body_bytes: int


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    headers: dict[str, Any] = dict(message.headers or {})
    reason = headers.get("x-first-death-reason")
    deaths = headers.get("x-death")
    if reason is None and isinstance(deaths, list) and deaths:
        reason = dict(deaths[0]).get("reason")
    return DeadLetter(
        message_id=message.message_id,
        type=message.type,
        reason=str(reason or "unknown"),
        body_bytes=len(message.body),
    )


async def peek(channel: AbstractChannel, queue: str, limit: int) -> list[DeadLetter]:
    """The first `limit` dead letters, left where they are."""
    dlq = await channel.declare_queue(dead_letter_queue(queue), passive=True)
    held: list[AbstractIncomingMessage] = []
    try:
        while len(held) < limit:
            message = await dlq.get(no_ack=False, fail=False)
            if message is None:
                break
            held.append(message)
        return [describe(m) for m in held]
    finally:
        for message in held:
            await message.nack(requeue=True)


async def replay(channel: AbstractChannel, queue: str, limit: int | None = None) -> int:
    """Move up to `limit` dead letters back to `queue`; returns how many moved."""
    dlq = await channel.declare_queue(dead_letter_queue(queue), passive=True)
    moved = 0
    while limit is None or moved < limit:
        message = await dlq.get(no_ack=False, fail=False)
        if message is None:
            break
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
        await channel.default_exchange.publish(
            aio_pika.Message(
                message.body,
                headers=headers or None,
                message_id=message.message_id,
                type=message.type,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=queue,
            mandatory=True,
        )
        await message.ack()
        moved += 1
    return moved


async def _run(args: argparse.Namespace) -> None:
    url = ServiceSettings().amqp_url.get_secret_value()
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        if args.command == "list":
            letters = await peek(channel, args.queue, args.limit)
            for letter in letters:
                print(f"{letter.message_id}  {letter.type}  {letter.reason}  {letter.body_bytes} B")
            print(f"{len(letters)} shown from {dead_letter_queue(args.queue)}")
        else:
            moved = await replay(channel, args.queue, args.limit)
            print(f"{moved} moved from {dead_letter_queue(args.queue)} back to {args.queue}")


def _clear_errors(args: argparse.Namespace) -> None:
    try:
        asyncio.run(_run(args))
    except aio_pika.exceptions.ChannelNotFoundEntity:
        raise SystemExit(
            f"there is no {dead_letter_queue(args.queue)}: is {args.queue!r} a consumer's queue?"
        ) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="show dead letters without moving them")
    listing.add_argument("queue", help="the consumer's queue, e.g. sender.send-requested")
    listing.add_argument("--limit", type=int, default=20)
    again = commands.add_parser("replay", help="send dead letters back to their queue")
    again.add_argument("queue")
    again.add_argument("--limit", type=int, default=None)
    _clear_errors(parser.parse_args())


if __name__ == "__main__":
    main()
