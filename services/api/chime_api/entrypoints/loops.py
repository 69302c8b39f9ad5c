"""The api's background loops: expired idempotency records purged on an interval, request
counts flushed to the usage table."""

from __future__ import annotations

import logging

import httpx

from chime_api.handlers import idempotency, webhooks
from chime_api.handlers.usage import UsageCounter
from chime_api.settings import ApiSettings
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime

log = logging.getLogger(__name__)


def purge_loop(runtime: Runtime, settings: ApiSettings) -> BackgroundLoop:
    """Every replica purges; the deletes are idempotent and batched, so they do not clash."""

    async def run() -> None:
        while True:
            loop.clear()
            async with runtime.pool.acquire() as conn:
                purged = await idempotency.purge_expired(conn, settings.idempotency_ttl)
            if purged:
                log.info("purged %d expired idempotency records", purged)
            await loop.sleep(settings.purge_interval_seconds)

    loop = runtime.watch(BackgroundLoop("api-idempotency-purge", run))
    return loop


def usage_loop(runtime: Runtime, usage: UsageCounter, interval: float = 1.0) -> BackgroundLoop:
    async def run() -> None:
        while True:
            loop.clear()
            async with runtime.pool.acquire() as conn:
                await usage.flush(conn)
            await loop.sleep(interval)

    loop = runtime.watch(BackgroundLoop("api-usage-flush", run))
    return loop


def webhook_loop(runtime: Runtime, http: httpx.AsyncClient, idle: float = 0.5) -> BackgroundLoop:
    """Every replica delivers; an endpoint is claimed by one at a time, for a lease (see
    `chime_api.handlers.webhooks.deliver_due`). A receiver has the client's read timeout
    to answer, in all."""
    call = http.timeout.read or webhooks.CALL_SECONDS
    round_ = webhooks.Round(
        webhooks.new_holder(),
        lease_seconds=max(webhooks.LEASE_SECONDS, 4 * call),
        call_seconds=call,
    )

    async def run() -> None:
        while True:
            loop.clear()
            sent = await webhooks.deliver_due(runtime.pool, http, round_)
            if not sent:
                await loop.sleep(idle)

    loop = runtime.watch(BackgroundLoop("api-webhooks", run))
    return loop
