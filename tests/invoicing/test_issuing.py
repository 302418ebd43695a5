"""Issuing: documents per seller × title version × rate × kind, the tax split, numbers, eligibility respected,
red-letter reversal, title exchange, the daily run, and the retry after a lost race."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from invoicing.eligibility import topup_states as real_topup_states
from invoicing.issuing import (
    IssuingError,
    document_reissue,
    document_reverse,
    issue_run_create_daily,
    issue_run_daily,
    issue_run_reopen,
    issue_runs_create_daily,
    issue_runs_stalled,
    issue_segments,
    issue_topups,
)
from invoicing.issuing import items as issuing_items
from invoicing.models import (
    BuyerTitle,
    CardBinding,
    CardPrepaidChoice,
    Customer,
    Document,
    DocumentEvent,
    DocumentItem,
    DocumentKind,
    DocumentStatus,
    IssueRun,
    ItemKind,
    NumberSeries,
    PrepaidChoice,
    RunKind,
    RunStatus,
)
from piaogen.models import AuditEvent, User
from tests.fixtures import issuing
from tests.fixtures.issuing import BJ, CARD, POST_CARD, TODAY, at, live_items, segment, topup

world = issuing.world  # the fixture


def issue_year() -> int:
    return timezone.localdate(timezone=BJ).year


@pytest.fixture
def agent_user(agent: User) -> User:
    return agent


# --- documents ----------------------------------------------------------------------------------------------------


def test_a_commercial_segment_gets_a_digital_invoice_with_the_worked_tax_split(world: dict[str, Any]) -> None:
    seg = segment(world, exit_time=at(2), fee=23276)

    (doc,) = issue_segments(segment_ids=[seg.pk], today=TODAY)

    doc.refresh_from_db()
    assert doc.kind == DocumentKind.DIGITAL_INVOICE and doc.status == DocumentStatus.ISSUED
    assert (doc.amount_gross, doc.amount_net, doc.amount_tax) == (23276, 22598, 678)
    assert doc.tax_rate == Decimal("0.030")
    assert len(doc.number) == 20 and doc.number.startswith(f"{issue_year() % 100:02d}321")
    assert doc.number.endswith("000000000000001") and doc.code == ""
    assert (doc.seller_name, doc.seller_tax_id, doc.province) == (
        "江苏宁沪高速公路股份有限公司",
        "91320000000000001X",
        "32",
    )
    assert (doc.buyer_name, doc.title_id, doc.customer_id) == ("张三", world["title"].pk, world["customer"].pk)
    assert (doc.card_no, doc.period_start, doc.period_end) == (POST_CARD, dt.date(2026, 11, 2), dt.date(2026, 11, 2))
    (line,) = doc.lines.all()
    assert (line.item_name, line.plate, line.vehicle_type) == ("*经营租赁*通行费", "苏A12345", "客车")
    assert (line.amount_net, line.amount_tax, line.amount_gross) == (22598, 678, 23276)
    (item,) = live_items(seg)
    assert (item.document_id, item.line_id, item.amount, item.card_no) == (doc.pk, line.pk, 23276, POST_CARD)
    assert list(DocumentEvent.objects.filter(document=doc).values_list("kind", flat=True)) == ["issued"]


def test_a_loan_road_segment_gets_a_fiscal_receipt(world: dict[str, Any]) -> None:
    seg = segment(world, exit_time=at(2), fee=4560, unit="loan")

    (doc,) = issue_segments(segment_ids=[seg.pk], today=TODAY)

    assert doc.kind == DocumentKind.FISCAL_RECEIPT and doc.tax_rate is None
    assert doc.code == f"320299{issue_year() % 100:02d}" and doc.number == "0000000001"
    assert (doc.amount_gross, doc.amount_net, doc.amount_tax) == (4560, 4560, 0)
    assert doc.lines.get().item_name == "车辆通行费"


def test_one_trip_across_two_operators_gives_two_documents(world: dict[str, Any]) -> None:
    first = segment(world, exit_time=at(2), fee=10000, pass_id="PASS1")
    second = segment(world, exit_time=at(2, 13), fee=4560, unit="bridge", pass_id="PASS1", segment_no=2)

    docs = issue_segments(segment_ids=[first.pk, second.pk], today=TODAY)

    by_seller = {d.seller_id: d for d in docs}
    assert set(by_seller) == {world["road"].pk, world["other"].pk}
    assert (by_seller[world["road"].pk].amount_net, by_seller[world["road"].pk].amount_tax) == (9709, 291)
    assert (by_seller[world["other"].pk].amount_net, by_seller[world["other"].pk].amount_tax) == (4343, 217)
    assert by_seller[world["other"].pk].tax_rate == Decimal("0.05")
    # one series (digital, 32): consecutive numbers
    assert sorted(int(d.number[-15:]) for d in docs) == [1, 2]


def test_a_loan_and_a_commercial_segment_of_one_seller_give_an_invoice_and_a_receipt(world: dict[str, Any]) -> None:
    a = segment(world, exit_time=at(2), fee=1000)
    b = segment(world, exit_time=at(2), fee=1000, unit="loan")

    docs = issue_segments(segment_ids=[a.pk, b.pk], today=TODAY)

    assert sorted(d.kind for d in docs) == [DocumentKind.DIGITAL_INVOICE, DocumentKind.FISCAL_RECEIPT]


def test_two_title_versions_give_two_documents(world: dict[str, Any]) -> None:
    BuyerTitle.objects.create(
        customer=world["customer"],
        kind="company",
        name="某某物流有限公司",
        tax_id="91110000600037341L",
        valid_from=at(10),
    )
    before = segment(world, exit_time=at(5), fee=1000)
    after = segment(world, exit_time=at(12), fee=2000)

    docs = issue_segments(segment_ids=[before.pk, after.pk], today=TODAY)

    assert sorted((d.buyer_name, d.buyer_tax_id, d.amount_gross) for d in docs) == [
        ("张三", "", 1000),
        ("某某物流有限公司", "91110000600037341L", 2000),
    ]


def test_lines_are_aggregated_by_plate_and_vehicle_type_with_the_date_range(world: dict[str, Any]) -> None:
    segs = [
        segment(world, exit_time=at(3), fee=10000),
        segment(world, exit_time=at(5), fee=13276),
        segment(world, exit_time=at(4), fee=500, plate="苏B54321", vehicle_class=12),
    ]

    (doc,) = issue_segments(segment_ids=[s.pk for s in segs], today=TODAY)

    lines = {line.plate: line for line in doc.lines.all()}
    car, truck = lines["苏A12345"], lines["苏B54321"]
    assert (car.date_from, car.date_to, car.vehicle_type) == (dt.date(2026, 11, 3), dt.date(2026, 11, 5), "客车")
    # split after aggregation: 232.76 @3% → 225.98 + 6.78 (split per item would give 97.09 + 128.90)
    assert (car.amount_gross, car.amount_net, car.amount_tax) == (23276, 22598, 678)
    assert (truck.vehicle_type, truck.amount_net, truck.amount_tax) == ("货车", 485, 15)
    assert (doc.period_start, doc.period_end) == (dt.date(2026, 11, 3), dt.date(2026, 11, 5))
    assert doc.amount_gross == 23776 and doc.amount_net + doc.amount_tax == doc.amount_gross
    assert DocumentItem.objects.filter(line=car).count() == 2


def test_a_topup_gets_a_non_taxable_invoice_from_the_card_issuer(world: dict[str, Any]) -> None:
    CardBinding.objects.filter(card_no=CARD).update(bound_at=at(1, month=10))
    t = topup(world, when=at(3), amount=50000)

    (doc,) = issue_topups(topup_ids=[t.pk])

    assert doc.kind == DocumentKind.DIGITAL_INVOICE and doc.business_line == "etc_topup"
    assert (doc.seller_id, doc.tax_rate, doc.amount_net, doc.amount_tax) == (world["issuer"].pk, None, 50000, 0)
    line = doc.lines.get()
    assert line.item_name == "*预付卡销售*ETC充值" and line.tax_rate is None
    assert live_items(t, ItemKind.TOPUP)[0].document_id == doc.pk
    assert issue_topups(topup_ids=[t.pk]) == []


# --- eligibility respected ------------------------------------------------------------------------------------------


def test_a_segment_is_not_issued_before_day_7(world: dict[str, Any]) -> None:
    seg = segment(world, exit_time=at(1, 23), fee=1000)

    assert issue_segments(segment_ids=[seg.pk], today=dt.date(2026, 11, 7)) == []
    assert len(issue_segments(segment_ids=[seg.pk], today=dt.date(2026, 11, 8))) == 1


def test_zero_fee_segments_are_skipped(world: dict[str, Any]) -> None:
    free = segment(world, exit_time=at(2), fee=0)
    paid = segment(world, exit_time=at(2), fee=100)

    (doc,) = issue_segments(segment_ids=[free.pk, paid.pk], today=TODAY)

    assert doc.amount_gross == 100 and live_items(free) == []


def test_trips_paid_from_an_invoiced_topup_are_not_issued(world: dict[str, Any]) -> None:
    t = topup(world, when=at(1), amount=5000)
    issue_topups(topup_ids=[t.pk])
    paid = segment(world, exit_time=at(2), fee=3000, card_no=CARD, card_type=22)

    assert issue_segments(segment_ids=[paid.pk], today=TODAY) == []


def test_issuing_twice_never_doubles_a_segment(world: dict[str, Any]) -> None:
    seg = segment(world, exit_time=at(2), fee=1000)
    issue_segments(segment_ids=[seg.pk], today=TODAY)

    assert issue_segments(segment_ids=[seg.pk], today=TODAY) == []
    assert DocumentItem.objects.filter(item_id=seg.pk).count() == 1


def test_a_segment_without_a_title_in_force_is_not_issued(world: dict[str, Any]) -> None:
    seg = segment(world, exit_time=at(2), fee=1000, card_no="32010000000000000009")

    assert issue_segments(segment_ids=[seg.pk], today=TODAY) == []


def test_a_lost_race_on_the_in_memory_path_is_retried_without_the_taken_item_and_leaves_no_gap(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Top-ups are grouped in memory (segments: the set-based path, test_issuing_consistency.py): a stale
    eligibility read fails on the partial unique index, rolls back its numbers and tries again without the item."""
    CardBinding.objects.filter(card_no=CARD).update(bound_at=at(1, month=10))
    taken = topup(world, when=at(3), amount=1000)
    free = topup(world, when=at(4), amount=2000)
    (first,) = issue_topups(topup_ids=[taken.pk])
    stale = real_topup_states(topup_ids=[taken.pk, free.pk])
    stale[taken.pk] = dataclasses.replace(stale[taken.pk], blockers=(), document=None)
    calls: list[int] = []

    def stale_once(**kwargs: Any) -> Any:
        calls.append(1)
        return stale if len(calls) == 1 else real_topup_states(**kwargs)

    monkeypatch.setattr(issuing_items, "topup_states", stale_once)

    (second,) = issue_topups(topup_ids=[taken.pk, free.pk])

    assert len(calls) == 2 and second.amount_gross == 2000
    assert [i.document_id for i in live_items(taken, ItemKind.TOPUP)] == [first.pk]
    assert sorted(int(d.number[-15:]) for d in Document.objects.all()) == [1, 2]  # the failed attempt's number back
    assert NumberSeries.objects.get().next_value == 3


