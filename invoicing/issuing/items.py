"""Issuing given items now: segments, top-ups, back-charges, paper tickets (纸改电) and taxi rides."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.utils.translation import gettext_lazy as _

from invoicing.eligibility import (
    Reason,
    ServiceDates,
    issuing_today,
    taxi_ride_states,
    topup_states,
)
from invoicing.issuing.drafts import (
    Draft,
    IssuingError,
    topup_drafts,
)
from invoicing.issuing.grouping import (
    audit_charge_rows,
    documents_group_write,
    paper_ticket_rows,
    segment_rows,
    taxi_ride_rows,
)
from invoicing.issuing.writing import (
    Written,
    items_issue,
)
from invoicing.models import (
    BuyerTitle,
    Document,
    IssueRun,
    ItemKind,
)
from invoicing.tax import TAX_RATES
from piaogen.models import User


def issue_segments_written(
    ids: list[int],
    *,
    run: IssueRun | None,
    by: User | None,
    today: dt.date | None,
    merged: bool = False,
    service_dates: ServiceDates | None = None,
) -> Written:
    """Documents per trip or, ``merged``, the monthly merge: grouped and written in the database (``grouping``).
    ``today`` is clamped to the real Beijing date (``issuing_today``). ``service_dates``: the first and last
    service date of ``ids`` when the caller knows them (``eligible_segment_rows_sql``)."""
    today = issuing_today(today)

    def produce() -> Written:
        rows = segment_rows(ids, today=today, service_dates=service_dates)
        return documents_group_write(ItemKind.SEGMENT, rows, run=run, by=by, merged=merged)

    if not ids:
        return Written([], [])
    return items_issue(
        ItemKind.SEGMENT,
        ids,
        None,
        run=run,
        by=by,
        action="document.issue",
        produce=produce,
        service_dates=service_dates,
    )


def issue_topups_written(
    ids: list[int], *, run: IssueRun | None, by: User | None, service_dates: ServiceDates | None = None
) -> Written:
    """``service_dates``: the first and last service date of ``ids`` when the caller knows them (a run): the state
    statement then plans and reads only those months' partitions (ADR 0010 addendum)."""
    first, last = service_dates if service_dates is not None else (None, None)

    def build() -> list[Draft]:
        states = topup_states(topup_ids=ids, date_from=first, date_to=last)
        return topup_drafts({i: s for i, s in states.items() if s.eligible})

    if not ids:
        return Written([], [])
    return items_issue(ItemKind.TOPUP, ids, build, run=run, by=by, action="document.issue", service_dates=service_dates)


def issue_segments(
    *,
    segment_ids: Sequence[int],
    run: IssueRun | None = None,
    by: User | None = None,
    today: dt.date | None = None,
    merged: bool = False,
) -> list[Document]:
    """Issue documents for those of ``segment_ids`` that are eligible now (Beijing ``today``, never later than the
    real Beijing date); the others are skipped. One transaction (a savepoint inside a caller's); safe against
    concurrent workers. ``merged``: the monthly merge (one document per seller × title × rate × kind,
    ``is_merged``; lines by plate and date range)."""
    return issue_segments_written(list(segment_ids), run=run, by=by, today=today, merged=merged).documents()


def issue_topups(*, topup_ids: Sequence[int], run: IssueRun | None = None, by: User | None = None) -> list[Document]:
    """Issue one non-taxable invoice per eligible top-up (card issuer → title in force at the top-up)."""
    return issue_topups_written(list(topup_ids), run=run, by=by).documents()


def issue_audit_charges_written(
    ids: list[int], *, run: IssueRun | None, by: User | None, title: BuyerTitle | None = None
) -> Written:
    def produce() -> Written:
        return documents_group_write(ItemKind.AUDIT_CHARGE, audit_charge_rows(ids, title=title), run=run, by=by)

    if not ids:
        return Written([], [])
    return items_issue(ItemKind.AUDIT_CHARGE, ids, None, run=run, by=by, action="document.issue", produce=produce)


def issue_audit_charges(
    *,
    charge_ids: Sequence[int],
    run: IssueRun | None = None,
    by: User | None = None,
    title: BuyerTitle | None = None,
) -> list[Document]:
    """Issue documents for the eligible back-charges (稽核补费): seller the underpaid toll unit's operator, an
    invoice at the unit's rate on the service date (commercial road) or a fiscal receipt (loan road), buyer the
    title in force at payment for the charge's card. Others (in a document, no title, no rate) are skipped.
    ``title``: a claim's buyer (``invoicing.claims``), used instead, also for a charge without a card."""
    return issue_audit_charges_written(list(charge_ids), run=run, by=by, title=title).documents()


def issue_paper_tickets(
    *, ticket_ids: Sequence[int], title: BuyerTitle, by: User | None = None, today: dt.date | None = None
) -> list[Document]:
    """纸改电: issue the claimed paper tickets to ``title`` (the claiming customer's), each like a segment of its
    toll unit. Tickets already in a live document, before their invoiceable day (day 7 on Beijing ``today``) or
    without a rate in force are skipped."""
    ids = list(ticket_ids)

    def produce() -> Written:
        rows = paper_ticket_rows(ids, title=title, today=today)
        return documents_group_write(ItemKind.PAPER_TICKET, rows, run=None, by=by)

    if not ids:
        return []
    return items_issue(
        ItemKind.PAPER_TICKET, ids, None, run=None, by=by, action="document.issue", produce=produce
    ).documents()


def _taxi_rates_check(ids: list[int]) -> None:
    """Refuse the whole call when a ride's company has no rate set, or one no toll or taxi document is issued at
    (``tax.TAX_RATES``: the tax split's tolerances are proved for those)."""
    states = taxi_ride_states(ride_ids=ids)
    no_rate = sorted(i for i, s in states.items() if s.reason == Reason.NO_RATE)
    if no_rate:
        raise IssuingError(
            _("出租车公司未设置税率，不能开票（行程%(rides)s）"),
            code="no_rate",
            params={"rides": ", ".join(str(i) for i in no_rate)},
        )
    unknown = sorted(i for i, s in states.items() if s.eligible and s.tax_rate not in TAX_RATES)
    if unknown:
        raise IssuingError(
            _("出租车公司的税率不是3%%、5%%或9%%，不能开票（行程%(rides)s）"),
            code="unsupported_rate",
            params={"rides": ", ".join(str(i) for i in unknown)},
        )


def issue_taxi_rides(*, ride_ids: Sequence[int], title: BuyerTitle, by: User | None = None) -> list[Document]:
    """Issue the taxi rides to ``title``: one invoice per (company, rate) from the taxi company at its rate. A ride
    whose company has no rate set, or a rate outside ``tax.TAX_RATES``, refuses the whole call (``IssuingError``);
    rides already in a live document are skipped."""
    ids = list(ride_ids)

    def produce() -> Written:
        _taxi_rates_check(ids)
        return documents_group_write(ItemKind.TAXI_RIDE, taxi_ride_rows(ids, title=title), run=None, by=by)

    if not ids:
        return []
    return items_issue(
        ItemKind.TAXI_RIDE, ids, None, run=None, by=by, action="document.issue", produce=produce
    ).documents()
