"""Issuing runs: the daily run (per business date and province) and the monthly merge (per month), chunked,
claimed by a conditional UPDATE and taken over when their heartbeat goes stale.

- **One run per period**: the UniqueConstraint ``issue_run_one_per_period`` allows one daily run per (business
  date, province) and one monthly run per (first day of the month, province); ``issue_run_create_*`` are
  ``get_or_create`` on it, so concurrent callers (two beats, a beat and the command) end with the same row.
- **Heartbeat**: a worker refreshes ``heartbeat_at`` with every chunk, in the chunk's transaction. A running run
  whose heartbeat is older than ``PIAOGEN["ISSUE_STALE_SECONDS"]`` (its worker died) is claimed by the next worker
  that gets its task. The heartbeat update is conditional on the value the worker last wrote: a worker that was
  only slow and has been taken over finds it changed, rolls its chunk back and stops.
- **Daily run** (``issue_run_daily``): everything invoiceable up to its business date — trips of customers on the
  per-trip cycle (``Customer.invoice_cycle``), top-ups of cards whose holder chose "at top-up"
  (``CardPrepaidChoice``; other top-ups only on request) and back-charges — in chunks of ids.
- **Monthly merge** (``issue_run_monthly``): for the month of its business date, the trips of customers who chose
  the monthly cycle, merged: one document per seller × buyer title version × rate × kind with lines by plate and
  date range (domain.md §4.7), ``is_merged`` set. Chunks hold whole customers, so a customer's month is never
  split over two documents by chunking. The day-7 rule still holds: the run takes the trips of the month (and
  earlier stragglers) invoiceable on its date, which is why the beat runs on day N + 1 of the next month
  (``PIAOGEN_MONTHLY_MERGE_DAY``, default 8); a trip not invoiceable yet goes into the next month's merge.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from invoicing.eligibility import (
    ServiceDates,
    beijing_today,
    buyer_customer,
    invoiceable_audit_charges,
    invoiceable_segments,
    invoiceable_topups,
    issuing_today,
    jit_off,
    trip_cutoff,
)
from invoicing.issuing.drafts import DEFAULT_CHUNK
from invoicing.issuing.items import issue_audit_charges_written, issue_segments_written, issue_topups_written
from invoicing.issuing.writing import Written
from invoicing.jobs import RUNS
from invoicing.models import InvoiceCycle, IssueRun, RunKind, RunStatus
from piaogen.db import database_fault_is_transient
from piaogen.jobs import TakenOver
from tolling.models import Operator, TollUnit

# --- creating runs -------------------------------------------------------------------------------------------------


def _run_get_or_create(
    *, kind: str, business_date: dt.date, province: str, params: dict[str, Any] | None
) -> tuple[IssueRun, bool]:
    # get_or_create inserts in a savepoint and reads the winner's row when the unique constraint refuses the insert
    return IssueRun.objects.get_or_create(
        kind=kind, business_date=business_date, province=province, defaults={"params": params or {}}
    )


@transaction.atomic
def issue_run_create_daily(
    *, business_date: dt.date, province: str = "", params: dict[str, Any] | None = None
) -> tuple[IssueRun, bool]:
    """The daily run of ``business_date`` (created queued if it does not exist yet) and whether it was created.
    One per (business date, province), enforced by the database (``issue_run_one_per_period``)."""
    return _run_get_or_create(kind=RunKind.DAILY, business_date=business_date, province=province, params=params)


def issue_runs_create_daily(*, business_date: dt.date, params: dict[str, Any] | None = None) -> list[IssueRun]:
    """The daily runs of ``business_date`` split by province (one per province with toll units or sellers),
    for workers to issue in parallel: each province's documents take their own number series (ADR 0002), so two
    runs never wait on one another's series lock. Idempotent like ``issue_run_create_daily``."""
    provinces = set(TollUnit.objects.values_list("province", flat=True).distinct())
    provinces |= set(Operator.objects.values_list("province", flat=True).distinct())  # card issuers: top-ups
    return [
        issue_run_create_daily(business_date=business_date, province=province, params=params)[0]
        for province in sorted(provinces)
    ]


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(day: dt.date) -> dt.date:
    following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def previous_month(today: dt.date | None = None) -> dt.date:
    """The first day of the calendar month before Beijing ``today``'s."""
    return month_start(month_start(today or beijing_today()) - dt.timedelta(days=1))


