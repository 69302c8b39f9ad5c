import pytest

from chime_ingest.domain.time_zones import UnknownTimeZone, resolve_time_zone

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Europe/Kyiv", "Europe/Kyiv"),
        ("europe/kyiv", "Europe/Kyiv"),
        (" America/New York ", "America/New_York"),
        ("utc", "UTC"),
    ],
)
def test_names_are_matched_without_regard_to_case(typed, zone):
    assert resolve_time_zone(typed) == zone


def test_an_unknown_name_suggests_close_ones():
    with pytest.raises(UnknownTimeZone, match=r"Did you mean .*Europe/Berlin"):
        resolve_time_zone("Europe/Berlinn")


@pytest.mark.parametrize("typed", ["", "   ", "Mars/Olympus_Mons"])
def test_nothing_or_nonsense_says_how_to_write_it(typed):
    with pytest.raises(UnknownTimeZone, match="/tz Europe/Berlin"):
        resolve_time_zone(typed)
