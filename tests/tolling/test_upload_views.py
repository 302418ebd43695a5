"""Upload pages and API: who may upload, see, cancel and download what — province by province."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from piaogen.models import ApiToken, AuditEvent, Role, User
from tolling.models import RejectedRow, UploadBatch, UploadStatus

pytestmark = pytest.mark.django_db

CSV = b"toll_unit,name,province,operator_tax_id,operator_name,road_nature,tax_rate\n"


def make_batch(user: User, *, province: str, status: str = UploadStatus.DONE, rejected: bool = False) -> UploadBatch:
    batch = UploadBatch(
        kind="toll_units",
        province=province,
        uploaded_by=user,
        file_name="units.csv",
        file_size=len(CSV),
        sha256="0" * 64,
        status=status,
    )
    batch.file.save("units.csv", ContentFile(CSV), save=False)
    if rejected:
        batch.rows_rejected = 1
        batch.error_file.save("errors.csv", ContentFile("\ufeff行号,错误原因\n2,x\n".encode()), save=False)
    batch.save()
    if rejected:
        RejectedRow.objects.create(batch=batch, line_no=2, cells={"toll_unit": "X"}, reasons=["x"])
    return batch


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


@pytest.fixture
def zhejiang(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "33", username="zhejiang")


def test_a_province_user_uploads_a_file_and_lands_on_its_batch_page(jiangsu: User, client_for: Any) -> None:
    client: Client = client_for(jiangsu)
    upload = SimpleUploadedFile("单元.csv", CSV, content_type="text/csv")

    response = client.post("/uploads/new/", {"kind": "toll_units", "file": upload})

    batch = UploadBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/uploads/{batch.pk}/"
    assert (batch.province, batch.kind, batch.status, batch.file_name) == ("32", "toll_units", "queued", "单元.csv")
    assert batch.file_size == len(CSV) and len(batch.sha256) == 64
    assert batch.file.read() == CSV
    assert AuditEvent.objects.filter(action="upload.create", object_id=str(batch.pk)).exists()
    page = client.get(response["Location"]).content.decode()
    assert "单元.csv" in page and "排队中" in page


def test_an_oversize_file_is_refused_with_a_clear_message_and_nothing_stored(
    jiangsu: User, client_for: Any, settings: Any
) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "UPLOAD_MAX_BYTES": 10}
    response = client_for(jiangsu).post(
        "/uploads/new/", {"kind": "toll_units", "file": SimpleUploadedFile("big.csv", CSV)}
    )

    assert response.status_code == 400
    assert "文件过大" in response.content.decode()
    assert not UploadBatch.objects.exists()


def test_the_api_takes_an_upload_with_a_token_and_answers_202_with_the_batch(jiangsu: User) -> None:
    _token, key = ApiToken.issue(user=jiangsu, name="江苏省级系统")
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")

    response = client.post(
        "/api/v1/uploads/", {"kind": "toll_units", "file": SimpleUploadedFile("u.csv", CSV)}, format="multipart"
    )

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["kind"] == "toll_units" and body["province"] == "32"
    for field in ("id", "rows_total", "rows_accepted", "rows_duplicate", "rows_rejected", "message"):
        assert field in body
    assert client.get(f"/api/v1/uploads/{body['id']}/").json()["id"] == body["id"]


def test_the_api_refuses_an_unknown_kind_and_a_missing_file(jiangsu: User) -> None:
    client = APIClient()
    client.force_authenticate(jiangsu)

    assert (
        client.post(
            "/api/v1/uploads/", {"kind": "nope", "file": SimpleUploadedFile("u.csv", CSV)}, format="multipart"
        ).status_code
        == 400
    )
    assert client.post("/api/v1/uploads/", {"kind": "segments"}, format="multipart").status_code == 400


def test_a_province_user_never_reaches_another_provinces_batch(jiangsu: User, zhejiang: User, client_for: Any) -> None:
    theirs = make_batch(zhejiang, province="33", rejected=True)
    mine = make_batch(jiangsu, province="32", rejected=True)
    client: Client = client_for(jiangsu)

    for path in ("", "progress/", "original/", "errors.csv", "errors.xlsx"):
        assert client.get(f"/uploads/{theirs.pk}/{path}").status_code == 404, path
        assert client.get(f"/uploads/{mine.pk}/{path}").status_code == 200, path
    assert client.post(f"/uploads/{theirs.pk}/cancel/").status_code == 404
    listing = client.get("/uploads/").content.decode()
    assert f"/uploads/{mine.pk}/" in listing and f"/uploads/{theirs.pk}/" not in listing

    api = APIClient()
    api.force_authenticate(jiangsu)
    assert [b["id"] for b in api.get("/api/v1/uploads/").json()["results"]] == [mine.pk]
    for path in ("", "errors/"):
        assert api.get(f"/api/v1/uploads/{theirs.pk}/{path}").status_code == 404
    assert api.post(f"/api/v1/uploads/{theirs.pk}/cancel/").status_code == 404


def test_the_error_file_and_the_original_download_as_attachments(jiangsu: User, client_for: Any) -> None:
    batch = make_batch(jiangsu, province="32", rejected=True)
    client: Client = client_for(jiangsu)

    errors = client.get(f"/uploads/{batch.pk}/errors.csv")
    original = client.get(f"/uploads/{batch.pk}/original/")

    assert errors["Content-Disposition"].startswith("attachment")
    assert b"".join(errors.streaming_content).startswith("\ufeff".encode())  # type: ignore[attr-defined]
    assert b"".join(original.streaming_content) == CSV  # type: ignore[attr-defined]


def test_a_batch_without_rejected_rows_has_no_error_file(jiangsu: User, client_for: Any) -> None:
    batch = make_batch(jiangsu, province="32")
    assert client_for(jiangsu).get(f"/uploads/{batch.pk}/errors.csv").status_code == 404


def test_national_roles_see_every_province_but_only_province_staff_upload_or_cancel(
    jiangsu: User, agent: User, manager: User, client_for: Any
) -> None:
    batch = make_batch(jiangsu, province="32", status=UploadStatus.QUEUED)
    for user in (agent, manager):
        client: Client = client_for(user)
        assert client.get(f"/uploads/{batch.pk}/").status_code == 200
        assert client.post(f"/uploads/{batch.pk}/cancel/").status_code == 403
        assert client.post("/uploads/new/", {"kind": "toll_units"}).status_code == 403
    api = APIClient()
    api.force_authenticate(agent)
    assert api.post(f"/api/v1/uploads/{batch.pk}/cancel/").status_code == 403


def test_cancelling_a_queued_batch_stops_it_at_once_and_twice_is_harmless(jiangsu: User, client_for: Any) -> None:
    batch = make_batch(jiangsu, province="32", status=UploadStatus.QUEUED)
    client: Client = client_for(jiangsu)

    client.post(f"/uploads/{batch.pk}/cancel/")
    client.post(f"/uploads/{batch.pk}/cancel/")

    batch.refresh_from_db()
    assert batch.status == UploadStatus.CANCELLED
    assert AuditEvent.objects.filter(action="upload.cancel").count() == 1


def test_cancelling_a_running_batch_asks_the_worker_to_stop_after_its_chunk(jiangsu: User, client_for: Any) -> None:
    batch = make_batch(jiangsu, province="32", status=UploadStatus.RUNNING)

    client_for(jiangsu).post(f"/uploads/{batch.pk}/cancel/")

    batch.refresh_from_db()
    assert batch.status == UploadStatus.RUNNING and batch.cancel_requested


def test_the_batch_list_filters_by_status_and_kind(jiangsu: User, client_for: Any) -> None:
    done = make_batch(jiangsu, province="32")
    queued = make_batch(jiangsu, province="32", status=UploadStatus.QUEUED)
    client: Client = client_for(jiangsu)

    page = client.get("/uploads/?status=queued").content.decode()
    assert f"/uploads/{queued.pk}/" in page and f"/uploads/{done.pk}/" not in page
    assert f"/uploads/{done.pk}/" not in client.get("/uploads/?kind=segments").content.decode()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_kind_has_a_template_download(province_user: User, client_for: Any, fmt: str) -> None:
    client: Client = client_for(province_user)
    for kind in ("toll_units", "segments", "topups", "audit_charges", "paper_tickets", "taxi_rides"):
        response = client.get(f"/uploads/templates/{kind}.{fmt}")
        assert response.status_code == 200, kind
        assert response.content.startswith(b"\xef\xbb\xbf" if fmt == "csv" else b"PK")
