"""The record pages' monthly statistics (customer, card, plate): per month the trips, the segments by outcome —
invoiced, waiting (not yet invoiceable, or invoiceable and not issued), ineligible — with their reasons, and the
documents by status, counts and amounts.

Every figure is a cell of the query statistics (``support.stats.statistics``, grouped by month and invoice state)
or a sum of cells of one outcome (``STATE_GROUPS``), and links to ``/stats/rows/`` with the cell's query: the drill
list counts exactly the figure's rows, in the user's province scope (style rule 27). The trips of a month are the
distinct pass ids of its segments: shown beside them, without a link of their own (the drill lists segments).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.urls import reverse

from invoicing.eligibility import BEIJING, beijing_today
from piaogen.models import User
from support.stats import (
    STATE_GROUP_LABELS,
    StatsQuery,
    StatsTooBroad,
    dimension_label,
    query_from,
    state_group,
    statistics,
    subject_rows,
)

MONTHS = 12  # this month and the eleven before it


def record_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """From the first day of the month ``MONTHS - 1`` months ago to today (Beijing)."""
    end = today or beijing_today()
    month = end.year * 12 + end.month - 1 - (MONTHS - 1)
    return dt.date(month // 12, month % 12 + 1, 1), end


def record_stats_params(**record: object) -> dict[str, str]:
    """The statistics query of a record (``customer=``, ``card=`` or ``plate=``) over ``record_period``, by month and
    invoice state: the record pages' table and their link into ``/stats/``."""
    start, end = record_period()
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "group_by": "month,state",
        **{key: str(value) for key, value in record.items() if value not in (None, "")},
    }


def rows_url(query: StatsQuery) -> str:
    return f"{reverse('stats-rows')}?{urlencode(query.params())}"


def stats_url(query: StatsQuery) -> str:
    return f"{reverse('stats')}?{urlencode(query.params())}"


@dataclass
class Figure:
    count: int = 0
    amount: int = 0  # fen: 实收 of segments, 价税合计 of documents
    tax: int = 0  # documents only
    url: str = ""


@dataclass
class Reason:
    """One invoice state (or document status) of a month: its label, the outcome it counts in, the figure."""

    label: str
    outcome: str
    figure: Figure


@dataclass
class MonthRow:
    month: dt.date
    label: str
    trips: int = 0
    segments: Figure = field(default_factory=Figure)
    outcomes: dict[str, Figure] = field(default_factory=dict)  # STATE_GROUPS keys, in their order
    reasons: list[Reason] = field(default_factory=list)
    documents: Figure = field(default_factory=Figure)
    statuses: list[Reason] = field(default_factory=list)

    @property
    def outcome_list(self) -> list[tuple[str, str, Figure]]:
        return [(key, str(STATE_GROUP_LABELS[key]), figure) for key, figure in self.outcomes.items()]


@dataclass
class RecordStats:
    start: dt.date
    end: dt.date
    months: list[MonthRow]
    stats_url: str  # the same question on /stats/
    documents_url: str
    year_documents_url: str  # documents per month of this year, with their tax
    too_broad: str = ""  # the segments' states were not computed: too many to do on a page


def _month_query(query: StatsQuery, month: dt.date) -> StatsQuery:
    last = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    if query.is_documents:
        return replace(query, issued_start=max(month, query.issued_start or month),
                       issued_end=min(last, query.issued_end or last), group_by=())  # fmt: skip
    return replace(query, start=max(month, query.start or month), end=min(last, query.end or last), group_by=())


def record_statistics(*, user: User, **record: object) -> RecordStats:
    """The monthly table of a record: ``customer=<id>``, ``card=<card no>`` or ``plate=<plate>``, newest month
    first, months without any segment or document left out."""
    params = record_stats_params(**record)
    segments = query_from(params, user=user)
    start, end = segments.start, segments.end
    assert start is not None and end is not None
    documents = query_from(
        {**{k: v for k, v in params.items() if k not in ("start", "end")}, "subject": "documents",
         "issued_start": start.isoformat(), "issued_end": end.isoformat()},
        user=user,
    )  # fmt: skip
    months: dict[dt.date, MonthRow] = {}

    def month_row(month: dt.date) -> MonthRow:
        if month not in months:
            months[month] = MonthRow(month, dimension_label("month", month))
        return months[month]

    too_broad = ""
    try:
        seg_stats = statistics(user=user, query=segments)
    except StatsTooBroad as error:
        too_broad = error.message()
        seg_stats = statistics(user=user, query=replace(segments, group_by=("month",)))
    for cell in seg_stats.cells:
        month = cell.keys[0]
        row = month_row(month)
        count, fee = cell.values["count"], cell.values["fee"]
        row.segments.count += count
        row.segments.amount += fee
        if len(cell.keys) < 2 or cell.keys[1] is None:
            continue
        outcome = state_group(cell.keys[1])
        figure = row.outcomes.setdefault(outcome, Figure())
        figure.count += count
        figure.amount += fee
        row.reasons.append(Reason(cell.labels[1], outcome, Figure(count, fee, url=rows_url(cell.query))))
    trips = (
        subject_rows(user, replace(segments, group_by=()))
        .annotate(month=TruncMonth("service_date"))
        .order_by()
        .values("month")
        .annotate(trips=Count("pass_id", distinct=True))
    )
    for found in trips:
        month = found["month"]
        month = month.astimezone(BEIJING).date() if isinstance(month, dt.datetime) else month
        month_row(month).trips = found["trips"]

    doc_stats = statistics(user=user, query=documents)
    for cell in doc_stats.cells:
        row = month_row(cell.keys[0])
        values = cell.values
        row.documents.count += values["count"]
        row.documents.amount += values["amount_gross"]
        row.documents.tax += values["amount_tax"]
        figure = Figure(values["count"], values["amount_gross"], values["amount_tax"], rows_url(cell.query))
        row.statuses.append(Reason(cell.labels[1], "", figure))
    order = list(STATE_GROUP_LABELS)
    for month, row in months.items():
        row.documents.url = rows_url(_month_query(documents, month))
        in_month = _month_query(segments, month)
        row.segments.url = rows_url(in_month)
        if not too_broad:  # every outcome shown, a zero linking to its (empty) list
            row.outcomes = {k: row.outcomes.get(k, Figure()) for k in order}
        for outcome, figure in row.outcomes.items():
            figure.url = rows_url(replace(in_month, state=outcome))
        row.reasons.sort(key=lambda reason: (order.index(reason.outcome), -reason.figure.count))
    return RecordStats(
        start=start,
        end=end,
        months=[months[m] for m in sorted(months, reverse=True)],
        stats_url=stats_url(segments),
        documents_url=stats_url(documents),
        year_documents_url=stats_url(
            replace(
                documents,
                issued_start=end.replace(month=1, day=1),
                issued_end=end,
                start=None,
                end=None,
                group_by=("month",),
            )
        ),
        too_broad=too_broad,
    )
