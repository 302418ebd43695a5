"""The building blocks of report templates: what a template returns (`ReportData`: tiles, figures, tables, each
number with the drill-down behind it), the registry, and the rollup queries the templates share."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Sum
from django.utils.functional import Promise

from piaogen.money import format_yuan
from reports.dashboard import change_ratio, rollup_where
from reports.exports import Fen, Ratio
from reports.filters import ReportFilters
from reports.models import DocumentRollup, SupportRollup, TrafficRollup, UploadLateness, UploadRollup
from tolling.models import Operator

Drill = tuple[str, dict[str, Any]]
"""(rows kind, filter overrides and narrowing parameters): the list behind a number. Kinds: "documents",
"uploads", "tickets" (reports/rows.py), "actions" (the audit trail), "upload" (one batch's page: {"pk": id})."""

TOP = 15


@dataclass
class Tile:
    key: str
    label: str
    value: int | float
    previous: int | float | None = None
    unit: str = "count"  # count: equals the row count of its drill list; number (any other), money (fen), ratio
    drill: Drill | None = None

    @property
    def change(self) -> float | None:
        if self.previous is None or self.unit == "ratio":
            return None
        return change_ratio(int(self.value), int(self.previous))


@dataclass
class Point:
    key: str  # the code behind the label (for the API)
    label: str
    value: int | float
    drill: Drill | None = None


@dataclass
class Series:
    name: str
    points: list[Point]


@dataclass
class Figure:
    id: str
    title: str
    kind: str  # bar, hbar, line, group (grouped bars), multiples (one small line chart per series)
    unit: str  # count (of the rows each point drills to), number, money (fen), ratio
    series: list[Series]


@dataclass
class Column:
    label: str
    unit: str = "text"  # text, count (of the rows its cells drill to), number, money, ratio, date


@dataclass
class Row:
    cells: list[Any]
    drills: dict[int, Drill] = field(default_factory=dict)  # column index → the rows behind that cell


@dataclass
class Table:
    id: str
    title: str
    columns: list[Column]
    rows: list[Row]
    note: str = ""
    sortable: bool = False  # the page sorts it by any column on a click on its header


@dataclass
class ReportData:
    slug: str
    title: str
    filters: ReportFilters
    tiles: list[Tile]
    figures: list[Figure]
    tables: list[Table]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportTemplate:
    slug: str
    title: Promise
    question: Promise
    build: Callable[[ReportFilters], ReportData]
    default_period: str = "days"  # "days": the last 30 days; "month": the last full calendar month
    icon: str = "bars"  # the gallery thumbnail's shape: bars, hbars, lines, pie


REGISTRY: dict[str, ReportTemplate] = {}


def register(template: ReportTemplate) -> ReportTemplate:
    REGISTRY[template.slug] = template
    return template


def cell_text(value: Any) -> str:
    """A table cell as page text."""
    if value is None:
        return "—"
    if isinstance(value, Fen):
        return format_yuan(int(value))
    if isinstance(value, Ratio):
        return f"{float(value):.1%}"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def ratio_of(part: int | float, whole: int | float) -> Ratio | None:
    return Ratio(part / whole) if whole else None


# --- the rollups, grouped ------------------------------------------------------------------------------------------

FIGURES = ("documents", "reversals", "amount_gross", "amount_tax")


def document_groups(filters: ReportFilters, *dims: str) -> list[dict[str, Any]]:
    """The document rollup summed over the filters, grouped by `dims` (columns of reports_documentrollup); with no
    dims one row of totals."""
    where, params = rollup_where(filters)
    columns = "".join(f"{dim}, " for dim in dims)
    group = f" GROUP BY {', '.join(dims)}" if dims else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}coalesce(sum(documents), 0), coalesce(sum(reversals), 0), "  # noqa: S608  dims are ours
            f"coalesce(sum(amount_gross), 0), coalesce(sum(amount_tax), 0) "
            f"FROM reports_documentrollup WHERE {where}{group}",
            params,
        )
        rows = cursor.fetchall()
    out = []
    for row in rows:
        entry: dict[str, Any] = dict(zip(dims, row[: len(dims)], strict=True))
        entry.update(zip(FIGURES, (int(value) for value in row[len(dims) :]), strict=True))
        out.append(entry)
    return out


def document_totals(filters: ReportFilters) -> dict[str, int]:
    return document_groups(filters)[0]


