"""Query statistics pages (查询统计): the table and chart, the rows behind every cell, and their exports. The query
lives in the URL; ``support.stats.query_from`` pins a province user to their province."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from piaogen.access import role_required
from piaogen.audit import audit_record
from piaogen.models import Role, User
from support.stats import Cell, StatsQuery, StatsTooBroad, query_from, statistics, stats_form
from support.stats_charts import stats_chart
from support.stats_rows import (
    COLUMNS,
    EXPORT_MAX_ROWS,
    Column,
    csv_bytes,
    display,
    drill_count,
    drill_page,
    drill_rows,
    table_columns,
    table_rows,
    xlsx_write,
)

STATS_ROLES = (Role.AGENT, Role.PROVINCE, Role.MANAGER, Role.MAINTAINER)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _url(name: str, query: StatsQuery) -> str:
    return f"{reverse(name)}?{urlencode(query.params())}"


def cell_url(cell: Cell) -> str:
    return _url("stats-rows", cell.query)


@role_required(*STATS_ROLES)
@require_GET
def stats_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    query = query_from(request.GET, user=user)
    try:
        stats = statistics(user=user, query=query)
    except StatsTooBroad as error:
        return _too_broad(request, user, query, error, "support/stats.html")
    columns = table_columns(stats)
    money = next((m.key for m in reversed(stats.measures) if m.money), None)
    charts = [{"id": "stats-count", "figure": stats_chart(stats, cell_url)}]
    if money:
        charts.append({"id": "stats-amount", "figure": stats_chart(stats, cell_url, measure=money)})
    rows = [
        {
            "labels": cell.labels,
            "values": [display(cell.values[m.key], "money" if m.money else "count") for m in stats.measures],
            "url": cell_url(cell),
        }
        for cell in stats.cells
    ]
    context = {
        "query": query,
        "form": stats_form(query, user),
        "ignored": query.ignored(),
        "rejected": query.rejected(),
        "dimension_columns": columns[: len(stats.dimensions)],
        "measure_columns": columns[len(stats.dimensions) :],
        "column_count": len(columns),
        "rows": rows,
        "total": [display(stats.total.get(m.key, 0), "money" if m.money else "count") for m in stats.measures],
        "total_url": _url("stats-rows", query),
        "charts": charts,
        "params": urlencode(query.params()),
    }
    return render(request, "support/stats.html", context)


@role_required(*STATS_ROLES)
@require_GET
def stats_rows(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    query = query_from(request.GET, user=user)
    try:
        drill = drill_page(user=user, query=query, page=request.GET.get("page"))
    except StatsTooBroad as error:
        return _too_broad(request, user, query, error, "support/stats_rows.html")
    rows = [
        {
            "url": row.url,
            "cells": [
                {"text": display(v, c.kind), "num": c.kind in ("money", "count")}
                for v, c in zip(row.values, drill.columns, strict=True)
            ],
        }
        for row in drill.rows
    ]
    context = {
        "query": query,
        "subject": query.spec.label,
        "form": stats_form(query, user),
        "ignored": query.ignored(),
        "rejected": query.rejected(),
        "columns": drill.columns,
        "rows": rows,
        "page": drill.page,
        "total": drill.total,
        "params": urlencode(query.params()),
        "too_many": drill.total > EXPORT_MAX_ROWS,
        "export_limit": EXPORT_MAX_ROWS,
    }
    return render(request, "support/stats_rows.html", context)


@role_required(*STATS_ROLES)
@require_GET
def stats_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The statistics table as CSV or XLSX (with the totals)."""
    user = _user(request)
    query = query_from(request.GET, user=user)
    try:
        stats = statistics(user=user, query=query)
    except StatsTooBroad as error:
        return HttpResponse(error.message(), status=400, content_type="text/plain; charset=utf-8")
    _audit(request, user, query, fmt, "table")
    return _send(fmt, f"stats-{query.subject}", table_columns(stats), table_rows(stats))


@role_required(*STATS_ROLES)
@require_GET
def stats_rows_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The rows behind a cell as CSV or XLSX; refused (with the count) beyond ``EXPORT_MAX_ROWS`` rows."""
    user = _user(request)
    query = query_from(request.GET, user=user)
    try:
        total = drill_count(user=user, query=query)
    except StatsTooBroad as error:
        return HttpResponse(error.message(), status=400, content_type="text/plain; charset=utf-8")
    if total > EXPORT_MAX_ROWS:
        message = _("共%(total)s行，超过导出上限%(limit)s行，请缩小筛选范围。") % {
            "total": f"{total:,}",
            "limit": f"{EXPORT_MAX_ROWS:,}",
        }
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    _audit(request, user, query, fmt, "rows")
    rows = ([*row.values] for row in drill_rows(user=user, query=query))
    return _send(fmt, f"stats-{query.subject}-rows", COLUMNS[query.subject], rows)


def _too_broad(
    request: HttpRequest, user: User, query: StatsQuery, error: StatsTooBroad, template: str
) -> HttpResponse:
    """The page with the filters and why there is no table: too many items to compute their invoice state."""
    context = {
        "query": query,
        "subject": query.spec.label,
        "form": stats_form(query, user),
        "ignored": query.ignored(),
        "rejected": query.rejected(),
        "too_broad": error.message(),
        "params": urlencode(query.params()),
    }
    return render(request, template, context)


def _audit(request: HttpRequest, user: User, query: StatsQuery, fmt: str, what: str) -> None:
    audit_record(actor=user, action="stats.export", object_type=what, object_id=fmt,
                 province=query.province or "", after=query.params(), request=request)  # fmt: skip


def _send(fmt: str, name: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> HttpResponseBase:
    filename = f"{name}.{fmt}"
    if fmt == "csv":
        response = StreamingHttpResponse(csv_bytes(columns, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    handle = tempfile.TemporaryFile()  # noqa: SIM115  FileResponse closes it
    xlsx_write(columns, rows, handle)
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX)
