"""The query statistics' figures (support/stats/ data → plotly figure dicts), after the conventions of
reports/charts.py: plain dicts, no queries, each bar's drill-down URL in ``customdata`` (static/js/dashboard.js
follows it on click). Every text label is HTML-escaped: plotly renders pseudo-HTML in labels and hover text, and
labels here come from data (operator names, buyer titles)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

from support.stats import Cell, Statistics

BLUE = "#1f5fa8"
PALETTE = ["#1f5fa8", "#2a9d8f", "#e76f51", "#c0392b", "#7f8c8d", "#e9c46a", "#6a4c93", "#8ab17d", "#264653"]
FONT = "WenQuanYi Micro Hei, Noto Sans CJK SC, Microsoft YaHei, sans-serif"
MAX_BARS = 60  # the first groups drawn; the table below lists them all


def _layout(title: str) -> dict[str, Any]:
    return {
        "title": {"text": html.escape(title), "font": {"size": 15}},
        "font": {"family": FONT, "size": 12},
        "height": 360,
        "margin": {"l": 70, "r": 20, "t": 50, "b": 90},
        "legend": {"orientation": "h", "y": -0.3},
        "hovermode": "closest",
        "barmode": "stack",
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
        "yaxis": {"gridcolor": "#e5e5e5", "automargin": True},
        "xaxis": {"automargin": True, "type": "category"},
    }


def stats_chart(stats: Statistics, cell_url: Callable[[Cell], str], *, measure: str = "count") -> dict[str, Any]:
    """Bars of ``measure`` by the first dimension, stacked by the second; each bar links to its rows."""
    chosen = next(m for m in stats.measures if m.key == measure)
    title = str(chosen.label)
    layout = _layout(title)
    money = chosen.money
    cells = stats.cells[: MAX_BARS * 8]
    if not cells or not any(cell.values["count"] for cell in cells):
        empty = html.escape(_("所选条件下暂无数据"))
        layout["annotations"] = [{"text": empty, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5,
                                  "y": 0.5}]  # fmt: skip
    series: dict[str, list[Cell]] = {}
    for cell in cells:
        series.setdefault(cell.labels[1] if len(cell.labels) > 1 else title, []).append(cell)
    data = []
    for index, (name, members) in enumerate(series.items()):
        values = [cell.values[measure] / 100 if money else cell.values[measure] for cell in members]
        labels = [html.escape(cell.labels[0]) if cell.labels else html.escape(_("合计")) for cell in members]
        hover = [
            html.escape(" · ".join(cell.labels)) + "<br>" + html.escape(_format(cell.values[measure], money))
            for cell in members
        ]
        data.append({
            "type": "bar",
            "name": html.escape(name),
            "x": labels[:MAX_BARS],
            "y": values[:MAX_BARS],
            "marker": {"color": PALETTE[index % len(PALETTE)]},
            "customdata": [cell_url(cell) for cell in members][:MAX_BARS],
            "hovertext": hover[:MAX_BARS],
            "hoverinfo": "text",
        })  # fmt: skip
    return {"data": data, "layout": layout}


def _format(value: int, money: bool) -> str:
    from piaogen.money import format_yuan

    return format_yuan(value) if money else f"{value:,}"
