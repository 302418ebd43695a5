"""The one module that turns dashboard data (reports/dashboard.py) into plotly figures. No queries here.

Figures are built as plain plotly figure dicts (the JSON plotly.js draws): building `plotly.graph_objects` and
serialising them cost ~15 ms a figure in validation and deep copies, most of the page's budget. The tests check
that every figure is valid by loading it into `go.Figure`. Every point carries its drill-down URL in `customdata`;
static/js/dashboard.js follows it on click. The same figures become vector SVG for the PDF (reports/svg.py).

plotly draws every text (category names, trace names, hover text) as pseudo-HTML: ``<a href>`` in a name becomes a
working link, ``<b>`` bold. Every text that comes from data (operator, province and action names, labels) goes
through `_text` (``html.escape``), so plotly shows it as typed; only this module's own ``<br>`` remains markup.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from invoicing.models import BusinessLine, DocumentKind
from piaogen.identifiers import VehicleClass
from piaogen.money import format_yuan
from reports.catalog import Figure, ReportData
from reports.dashboard import DashboardData
from reports.labels import action_label

DrillUrl = Callable[..., str]
"""drill(rows, **filter_overrides) → the URL of the rows behind a point ("documents", "uploads", "tickets",
"actions"), or "" where the user may not open those rows (the point then does not navigate)."""

BLUE, TEAL, ORANGE, RED, GREY = "#1f5fa8", "#2a9d8f", "#e76f51", "#c0392b", "#7f8c8d"
FONT = "WenQuanYi Micro Hei, Noto Sans CJK SC, Microsoft YaHei, sans-serif"


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    figure: dict[str, Any]


def _text(value: object) -> str:
    """A text from data as plotly must receive it: ``<``, ``>`` and ``&`` escaped (no pseudo-HTML, no links)."""
    return html.escape(str(value), quote=False)


def _texts(values: Iterable[object]) -> list[str]:
    return [_text(value) for value in values]


def _yuan(fen: int) -> float:
    return fen / 100  # plotting only: amounts stay integer fen everywhere else


def _layout(title: str, *, horizontal: bool = False, height: int = 320) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 15}},
        "font": {"family": FONT, "size": 12},
        "height": height,
        "margin": {"l": 160 if horizontal else 60, "r": 20, "t": 50, "b": 60},
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "closest",
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
        "yaxis": {"gridcolor": "#e5e5e5", "automargin": True},
        "xaxis": {"automargin": True},
    }


def _figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    if not any(len(trace.get("x") or trace.get("y") or []) for trace in data):
        # nothing in the period: say so instead of drawing empty axes
        layout = {
            **layout,
            "xaxis": {**layout.get("xaxis", {}), "visible": False},
            "yaxis": {**layout.get("yaxis", {}), "visible": False},
            "annotations": [
                {"text": str(_("所选条件下暂无数据")), "showarrow": False, "font": {"size": 14, "color": "#6b7280"},
                 "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}
            ],
        }  # fmt: skip
    return {"data": data, "layout": layout}


def _bar(
    title: str, rows: list[dict[str, Any]], labels: list[str], urls: list[str], *, horizontal: bool = False
) -> dict[str, Any]:
    values = [_yuan(row["amount_gross"]) for row in rows]
    hover = [
        _("%(label)s<br>价税合计 %(gross)s<br>税额 %(tax)s<br>%(n)s 张")
        % {
            "label": label,
            "gross": format_yuan(row["amount_gross"]),
            "tax": format_yuan(row["amount_tax"]),
            "n": row["documents"],
        }
        for label, row in zip(labels, rows, strict=True)
    ]
    trace = {
        "type": "bar",
        "name": _("价税合计（元）"),
        "x": values if horizontal else labels,
        "y": labels if horizontal else values,
        "orientation": "h" if horizontal else "v",
        "marker": {"color": BLUE},
        "customdata": urls,
        "hovertext": hover,
        "hoverinfo": "text",
    }
    layout = _layout(title, horizontal=horizontal, height=max(320, 26 * len(rows) + 90) if horizontal else 320)
    if horizontal:
        layout["yaxis"]["autorange"] = "reversed"
    return _figure([trace], layout)


def _documents_chart(
    chart_id: str, title: str, rows: list[dict[str, Any]], labels: list[str], urls: list[str], **kwargs: Any
) -> Chart:
    return Chart(chart_id, title, _bar(title, rows, _texts(labels), urls, **kwargs))


def dashboard_charts(data: DashboardData, drill: DrillUrl) -> list[Chart]:
    charts: list[Chart] = []

    days = [row["key"].isoformat() for row in data.by_day]
    day_urls = [drill("documents", start=day, end=day) for day in days]
    money_hover = "%{x}<br>¥%{y:,.2f}<extra></extra>"
    daily_layout = _layout(_("按日开票金额与税额"))
    daily_layout["xaxis"]["type"] = "category"
    daily = _figure(
        [
            {"type": "bar", "name": _("价税合计（元）"), "x": days,
             "y": [_yuan(row["amount_gross"]) for row in data.by_day], "marker": {"color": BLUE},
             "customdata": day_urls, "hovertemplate": money_hover},
            {"type": "scatter", "name": _("税额（元）"), "x": days,
             "y": [_yuan(row["amount_tax"]) for row in data.by_day], "mode": "lines+markers",
             "line": {"color": ORANGE}, "customdata": day_urls, "hovertemplate": money_hover},
        ],
        daily_layout,
    )  # fmt: skip
    charts.append(Chart("chart-daily", _("按日开票金额与税额"), daily))

    provinces = data.by_province
    charts.append(
        _documents_chart(
            "chart-province",
            _("按省份"),
            provinces,
            [row["label"] for row in provinces],
            [drill("documents", province=row["key"]) for row in provinces],
        )
    )
    line_names = dict(BusinessLine.choices)
    charts.append(
        _documents_chart(
            "chart-business-line",
            _("按业务线"),
            data.by_business_line,
            [str(line_names.get(row["key"], row["key"])) for row in data.by_business_line],
            [drill("documents", business_line=row["key"]) for row in data.by_business_line],
        )
    )
    charts.append(
        _documents_chart(
            "chart-operator",
            _("按销售方（前 15 名）"),
            data.by_operator,
            [row["label"] for row in data.by_operator],
            [drill("documents", operator=row["key"]) for row in data.by_operator],
            horizontal=True,
        )
    )
    classes = [row for row in data.by_vehicle_class if row["key"] is not None]  # other lines have no class
    class_names = dict(VehicleClass.choices)
    charts.append(
        _documents_chart(
            "chart-vehicle-class",
            _("按收费车型"),
            classes,
            [str(class_names.get(row["key"], row["key"])) for row in classes],
            [drill("documents", vehicle_class=row["key"]) for row in classes],
        )
    )
    kind_names = dict(DocumentKind.choices)
    charts.append(
        _documents_chart(
            "chart-document-kind",
            _("按票据种类"),
            data.by_document_kind,
            [str(kind_names.get(row["key"], row["key"])) for row in data.by_document_kind],
            [drill("documents", document_kind=row["key"]) for row in data.by_document_kind],
        )
    )

    uploads = data.uploads_by_province
    upload_labels = _texts(row["label"] for row in uploads)
    upload_urls = [drill("uploads", province=row["key"]) for row in uploads]
    health_layout = _layout(_("各省上传健康度"))
    health_layout["barmode"] = "group"
    health = _figure(
        [
            {"type": "bar", "name": name, "x": upload_labels, "y": [row[key] for row in uploads],
             "marker": {"color": color}, "customdata": upload_urls}
            for key, name, color in (
                ("rows_accepted", _("接收行数"), TEAL),
                ("rows_duplicate", _("重复行数"), GREY),
                ("rows_rejected", _("拒绝行数"), RED),
            )
        ],
        health_layout,
    )  # fmt: skip
    charts.append(Chart("chart-uploads", _("各省上传健康度"), health))

    support_days = [row["key"].isoformat() for row in data.support_by_day]
    support_urls = [drill("tickets", start=day, end=day) for day in support_days]
    workload_layout = _layout(_("客服工作量"))
    workload_layout["xaxis"]["type"] = "category"
    workload = _figure(
        [
            {"type": "scatter", "name": name, "x": support_days, "y": [row[key] for row in data.support_by_day],
             "mode": "lines+markers", "line": {"color": color}, "customdata": support_urls}
            for key, name, color in (
                ("opened", pgettext("count", "新建工单"), BLUE),
                ("closed", _("关闭工单"), TEAL),
                ("overdue", _("超时工单"), RED),
            )
        ],
        workload_layout,
    )  # fmt: skip
    charts.append(Chart("chart-support", _("客服工作量"), workload))

    actions = data.support_actions[:20]
    labels = [html.escape(action_label(row["key"])) for row in actions]
    action_layout = _layout(_("业务操作（按类型）"), horizontal=True, height=max(320, 26 * len(actions) + 90))
    action_layout["yaxis"]["autorange"] = "reversed"
    action_chart = _figure(
        [{"type": "bar", "name": _("操作次数"), "x": [row["count"] for row in actions], "y": labels,
          "orientation": "h", "marker": {"color": TEAL},
          "customdata": [drill("actions", action=row["key"]) for row in actions]}],
        action_layout,
    )  # fmt: skip
    charts.append(Chart("chart-actions", _("业务操作（按类型）"), action_chart))
    return charts


# --- report templates (reports/catalog.py) --------------------------------------------------------------------------

PALETTE = (BLUE, ORANGE, TEAL, RED, GREY, "#8e44ad", "#16a085", "#d35400")


def _value(unit: str, value: float) -> float:
    return _yuan(int(value)) if unit == "money" else value


def _hover(unit: str) -> str:
    if unit == "money":
        return "%{hovertext}<br>¥%{value:,.2f}<extra></extra>"
    if unit == "ratio":
        return "%{hovertext}<br>%{value:.1%}<extra></extra>"
    return "%{hovertext}<br>%{value:,}<extra></extra>"


def template_figure(figure: Figure, drill: DrillUrl) -> dict[str, Any]:
    """One template figure as a plotly figure dict. Every text plotly draws is escaped (plotly renders a subset of
    HTML in labels, so a seller called `<b>…` must not become markup)."""
    horizontal = figure.kind == "hbar"
    traces = []
    for index, series in enumerate(figure.series):
        labels = [html.escape(point.label) for point in series.points]
        values = [_value(figure.unit, point.value) for point in series.points]
        value_key = "x" if horizontal else "y"
        trace: dict[str, Any] = {
            "type": "scatter" if figure.kind == "line" else "bar",
            "name": html.escape(series.name),
            value_key: values,
            ("y" if horizontal else "x"): labels,
            "customdata": [drill(point.drill[0], **point.drill[1]) if point.drill else "" for point in series.points],
            "hovertext": [html.escape(f"{series.name} · {point.label}") for point in series.points],
            # plotly's %{value} is the bar's length or the point's y
            "hovertemplate": _hover(figure.unit).replace("%{value", "%{" + value_key),
        }
        color = PALETTE[index % len(PALETTE)]
        if figure.kind == "line":
            trace.update({"mode": "lines+markers", "line": {"color": color}})
        else:
            trace.update({"marker": {"color": color}, "orientation": "h" if horizontal else "v"})
        traces.append(trace)
    rows = max((len(series.points) for series in figure.series), default=0)
    height = max(320, 26 * rows + 90) if horizontal else 340
    layout = _layout(html.escape(figure.title), horizontal=horizontal, height=height)
    layout["xaxis" if not horizontal else "yaxis"]["type"] = "category"
    if horizontal:
        layout["yaxis"]["autorange"] = "reversed"
    axis = layout["xaxis" if horizontal else "yaxis"]
    if figure.unit == "ratio":
        axis["tickformat"] = ".0%"
    elif figure.unit == "money":
        axis["tickprefix"] = "¥"
    if figure.kind == "group":
        layout["barmode"] = "group"
    if len(figure.series) == 1:
        layout["showlegend"] = False
    return _figure(traces, layout)


def small_multiples(figure: Figure, drill: DrillUrl, *, columns: int = 3) -> dict[str, Any]:
    """One small line chart per series on a grid, sharing nothing but the title: each province's trend at its own
    scale (plotly's grid with independent axes)."""
    count = max(1, len(figure.series))
    rows = -(-count // columns)
    layout = _layout(html.escape(figure.title), height=90 + 190 * rows)
    layout.update({"grid": {"rows": rows, "columns": columns, "pattern": "independent"}, "showlegend": False})
    annotations = []
    traces = []
    for index, series in enumerate(figure.series, start=1):
        suffix = "" if index == 1 else str(index)
        traces.append({
            "type": "scatter", "mode": "lines+markers", "name": html.escape(series.name),
            "x": [html.escape(point.label) for point in series.points],
            "y": [_value(figure.unit, point.value) for point in series.points],
            "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "line": {"color": PALETTE[0]},
            "customdata": [drill(point.drill[0], **point.drill[1]) if point.drill else "" for point in series.points],
            "hovertext": [html.escape(f"{series.name} · {point.label}") for point in series.points],
            "hovertemplate": _hover(figure.unit).replace("%{value", "%{y"),
        })  # fmt: skip
        layout[f"xaxis{suffix}"] = {"type": "category", "automargin": True, "showticklabels": False}
        axis: dict[str, Any] = {"gridcolor": "#e5e5e5", "automargin": True}
        if figure.unit == "money":
            axis["tickprefix"] = "¥"
        layout[f"yaxis{suffix}"] = axis
        annotations.append({"text": html.escape(series.name), "showarrow": False, "font": {"size": 12},
                            "xref": f"x{suffix} domain", "yref": f"y{suffix} domain", "x": 0.5, "y": 1.12})  # fmt: skip
    layout["annotations"] = annotations
    return _figure(traces, layout)


def single_series(figure: Figure) -> list[Figure]:
    """Small multiples as separate one-series line figures (the PDF draws them side by side)."""
    return [Figure(f"{figure.id}-{n}", series.name, "line", figure.unit, [series]) for n, series in
            enumerate(figure.series)]  # fmt: skip


def template_charts(data: ReportData, drill: DrillUrl) -> list[Chart]:
    return [
        Chart(
            f"chart-{figure.id}",
            figure.title,
            small_multiples(figure, drill) if figure.kind == "multiples" else template_figure(figure, drill),
        )
        for figure in data.figures
    ]
