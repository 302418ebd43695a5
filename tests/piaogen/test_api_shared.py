"""What every API endpoint shares (piaogen/api.py, piaogen/auth.py): one error shape with a `code`, Bearer and
Token both accepted, JSON-only commands, downloads chosen by `Accept` or `?format=`, the token throttle."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from piaogen.auth import ApiTokenRateThrottle
from piaogen.models import ApiToken, Role, User

pytestmark = pytest.mark.django_db

UNITS = b"toll_unit,name,province,operator_tax_id,operator_name,road_nature,tax_rate\n"


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32", username="jiangsu-system")


@pytest.fixture
def key(jiangsu: User) -> str:
    _token, key = ApiToken.issue(user=jiangsu, name="江苏省级系统")
    return key


def test_a_bearer_token_and_a_token_token_are_both_accepted(key: str) -> None:
    for scheme in ("Bearer", "Token", "bearer"):
        response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"{scheme} {key}")
        assert response.status_code == 200, scheme
        assert response.json()["username"] == "jiangsu-system"


def test_a_bad_token_is_a_401_with_a_code_and_a_bearer_challenge() -> None:
    response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer pg_made-up")

    assert response.status_code == 401
    assert response.json() == {"code": "authentication_failed", "detail": "令牌无效或已吊销。"}
    assert response["WWW-Authenticate"] == "Bearer"
    assert APIClient().get("/api/v1/me/").json()["code"] == "not_authenticated"


def test_field_errors_share_the_shape_with_a_code_per_field(key: str) -> None:
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")

    response = client.post("/api/v1/uploads/", {"kind": "nope"}, format="multipart")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["detail"]
    assert {(e["field"], e["code"]) for e in body["errors"]} == {("kind", "invalid_choice"), ("file", "required")}


def test_a_missing_object_and_a_forbidden_command_answer_in_the_same_shape(key: str) -> None:
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")

    missing = client.get("/api/v1/uploads/999999/")
    forbidden = client.post("/api/v1/documents/1/reverse/", {"reason": "x"})

    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "permission_denied"


def test_commands_take_json_only_and_uploads_multipart_only(key: str) -> None:
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")

    form_command = client.post("/api/v1/summary-sheets/", {"card_no": "1"}, format="multipart")
    json_upload = client.post("/api/v1/uploads/", {"kind": "toll_units"}, format="json")

    assert form_command.status_code in (403, 415)  # a province token may not issue sheets; a form is never parsed
    assert json_upload.status_code == 415 and json_upload.json()["code"] == "unsupported_media_type"


def test_an_upload_over_the_limit_is_a_413(key: str, settings: Any) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "UPLOAD_MAX_BYTES": 10}
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")

    response = client.post(
        "/api/v1/uploads/", {"kind": "toll_units", "file": SimpleUploadedFile("u.csv", UNITS)}, format="multipart"
    )

    assert response.status_code == 413
    assert response.json()["code"] == "too_large" and "文件过大" in response.json()["detail"]


def test_a_token_over_its_rate_is_a_429_with_retry_after(
    key: str, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.setattr(ApiTokenRateThrottle, "rate", "2/min", raising=False)
    # throttle counters of this test only (the cache is a Redis database other test runs and workers share: no flush)
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-throttle-{uuid.uuid4()}"}}
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")

    answers = [client.get("/api/v1/me/") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json()["code"] == "throttled" and int(answers[-1]["Retry-After"]) > 0


def test_a_contract_template_downloads_with_a_token_by_format_or_accept(key: str) -> None:
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    xlsx_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    csv = client.get("/api/v1/contract/segments/template/")
    xlsx = client.get("/api/v1/contract/segments/template/?format=xlsx")
    by_accept = client.get("/api/v1/contract/segments/template/", HTTP_ACCEPT=xlsx_type)
    octets = client.get("/api/v1/contract/segments/template/", HTTP_ACCEPT="application/octet-stream")

    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv") and "通行标识" in csv.content.decode()
    assert xlsx.status_code == 200 and xlsx["Content-Type"] == xlsx_type and xlsx.content[:2] == b"PK"
    assert by_accept["Content-Type"] == xlsx_type
    assert octets["Content-Type"] == "application/octet-stream" and octets.content == csv.content
    assert client.get("/api/v1/contract/nope/template/").json()["code"] == "not_found"


def test_the_contract_lists_every_kind_with_its_columns_and_limits(key: str) -> None:
    body = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}").get("/api/v1/contract/").json()

    kinds = {kind["kind"]: kind for kind in body["kinds"]}
    assert set(kinds) >= {"toll_units", "segments", "topups", "audit_charges", "paper_tickets", "taxi_rides"}
    card = next(c for c in kinds["segments"]["columns"] if c["name"] == "card_no")
    assert card["required"] and "ETC卡号" in card["aliases"]
    assert kinds["segments"]["template_xlsx"] == "/api/v1/contract/segments/template/?format=xlsx"
    assert body["limits"]["max_bytes"] > 0
    codes = {row["code"] for row in body["row_codes"]}
    assert {"card_no.length", "exit_time.before_entry", "row.conflict"} <= codes


def test_an_api_url_no_route_matches_is_a_json_404_and_a_page_stays_html(key: str, client: Any) -> None:
    token = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    unrouted = token.post("/api/v1/actions/customers/-1/titles/", {})
    unknown = token.get("/api/v1/uploads/-1/")
    page = client.get("/no-such-page/")

    assert unrouted.status_code == 404 and unrouted.json() == {"code": "not_found", "detail": "未找到。"}
    assert unknown.status_code == 404 and unknown.json() == {"code": "not_found", "detail": "未找到。"}
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
