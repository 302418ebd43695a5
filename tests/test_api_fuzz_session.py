"""schemathesis against the OpenAPI schema the app serves, as a support agent (session, with the CSRF token the
console sends): every operation, with generated (and broken) input; no server error, every answer on the schema.
The same as a provincial system is tests/test_api_fuzz.py; the world and the run: tests/fixtures/fuzz.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory

from piaogen.models import User
from piaogen.services import api_token_issue
from tests.fixtures.fuzz import EXAMPLES, failure_report, fuzz, summary

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_the_test_connection")]


def test_no_operation_answers_a_support_agent_with_a_server_error_or_off_schema(
    jiangsu: User, agent: User, client_for: Callable[[User], Client]
) -> None:
    _token, key = api_token_issue(user=jiangsu, name="江苏省级系统")
    session = client_for(agent).cookies[settings.SESSION_COOKIE_NAME].value
    request = RequestFactory().get("/")
    csrf = get_token(request)  # commands with a session need the CSRF token, as the console sends it
    cookies = {settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: request.META["CSRF_COOKIE"]}

    answers, failures = fuzz(key, {"X-CSRFToken": csrf}, cookies)

    assert summary("a support agent's session", answers) >= 10 * EXAMPLES
    assert not failures, failure_report(failures)
    assert answers["GET /api/v1/documents/ 200"] and answers["GET /api/v1/tickets/ 200"]
