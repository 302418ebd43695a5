"""Uploads processed by real Celery worker processes, including one killed half-way through a batch."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from piaogen.models import Role, User
from tests.fixtures.tolling import HEADER, UNIT, segment_rows
from tolling.models import Operator, OperatorKind, Segment, TollUnit, Trip, UploadBatch, UploadStatus
from tolling.tasks import resume_stalled_batches

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    operator = Operator.objects.create(kind=OperatorKind.ROAD_OPERATOR, tax_id="91320000134762764C",
                                       name="江苏交通控股有限公司", province="32")  # fmt: skip
    TollUnit.objects.create(code=UNIT, name="沪宁高速南京段", province="32", operator=operator, road_nature=1)
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


def wait_for(batch_id: int, done: Callable[[UploadBatch], bool], seconds: float = 120) -> UploadBatch:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = UploadBatch.objects.get(pk=batch_id)
        if done(batch):
            return batch
        time.sleep(0.05)
    pytest.fail(f"batch {batch_id} did not get there in {seconds} s: {batch.status} {batch.rows_done}")


def finished(batch: UploadBatch) -> bool:
    return batch.status not in (UploadStatus.QUEUED, UploadStatus.RUNNING)


def test_an_api_upload_is_ingested_by_a_worker_with_duplicates_and_rejections_counted(
    jiangsu: User, celery_workers: Any
) -> None:
    celery_workers()
    bad = f"P999999998,1,12345,23,苏A00001,0,1,{UNIT},2026-11-01 08:00:00,2026-11-01 07:00:00,南京东,,35.00,0,35.00\n"
    content = HEADER + segment_rows(3000) + segment_rows(1) + bad  # one duplicate row, one bad row
    client = APIClient()
    client.force_authenticate(jiangsu)

    response = client.post("/api/v1/uploads/", {"kind": "segments", "file": SimpleUploadedFile(
        "segments.csv", content.encode("gb18030"))}, format="multipart")  # fmt: skip

    assert response.status_code == 202
    batch = wait_for(response.json()["id"], finished)
    assert batch.status == UploadStatus.DONE, batch.message
    assert (batch.rows_total, batch.rows_accepted, batch.rows_duplicate, batch.rows_rejected) == (3002, 3000, 1, 1)
    assert Segment.objects.filter(batch_id=batch.pk).count() == 3000
    assert Trip.objects.count() == 3000
    body = client.get(f"/api/v1/uploads/{batch.pk}/").json()
    assert body["status"] == "done" and body["rows_rejected"] == 1
    errors = client.get(f"/api/v1/uploads/{batch.pk}/errors/")
    assert errors.status_code == 200
    assert "P999999998" in b"".join(errors.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]


def test_a_worker_killed_mid_batch_leaves_a_batch_another_worker_finishes_with_nothing_lost_or_doubled(
    jiangsu: User, celery_workers: Any, settings: Any
) -> None:
    rows = 80_000
    first = celery_workers(PIAOGEN_INGEST_CHUNK_ROWS="1000")
    client = APIClient()
    client.force_authenticate(jiangsu)
    response = client.post("/api/v1/uploads/", {"kind": "segments", "file": SimpleUploadedFile(
        "big.csv", (HEADER + segment_rows(rows)).encode())}, format="multipart")  # fmt: skip
    batch_id = response.json()["id"]

    wait_for(batch_id, lambda b: b.rows_done >= 2000, seconds=60)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed = UploadBatch.objects.get(pk=batch_id)
    assert killed.status == UploadStatus.RUNNING and 0 < killed.rows_done < rows, "the worker finished too soon"
    assert Segment.objects.filter(batch_id=batch_id).count() == killed.rows_accepted  # whole chunks only

    celery_workers(PIAOGEN_INGEST_CHUNK_ROWS="4000", PIAOGEN_INGEST_STALE_SECONDS="1")
    time.sleep(1.5)  # the dead worker's heartbeat goes stale
    settings.PIAOGEN = {**settings.PIAOGEN, "INGEST_STALE_SECONDS": 1}
    assert resume_stalled_batches() == [batch_id]  # what beat does every minute

    batch = wait_for(batch_id, finished)
    assert batch.status == UploadStatus.DONE, batch.message
    assert (batch.rows_total, batch.rows_accepted, batch.rows_duplicate, batch.rows_rejected) == (rows, rows, 0, 0)
    assert Segment.objects.filter(batch_id=batch_id).count() == rows
    assert Segment.objects.values("pass_id").distinct().count() == rows
