"""API keys: format, checksum, parsing, hashing, scopes, expiry, the key stream."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from chime_api.domain.events import ApiKeyCreated, ApiKeyLimitsSet, ApiKeyRevoked, ApiKeyRotated
from chime_api.domain.keys import (
    KEY,
    KEY_PATTERN,
    ApiKey,
    InvalidKeyError,
    Limits,
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
    assert all(len(parse_key(k.plaintext)[1]) == 32 for k in keys)  # ~190 bits of base62


def test_secret_scanners_find_issued_keys_in_text():
    issued = issue_key()
    leaked = f'config = {{"token": "{issued.plaintext}"}}'
    assert re.findall(KEY_PATTERN, leaked) == [issued.plaintext]


def test_a_typo_fails_the_checksum_before_any_lookup():
    issued = issue_key()
    for i in range(len("chime_"), len(issued.plaintext)):
        changed = "0" if issued.plaintext[i] != "0" else "1"
        typo = issued.plaintext[:i] + changed + issued.plaintext[i + 1 :]
        with pytest.raises(InvalidKeyError):
            parse_key(typo)


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


def test_keys_issued_before_checksums_still_parse():
    id_part = "01jabcdefghjkmnpqrstvwxyz0"
    secret = "ab_cd_" + "x" * 37
    assert parse_key(f"chime_{id_part}_{secret}") == (f"key_{id_part}", secret)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "chime_",
        "sk_live_abc",
        "chime_short_" + "x" * 40,
        "chime_01jabcdefghjkmnpqrstvwxyz0",
        "chime_01jabcdefghjkmnpqrstvwxyz0_tooshort",
        "chime_01jabcdefghjkmnpqrstvwxyz0_" + "x" * 38,  # the right shape, a wrong checksum
        "chime_01jabcdefghjkmnpqrstvwxy-_" + "x" * 40,
        "chime_01jabcdéfghjkmnpqrstvwxyz_" + "x" * 40,
        "CHIME_01jabcdefghjkmnpqrstvwxyz0_" + "x" * 40,
    ],
)
def test_malformed_keys_are_refused(text):
    with pytest.raises(InvalidKeyError):
        parse_key(text)


def test_scopes_parse_and_unknown_ones_are_named():
    assert parse_scopes(["read", "read"]) == {Scope.READ}
    assert parse_scopes(["notifications:write", "notifications:read"]) == {Scope.NOTIFY, Scope.READ}
    with pytest.raises(ValueError, match="delete"):
        parse_scopes(["notify", "delete"])


NOW = datetime(2026, 3, 1, tzinfo=UTC)


def key_with(*scopes, revoked=False, expires_at=None, team=None):
    return ApiKey(
        "key_x",
        "n",
        "chime_x",
        "h",
        frozenset(scopes),
        NOW,
        team=team,
        revoked_at=NOW if revoked else None,
        expires_at=expires_at,
    )


def test_a_key_allows_only_its_scopes():
    writer = key_with(Scope.NOTIFY)
    assert writer.allows(Scope.NOTIFY)
    assert not writer.allows(Scope.READ)
    assert not writer.allows(Scope.NOTIFY, Scope.READ)
    assert writer.allows()
    assert writer.missing([Scope.READ, Scope.NOTIFY, Scope.ADMIN]) == [Scope.READ, Scope.ADMIN]


def test_revoked_and_expired_keys_do_not_work():
    assert key_with().active(NOW)
    assert not key_with(revoked=True).active(NOW)
    later = NOW + timedelta(hours=1)
    assert key_with(expires_at=later).active(NOW)
    assert not key_with(expires_at=later).active(later)


def test_a_team_owns_what_its_keys_ask_for():
    assert key_with(team="billing").owner == "team:billing"
    assert key_with().owner == "key:key_x"


def test_the_key_stream_folds_into_the_key():
    from chime_contracts.envelope import envelope_of

    created = ApiKeyCreated(
        api_key_id="key_a",
        name="ci",
        prefix="chime_0123",
        secret_hash="h",
        scopes=["notifications:write", "read"],
        created_at=NOW,
        team="t",
    )
    events = [
        created,
        ApiKeyLimitsSet(api_key_id="key_a", rate_per_second=5, burst=10),
        ApiKeyRotated(api_key_id="key_a", successor_id="key_b", expires_at=NOW),
        ApiKeyRevoked(api_key_id="key_a", revoked_at=NOW),
    ]
    key = KEY.fold(envelope_of(e, producer="api") for e in events)
    assert key is not None
    assert key.scopes == {Scope.NOTIFY, Scope.READ}
    assert key.limits == Limits(5, 10)
    assert key.expires_at == NOW
    assert key.revoked_at == NOW
    assert KEY.fold([]) is None


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
