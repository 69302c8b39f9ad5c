import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chime_kit.runtime import Runtime, open_runtime
from chime_kit.settings import ServiceSettings
from chime_kit.testing import EventTap, event_tap

# The migrations package of a made-up service, importable as `fake_service_migrations`.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
async def runtime(database_url: str, amqp_url: str) -> AsyncIterator[Runtime]:
    settings = ServiceSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        delivery_limit=2,
        relay_idle_poll_seconds=0.02,
        event_log_max_age=None,
    )
    rt = await open_runtime("demo", settings, "fake_service_migrations")
    yield rt
    await rt.stop()


@pytest.fixture
async def tap(amqp_url: str) -> AsyncIterator[EventTap]:
    async with event_tap(amqp_url, "#") as t:
        yield t
