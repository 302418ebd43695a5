"""The job kernel (piaogen/jobs.py) through the upload kind: the apps' kinds are registered, in the monitor's order;
a claim is taken once, a stale running job is taken over and the slow worker's heartbeat then fails; the sweep
sends stalled and lost jobs; a maintainer's retry from the monitor queues a failed batch once, audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piaogen import jobs
from piaogen.models import AuditEvent, Role, User
from tolling.jobs import UPLOADS
from tolling.models import UploadBatch, UploadStatus

LONG_AGO = timezone.now() - dt.timedelta(hours=1)


@pytest.fixture
def uploader(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32", username="jk-uploader")


def batch(uploader: User, status: str, **fields: Any) -> UploadBatch:
    return UploadBatch.objects.create(
        kind="segments", province="32", uploaded_by=uploader, file="uploads/jk.csv", file_name="jk.csv",
        file_size=10, sha256="0" * 64, status=status, **fields,
    )  # fmt: skip


def test_every_app_registers_its_job_kind_in_the_monitors_order() -> None:
    assert [kind.name for kind in jobs.kinds()] == ["uploads", "runs", "exports"]
    assert [kind.retry_url_name for kind in jobs.kinds()] == ["job-upload-retry", "job-run-retry", "job-export-retry"]


def test_a_queued_job_is_claimed_once(uploader: User) -> None:
    queued = batch(uploader, UploadStatus.QUEUED)

    first = UPLOADS.claim(queued.pk)

    assert first is not None and UPLOADS.claim(queued.pk) is None
    queued.refresh_from_db()
    assert queued.status == UploadStatus.RUNNING and queued.heartbeat_at == first


def test_a_stale_job_is_taken_over_and_the_slow_workers_heartbeat_stops_it(uploader: User) -> None:
    stale = batch(uploader, UploadStatus.RUNNING, heartbeat_at=LONG_AGO, started_at=LONG_AGO)
    fresh = batch(uploader, UploadStatus.RUNNING, heartbeat_at=timezone.now(), started_at=LONG_AGO)

    assert UPLOADS.claim(fresh.pk) is None
    taken = UPLOADS.claim(stale.pk)

    assert taken is not None
    with pytest.raises(jobs.TakenOver):
        UPLOADS.beat(stale.pk, LONG_AGO, rows_done=10)
    assert UPLOADS.beat(stale.pk, taken, rows_done=10) > taken
    assert UploadBatch.objects.get(pk=stale.pk).rows_done == 10


def test_the_sweep_sends_stalled_and_lost_jobs_only(uploader: User, monkeypatch: pytest.MonkeyPatch) -> None:
    from tolling import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.ingest_batch, "delay", sent.append)
    stalled = batch(uploader, UploadStatus.RUNNING, heartbeat_at=LONG_AGO, started_at=LONG_AGO)
    lost = batch(uploader, UploadStatus.QUEUED, created_at=LONG_AGO)
    batch(uploader, UploadStatus.RUNNING, heartbeat_at=timezone.now(), started_at=LONG_AGO)
    batch(uploader, UploadStatus.QUEUED)
    batch(uploader, UploadStatus.FAILED, heartbeat_at=LONG_AGO, created_at=LONG_AGO)

    assert tasks.resume_stalled_batches() == [stalled.pk, lost.pk] == sent


def test_a_maintainer_retries_a_failed_upload_once_from_the_monitor_and_it_is_audited(
    maintainer: User,
    client_for: Callable[[User], Client],
    uploader: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    failed = batch(uploader, UploadStatus.FAILED, message="处理失败：OperationalError", finished_at=timezone.now())
    running = batch(uploader, UploadStatus.RUNNING, heartbeat_at=timezone.now())
    client = client_for(maintainer)
    url = reverse("job-upload-retry", args=[failed.pk])

    html = client.get(reverse("jobs")).content.decode()
    assert url in html and reverse("job-upload-retry", args=[running.pk]) not in html

    with django_capture_on_commit_callbacks() as sent:
        assert client.post(url).status_code == 302
    failed.refresh_from_db()
    assert failed.status == UploadStatus.QUEUED and failed.message == "" and failed.finished_at is None
    assert len(sent) == 1
    with django_capture_on_commit_callbacks() as sent:
        client.post(url)  # a second click: no longer failed
    assert sent == []
    event = AuditEvent.objects.get(action="upload.retry")
    assert event.actor == maintainer and event.object_id == str(failed.pk) and event.province == "32"


@pytest.mark.django_db(transaction=True)  # the heartbeat thread has a connection of its own: it sees committed rows
def test_a_long_step_keeps_the_heartbeat_fresh_and_a_takeover_still_stops_its_owner(
    uploader: User, settings: Any
) -> None:
    """``beating``: a step that cannot beat itself (one long statement) is not taken for a dead worker; a worker that
    took the job over meanwhile keeps it, and the slow owner's next beat raises."""
    import time

    settings.PIAOGEN = {**settings.PIAOGEN, "INGEST_STALE_SECONDS": 1}  # the thread beats every 0.5 s
    job = batch(uploader, UploadStatus.QUEUED)
    claimed = UPLOADS.claim(job.pk)
    assert claimed is not None

    with UPLOADS.beating(job.pk, claimed) as last:
        deadline = time.monotonic() + 30
        while last() == claimed:  # the long step runs; the thread beats for it
            assert time.monotonic() < deadline, "no heartbeat written"
            time.sleep(0.1)
    assert UploadBatch.objects.get(pk=job.pk).heartbeat_at == last() > claimed
    token = UPLOADS.beat(job.pk, last(), rows_done=5)  # the owner goes on with the latest token

    with UPLOADS.beating(job.pk, token) as last:
        UploadBatch.objects.filter(pk=job.pk).update(heartbeat_at=LONG_AGO)  # the owner looked dead…
        other = UPLOADS.claim(job.pk)  # …and another worker took the job over
        time.sleep(1.2)  # the thread's next beat finds the job taken and stops
    assert other is not None and UploadBatch.objects.get(pk=job.pk).heartbeat_at == other
    with pytest.raises(jobs.TakenOver):
        UPLOADS.beat(job.pk, last())
