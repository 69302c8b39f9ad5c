import asyncio
from urllib.parse import urlsplit

import pytest

from chime_kit.broker import connect_robust
from chime_kit.faulty_link import faulty_link

pytestmark = pytest.mark.integration


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    user, _, _ = parts.netloc.rpartition("@")
    host = f"127.0.0.1:{port}"
    return parts._replace(netloc=f"{user}@{host}" if user else host).geturl()


def _reconnecting() -> set[asyncio.Task[object]]:
    return {
        task
        for task in asyncio.all_tasks()
        if not task.done() and "RobustConnection" in task.get_coro().__qualname__  # type: ignore[union-attr]
    }


async def test_a_connect_cancelled_half_way_leaves_nothing_reconnecting(amqp_url):
    target = urlsplit(amqp_url)
    async with faulty_link(target.hostname or "127.0.0.1", target.port or 5672) as link:
        link.hold()  # the broker's answers never arrive: the connect hangs
        before = _reconnecting()
        attempt = asyncio.create_task(connect_robust(_through(amqp_url, link.port)))
        await asyncio.sleep(0.3)
        assert _reconnecting() - before  # aio-pika's reconnecting task runs meanwhile
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        assert not _reconnecting() - before
        link.release()


async def test_a_refused_connect_leaves_nothing_reconnecting(amqp_url):
    parts = urlsplit(amqp_url)
    missing = parts._replace(path="/chime-no-such-vhost").geturl()
    before = _reconnecting()
    with pytest.raises(Exception):  # noqa: B017, PT011 (aio-pika's error for a refused open)
        await connect_robust(missing)
    assert not _reconnecting() - before


async def test_a_connect_opens_a_usable_connection(amqp_url):
    connection = await connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        assert not channel.is_closed
