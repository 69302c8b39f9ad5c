"""Bot pools' pure rules: the worker a new chat gets, the deep link's payload, the pools
configuration, and what a /start decides on a chat's assignment stream."""

import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chime_contracts.envelope import envelope_of
from chime_contracts.events import ChatAssigned, ChatAssignmentConfirmed
from chime_ingest.domain.pools import (
    ASSIGNMENT,
    Pool,
    Pools,
    Started,
    assign,
    choose_worker,
    decode_payload,
    deep_link,
    encode_payload,
    pools_problems,
)
from chime_ingest.settings import IngestSettings

pytestmark = pytest.mark.unit

POOL = Pool("main", front=10, workers=(11, 12, 13))
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def token(bot_id: int) -> str:
    return f"{bot_id}:AAIngestPoolsTestTokenXXXXXXXXXXXXXX"


# --- choosing a worker -------------------------------------------------------------------


def test_the_least_loaded_worker_is_chosen():
    assert choose_worker(POOL, {11: 5, 12: 3, 13: 4}, chat_id=7) == 12


def test_a_worker_never_assigned_counts_as_empty():
    assert choose_worker(POOL, {11: 1, 12: 0, 13: 1}, chat_id=1) == 12


@pytest.mark.parametrize(("chat_id", "chosen"), [(0, 11), (1, 13), (2, 11), (3, 13), (-1, 13)])
def test_ties_are_broken_by_the_chat_id_in_configured_order(chat_id, chosen):
    # 11 and 13 tie at 2; 12 has more.
    assert choose_worker(POOL, {11: 2, 12: 3, 13: 2}, chat_id) == chosen


def test_only_workers_a_link_can_be_made_to_are_chosen():
    # 12 has no known username (absent from the loads): never chosen, however empty.
    assert choose_worker(POOL, {11: 9, 13: 8}, chat_id=4) == 13


def test_no_linkable_worker_chooses_none():
    assert choose_worker(POOL, {}, chat_id=4) is None


def test_bots_outside_the_pool_are_ignored():
    assert choose_worker(POOL, {99: 0, 11: 3, 12: 2, 13: 2}, chat_id=0) == 12


def test_weights_divide_the_load():
    weighted = Pool("w", 10, (11, 12), {12: 3.0})
    # 12 carries three times the load for the same score: 6/3 = 2 < 3.
    assert choose_worker(weighted, {11: 3, 12: 6}, chat_id=0) == 12
    assert choose_worker(weighted, {11: 2, 12: 9}, chat_id=0) == 11
    assert choose_worker(weighted, {11: 2, 12: 6}, chat_id=1) == 12  # a tie at 2


@given(
    workers=st.lists(st.integers(1, 10**12), min_size=1, max_size=8, unique=True),
    chats=st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=300),
)
def test_assigning_one_chat_after_another_keeps_workers_within_one(workers, chats):
    pool = Pool("p", 0, tuple(workers))
    loads = dict.fromkeys(workers, 0)
    for chat in chats:
        chosen = choose_worker(pool, loads, chat)
        assert chosen is not None
        assert loads[chosen] == min(loads.values())
        loads[chosen] += 1
    assert max(loads.values()) - min(loads.values()) <= 1
    assert sum(loads.values()) == len(chats)


@given(
    weights=st.lists(st.integers(1, 5), min_size=1, max_size=6),
    chats=st.lists(st.integers(0, 10**9), min_size=1, max_size=300),
)
def test_weighted_shares_stay_within_one_chat_of_their_weight(weights, chats):
    workers = tuple(range(1, len(weights) + 1))
    pool = Pool("p", 0, workers, {w: float(n) for w, n in zip(workers, weights, strict=True)})
    loads = dict.fromkeys(workers, 0)
    for chat in chats:
        chosen = choose_worker(pool, loads, chat)
        assert chosen is not None
        loads[chosen] += 1
    total = sum(weights)
    for worker, weight in zip(workers, weights, strict=True):
        # Greedy least-loaded-per-weight never lets a worker run more than one chat ahead.
        assert loads[worker] <= len(chats) * weight / total + 1


# --- the deep link's payload -------------------------------------------------------------


