"""KnownKeys: a bounded memo of the keys a replica has seen work."""

from datetime import UTC, datetime

from chime_api.domain.keys import ApiKey, KnownKeys, Scope


def key(n: int) -> ApiKey:
    return ApiKey(
        id=f"key_{n}", name="k", prefix="chime_", secret_hash=f"h{n}",
        scopes=frozenset({Scope.READ}), created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def test_it_remembers_a_presented_key_and_nothing_else():
    known = KnownKeys()
    known.remember("chime_a", key(1))
    assert known.get("chime_a") == key(1)
    assert known.get("chime_b") is None


def test_it_never_holds_more_than_its_size():
    known = KnownKeys(size=3)
    for n in range(10):
        known.remember(f"chime_{n}", key(n))
        assert len(known) <= 3
    assert known.get("chime_9") == key(9)
