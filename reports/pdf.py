"""The print-grade A4 PDF report (WeasyPrint): a header with the filters, the time and the user; KPI figures; every
dashboard chart as vector SVG drawn from the same figures (reports/svg.py); tables that paginate with repeated
headers. One font, WenQuanYi Micro Hei, embedded as a subset; nothing is fetched (data: URIs only).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from invoicing.models import BusinessLine, DocumentKind
from piaogen.identifiers import PROVINCE_NAMES, VehicleClass
from piaogen.money import format_yuan
from piaogen.pdf import PdfStyle, pdf_bytes
from reports.catalog import Figure, ReportTemplate, cell_text
from reports.charts import dashboard_charts, single_series, template_charts, template_figure
from reports.dashboard import change_ratio, dashboard_data
from reports.exports import Fen, Ratio
from reports.filters import BEIJING, ReportFilters
from reports.svg import figure_svg
from tolling.models import Operator

TEMPLATE = "reports/pdf/report.html"
TEMPLATE_PDF = "reports/pdf/template.html"
CSS_TEMPLATE = "reports/pdf/report.css"


PDF_STYLE = PdfStyle(CSS_TEMPLATE)
"""The WeasyPrint setup of the reports (``piaogen.pdf``): WeasyPrint's own parser and user-agent stylesheet."""


def filter_labels(filters: ReportFilters) -> list[tuple[str, str]]:
    """The filters in words, for the PDF header and the e-mail."""
    labels = [(_("日期"), f"{filters.start:%Y-%m-%d} — {filters.end:%Y-%m-%d}")]
    labels.append(
        (_("省份"), PROVINCE_NAMES.get(filters.province, filters.province) if filters.province else _("全国"))
    )
    if filters.business_line:
        labels.append((_("业务线"), str(BusinessLine(filters.business_line).label)))
    if filters.operator:
        name = Operator.objects.filter(pk=filters.operator).values_list("name", flat=True).first()
        labels.append((_("销售方"), name or str(filters.operator)))
    if filters.vehicle_class:
        labels.append((_("收费车型"), str(VehicleClass(filters.vehicle_class).label)))
    if filters.document_kind:
        labels.append((_("票据种类"), str(DocumentKind(filters.document_kind).label)))
    return labels


def _change(current: int, previous: int) -> str:
    ratio = change_ratio(current, previous)
    return "—" if ratio is None else f"{ratio:+.1%}"


def report_context(filters: ReportFilters, *, user_label: str, now: dt.datetime | None = None) -> dict[str, Any]:
    data = dashboard_data(filters)
    charts = dashboard_charts(data, lambda rows, **overrides: "")
    t, p = data.totals, data.previous
    kinds = dict(DocumentKind.choices)
    lines = dict(BusinessLine.choices)
    return {
        "filters": filter_labels(filters),
        "generated_at": timezone.localtime(now or timezone.now(), BEIJING),
        "user_label": user_label,
        "kpis": [
            {"label": _("开票张数"), "value": f"{t.documents:,}", "change": _change(t.documents, p.documents)},
            {"label": _("红冲张数"), "value": f"{t.reversals:,}", "change": _change(t.reversals, p.reversals)},
            {
                "label": _("价税合计"),
                "value": format_yuan(t.amount_gross),
                "change": _change(t.amount_gross, p.amount_gross),
            },
            {"label": _("税额"), "value": format_yuan(t.amount_tax), "change": _change(t.amount_tax, p.amount_tax)},
        ],
        "charts": [{"title": chart.title, "svg": mark_safe(figure_svg(chart.figure))} for chart in charts],  # noqa: S308  our own SVG, text escaped
        "days": [
            {
                "day": row["key"],
                "documents": row["documents"],
                "reversals": row["reversals"],
                "gross": format_yuan(row["amount_gross"]),
                "tax": format_yuan(row["amount_tax"]),
            }
            for row in data.by_day
        ],
        "operators": [
            {
                "name": row["label"],
                "documents": row["documents"],
                "gross": format_yuan(row["amount_gross"]),
                "tax": format_yuan(row["amount_tax"]),
            }
            for row in data.by_operator
        ],
        "lines": [
            {
                "name": lines.get(row["key"], row["key"]),
                "documents": row["documents"],
                "gross": format_yuan(row["amount_gross"]),
                "tax": format_yuan(row["amount_tax"]),
                "kind_names": kinds,
            }
            for row in data.by_business_line
        ],
        "uploads": data.uploads_by_province,
    }


def report_pdf_bytes(filters: ReportFilters, *, user_label: str, now: dt.datetime | None = None) -> bytes:
    with translation.override("zh-hans"):
        html = render_to_string(TEMPLATE, report_context(filters, user_label=user_label, now=now))
    return pdf_bytes(html, PDF_STYLE)


def template_pdf_context(
    template: ReportTemplate,
    filters: ReportFilters,
    *,
    user_label: str,
    as_of: dt.datetime | None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    data = template.build(filters)
    charts = template_charts(data, lambda rows, **overrides: "")
    tiles = [
        {
            "label": tile.label,
            "value": cell_text(Fen(tile.value) if tile.unit == "money" else
                               Ratio(tile.value) if tile.unit == "ratio" else tile.value),
            "change": "—" if tile.change is None else f"{tile.change:+.1%}",
        }
        for tile in data.tiles
    ]  # fmt: skip
    tables = [
        {
            "title": table.title,
            "note": table.note,
            "columns": table.columns,
            "rows": [[cell_text(cell) for cell in row.cells] for row in table.rows],
        }
        for table in data.tables
    ]
    return {
        "title": str(template.title),
        "question": str(template.question),
        "filters": filter_labels(filters),
        "generated_at": timezone.localtime(now or timezone.now(), BEIJING),
        "as_of": timezone.localtime(as_of, BEIJING) if as_of else None,
        "user_label": user_label,
        "tiles": tiles,
        "charts": [_chart_svgs(figure, chart.figure) for figure, chart in zip(data.figures, charts, strict=True)],
        "tables": tables,
        "notes": data.notes,
    }


def _chart_svgs(figure: Figure, plotly_figure: dict[str, Any]) -> dict[str, Any]:
    """A template chart as vector SVG; small multiples as one small SVG per series, on a grid."""
    if figure.kind != "multiples":
        return {"title": figure.title, "svg": mark_safe(figure_svg(plotly_figure))}  # noqa: S308  our SVG, text escaped
    parts = [
        mark_safe(figure_svg(template_figure(part, lambda rows, **o: ""), width=330, height=170))  # noqa: S308
        for part in single_series(figure)
    ]
    return {"title": figure.title, "multiples": parts}


def template_pdf_bytes(
    template: ReportTemplate,
    filters: ReportFilters,
    *,
    user_label: str,
    as_of: dt.datetime | None,
    now: dt.datetime | None = None,
) -> bytes:
    """A template's print-grade A4 PDF: the same figures as its page, charts as vector SVG."""
    with translation.override("zh-hans"):
        context = template_pdf_context(template, filters, user_label=user_label, as_of=as_of, now=now)
        html = render_to_string(TEMPLATE_PDF, context)
    return pdf_bytes(html, PDF_STYLE)
