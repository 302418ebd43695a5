"""Reports tasks (queue ``reports``): rollup refresh, scheduled reports and the export stall sweep (beat), background
exports and test sends. Thin: call a service; safe to run twice (rollups are per-day rebuilds under an advisory lock,
exports are claimed by a conditional UPDATE, scheduled deliveries by a unique row)."""

from __future__ import annotations

from celery import shared_task

from reports.exports import export_job_run, export_jobs_requeue_stalled
from reports.models import ScheduledReport
from reports.rollups import rollups_refresh_all, rollups_refresh_changed
from reports.scheduling import scheduled_report_send_test, scheduled_reports_send_due


@shared_task
def rollup_reports_task() -> list[str]:
    """Beat, every 15 minutes: bring every rollup up to date (see reports/rollups.py)."""
    return [f"{result.name}: {len(result.days)}" for result in rollups_refresh_all()]


@shared_task
def rollup_reports_fresh_task() -> list[str]:
    """Beat, every 20 seconds: refresh the rollups whose sources changed since their last run (reports/rollups.py)."""
    return [f"{result.name}: {len(result.days)}" for result in rollups_refresh_changed()]


@shared_task
def scheduled_reports_task() -> int:
    """Beat, every morning (Beijing time): send each active report's last finished week or month, once."""
    return len(scheduled_reports_send_due())


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_job_run_task(job_id: int) -> None:
    export_job_run(job_id=job_id)


@shared_task
def export_jobs_resume_stalled() -> list[int]:
    """Beat, every 5 minutes: queue again the exports whose worker died (running, heartbeat stale) or whose message
    was lost (queued, not started for as long); an export whose worker died too often ends failed."""
    return export_jobs_requeue_stalled()


@shared_task
def scheduled_report_test_task(report_id: int, user_id: int) -> None:
    from piaogen.models import User

    scheduled_report_send_test(report=ScheduledReport.objects.get(pk=report_id), by=User.objects.get(pk=user_id))