@transaction.atomic
def issue_run_create_monthly(
    *, month: dt.date, province: str = "", params: dict[str, Any] | None = None
) -> tuple[IssueRun, bool]:
    """The monthly merge run of ``month`` (any day of it; stored as its first day) and whether it was created.
    One per (month, province), enforced by the database (``issue_run_one_per_period``)."""
    return _run_get_or_create(kind=RunKind.MONTHLY, business_date=month_start(month), province=province, params=params)


@transaction.atomic
def issue_run_reopen(*, run: IssueRun) -> IssueRun:
    """Queue a finished (done or failed) run again, to pick up what became invoiceable since: nothing is issued
    twice (what was issued is no longer invoiceable). A queued or running run is returned as it is."""
    IssueRun.objects.filter(pk=run.pk, status__in=[RunStatus.DONE, RunStatus.FAILED]).update(
        status=RunStatus.QUEUED, finished_at=None, message=""
    )
    run.refresh_from_db()
    return run


# --- running them -------------------------------------------------------------------------------------------------


def _claim(run_id: int) -> dt.datetime | None:
    """Take the run: queued, or running with a stale heartbeat (the kernel's claim, piaogen/jobs.py). Returns the
    heartbeat written (None: not taken)."""
    now = timezone.now()
    return RUNS.claim(run_id, now=now, started_at=now)


def issue_runs_stalled() -> list[int]:
    """Ids of runs to send again: running ones whose heartbeat is stale (their worker died, or the database went
    away under them), and queued ones nobody started for as long (their task message was lost, e.g. with Redis)."""
    return RUNS.stalled()


