"""#13 item 5 in a real browser: an agent ticks single segments of trips on two pages of the customer's trips (the
pager keeps the ticks and counts them), requests invoices for them, and the documents issued hold exactly those
segments — each segment of a different operator its own document."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from invoicing.models import Document, DocumentItem
from piaogen.models import User
from tests.fixtures.invoicing import CARD, topup
from tests.fixtures.support import make_trip
from tolling.models import Segment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Piaogen-test-2026"  # what make_staff gives (tests/conftest.py)


def _segment(value: str) -> int:
    pass_id, no = value.split(":", 1)[1].split("#")
    return Segment.objects.get(card_no=CARD, pass_id=pass_id, segment_no=int(no)).pk


def test_an_agent_requests_invoices_for_segments_ticked_on_two_pages(
    page: Page, live_server: Any, agent: User, records: dict[str, Any]
) -> None:
    for n in range(12):  # two pages of trips, each with a segment of two operators
        make_trip(records, f"PSEL{n:02d}", ("commercial", 1000 + n), ("loan", 500 + n), days=15, issue=False)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(agent.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.goto(f"{live_server.url}/customers/{records['customer'].pk}/")

    trips = page.locator("#customer-trips")
    first = trips.locator('input[name="segment"][value*=":PSEL"][value$="#2"]').first
    first_value = first.get_attribute("value")
    assert first_value
    first.check()
    expect(trips.locator(".selection-count")).to_have_text("已选 1 项")  # counted as it is ticked
    trips.get_by_role("button", name="下一页").click()
    expect(trips).to_contain_text("第 2 / 2 页")
    expect(trips).to_contain_text("已选 1 项（其中 1 项在其他页）")
    second = trips.locator('input[name="segment"][value*=":PSEL"][value$="#1"]').last
    second_value = second.get_attribute("value")
    assert second_value and second_value.split("#")[0] != first_value.split("#")[0]
    second.check()
    # back to page 1: the first tick is still there
    trips.get_by_role("button", name="上一页").click()
    expect(trips).to_contain_text("第 1 / 2 页")
    expect(trips.locator(f'input[name="segment"][value="{first_value}"]')).to_be_checked()
    expect(trips).to_contain_text("已选 2 项（其中 1 项在其他页）")

    page.get_by_role("button", name="为所选通行申请开票").click()
    expect(page).to_have_url(re.compile(rf"/actions/customers/{records['customer'].pk}/invoices/"))
    keys = page.get_by_label("通行标识或充值流水号")
    expect(keys).to_have_value(re.compile(r"PSEL\d\d#\d\nPSEL\d\d#\d"))
    page.get_by_label("原因").fill("客户来电：只开这两段")
    page.get_by_role("button", name="预览").click()
    expect(page.locator(".action-preview")).to_contain_text("2张票据")
    page.get_by_role("button", name="确认执行").click()
    expect(page.locator(".action-summary")).to_contain_text("开具2张票据")

    wanted = {_segment(first_value), _segment(second_value)}
    new = Segment.objects.filter(pass_id__startswith="PSEL").values_list("pk", flat=True)
    held = DocumentItem.objects.filter(item_kind="segment", item_id__in=list(new), live=True)
    assert set(held.values_list("item_id", flat=True)) == wanted
    assert Document.objects.filter(items__in=held).distinct().count() == 2  # two operators, two documents


def test_ticked_top_ups_survive_paging_either_list_without_javascript(
    browser: Browser, browser_context_args: dict[str, Any], live_server: Any, agent: User, records: dict[str, Any],
    world: dict[str, Any],
) -> None:  # fmt: skip
    for n in range(21):  # two pages of top-ups
        topup(world, amount=1000 + n)
    for n in range(12):  # two pages of trips
        make_trip(records, f"PNOJS{n:02d}", ("commercial", 1000 + n), days=15, issue=False)
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(agent.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.goto(f"{live_server.url}/customers/{records['customer'].pk}/")

    topups = page.locator("#topups")
    box = topups.locator('input[name="topup"]').first
    value = box.get_attribute("value")
    box.check()
    topups.get_by_role("button", name="下一页").click()
    expect(topups).to_contain_text("已选 1 笔充值（其中 1 笔在其他页）")
    # paging the trips keeps the top-ups' tick and their page
    page.locator("#customer-trips").get_by_role("button", name="下一页").click()
    expect(page.locator("#customer-trips")).to_contain_text("第 2 / 2 页")
    expect(topups).to_contain_text("第 2/2 页")
    topups.get_by_role("button", name="上一页").click()
    expect(topups.locator(f'input[name="topup"][value="{value}"]')).to_be_checked()
    expect(page.locator("#customer-trips")).to_contain_text("第 2 / 2 页")
    page.get_by_role("button", name="为所选充值申请开票").click()
    expect(page.get_by_label("通行标识或充值流水号")).to_have_value(str(value).split(":", 1)[1])
    context.close()
