"""The dashboard's numbers as plain data (style.md rule 22), read from the rollups only, never the fact tables.

`dashboard_data(filters)` makes three queries: one scan of the document rollup with GROUPING SETS (totals, per day,
province, business line, operator, vehicle class, document kind), one for the previous period's totals, and one
each for upload health and support workload. Charts (reports/charts.py) and the PDF (reports/pdf.py) take it as is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Max, Sum
from django.utils.translation import get_language

from piaogen.identifiers import province_label
from reports.filters import ReportFilters
from reports.models import RollupWatermark, SupportRollup, UploadRollup
from tolling.models import Operator

TOP_OPERATORS = 15
CACHE_SECONDS = 15 * 60  # beat refreshes the rollups every 15 minutes; a refresh changes the key anyway

logger = logging.getLogger(__name__)

DIMENSIONS = ("day", "province", "business_line", "operator_id", "vehicle_class", "document_kind")


@dataclass
class Totals:
    documents: int = 0
    reversals: int = 0
    amount_gross: int = 0  # fen
    amount_tax: int = 0  # fen


@dataclass
class DashboardData:
    filters: ReportFilters
    totals: Totals
    previous: Totals
    by_day: list[dict[str, Any]] = field(default_factory=list)
    by_province: list[dict[str, Any]] = field(default_factory=list)
    by_business_line: list[dict[str, Any]] = field(default_factory=list)
    by_operator: list[dict[str, Any]] = field(default_factory=list)
    by_vehicle_class: list[dict[str, Any]] = field(default_factory=list)
    by_document_kind: list[dict[str, Any]] = field(default_factory=list)
    uploads_by_province: list[dict[str, Any]] = field(default_factory=list)
    support_by_day: list[dict[str, Any]] = field(default_factory=list)
    support_actions: list[dict[str, Any]] = field(default_factory=list)  # audit-trail actions by type


def rollup_where(filters: ReportFilters) -> tuple[str, list[Any]]:
    clauses = ["day BETWEEN %s AND %s"]
    params: list[Any] = [filters.start, filters.end]
    for column, value in (
        ("province", filters.province),
        ("business_line", filters.business_line),
        ("operator_id", filters.operator),
        ("vehicle_class", filters.vehicle_class),
        ("document_kind", filters.document_kind),
    ):
        if value:
            clauses.append(f"{column} = %s")
            params.append(value)
    return " AND ".join(clauses), params


def document_totals(filters: ReportFilters) -> Totals:
    where, params = rollup_where(filters)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(documents), 0), coalesce(sum(reversals), 0), coalesce(sum(amount_gross), 0), "  # noqa: S608
            f"coalesce(sum(amount_tax), 0) FROM reports_documentrollup WHERE {where}",
            params,
        )
        row = cursor.fetchone()
    return Totals(*(int(value) for value in row))


def _document_breakdowns(filters: ReportFilters) -> tuple[Totals, dict[str, list[dict[str, Any]]]]:
    where, params = rollup_where(filters)
    sets = ", ".join(f"({dim})" for dim in DIMENSIONS)
    grouping = ", ".join(f"GROUPING({dim})" for dim in DIMENSIONS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(DIMENSIONS)}, ARRAY[{grouping}], sum(documents), sum(reversals), "  # noqa: S608
            f"sum(amount_gross), sum(amount_tax) FROM reports_documentrollup WHERE {where} "
            f"GROUP BY GROUPING SETS ({sets}, ())",
            params,
        )
        rows = cursor.fetchall()
    totals = Totals()
    out: dict[str, list[dict[str, Any]]] = {dim: [] for dim in DIMENSIONS}
    for row in rows:
        flags = row[len(DIMENSIONS)]
        figures = [int(value or 0) for value in row[len(DIMENSIONS) + 1 :]]
        if all(flags):
            totals = Totals(*figures)
            continue
        index = flags.index(0)
        dim = DIMENSIONS[index]
        out[dim].append(
            {
                "key": row[index],
                "documents": figures[0],
                "reversals": figures[1],
                "amount_gross": figures[2],
                "amount_tax": figures[3],
            }
        )
    return totals, out


def _uploads_by_province(filters: ReportFilters) -> list[dict[str, Any]]:
    rows = UploadRollup.objects.filter(day__range=(filters.start, filters.end))
    if filters.province:
        rows = rows.filter(province=filters.province)
    aggregated = (
        rows.values("province")
        .annotate(
            batches=Sum("batches"),
            failed=Sum("batches_failed"),
            accepted=Sum("rows_accepted"),
            duplicate=Sum("rows_duplicate"),
            rejected=Sum("rows_rejected"),
            seconds=Sum("duration_seconds"),
        )
        .order_by("province")
    )
    return [
        {
            "key": row["province"],
            "label": province_label(row["province"]),
            "batches": row["batches"],
            "batches_failed": row["failed"],
            "rows_accepted": row["accepted"],
            "rows_duplicate": row["duplicate"],
            "rows_rejected": row["rejected"],
            "duration_seconds": row["seconds"],
        }
        for row in aggregated
    ]


def _support(filters: ReportFilters) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = SupportRollup.objects.filter(day__range=(filters.start, filters.end))
    if filters.province:
        rows = rows.filter(province=filters.province)
    per_day: dict[dt.date, dict[str, Any]] = {}
    actions: dict[str, int] = {}
    for row in rows.order_by("day").values("day", "tickets_opened", "tickets_closed", "tickets_overdue", "actions"):
        entry = per_day.setdefault(
            row["day"], {"key": row["day"], "opened": 0, "closed": 0, "overdue": 0, "actions": 0}
        )
        entry["opened"] += row["tickets_opened"]
        entry["closed"] += row["tickets_closed"]
        entry["overdue"] += row["tickets_overdue"]
        entry["actions"] += sum(row["actions"].values())
        for action, count in row["actions"].items():
            actions[action] = actions.get(action, 0) + count
    by_type = [{"key": action, "count": count} for action, count in sorted(actions.items(), key=lambda a: -a[1])]
    return list(per_day.values()), by_type


def dashboard_data(filters: ReportFilters) -> DashboardData:
    totals, breakdowns = _document_breakdowns(filters)
    support_by_day, support_actions = _support(filters)
    previous = document_totals(filters.previous())

    operators = sorted(breakdowns["operator_id"], key=lambda row: -row["amount_gross"])[:TOP_OPERATORS]
    names = dict(Operator.objects.filter(pk__in=[row["key"] for row in operators]).values_list("pk", "name"))
    for row in operators:
        row["label"] = names.get(row["key"], str(row["key"]))
    for row in breakdowns["province"]:
        row["label"] = province_label(row["key"])

    return DashboardData(
        filters=filters,
        totals=totals,
        previous=previous,
        by_day=sorted(breakdowns["day"], key=lambda row: row["key"]),
        by_province=sorted(breakdowns["province"], key=lambda row: row["key"]),
        by_business_line=sorted(breakdowns["business_line"], key=lambda row: row["key"]),
        by_operator=operators,
        by_vehicle_class=sorted(breakdowns["vehicle_class"], key=lambda row: (row["key"] is None, row["key"] or 0)),
        by_document_kind=sorted(breakdowns["document_kind"], key=lambda row: row["key"]),
        uploads_by_province=_uploads_by_province(filters),
        support_by_day=support_by_day,
        support_actions=support_actions,
    )


def dashboard_data_cached(filters: ReportFilters) -> DashboardData:
    """`dashboard_data`, kept in the cache until the rollups are next refreshed: the numbers come from the rollups
    only, so they cannot change before a refresh moves a watermark, and the watermarks' last update is part of the
    key (with the filters and the language of the labels). Nothing is cached before the first refresh, and a cache
    that fails is bypassed, never an error."""
    generation = RollupWatermark.objects.aggregate(last=Max("updated_at"))["last"]
    if generation is None:
        return dashboard_data(filters)
    digest = hashlib.sha256(filters.query().encode()).hexdigest()[:32]
    key = f"dashboard:{generation.timestamp()}:{get_language()}:{digest}"
    try:
        data: DashboardData | None = cache.get(key)
    except Exception:  # the cache is an optimisation: Redis down means computing, as before it existed
        logger.warning("dashboard cache unavailable", exc_info=True)
        return dashboard_data(filters)
    if data is None:
        data = dashboard_data(filters)
        try:
            cache.set(key, data, CACHE_SECONDS)
        except Exception:
            logger.warning("dashboard cache unavailable", exc_info=True)
    return data


def change_ratio(current: int, previous: int) -> float | None:
    """Period-over-period change (0.25 = +25 %); None when the previous period had nothing."""
    if previous == 0:
        return None
    return (current - previous) / abs(previous)
