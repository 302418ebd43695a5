"""Binding reaches back (issue #12 item 2, domain.md §4.11): binding a card makes its uninvoiced trips and top-ups of
the request window the customer's, under the customer's first title; later titles apply forward only; an agent can
set a binding's or a title's start back within the window, with a reason (audited)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from invoicing.customers import (
    HolderData,
    buyer_title_add,
    buyer_title_backdate,
    card_bind,
    card_binding_backdate,
    card_unbind,
    request_window_start,
)
from invoicing.eligibility import Reason, segment_states, topup_states
from invoicing.issuing import issue_segments
from invoicing.models import BuyerTitle, CardBinding, Customer
from piaogen.models import AuditEvent, User
from tests.fixtures.invoicing import BJ, days_ago, segment, topup
from tests.fixtures.support import make_trip
from tolling.models import Card

NEW_CARD = "32010000000000000077"
HOLDER = HolderData(name="李四", id_type="身份证", id_no="11010519491231002X", phone="13900000077")
REASON = "客户来电绑卡"


@pytest.fixture
def lisi(world: dict[str, Any]) -> Customer:
    """李四, with a title since today, and an unbound post-pay card registered in their name."""
    Card.objects.create(
        card_no=NEW_CARD,
        card_type=23,
        province="32",
        holder_name=HOLDER.name,
        holder_id_type=HOLDER.id_type,
        holder_id_no=HOLDER.id_no,
        holder_phone=HOLDER.phone,
    )
    customer = Customer.objects.create(name="李四", phone="13900000077")
    BuyerTitle.objects.create(customer=customer, kind="person", name="李四", valid_from=timezone.now())
    return customer


def bind(customer: Customer) -> CardBinding:
    return card_bind(customer=customer, card_no=NEW_CARD, holder=HOLDER, reason=REASON, by=None)


def test_a_trip_of_30_days_ago_becomes_invoiceable_on_binding_and_one_of_400_days_does_not(
    world: dict[str, Any], lisi: Customer
) -> None:
    recent = segment(world, fee=1000, card_no=NEW_CARD, days=30)
    old = segment(world, fee=2000, card_no=NEW_CARD, days=400)
    assert segment_states(segment_ids=[recent.pk])[recent.pk].reason == Reason.NO_BUYER

    binding = bind(lisi)

    states = segment_states(segment_ids=[recent.pk, old.pk])
    assert states[recent.pk].eligible and states[recent.pk].customer_id == lisi.pk
    assert states[old.pk].reason == Reason.NO_BUYER
    assert binding.reaches_back and abs(binding.covers_since - request_window_start()) < dt.timedelta(minutes=1)
    (document,) = issue_segments(segment_ids=[recent.pk, old.pk])
    assert (document.customer_id, document.buyer_name) == (lisi.pk, "李四")


def test_earlier_items_get_the_first_title_and_later_titles_apply_forward_only(
    world: dict[str, Any], lisi: Customer
) -> None:
    before = segment(world, fee=1000, card_no=NEW_CARD, days=30)
    bind(lisi)
    later = buyer_title_add(customer=lisi, kind="company", name="某某科技有限公司", tax_id="91110000600037341L",
                            reason=REASON, by=None)  # fmt: skip
    after = segment(world, fee=500, card_no=NEW_CARD, days=0)
    after.exit_time = timezone.now() + dt.timedelta(seconds=1)  # after the new title's start
    after.entry_time = after.exit_time - dt.timedelta(minutes=5)  # (noon today is ahead of the exit before noon)
    after.save()

    states = segment_states(segment_ids=[before.pk, after.pk], today=dt.date(2100, 1, 1))

    first = BuyerTitle.objects.filter(customer=lisi).order_by("valid_from").first()
    assert states[before.pk].title == first and first is not None and first.name == "李四"
    assert states[after.pk].title == later


def test_a_top_up_within_the_window_comes_with_the_binding(world: dict[str, Any], lisi: Customer) -> None:
    money = topup(world, amount=5000, card_no=NEW_CARD)

    bind(lisi)

    assert topup_states(topup_ids=[money.pk])[money.pk].customer_id == lisi.pk


def test_what_a_previous_holders_binding_covered_stays_theirs(world: dict[str, Any], lisi: Customer) -> None:
    theirs = segment(world, fee=1000, card_no=NEW_CARD, days=60)
    previous = Customer.objects.create(name="王五", phone="13900000078")
    BuyerTitle.objects.create(customer=previous, kind="person", name="王五", valid_from=days_ago(100))
    CardBinding.objects.create(customer=previous, card_no=NEW_CARD, bound_at=days_ago(100), unbound_at=days_ago(20))
    mine = segment(world, fee=700, card_no=NEW_CARD, days=10)

    binding = bind(lisi)

    states = segment_states(segment_ids=[theirs.pk, mine.pk])
    assert states[theirs.pk].customer_id == previous.pk
    assert states[mine.pk].customer_id == lisi.pk
    assert binding.covers_from == days_ago(20)


def test_an_item_already_invoiced_stays_in_its_document(world: dict[str, Any], lisi: Customer) -> None:
    sold = segment(world, fee=1000, card_no=NEW_CARD, days=30)
    previous = Customer.objects.create(name="王五", phone="13900000078")
    BuyerTitle.objects.create(customer=previous, kind="person", name="王五", valid_from=days_ago(100))
    CardBinding.objects.create(customer=previous, card_no=NEW_CARD, bound_at=days_ago(100))
    (document,) = issue_segments(segment_ids=[sold.pk])
    card_unbind(card_no=NEW_CARD, holder=HOLDER, reason=REASON, by=None)

    bind(lisi)

    state = segment_states(segment_ids=[sold.pk])[sold.pk]
    assert state.reason == Reason.IN_DOCUMENT and state.document is not None and state.document.id == document.pk


def test_an_agent_sets_a_binding_back_within_the_window_audited(world: dict[str, Any], lisi: Customer) -> None:
    trip = segment(world, fee=1000, card_no=NEW_CARD, days=30)
    old = CardBinding.objects.create(customer=lisi, card_no=NEW_CARD, bound_at=days_ago(5))  # made before the rule
    assert segment_states(segment_ids=[trip.pk])[trip.pk].reason == Reason.NO_BUYER

    card_binding_backdate(binding=old, covers_from=days_ago(40), reason=REASON, by=None)

    assert segment_states(segment_ids=[trip.pk])[trip.pk].customer_id == lisi.pk
    event = AuditEvent.objects.get(action="card_binding.backdate")
    assert event.reason == REASON and event.before is not None and event.before["covers_from"] is None
    with pytest.raises(ValidationError) as too_early:
        card_binding_backdate(binding=old, covers_from=days_ago(400), reason=REASON, by=None)
    assert too_early.value.code == "backdate_too_early"
    with pytest.raises(ValidationError) as later:
        card_binding_backdate(binding=old, covers_from=days_ago(41) + dt.timedelta(days=2), reason=REASON, by=None)
    assert later.value.code == "backdate_not_earlier"


def test_an_agent_sets_a_title_back_within_the_window_audited(world: dict[str, Any], lisi: Customer) -> None:
    title = BuyerTitle.objects.get(customer=lisi)
    newer = buyer_title_add(customer=lisi, kind="person", name="李四（新）", reason=REASON, by=None)

    buyer_title_backdate(title=title, valid_from=days_ago(60), reason=REASON, by=None)

    title.refresh_from_db()
    assert title.valid_from == days_ago(60)
    assert AuditEvent.objects.filter(action="buyer_title.backdate", object_id=str(lisi.pk)).count() == 1
    with pytest.raises(ValidationError) as before_previous:  # versions keep their order
        buyer_title_backdate(title=newer, valid_from=days_ago(61), reason=REASON, by=None)
    assert before_previous.value.code == "backdate_too_early"
    with pytest.raises(ValidationError) as outside:
        buyer_title_backdate(title=title, valid_from=days_ago(400), reason=REASON, by=None)
    assert outside.value.code == "backdate_too_early"


def test_the_customer_and_card_pages_say_what_a_binding_brought_in(
    world: dict[str, Any], lisi: Customer, agent: User, client_for: Callable[[User], Client]
) -> None:
    make_trip(world, "P-BROUGHT-IN", ("commercial", 1000), card_no=NEW_CARD, days=30, issue=False)
    topup(world, amount=5000, card_no=NEW_CARD)
    bind(lisi)
    client = client_for(agent)

    customer_page = client.get(f"/customers/{lisi.pk}/").content.decode()
    card_page = client.get(f"/cards/{Card.objects.get(card_no=NEW_CARD).pk}/").content.decode()

    for page in (customer_page, card_page):
        assert "绑定时追溯纳入" in page and "的 1 次通行、1 笔充值" in page


def test_an_agent_backdates_a_binding_and_a_title_through_the_console(
    world: dict[str, Any], lisi: Customer, agent: User, client_for: Callable[[User], Client]
) -> None:
    trip = segment(world, fee=1000, card_no=NEW_CARD, days=30)
    binding = CardBinding.objects.create(customer=lisi, card_no=NEW_CARD, bound_at=days_ago(5))
    title = BuyerTitle.objects.get(customer=lisi)
    client = client_for(agent)
    since = (days_ago(40) - dt.timedelta(hours=12)).date().isoformat()

    for path, form in (
        ("binding-backdate", {"binding": binding.pk, "covers_from": since}),
        ("title-backdate", {"title": title.pk, "valid_from": since}),
    ):
        url = f"/actions/customers/{lisi.pk}/{path}/"
        assert client.get(url).status_code == 200
        data = {**form, "reason": REASON, "key": str(uuid.uuid4())}
        assert client.post(url, {**data, "step": "preview"}).status_code == 200
        assert client.post(url, {**data, "step": "confirm"}).status_code == 302

    binding.refresh_from_db()
    title.refresh_from_db()
    assert binding.covers_since.astimezone(BJ).date() == title.valid_from.astimezone(BJ).date() == days_ago(40).date()
    assert segment_states(segment_ids=[trip.pk])[trip.pk].title == title
    assert AuditEvent.objects.filter(action__in=["support.binding_backdate", "support.title_backdate"]).count() == 2


def test_the_backdating_api_answers_not_yours_as_not_there(world: dict[str, Any], lisi: Customer, agent: User) -> None:
    from rest_framework.test import APIClient

    mine = CardBinding.objects.create(customer=lisi, card_no=NEW_CARD, bound_at=days_ago(5))
    theirs = CardBinding.objects.filter(customer=world["customer"]).first()
    assert theirs is not None
    client = APIClient()
    client.force_authenticate(agent)
    url = f"/api/v1/actions/customers/{lisi.pk}/binding-backdate/"
    since = (days_ago(40) - dt.timedelta(hours=12)).date().isoformat()

    foreign = client.post(url, {"binding": theirs.pk, "covers_from": since, "reason": REASON}, format="json")
    missing = client.post(url, {"binding": 10**9, "covers_from": since, "reason": REASON}, format="json")
    done = client.post(url, {"binding": mine.pk, "covers_from": since, "reason": REASON}, format="json")

    assert foreign.status_code == missing.status_code == 400
    assert foreign.json() == missing.json() and foreign.json()["code"] == "binding_not_found"
    assert done.status_code == 201
    mine.refresh_from_db()
    assert mine.covers_since.astimezone(BJ).date() == days_ago(40).date()
