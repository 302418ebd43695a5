"""An action's preview says what confirming will do to each document — 将开具, 将开具红字票据, 将红冲 — and never
calls a document that does not exist yet 已开具; the result page then says what was done."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from invoicing.models import Document
from piaogen.models import User
from tests.fixtures.invoicing import CARD, segment

pytestmark = pytest.mark.django_db

REASON = "客户来电要求"


def preview(client: Client, url: str, **data: str) -> tuple[list[str], str]:
    """The preview's document states (the context's) and the preview section of the page."""
    response = client.post(url, {"reason": REASON, "key": str(uuid.uuid4()), "step": "preview", **data})
    assert response.status_code == 200
    states = [d["status_label"] for d in response.context["preview"]["documents"]]
    html = response.content.decode().split('class="panel action-preview"', 1)[1].split("</section>", 1)[0]
    return states, html


def test_a_request_preview_says_the_documents_will_be_issued(
    world: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    fresh = segment(world, fee=4560)
    url = f"/actions/customers/{world['customer'].pk}/invoices/"
    states, html = preview(client_for(agent), url, card_no=CARD, what="trips", keys=fresh.pass_id)
    assert states == ["将开具"]
    assert "<td>将开具</td>" in html and "已开具" not in html


def test_a_reverse_preview_says_the_original_will_be_reversed_and_a_red_document_issued(
    issued: Document, agent: User, client_for: Callable[[User], Client]
) -> None:
    states, html = preview(client_for(agent), f"/actions/documents/{issued.pk}/reverse/")
    assert states == ["将红冲", "将开具红字票据"]  # the plan's sentence says the original will be marked 已红冲
    assert "已开具" not in html and "<td>已红冲</td>" not in html and "<td>红字</td>" not in html


def test_a_reissue_preview_names_what_each_document_will_become(
    issued: Document, agent: User, client_for: Callable[[User], Client]
) -> None:
    states, html = preview(
        client_for(agent), f"/actions/documents/{issued.pk}/reissue/", new_name="南京某某科技有限公司",
        new_tax_id="91110000600037341L", new_kind="company",
    )  # fmt: skip
    assert states == ["将红冲", "将开具红字票据", "将开具"]
    assert "已开具" not in html


def test_a_resend_preview_keeps_the_documents_state_as_it_is(
    issued: Document, agent: User, client_for: Callable[[User], Client]
) -> None:
    states, _html = preview(client_for(agent), f"/actions/documents/{issued.pk}/resend/")
    assert states == ["已开具"]  # resending changes nothing: the document is issued, and stays so


def test_the_result_page_says_what_was_done(
    issued: Document, agent: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(agent)
    response = client.post(
        f"/actions/documents/{issued.pk}/reverse/",
        {"reason": REASON, "key": str(uuid.uuid4()), "step": "confirm"},
        follow=True,
    )
    page = response.content.decode()
    assert "已红冲" in page and "红字" in page and "将红冲" not in page
