"""Journey J4 with a template, in a real browser: a manager opens the province comparison for last month, drills
from the worst province's failed batches to the rows, exports them to Excel, and schedules the comparison monthly
for that province."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from conftest import TODAY
from playwright.sync_api import Page, expect

from piaogen.models import User
from reports.models import ScheduledReport
from reports.rollups import rollups_refresh_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Piaogen-test-2026"  # what make_staff gives (tests/conftest.py)


def test_a_manager_compares_provinces_drills_into_failed_batches_exports_and_schedules_them(
    page: Page, live_server: Any, world: dict[str, Any], manager: User, tmp_path: Path
) -> None:
    rollups_refresh_all(today=TODAY)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(manager.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("navigation").get_by_role("link", name="报表模板").click()
    page.get_by_role("link", name="省份对比").click()

    # last month by default: the world's data (November 2026) when the test runs in December 2026
    expect(page.get_by_role("heading", name="省份对比")).to_be_visible()
    start = page.get_by_label("开始日期").input_value()
    assert dt.date.fromisoformat(start).day == 1
    expect(page.locator("[data-as-of]")).to_contain_text("数据截至")
    if start != "2026-11-01":  # the clock is not in December 2026: pick November 2026 in the filter bar
        page.get_by_label("开始日期").fill("2026-11-01")
        page.get_by_label("结束日期").fill("2026-11-30")
        page.get_by_role("button", name="应用筛选").click()

    # the ratios to traffic sort by any column: largest first, then the other way
    ratios = page.locator("[data-table=ratios] table")
    header = ratios.get_by_role("button", name="每万次通行工单数")
    header.click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(ratios.locator("tbody tr").first.locator("td").first).to_have_text("江苏")  # two tickets against one
    header.click()
    expect(header).to_have_attribute("aria-sort", "ascending")

    # the failed batches chart is sorted worst first: click its first bar
    expect(page.locator("#chart-failed[data-ready=true]")).to_be_visible(timeout=20_000)
    bar = page.locator("#chart-failed .point path").first
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page).to_have_url(re.compile(r"/reports/uploads/\?.*province=32.*failed=1"))
    expect(page.get_by_role("heading", name="上传批次（失败批次）")).to_be_visible()
    expect(page.locator("table.report-rows tbody tr")).to_have_count(1)

    with page.expect_download() as download:
        page.get_by_role("link", name="导出 XLSX").click()
    target = tmp_path / "failed.xlsx"
    download.value.save_as(target)
    sheet = openpyxl.load_workbook(target).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][2] == "江苏" and rows[1][5] == "失败"
    assert isinstance(rows[1][1], dt.datetime) and sheet.freeze_panes == "A2"

    # back to the comparison: schedule it monthly for Jiangsu
    page.go_back()
    page.get_by_role("link", name="定时发送").click()
    form = page.locator("form.form-stacked")
    form.locator("input[name=name]").fill("江苏省份对比月报")
    expect(form.locator("select[name=template]")).to_have_value("provinces")  # the template it came from
    form.locator("select[name=frequency]").select_option("monthly")
    form.locator("select[name=province]").select_option("32")
    form.get_by_role("button", name="创建").click()
    expect(page.get_by_text("定时报表已创建。")).to_be_visible()
    report = ScheduledReport.objects.get()
    assert (report.template, report.frequency, report.province) == ("provinces", "monthly", "32")
