import pytest

from chime_emulator.state import update_id_origin

pytestmark = pytest.mark.unit


def test_update_ids_of_a_restarted_emulator_do_not_repeat() -> None:
    assert update_id_origin(1_735_689_600) == 0
    an_hour_later = update_id_origin(1_735_689_600 + 3600)
    assert an_hour_later == 3600 * 8
    assert update_id_origin(2_000_000_000) < 2**31
