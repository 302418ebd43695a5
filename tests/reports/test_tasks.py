"""Beat runs the rollups and the scheduled reports on the `reports` queue; `manage.py rollup_reports` does the same
refresh by hand."""

from __future__ import annotations

import io
from typing import Any

from celery.schedules import crontab
from conftest import DAYS
from django.conf import settings
from django.core.management import call_command

from piaogen.celery import app
from reports.models import DocumentRollup, RollupWatermark
from reports.rollups import ROLLUPS


def test_beat_refreshes_the_rollups_and_sends_scheduled_reports_in_the_morning_beijing_time() -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["rollup-reports"]["task"] == "reports.tasks.rollup_reports_task"
    assert schedule["rollup-reports"]["schedule"] == 15 * 60
    morning = schedule["scheduled-reports"]["schedule"]
    assert isinstance(morning, crontab) and morning == crontab(hour=7, minute=0)
    assert settings.CELERY_TIMEZONE == "Asia/Shanghai"
    route = app.amqp.router.route({}, "reports.tasks.export_job_run_task")
    assert route["queue"].name == settings.CELERY_QUEUE_PREFIX + "reports"


def test_the_command_refreshes_every_rollup_and_says_what_it_did(world: dict[str, Any]) -> None:
    out = io.StringIO()

    call_command("rollup_reports", stdout=out)

    assert all(f"{name}:" in out.getvalue() for name in ("documents", "uploads", "support", "traffic", "deliveries"))
    assert DocumentRollup.objects.filter(day=DAYS[0]).exists()
    assert RollupWatermark.objects.filter(name__in=ROLLUPS).count() == 5  # and lateness.<kind>, one per fact table

    call_command("rollup_reports", "--rebuild", "--only", "documents", stdout=out)
    assert DocumentRollup.objects.filter(day=DAYS[0]).exists()
