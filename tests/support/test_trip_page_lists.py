"""The trip page's documents, summary sheets and back-charges each show the count of all and page on (a list cut short
says how many), province-scoped like the rest of the page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from piaogen.models import Role, User
from tests.fixtures.claims import audit_charge
from tests.fixtures.invoicing import CARD

pytestmark = pytest.mark.django_db


def section(body: str, anchor: str) -> str:
    return body.split(f'id="{anchor}"', 1)[1].split("</section>", 1)[0]


def badge(html: str) -> int:
    found = re.search(r'<span class="badge">(\d+)</span>', html)
    assert found
    return int(found[1])


def test_the_trip_pages_lists_count_and_page(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    import support.records

    monkeypatch.setattr(support.records, "LIST_LIMIT", 1)
    trip = records["invoiced"]  # two documents (an invoice and a fiscal receipt), a sheet and a back-charge
    audit_charge(records, card_no=CARD, pass_id=trip.pass_id, charge_id="ACTRIP02", amount=3300)
    client = client_for(agent)
    body = client.get(f"/trips/{trip.pk}/").content.decode()
    documents, charges = section(body, "documents"), section(body, "charges")
    assert badge(documents) == 2 and "第 1/2 页，共 2 条" in documents and "documents_page=2" in documents
    assert badge(charges) == 2 and "第 1/2 页，共 2 条" in charges
    assert badge(section(body, "sheets")) == 1
    second = client.get(f"/trips/{trip.pk}/", {"charges_page": 2, "documents_page": 2}).content.decode()
    assert "第 2/2 页" in section(second, "charges") and "第 2/2 页" in section(second, "documents")
    assert "ACTRIP02" in section(second, "charges") and "AC0001" not in section(second, "charges")  # newest first


def test_a_province_user_counts_only_their_provinces_rows_on_the_trip_page(
    records: dict[str, Any], make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    trip = records["invoiced"]
    audit_charge(records, card_no=CARD, pass_id=trip.pass_id, charge_id="ACTRIPBJ", unit="capital")  # Beijing's
    jiangsu = make_staff(Role.PROVINCE, "32")
    body = client_for(jiangsu).get(f"/trips/{trip.pk}/").content.decode()
    charges = section(body, "charges")
    assert badge(charges) == 1 and "AC0001" in charges and "ACTRIPBJ" not in body
