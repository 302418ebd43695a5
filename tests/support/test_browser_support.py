"""Journey J3 in a real browser: an agent pastes a plate, opens the customer, sees why a trip cannot be invoiced,
and reissues an invoice with a corrected title — reason, preview, confirm — then sees the new document."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from invoicing.models import Document, DocumentStatus
from piaogen.models import AuditEvent, User
from support.models import ActionRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Piaogen-test-2026"  # what make_staff gives (tests/conftest.py)
CORRECT_TITLE = "南京正确抬头科技有限公司"


def test_an_agent_explains_a_trip_and_reissues_an_invoice_with_a_corrected_title(
    page: Page, live_server: Any, agent: User, records: dict[str, Any]
) -> None:
    invoice = _invoice_of(records["invoiced"].pass_id)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(agent.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()

    # 1. paste a plate into the one search box (full-width and lower case, as pasted from a chat)
    page.locator("#global-search").fill("苏ａ12345")
    page.locator("#global-search").press("Enter")
    if not re.search(r"/customers/\d+/", page.url):  # results grouped by type: open the customer
        page.get_by_role("link", name=records["customer"].name).first.click()
    expect(page).to_have_url(re.compile(rf"/customers/{records['customer'].pk}/"))

    # 2. the customer view explains why a trip cannot be invoiced
    expect(page.get_by_text("该笔通行由已开票的充值支付，不能再开票").first).to_be_visible()

    # 3. open the invoice and reissue it with the corrected title
    page.locator(f"a[href='/documents/{invoice.pk}/']").first.click()
    expect(page).to_have_url(re.compile(rf"/documents/{invoice.pk}/"))
    page.get_by_role("link", name="换票").click()
    page.get_by_label("原因").fill("客户来电：抬头应为单位名称")
    page.get_by_label("正确的抬头名称").fill(CORRECT_TITLE)
    page.get_by_label("纳税人识别号").fill("91110000600037341L")
    page.get_by_role("button", name="预览").click()

    preview = page.locator(".action-preview")
    expect(preview).to_contain_text("预览")
    expect(preview).to_contain_text(CORRECT_TITLE)
    expect(preview).to_contain_text("-¥100.00")  # the red-letter document mirrors the original
    assert Document.objects.filter(buyer_name=CORRECT_TITLE).count() == 0  # the preview wrote nothing

    page.get_by_role("button", name="确认执行").click()
    expect(page.locator(".action-summary")).to_contain_text(CORRECT_TITLE)

    new = Document.objects.get(replaces=invoice)
    assert new.buyer_name == CORRECT_TITLE and new.amount_gross == invoice.amount_gross
    assert Document.objects.get(pk=invoice.pk).status == DocumentStatus.REVERSED
    assert ActionRequest.objects.count() == 1
    assert AuditEvent.objects.filter(action="support.reissue", actor=agent).count() == 1

    # 4. the audit trail of the action names the documents by number, with links, in words
    page.locator("main").get_by_role("link", name="审计记录").click()
    trail = page.locator("table.audit")
    expect(trail).to_contain_text("客服：换票")
    expect(trail.get_by_role("link", name=f"数电发票 {new}").first).to_be_visible()
    for raw in ("support.reissue", "links", "[[", "invoicing.document"):
        expect(trail).not_to_contain_text(raw)
    page.go_back()

    # 5. the new document, with its lineage back to the original
    page.get_by_role("link", name=str(new)).click()
    expect(page).to_have_url(re.compile(rf"/documents/{new.pk}/"))
    expect(page.locator("main")).to_contain_text(CORRECT_TITLE)
    expect(page.locator("main")).to_contain_text(str(invoice))

    # 6. the customer keeps their title: the corrected one was for this invoice only
    page.goto(f"{live_server.url}/customers/{records['customer'].pk}/")
    titles = page.locator("#customer-titles")
    expect(titles.locator("tr", has_text=CORRECT_TITLE)).to_contain_text("仅用于一张换票")
    expect(titles.locator("tr", has_text=CORRECT_TITLE)).not_to_contain_text("当前生效")


def _invoice_of(pass_id: str) -> Document:
    """The live 数电 invoice holding the trip's commercial segment."""
    from tolling.models import Segment

    segment_ids = list(Segment.objects.filter(pass_id=pass_id).values_list("id", flat=True))
    return Document.objects.get(
        items__item_kind="segment", items__item_id__in=segment_ids, kind="invoice", status=DocumentStatus.ISSUED
    )
