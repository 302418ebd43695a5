"""The #13 journey in a real browser, from the customer page: "how many of this customer's trips last month are not
invoiced, and why?" and "how many invoices did they get per month this year, and how much tax?" — read on the page,
opened in 查询统计, exported as XLSX and drilled to the rows; a province user does the same and sees only their
province."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from invoicing.issuing import document_reverse, issue_topups
from invoicing.models import Document
from piaogen.models import User
from piaogen.money import format_yuan
from tests.fixtures.invoicing import BJ, OTHER_CARD, PREPAID
from tests.fixtures.support import make_trip, segments_of
from tolling.models import TopUp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Piaogen-test-2026"  # what make_staff gives (tests/conftest.py)


def _today() -> dt.date:
    return timezone.localdate(timezone=BJ)


def _days(day: dt.date) -> int:
    return (_today() - day).days


@pytest.fixture
def last_month(world: dict[str, Any]) -> dict[str, Any]:
    """张三's trips of last month (all past the day-7 cut-off): one invoiced, three not — paid from an invoiced
    top-up, a zero fee, an invoice reversed — and one in Beijing, invoiced."""
    first = (_today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    topped = dt.datetime.combine(first, dt.time(9), tzinfo=BJ)
    topup = TopUp.objects.create(topup_id="T-LAST-1", service_date=first, card_no=PREPAID, amount=100_000,
                                 topped_up_at=topped, issuer=world["issuer"], province="32")  # fmt: skip
    issue_topups(topup_ids=[topup.pk])
    make_trip(world, "PLASTINVOICED", ("commercial", 3000), days=_days(first + dt.timedelta(days=2)))
    make_trip(world, "PLASTPREPAID", ("commercial", 2000), card_no=PREPAID,
              days=_days(first + dt.timedelta(days=4)), issue=False)  # fmt: skip
    make_trip(world, "PLASTZERO", ("commercial", 0), days=_days(first + dt.timedelta(days=5)), issue=False)
    reversed_trip = make_trip(world, "PLASTREVERSED", ("commercial", 4000), days=_days(first + dt.timedelta(days=6)))
    held = Document.objects.get(items__item_kind="segment", items__item_id=segments_of(reversed_trip)[0].pk)
    document_reverse(document=held, reason="抬头错误", by=None)
    make_trip(world, "PLASTBEIJING", ("capital", 6000), card_no=OTHER_CARD, days=_days(first + dt.timedelta(days=7)))
    return {**world, "month": first.strftime("%Y-%m")}


def _login(page: Page, url: str, user: User) -> None:
    page.goto(f"{url}/login/")
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def _xlsx(page: Page, tmp_path: Path, name: str) -> list[tuple[Any, ...]]:
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 XLSX").click()
    path = tmp_path / name
    download.value.save_as(path)
    sheet = load_workbook(path).active
    assert sheet is not None
    return list(sheet.iter_rows(values_only=True))


def _not_invoiced_journey(page: Page, server: str, data: dict[str, Any], tmp_path: Path, *, segments: int) -> None:
    """From the customer page to last month's reasons on /stats/, the XLSX and the rows of one reason."""
    month = data["month"]
    page.goto(f"{server}/customers/{data['customer'].pk}/")
    row = page.locator(f"table[data-record-stats] tr[data-month='{month}']")
    expect(row).to_be_visible(timeout=20_000)  # loaded after the page
    expect(row.locator("td[data-segments] a")).to_have_text(str(segments))
    expect(row.locator("td[data-outcome=ineligible] a")).to_have_text("2")  # prepaid + zero fee
    expect(row.locator("td[data-outcome=waiting] a")).to_have_text("1")  # the reversed one, invoiceable again
    reasons = row.locator("[data-reason]")
    expect(reasons.filter(has_text="该笔通行由已开票的充值支付，不能再开票")).to_have_count(1)
    expect(reasons.filter(has_text="实收金额为零，不开票")).to_have_count(1)
    expect(reasons.filter(has_text="原票据已红冲，可重新开票")).to_have_count(1)

    # the same question in 查询统计: by month and state, exported, then one reason's rows
    page.locator("[data-stats-link]").click()
    expect(page).to_have_url(re.compile(rf"/stats/\?(?=.*customer={data['customer'].pk})(?=.*group_by=month%2Cstate)"))
    table = page.locator("table[data-stats-table]")
    prepaid_row = table.locator("tbody tr", has_text=month).filter(has_text="该笔通行由已开票的充值支付")
    expect(prepaid_row).to_have_count(1)
    expect(prepaid_row.locator("td").nth(2)).to_have_text("1")
    rows = _xlsx(page, tmp_path, "trips.xlsx")
    assert rows[0][:3] == ("月", "开票状态及原因", "数量")
    found = [r for r in rows[1:-1] if r[1] == "该笔通行由已开票的充值支付，不能再开票"]
    assert len(found) == 1 and isinstance(found[0][0], dt.datetime) and found[0][0].strftime("%Y-%m") == month
    assert found[0][2] == 1 and isinstance(found[0][5], int | float) and found[0][5] == 20  # numbers, in yuan
    assert rows[-1][0] == "合计" and rows[-1][2] == sum(r[2] for r in rows[1:-1])
    prepaid_row.locator("td").nth(2).get_by_role("link").click()
    expect(page.locator("[data-rows-total]")).to_have_text("共 1 行")
    expect(page.locator("table.stats-rows tbody tr")).to_have_count(1)
    expect(page.locator("table.stats-rows tbody tr").first).to_contain_text("PLASTPREPAID")


