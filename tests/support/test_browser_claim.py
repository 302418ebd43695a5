"""代客开票 in a real browser: a caller reads out the number and plate of a paper toll receipt; the agent, working
their ticket, claims it for the caller's account — reason, preview, confirm — and sees the new e-invoice."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from invoicing.models import Document
from piaogen.models import AuditEvent, User
from support.models import ActionRequest, TicketLink, TicketNote
from support.tickets import ticket_open
from tests.fixtures.claims import paper_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Piaogen-test-2026"  # what make_staff gives (tests/conftest.py)


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings: Any) -> None:
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-claims-{uuid.uuid4()}"}}


def test_an_agent_claims_a_paper_ticket_for_a_caller(
    page: Page, live_server: Any, agent: User, world: dict[str, Any]
) -> None:
    customer = world["customer"]
    ticket = paper_ticket(world, amount=4560, ticket_no="3201202611150001")
    case = ticket_open(category="other", subject="纸质票据改开电子发票", customer=customer, by=agent)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(agent.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()

    page.goto(f"{live_server.url}/customers/{customer.pk}/?ticket={case.pk}")
    page.get_by_role("link", name="代客开票").click()
    expect(page).to_have_url(re.compile(rf"/actions/customers/{customer.pk}/claim/\?ticket={case.pk}"))

    page.get_by_label("开票类型").select_option("paper_ticket")
    page.get_by_label("票据号、行程号或补费流水号").fill(ticket.ticket_no)
    page.get_by_label("车牌号").fill("苏ｂ54321")  # as the caller spells it: full-width, lower case
    page.get_by_label("抬头", exact=True).select_option(str(world["title"].pk))
    page.get_by_label("原因").fill("客户来电：人工车道现金缴费，申请纸改电")
    page.get_by_role("button", name="预览").click()

    preview = page.locator(".action-preview")
    expect(preview).to_contain_text(ticket.ticket_no)
    expect(preview).to_contain_text("¥45.60")
    assert Document.objects.count() == 0  # the preview wrote nothing

    page.get_by_role("button", name="确认执行").click()
    expect(page.locator(".action-summary")).to_contain_text(ticket.ticket_no)

    document = Document.objects.get()
    assert (document.business_line, document.amount_gross, document.customer_id) == ("paper", 4560, customer.pk)
    action = ActionRequest.objects.get()
    assert (action.kind, action.ticket_id) == ("claim", case.pk)
    assert AuditEvent.objects.filter(action="support.claim", actor=agent).count() == 1
    assert ticket.ticket_no in TicketNote.objects.get(ticket=case).body
    assert TicketLink.objects.filter(ticket=case, object_type="document", object_key=str(document.pk)).exists()

    page.get_by_role("link", name=str(document)).click()
    expect(page).to_have_url(re.compile(rf"/documents/{document.pk}/"))
    expect(page.locator("main")).to_contain_text("纸改电")