# --- reversal and reissue ------------------------------------------------------------------------------------------


def test_a_reversal_issues_a_negative_red_document_and_releases_the_items(
    world: dict[str, Any], agent_user: User
) -> None:
    segs = [segment(world, exit_time=at(3), fee=10000), segment(world, exit_time=at(5), fee=13276)]
    (doc,) = issue_segments(segment_ids=[s.pk for s in segs], today=TODAY)

    red = document_reverse(document=doc, reason="客户申请", by=agent_user)

    doc.refresh_from_db()
    assert doc.status == DocumentStatus.REVERSED
    assert red.status == DocumentStatus.RED and red.original_id == doc.pk
    assert (red.amount_gross, red.amount_net, red.amount_tax) == (-23276, -22598, -678)
    assert red.number != doc.number and int(red.number[-15:]) == 2  # same series
    assert [(line.amount_gross, line.plate) for line in red.lines.all()] == [(-23276, "苏A12345")]
    assert not DocumentItem.objects.filter(document=doc, live=True).exists()
    assert DocumentItem.objects.filter(document=doc).count() == 2  # the list behind the invoice is kept
    assert list(doc.events.values_list("kind", flat=True)) == ["issued", "reversed"]
    assert list(red.events.values_list("kind", flat=True)) == ["issued_red"]
    assert AuditEvent.objects.filter(action="document.reverse", object_id=str(doc.pk), reason="客户申请").exists()
    # released: the segments can be issued again
    (again,) = issue_segments(segment_ids=[s.pk for s in segs], today=TODAY)
    assert again.amount_gross == 23276 and int(again.number[-15:]) == 3