@given(
    pool=st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,15}\Z"),
    chat_id=st.integers(-(2**63), 2**63 - 1),
)
def test_a_payload_round_trips_and_fits_telegram(pool, chat_id):
    payload = encode_payload(pool, chat_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", payload)
    assert decode_payload(payload) == (pool, chat_id)


@pytest.mark.parametrize(
    "payload",
    ["", "hello", "a1", "a1!!!", "a1" + "A" * 70, "b1bWFpbjo1", "a1bWFpbjp4", "a1bWFpbjo1="],
)
def test_anything_else_decodes_to_none(payload):
    assert decode_payload(payload) is None


@given(st.text(max_size=80))
def test_decoding_never_raises(payload):
    decoded = decode_payload(payload)
    assert decoded is None or encode_payload(*decoded) == payload


def test_the_deep_link():
    payload = encode_payload("main", 7)
    assert deep_link("worker_bot", payload) == f"https://t.me/worker_bot?start={payload}"


# --- configuration -----------------------------------------------------------------------


def settings(pools: str, *bots: int) -> IngestSettings:
    tokens = [token(b) for b in bots]
    return IngestSettings(mode="polling", bot_tokens=tokens, bot_pools=json.loads(pools))


def test_pools_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("CHIME_INGEST_MODE", "polling")
    monkeypatch.setenv("CHIME_INGEST_BOT_TOKENS", ",".join(token(b) for b in (10, 11, 12)))
    monkeypatch.setenv(
        "CHIME_INGEST_BOT_POOLS",
        '{"main": {"front": 10, "workers": [11, 12], "weights": {"12": 2}}}',
    )
    pools = IngestSettings().pools()
    assert pools == Pools((Pool("main", 10, (11, 12), {12: 2.0}),))
    assert pools.of_bot(12) is pools.of_bot(10) is pools.named("main")
    assert pools.of_bot(99) is None


def test_no_pools_by_default():
    assert IngestSettings().pools() == Pools()


@pytest.mark.parametrize(
    ("config", "bots", "problem"),
    [
        ('{"main": {"front": 10, "workers": []}}', (10,), "needs at least one worker"),
        ('{"main": {"front": 10, "workers": [11, 11]}}', (10, 11), "listed twice"),
        ('{"main": {"front": 10, "workers": [10, 11]}}', (10, 11), "front bot 10 is also a worker"),
        ('{"main": {"front": 10, "workers": [11]}}', (10,), "bot 11 has no token"),
        ('{"Main!": {"front": 10, "workers": [11]}}', (10, 11), "a name is 1-16 of a-z"),
        (
            '{"a": {"front": 10, "workers": [11]}, "b": {"front": 12, "workers": [11]}}',
            (10, 11, 12),
            "bot 11 is in two pools, 'a' and 'b'",
        ),
        (
            '{"main": {"front": 10, "workers": [11], "weights": {"12": 1}}}',
            (10, 11, 12),
            "no worker",
        ),
        ('{"main": {"front": 10, "workers": [11], "weights": {"11": 0}}}', (10, 11), "above 0"),
        ('{"main": {"front": 10, "workers": [11], "spare": [12]}}', (10, 11), "spare"),
    ],
)
def test_a_wrong_configuration_is_refused_at_start_up_saying_what_is_wrong(config, bots, problem):
    with pytest.raises(ValidationError, match=r"CHIME_INGEST_BOT_POOLS|spare") as refused:
        settings(config, *bots)
    assert problem in str(refused.value)


def test_a_sound_configuration_has_no_problems():
    assert pools_problems([POOL, Pool("other", 20, (21,))], [10, 11, 12, 13, 20, 21]) == []


def test_two_pools_of_one_name_are_a_problem():
    assert "two pools have the same name" in pools_problems([POOL, POOL], [10, 11, 12, 13])


# --- what a /start decides ---------------------------------------------------------------


def started(bot_id: int, chat_id: int = 7) -> Started:
    return Started(POOL, bot_id, chat_id, chat_id, AT)


def fold(*events):
    return ASSIGNMENT.fold(envelope_of(e, producer="ingest") for e in events)


def test_a_front_start_assigns_the_chosen_worker_with_its_payload():
    [assigned] = assign(fold(), started(10), worker=12)
    assert isinstance(assigned, ChatAssigned)
    assert (assigned.pool, assigned.bot_id, assigned.front_bot_id) == ("main", 12, 10)
    assert assigned.started_bot_id == 10
    assert assigned.pool_bot_ids == [10, 11, 12, 13]
    assert assigned.payload == encode_payload("main", 7)
    state = fold(assigned)
    assert state.worker == 12
    assert not state.confirmed


def test_a_second_front_start_keeps_the_worker():
    state = fold(*assign(fold(), started(10), worker=12))
    assert assign(state, started(10), worker=11) == []
    assert state.worker == 12


def test_starting_the_worker_confirms_once():
    state = fold(*assign(fold(), started(10), worker=12))
    [confirmed] = assign(state, started(12), worker=12)
    assert isinstance(confirmed, ChatAssignmentConfirmed)
    assert confirmed.bot_id == 12
    state = fold(*assign(fold(), started(10), worker=12), confirmed)
    assert state.confirmed
    assert assign(state, started(12), worker=12) == []


def test_a_worker_started_without_an_assignment_takes_the_chat_confirmed():
    [assigned] = assign(fold(), started(13), worker=13)
    assert isinstance(assigned, ChatAssigned)
    assert (assigned.bot_id, assigned.started_bot_id, assigned.payload) == (13, 13, None)
    assert fold(assigned).confirmed


def test_starting_another_worker_changes_nothing():
    state = fold(*assign(fold(), started(10), worker=12))
    assert assign(state, started(11), worker=11) == []


def test_no_worker_to_choose_records_nothing():
    assert assign(fold(), started(10), worker=None) == []
