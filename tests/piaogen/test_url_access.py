"""Every URL pattern, requested as every role (and anonymously, and as a user without a role), answers exactly
what the access table says, and no page it shows has an inline script (the Content-Security-Policy forbids
them). A new URL without a row in the table fails the test: decide who may see it first."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

import pytest
import url_access_reports
import url_access_stats
import url_access_support
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from drf_spectacular.generators import SchemaGenerator
from url_access_table import ANON, NO_ROLE, OTHER_PROVINCE, ROLES, STAFF, everyone, staff_only

from invoicing.models import SummarySheet
from piaogen.access import ALL_ROLES
from piaogen.models import Role, User
from piaogen.tasks import HEARTBEAT_CACHE_KEY
from tests.factories import DocumentFactory, OperatorFactory, UploadBatchFactory

# url name → role → expected status for a GET
EXPECTED: dict[str, dict[str, int]] = {
    "home": staff_only(allowed=STAFF),
    "login": {**everyone(302), ANON: 200},  # a logged-in user is sent on to their home page
    "logout": everyone(405),  # POST only
    "set_language": everyone(302),  # GET changes nothing and redirects
    "healthz": everyone(200),  # public liveness probe, reveals nothing
    "readyz": everyone(503),  # public readiness probe; no worker heartbeat here (the fixture clears it)
    "jobs": staff_only(allowed=[Role.MAINTAINER]),
    "job-upload-retry": everyone(405),  # POST only
    "job-run-retry": everyone(405),  # POST only
    "job-export-retry": everyone(405),  # POST only
    "api-me": staff_only(allowed=STAFF, anon=401),
    "api-schema": staff_only(allowed=STAFF, anon=401),
    "api-docs": staff_only(allowed=STAFF, anon=401),
    # uploads: every role reads (province staff: their own province only), province staff upload and cancel
    "upload-list": staff_only(allowed=STAFF),
    "upload-create": everyone(405),  # POST only
    "upload-template": staff_only(allowed=STAFF),
    "upload-detail": staff_only(allowed=STAFF),
    "upload-progress": staff_only(allowed=STAFF),
    "upload-cancel": everyone(405),  # POST only
    "upload-original": staff_only(allowed=STAFF),
    "upload-errors": staff_only(allowed=STAFF),
    "api-upload-list": staff_only(allowed=STAFF, anon=401),
    "api-upload-detail": staff_only(allowed=STAFF, anon=401),
    "api-upload-errors": staff_only(allowed=STAFF, anon=401),
    "api-upload-rows": staff_only(allowed=STAFF, anon=401),
    # the upload contract and its templates for systems; the callback URL belongs to an API token (a session: 403)
    "api-contract": staff_only(allowed=STAFF, anon=401),
    "api-contract-template": staff_only(allowed=STAFF, anon=401),
    "api-callback": staff_only(allowed=[], anon=401),
    "api-upload-cancel": {**staff_only(allowed=[], anon=401), **dict.fromkeys(STAFF, 405)},  # POST only
    # documents and summary sheets: every role reads (province staff: their own province only), agents and
    # maintainers act (the command endpoints are POST only: a GET is 405 for them, 403 for everyone else)
    "document-detail": staff_only(allowed=STAFF),
    "document-pdf": staff_only(allowed=STAFF),
    "sheet-detail": staff_only(allowed=STAFF),
    "sheet-pdf": staff_only(allowed=STAFF),
    "sheet-resend": everyone(405),  # POST only
    "api-document-list": staff_only(allowed=STAFF, anon=401),
    "api-document-detail": staff_only(allowed=STAFF, anon=401),
    "api-document-pdf": staff_only(allowed=STAFF, anon=401),
    "api-summary-sheet-list": staff_only(allowed=STAFF, anon=401),
    "api-summary-sheet-detail": staff_only(allowed=STAFF, anon=401),
    "api-summary-sheet-pdf": staff_only(allowed=STAFF, anon=401),
    # province tokens may claim their province's paper tickets, taxi rides and back-charges (POST)
    "api-invoice-request": {
        **staff_only(allowed=[], anon=401),
        Role.AGENT: 405,
        Role.MAINTAINER: 405,
        Role.PROVINCE: 405,
    },
    "api-prepaid-choice": {**staff_only(allowed=[], anon=401), Role.AGENT: 405, Role.MAINTAINER: 405},  # POST only
    "api-document-reverse": {**staff_only(allowed=[], anon=401), Role.AGENT: 405, Role.MAINTAINER: 405},
    "api-document-reissue": {**staff_only(allowed=[], anon=401), Role.AGENT: 405, Role.MAINTAINER: 405},
    "api-document-deliveries": {**staff_only(allowed=[], anon=401), Role.AGENT: 405, Role.MAINTAINER: 405},
    # the support workbench's and the reports' URLs have their tables next to this file
    **url_access_support.EXPECTED,
    **url_access_reports.EXPECTED,
    **url_access_stats.EXPECTED,
}


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield namespace + entry.name, prefix + str(entry.pattern)


def url_patterns() -> list[tuple[str, str]]:
    return sorted(set(_walk(get_resolver())))


SAMPLES = {"kind": "segments", "fmt": "csv", "slug": "provinces"}
PARAMETER = re.compile(r"<(?:\w+:)?(?P<name>\w+)>|\(\?P<(?P<regex_name>\w+)>[^)]*\)")


def sample_path(route: str, object_id: int) -> str:
    """A concrete path for a route: each parameter gets a sample value, object ids the id of a real object of
    province 32 (the province user's) that the `clients` fixture creates."""
    path = "/" + route.replace("^", "").replace("$", "").replace("\\Z", "")
    path = PARAMETER.sub(lambda m: SAMPLES.get(m.group("name") or m.group("regex_name"), str(object_id)), path)
    return path.replace("\\", "")


@pytest.fixture
def clients(make_staff: Callable[..., User], client_for: Callable[[User], Client]) -> dict[str, Client]:
    cache.delete(HEARTBEAT_CACHE_KEY)  # readyz answers 503 without a worker, whatever ran before
    result = {ANON: Client()}
    nobody = User.objects.create_user("nobody", password="x")  # an account with no console role
    result[NO_ROLE] = client_for(nobody)
    for role in STAFF:
        result[role] = client_for(make_staff(role, "32" if role == Role.PROVINCE else ""))
    result[OTHER_PROVINCE] = client_for(make_staff(Role.PROVINCE, "33", username="province33"))
    return result


def takes_object_id(route: str) -> bool:
    return any((m.group("name") or m.group("regex_name")) not in SAMPLES for m in PARAMETER.finditer(route))


def expected_status(name: str, route: str, role: str) -> int:
    row = EXPECTED[name]
    if role in row:
        return row[role]
    assert role == OTHER_PROVINCE
    province = row[Role.PROVINCE]
    return 404 if province == 200 and takes_object_id(route) else province


@pytest.fixture
def object_id(make_staff: Callable[..., User]) -> int:
    """One object of province 32 behind every id-taking URL: an upload batch with an error file, and a document
    and a summary sheet with the same id."""
    uploader = make_staff(Role.PROVINCE, "32", username="uploader")
    batch = UploadBatchFactory.create(uploaded_by=uploader, rows_rejected=1, errors="行号\n")
    # The same id names a document and a summary sheet of province 32, so the document and sheet URLs answer as
    # for a real row the province user may see (200), not a 404 that would hide a missing scope check.
    seller = OperatorFactory.create(tax_id="91320000000000001X", name="江苏宁沪高速公路股份有限公司")
    document = DocumentFactory.create(id=batch.pk, number="26321000000000000001", seller=seller)
    sheet = SummarySheet.objects.create(
        id=batch.pk,
        number="3220261100000001",
        province="32",
        card_no="32010000000000000001",
        pass_ids=["P1"],
        amount_gross=10000,
        service_date=dt.date(2026, 11, 20),
    )
    sheet.documents.add(document)
    url_access_support.create_objects(batch.pk, uploader)
    url_access_reports.create_objects(batch.pk, uploader)
    return batch.pk


SCRIPT_TAG = re.compile(rb"<script\b[^>]*>", re.IGNORECASE)


def inline_scripts(html: bytes) -> list[str]:
    """Script elements the Content-Security-Policy would block: neither a `src` nor a data block (JSON)."""
    tags = [tag.decode(errors="replace") for tag in SCRIPT_TAG.findall(html)]
    return [tag for tag in tags if "src=" not in tag and "application/json" not in tag]


def test_every_named_url_has_a_row_in_the_access_table() -> None:
    missing = [name for name, _ in url_patterns() if not name.startswith("admin:") and name not in EXPECTED]
    assert missing == [], f"add these URLs to EXPECTED with the status each role must get: {missing}"


@pytest.mark.django_db
def test_every_console_url_answers_each_role_as_the_table_says(clients: dict[str, Client], object_id: int) -> None:
    failures = []
    checked = 0
    for name, route in url_patterns():
        if name.startswith("admin:"):
            continue
        for role, client in clients.items():
            path = sample_path(route, object_id)
            response = client.get(path)
            status = response.status_code
            checked += 1
            expected = expected_status(name, route, role)
            if status != expected:
                failures.append(f"{name} ({path}) as {role}: {status}, expected {expected}")
            elif status == 200 and response.get("Content-Type", "").startswith("text/html"):
                failures.extend(f"{name} ({path}): inline script {tag}" for tag in inline_scripts(response.content))
    assert checked >= 8 * len(ROLES)
    assert failures == []


WRITE_METHODS = ("post", "put", "patch", "delete")


def api_operations(object_id: int) -> Iterator[tuple[str, str, str, str, tuple[str, ...]]]:
    """Every operation of the OpenAPI schema: (method, concrete path, url name, route, roles the view admits)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for template, operations in schema["paths"].items():
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLES.get(m.group(1), str(object_id)), template)
        match = resolve(path)
        view_class = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
        for method in operations:
            view = view_class(**getattr(match.func, "initkwargs", {})) if view_class else None
            if view is not None:  # a viewset's roles may depend on its action (a property)
                view.action = (getattr(match.func, "actions", None) or {}).get(method)
            roles = tuple(getattr(view, "allowed_roles", ALL_ROLES))
            yield method, path, match.view_name, match.route, roles


@pytest.mark.django_db
def test_every_api_operation_is_in_the_access_table_and_refuses_writes_to_those_it_must(
    clients: dict[str, Client], object_id: int
) -> None:
    """Generated from the API schema: each operation's URL has a row in the table (its GET is checked above), and
    every write is refused to anonymous callers (401), to users without a role or outside the view's roles
    (403), never succeeds for a province user on another province's object, and never fails with a 5xx."""
    failures = []
    writes = 0
    for method, path, name, route, roles in api_operations(object_id):
        if name not in EXPECTED:
            failures.append(f"{method.upper()} {path}: {name} has no row in the access table")
            continue
        if method not in WRITE_METHODS:
            continue
        for role, client in clients.items():
            status = getattr(client, method)(path, data={}, content_type="application/json").status_code
            writes += 1
            admitted = role in roles or (role == OTHER_PROVINCE and Role.PROVINCE in roles)
            if role == ANON and status != 401:
                failures.append(f"{method.upper()} {path} as {role}: {status}, expected 401")
            elif role != ANON and not admitted and status != 403:
                failures.append(f"{method.upper()} {path} as {role}: {status}, expected 403")
            elif status >= 500:
                failures.append(f"{method.upper()} {path} as {role}: server error {status}")
            elif role == OTHER_PROVINCE and takes_object_id(route) and status < 300:
                failures.append(f"{method.upper()} {path} as {role}: {status} on another province's object")
    assert writes >= 5 * len(clients)
    assert failures == []


@pytest.mark.django_db
def test_the_admin_is_for_maintainers_only(clients: dict[str, Client]) -> None:
    """Every admin page without an object id: maintainers get the page, everyone else the admin login."""
    failures = []
    admin_routes = [(n, r) for n, r in url_patterns() if n.startswith("admin:") and "<" not in r and "(?P" not in r]
    assert len(admin_routes) > 20
    for name, route in admin_routes:
        if name in {"admin:logout", "admin:login"}:
            continue
        for role, client in clients.items():
            status = client.get(sample_path(route, 1)).status_code
            expected = (200, 403) if role == Role.MAINTAINER else (302,)
            if status not in expected:
                failures.append(f"{name} as {role}: {status}")
    assert failures == []
