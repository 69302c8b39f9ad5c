"""`python -m chime_scheduler preview`: the issue's commands, and the output's format."""

import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from chime_scheduler.__main__ import CLI
from chime_scheduler.entrypoints.preview import add_preview, preview_lines

pytestmark = pytest.mark.unit
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def lines(*argv: str) -> list[str]:
    args = CLI.parser(add_preview).parse_args(["preview", *argv])
    return preview_lines(args, now=datetime(2026, 3, 1, tzinfo=UTC))


def test_the_rrule_of_the_issue_as_a_process():
    done = subprocess.run(
        [sys.executable, "-m", "chime_scheduler", "preview", "--tz", "Europe/Kyiv",
         "--start", "2026-03-01T09:00:00", "--rrule", "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.splitlines() == [
        "2026-03-02T09:00:00+02:00", "2026-03-04T09:00:00+02:00", "2026-03-09T09:00:00+02:00",
        "2026-03-11T09:00:00+02:00", "2026-03-16T09:00:00+02:00",
    ]  # fmt: skip


def test_cron_crosses_the_dst_change_with_its_offset():
    got = lines("--tz", "Europe/Kyiv", "--start", "2026-03-27T00:00", "--cron", "30 8 * * 1-5",
                "--count", "3")  # fmt: skip
    assert got == ["2026-03-27T08:30:00+02:00", "2026-03-30T08:30:00+03:00",
                   "2026-03-31T08:30:00+03:00"]  # fmt: skip


def test_pings_are_reproducible_from_the_seed_and_inside_the_window():
    argv = ("--tz", "Europe/Kyiv", "--pings", "3", "--window", "10:00-22:00", "--seed", "7",
            "--count", "9")  # fmt: skip
    got = lines(*argv)
    assert got == lines(*argv)
    assert len(got) == 9
    assert all(ISO_WITH_OFFSET.match(line) for line in got)
    assert all("10:00" <= line[11:16] < "22:00" for line in got)


def test_exdate_until_and_count():
    got = lines("--tz", "Europe/Kyiv", "--start", "2026-03-01T09:00:00", "--rrule", "FREQ=DAILY",
                "--exdate", "2026-03-02T09:00", "--until", "2026-03-04T09:00")  # fmt: skip
    assert got == ["2026-03-01T09:00:00+02:00", "2026-03-03T09:00:00+02:00",
                   "2026-03-04T09:00:00+02:00"]  # fmt: skip
    assert len(lines("--cron", "0 * * * *", "--count", "4")) == 4


def test_a_bad_spec_says_what_is_wrong_and_exits_2():
    done = subprocess.run(
        [sys.executable, "-m", "chime_scheduler", "preview", "--cron", "61 * * * *"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert "bad cron expression" in done.stderr
