"""A consumer in a process of its own, for the test that kills it with SIGKILL.

Usage: python consumer_process.py DATABASE_URL AMQP_URL [HANG_AT_CHAT_ID]

Applies `UserStarted` from `demo.user-started` into the `applied` table. With HANG_AT_CHAT_ID
the handler of that chat prints `mid-batch` and waits, inside the batch's open transaction,
for the kill.
"""

import asyncio
import sys
from pathlib import Path

from chime_contracts.events import UserStarted
from chime_kit.consumer import Router
from chime_kit.runtime import open_runtime
from chime_kit.settings import ServiceSettings

sys.path.insert(0, str(Path(__file__).parent))  # fake_service_migrations


async def main(database_url: str, amqp_url: str, hang_at: int | None) -> None:
    settings = ServiceSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        delivery_limit=2,
        consumer_prefetch=40,
        consumer_batch_size=20,
        event_log_max_age=None,
    )
    runtime = await open_runtime("demo", settings, "fake_service_migrations")

    async def apply(uow, envelope):
        await uow.conn.execute(
            "INSERT INTO applied (event_id, txid) VALUES ($1, txid_current())", envelope.id
        )
        if envelope.data.chat_id == hang_at:
            print("mid-batch", flush=True)
            await asyncio.sleep(3600)

    router = Router()
    runtime.subscribe(router, queue="demo.user-started", event=UserStarted, handler=apply)
    runtime.broker.include_router(router)
    await runtime.start()
    print("started", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    hang = int(sys.argv[3]) if len(sys.argv) > 3 else None
    asyncio.run(main(sys.argv[1], sys.argv[2], hang))
