"""Ticks survive paging any list of a record page, in a real browser: an agent ticks a trip on the customer page, pages
the documents and the timeline, and the tick and its count are still there when they act; without JavaScript the
card page's back-charges pager keeps a tick the same way. The action preview says what will be issued. A back-charge
of a vehicle without a card is found by its id and listed, paged, on the plate's page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from invoicing.issuing import issue_audit_charges
from piaogen.models import User
from tests.fixtures.claims import audit_charge
from tests.fixtures.invoicing import CARD
from tests.fixtures.support import make_trip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Piaogen-test-2026"  # what make_staff gives (tests/conftest.py)


@pytest.fixture
def short_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    import support.records

    monkeypatch.setattr(support.records, "LIST_LIMIT", 1)
    monkeypatch.setattr(support.records, "TIMELINE_LIMIT", 2)


def log_in(page: Page, live_server: Any, user: User) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_a_tick_survives_paging_the_documents_and_the_timeline(
    page: Page, live_server: Any, agent: User, records: dict[str, Any], short_lists: None
) -> None:
    make_trip(records, "PPAGE01", ("commercial", 1234), days=15, issue=False)
    # a back-charge with long ids, invoiced (its state names a 20-digit document number): the list fits the page
    make_trip(records, "P00032012610110007638", ("commercial", 900), days=15)
    long = audit_charge(records, card_no=CARD, pass_id="P00032012610110007638", charge_id="AC322610160000074", days=0)
    issue_audit_charges(charge_ids=[long.pk])
    log_in(page, live_server, agent)
    page.goto(f"{live_server.url}/customers/{records['customer'].pk}/")

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no list overflows the page
    expect(page.locator("#charges")).to_contain_text("AC322610160000074")
    expect(page.locator("#charges")).to_contain_text("已在票据")
    table, panel = page.locator("#charges table").bounding_box(), page.locator("#charges").bounding_box()
    assert table and panel and table["x"] + table["width"] <= panel["x"] + panel["width"]
    trips = page.locator("#customer-trips")
    box = trips.locator(f'input[name="trip"][value="{CARD}:PPAGE01"]')
    box.check()
    expect(trips.locator(".selection-count")).to_have_text("已选 1 项")
    documents = page.locator("#documents")
    documents.get_by_role("button", name="下一页").click()
    expect(documents).to_contain_text("第 2/")
    expect(box).to_be_checked()
    expect(trips.locator(".selection-count")).to_have_text("已选 1 项")

    timeline = page.locator("#customer-timeline")
    timeline.get_by_role("button", name="下一页").click()
    expect(timeline).to_contain_text("第 2/")
    expect(documents).to_contain_text("第 2/")  # the documents' page is kept
    expect(box).to_be_checked()

    page.get_by_role("button", name="为所选通行申请开票").click()
    expect(page.get_by_label("通行标识或充值流水号")).to_have_value("PPAGE01")
    page.get_by_label("原因").fill("客户来电：开这一趟")
    page.get_by_role("button", name="预览").click()
    preview = page.locator(".action-preview")
    expect(preview.locator("tbody td").nth(2)).to_have_text("将开具")
    expect(preview).not_to_contain_text("已开具")


def test_without_javascript_the_card_pages_back_charges_pager_keeps_a_tick(
    browser: Browser, browser_context_args: dict[str, Any], live_server: Any, agent: User, records: dict[str, Any],
    short_lists: None,
) -> None:  # fmt: skip
    for n in range(2):
        audit_charge(records, card_no=CARD, charge_id=f"ACNOJS{n}", amount=1050 + n, days=n + 2)
    make_trip(records, "PNOJSC01", ("commercial", 800), days=15, issue=False)
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server, agent)
    page.goto(f"{live_server.url}/cards/{records['cards']['post'].pk}/")

    charges = page.locator("#charges")
    expect(charges.locator("h2")).to_contain_text("3")
    expect(charges).to_contain_text("第 1/3 页，共 3 条")
    box = page.locator(f'input[name="trip"][value="{CARD}:PNOJSC01"]')
    box.check()
    charges.get_by_role("button", name="下一页").click()
    expect(charges).to_contain_text("第 2/3 页，共 3 条")
    expect(charges).to_contain_text(re.compile(r"¥10\.5[01]"))
    expect(charges).to_contain_text("车型不符")
    expect(box).to_be_checked()
    expect(page.locator("#card-trips .selection-count")).to_contain_text("已选 1 项")
    context.close()


def test_a_back_charge_without_a_card_is_found_and_paged_on_the_plates_page(
    page: Page, live_server: Any, province_user: User, records: dict[str, Any], short_lists: None
) -> None:
    for n in range(2):
        audit_charge(records, plate="苏E66666", charge_id=f"ACPLATE{n}", amount=2050 + n, days=n + 1)
    log_in(page, live_server, province_user)
    page.goto(f"{live_server.url}/search/?q=ACPLATE0")  # the one hit: its page

    expect(page.locator("h1")).to_contain_text("苏E66666")
    charges = page.locator("#charges")
    expect(charges.locator("h2 .badge")).to_have_text("2")
    expect(charges).to_contain_text("第 1/2 页，共 2 条")
    expect(charges).to_contain_text("ACPLATE0")
    expect(charges).to_contain_text("¥20.50")
    charges.get_by_role("link", name="下一页").click()
    expect(charges).to_contain_text("第 2/2 页，共 2 条")
    expect(charges).to_contain_text("ACPLATE1")
    expect(charges).to_contain_text("¥20.51")
    expect(charges).to_contain_text("车型不符")
    expect(page.locator("#vehicle-cards")).to_contain_text("没有可查看的ETC卡")
