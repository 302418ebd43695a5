"""Journey J4 in a real browser: a manager opens the dashboard, filters to Jiangsu, drills from a chart bar and from
a KPI tile to the rows behind them, opens a record, and exports the rows as CSV."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import TODAY
from playwright.sync_api import Page, expect

from invoicing.models import Document
from piaogen.models import User
from reports.rollups import rollups_refresh_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Piaogen-test-2026"  # what make_staff gives (tests/conftest.py)


def test_a_manager_filters_drills_down_and_exports(
    page: Page, live_server: Any, world: dict[str, Any], manager: User, tmp_path: Path
) -> None:
    rollups_refresh_all(today=TODAY)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(manager.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("navigation").get_by_role("link", name="运营看板").click()

    page.get_by_label("开始日期").fill("2026-11-01")
    page.get_by_label("结束日期").fill("2026-11-20")
    page.locator("form[data-report-filters] select[name=province]").select_option("32")
    page.get_by_role("button", name="应用筛选").click()
    expect(page).to_have_url(re.compile(r"/reports/\?.*start=2026-11-01.*province=32"))

    # a chart point: the bar of one operator drills to its documents, with the filters kept
    expect(page.locator("#chart-operator[data-ready=true]")).to_be_visible(timeout=20_000)
    bar = page.locator("#chart-operator .point path").first
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    assert box is not None  # plotly's drag layer sits on top of the bars: click where the bar is, as a user does
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page).to_have_url(re.compile(r"/reports/documents/\?.*province=32.*operator=\d+"))
    expect(page.get_by_role("heading", name="票据明细")).to_be_visible()
    assert page.locator("table.report-rows tbody tr").count() >= 1

    # a KPI tile: the Jiangsu documents it counts (blue ones: red-letter documents have their own tile)
    page.go_back()
    page.locator("[data-kpi]").first.click()
    expect(page.get_by_role("heading", name="票据明细（蓝字票据）")).to_be_visible()
    jiangsu = Document.objects.filter(province="32").exclude(status="red")
    expect(page.locator("table.report-rows tbody tr")).to_have_count(jiangsu.count())

    with page.expect_download() as download:
        page.get_by_role("link", name="导出 CSV").click()
    target = tmp_path / "export.csv"
    download.value.save_as(target)
    rows = list(csv.reader(target.open(encoding="utf-8-sig")))
    assert len(rows) - 1 == jiangsu.count() and {row[5] for row in rows[1:]} == {"江苏"}

    # from a row to the record
    first = page.locator("table.report-rows tbody tr").first.get_by_role("link")
    number = first.inner_text()
    first.click()
    expect(page).to_have_url(re.compile(r"/documents/\d+/$"))
    expect(page.get_by_text(number).first).to_be_visible()


def test_an_operator_named_with_a_link_is_drawn_as_text_not_as_a_link(
    page: Page, live_server: Any, world: dict[str, Any], manager: User
) -> None:
    """Issue #18: plotly draws names as pseudo-HTML; an operator named ``<a href=…>`` must not become a link."""
    from tolling.models import Operator

    evil = '<a href="https://evil.example/">点我</a>'
    Operator.objects.filter(name="江苏高速公路股份有限公司").update(name=evil)
    rollups_refresh_all(today=TODAY)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(manager.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.goto(f"{live_server.url}/reports/?start=2026-11-01&end=2026-11-20")

    chart = page.locator("#chart-operator[data-ready=true]")
    expect(chart).to_be_visible(timeout=20_000)
    assert chart.locator("a").count() == 0
    assert page.locator("a[href*='evil.example']").count() == 0
    expect(chart.get_by_text(evil).first).to_be_attached()  # the name, as typed, is the axis label
