"""`Idempotency-Key` (piaogen/idempotency.py): a retried upload or command gets the first answer, stored in the
database; the key belongs to its token; a key reused for another request is refused; errors free the key."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from invoicing.issuing import issue_segments
from invoicing.models import Document, DocumentStatus
from piaogen.idempotency import idempotent_requests_expire
from piaogen.models import ApiToken, IdempotentRequest, Role, User
from tests.fixtures.invoicing import segment
from tolling.models import UploadBatch

pytestmark = pytest.mark.django_db

UNITS = b"toll_unit,name,province,operator_tax_id,operator_name,road_nature,tax_rate\n"


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32", username="jiangsu-system")


def token_client(user: User) -> APIClient:
    _token, key = ApiToken.issue(user=user, name="系统")
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")


def upload(client: APIClient, key: str, content: bytes = UNITS) -> Any:
    return client.post(
        "/api/v1/uploads/",
        {"kind": "toll_units", "file": SimpleUploadedFile("u.csv", content)},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_retried_upload_with_the_same_key_gets_the_same_batch(jiangsu: User) -> None:
    client = token_client(jiangsu)

    first = upload(client, "retry-1")
    second = upload(client, "retry-1")

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true" and second["Location"] == first["Location"]
    assert UploadBatch.objects.count() == 1
    assert IdempotentRequest.objects.get().key == "retry-1"


def test_without_a_key_or_with_another_key_a_second_batch_is_made(jiangsu: User) -> None:
    client = token_client(jiangsu)

    upload(client, "a")
    upload(client, "b")
    client.post(
        "/api/v1/uploads/", {"kind": "toll_units", "file": SimpleUploadedFile("u.csv", UNITS)}, format="multipart"
    )

    assert UploadBatch.objects.count() == 3


def test_a_key_belongs_to_its_token(jiangsu: User) -> None:
    upload(token_client(jiangsu), "same")
    upload(token_client(jiangsu), "same")

    assert UploadBatch.objects.count() == 2


def test_a_key_reused_for_a_different_file_is_refused(jiangsu: User) -> None:
    client = token_client(jiangsu)
    upload(client, "k")

    reused = upload(client, "k", UNITS + b"X1,x,32,1,y,1,0.03\n")

    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert UploadBatch.objects.count() == 1


def test_a_refused_request_does_not_keep_its_key(jiangsu: User) -> None:
    client = token_client(jiangsu)

    bad = client.post("/api/v1/uploads/", {"kind": "nope"}, format="multipart", HTTP_IDEMPOTENCY_KEY="k")

    assert bad.status_code == 400
    assert not IdempotentRequest.objects.exists()


def test_a_retried_reversal_answers_the_first_red_document_not_a_409(
    world: dict[str, Any], make_staff: Callable[..., User]
) -> None:
    (document,) = issue_segments(segment_ids=[segment(world, fee=10000).pk])
    client = APIClient()
    client.force_authenticate(make_staff(Role.AGENT))
    url = f"/api/v1/documents/{document.pk}/reverse/"

    first = client.post(url, {"reason": "客户申请退费"}, HTTP_IDEMPOTENCY_KEY="rev-1")
    retried = client.post(url, {"reason": "客户申请退费"}, HTTP_IDEMPOTENCY_KEY="rev-1")
    fresh = client.post(url, {"reason": "客户申请退费"}, HTTP_IDEMPOTENCY_KEY="rev-2")

    assert first.status_code == retried.status_code == 201
    assert retried.json()["id"] == first.json()["id"] and retried["Idempotent-Replayed"] == "true"
    assert fresh.status_code == 409
    assert Document.objects.filter(status=DocumentStatus.RED).count() == 1


def test_answers_older_than_the_retention_are_forgotten(jiangsu: User) -> None:
    upload(token_client(jiangsu), "old")
    IdempotentRequest.objects.update(created_at=timezone.now() - dt.timedelta(days=31))
    upload(token_client(jiangsu), "new")

    assert idempotent_requests_expire() == 1
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_uploads_with_one_key_make_one_batch(jiangsu: User) -> None:
    _token, key = ApiToken.issue(user=jiangsu, name="系统")
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def send() -> None:
        try:
            client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
            barrier.wait()
            answers.append(upload(client, "race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert UploadBatch.objects.count() == 1
