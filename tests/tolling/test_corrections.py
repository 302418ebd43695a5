"""Corrections (issue #19): a re-sent row under a stored key is reported as a conflict by default; with
``mode=correct`` it replaces the stored row unless a live document holds it, keeping before and after."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from ingest_fixtures import CARD, csv_bytes, ingest, row, units_create

from invoicing.issuing import issue_segments
from invoicing.models import BuyerTitle, CardBinding, Customer
from piaogen.models import Role, User
from tolling.models import Correction, RejectedRow, Segment, Trip, UploadMode

pytestmark = pytest.mark.django_db(transaction=True)  # the loader works on connections of its own


@pytest.fixture
def user(make_staff: Callable[..., User]) -> User:
    units_create()
    return make_staff(Role.PROVINCE, "32")


def corrected_row() -> dict[str, str]:
    return row("segments", pay_fee="40.00", discount_fee="2.00", fee="38.00", exit_time="2026-01-01 09:30:00")


def test_a_correction_replaces_a_row_not_yet_invoiced_and_keeps_before_and_after(user: User) -> None:
    ingest(user, "segments", csv_bytes([row("segments")]))

    batch = ingest(user, "segments", csv_bytes([corrected_row()]), mode=UploadMode.CORRECT)

    assert (batch.status, batch.rows_corrected, batch.rows_accepted, batch.rows_duplicate, batch.rows_rejected) == (
        "done",
        1,
        0,
        0,
        0,
    )
    segment = Segment.objects.get()
    assert (segment.pay_fee, segment.discount_fee, segment.fee) == (4000, 200, 3800)
    trip = Trip.objects.get()
    assert trip.exit_time == segment.exit_time  # the trip's span follows its segments
    (change,) = Correction.objects.all()
    assert (change.batch_id, change.item_kind, change.item_id, change.line_no) == (batch.pk, "segment", segment.pk, 2)
    assert (change.before["fee"], change.after["fee"]) == (3372, 3800)


def test_a_correction_of_an_invoiced_row_is_refused_with_the_document_number(user: User) -> None:
    ingest(user, "segments", csv_bytes([row("segments")]))
    buyer = Customer.objects.create(name="张三", phone="13800000001")
    CardBinding.objects.create(customer=buyer, card_no=CARD, bound_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    BuyerTitle.objects.create(
        customer=buyer, kind="person", name="张三", valid_from=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    )
    (document,) = issue_segments(segment_ids=list(Segment.objects.values_list("pk", flat=True)))

    batch = ingest(user, "segments", csv_bytes([corrected_row()]), mode=UploadMode.CORRECT)

    assert (batch.rows_corrected, batch.rows_rejected, batch.rows_conflict) == (0, 1, 1)
    (reasons,) = RejectedRow.objects.filter(batch=batch).values_list("reasons", flat=True)
    assert reasons == [f"已开具在票据{document.number}中，不能更正；请先红冲该票据，再上传更正"]
    assert Segment.objects.get().fee == 3372 and not Correction.objects.exists()


def test_a_correction_never_changes_the_card_or_the_vehicle(user: User) -> None:
    ingest(user, "segments", csv_bytes([row("segments")]))

    batch = ingest(user, "segments", csv_bytes([row("segments", plate="苏B99999")]), mode=UploadMode.CORRECT)

    assert (batch.rows_corrected, batch.rows_conflict) == (0, 1)
    assert Segment.objects.get().plate == "苏A12345"


def test_without_the_correct_mode_a_changed_row_is_a_conflict_and_nothing_changes(user: User) -> None:
    ingest(user, "segments", csv_bytes([row("segments")]))

    batch = ingest(user, "segments", csv_bytes([corrected_row()]))

    assert (batch.rows_corrected, batch.rows_conflict, batch.rows_rejected) == (0, 1, 1)
    assert Segment.objects.get().fee == 3372


def test_a_correction_below_the_statistics_watermark_moves_the_rollup_with_it(user: User) -> None:
    from django.db.models import Count, Sum

    from support.stats_rollup import SegmentRollup, segment_rollup_refresh

    ingest(user, "segments", csv_bytes([row("segments"), row("segments", segment_no="2")]))
    segment_rollup_refresh()
    assert segment_rollup_refresh() == Segment.objects.order_by("-id").values_list("id", flat=True).first()
    moved = row("segments", pay_fee="40.00", discount_fee="2.00", fee="38.00", exit_time="2026-01-02 00:30:00")

    ingest(user, "segments", csv_bytes([moved]), mode=UploadMode.CORRECT)

    rolled = {
        r["service_date"]: (r["n"], r["fee"])
        for r in SegmentRollup.objects.values("service_date").annotate(n=Sum("segments"), fee=Sum("fee"))
    }
    raw = {
        r["service_date"]: (r["n"], r["fee"])
        for r in Segment.objects.values("service_date").annotate(n=Count("id"), fee=Sum("fee"))
    }
    assert rolled == raw == {dt.date(2026, 1, 1): (1, 3372), dt.date(2026, 1, 2): (1, 3800)}
