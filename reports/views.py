"""Report pages: the dashboard, the drill-down lists behind every number, exports, the PDF report, background export
jobs and scheduled reports. Every page reads the filter bar from the URL through `filters_for`, which pins a
province-bound user to their province; objects (export jobs, schedules) are fetched through scoped helpers (404).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from piaogen.access import role_required
from piaogen.audit import audit_record
from piaogen.models import User
from reports.catalog import REGISTRY, Drill, ReportData, ReportTemplate, cell_text, template_for
from reports.charts import dashboard_charts, template_charts
from reports.dashboard import change_ratio, dashboard_data_cached
from reports.exports import (
    Fen,
    Ratio,
    csv_chunks,
    csv_value,
    export_filename,
    export_job_create,
    export_spec,
    exports_for,
    sync_limit,
    template_xlsx_write,
    xlsx_write,
)
from reports.filters import ReportFilters, filter_form, filters_for
from reports.labels import narrow_labels
from reports.models import ExportJob, ExportKind, ExportStatus, SavedView
from reports.pdf import report_pdf_bytes, template_pdf_bytes
from reports.rollups import rollups_as_of
from reports.rows import narrowing
from reports.scheduling import saved_views_for
from reports.selectors import REPORT_ROLES, SCHEDULERS, drill_url, template_filters, template_period

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_SIZE = 50


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _kpi(label: str, current: int, previous: int, *, money: bool, url: str) -> dict[str, Any]:
    ratio = change_ratio(current, previous)
    change = "—" if ratio is None else f"{ratio:+.1%}"
    return {"label": label, "value": current, "money": money, "ratio": ratio, "change": change, "url": url}


@role_required(*REPORT_ROLES)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    filters = filters_for(user, request.GET)
    data = dashboard_data_cached(filters)
    drill = drill_url(filters, user)
    charts = dashboard_charts(data, drill)
    documents_url = drill("documents")
    t, p = data.totals, data.previous
    kpis = [
        # 开票张数 counts blue documents: its list leaves the red-letter ones out (a number = its rows)
        _kpi(_("开票张数"), t.documents, p.documents, money=False, url=drill("documents", blue=1)),
        _kpi(_("红冲张数"), t.reversals, p.reversals, money=False, url=drill("documents", red=1)),
        _kpi(_("价税合计"), t.amount_gross, p.amount_gross, money=True, url=documents_url),
        _kpi(_("税额"), t.amount_tax, p.amount_tax, money=True, url=documents_url),
    ]
    context = {
        "filters": filters,
        "form": filter_form(filters, user),
        "query": filters.query(),
        "kpis": kpis,
        "charts": charts,
        "chart_json": [{"id": chart.id, "figure": chart.figure} for chart in charts],
        "uploads": data.uploads_by_province,
        "uploads_url": drill("uploads"),
        "previous": filters.previous(),
        "as_of": rollups_as_of(),
    }
    return render(request, "reports/dashboard.html", context)


# --- drill-down lists -----------------------------------------------------------------------------------------------


def _record_url(kind: str, obj: Any) -> str | None:
    name = {"documents": "document-detail", "uploads": "upload-detail", "tickets": "ticket-detail"}.get(kind)
    if name is None:  # a search has no page of its own
        return None
    try:
        return reverse(name, args=[obj.pk])
    except NoReverseMatch:  # support's ticket page may not exist yet
        return None


def _rows_filters(request: HttpRequest, kind: str) -> tuple[ReportFilters, dict[str, str]]:
    """The filters, and the narrowing parameters the drill link carries (failed batches, red documents…)."""
    return filters_for(_user(request), request.GET), narrowing(kind, request.GET)


def _rows_page(request: HttpRequest, kind: str) -> HttpResponse:
    user = _user(request)
    filters, narrowed = _rows_filters(request, kind)
    spec = export_spec(kind, narrowed)
    page = Paginator(spec.rows(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"url": _record_url(kind, obj), "cells": [csv_value(v) for v in spec.row(obj)]} for obj in page.object_list]
    context = {
        "kind": kind,
        "title": ExportKind(kind).label,
        "filters": filters,
        "form": filter_form(filters, user),
        "narrowed": narrowed,
        "narrow_label": _("、").join(narrow_labels(kind, narrowed)),
        "headers": spec.headers(),
        "link_column": 1 if kind == ExportKind.DOCUMENTS else 0,  # the document number, the batch or ticket id
        "rows": rows,
        "page": page,
        "query": filters.query(**narrowed),
        "dashboard_url": f"{reverse('report-dashboard')}?{filters.query()}",
    }
    return render(request, "reports/rows.html", context)


@role_required(*REPORT_ROLES)
@require_GET
def document_list(request: HttpRequest) -> HttpResponse:
    return _rows_page(request, ExportKind.DOCUMENTS)


@role_required(*REPORT_ROLES)
@require_GET
def upload_list(request: HttpRequest) -> HttpResponse:
    return _rows_page(request, ExportKind.UPLOADS)


@role_required(*REPORT_ROLES)
@require_GET
def ticket_list(request: HttpRequest) -> HttpResponse:
    return _rows_page(request, ExportKind.TICKETS)


@role_required(*REPORT_ROLES)
@require_GET
def search_list(request: HttpRequest) -> HttpResponse:
    return _rows_page(request, ExportKind.SEARCHES)


# --- exports --------------------------------------------------------------------------------------------------------


def _export(request: HttpRequest, kind: str, fmt: str) -> HttpResponseBase:
    user = _user(request)
    filters, narrowed = _rows_filters(request, kind)
    spec = export_spec(kind, narrowed)
    audit_record(actor=user, action="report.export", object_type=kind, object_id=fmt,
                 province=filters.province or "", after=filters.params(), request=request)  # fmt: skip
    if spec.rows(filters).count() > sync_limit():
        job = export_job_create(user=user, kind=kind, fmt=fmt, query=request.GET)
        messages.info(request, _("导出行数较多，已转入后台生成，完成后可在此下载。"))
        return redirect("report-export-job", job_id=job.pk)
    filename = export_filename(kind, filters, fmt)
    if fmt == "csv":
        response = StreamingHttpResponse(csv_chunks(spec, filters), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    handle = tempfile.TemporaryFile()  # noqa: SIM115  FileResponse closes it
    xlsx_write(spec, filters, handle)
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX)


@role_required(*REPORT_ROLES)
@require_GET
def document_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    return _export(request, ExportKind.DOCUMENTS, fmt)


@role_required(*REPORT_ROLES)
@require_GET
def upload_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    return _export(request, ExportKind.UPLOADS, fmt)


@role_required(*REPORT_ROLES)
@require_GET
def ticket_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    return _export(request, ExportKind.TICKETS, fmt)


@role_required(*REPORT_ROLES)
@require_GET
def search_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    return _export(request, ExportKind.SEARCHES, fmt)


def export_job_for(user: User, job_id: int) -> ExportJob:
    return get_object_or_404(exports_for(user), pk=job_id)


@role_required(*REPORT_ROLES)
@require_GET
def export_list(request: HttpRequest) -> HttpResponse:
    jobs = exports_for(_user(request)).order_by("-created_at")
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "reports/exports.html", {"page": page})


@role_required(*REPORT_ROLES)
@require_GET
def export_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = export_job_for(_user(request), job_id)
    template = "reports/_export_progress.html" if request.headers.get("HX-Request") else "reports/export_job.html"
    return render(request, template, {"job": job, "running": job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)})


@role_required(*REPORT_ROLES)
@require_GET
def export_download(request: HttpRequest, job_id: int) -> FileResponse:
    job = export_job_for(_user(request), job_id)
    if job.status != ExportStatus.DONE or not job.file:
        raise Http404
    name = (job.file.name or "").rsplit("/", 1)[-1]
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=name)


# --- the PDF report -------------------------------------------------------------------------------------------------


@role_required(*REPORT_ROLES)
@require_GET
def report_pdf(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    filters = filters_for(user, request.GET)
    label = _("%(name)s（%(detail)s）") % {"name": user.get_full_name() or user.get_username(),
                                         "detail": user.get_role_display()}  # fmt: skip
    pdf = report_pdf_bytes(filters, user_label=label)
    audit_record(actor=user, action="report.pdf", province=filters.province or "", after=filters.params(),
                 request=request)  # fmt: skip
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{export_filename("report", filters, "pdf")}"'
    return response


# --- report templates (reports/catalog.py) -------------------------------------------------------------------------


def _template_or_404(slug: str) -> ReportTemplate:
    template = template_for(slug)
    if template is None:
        raise Http404
    return template


def _sort_key(cell: Any) -> str:
    """A cell's value for sorting a table on the page: the number itself, or the text; empty sorts last."""
    if cell is None:
        return ""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return repr(float(cell))
    return cell_text(cell)