def upload_groups(filters: ReportFilters, *dims: str) -> list[dict[str, Any]]:
    """The upload rollup (batches, failed, rows) over the period and province, grouped by `dims`."""
    rows = UploadRollup.objects.filter(day__range=(filters.start, filters.end))
    if filters.province:
        rows = rows.filter(province=filters.province)
    sums = {
        "batches": Sum("batches"),
        "batches_failed": Sum("batches_failed"),
        "rows_accepted": Sum("rows_accepted"),
        "rows_duplicate": Sum("rows_duplicate"),
        "rows_rejected": Sum("rows_rejected"),
        "duration_seconds": Sum("duration_seconds"),
    }
    grouped = rows.values(*dims).annotate(**sums).order_by(*dims) if dims else [rows.aggregate(**sums)]
    return [{key: (value or 0) if key in sums else value for key, value in row.items()} for row in grouped]


def upload_totals(filters: ReportFilters) -> dict[str, int]:
    return upload_groups(filters)[0]


def lateness_histograms(filters: ReportFilters) -> dict[str, dict[int, int]]:
    """Per province: rows by days late (upload day − service date), of the batches uploaded in the period."""
    rows = UploadLateness.objects.filter(day__range=(filters.start, filters.end))
    if filters.province:
        rows = rows.filter(province=filters.province)
    out: dict[str, dict[int, int]] = {}
    for province, late, n in rows.values_list("province", "late_days").annotate(n=Sum("rows")).order_by():
        out.setdefault(province, {})[late] = out.get(province, {}).get(late, 0) + int(n)
    return out


def histogram_merge(histograms: list[dict[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        for key, n in histogram.items():
            merged[key] = merged.get(key, 0) + n
    return merged


def histogram_percentile(histogram: dict[int, int], fraction: float) -> int | None:
    """The smallest value with at least `fraction` of the rows at or below it (nearest rank); None without rows."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(total * fraction)), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)


def traffic_by_province(filters: ReportFilters) -> dict[str, dict[str, int]]:
    """Per province: toll segments (通行拆分明细, one per toll unit passed) and their fee (实收) in the period, the
    denominators of the province comparison's ratios (the traffic rollup). Filtered by province, vehicle class and
    the toll unit's operator; a business line does not narrow traffic."""
    rows = TrafficRollup.objects.filter(day__range=(filters.start, filters.end))
    if filters.province:
        rows = rows.filter(province=filters.province)
    if filters.vehicle_class:
        rows = rows.filter(vehicle_class=filters.vehicle_class)
    if filters.operator:
        rows = rows.filter(operator_id=filters.operator)
    grouped = rows.values_list("province").annotate(n=Sum("segments"), fee=Sum("fee")).order_by()
    return {province: {"segments": int(n), "fee": int(fee)} for province, n, fee in grouped}


def support_days(filters: ReportFilters) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Per day: tickets opened, closed, overdue at the day's end, actions; and the actions by type."""
    rows = SupportRollup.objects.filter(day__range=(filters.start, filters.end))
    if filters.province:
        rows = rows.filter(province=filters.province)
    per_day: dict[dt.date, dict[str, Any]] = {}
    actions: dict[str, int] = {}
    for row in rows.order_by("day").values("day", "tickets_opened", "tickets_closed", "tickets_overdue", "actions"):
        entry = per_day.setdefault(row["day"], {"day": row["day"], "opened": 0, "closed": 0, "overdue": 0})
        entry["opened"] += row["tickets_opened"]
        entry["closed"] += row["tickets_closed"]
        entry["overdue"] += row["tickets_overdue"]
        for action, count in row["actions"].items():
            actions[action] = actions.get(action, 0) + count
    return list(per_day.values()), actions


def operator_names(keys: list[int]) -> dict[int, str]:
    return dict(Operator.objects.filter(pk__in=keys).values_list("pk", "name"))


def template_for(slug: str) -> ReportTemplate | None:
    return REGISTRY.get(slug)


def previous_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last full calendar month before `today`."""
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end


def _has_documents(start: dt.date, end: dt.date, province: str | None) -> bool:
    rows = DocumentRollup.objects.filter(day__range=(start, end))
    return (rows.filter(province=province) if province else rows).exists()


def default_month(today: dt.date, province: str | None) -> tuple[dt.date, dt.date, bool]:
    """The period a monthly template opens on: the last full month, as a manager expects of a monthly report; when
    that month has no documents at all (a new installation, or the demo, whose documents are issued on the day it is
    set up) the current month so far, if it has some. Returns (start, end, fell back to the month so far)."""
    start, end = previous_month(today)
    if not _has_documents(start, end, province) and _has_documents(today.replace(day=1), today, province):
        return today.replace(day=1), today, True
    return start, end, False
