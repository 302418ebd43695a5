"""The prepaid choice is the customer's (issue #12 item 3, domain.md §4.12): a prepaid card's holder chooses "at
top-up" or "per trip"; runs issue top-ups only for "at top-up" cards (the version in force at the top-up), the rest
only on request; the channel API and the agent action change it, forward only, audited."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from invoicing.customers import prepaid_choice_in_force, prepaid_choice_set
from invoicing.eligibility import Reason, segment_states
from invoicing.issuing import issue_run_create_daily, issue_run_daily, issue_topups
from invoicing.models import CardPrepaidChoice, ItemKind, PrepaidChoice
from piaogen.models import AuditEvent, Role, User
from tests.fixtures import issuing
from tests.fixtures.issuing import CARD, POST_CARD, TODAY, at, live_items, segment, topup
from tolling.models import Card

world = issuing.world  # the fixture

REASON = "客户来电选择开票方式"


@pytest.fixture
def cards(world: dict[str, Any]) -> dict[str, Card]:
    return {
        "prepaid": Card.objects.create(card_no=CARD, card_type=22, province="32"),
        "postpay": Card.objects.create(card_no=POST_CARD, card_type=23, province="32"),
    }


def choose(choice: str, when: dt.datetime, card_no: str = CARD) -> CardPrepaidChoice:
    return CardPrepaidChoice.objects.create(card_no=card_no, choice=choice, valid_from=when)


def run_daily() -> None:
    run, _created = issue_run_create_daily(business_date=dt.date(2026, 11, 20))
    issue_run_daily(run_id=run.pk)


def test_the_daily_run_leaves_a_per_trip_cards_top_up_to_a_request(world: dict[str, Any]) -> None:
    money = topup(world, when=at(2), amount=5000)
    trip = segment(world, exit_time=at(3), fee=1000, card_no=CARD, card_type=22)

    run_daily()

    assert live_items(money, ItemKind.TOPUP) == []  # never chosen: per trip
    assert len(live_items(trip)) == 1  # so the trip it paid is invoiced, and the top-up no longer can be
    assert issue_topups(topup_ids=[money.pk]) == []


def test_the_daily_run_issues_the_top_ups_of_a_card_that_chose_at_top_up(world: dict[str, Any]) -> None:
    choose(PrepaidChoice.AT_TOPUP, at(1, month=10))
    money = topup(world, when=at(2), amount=5000)
    trip = segment(world, exit_time=at(3), fee=1000, card_no=CARD, card_type=22)

    run_daily()

    assert len(live_items(money, ItemKind.TOPUP)) == 1
    assert live_items(trip) == []
    assert segment_states(segment_ids=[trip.pk], today=TODAY)[trip.pk].reason == Reason.TOPUP_INVOICED


def test_the_choice_in_force_at_the_top_up_decides_and_a_change_applies_forward(world: dict[str, Any]) -> None:
    choose(PrepaidChoice.AT_TOPUP, at(1, month=10))
    choose(PrepaidChoice.PER_TRIP, at(10))
    before = topup(world, when=at(5), amount=5000)
    after = topup(world, when=at(12), amount=3000)

    run_daily()

    assert len(live_items(before, ItemKind.TOPUP)) == 1
    assert live_items(after, ItemKind.TOPUP) == []
    assert len(issue_topups(topup_ids=[after.pk])) == 1  # on request it is still invoiceable


def test_changing_the_choice_leaves_money_already_invoiced_as_it_is(
    world: dict[str, Any], cards: dict[str, Card]
) -> None:
    money = topup(world, when=at(2), amount=5000)
    trip = segment(world, exit_time=at(3), fee=1000, card_no=CARD, card_type=22)
    issue_topups(topup_ids=[money.pk])

    prepaid_choice_set(card_no=CARD, choice=PrepaidChoice.AT_TOPUP, reason=REASON, by=None)
    prepaid_choice_set(card_no=CARD, choice=PrepaidChoice.PER_TRIP, reason=REASON, by=None)

    assert len(live_items(money, ItemKind.TOPUP)) == 1
    assert segment_states(segment_ids=[trip.pk], today=TODAY)[trip.pk].reason == Reason.TOPUP_INVOICED


def test_setting_the_choice_keeps_its_history_and_is_audited(world: dict[str, Any], cards: dict[str, Card]) -> None:
    assert prepaid_choice_in_force(CARD) is None

    first = prepaid_choice_set(card_no=CARD, choice=PrepaidChoice.AT_TOPUP, reason=REASON, by=None)
    second = prepaid_choice_set(card_no=CARD, choice=PrepaidChoice.PER_TRIP, reason=REASON, by=None)

    assert prepaid_choice_in_force(CARD) == second
    assert prepaid_choice_in_force(CARD, at=first.valid_from) == first
    assert first.customer_id == world["customer"].pk  # the card's active binding
    events = AuditEvent.objects.filter(action="card.prepaid_choice").order_by("pk")
    changes = [((e.before or {})["choice"], (e.after or {})["choice"]) for e in events]
    assert changes == [(None, "topup"), ("topup", "trips")]


@pytest.mark.parametrize(
    ("card_no", "choice", "reason", "code"),
    [
        (CARD, PrepaidChoice.PER_TRIP, REASON, "prepaid_choice_unchanged"),  # per trip is the default
        (POST_CARD, PrepaidChoice.AT_TOPUP, REASON, "not_prepaid"),
        ("32019999999999999999", PrepaidChoice.AT_TOPUP, REASON, "card_not_found"),
        (CARD, PrepaidChoice.AT_TOPUP, " ", "reason_required"),
        (CARD, "sometimes", REASON, "prepaid_choice_invalid"),
    ],
)
def test_a_choice_that_cannot_be_set_is_refused_with_its_code(
    cards: dict[str, Card], card_no: str, choice: str, reason: str, code: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        prepaid_choice_set(card_no=card_no, choice=choice, reason=reason, by=None)

    assert refused.value.code == code
    assert not CardPrepaidChoice.objects.exists()


def test_the_channel_api_changes_the_choice(cards: dict[str, Card], make_staff: Callable[..., User]) -> None:
    client = APIClient()
    client.force_authenticate(make_staff(Role.AGENT))
    body = {"card_no": CARD, "choice": "topup", "reason": REASON}

    created = client.post("/api/v1/prepaid-choices/", body, format="json")
    again = client.post("/api/v1/prepaid-choices/", body, format="json")
    postpay = client.post("/api/v1/prepaid-choices/", {**body, "card_no": POST_CARD}, format="json")

    assert created.status_code == 201 and created.json()["choice"] == "topup"
    assert again.status_code == 409 and again.json()["code"] == "prepaid_choice_unchanged"
    assert postpay.status_code == 400 and postpay.json()["code"] == "not_prepaid"
    assert prepaid_choice_in_force(CARD) is not None


def test_an_agent_changes_the_choice_from_the_card_page(
    cards: dict[str, Card], agent: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(agent)
    card = cards["prepaid"]
    url = f"/actions/cards/{card.pk}/prepaid-choice/"
    form = {"choice": "topup", "reason": REASON, "key": str(uuid.uuid4())}

    page = client.get(f"/cards/{card.pk}/").content.decode()
    preview = client.post(url, {**form, "step": "preview"})
    assert not CardPrepaidChoice.objects.exists() and preview.status_code == 200
    confirmed = client.post(url, {**form, "step": "confirm"})
    after = client.get(f"/cards/{card.pk}/").content.decode()

    assert url in page and "按通行开票（未选择时的默认）" in page
    assert confirmed.status_code == 302
    assert prepaid_choice_in_force(CARD).choice == PrepaidChoice.AT_TOPUP  # type: ignore[union-attr]
    assert "充值时开票" in after and REASON in after
