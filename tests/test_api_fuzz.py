"""schemathesis against the OpenAPI schema the app serves: every operation, with generated (and broken) input, as a
provincial system (API token); the same as a support agent (session) is tests/test_api_fuzz_session.py. No answer
may be a server error, and every answer must conform to the schema (status code, content type, body).

Bounded: ``EXAMPLES`` generated cases per operation and identity, no shrinking, no example database. The number of
cases run is printed (``-s`` shows it) and asserted. The world and the run: tests/fixtures/fuzz.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from piaogen.models import User
from piaogen.services import api_token_issue
from tests.fixtures.fuzz import EXAMPLES, failure_report, fuzz, summary

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_the_test_connection")]


def test_no_operation_answers_a_provincial_system_with_a_server_error_or_off_schema(jiangsu: User) -> None:
    _token, key = api_token_issue(user=jiangsu, name="江苏省级系统")

    answers, failures = fuzz(key, {"Authorization": f"Token {key}"})

    assert summary("a province user's API token", answers) >= 10 * EXAMPLES
    assert not failures, failure_report(failures)
    assert answers["GET /api/v1/uploads/ 200"] and answers["GET /api/v1/me/ 200"]  # past authentication


def test_an_invoice_request_for_an_id_beyond_bigint_is_refused_not_a_server_error(
    agent: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(agent)
    client.raise_request_exception = False

    response = client.post(
        "/api/v1/invoice-requests/", {"items": [{"kind": "topup", "id": 10**30}]}, content_type="application/json"
    )

    assert response.status_code == 400
