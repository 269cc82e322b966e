"""Schemathesis over the intake's own OpenAPI document, against a real intake over HTTP.

Every operation gets the document's examples, its coverage cases (each constraint at
and past its boundary) and fuzzed bodies, valid and invalid, and every answer goes
through all of Schemathesis's checks: no 5xx, every status code, content type, header
and body as the document describes it, valid requests accepted, invalid ones refused,
and no alert accepted without the token. The same cases are sent again without a token:
each one must be a documented 401, whatever its body, since auth is checked first.
"""

from __future__ import annotations

from typing import Iterator

import pytest
import schemathesis

from problemflow.intake.common import load_triage
from tests.intake.conftest import TOKEN, intake_settings, serve_intake

EXAMPLES = 25  # fuzzed cases per operation and mode; the coverage cases come on top
SEED = 20261124


def config(base_url: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "base-url": base_url,
            "seed": SEED,
            "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "checks": {
                "enabled": True,
                # A body over the size limit is refused with the documented 413 before it is
                # read, valid or not: no schema can say how many bytes its instances take.
                "positive_data_acceptance": {"expected-statuses": ["2XX", 401, 403, 404, 409, 413, 429, "5XX"]},
                "negative_data_rejection": {
                    "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5XX"],
                },
            },
        }
    )


@pytest.fixture
def intake_schema(clean_db: str, request: pytest.FixtureRequest) -> Iterator[schemathesis.BaseSchema]:
    # Schemathesis 4.32 names each operation's subtest through pytest's old `_nodeid`
    # attribute, which pytest 9.2 no longer has: give it one
    request.node._nodeid = request.node.nodeid
    # The intake runs in threads of this process, and its writer imports the triage rules
    # (Prefect, numpy) as it starts. Imported here first, no module is ever half-imported
    # in one thread while Hypothesis and pytest import and compile in this one.
    load_triage()
    with serve_intake(intake_settings(clean_db)) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json", config=config(url))


schema = schemathesis.pytest.from_fixture("intake_schema")


@schema.parametrize()
def test_every_answer_is_documented(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})


@schema.include(path_regex="^/v1/alerts/").parametrize()
def test_without_the_token_every_request_is_a_documented_401(case):
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    response = case.call()
    assert response.status_code == 401, response.text
    # a method the document does not list gets 401 too: the token is checked first, so a
    # sender without it learns nothing, not even which methods there are
    case.validate_response(response, excluded_checks=[schemathesis.checks.unsupported_method])