def test_a_document_cannot_be_reversed_twice(world: dict[str, Any], agent_user: User) -> None:
    (doc,) = issue_segments(segment_ids=[segment(world, exit_time=at(3), fee=100).pk], today=TODAY)
    red = document_reverse(document=doc, reason="错开", by=agent_user)

    with pytest.raises(IssuingError, match="已红冲"):
        document_reverse(document=doc, reason="再来", by=agent_user)
    with pytest.raises(IssuingError):
        document_reverse(document=red, reason="红字", by=agent_user)
    assert Document.objects.filter(status=DocumentStatus.RED).count() == 1


def test_a_fiscal_receipt_is_reversed_in_its_own_series(world: dict[str, Any], agent_user: User) -> None:
    (doc,) = issue_segments(segment_ids=[segment(world, exit_time=at(3), fee=4560, unit="loan").pk], today=TODAY)

    red = document_reverse(document=doc, reason="错开", by=agent_user)

    assert (red.kind, red.code, red.number, red.amount_gross) == (doc.kind, doc.code, "0000000002", -4560)


def test_a_reissue_within_the_window_reverses_and_issues_with_the_new_title(
    world: dict[str, Any], agent_user: User
) -> None:
    seg = segment(world, exit_time=at(3), fee=23276)
    (doc,) = issue_segments(segment_ids=[seg.pk], today=TODAY)
    company = BuyerTitle.objects.create(
        customer=world["customer"],
        kind="company",
        name="某某物流有限公司",
        tax_id="91110000600037341L",
        valid_from=at(20),
    )

    new = document_reissue(document=doc, title=company, reason="抬头错误", by=agent_user)

    doc.refresh_from_db()
    assert doc.status == DocumentStatus.REVERSED
    assert (new.replaces_id, new.buyer_name, new.buyer_tax_id, new.status) == (
        doc.pk,
        "某某物流有限公司",
        "91110000600037341L",
        DocumentStatus.ISSUED,
    )
    assert (new.amount_net, new.amount_tax, new.period_start) == (22598, 678, dt.date(2026, 11, 3))
    assert [i.document_id for i in live_items(seg)] == [new.pk]
    assert doc.reversals.get().amount_gross == -23276
    assert list(doc.events.values_list("kind", flat=True)) == ["issued", "reversed", "reissued"]
    assert AuditEvent.objects.filter(action="document.reissue", object_id=str(doc.pk)).exists()


