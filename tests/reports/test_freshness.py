"""Figures follow the facts within a minute: the freshness poll (beat, every 20 s) refreshes only the rollups and
days whose sources changed, and pages say how fresh their figures are (数据截至 HH:MM)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from conftest import DAYS, REPORT_QUERY, TODAY, at
from django.conf import settings
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from invoicing.models import Document
from piaogen.models import User
from reports.models import DocumentRollup, RollupWatermark, UploadRollup
from reports.rollups import ROLLUPS, rollups_as_of, rollups_refresh_all, rollups_refresh_changed
from support.models import Ticket
from tolling.models import UploadBatch


def test_beat_polls_for_changes_well_within_a_minute() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["rollup-reports-fresh"]
    assert entry["task"] == "reports.tasks.rollup_reports_fresh_task" and float(entry["schedule"]) <= 30  # type: ignore[arg-type]


def test_the_first_poll_builds_every_rollup_so_a_fresh_install_shows_its_figures(world: dict[str, Any]) -> None:
    assert rollups_as_of() is None

    results = rollups_refresh_changed(today=TODAY)

    assert {result.name for result in results} == {"documents", "uploads", "support", "traffic", "deliveries"}
    documents = DocumentRollup.objects.aggregate(n=Sum("documents"))["n"]
    assert documents == Document.objects.exclude(status="red").count()
    assert rollups_as_of() is not None


def test_a_quiet_poll_rebuilds_nothing_and_only_marks_the_figures_checked(world: dict[str, Any]) -> None:
    rollups_refresh_all(today=TODAY)
    Ticket.objects.update(closed_at=None)  # nothing closed recently either
    RollupWatermark.objects.update(last_run_at=timezone.now() + dt.timedelta(minutes=20))  # audit events are older
    before = dict(RollupWatermark.objects.values_list("name", "updated_at"))

    assert rollups_refresh_changed(today=TODAY) == []

    assert dict(RollupWatermark.objects.values_list("name", "updated_at")) == before  # the dashboard cache stays
    assert all(
        w.checked_at and w.checked_at > timezone.now() - dt.timedelta(seconds=5)
        for w in RollupWatermark.objects.filter(name__in=ROLLUPS)
    )  # fmt: skip  (lateness.* are counted with uploads)


def test_an_upload_that_finishes_shows_in_the_figures_at_the_next_poll(
    world: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    rollups_refresh_all(today=TODAY)
    uploader = UploadBatch.objects.first()
    assert uploader is not None
    UploadBatch.objects.create(
        kind="topups", province="33", uploaded_by=uploader.uploaded_by, file_name="late.csv", file_size=1,
        sha256="f" * 64, status="done", rows_total=5, rows_done=5, rows_accepted=5, created_at=at(DAYS[2], 9),
        started_at=at(DAYS[2], 9), finished_at=timezone.now(),
    )  # fmt: skip

    results = rollups_refresh_changed(today=TODAY)

    assert [(result.name, result.days) for result in results if result.name == "uploads"] == [("uploads", [DAYS[2]])]
    assert UploadRollup.objects.filter(province="33", kind="topups", day=DAYS[2], batches=1).exists()
    page = client_for(manager).get(reverse("report-template", args=["uploads"]), REPORT_QUERY)
    tiles = {tile["key"]: tile["value"] for tile in page.context["tiles"]}
    assert tiles["batches"] == "3"
    assert "数据截至" in page.content.decode()


def test_new_documents_reach_only_their_day_of_the_rollup(world: dict[str, Any]) -> None:
    rollups_refresh_all(today=TODAY)
    kept = set(DocumentRollup.objects.exclude(day=DAYS[0]).values_list("pk", flat=True))
    late = Document.objects.filter(status="issued").order_by("pk").first()  # a copy of it arrives late
    assert late is not None
    late.pk = None
    late.number = "99999999999999999999"
    late.service_date = DAYS[0]
    late.save()

    results = rollups_refresh_changed(today=TODAY)

    assert [(result.name, result.days) for result in results if result.name == "documents"] == [
        ("documents", [DAYS[0]])
    ]
    assert set(DocumentRollup.objects.exclude(day=DAYS[0]).values_list("pk", flat=True)) == kept
    total = DocumentRollup.objects.aggregate(gross=Sum("amount_gross"))["gross"]
    assert total == Document.objects.aggregate(gross=Sum("amount_gross"))["gross"]
