"""The card page's audit back-charges (稽核补费): the card's own and its vehicle's recorded without a card, paged with
their count, each linked to its document once invoiced, amounts in yuan, reasons in words; a province user sees
their province's only."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from invoicing.issuing import issue_audit_charges
from piaogen.models import Role, User
from support.records import card_charges
from tests.fixtures.claims import audit_charge
from tests.fixtures.invoicing import CARD, OTHER_CARD

pytestmark = pytest.mark.django_db


def charges_section(body: str) -> str:
    return body.split('id="charges"', 1)[1].split("</section>", 1)[0]


def test_the_card_page_lists_its_back_charges_with_reasons_amounts_and_documents(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    loose = audit_charge(records, amount=2550, charge_id="ACLOOSE1")  # on the vehicle, no card recorded
    other = audit_charge(records, card_no=OTHER_CARD, charge_id="ACOTHER1", unit="capital")  # another card's
    (document,) = issue_audit_charges(charge_ids=[records["charge"].pk])
    html = charges_section(client_for(agent).get(f"/cards/{records['cards']['post'].pk}/").content.decode())

    assert '<span class="badge">2</span>' in html
    assert "AC0001" in html and "ACLOOSE1" in html and other.charge_id not in html
    assert "车型不符" in html and "CLASS" not in html
    assert "¥12.00" in html and "¥25.50" in html
    assert f'href="/documents/{document.pk}/"' in html
    assert f'href="/trips/{records["invoiced"].pk}/"' in html  # the original trip
    assert loose.charge_id in html


def test_the_card_pages_back_charges_page_with_their_count(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    import support.records

    monkeypatch.setattr(support.records, "LIST_LIMIT", 2)
    for n in range(3):
        audit_charge(records, card_no=CARD, charge_id=f"ACPAGE{n}", days=n + 2)
    client = client_for(agent)
    card = records["cards"]["post"]
    first = charges_section(client.get(f"/cards/{card.pk}/").content.decode())
    assert '<span class="badge">4</span>' in first and "第 1/2 页，共 4 条" in first
    assert re.search(r'name="charges_page" value="2"', first)  # the card is bound: the pager submits the ticks
    second = charges_section(client.get(f"/cards/{card.pk}/", {"charges_page": 2}).content.decode())
    assert "第 2/2 页，共 4 条" in second and second.count("<tr>") == 1 + 2


def test_a_province_user_sees_only_their_provinces_back_charges_of_a_card(
    records: dict[str, Any], make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    beijing = make_staff(Role.PROVINCE, "11")
    jiangsu = make_staff(Role.PROVINCE, "32")
    capital = audit_charge(records, card_no=OTHER_CARD, charge_id="ACBJ0001", unit="capital")
    card = records["cards"]["beijing"]  # a Beijing card on the Jiangsu vehicle 苏A12345
    assert [c.charge_id for c in card_charges(beijing, card)] == [capital.charge_id]
    body = client_for(beijing).get(f"/cards/{card.pk}/").content.decode()
    assert "ACBJ0001" in charges_section(body) and "AC0001" not in body
    assert '<span class="badge">1</span>' in charges_section(body)
    # the Jiangsu user cannot open the Beijing card at all, and sees the Jiangsu card's charges only
    assert client_for(jiangsu).get(f"/cards/{card.pk}/").status_code == 404
    own = charges_section(client_for(jiangsu).get(f"/cards/{records['cards']['post'].pk}/").content.decode())
    assert "AC0001" in own and "ACBJ0001" not in own


def test_the_card_pages_back_charges_cost_the_same_queries_however_many_there_are(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(agent)
    url = f"/cards/{records['cards']['post'].pk}/"
    client.get(url)  # warm the session and caches
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    invoiced = [audit_charge(records, card_no=CARD, charge_id=f"ACQ{n}", days=n + 2) for n in range(5)]
    issue_audit_charges(charge_ids=[c.pk for c in invoiced[:2]])
    with CaptureQueriesContext(connection) as after:
        html = charges_section(client.get(url).content.decode())
    assert '<span class="badge">6</span>' in html
    assert len(after.captured_queries) == len(before.captured_queries)


def test_the_customer_page_leaves_out_back_charges_recorded_on_someone_elses_card(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    from invoicing.models import CardBinding, Customer
    from tests.fixtures.invoicing import days_ago

    other = Customer.objects.create(name="李四", phone="13800000002")
    CardBinding.objects.create(customer=other, card_no="32010000000000000077", bound_at=days_ago(100))
    audit_charge(records, card_no="32010000000000000077", charge_id="ACLISI01")  # 李四's card, 张三's old vehicle
    audit_charge(records, charge_id="ACNOCARD1")  # on the vehicle, no card recorded
    html = charges_section(client_for(agent).get(f"/customers/{records['customer'].pk}/").content.decode())
    assert "AC0001" in html and "ACNOCARD1" in html and "ACLISI01" not in html
    assert '<span class="badge">2</span>' in html