def _chunked(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _dated_chunks(rows: list[tuple[int, dt.date]], size: int) -> list[tuple[list[int], ServiceDates]]:
    """(id, service date) rows in chunks of ``size`` ids, each with its first and last service date: the chunk's
    statement carries them so that only those months' partitions are planned and read (ADR 0010 addendum)."""
    chunks = []
    for start in range(0, len(rows), size):
        part = rows[start : start + size]
        dates = [day for _id, day in part]
        chunks.append(([pk for pk, _day in part], (min(dates), max(dates))))
    return chunks


def _today(run: IssueRun, default: dt.date) -> dt.date:
    """The Beijing date eligibility is judged on: ``params["today"]`` (ISO) when set, else ``default`` — never later
    than the real Beijing date (``issuing_today``: a run of a recent or future date issues nothing early)."""
    return issuing_today(dt.date.fromisoformat(run.params["today"]) if run.params.get("today") else default)


_Work = list[tuple[Callable[[list[int]], Written], list[int]]]


def _execute(run_id: int, plan: Callable[[IssueRun], _Work]) -> IssueRun:
    """Claim the run, ``plan`` its chunks and issue them, each in one transaction with the run's progress and the
    heartbeat. A run that is not claimable (done, or running elsewhere) is returned as it is."""
    beat = _claim(run_id)
    if beat is None:
        return IssueRun.objects.get(pk=run_id)
    run = IssueRun.objects.get(pk=run_id)
    try:
        with RUNS.beating(run_id, beat) as last:  # selecting the work may take longer than ISSUE_STALE_SECONDS
            work = plan(run)
        beat = RUNS.beat(run_id, last(), items_total=F("items_done") + sum(len(c) for _f, c in work))
        for issue, chunk in work:
            with transaction.atomic():  # the chunk's documents, its progress and the heartbeat commit together
                written = issue(chunk)
                beat = RUNS.beat(
                    run_id,
                    beat,
                    items_done=F("items_done") + len(chunk),  # items looked at: issued or found taken
                    documents_issued=F("documents_issued") + len(written.ids),
                )
    except TakenOver:
        return IssueRun.objects.get(pk=run_id)
    except Exception as error:
        if database_fault_is_transient(error):  # not the run's fault: it stays running and is taken over
            raise
        RUNS.end(run_id, beat, RunStatus.FAILED, message=str(error)[:2000])
        raise
    RUNS.end(run_id, beat, RunStatus.DONE)
    run.refresh_from_db()
    return run


def issue_run_daily(*, run_id: int, chunk_size: int | None = None) -> IssueRun:
    """Claim the daily run and issue everything invoiceable up to its business date, chunk by chunk: trips of
    per-trip customers, top-ups and back-charges.

    Each chunk is one transaction: its documents and the run's progress (items_done, documents_issued and the
    heartbeat) commit together. Re-running is safe: what was issued is no longer invoiceable, so a second run finds
    nothing left. A run that is not claimable (done, or running elsewhere) is returned as is.
    """

    def plan(run: IssueRun) -> _Work:
        assert run.business_date is not None
        size = chunk_size or int(run.params.get("chunk_size") or DEFAULT_CHUNK)
        day = run.business_date
        today = _today(run, day + dt.timedelta(days=settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"]))
        province = run.province or None
        # the business date's trips only when they are invoiceable on the run's date (the day-7 rule, clamped)
        segments = invoiceable_segments(
            service_date_to=min(day, trip_cutoff(today)), province=province, invoice_cycle=InvoiceCycle.PER_TRIP
        )
        topups = invoiceable_topups(service_date_to=min(day, today), province=province)
        charges = invoiceable_audit_charges(service_date_to=min(day, today), province=province)

        def issue_segments(chunk: list[int], dates: ServiceDates) -> Written:
            return issue_segments_written(chunk, run=run, by=None, today=today, service_dates=dates)

        def issue_topups(chunk: list[int], dates: ServiceDates) -> Written:
            return issue_topups_written(chunk, run=run, by=None, service_dates=dates)

        def issue_charges(chunk: list[int]) -> Written:
            return issue_audit_charges_written(chunk, run=run, by=None)

        # top-ups first: a holder who chose "at top-up" gets the top-up invoiced, and the trips it paid then find
        # themselves ineligible (FIFO) when their chunk re-checks eligibility, rather than the other way round
        with jit_off():
            topup_rows = list(topups.values_list("id", "service_date"))
            segment_rows = list(segments.values_list("id", "service_date"))
            charge_ids = list(charges.values_list("id", flat=True))
        work: _Work = [(partial(issue_topups, dates=dates), c) for c, dates in _dated_chunks(topup_rows, size)]
        work += [(partial(issue_segments, dates=dates), c) for c, dates in _dated_chunks(segment_rows, size)]
        work += [(issue_charges, c) for c in _chunked(charge_ids, size)]
        return work

    return _execute(run_id, plan)


T = TypeVar("T")


def _customer_chunks(rows: list[tuple[int, T]], size: int) -> list[list[T]]:
    """Segments in chunks of whole customers (``rows``: (customer id, segment) ordered by customer; a segment is
    its id, or whatever the caller carries with it): a chunk is closed before a customer who would take it past
    ``size``; a customer larger than ``size`` is a chunk alone."""
    chunks: list[list[T]] = []
    current: list[T] = []
    customer: int | None = None
    mine: list[T] = []
    for customer_id, segment in rows:
        if customer_id != customer:
            if current and len(current) + len(mine) > size:
                chunks.append(current)
                current = []
            current += mine
            customer, mine = customer_id, []
        mine.append(segment)
    if current and len(current) + len(mine) > size:
        chunks.append(current)
        current = []
    current += mine
    if current:
        chunks.append(current)
    return chunks


def issue_run_monthly(*, run_id: int, chunk_size: int | None = None) -> IssueRun:
    """Claim the monthly merge run and issue, merged, the trips of monthly customers up to the end of its month
    that are invoiceable on the run's date (Beijing today, or ``params["today"]``); see the module docstring.
    Exactly once like the daily run: a re-run or a resumed run finds only what is still not issued."""

    def plan(run: IssueRun) -> _Work:
        assert run.business_date is not None
        size = chunk_size or int(run.params.get("chunk_size") or DEFAULT_CHUNK)
        today = _today(run, beijing_today())
        last_day = min(month_end(run.business_date), trip_cutoff(today))
        with jit_off():
            rows = list(
                invoiceable_segments(
                    service_date_to=last_day, province=run.province or None, invoice_cycle=InvoiceCycle.MONTHLY
                )
                .annotate(buyer=buyer_customer())
                .order_by("buyer", "id")
                .values_list("buyer", "id", "service_date")
            )
        customers = [(buyer, (pk, day)) for buyer, pk, day in rows]

        def issue_merged(chunk: list[int], dates: ServiceDates) -> Written:
            return issue_segments_written(chunk, run=run, by=None, today=today, merged=True, service_dates=dates)

        chunks = [_dated_chunks(chunk, len(chunk))[0] for chunk in _customer_chunks(customers, size)]
        return [(partial(issue_merged, dates=dates), chunk) for chunk, dates in chunks]

    return _execute(run_id, plan)


def issue_run_execute(*, run_id: int, chunk_size: int | None = None) -> IssueRun:
    """Run a daily or monthly run by its kind (what the ``issue_*`` tasks and the command call)."""
    kind = IssueRun.objects.values_list("kind", flat=True).get(pk=run_id)
    if kind == RunKind.MONTHLY:
        return issue_run_monthly(run_id=run_id, chunk_size=chunk_size)
    return issue_run_daily(run_id=run_id, chunk_size=chunk_size)
