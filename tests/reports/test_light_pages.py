"""Light report pages: the dashboard and the templates load plotly's basic bundle (scatter, bar, pie: 0.4 MB
gzipped), not the full one (1.5 MB), so no chart may use another trace type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import REPORT_QUERY, TODAY
from django.conf import settings
from django.test import Client
from django.urls import reverse

from piaogen.models import User
from reports.catalog import REGISTRY
from reports.charts import dashboard_charts, template_charts
from reports.dashboard import dashboard_data
from reports.filters import ReportFilters
from reports.rollups import rollups_refresh_all

BASIC_TRACES = {"scatter", "bar", "pie"}


def test_every_chart_uses_a_trace_type_of_the_basic_bundle(world: dict[str, Any]) -> None:
    rollups_refresh_all(today=TODAY)
    filters = ReportFilters(start=dt.date(2026, 11, 1), end=TODAY)
    charts = dashboard_charts(dashboard_data(filters), lambda rows, **o: "")
    for template in REGISTRY.values():
        charts += template_charts(template.build(filters), lambda rows, **o: "")

    used = {trace["type"] for chart in charts for trace in chart.figure["data"]}

    assert used <= BASIC_TRACES


def test_report_pages_load_the_basic_bundle_only(
    world: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(manager)
    pages = [reverse("report-dashboard")] + [reverse("report-template", args=[slug]) for slug in REGISTRY]
    for url in pages:
        html = client.get(url, REPORT_QUERY).content.decode()
        assert "vendor/plotly/plotly-basic.min.js" in html and "vendor/plotly/plotly.min.js" not in html
    bundle = Path(settings.BASE_DIR) / "static" / "vendor" / "plotly" / "plotly-basic.min.js"
    assert bundle.stat().st_size < 1_300_000
