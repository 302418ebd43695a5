"""Background report exports as a job kind of the kernel (piaogen/jobs.py). An export restarts from zero rather
than resuming (``takeover=False``): the stall sweep queues a job whose worker went silent
(``PIAOGEN["EXPORT_STALE_SECONDS"]``) again, at most ``PIAOGEN["EXPORT_MAX_ATTEMPTS"]`` times, then fails it with a
message its creator reads on the export's page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from piaogen.jobs import JobKind
from reports.models import ExportJob

DEFAULT_STALE_SECONDS = 300  # PIAOGEN["EXPORT_STALE_SECONDS"]: a running export this silent is queued again
DEFAULT_MAX_ATTEMPTS = 3  # PIAOGEN["EXPORT_MAX_ATTEMPTS"]: workers that may die on one export before it fails
STALL_BATCH = 100  # jobs the stall sweep sends at most per run


def export_stale_seconds() -> int:
    """Seconds without a heartbeat after which a running export is queued again (and a queued one re-sent)."""
    return int(settings.PIAOGEN.get("EXPORT_STALE_SECONDS", DEFAULT_STALE_SECONDS))


def export_max_attempts() -> int:
    return int(settings.PIAOGEN.get("EXPORT_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def export_enqueue(job_id: int) -> None:
    from reports.tasks import export_job_run_task

    export_job_run_task.delay(job_id)


def _gave_up(attempts: int) -> str:
    return _("导出任务的后台进程已中断 %(attempts)d 次，不再自动重试。请缩小筛选范围后重新导出，或联系运维人员。") % {
        "attempts": attempts
    }


def _retry_reset() -> dict[str, Any]:
    """A retried export starts again with a fresh count of attempts and is written from the start."""
    return {"queued_at": timezone.now(), "attempts": 0, "rows_done": 0}


EXPORT_JOBS = JobKind(
    name="exports",
    label=gettext_lazy("报表导出任务"),
    model=ExportJob,
    stale_seconds=export_stale_seconds,
    enqueue=export_enqueue,
    audit_action="export.retry",
    template="reports/jobs_exports.html",
    retry_url_name="job-export-retry",
    requeued_message=gettext_lazy("导出任务 %(id)s 已重新排队。"),
    not_failed_message=gettext_lazy("导出任务 %(id)s 不是失败状态，无需重试。"),
    order=30,
    queued_field="queued_at",
    started_field="queued_at",
    takeover=False,
    max_attempts=export_max_attempts,
    gave_up_message=_gave_up,
    error_field="error",
    retry_reset=_retry_reset,
    select_related=("created_by",),
    sweep_limit=STALL_BATCH,
)
