"""One contract for the unit of work a handler decides through: the PostgreSQL one and the
in-memory fake must behave alike (versions, races, savepoints, what is published)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from chime_contracts.envelope import Envelope, Event, envelope_of
from chime_contracts.events import TimeZoneSet, UserStarted
from chime_kit.event_store import Append, ConcurrencyError
from chime_kit.streams import Aggregate, Work, decide, state_of
from chime_kit.testing import Backend, contract_backend


@pytest.fixture
async def backend(contract_database: str | None) -> AsyncIterator[Backend]:
    async with contract_backend(contract_database, "demo", "fake_service_migrations") as b:
        yield b


@dataclass(frozen=True)
class Zone:
    starts: int = 0
    zone: str | None = None


def evolve(state: Zone, event: Event) -> Zone:
    if isinstance(event, UserStarted):
        return replace(state, starts=state.starts + 1)
    if isinstance(event, TimeZoneSet):
        return replace(state, zone=event.time_zone)
    return state


ZONE = Aggregate(Zone(), evolve)


def started(n: int = 1) -> UserStarted:
    return UserStarted(bot_id=1, chat_id=n, user_id=n)


def received(zone: str) -> Envelope[TimeZoneSet]:
    return envelope_of(
        TimeZoneSet(bot_id=1, chat_id=1, user_id=1, time_zone=zone), producer="elsewhere"
    )


async def test_a_new_stream_is_at_version_zero(backend: Backend) -> None:
    async with backend.work() as work:
        stream = await work.load("s")
    assert (stream.version, stream.events) == (0, [])


async def test_appends_come_back_typed_in_order_with_their_version(backend: Backend) -> None:
    async with backend.work() as work:
        recorded = await work.append(
            [Append("s", 0, [work.wrap(started(1)), work.wrap(started(2))])]
        )
        assert [r.version for r in recorded] == [1, 2]
    async with backend.work() as work:
        stream = await work.load("s")
    assert stream.version == 2
    assert [e.data.chat_id for e in stream.events] == [1, 2]
    assert all(isinstance(e.data, UserStarted) for e in stream.events)


async def test_a_stale_version_raises_and_the_savepoint_keeps_the_rest(backend: Backend) -> None:
    async with backend.work() as work:
        await work.append([Append("s", 0, [work.wrap(started())])])

        async def both_or_neither() -> None:
            async with work.attempt():
                await work.append([Append("other", 0, [work.wrap(started())])])
                await work.append([Append("s", 0, [work.wrap(started())])])

        with pytest.raises(ConcurrencyError):
            await both_or_neither()
        assert (await work.load("other")).version == 0
        assert (await work.load("s")).version == 1


async def test_a_lost_race_on_one_event_leaves_the_work_usable_without_a_savepoint(
    backend: Backend,
) -> None:
    async with backend.work() as work:
        await work.append([Append("s", 0, [work.wrap(started())])])
        with pytest.raises(ConcurrencyError):
            await work.append([Append("s", 0, [work.wrap(started(2))])])
        await work.append([Append("s", 1, [work.wrap(started(3))])])
    async with backend.work() as work:
        stream = await work.load("s")
    assert [e.data.chat_id for e in stream.events] == [1, 3]


async def test_decide_appends_at_the_loaded_version_and_publishes_only_its_own(
    backend: Backend,
) -> None:
    async with backend.work() as work:
        decided = await decide(work, "s", ZONE, lambda s: [received("UTC"), started()])
        assert [e.type for e in work.emitted] == ["user.started.v1"]  # type: ignore[attr-defined]
    assert (decided.before, decided.after, decided.version) == (Zone(), Zone(1, "UTC"), 2)
    async with backend.work() as work:
        assert await state_of(work, "s", ZONE) == Zone(1, "UTC")
        nothing = await decide(work, "s", ZONE, lambda s: [] if s.starts else [started()])
        assert (nothing.version, nothing.recorded) == (2, [])


class Racing:
    """A unit of work that lets another writer append to the stream just before it does."""

    def __init__(self, work: Work, backend: Backend, races: int) -> None:
        self.inner, self.backend, self.races = work, backend, races

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def append(self, appends: list[Append]) -> object:
        if self.races:
            self.races -= 1
            async with self.backend.work() as other:
                version = (await other.load("s")).version
                await other.append([Append("s", version, [other.wrap(started(99))])])
        return await self.inner.append(appends)


async def test_a_lost_race_is_decided_again_from_a_fresh_load(backend: Backend) -> None:
    seen: list[int] = []

    def decision(state: Zone) -> list[Event]:
        seen.append(state.starts)
        return [started()]

    async with backend.work() as work:
        decided = await decide(Racing(work, backend, races=1), "s", ZONE, decision)  # type: ignore[arg-type]
    assert seen == [0, 1]
    assert decided.version == 2
    async with backend.work() as work:
        assert (await work.load("s")).version == 2


async def test_decide_gives_up_after_its_attempts(backend: Backend) -> None:
    async with backend.work() as work:
        with pytest.raises(ConcurrencyError):
            await decide(Racing(work, backend, races=5), "s", ZONE, lambda s: [started()])  # type: ignore[arg-type]
        assert work.emitted == []  # type: ignore[attr-defined]
