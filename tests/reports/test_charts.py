"""Chart figures: an empty period reads as "no data", not as empty axes."""

from __future__ import annotations

from reports.charts import _figure, _layout


def test_a_chart_without_points_says_there_is_no_data() -> None:
    figure = _figure([{"type": "bar", "x": [], "y": []}], _layout("按省份"))
    assert figure["layout"]["annotations"][0]["text"] == "所选条件下暂无数据"
    assert figure["layout"]["xaxis"]["visible"] is False


def test_a_chart_with_points_has_no_such_note() -> None:
    figure = _figure([{"type": "bar", "x": ["江苏"], "y": [3]}], _layout("按省份"))
    assert "annotations" not in figure["layout"]
