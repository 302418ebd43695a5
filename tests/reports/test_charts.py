"""Chart figures: an empty period reads as "no data", not as empty axes; names from data are never markup."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from reports.charts import _figure, _layout, dashboard_charts
from reports.dashboard import DashboardData, Totals
from reports.svg import figure_svg


def test_a_chart_without_points_says_there_is_no_data() -> None:
    figure = _figure([{"type": "bar", "x": [], "y": []}], _layout("按省份"))
    assert figure["layout"]["annotations"][0]["text"] == "所选条件下暂无数据"
    assert figure["layout"]["xaxis"]["visible"] is False


def test_a_chart_with_points_has_no_such_note() -> None:
    figure = _figure([{"type": "bar", "x": ["江苏"], "y": [3]}], _layout("按省份"))
    assert "annotations" not in figure["layout"]


EVIL = '<a href="https://evil.example/">点我</a> & <b>粗体</b>'


def _row(key: object, label: str) -> dict[str, Any]:
    return {"key": key, "label": label, "documents": 1, "amount_gross": 10000, "amount_tax": 300}


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return [value] if isinstance(value, str) else []


def test_names_from_data_reach_plotly_escaped_so_no_link_or_markup_is_drawn() -> None:
    """Operator, province and action names are drawn by plotly as pseudo-HTML: an ``<a href>`` in a name would be a
    working link in a national chart (issue #18). Every text from data is escaped; only the charts' own ``<br>``
    and ``<extra>`` remain markup, and the PDF's SVG shows the name as typed."""
    data = DashboardData(
        filters=None,  # type: ignore[arg-type]  # charts read none of it
        totals=Totals(),
        previous=Totals(),
        by_province=[_row("32", EVIL)],
        by_operator=[_row(1, EVIL)],
        uploads_by_province=[{"key": "32", "label": EVIL, "rows_accepted": 1, "rows_duplicate": 0, "rows_rejected": 0}],
        support_actions=[{"key": EVIL, "count": 1}],
    )

    charts = dashboard_charts(data, lambda *args, **kwargs: "")

    texts = [text for chart in charts for text in _texts(chart.figure)]
    assert any("&lt;a href=" in text for text in texts)
    assert [text for text in texts if "<a" in text or "<b>" in text] == []
    for chart in charts:
        go.Figure(chart.figure)  # still a valid figure
    operator = next(chart for chart in charts if chart.id == "chart-operator")
    svg = figure_svg(operator.figure)
    assert "<a" not in svg and "&lt;a href=" in svg  # the PDF draws the name as typed, as text