def test_a_reissue_after_the_window_is_refused(world: dict[str, Any], agent_user: User, settings: Any) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "TITLE_EXCHANGE_WINDOW_DAYS": 365}
    seg = segment(world, exit_time=at(3), fee=100)
    (doc,) = issue_segments(segment_ids=[seg.pk], today=TODAY)
    Document.objects.filter(pk=doc.pk).update(issued_at=timezone.now() - dt.timedelta(days=366))
    doc.refresh_from_db()

    with pytest.raises(IssuingError, match="365"):
        document_reissue(document=doc, title=world["title"], reason="抬头错误", by=agent_user)
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.ISSUED and len(live_items(seg)) == 1


def test_a_reissue_refuses_another_customers_title(world: dict[str, Any], agent_user: User) -> None:
    (doc,) = issue_segments(segment_ids=[segment(world, exit_time=at(3), fee=100).pk], today=TODAY)
    stranger = Customer.objects.create(name="李四", phone="13900000002")
    foreign = BuyerTitle.objects.create(customer=stranger, kind="person", name="李四", valid_from=at(1))

    with pytest.raises(IssuingError):
        document_reissue(document=doc, title=foreign, reason="抬头错误", by=agent_user)


# --- the daily run ------------------------------------------------------------------------------------------------


def test_the_daily_run_issues_everything_due_in_chunks_and_a_second_run_finds_nothing(world: dict[str, Any]) -> None:
    due = [segment(world, exit_time=at(day), fee=1000 + day, plate=f"苏A{day:05d}") for day in range(1, 6)]
    not_yet = segment(world, exit_time=at(20), fee=1000)
    t = topup(world, when=at(2), amount=5000, card_no=POST_CARD)
    CardPrepaidChoice.objects.create(card_no=POST_CARD, choice=PrepaidChoice.AT_TOPUP, valid_from=at(1))
    run, created = issue_run_create_daily(business_date=dt.date(2026, 11, 10))
    assert created and issue_run_create_daily(business_date=dt.date(2026, 11, 10)) == (run, False)

    run = issue_run_daily(run_id=run.pk, chunk_size=2)

    assert run.status == RunStatus.DONE and run.finished_at is not None
    assert (run.items_total, run.items_done) == (6, 6)
    assert run.documents_issued == Document.objects.count() == 4  # chunks of 2 + 2 + 1 segments, 1 top-up
    assert all(len(live_items(s)) == 1 for s in due) and live_items(not_yet) == []
    assert len(live_items(t, ItemKind.TOPUP)) == 1
    assert set(Document.objects.values_list("run_id", flat=True)) == {run.pk}
    assert DocumentEvent.objects.filter(kind="issued").count() == 4

    again = issue_run_daily(run_id=issue_run_reopen(run=run).pk)
    assert (again.pk, again.status, again.items_total, again.documents_issued) == (run.pk, RunStatus.DONE, 6, 4)
    assert Document.objects.count() == 4


