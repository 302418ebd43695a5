"""Issuing runs: the customer's invoice cycle, the monthly merge (one document per seller × title × rate with
lines by plate and date range, tax on the merged line, exactly once), one run per period in the database, the
heartbeat, and the automatic e-mail of what was issued."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from invoicing.eligibility import beijing_today
from invoicing.issuing import (
    issue_run_create_daily,
    issue_run_create_monthly,
    issue_run_daily,
    issue_run_monthly,
    issue_run_reopen,
    issue_segments,
    previous_month,
)
from invoicing.issuing.runs import _customer_chunks, issue_runs_stalled
from invoicing.models import (
    BuyerTitle,
    CardBinding,
    CardPrepaidChoice,
    Customer,
    Delivery,
    DeliveryStatus,
    Document,
    DocumentKind,
    DocumentStatus,
    InvoiceCycle,
    IssueRun,
    ItemKind,
    PrepaidChoice,
    RunKind,
    RunStatus,
)
from piaogen.celery import app as celery_app
from tests.fixtures import issuing
from tests.fixtures.issuing import POST_CARD, at, live_items, segment, topup

world = issuing.world  # the fixture

OTHER_CARD = "32010000000000000009"


def monthly(world: dict[str, Any]) -> Customer:
    customer: Customer = world["customer"]
    customer.invoice_cycle = InvoiceCycle.MONTHLY
    customer.save(update_fields=["invoice_cycle"])
    return customer


def per_trip_customer(world: dict[str, Any]) -> BuyerTitle:
    who = Customer.objects.create(name="李四", phone="13900000009")
    CardBinding.objects.create(customer=who, card_no=OTHER_CARD, bound_at=at(1, month=10))
    return BuyerTitle.objects.create(customer=who, kind="person", name="李四", valid_from=at(1, month=10))


def october_run(**params: Any) -> IssueRun:
    run, created = issue_run_create_monthly(month=dt.date(2026, 10, 15), params={"today": "2026-11-08", **params})
    assert created and run.business_date == dt.date(2026, 10, 1)
    return run


# --- the invoice cycle ----------------------------------------------------------------------------------------------


def test_a_new_customer_is_invoiced_per_trip_and_the_cycle_is_checked_by_the_database(db: None) -> None:
    customer = Customer.objects.create(name="王五", phone="13700000001")

    assert customer.invoice_cycle == InvoiceCycle.PER_TRIP
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(invoice_cycle="weekly")


def test_the_daily_run_leaves_out_the_trips_of_monthly_customers_but_not_their_top_ups(world: dict[str, Any]) -> None:
    monthly(world)
    per_trip_customer(world)
    theirs = segment(world, exit_time=at(3, month=10), fee=1000)
    others = segment(world, exit_time=at(3, month=10), fee=2000, card_no=OTHER_CARD)
    paid = topup(world, when=at(3, month=10), amount=5000, card_no=POST_CARD)
    CardPrepaidChoice.objects.create(card_no=POST_CARD, choice=PrepaidChoice.AT_TOPUP, valid_from=at(1, month=10))
    run, _ = issue_run_create_daily(business_date=dt.date(2026, 11, 10))

    run = issue_run_daily(run_id=run.pk)

    assert run.documents_issued == 2
    assert live_items(theirs) == []
    assert len(live_items(others)) == 1 and len(live_items(paid, ItemKind.TOPUP)) == 1


# --- the monthly merge ----------------------------------------------------------------------------------------------


def test_the_monthly_run_merges_a_month_into_one_document_per_seller_title_and_rate(world: dict[str, Any]) -> None:
    monthly(world)
    twice = [segment(world, exit_time=at(day, month=10), fee=50, plate="苏A11111") for day in (3, 20)]
    once = segment(world, exit_time=at(5, month=10), fee=10000, plate="苏B22222")
    bridge = segment(world, exit_time=at(6, month=10), fee=4560, unit="bridge")
    loan = segment(world, exit_time=at(7, month=10), fee=300, unit="loan")
    november = segment(world, exit_time=at(2, month=11), fee=700)

    run = issue_run_monthly(run_id=october_run().pk)

    assert (run.kind, run.status, run.items_done, run.documents_issued) == (RunKind.MONTHLY, RunStatus.DONE, 5, 3)
    docs = {(d.seller_id, d.kind, d.tax_rate): d for d in Document.objects.all()}
    assert all(d.is_merged and d.run_id == run.pk and d.title == world["title"] for d in docs.values())
    road = docs[(world["road"].pk, DocumentKind.DIGITAL_INVOICE, Decimal("0.03"))]
    assert (road.period_start, road.period_end) == (dt.date(2026, 10, 3), dt.date(2026, 10, 20))
    lines = {line.plate: line for line in road.lines.all()}
    merged = lines["苏A11111"]
    assert (merged.date_from, merged.date_to) == (dt.date(2026, 10, 3), dt.date(2026, 10, 20))
    # tax on the merged line: 1.00 @3% → 0.97 + 0.03 (per trip it would have been 2 × (0.49 + 0.01))
    assert (merged.amount_gross, merged.amount_net, merged.amount_tax) == (100, 97, 3)
    assert (lines["苏B22222"].amount_net, lines["苏B22222"].amount_tax) == (9709, 291)
    assert road.amount_gross == 10100 and road.amount_net + road.amount_tax == road.amount_gross
    assert sorted(i.item_id for i in merged.items.all()) == sorted(s.pk for s in twice)
    other = docs[(world["other"].pk, DocumentKind.DIGITAL_INVOICE, Decimal("0.05"))]
    assert (other.amount_net, other.amount_tax) == (4343, 217)  # 45.60 @5% → 43.43 + 2.17
    receipt = docs[(world["road"].pk, DocumentKind.FISCAL_RECEIPT, None)]
    assert receipt.amount_gross == 300 and receipt.amount_tax == 0
    assert all(len(live_items(s)) == 1 for s in [*twice, once, bridge, loan])
    assert live_items(november) == []


def test_a_monthly_run_issues_exactly_once_when_run_again(world: dict[str, Any]) -> None:
    monthly(world)
    segs = [segment(world, exit_time=at(day, month=10), fee=1000 + day) for day in (1, 9, 30)]
    run = issue_run_monthly(run_id=october_run().pk)

    again = issue_run_monthly(run_id=issue_run_reopen(run=run).pk)

    assert (again.pk, again.status, again.documents_issued) == (run.pk, RunStatus.DONE, 1)
    assert Document.objects.count() == 1
    assert all(len(live_items(s)) == 1 for s in segs)
    assert issue_run_create_monthly(month=dt.date(2026, 10, 31)) == (run, False)
    with pytest.raises(IntegrityError), transaction.atomic():
        IssueRun.objects.create(kind=RunKind.MONTHLY, business_date=dt.date(2026, 10, 1))


def test_trips_not_yet_invoiceable_on_the_run_date_go_into_the_next_months_merge(world: dict[str, Any]) -> None:
    monthly(world)
    early = segment(world, exit_time=at(2, month=10), fee=1000)
    late = segment(world, exit_time=at(30, month=10), fee=2000)  # invoiceable from 2026-11-06
    november = segment(world, exit_time=at(4, month=11), fee=3000)

    issue_run_monthly(run_id=october_run(today="2026-11-01").pk)
    assert len(live_items(early)) == 1 and live_items(late) == []

    run, _ = issue_run_create_monthly(month=dt.date(2026, 11, 1), params={"today": "2026-12-08"})
    issue_run_monthly(run_id=run.pk)

    (doc,) = Document.objects.filter(run=run)
    assert (doc.period_start, doc.period_end, doc.amount_gross) == (dt.date(2026, 10, 30), dt.date(2026, 11, 4), 5000)
    assert [i.document_id for i in live_items(late)] == [i.document_id for i in live_items(november)] == [doc.pk]


def test_monthly_chunks_hold_whole_customers() -> None:
    rows = [(1, 10), (1, 11), (2, 12), (3, 13), (3, 14), (3, 15)]

    assert _customer_chunks(rows, 3) == [[10, 11, 12], [13, 14, 15]]
    assert _customer_chunks(rows, 2) == [[10, 11], [12], [13, 14, 15]]
    assert _customer_chunks([], 5) == []


def test_a_monthly_run_in_small_chunks_still_issues_one_document_per_customer(world: dict[str, Any]) -> None:
    monthly(world)
    title = per_trip_customer(world)
    title.customer.invoice_cycle = InvoiceCycle.MONTHLY
    title.customer.save(update_fields=["invoice_cycle"])
    for day in (1, 2, 3):
        segment(world, exit_time=at(day, month=10), fee=100, plate=f"苏A0000{day}")
        segment(world, exit_time=at(day, month=10), fee=200, card_no=OTHER_CARD, plate=f"苏B0000{day}")

    run = issue_run_monthly(run_id=october_run().pk, chunk_size=1)

    assert run.documents_issued == 2
    assert sorted(Document.objects.values_list("buyer_name", "amount_gross")) == [("张三", 300), ("李四", 600)]
    assert all(d.lines.count() == 3 for d in Document.objects.all())


def test_the_command_runs_the_monthly_merge_of_a_month(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    monthly(world)
    segment(world, exit_time=at(3, month=10), fee=1000)
    segment(world, exit_time=at(4, month=10), fee=1000, plate="苏E55555")

    call_command("issue_invoices", "--monthly", "--month", "2026-10")
    call_command("issue_invoices", "--monthly", "--month", "2026-10")

    out = capsys.readouterr().out
    assert "monthly done for 2026-10" in out and "1 documents" in out and "0 documents" in out
    (doc,) = Document.objects.all()
    assert doc.is_merged and doc.lines.count() == 2
    assert IssueRun.objects.get().business_date == dt.date(2026, 10, 1)


def test_the_monthly_beat_task_creates_one_run_for_the_previous_month(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invoicing import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.issue_daily, "delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        first = tasks.issue_run_start_monthly()
    IssueRun.objects.filter(pk=first).update(status=RunStatus.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        second = tasks.issue_run_start_monthly()

    assert first == second and sent == [first]
    run = IssueRun.objects.get()
    assert (run.kind, run.business_date) == (RunKind.MONTHLY, previous_month(beijing_today()))
    assert previous_month(dt.date(2026, 1, 1)) == dt.date(2025, 12, 1)


# --- one run per period, heartbeat ----------------------------------------------------------------------------------


def test_the_database_allows_one_daily_run_per_date_and_province(db: None) -> None:
    IssueRun.objects.create(kind=RunKind.DAILY, business_date=dt.date(2026, 11, 10))
    IssueRun.objects.create(kind=RunKind.DAILY, business_date=dt.date(2026, 11, 10), province="32")
    IssueRun.objects.create(kind=RunKind.REQUEST)
    IssueRun.objects.create(kind=RunKind.REQUEST)

    with pytest.raises(IntegrityError), transaction.atomic():
        IssueRun.objects.create(kind=RunKind.DAILY, business_date=dt.date(2026, 11, 10))
    with pytest.raises(IntegrityError), transaction.atomic():
        IssueRun.objects.create(kind=RunKind.DAILY)  # a periodic run needs its date


def test_each_chunk_refreshes_the_heartbeat(world: dict[str, Any]) -> None:
    for day in (1, 2, 3):
        segment(world, exit_time=at(day), fee=1000, plate=f"苏A0000{day}")
    run, _ = issue_run_create_daily(business_date=dt.date(2026, 11, 10))
    before = timezone.now()

    run = issue_run_daily(run_id=run.pk, chunk_size=1)

    assert run.documents_issued == 3 and run.started_at is not None and run.heartbeat_at is not None
    assert before <= run.started_at <= run.heartbeat_at <= run.finished_at  # type: ignore[operator]


def test_a_queued_run_whose_task_message_was_lost_is_sent_again(db: None) -> None:
    """Redis restarted without persistence: the run row is queued but no worker will ever get its message."""
    old = timezone.now() - dt.timedelta(hours=1)
    lost = IssueRun.objects.create(kind=RunKind.DAILY, business_date=dt.date(2026, 11, 10), created_at=old)
    IssueRun.objects.create(kind=RunKind.DAILY, business_date=dt.date(2026, 11, 11))  # just queued: wait for it
    dead = IssueRun.objects.create(
        kind=RunKind.DAILY, business_date=dt.date(2026, 11, 12), status=RunStatus.RUNNING, started_at=old,
        heartbeat_at=old, created_at=old,
    )  # fmt: skip
    IssueRun.objects.create(
        kind=RunKind.DAILY, business_date=dt.date(2026, 11, 13), status=RunStatus.DONE, started_at=old,
        heartbeat_at=old, created_at=old, finished_at=old,
    )  # fmt: skip

    assert issue_runs_stalled() == [lost.pk, dead.pk]


def test_a_passing_database_fault_leaves_the_run_running_for_a_takeover(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg
    from django.db import OperationalError

    from invoicing.issuing import runs

    segment(world, exit_time=at(3), fee=1000)
    run, _ = issue_run_create_daily(business_date=dt.date(2026, 11, 10))

    def deadlock(ids: list[int], **kwargs: Any) -> Any:
        cause = psycopg.errors.DeadlockDetected("deadlock detected")
        raise OperationalError("deadlock detected") from cause

    monkeypatch.setattr(runs, "issue_segments_written", deadlock)
    with pytest.raises(OperationalError):
        issue_run_daily(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # not failed: the stall sweep hands it to another worker

    monkeypatch.undo()
    IssueRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - dt.timedelta(hours=1))
    run = issue_run_daily(run_id=run.pk)
    assert run.status == RunStatus.DONE and run.documents_issued == 1


# --- delivery after issuing -----------------------------------------------------------------------------------------


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks queued after commit run in this process (Celery's own eager mode)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def test_documents_issued_to_a_customer_with_an_email_are_sent_once_after_commit(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any, eager_celery: None
) -> None:
    Customer.objects.filter(pk=world["customer"].pk).update(email="zhangsan@example.com")
    seg = segment(world, exit_time=at(3), fee=10000)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        (doc,) = issue_segments(segment_ids=[seg.pk])
        assert mail.outbox == []  # not before commit
    with django_capture_on_commit_callbacks(execute=True):
        from invoicing.tasks import deliver_documents

        deliver_documents.delay([doc.pk])  # a repeat of the task sends nothing more

    assert len(callbacks) == 1
    (delivery,) = Delivery.objects.all()
    assert (delivery.document, delivery.address, delivery.status) == (doc, "zhangsan@example.com", DeliveryStatus.SENT)
    (message,) = mail.outbox
    assert message.to == ["zhangsan@example.com"] and doc.number in message.subject


def test_a_run_queues_no_delivery_for_customers_without_an_email(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any, eager_celery: None
) -> None:
    segment(world, exit_time=at(3), fee=10000)
    run, _ = issue_run_create_daily(business_date=dt.date(2026, 11, 10))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = issue_run_daily(run_id=run.pk)

    assert run.documents_issued == 1 and callbacks == []
    assert not Delivery.objects.exists() and mail.outbox == []
    assert Document.objects.get().status == DocumentStatus.ISSUED


def test_the_automatic_delivery_skips_an_unusable_address_and_sends_the_others(world: dict[str, Any]) -> None:
    from invoicing.delivery import deliveries_ensure

    Customer.objects.filter(pk=world["customer"].pk).update(email="zhangsan@example.com")
    title = per_trip_customer(world)
    Customer.objects.filter(pk=title.customer_id).update(email="not-an-address")
    good = issue_segments(segment_ids=[segment(world, exit_time=at(3), fee=1000).pk])
    bad = issue_segments(segment_ids=[segment(world, exit_time=at(3), fee=2000, card_no=OTHER_CARD).pk])

    sent = deliveries_ensure(document_ids=[d.pk for d in [*bad, *good]])

    assert sent == 1
    assert [m.to for m in mail.outbox] == [["zhangsan@example.com"]]
    assert list(Delivery.objects.values_list("document_id", flat=True)) == [good[0].pk]


@pytest.fixture
def mail_dir() -> Iterator[Path]:
    """A folder for the worker's file e-mail backend (not pytest's tmp_path: concurrent pytest runs prune those)."""
    with tempfile.TemporaryDirectory(prefix="piaogen-mail-") as folder:
        yield Path(folder)


def test_a_run_on_a_real_worker_issues_and_then_e_mails_each_document(
    world: dict[str, Any], celery_workers: Any, mail_dir: Path
) -> None:
    from invoicing.tasks import issue_daily

    Customer.objects.filter(pk=world["customer"].pk).update(email="zhangsan@example.com")
    segment(world, exit_time=at(3), fee=1000)
    segment(world, exit_time=at(4), fee=2000, unit="bridge")
    celery_workers(EMAIL_URL=f"filemail:///{mail_dir}")  # django-environ drops the first "/" of the path
    run, _ = issue_run_create_daily(business_date=dt.date(2026, 11, 10))

    issue_daily.delay(run.pk)

    deadline = time.monotonic() + 120
    while Delivery.objects.filter(status=DeliveryStatus.SENT).count() < 2:
        assert time.monotonic() < deadline, list(Delivery.objects.values_list("status", "last_error"))
        time.sleep(0.2)
    run.refresh_from_db()
    assert (run.status, run.documents_issued) == (RunStatus.DONE, 2)
    assert sorted(Delivery.objects.values_list("document_id", flat=True)) == sorted(
        Document.objects.values_list("pk", flat=True)
    )
    # the file backend appends to one file per connection and second; two connections may share a name
    separator = "\n" + "-" * 79 + "\n"
    messages = [text for path in mail_dir.iterdir() for text in path.read_text().split(separator) if text.strip()]
    assert len(messages) == 2 and all("zhangsan@example.com" in text for text in messages)
