"""The upload API for systems (tolling/api.py): 202 with Location and Retry-After, error files by `?format=` or
`Accept`, rejected rows as paged JSON, `updated_since` — each within the caller's province."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from piaogen.models import ApiToken, Role, User
from tolling.models import RejectedRow, UploadBatch, UploadStatus

pytestmark = pytest.mark.django_db

UNITS = b"toll_unit,name,province,operator_tax_id,operator_name,road_nature,tax_rate\n"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


def token_client(user: User) -> APIClient:
    _token, key = ApiToken.issue(user=user, name="系统")
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")


def rejected_batch(user: User, *, province: str = "32", rows: int = 3) -> UploadBatch:
    batch = UploadBatch(
        kind="toll_units",
        province=province,
        uploaded_by=user,
        file_name="units.csv",
        file_size=len(UNITS),
        sha256="0" * 64,
        status=UploadStatus.DONE,
        rows_rejected=rows,
    )
    batch.file.save("units.csv", ContentFile(UNITS), save=False)
    batch.error_file.save("errors.csv", ContentFile("\ufeff行号,错误原因\n2,x\n".encode()), save=False)
    batch.save()
    for line in range(rows):
        RejectedRow.objects.create(
            batch=batch, line_no=line + 2, cells={"toll_unit": f"X{line}"}, reasons=["坏"], codes=["toll_unit.format"]
        )
    return batch


def test_an_upload_answers_202_with_the_location_of_the_batch_and_when_to_poll(jiangsu: User) -> None:
    client = token_client(jiangsu)

    response = client.post(
        "/api/v1/uploads/", {"kind": "toll_units", "file": SimpleUploadedFile("u.csv", UNITS)}, format="multipart"
    )

    assert response.status_code == 202
    assert response["Location"] == f"/api/v1/uploads/{response.json()['id']}/"
    assert int(response["Retry-After"]) > 0
    queued = client.get(response["Location"])
    assert queued.json()["status"] == "queued" and int(queued["Retry-After"]) > 0


def test_a_finished_batch_says_no_retry_after(jiangsu: User) -> None:
    batch = rejected_batch(jiangsu)

    response = token_client(jiangsu).get(f"/api/v1/uploads/{batch.pk}/")

    assert response.status_code == 200 and "Retry-After" not in response


def test_the_error_file_is_chosen_by_format_or_accept(jiangsu: User) -> None:
    client = token_client(jiangsu)
    url = f"/api/v1/uploads/{rejected_batch(jiangsu).pk}/errors/"

    plain = client.get(url)
    csv = client.get(url + "?format=csv")
    xlsx = client.get(url + "?format=xlsx")
    by_accept = client.get(url, HTTP_ACCEPT=XLSX)

    assert plain.status_code == csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert xlsx.status_code == 200 and xlsx["Content-Type"] == XLSX
    assert by_accept.status_code == 200 and by_accept["Content-Type"] == XLSX
    assert client.get(url + "?format=pdf").status_code == 404


def test_a_batch_without_rejected_rows_has_no_error_file_in_json(jiangsu: User) -> None:
    batch = rejected_batch(jiangsu, rows=0)
    UploadBatch.objects.filter(pk=batch.pk).update(error_file="")

    response = token_client(jiangsu).get(f"/api/v1/uploads/{batch.pk}/errors/?format=xlsx")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json()["code"] == "not_found"


def test_rejected_rows_page_as_json_in_line_order(jiangsu: User) -> None:
    client = token_client(jiangsu)
    batch = rejected_batch(jiangsu, rows=60)

    first = client.get(f"/api/v1/uploads/{batch.pk}/rows/?status=rejected").json()
    second = client.get(first["next"]).json()

    assert first["count"] == 60 and len(first["results"]) == 50 and len(second["results"]) == 10
    assert first["results"][0] == {
        "line_no": 2,
        "cells": {"toll_unit": "X0"},
        "reasons": ["坏"],
        "codes": ["toll_unit.format"],
    }
    assert client.get(f"/api/v1/uploads/{batch.pk}/rows/?status=accepted").json()["code"] == "invalid"


def test_another_provinces_rows_and_error_file_are_not_found(jiangsu: User, make_staff: Callable[..., User]) -> None:
    batch = rejected_batch(jiangsu)
    zhejiang = token_client(make_staff(Role.PROVINCE, "33", username="zhejiang"))

    assert zhejiang.get(f"/api/v1/uploads/{batch.pk}/rows/").status_code == 404
    assert zhejiang.get(f"/api/v1/uploads/{batch.pk}/errors/?format=xlsx").status_code == 404


def test_updated_since_lists_the_batches_that_changed(jiangsu: User) -> None:
    old, fresh = rejected_batch(jiangsu), rejected_batch(jiangsu)
    long_ago = timezone.now() - dt.timedelta(days=3)
    UploadBatch.objects.filter(pk=old.pk).update(created_at=long_ago, heartbeat_at=long_ago, finished_at=long_ago)
    since = (timezone.now() - dt.timedelta(hours=1)).isoformat()

    listed = token_client(jiangsu).get("/api/v1/uploads/", {"updated_since": since}).json()

    assert [row["id"] for row in listed["results"]] == [fresh.pk]