def _tax_journey(page: Page, server: str, data: dict[str, Any], tmp_path: Path, documents: list[Document]) -> None:
    """From the customer page to this year's documents per month with their tax, exported and drilled."""
    page.goto(f"{server}/customers/{data['customer'].pk}/")
    page.locator("[data-year-documents-link]").click()
    expect(page).to_have_url(re.compile(r"/stats/\?(?=.*subject=documents)(?=.*group_by=month(&|$))"))
    total = page.locator("table[data-stats-table] tfoot")
    expect(total).to_contain_text(str(len(documents)))
    expect(total).to_contain_text(format_yuan(sum(d.amount_tax for d in documents)))
    rows = _xlsx(page, tmp_path, "documents.xlsx")
    assert rows[0] == ("月", "数量", "金额", "税额", "价税合计")
    assert rows[-1][1] == len(documents)
    assert Decimal(str(rows[-1][3])) == Decimal(sum(d.amount_tax for d in documents)) / 100
    total.get_by_role("link").first.click()
    expect(page.locator("[data-rows-total]")).to_have_text(f"共 {len(documents)} 行")


def test_an_agent_answers_the_callers_questions_from_the_customer_page(
    page: Page, live_server: Any, agent: User, last_month: dict[str, Any], tmp_path: Path
) -> None:
    _login(page, live_server.url, agent)
    _not_invoiced_journey(page, live_server.url, last_month, tmp_path, segments=5)
    year = _today().replace(month=1, day=1)
    documents = list(Document.objects.filter(customer=last_month["customer"], service_date__gte=year))
    _tax_journey(page, live_server.url, last_month, tmp_path, documents)


def test_a_province_user_does_the_same_and_sees_only_their_province(
    page: Page, live_server: Any, province_user: User, last_month: dict[str, Any], tmp_path: Path
) -> None:
    _login(page, live_server.url, province_user)
    _not_invoiced_journey(page, live_server.url, last_month, tmp_path, segments=4)  # not the Beijing trip
    expect(page.get_by_text("PLASTBEIJING")).to_have_count(0)
    year = _today().replace(month=1, day=1)
    documents = list(Document.objects.filter(customer=last_month["customer"], service_date__gte=year, province="32"))
    assert Document.objects.filter(customer=last_month["customer"], province="11").exists()
    _tax_journey(page, live_server.url, last_month, tmp_path, documents)
