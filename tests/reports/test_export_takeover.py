"""Background exports survive a dying worker: a running export whose heartbeat went stale is queued again and
written from the start (each row once, no half file), a queued export whose message was lost is sent again, and an
export whose worker keeps dying ends failed with a message its creator reads. A maintainer can retry a failed one."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import REPORT_QUERY
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from invoicing.models import Document
from piaogen.jobs import TakenOver
from piaogen.models import AuditEvent, Role, User
from reports.exports import export_job_create, export_job_retry, export_job_run
from reports.exports import export_jobs_requeue_stalled as sweep
from reports.jobs import EXPORT_JOBS
from reports.models import ExportJob, ExportKind, ExportStatus

LONG_AGO = dt.timedelta(hours=1)


def documents_export(user: User, fmt: str = "csv") -> ExportJob:
    return export_job_create(user=user, kind=ExportKind.DOCUMENTS, fmt=fmt, query=REPORT_QUERY)


def as_if_its_worker_died(job: ExportJob, *, attempts: int = 1) -> None:
    """The row a killed worker leaves: running, part of the rows counted, the heartbeat long stopped."""
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.RUNNING, attempts=attempts, rows_done=2_000, heartbeat_at=timezone.now() - LONG_AGO
    )


def csv_rows(job: ExportJob) -> list[list[str]]:
    with job.file.open("rb") as handle:
        text = handle.read().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))[1:]  # without the header


def wait_until_finished(job: ExportJob) -> ExportJob:
    deadline = time.monotonic() + 60
    while job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING) and time.monotonic() < deadline:
        time.sleep(0.2)
        job.refresh_from_db()
    return job


# --- the sweep and the run, in-process ----------------------------------------------------------------------------


def test_a_running_export_whose_heartbeat_went_stale_is_queued_again_and_completes_with_each_row_once(
    world: dict[str, Any], jiangsu_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    job = documents_export(jiangsu_user)
    as_if_its_worker_died(job)
    # what the dead attempt had begun to store: nobody can download it, and the next attempt removes it
    leftover = default_storage.save(f"exports/{job.pk}/1/partial.csv", ContentFile(b"\xef\xbb\xbfhalf a file"))

    with django_capture_on_commit_callbacks() as sent:
        assert sweep() == [job.pk]
    job.refresh_from_db()
    assert job.status == ExportStatus.QUEUED and job.heartbeat_at is None and len(sent) == 1

    job = export_job_run(job_id=job.pk)  # type: ignore[assignment]

    expected = Document.objects.filter(province="32").count()
    rows = csv_rows(job)
    assert job.status == ExportStatus.DONE and job.attempts == 2
    assert job.rows_done == job.rows_total == len(rows) == expected
    assert len({row[1] for row in rows}) == expected  # each document number once
    assert not default_storage.exists(leftover) and default_storage.listdir(f"exports/{job.pk}")[0] == ["2"]


def test_a_running_export_with_a_fresh_heartbeat_is_left_to_its_worker(
    world: dict[str, Any], jiangsu_user: User
) -> None:
    job = documents_export(jiangsu_user)
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, attempts=1, heartbeat_at=timezone.now())

    assert sweep() == []
    job.refresh_from_db()
    assert job.status == ExportStatus.RUNNING


def test_a_queued_export_whose_message_was_lost_is_sent_again_once_per_stale_period(
    world: dict[str, Any], jiangsu_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    lost, _waiting, done = (documents_export(jiangsu_user) for _ in range(3))
    ExportJob.objects.filter(pk__in=[lost.pk, done.pk]).update(queued_at=timezone.now() - LONG_AGO)
    ExportJob.objects.filter(pk=done.pk).update(status=ExportStatus.DONE)

    with django_capture_on_commit_callbacks() as sent:
        assert sweep() == [lost.pk]  # the one queued a minute ago is simply waiting its turn
    assert len(sent) == 1
    with django_capture_on_commit_callbacks() as sent:
        assert sweep() == []  # sent again just now: not again until it is stale once more
    assert sent == []


def test_an_export_whose_worker_died_too_often_ends_failed_with_a_message_its_creator_reads(
    world: dict[str, Any], jiangsu_user: User, client_for: Callable[[User], Client], settings: Any
) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "EXPORT_MAX_ATTEMPTS": 3}
    job = documents_export(jiangsu_user)
    as_if_its_worker_died(job, attempts=3)

    assert sweep() == []

    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and job.finished_at is not None
    assert "已中断 3 次" in job.error
    page = client_for(jiangsu_user).get(reverse("report-export-job", args=[job.pk]))
    assert "已中断 3 次，不再自动重试" in page.content.decode()
    assert client_for(jiangsu_user).get(reverse("report-export-download", args=[job.pk])).status_code == 404


def test_each_attempt_counts_until_the_bound(world: dict[str, Any], jiangsu_user: User, settings: Any) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "EXPORT_MAX_ATTEMPTS": 2}
    job = documents_export(jiangsu_user)
    as_if_its_worker_died(job, attempts=1)
    assert sweep() == [job.pk]  # one more try

    as_if_its_worker_died(job, attempts=2)  # the second worker died too
    assert sweep() == []
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and job.attempts == 2


def test_a_worker_that_was_taken_over_finds_out_at_its_next_heartbeat(
    world: dict[str, Any], jiangsu_user: User
) -> None:
    job = documents_export(jiangsu_user)
    slow_workers_beat = timezone.now() - LONG_AGO
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, attempts=1, heartbeat_at=slow_workers_beat)
    sweep()
    export_job_run(job_id=job.pk)  # another worker wrote the export meanwhile

    with pytest.raises(TakenOver):
        EXPORT_JOBS.beat(job.pk, slow_workers_beat, rows_done=4_000)
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE and job.rows_done == Document.objects.filter(province="32").count()


def test_a_passing_database_fault_leaves_the_export_running_for_the_sweep(
    world: dict[str, Any], jiangsu_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg
    from django.db import OperationalError

    from reports import exports

    def connection_lost(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly") from psycopg.OperationalError()

    job = documents_export(jiangsu_user)
    monkeypatch.setattr(exports, "filters_from", connection_lost)
    with pytest.raises(OperationalError):
        export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.RUNNING and job.error == ""  # not failed: the sweep hands it on

    monkeypatch.undo()
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - LONG_AGO)
    assert sweep() == [job.pk]
    job = export_job_run(job_id=job.pk)  # type: ignore[assignment]
    assert job.status == ExportStatus.DONE and job.attempts == 2


def test_a_failed_export_is_retried_once_from_the_start_and_audited(
    world: dict[str, Any],
    jiangsu_user: User,
    make_staff: Callable[..., User],
    django_capture_on_commit_callbacks: Any,
) -> None:
    maintainer = make_staff(Role.MAINTAINER)
    job = documents_export(jiangsu_user)
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.FAILED, attempts=3, rows_done=2_000, error="导出失败", finished_at=timezone.now()
    )

    with django_capture_on_commit_callbacks() as sent:
        job = export_job_retry(job=job, user=maintainer)
    assert job.status == ExportStatus.QUEUED and job.attempts == 0 and job.rows_done == 0 and job.error == ""
    assert len(sent) == 1
    with django_capture_on_commit_callbacks() as sent:
        export_job_retry(job=job, user=maintainer)  # a second click: it is queued, not failed
    assert sent == []
    assert AuditEvent.objects.filter(action="export.retry", object_id=str(job.pk)).count() == 1

    job = export_job_run(job_id=job.pk)  # type: ignore[assignment]
    assert job.status == ExportStatus.DONE and job.attempts == 1


# --- a real worker killed mid-export ------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_export_whose_worker_is_killed_mid_run_is_taken_over_and_written_once(
    world: dict[str, Any], jiangsu_user: User, celery_workers: Any
) -> None:
    from reports.tasks import export_job_run_task

    doomed = celery_workers()
    job = ExportJob.objects.create(
        kind=ExportKind.DOCUMENTS, fmt="csv", query="start=2026-11-01&end=2026-11-20", province="32",
        created_by=jiangsu_user,
    )  # fmt: skip
    # hold the documents table so the worker, once it has claimed the export, waits inside it: the kill lands mid-run
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE invoicing_document IN ACCESS EXCLUSIVE MODE")
        export_job_run_task.delay(job.pk)
        deadline = time.monotonic() + 60
        while job.status != ExportStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.1)
            job.refresh_from_db()
        assert job.status == ExportStatus.RUNNING and job.attempts == 1
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=30)

    job.refresh_from_db()
    assert job.status == ExportStatus.RUNNING and not job.file  # the dead worker left no file behind
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - LONG_AGO)  # as if 5 minutes passed
    celery_workers()

    assert sweep() == [job.pk]  # beat's resume-stalled-exports

    job = wait_until_finished(job)
    expected = Document.objects.filter(province="32").count()
    rows = csv_rows(job)
    assert job.status == ExportStatus.DONE and job.attempts == 2, job.error
    assert job.rows_done == job.rows_total == len(rows) == expected
    assert len({row[1] for row in rows}) == expected


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_export_whose_message_was_lost_is_sent_again_and_done(
    world: dict[str, Any], jiangsu_user: User, celery_workers: Any
) -> None:
    from piaogen.celery import app

    job = documents_export(jiangsu_user)  # its message goes to Redis at commit…
    app.control.purge()  # …and is lost (Redis restarted without persistence)
    ExportJob.objects.filter(pk=job.pk).update(queued_at=timezone.now() - LONG_AGO)
    celery_workers()

    assert sweep() == [job.pk]

    job = wait_until_finished(job)
    assert job.status == ExportStatus.DONE and job.attempts == 1, job.error
    assert len(csv_rows(job)) == Document.objects.filter(province="32").count()