def template_context(data: ReportData, drill: Callable[..., str]) -> dict[str, Any]:
    """The template's data with drill URLs and display text, for the page."""

    def url(target: Drill | None) -> str:
        return drill(target[0], **target[1]) if target else ""

    tiles = [
        {
            "label": tile.label,
            "value": cell_text(Fen(tile.value) if tile.unit == "money" else
                               Ratio(tile.value) if tile.unit == "ratio" else tile.value),
            "change": "—" if tile.change is None else f"{tile.change:+.1%}",
            "ratio": tile.change,
            "has_previous": tile.previous is not None and tile.unit != "ratio",
            "url": url(tile.drill),
            "key": tile.key,
        }
        for tile in data.tiles
    ]  # fmt: skip
    tables = [
        {
            "id": table.id,
            "title": table.title,
            "note": table.note,
            "columns": table.columns,
            "sortable": table.sortable,
            "rows": [
                [
                    {
                        "text": cell_text(cell),
                        "url": url(row.drills.get(index)),
                        "num": column.unit != "text",
                        "sort": _sort_key(cell),
                    }
                    for index, (cell, column) in enumerate(zip(row.cells, table.columns, strict=True))
                ]
                for row in table.rows
            ],
        }
        for table in data.tables
    ]
    return {"tiles": tiles, "tables": tables}


