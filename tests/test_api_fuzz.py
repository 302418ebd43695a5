"""schemathesis against the OpenAPI schema the app serves: every operation, with generated (and broken) input, as a
provincial system (API token) and as a support agent (session). No answer may be a server error, and every answer
must conform to the schema (status code, content type, body).

Bounded: ``EXAMPLES`` generated cases per operation and identity, no shrinking, no example database. The number of
cases run is printed (``-s`` shows it) and asserted.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from invoicing.demo import demo_seed
from invoicing.issuing import issue_segments
from invoicing.models import Customer, SummarySheet
from piaogen.models import Role, User
from piaogen.services import api_token_issue
from support.models import Ticket, TicketCategory
from support.tickets import ticket_open
from tolling.models import Segment, Trip, UploadBatch
from tolling.services import upload_create

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("PIAOGEN_FUZZ_EXAMPLES", "25"))  # a deeper run: PIAOGEN_FUZZ_EXAMPLES=200
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
"""``status_code_conformance`` is left out: drf-spectacular documents the success codes only, so every 400, 403 and
404 (a bad page number, another province's id) would count; the bodies of documented codes are checked."""


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    """A Jiangsu system account, on a small demo country with issued documents, a summary sheet, a ticket and an
    upload: ids the fuzzer is given besides random ones (see ``KNOWN``)."""
    user = make_staff(Role.PROVINCE, "32", username="jiangsu")
    demo_seed(segments=400, seed=7)
    segments = list(Segment.objects.filter(province="32").order_by("pk").values_list("pk", flat=True)[:40])
    documents = issue_segments(segment_ids=segments, today=timezone.localdate() + dt.timedelta(days=30))
    upload_create(user=user, kind="toll_units", file=io.BytesIO(b"toll_unit,name\n"), file_name="units.csv")
    agent = make_staff(Role.AGENT, username="fuzz-agent")
    customer = Customer.objects.filter(province="32").order_by("pk").first()
    ticket_open(category=TicketCategory.values[0], subject="<b>fuzz</b>", by=agent, customer=customer)
    KNOWN.clear()
    KNOWN.update(
        {
            "uploads": list(UploadBatch.objects.values_list("pk", flat=True)),
            "documents": [d.pk for d in documents],
            "summary-sheets": list(SummarySheet.objects.values_list("pk", flat=True)),
            "customers": list(Customer.objects.filter(province="32").values_list("pk", flat=True)[:5]),
            "trips": list(
                Trip.objects.filter(pass_id__in=Segment.objects.filter(pk__in=segments).values("pass_id")).values_list(
                    "pk", flat=True
                )[:5]
            ),
            "tickets": list(Ticket.objects.values_list("pk", flat=True)),
        }
    )
    assert KNOWN["documents"] and KNOWN["customers"] and KNOWN["trips"]
    return user


KNOWN: dict[str, list[int]] = {}
"""Existing ids per resource (the path segment after /api/v1/): every other case of an operation with an ``{id}``
uses one of them, so detail endpoints and commands are fuzzed past their 404."""


def _known_id(case: Any, index: int) -> None:
    if "id" in (case.path_parameters or {}) and index % 2:
        resource = case.operation.path.split("/")[3]
        if ids := KNOWN.get(resource):
            case.path_parameters["id"] = ids[index // 2 % len(ids)]


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Any:
    """The WSGI app is called in-process, inside the test's transaction: don't let request signals close the
    connection (what Django's own test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def fuzz(
    token: str, headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None
) -> tuple[Counter[str], list[str]]:
    """Load the schema the app serves (with an API token), then run every operation with ``headers`` and
    ``cookies``; (answers by "METHOD path status", failure reports)."""
    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", app, headers={"Authorization": f"Token {token}"}
    )
    answers: Counter[str] = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the schema has an invalid operation: {result.err()}")
            continue
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            _known_id(case, sum(answers.values()))
            try:
                response = case.call_and_validate(headers=headers, cookies=cookies, checks=CHECKS)
                answers[f"{case.operation.label} {response.status_code}"] += 1
            except (Exception, BaseExceptionGroup) as exc:  # collected: one report for the whole API
                report = f"{case.operation.label}: {case.as_curl_command(headers=headers)}\n{_short(exc)}"
                if _known(report):
                    answers[f"{case.operation.label} known issue"] += 1
                    if case.operation.label not in KNOWN_SEEN:
                        KNOWN_SEEN[case.operation.label] = report
                        print(f"\nknown issue: {report[:1500]}")
                else:
                    answers["failed"] += 1
                    failures.append(report)

        run()
    return answers, failures


KNOWN_ISSUES: list[tuple[str, ...]] = []
"""Schema mismatches found by this test in code other engineers own, reported to them: counted and printed as
"known issue", not failed. Remove an entry once fixed (the test then guards it)."""


KNOWN_SEEN: dict[str, str] = {}


def _known(report: str) -> bool:
    return any(all(part in report for part in issue) for issue in KNOWN_ISSUES)


def _short(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc))[:2000]


def _report(failures: list[str]) -> str:
    unique = sorted({f.split("\n", 1)[0].split(":", 1)[0] + "\n" + f.split("\n", 1)[1] for f in failures})
    return "\n\n".join(unique[:20])


def _summary(who: str, answers: Counter[str]) -> int:
    total = sum(answers.values())
    print(f"\nschemathesis as {who}: {total} cases")
    for key, count in sorted(answers.items()):
        print(f"  {key}: {count}")
    return total


def test_no_operation_answers_a_provincial_system_with_a_server_error_or_off_schema(jiangsu: User) -> None:
    _token, key = api_token_issue(user=jiangsu, name="江苏省级系统")

    answers, failures = fuzz(key, {"Authorization": f"Token {key}"})

    assert _summary("a province user's API token", answers) >= 10 * EXAMPLES
    assert not failures, _report(failures)
    assert answers["GET /api/v1/uploads/ 200"] and answers["GET /api/v1/me/ 200"]  # past authentication


def test_no_operation_answers_a_support_agent_with_a_server_error_or_off_schema(
    jiangsu: User, agent: User, client_for: Callable[[User], Client]
) -> None:
    _token, key = api_token_issue(user=jiangsu, name="江苏省级系统")
    session = client_for(agent).cookies[settings.SESSION_COOKIE_NAME].value
    request = RequestFactory().get("/")
    csrf = get_token(request)  # commands with a session need the CSRF token, as the console sends it
    cookies = {settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: request.META["CSRF_COOKIE"]}

    answers, failures = fuzz(key, {"X-CSRFToken": csrf}, cookies)

    assert _summary("a support agent's session", answers) >= 10 * EXAMPLES
    assert not failures, _report(failures)
    assert answers["GET /api/v1/documents/ 200"] and answers["GET /api/v1/tickets/ 200"]


def test_an_invoice_request_for_an_id_beyond_bigint_is_refused_not_a_server_error(
    agent: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(agent)
    client.raise_request_exception = False

    response = client.post(
        "/api/v1/invoice-requests/", {"items": [{"kind": "topup", "id": 10**30}]}, content_type="application/json"
    )

    assert response.status_code == 400
