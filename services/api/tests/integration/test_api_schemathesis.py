"""Schemathesis against the api's own OpenAPI document, on a real server with a key holding
every scope: generated requests to every operation, 0 server errors and 0 responses that
break the document (status, content type, body schema)."""

import asyncio
import warnings

import pytest
import schemathesis
from api_support import READ
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import HypothesisDeprecationWarning
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chime_api.entrypoints.app import create_app
from chime_api.entrypoints.cli import create_key
from chime_kit.testing import serving

pytestmark = pytest.mark.integration
EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def cases_of(operation, count):
    found = []

    @hypothesis_settings(
        max_examples=count, database=None, deadline=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(operation.as_strategy())
    def collect(case):
        found.append(case)

    # Schemathesis' own strategies draw from `random`; a warning about the library, not us.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HypothesisDeprecationWarning)
        collect()
    return found


# 15 cases for each of ~50 operations, sequentially: 134 s once on a loaded shared machine.
@pytest.mark.timeout(300)
async def test_no_server_errors_and_no_schema_violations(settings):
    every = ["notify", "schedule", "broadcast", "topics", READ, "admin"]
    _, key = await create_key(settings, "fuzz", every, team="fuzz")
    app = create_app(settings)
    async with serving(app) as base_url:
        import httpx

        async with httpx.AsyncClient() as http:
            document = (await http.get(f"{base_url}/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document)
        # The event stream is followed, not fuzzed: it lasts as long as it is asked to.
        operations = [
            op for op in (result.ok() for result in schema.get_all_operations())
            if op.label != "GET /v1/events"
        ]  # fmt: skip
        paths = {op.path for op in operations}
        assert len(operations) >= 40
        for covered in ("/v1/history/", "/v1/stats/", "/v1/chats", "/recipients"):
            assert any(covered in path for path in paths), covered
        failures = []
        for operation in operations:
            for case in await asyncio.to_thread(cases_of, operation, EXAMPLES):
                headers = {"Authorization": f"Bearer {key}"}
                response = await asyncio.to_thread(case.call, base_url=base_url, headers=headers)
                try:
                    case.validate_response(response, checks=CHECKS)
                except Exception as exc:  # a failure, or a group of them
                    failures.append(f"{operation.label}: {str(exc)[:600]}")
        assert failures == [], "\n".join(failures)
