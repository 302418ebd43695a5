"""Issuing runs as a job kind of the kernel (piaogen/jobs.py): claimed per run, chunked with progress and heartbeat
in each chunk's transaction, taken over when their worker goes silent (``PIAOGEN["ISSUE_STALE_SECONDS"]``), and a
failed daily or monthly run retried by a maintainer (nothing is issued twice: only what is still invoiceable)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from invoicing.models import IssueRun, RunKind
from piaogen.jobs import JobKind


def issue_run_stale_seconds() -> int:
    """Seconds without a heartbeat after which a running run is taken over (and a queued one sent again)."""
    from invoicing.issuing.drafts import DEFAULT_STALE_SECONDS  # the issuing package imports this module

    return int(settings.PIAOGEN.get("ISSUE_STALE_SECONDS", DEFAULT_STALE_SECONDS))


def issue_run_enqueue(run_id: int) -> None:
    from invoicing.tasks import issue_daily  # the tasks module imports the issuing package

    issue_daily.delay(run_id)


RUNS = JobKind(
    name="runs",
    label=_("开票任务"),
    model=IssueRun,
    stale_seconds=issue_run_stale_seconds,
    enqueue=issue_run_enqueue,
    audit_action="issue_run.retry",
    template="invoicing/jobs_runs.html",
    retry_url_name="job-run-retry",
    requeued_message=_("开票任务 %(id)s 已重新排队。"),
    not_failed_message=_("开票任务 %(id)s 不是失败状态，无需重试。"),
    order=20,
    retryable=Q(kind__in=[RunKind.DAILY, RunKind.MONTHLY]),
    retry_audit_before=("message",),
)