def test_a_finished_run_is_not_run_again(world: dict[str, Any]) -> None:
    segment(world, exit_time=at(1), fee=1000)
    run, _ = issue_run_create_daily(business_date=dt.date(2026, 11, 10))
    issue_run_daily(run_id=run.pk)
    segment(world, exit_time=at(2), fee=1000)

    assert issue_run_daily(run_id=run.pk).documents_issued == 1
    assert Document.objects.count() == 1


def test_a_running_run_with_a_stale_heartbeat_is_taken_over(world: dict[str, Any]) -> None:
    segment(world, exit_time=at(1), fee=1000)
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    fresh = IssueRun.objects.create(
        kind=RunKind.DAILY,
        business_date=dt.date(2026, 11, 10),
        province="33",
        status=RunStatus.RUNNING,
        started_at=an_hour_ago,
        heartbeat_at=timezone.now(),
    )
    stale = IssueRun.objects.create(
        kind=RunKind.DAILY,
        business_date=dt.date(2026, 11, 10),
        status=RunStatus.RUNNING,
        started_at=an_hour_ago,
        heartbeat_at=an_hour_ago,
    )

    assert issue_runs_stalled() == [stale.pk]
    assert issue_run_daily(run_id=fresh.pk).status == RunStatus.RUNNING  # someone else's, alive
    taken = issue_run_daily(run_id=stale.pk)
    assert taken.status == RunStatus.DONE and taken.heartbeat_at is not None and taken.heartbeat_at > an_hour_ago
    assert Document.objects.count() == 1
    assert issue_runs_stalled() == []


def test_the_issue_invoices_command_prints_counts(world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    segment(world, exit_time=at(1), fee=1000)

    call_command("issue_invoices", "--date", "2026-11-10", "--chunk", "10")
    call_command("issue_invoices", "--date", "2026-11-10")

    out = capsys.readouterr().out
    assert "1 documents" in out and "0 documents" in out and "documents/s" in out
    assert Document.objects.count() == 1


def test_the_beat_task_creates_one_run_per_business_date(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invoicing import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.issue_daily, "delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        first = tasks.issue_run_start_daily()
    IssueRun.objects.filter(pk=first).update(status=RunStatus.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        second = tasks.issue_run_start_daily()

    assert first == second and sent == [first]
    assert IssueRun.objects.get().business_date == timezone.localdate(timezone=BJ) - dt.timedelta(days=7)


def test_daily_runs_split_by_province_issue_each_segment_once(world: dict[str, Any]) -> None:
    segs = [segment(world, exit_time=at(day), fee=1000 + day) for day in range(1, 4)]

    runs = issue_runs_create_daily(business_date=dt.date(2026, 11, 10))

    assert [r.province for r in runs] == ["32"]
    assert issue_runs_create_daily(business_date=dt.date(2026, 11, 10)) == runs  # idempotent
    for run in runs:
        issue_run_daily(run_id=run.pk)
    assert all(len(live_items(s)) == 1 for s in segs)
    assert Document.objects.get().amount_gross == 3006
