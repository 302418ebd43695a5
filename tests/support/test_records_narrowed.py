"""Customer records narrowed for province users (issue #18's probe findings): a province user who may open an
account because one of its cards was issued in their province sees only what relates to their province's cards —
bindings and titles in the customer API, the page's titles and timeline (no other province's tickets or audit
events), and ``/api/v1/customers/?card_no=`` answers for their own cards only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from invoicing.models import BuyerTitle
from piaogen.audit import audit_record
from piaogen.models import Role, User
from support.tickets import ticket_open
from tests.fixtures.invoicing import CARD, OTHER_CARD, PREPAID, days_ago
from tests.fixtures.support import HOLDER, holder_card

JIANGSU_ONLY = ("江苏专用抬头", "江苏工单", "江苏绑卡原因", CARD)


@pytest.fixture
def account(world: dict[str, Any], agent: User) -> dict[str, Any]:
    """张三 of Jiangsu with two Jiangsu cards and a Beijing card, a title for a Jiangsu card and one for the
    Beijing card, a Jiangsu ticket and an agent's action on a Jiangsu card recorded on the account."""
    for card_no in (CARD, PREPAID, OTHER_CARD):
        holder_card(card_no)
    customer = world["customer"]
    customer.province = "32"
    customer.save(update_fields=["province"])
    BuyerTitle.objects.create(
        customer=customer,
        card_no=CARD,
        kind="company",
        name="江苏专用抬头",
        tax_id="91320100MA1XY0123J",
        valid_from=days_ago(30),
    )
    BuyerTitle.objects.create(
        customer=customer, card_no=OTHER_CARD, kind="person", name="北京专用抬头", valid_from=days_ago(30)
    )
    ticket_open(category="other", subject="江苏工单", customer=customer, by=agent)
    audit_record(actor=agent, action="support.card_bind", obj=customer, province="32", reason="江苏绑卡原因")
    audit_record(actor=agent, action="support.card_bind", obj=customer, province="11", reason="北京绑卡原因")
    return {**world, "customer": customer}


def _api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_customer_api_shows_a_province_user_only_their_provinces_bindings_and_titles(
    account: dict[str, Any], make_staff: Callable[..., User]
) -> None:
    beijing = _api(make_staff(Role.PROVINCE, "11"))

    record = beijing.get(f"/api/v1/customers/{account['customer'].pk}/").json()

    assert [binding["card_no"] for binding in record["bindings"]] == [OTHER_CARD]
    assert sorted(title["name"] for title in record["titles"]) == sorted(["张三", "北京专用抬头"])  # + the default


def test_national_roles_still_see_every_binding_and_title(account: dict[str, Any], agent: User) -> None:
    record = _api(agent).get(f"/api/v1/customers/{account['customer'].pk}/").json()

    assert sorted(binding["card_no"] for binding in record["bindings"]) == sorted([CARD, PREPAID, OTHER_CARD])
    assert len(record["titles"]) == 3


def test_the_customer_page_shows_a_province_user_no_other_provinces_titles_tickets_or_audit_events(
    account: dict[str, Any], make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    page = client_for(make_staff(Role.PROVINCE, "11")).get(f"/customers/{account['customer'].pk}/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "北京专用抬头" in html and OTHER_CARD in html and "北京绑卡原因" in html
    assert [text for text in JIANGSU_ONLY if text in html] == []


def test_the_customer_page_still_shows_the_home_province_everything_of_its_own(
    account: dict[str, Any], province_user: User, client_for: Callable[[User], Client]
) -> None:
    html = client_for(province_user).get(f"/customers/{account['customer'].pk}/").content.decode()

    assert "江苏专用抬头" in html and "江苏绑卡原因" in html and CARD in html
    assert "北京专用抬头" not in html and "北京绑卡原因" not in html


def test_the_card_filter_answers_a_province_user_only_for_their_own_cards(
    account: dict[str, Any], make_staff: Callable[..., User]
) -> None:
    beijing = _api(make_staff(Role.PROVINCE, "11"))

    own = beijing.get("/api/v1/customers/", {"card_no": OTHER_CARD}).json()
    other = beijing.get("/api/v1/customers/", {"card_no": CARD})
    missing = beijing.get("/api/v1/customers/", {"card_no": "32019999999999999999"})

    assert [row["id"] for row in own["results"]] == [account["customer"].pk]
    assert other.json()["results"] == [] and other.json() == missing.json()  # "not yours" equals "not there"


def test_an_action_on_another_provinces_card_is_kept_off_the_home_provinces_timeline(
    account: dict[str, Any], agent: User, province_user: User, client_for: Callable[[User], Client]
) -> None:
    beijing_card = "11010000000000000777"
    holder_card(beijing_card)
    bound = _api(agent).post(
        f"/api/v1/actions/customers/{account['customer'].pk}/bind/",
        {"card_no": beijing_card, **HOLDER, "reason": "北京新卡绑定"},
        format="json",
    )

    html = client_for(province_user).get(f"/customers/{account['customer'].pk}/").content.decode()

    assert bound.status_code == 201
    assert "北京新卡绑定" not in html and beijing_card not in html


def test_a_search_by_the_taxpayer_id_of_another_provinces_card_title_finds_no_account(
    account: dict[str, Any], make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    beijing = client_for(make_staff(Role.PROVINCE, "11"))

    page = beijing.get("/search/", {"q": "91320100MA1XY0123J", "all": "1"})

    assert page.status_code == 200
    assert f"/customers/{account['customer'].pk}/" not in page.content.decode()
