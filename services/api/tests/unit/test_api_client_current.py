"""The typed client is generated from the api's OpenAPI document and kept current: after a
change to the api, `python -m chime_api_client.generate` must be run and its output kept."""

from pathlib import Path

import pytest

import chime_api_client
from chime_api_client.generate import generated

pytestmark = pytest.mark.unit


def test_the_generated_client_matches_the_api():
    here = Path(chime_api_client.__file__).parent
    for name, text in generated().items():
        assert (here / name).read_text() == text, (
            f"{name} is stale: run `uv run python -m chime_api_client.generate`"
        )
