"""Operations: the readiness probe, the request id that follows a request into logs, audit rows and Celery
tasks, and the maintainers' job monitor with its retry."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from piaogen.models import AuditEvent, Role, User
from piaogen.requestid import RequestIdFilter, current_request_id
from piaogen.tasks import HEARTBEAT_CACHE_KEY, heartbeat
from tolling.models import UploadBatch, UploadStatus


def beat_at(at: dt.datetime) -> None:
    cache.set(HEARTBEAT_CACHE_KEY, {"note": "", "database": "x", "at": at.isoformat()}, timeout=None)


def test_ready_when_the_database_redis_and_a_worker_answer(db: None) -> None:
    beat_at(timezone.now() - dt.timedelta(seconds=30))
    response = Client().get(reverse("readyz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {"database", "redis", "worker"}


def test_not_ready_when_no_worker_has_answered_for_three_minutes(db: None) -> None:
    beat_at(timezone.now() - dt.timedelta(minutes=4))
    response = Client().get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {"ok": False, "detail": "240s ago"}
    cache.delete(HEARTBEAT_CACHE_KEY)
    assert Client().get(reverse("readyz")).json()["checks"]["worker"] == {"ok": False, "detail": "no heartbeat"}


def test_not_ready_when_redis_is_unreachable(db: None) -> None:
    beat_at(timezone.now())
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = Client().get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


def test_every_response_carries_a_request_id_and_keeps_a_well_formed_incoming_one(db: None) -> None:
    made = Client().get(reverse("healthz"))["X-Request-ID"]
    assert len(made) == 32
    assert Client().get(reverse("healthz"), headers={"X-Request-ID": "lb-1234abcd"})["X-Request-ID"] == "lb-1234abcd"
    hostile = Client().get(reverse("healthz"), headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert hostile["X-Request-ID"] != "<script>alert(1)</script>" and len(hostile["X-Request-ID"]) == 32


def test_the_audit_trail_records_the_request_id_of_the_action(
    make_staff: Callable[..., User], client_for: Callable[[User], Client], failed_batch: UploadBatch
) -> None:
    client = client_for(make_staff(Role.MAINTAINER))
    response = client.post(
        reverse("job-upload-retry", args=[failed_batch.pk]), headers={"X-Request-ID": "req-00000001"}
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="upload.retry")
    assert event.request_id == "req-00000001"
    assert event.object_id == str(failed_batch.pk)


def test_log_lines_carry_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    from piaogen.requestid import _current

    token = _current.set("req-abcdef12")
    try:
        record = logging.LogRecord("piaogen", logging.INFO, __file__, 1, "hello", None, None)
        RequestIdFilter().filter(record)
    finally:
        _current.reset(token)
    assert record.request_id == "req-abcdef12"  # type: ignore[attr-defined]
    assert current_request_id() == ""


@pytest.mark.integration
def test_a_task_enqueued_during_a_request_runs_with_that_request_id(celery_worker_process: Any) -> None:
    from piaogen.requestid import _current

    token = _current.set("req-from-web-01")
    try:
        result = heartbeat.delay("carried").get(timeout=60)
    finally:
        _current.reset(token)
    assert result["request_id"] == "req-from-web-01"
    # a task enqueued outside any request gets an id of its own
    assert heartbeat.delay("alone").get(timeout=60)["request_id"].startswith("task-")


@pytest.fixture
def failed_batch(make_staff: Callable[..., User]) -> UploadBatch:
    uploader = make_staff(Role.PROVINCE, "32", username="uploader")
    batch = UploadBatch(
        kind="segments",
        province="32",
        uploaded_by=uploader,
        file_name="trips.csv",
        file_size=1,
        sha256="1" * 64,
        status=UploadStatus.FAILED,
        message="数据库连接中断",
        finished_at=timezone.now(),
    )
    batch.file.save("trips.csv", ContentFile(b"x"), save=False)
    batch.save()
    return batch


def test_the_job_monitor_lists_failed_uploads_and_queue_depths(
    make_staff: Callable[..., User], client_for: Callable[[User], Client], failed_batch: UploadBatch
) -> None:
    page = client_for(make_staff(Role.MAINTAINER)).get(reverse("jobs"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f"#{failed_batch.pk}" in html and "数据库连接中断" in html
    assert reverse("job-upload-retry", args=[failed_batch.pk]) in html
    assert set(page.context["queues"]) == {"default", "ingest", "issue", "pdf", "reports"}


def test_a_maintainer_requeues_a_failed_upload_once(
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
    failed_batch: UploadBatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for(make_staff(Role.MAINTAINER))
    url = reverse("job-upload-retry", args=[failed_batch.pk])
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(url)
    failed_batch.refresh_from_db()
    assert failed_batch.status == UploadStatus.QUEUED
    assert failed_batch.message == "" and failed_batch.finished_at is None
    assert len(callbacks) == 1  # the ingest task is sent after commit
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(url)  # a second click: the batch is no longer failed
    assert callbacks == []
    assert AuditEvent.objects.filter(action="upload.retry").count() == 1


@pytest.mark.parametrize("role", [Role.AGENT, Role.PROVINCE, Role.MANAGER])
def test_only_maintainers_see_jobs_or_retry_them(
    role: str, make_staff: Callable[..., User], client_for: Callable[[User], Client], failed_batch: UploadBatch
) -> None:
    client = client_for(make_staff(role, "32" if role == Role.PROVINCE else ""))
    assert client.get(reverse("jobs")).status_code == 403
    assert client.post(reverse("job-upload-retry", args=[failed_batch.pk])).status_code == 403
    failed_batch.refresh_from_db()
    assert failed_batch.status == UploadStatus.FAILED
