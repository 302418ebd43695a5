"""Query statistics in a real browser: a caller asks why three of their November trips are not invoiced. The agent
opens 查询统计, filters the plate and November, groups by invoice state, reads one reason per trip, drills into a
reason to the trip and its record, and exports the table."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from invoicing.issuing import document_reverse, issue_topups
from invoicing.models import Document
from piaogen.models import User
from tests.fixtures.invoicing import BJ, PREPAID
from tests.fixtures.support import make_trip, segments_of
from tolling.models import TopUp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Piaogen-test-2026"  # what make_staff gives (tests/conftest.py)


def _last_november() -> dt.date:
    """November 1st of the latest November whose trips are all past the day-7 cut-off."""
    today = timezone.localdate(timezone=BJ)
    year = today.year if today >= dt.date(today.year, 12, 8) else today.year - 1
    return dt.date(year, 11, 1)


def _days(day: dt.date) -> int:
    return (timezone.localdate(timezone=BJ) - day).days


@pytest.fixture
def november(world: dict[str, Any]) -> dict[str, Any]:
    """张三's four November trips on 苏A12345: one invoiced, and three that are not — paid from a top-up that was
    invoiced, a zero fee, and one whose invoice was reversed."""
    first = _last_november()
    topped = dt.datetime.combine(first, dt.time(9), tzinfo=BJ)
    topup = TopUp.objects.create(topup_id="T-NOV-1", service_date=first, card_no=PREPAID, amount=100_000,
                                 topped_up_at=topped, issuer=world["issuer"], province="32")  # fmt: skip
    issue_topups(topup_ids=[topup.pk])
    invoiced = make_trip(world, "PNOVINVOICED", ("commercial", 3000), days=_days(first + dt.timedelta(days=3)))
    prepaid = make_trip(world, "PNOVPREPAID", ("commercial", 2000), card_no=PREPAID,
                        days=_days(first + dt.timedelta(days=9)), issue=False)  # fmt: skip
    zero = make_trip(world, "PNOVZERO", ("commercial", 0), days=_days(first + dt.timedelta(days=11)), issue=False)
    reversed_trip = make_trip(world, "PNOVREVERSED", ("commercial", 4000), days=_days(first + dt.timedelta(days=13)))
    held = Document.objects.get(items__item_kind="segment", items__item_id=segments_of(reversed_trip)[0].pk)
    document_reverse(document=held, reason="抬头错误", by=None)
    return {"first": first, "invoiced": invoiced, "prepaid": prepaid, "zero": zero, "reversed": reversed_trip}


def test_an_agent_explains_why_three_november_trips_are_not_invoiced(
    page: Page, live_server: Any, agent: User, november: dict[str, Any], tmp_path: Path
) -> None:
    first = november["first"]
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(agent.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("navigation").get_by_role("link", name="查询统计").click()
    expect(page.get_by_role("heading", name="查询统计")).to_be_visible()

    # the plate the caller gives, November, grouped by invoice state
    form = page.locator("form[data-stats-filters]")
    form.get_by_label("车牌号").fill("苏A12345")
    form.get_by_label("通行日期起").fill(first.isoformat())
    form.get_by_label("通行日期止").fill(first.replace(day=30).isoformat())
    form.locator("select[name=group_by]").select_option("state")
    form.get_by_role("button", name="统计").click()
    expect(page).to_have_url(re.compile(r"/stats/\?.*plate=.*group_by=state"))

    table = page.locator("table[data-stats-table]")
    reasons = {
        "该笔通行由已开票的充值支付，不能再开票": november["prepaid"],
        "实收金额为零，不开票": november["zero"],
        "原票据已红冲，可重新开票": november["reversed"],
        "已在票据中": november["invoiced"],
    }
    for reason in reasons:
        row = table.locator("tbody tr", has_text=reason)
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(1)).to_have_text("1")  # one segment
    expect(table.locator("tfoot")).to_contain_text("4")
    expect(table.locator("tfoot")).to_contain_text("¥90.00")  # 30 + 20 + 0 + 40 yuan paid
    expect(page.locator("#stats-count[data-ready=true]")).to_be_visible(timeout=20_000)  # the chart is drawn

    # drill into "paid from an invoiced top-up": the one trip, with its reason, then its record
    table.locator("tbody tr", has_text="该笔通行由已开票的充值支付").locator("td").nth(1).get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/stats/rows/\?.*state=topup_invoiced"))
    expect(page.locator("[data-rows-total]")).to_have_text("共 1 行")
    rows = page.locator("table.stats-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("该笔通行由已开票的充值支付，不能再开票")
    rows.first.get_by_role("link", name="PNOVPREPAID").click()
    expect(page).to_have_url(re.compile(rf"/trips/{november['prepaid'].pk}/"))
    expect(page.get_by_text("该笔通行由已开票的充值支付，不能再开票").first).to_be_visible()

    # back to the table and export it for the ticket
    page.go_back()  # the rows
    page.go_back()  # the table grouped by state (the rows' "back" link keeps the cell's state as a filter)
    expect(page.locator("table[data-stats-table] tbody tr")).to_have_count(4)
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 CSV").click()
    path = tmp_path / "stats.csv"
    download.value.save_as(path)
    lines = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert lines[0][:2] == ["开票状态及原因", "数量"]
    assert {line[0] for line in lines[1:-1]} == set(reasons)
    assert lines[-1][0] == "合计" and lines[-1][1] == "4"
