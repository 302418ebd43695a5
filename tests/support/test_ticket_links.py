"""Ticket links added by searching for the record (card number, plate, document number, pass id) and shown by name
or number, never by internal id."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from piaogen.models import User
from support.models import TicketLink
from support.tickets import ticket_open
from tests.fixtures.invoicing import CARD

pytestmark = pytest.mark.django_db


def _add(client: Client, url: str, query: str, object_type: str) -> None:
    page = client.get(url, {"link_q": query}).content.decode()
    candidates = page.split("data-link-candidates", 1)[1].split("</table>", 1)[0]
    hidden = rf'name="object_type" value="{object_type}"><input type="hidden" name="object_key" value="([^"]+)"'
    found = re.search(hidden, candidates)
    assert found, (query, candidates)
    response = client.post(url, {"form": "link", "object_type": object_type, "object_key": found.group(1)})
    assert response.status_code == 302


def test_records_are_linked_by_searching_and_shown_by_name(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    ticket = ticket_open(category="other", subject="发票咨询", by=agent)
    url = f"/tickets/{ticket.pk}/"
    invoice = records["invoice"]
    _add(client, url, CARD, "card")
    _add(client, url, "PINVOICED01", "trip")
    _add(client, url, str(invoice), "document")
    _add(client, url, records["sheet"].number, "sheet")
    _add(client, url, "张三", "customer")
    stored = set(TicketLink.objects.filter(ticket=ticket).values_list("object_type", "object_key"))
    assert ("document", str(invoice.pk)) in stored and ("customer", str(records["customer"].pk)) in stored
    page = client.get(url).content.decode()
    links = " ".join(re.findall(r"<span class=\"pill\" data-ticket-link>(.*?)</span>", page, re.S))
    assert (
        f'/documents/{invoice.pk}/">数电发票 {invoice}</a>' in links
        or f">{invoice.get_kind_display()} {invoice}</a>" in links
    )
    assert f">{records['customer'].name}</a>" in links
    assert f">{CARD}</a>" in links and ">PINVOICED01</a>" in links and f">{records['sheet'].number}</a>" in links
    assert f">{invoice.pk}<" not in links and f">{records['customer'].pk}<" not in links


def test_a_search_that_finds_nothing_says_so(agent: User, client_for: Callable[[User], Client], db: None) -> None:
    ticket = ticket_open(category="other", subject="发票咨询", by=agent)
    page = client_for(agent).get(f"/tickets/{ticket.pk}/", {"link_q": "PNOSUCHTRIP"}).content.decode()
    assert "没有找到“PNOSUCHTRIP”可关联的记录" in page
