"""API keys: format, parsing, hashing, scopes, bearer headers."""

from datetime import UTC, datetime

import pytest

from chime_api.domain.keys import (
    ApiKey,
    InvalidKeyError,
    Scope,
    bearer_token,
    hash_secret,
    issue_key,
    parse_key,
    parse_scopes,
    secret_matches,
)

pytestmark = pytest.mark.unit


def test_an_issued_key_parses_back_to_its_id_and_secret():
    issued = issue_key()
    key_id, secret = parse_key(issued.plaintext)
    assert key_id == issued.id
    assert issued.id.startswith("key_")
    assert issued.plaintext.startswith("chime_")
    assert secret_matches(secret, issued.secret_hash)
    assert issued.plaintext.startswith(issued.prefix)
    assert secret not in issued.prefix


def test_issued_keys_are_unique_and_high_entropy():
    keys = [issue_key() for _ in range(50)]
    assert len({k.plaintext for k in keys}) == 50
    assert len({k.id for k in keys}) == 50
    assert all(len(parse_key(k.plaintext)[1]) >= 43 for k in keys)


def test_only_the_hash_of_the_secret_is_kept():
    issued = issue_key()
    _, secret = parse_key(issued.plaintext)
    assert issued.secret_hash == hash_secret(secret)
    assert len(issued.secret_hash) == 64
    assert secret not in issued.secret_hash


def test_a_wrong_secret_does_not_match():
    issued = issue_key()
    _, secret = parse_key(issued.plaintext)
    assert not secret_matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"), issued.secret_hash)


def test_a_secret_with_underscores_parses_whole():
    id_part = "01jabcdefghjkmnpqrstvwxyz0"
    secret = "ab_cd_" + "x" * 40
    assert parse_key(f"chime_{id_part}_{secret}") == (f"key_{id_part}", secret)


def test_the_id_part_is_case_insensitive():
    issued = issue_key()
    upper = "chime_" + issued.plaintext.removeprefix("chime_")[:26].upper() + issued.plaintext[32:]
    assert parse_key(upper)[0] == issued.id


@pytest.mark.parametrize(
    "text",
    [
        "",
        "chime_",
        "sk_live_abc",
        "chime_short_" + "x" * 40,
        "chime_01jabcdefghjkmnpqrstvwxyz0",
        "chime_01jabcdefghjkmnpqrstvwxyz0_tooshort",
        "chime_01jabcdefghjkmnpqrstvwxy-_" + "x" * 40,
        "chime_01jabcdéfghjkmnpqrstvwxyz_" + "x" * 40,
        "CHIME_01jabcdefghjkmnpqrstvwxyz0_" + "x" * 40,
    ],
)
def test_malformed_keys_are_refused(text):
    with pytest.raises(InvalidKeyError):
        parse_key(text)


def test_scopes_parse_and_unknown_ones_are_named():
    assert parse_scopes(["notifications:read", "notifications:read"]) == {Scope.NOTIFICATIONS_READ}
    with pytest.raises(ValueError, match="notifications:delete"):
        parse_scopes(["notifications:write", "notifications:delete"])


def key_with(*scopes, revoked=False):
    now = datetime.now(UTC)
    return ApiKey("key_x", "n", "chime_x", "h", frozenset(scopes), now, now if revoked else None)


def test_a_key_allows_only_its_scopes():
    writer = key_with(Scope.NOTIFICATIONS_WRITE)
    assert writer.allows(Scope.NOTIFICATIONS_WRITE)
    assert not writer.allows(Scope.NOTIFICATIONS_READ)
    assert not writer.allows(Scope.NOTIFICATIONS_WRITE, Scope.NOTIFICATIONS_READ)
    assert writer.allows()
    assert writer.missing([Scope.NOTIFICATIONS_READ, Scope.NOTIFICATIONS_WRITE]) == [
        Scope.NOTIFICATIONS_READ
    ]


def test_revoked_keys_are_not_active():
    assert key_with().active
    assert not key_with(revoked=True).active


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("  Bearer   abc  ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_tokens_are_read_from_the_authorization_header(header, token):
    assert bearer_token(header) == token
