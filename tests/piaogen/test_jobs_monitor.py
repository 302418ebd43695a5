"""The job monitor's report exports and issuing runs: maintainers see export jobs queued, running or failed (owner,
kind, progress, heartbeat age) and retry a failed export or a failed issuing run — POST only, with the CSRF token,
audited, once; every other role gets 403 and changes nothing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from invoicing.issuing import issue_run_execute
from invoicing.models import IssueRun, RunKind, RunStatus
from piaogen.models import AuditEvent, Role, User
from reports.models import ExportJob, ExportKind, ExportStatus

STALE = timezone.now() - dt.timedelta(hours=1)


@pytest.fixture
def owner(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32", username="js-exporter")


def export_job(owner: User, status: str, **fields: Any) -> ExportJob:
    return ExportJob.objects.create(
        kind=ExportKind.DOCUMENTS, fmt="xlsx", province="32", created_by=owner, status=status, **fields
    )


@pytest.fixture
def failed_export(owner: User) -> ExportJob:
    return export_job(
        owner, ExportStatus.FAILED, attempts=3, rows_total=50_000, rows_done=12_000, heartbeat_at=STALE,
        error="导出任务的后台进程已中断 3 次，不再自动重试。", finished_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def failed_run() -> IssueRun:
    return IssueRun.objects.create(
        kind=RunKind.DAILY, business_date=dt.date(2026, 11, 10), province="32", status=RunStatus.FAILED,
        message="税额校验失败", started_at=STALE, heartbeat_at=STALE, finished_at=timezone.now(),
    )  # fmt: skip


def test_the_monitor_lists_open_export_jobs_with_owner_kind_progress_and_heartbeat_age(
    maintainer: User, client_for: Callable[[User], Client], owner: User, failed_export: ExportJob
) -> None:
    running = export_job(
        owner, ExportStatus.RUNNING, attempts=1, rows_total=80_000, rows_done=34_000,
        heartbeat_at=timezone.now() - dt.timedelta(minutes=3),
    )  # fmt: skip
    stalled = export_job(owner, ExportStatus.RUNNING, attempts=1, heartbeat_at=STALE)
    queued = export_job(owner, ExportStatus.QUEUED)
    done = export_job(owner, ExportStatus.DONE, rows_total=9, rows_done=9)

    page = client_for(maintainer).get(reverse("jobs"))

    assert page.status_code == 200
    html = page.content.decode()
    listed = [job.pk for job in page.context["exports"]]
    assert sorted(listed) == sorted([failed_export.pk, running.pk, stalled.pk, queued.pk]) and done.pk not in listed
    assert "js-exporter" in html and "票据明细（XLSX）" in html and "江苏" in html
    digits = html.replace(",", "")  # whatever the locale's grouping
    assert "34000 / 80000" in digits and "12000 / 50000" in digits
    assert re.search(r"3\s分钟前", html)  # the running job's heartbeat age (timesince: a no-break space)
    assert html.count("已停滞") == 1  # only the job whose heartbeat is older than the stale time
    assert "不再自动重试" in html
    assert reverse("job-export-retry", args=[failed_export.pk]) in html
    assert reverse("job-export-retry", args=[running.pk]) not in html


def test_the_monitor_offers_a_retry_for_a_failed_issuing_run_only(
    maintainer: User, client_for: Callable[[User], Client], failed_run: IssueRun
) -> None:
    running = IssueRun.objects.create(
        kind=RunKind.DAILY, business_date=dt.date(2026, 11, 11), status=RunStatus.RUNNING, heartbeat_at=timezone.now()
    )

    html = client_for(maintainer).get(reverse("jobs")).content.decode()

    assert "税额校验失败" in html
    assert reverse("job-run-retry", args=[failed_run.pk]) in html
    assert reverse("job-run-retry", args=[running.pk]) not in html


def test_a_maintainer_requeues_a_failed_export_once_and_it_is_audited(
    maintainer: User,
    client_for: Callable[[User], Client],
    failed_export: ExportJob,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for(maintainer)
    url = reverse("job-export-retry", args=[failed_export.pk])

    with django_capture_on_commit_callbacks() as sent:
        response = client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("jobs")
    failed_export.refresh_from_db()
    assert failed_export.status == ExportStatus.QUEUED
    assert failed_export.attempts == 0 and failed_export.rows_done == 0 and failed_export.error == ""
    assert len(sent) == 1  # the export task, after commit

    with django_capture_on_commit_callbacks() as sent:
        assert client.post(url).status_code == 302  # a second click: no longer failed
    assert sent == []
    event = AuditEvent.objects.get(action="export.retry")
    assert event.actor == maintainer and event.object_id == str(failed_export.pk) and event.province == "32"


def test_a_maintainer_requeues_a_failed_issuing_run_once_and_it_runs_again(
    maintainer: User,
    client_for: Callable[[User], Client],
    failed_run: IssueRun,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for(maintainer)
    url = reverse("job-run-retry", args=[failed_run.pk])

    with django_capture_on_commit_callbacks() as sent:
        assert client.post(url).status_code == 302
    failed_run.refresh_from_db()
    assert failed_run.status == RunStatus.QUEUED and failed_run.message == "" and failed_run.finished_at is None
    assert len(sent) == 1  # the issuing task, after commit
    with django_capture_on_commit_callbacks() as sent:
        client.post(url)
    assert sent == []
    event = AuditEvent.objects.get(action="issue_run.retry")
    assert event.object_id == str(failed_run.pk) and event.before == {"message": "税额校验失败"}

    run = issue_run_execute(run_id=failed_run.pk)  # what the task does
    assert run.status == RunStatus.DONE and run.documents_issued == 0  # nothing invoiceable in this empty world


def test_retrying_an_unknown_job_is_a_404(maintainer: User, client_for: Callable[[User], Client]) -> None:
    client = client_for(maintainer)
    assert client.post(reverse("job-export-retry", args=[987654])).status_code == 404
    assert client.post(reverse("job-run-retry", args=[987654])).status_code == 404


def test_the_retries_are_post_only_and_need_the_csrf_token(
    maintainer: User, failed_export: ExportJob, failed_run: IssueRun
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(maintainer)
    for url in (
        reverse("job-export-retry", args=[failed_export.pk]),
        reverse("job-run-retry", args=[failed_run.pk]),
    ):
        assert client.get(url).status_code == 405
        assert client.post(url).status_code == 403  # no CSRF token
    failed_export.refresh_from_db()
    failed_run.refresh_from_db()
    assert failed_export.status == ExportStatus.FAILED and failed_run.status == RunStatus.FAILED


@pytest.mark.parametrize("role", [Role.AGENT, Role.PROVINCE, Role.MANAGER])
def test_only_maintainers_see_export_jobs_or_retry_exports_and_runs(
    role: str,
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
    failed_export: ExportJob,
    failed_run: IssueRun,
) -> None:
    client = client_for(make_staff(role, "32" if role == Role.PROVINCE else "", username=f"who-{role}"))

    assert client.get(reverse("jobs")).status_code == 403
    assert client.post(reverse("job-export-retry", args=[failed_export.pk])).status_code == 403
    assert client.post(reverse("job-run-retry", args=[failed_run.pk])).status_code == 403

    failed_export.refresh_from_db()
    failed_run.refresh_from_db()
    assert failed_export.status == ExportStatus.FAILED and failed_run.status == RunStatus.FAILED
    assert not AuditEvent.objects.filter(action__in=["export.retry", "issue_run.retry"]).exists()


def test_anonymous_visitors_are_sent_to_log_in(failed_export: ExportJob, failed_run: IssueRun) -> None:
    client = Client()
    for url in (
        reverse("jobs"),
        reverse("job-export-retry", args=[failed_export.pk]),
        reverse("job-run-retry", args=[failed_run.pk]),
    ):
        response = client.post(url) if "retry" in url else client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    failed_export.refresh_from_db()
    assert failed_export.status == ExportStatus.FAILED
