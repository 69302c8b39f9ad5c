import pytest

pytestmark = pytest.mark.integration


async def test_readiness_names_what_is_missing(runtime):
    await runtime.start()
    assert await runtime.readiness() == {"postgres": True, "rabbitmq": True, "outbox_relay": True}
    await runtime.relay.stop()
    await runtime.pool.close()
    assert await runtime.readiness() == {
        "postgres": False,
        "rabbitmq": True,
        "outbox_relay": False,
    }