def view_url(view: SavedView) -> str:
    return f"{reverse('report-template', args=[view.template])}?{view.query}"


def views_context(user: User) -> list[dict[str, Any]]:
    titles = {slug: str(template.title) for slug, template in REGISTRY.items()}
    return [
        {"view": view, "url": view_url(view), "title": titles.get(view.template, ""), "mine": view.owner_id == user.pk,
         "schedule_url": f"{reverse('report-schedules')}?{urlencode({'view': view.pk})}"}
        for view in saved_views_for(user)
        if view.template in titles
    ]  # fmt: skip


@role_required(*REPORT_ROLES)
@require_GET
def template_gallery(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    context = {
        "templates": list(REGISTRY.values()),
        "as_of": rollups_as_of(),
        "saved_views": views_context(user),
        "may_schedule": user.has_role(*SCHEDULERS),
    }
    return render(request, "reports/gallery.html", context)


@role_required(*REPORT_ROLES)
@require_GET
def template_page(request: HttpRequest, slug: str) -> HttpResponse:
    template = _template_or_404(slug)
    user = _user(request)
    filters, period_note = template_period(template, user, request.GET)
    data = template.build(filters)
    drill = drill_url(filters, user)
    charts = template_charts(data, drill)
    context = {
        "template": template,
        "period_note": period_note,
        "data": data,
        "filters": filters,
        "form": filter_form(filters, user),
        "query": filters.query(),
        "charts": charts,
        "chart_json": [{"id": chart.id, "figure": chart.figure} for chart in charts],
        "previous": filters.previous(),
        "as_of": rollups_as_of(),
        "may_schedule": user.has_role(*SCHEDULERS),
        **template_context(data, drill),
    }
    return render(request, "reports/template.html", context)


def _user_label(user: User) -> str:
    return _("%(name)s（%(detail)s）") % {"name": user.get_full_name() or user.get_username(),
                                        "detail": user.get_role_display()}  # fmt: skip


@role_required(*REPORT_ROLES)
@require_GET
def template_pdf(request: HttpRequest, slug: str) -> HttpResponse:
    template = _template_or_404(slug)
    user = _user(request)
    filters = template_filters(template, user, request.GET)
    pdf = template_pdf_bytes(template, filters, user_label=_user_label(user), as_of=rollups_as_of())
    audit_record(actor=user, action="report.pdf", object_type="template", object_id=slug,
                 province=filters.province or "", after=filters.params(), request=request)  # fmt: skip
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{export_filename(slug, filters, "pdf")}"'
    return response


@role_required(*REPORT_ROLES)
@require_GET
def template_xlsx(request: HttpRequest, slug: str) -> FileResponse:
    template = _template_or_404(slug)
    user = _user(request)
    filters = template_filters(template, user, request.GET)
    data = template.build(filters)
    audit_record(actor=user, action="report.export", object_type="template", object_id=slug,
                 province=filters.province or "", after=filters.params(), request=request)  # fmt: skip
    handle = tempfile.TemporaryFile()  # noqa: SIM115  FileResponse closes it
    template_xlsx_write(data, handle)
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=export_filename(slug, filters, "xlsx"), content_type=XLSX)
