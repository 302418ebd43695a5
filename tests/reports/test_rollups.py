"""Rollups: every figure equals the aggregate of the raw tables, and the watermark skips finished days while late
data reopens the day it belongs to."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from conftest import DAYS, TODAY
from django.utils import timezone

from invoicing.models import BusinessLine, Document, DocumentItem, DocumentKind, DocumentStatus
from reports.models import DocumentRollup, RollupWatermark, SupportRollup, UploadRollup
from reports.rollups import rollup_refresh, rollups_refresh_all
from tolling.models import Segment, UploadBatch


def raw_document_aggregate() -> dict[tuple[Any, ...], list[int]]:
    """The rollup's figures computed the slow way, document by document, from the raw tables."""
    out: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for doc in Document.objects.all():
        source = doc.original_id or doc.pk
        item = DocumentItem.objects.filter(document_id=source).order_by("id").first()
        vehicle_class = Segment.objects.get(pk=item.item_id).vehicle_class if item else None
        key = (doc.service_date, doc.province, doc.business_line, doc.seller_id, vehicle_class, doc.kind)
        figures = out[key]
        figures[0 if doc.status != DocumentStatus.RED else 1] += 1
        figures[2] += doc.amount_gross
        figures[3] += doc.amount_tax
    return dict(out)


def rollup_rows() -> dict[tuple[Any, ...], list[int]]:
    return {
        (r.day, r.province, r.business_line, r.operator_id, r.vehicle_class, r.document_kind): [
            r.documents, r.reversals, r.amount_gross, r.amount_tax
        ]
        for r in DocumentRollup.objects.all()
    }  # fmt: skip


def test_the_document_rollup_equals_the_raw_aggregate_in_every_dimension(world: dict[str, Any]) -> None:
    rollups_refresh_all(today=TODAY)

    assert rollup_rows() == raw_document_aggregate()
    assert {r.vehicle_class for r in DocumentRollup.objects.all()} >= {1, 12}
    assert set(DocumentRollup.objects.values_list("document_kind", flat=True)) == {
        DocumentKind.DIGITAL_INVOICE,
        DocumentKind.FISCAL_RECEIPT,
    }
    assert set(DocumentRollup.objects.values_list("business_line", flat=True)) == {BusinessLine.ETC_TRIP}
    red_day = DocumentRollup.objects.filter(day=DAYS[1], province="32", reversals__gt=0).get()
    assert red_day.amount_gross < 0 or red_day.documents > 0  # the red document counts with its negative amount


def test_the_upload_rollup_counts_batches_rows_failures_and_duration(world: dict[str, Any]) -> None:
    rollup_refresh(name="uploads", today=TODAY)

    row = UploadRollup.objects.get()
    assert (row.day, row.province, row.kind) == (DAYS[0], "32", "segments")
    assert (row.batches, row.batches_failed, row.rows_accepted, row.rows_rejected) == (2, 1, 100, 2)
    assert row.duration_seconds == 84


def test_the_support_rollup_counts_opened_closed_overdue_and_actions(world: dict[str, Any]) -> None:
    rollup_refresh(name="support", today=TODAY)

    day0 = {r.province: r for r in SupportRollup.objects.filter(day=DAYS[0])}
    assert (day0["32"].tickets_opened, day0["32"].tickets_closed, day0["32"].tickets_overdue) == (1, 0, 1)
    assert (day0["33"].tickets_opened, day0["33"].tickets_overdue) == (1, 1)
    day1 = SupportRollup.objects.get(day=DAYS[1], province="32")
    # the first ticket was closed on day 1 (not overdue any more at its end), the second opened and overdue
    assert (day1.tickets_opened, day1.tickets_closed, day1.tickets_overdue) == (1, 1, 1)
    overdue_33_today = SupportRollup.objects.get(day=TODAY, province="33").tickets_overdue
    assert overdue_33_today == 1


def test_a_rerun_skips_finished_days_and_recomputes_only_the_open_ones(world: dict[str, Any]) -> None:
    first = rollup_refresh(name="documents", today=TODAY)
    assert first.days[0] == DAYS[0] and first.days[-1] == TODAY
    assert RollupWatermark.objects.get(name="documents").final_through == TODAY - dt.timedelta(days=2)

    again = rollup_refresh(name="documents", today=TODAY)

    assert again.days == [TODAY - dt.timedelta(days=1), TODAY]  # the open days only; earlier days skipped
    assert rollup_rows() == raw_document_aggregate()


def test_late_data_for_a_finished_day_is_picked_up_on_the_next_run(world: dict[str, Any]) -> None:
    rollup_refresh(name="documents", today=TODAY)
    before = DocumentRollup.objects.filter(day=DAYS[0]).count()
    # a document dated on a finished day arrives late (e.g. loaded from a province's backlog)
    template = Document.objects.filter(province="33", service_date=DAYS[0]).first()
    assert template is not None
    template.pk = None
    template.number = "26331000000009999999"
    template.seller = world["33"]["bridge_operator"]
    template.service_date = DAYS[0]
    template.save()

    result = rollup_refresh(name="documents", today=TODAY)

    assert DAYS[0] in result.days and DAYS[1] not in result.days
    assert DocumentRollup.objects.filter(day=DAYS[0]).count() == before + 1
    assert rollup_rows() == raw_document_aggregate()


def test_moving_the_watermark_back_recomputes_from_there(world: dict[str, Any]) -> None:
    rollup_refresh(name="documents", today=TODAY)
    DocumentRollup.objects.filter(day=DAYS[0]).delete()  # lost rows, say
    RollupWatermark.objects.filter(name="documents").update(final_through=DAYS[0] - dt.timedelta(days=1))

    result = rollup_refresh(name="documents", today=TODAY)

    assert result.days[0] == DAYS[0]
    assert rollup_rows() == raw_document_aggregate()


def test_an_upload_that_finishes_after_a_run_reopens_its_day(world: dict[str, Any]) -> None:
    rollup_refresh(name="uploads", today=TODAY + dt.timedelta(days=5))
    batch = UploadBatch.objects.get(status="failed")
    UploadBatch.objects.filter(pk=batch.pk).update(status="done", rows_accepted=7, finished_at=timezone.now())

    result = rollup_refresh(name="uploads", today=TODAY + dt.timedelta(days=5))

    assert DAYS[0] in result.days
    row = UploadRollup.objects.get(day=DAYS[0])
    assert (row.batches_failed, row.rows_accepted) == (0, 107)
    assert Counter(result.days)[DAYS[0]] == 1
