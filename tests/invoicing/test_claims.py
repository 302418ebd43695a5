"""Claims by printed number (invoicing.claims) and through the channel API: each kind issues through the issuing
services, each refusal has its code and issues nothing, an unknown number and a wrong second factor (and another
province's item) answer alike, the day-7 rule and the request window hold, and the rate limit counts per customer."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from invoicing import claims, tasks
from invoicing.claims import ClaimError, ClaimItem, ClaimKind, ClaimRefused, NewTitle, invoice_claim
from invoicing.customers import CustomerError
from invoicing.eligibility import audit_charge_states, beijing_today
from invoicing.issuing import issue_audit_charges
from invoicing.models import (
    BusinessLine,
    BuyerTitle,
    CardBinding,
    Customer,
    Document,
    DocumentItem,
    DocumentKind,
    ItemKind,
)
from piaogen.models import AuditEvent, Role, User
from tests.fixtures.claims import audit_charge, paper_ticket, taxi_company, taxi_ride
from tests.fixtures.invoicing import CARD, days_ago, trip

REQUESTS = "/api/v1/invoice-requests/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings: Any) -> None:
    """Rate-limit counters of this test only (the cache is a Redis database other test runs share: no flush)."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-claims-{uuid.uuid4()}"}}


def claim(world: dict[str, Any], *items: ClaimItem, **kwargs: Any) -> list[Document]:
    kwargs.setdefault("customer", world["customer"])
    if "new_title" not in kwargs:
        kwargs.setdefault("title", world["title"])
    kwargs.setdefault("by", None)
    return invoice_claim(items=list(items), **kwargs)


def refused(world: dict[str, Any], *items: ClaimItem, **kwargs: Any) -> list[tuple[str, str]]:
    """(code, message) of every refused item; asserts nothing was issued."""
    before = Document.objects.count()
    with pytest.raises(ClaimRefused) as error:
        claim(world, *items, **kwargs)
    assert Document.objects.count() == before
    return [(r.code, r.message) for r in error.value.refusals]


def live(kind: str, pk: int) -> int:
    return DocumentItem.objects.filter(item_kind=kind, item_id=pk, live=True).count()


def paper(number: str, plate: str, color: int | None = None) -> ClaimItem:
    return ClaimItem(ClaimKind.PAPER_TICKET, number, plate=plate, plate_color=color)


# --- paper tickets -------------------------------------------------------------------------------------------------


def test_a_paper_ticket_is_claimed_with_its_number_and_plate_typed_loosely(world: dict[str, Any]) -> None:
    ticket = paper_ticket(world, amount=3500)

    (doc,) = claim(world, paper(f" {ticket.ticket_no} ", "苏ｂ·54321", 0))

    assert (doc.kind, doc.business_line, doc.tax_rate) == (
        DocumentKind.DIGITAL_INVOICE,
        BusinessLine.PAPER,
        Decimal("0.03"),
    )
    assert (doc.title_id, doc.customer_id, doc.buyer_name, doc.seller_id) == (
        world["title"].pk,
        world["customer"].pk,
        "张三",
        world["road"].pk,
    )
    assert (doc.amount_gross, doc.amount_net, doc.amount_tax) == (3500, 3398, 102)
    assert live(ItemKind.PAPER_TICKET, ticket.pk) == 1


def test_an_unknown_number_and_a_wrong_plate_get_the_same_answer(world: dict[str, Any]) -> None:
    ticket = paper_ticket(world)

    unknown = refused(world, paper("PT-NO-SUCH", "苏B54321"))
    wrong_plate = refused(world, paper(ticket.ticket_no, "苏B54322"))
    wrong_color = refused(world, paper(ticket.ticket_no, "苏B54321", 1))

    assert unknown[0][0] == wrong_plate[0][0] == wrong_color[0][0] == "not_found"
    assert unknown[0][1].replace("PT-NO-SUCH", "N") == wrong_plate[0][1].replace(ticket.ticket_no, "N")
    assert wrong_plate == wrong_color
    assert live(ItemKind.PAPER_TICKET, ticket.pk) == 0


def test_another_provinces_ticket_answers_like_an_unknown_one(world: dict[str, Any]) -> None:
    ticket = paper_ticket(world, unit="capital", plate="京A12345")  # a Beijing ticket

    theirs = refused(world, paper(ticket.ticket_no, "京A12345"), province="32")
    unknown = refused(world, paper("PT-NO-SUCH", "京A12345"), province="32")

    assert theirs[0][0] == unknown[0][0] == "not_found"
    assert theirs[0][1].replace(ticket.ticket_no, "N") == unknown[0][1].replace("PT-NO-SUCH", "N")
    (doc,) = claim(world, paper(ticket.ticket_no, "京A12345"), province="11")
    assert doc.province == "11"


def test_an_invoiced_ticket_is_refused_with_its_document(world: dict[str, Any]) -> None:
    ticket = paper_ticket(world)
    (doc,) = claim(world, paper(ticket.ticket_no, "苏B54321"))

    ((code, message),) = refused(world, paper(ticket.ticket_no, "苏B54321"))

    assert code == "already_invoiced" and str(doc) in message
    assert DocumentItem.objects.filter(item_kind=ItemKind.PAPER_TICKET, item_id=ticket.pk).count() == 1


def test_a_ticket_older_than_the_request_window_is_refused(world: dict[str, Any], settings: Any) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "REQUEST_WINDOW_DAYS": 365}
    old = paper_ticket(world, days=366)
    edge = paper_ticket(world, days=365)

    ((code, message),) = refused(world, paper(old.ticket_no, "苏B54321"))

    assert code == "too_old" and "365" in message
    assert len(claim(world, paper(edge.ticket_no, "苏B54321"))) == 1


def test_a_ticket_is_not_issued_before_its_seventh_day(world: dict[str, Any]) -> None:
    ticket = paper_ticket(world, days=6)
    invoiceable_on = ticket.service_date + dt.timedelta(days=7)

    ((code, message),) = refused(world, paper(ticket.ticket_no, "苏B54321"))

    assert code == "not_yet" and invoiceable_on.isoformat() in message
    (doc,) = claim(world, paper(ticket.ticket_no, "苏B54321"), today=invoiceable_on)
    assert doc.amount_gross == ticket.amount


# --- taxi rides ----------------------------------------------------------------------------------------------------


def test_a_taxi_ride_is_claimed_with_its_amount_or_its_plate(world: dict[str, Any]) -> None:
    company = taxi_company(rate="0.03")
    by_amount, by_plate = taxi_ride(company, amount=10300), taxi_ride(company, amount=2000)

    (doc,) = claim(world, ClaimItem(ClaimKind.TAXI_RIDE, by_amount.ride_id, amount=10300))
    (other,) = claim(world, ClaimItem(ClaimKind.TAXI_RIDE, by_plate.ride_id, taxi_plate="苏at1234"))

    assert (doc.business_line, doc.seller_id, doc.tax_rate) == (BusinessLine.TAXI, company.pk, Decimal("0.03"))
    assert (doc.amount_gross, doc.amount_net, doc.amount_tax) == (10300, 10000, 300)
    assert doc.lines.get().item_name == "*运输服务*客运服务费"
    assert other.amount_gross == 2000


def test_a_taxi_ride_with_a_wrong_or_missing_second_factor_is_unknown(world: dict[str, Any]) -> None:
    ride = taxi_ride(taxi_company(), amount=10300)

    for item in (
        ClaimItem(ClaimKind.TAXI_RIDE, ride.ride_id, amount=10301),
        ClaimItem(ClaimKind.TAXI_RIDE, ride.ride_id, taxi_plate="苏A T9999"),
        ClaimItem(ClaimKind.TAXI_RIDE, ride.ride_id, amount=10300, taxi_plate="苏A T9999"),  # both must hold
        ClaimItem(ClaimKind.TAXI_RIDE, ride.ride_id),
    ):
        assert [code for code, _message in refused(world, item)] == ["not_found"]
    assert live(ItemKind.TAXI_RIDE, ride.pk) == 0


def test_a_ride_of_a_company_without_a_rate_is_refused_with_the_reason(world: dict[str, Any]) -> None:
    ride = taxi_ride(taxi_company(rate=None), amount=1000)

    ((code, message),) = refused(world, ClaimItem(ClaimKind.TAXI_RIDE, ride.ride_id, amount=1000))

    assert code == "no_rate" and ride.ride_id in message


# --- back-charges --------------------------------------------------------------------------------------------------


def charge_item(number: str, plate: str = "苏A12345") -> ClaimItem:
    return ClaimItem(ClaimKind.AUDIT_CHARGE, number, plate=plate)


def test_a_back_charge_without_a_card_is_claimable(world: dict[str, Any]) -> None:
    charge = audit_charge(world, amount=5000)
    assert issue_audit_charges(charge_ids=[charge.pk]) == []  # no card: no one to issue it to
    # what the agent's pages say of it: it waits for a claim by its number, not for a card binding
    assert audit_charge_states(charge_ids=[charge.pk])[charge.pk].message() == "尚无购买方：按号码申请开票后开具"

    (doc,) = claim(world, charge_item(charge.charge_id, "苏a12345"))

    assert (doc.business_line, doc.seller_id, doc.title_id) == (BusinessLine.AUDIT, world["road"].pk, world["title"].pk)
    assert (doc.amount_gross, doc.amount_tax) == (5000, 146)
    assert [code for code, _m in refused(world, charge_item(charge.charge_id))] == ["already_invoiced"]


def test_a_back_charge_linked_to_an_invoiced_trip_invoices_the_charge_alone(world: dict[str, Any]) -> None:
    (segment,) = trip(world, "PASS-AUDIT-1", ("commercial", 10000))
    trip_document = DocumentItem.objects.get(item_kind=ItemKind.SEGMENT, item_id=segment.pk, live=True).document
    charge = audit_charge(world, amount=2500, pass_id="PASS-AUDIT-1")

    (doc,) = claim(world, charge_item(charge.charge_id))

    assert doc.pk != trip_document.pk and doc.amount_gross == 2500
    assert list(doc.items.values_list("item_kind", "item_id")) == [(ItemKind.AUDIT_CHARGE, charge.pk)]
    assert live(ItemKind.SEGMENT, segment.pk) == 1  # the trip's document still holds the trip, and only it does
    assert Document.objects.get(pk=trip_document.pk).amount_gross == 10000


def test_a_back_charge_the_daily_run_already_invoiced_is_refused(world: dict[str, Any]) -> None:
    charge = audit_charge(world, card_no=CARD)
    (doc,) = issue_audit_charges(charge_ids=[charge.pk])

    ((code, message),) = refused(world, charge_item(charge.charge_id))

    assert code == "already_invoiced" and str(doc) in message


def test_another_customers_back_charge_answers_like_an_unknown_one(world: dict[str, Any]) -> None:
    other = Customer.objects.create(name="李四", phone="13800000002")
    CardBinding.objects.create(customer=other, card_no="32010000000000000077", bound_at=days_ago(100))
    charge = audit_charge(world, card_no="32010000000000000077")

    assert [code for code, _m in refused(world, charge_item(charge.charge_id))] == ["not_found"]


def test_taxi_rides_and_back_charges_older_than_the_window_are_refused(world: dict[str, Any]) -> None:
    ride = taxi_ride(taxi_company(), days=400, amount=1000)
    charge = audit_charge(world, days=400)

    codes = [
        code
        for item in (
            ClaimItem(ClaimKind.TAXI_RIDE, ride.ride_id, amount=1000),
            charge_item(charge.charge_id),
        )
        for code, _message in refused(world, item)
    ]

    assert codes == ["too_old", "too_old"]


def test_a_claimed_document_is_queued_for_e_mail(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    queued: list[list[int]] = []
    monkeypatch.setattr(tasks.deliver_documents, "apply_async", lambda args, queue: queued.append(args[0]))
    ticket = paper_ticket(world)

    with django_capture_on_commit_callbacks(execute=True):
        (doc,) = claim(world, paper(ticket.ticket_no, "苏B54321"))

    assert queued == [[doc.pk]]  # the title's 收票邮箱


# --- buyer, all or nothing, rate limit ----------------------------------------------------------------------------


def test_a_new_title_is_validated_and_added(world: dict[str, Any]) -> None:
    ticket = paper_ticket(world)
    bad = NewTitle(kind="company", name="南京某某科技有限公司", tax_id="91110000600037341X")  # wrong check char

    with pytest.raises(CustomerError) as error:
        claim(world, paper(ticket.ticket_no, "苏B54321"), new_title=bad)
    assert error.value.code == "title_tax_id_invalid"
    assert BuyerTitle.objects.filter(name="南京某某科技有限公司").count() == 0
    assert Document.objects.count() == 0

    good = NewTitle(kind="company", name="南京某某科技有限公司", tax_id="91110000600037341L")
    (doc,) = claim(world, paper(ticket.ticket_no, "苏B54321"), new_title=good, reason="来电申请")
    title = BuyerTitle.objects.get(name="南京某某科技有限公司")
    assert (doc.title_id, doc.buyer_tax_id, title.customer_id) == (title.pk, "91110000600037341L", world["customer"].pk)


def test_a_title_of_another_customer_is_refused(world: dict[str, Any]) -> None:
    other = Customer.objects.create(name="李四", phone="13800000002")
    theirs = BuyerTitle.objects.create(customer=other, kind="person", name="李四", valid_from=days_ago(10))
    ticket = paper_ticket(world)

    with pytest.raises(ClaimError) as error:
        claim(world, paper(ticket.ticket_no, "苏B54321"), title=theirs)

    assert error.value.code == "foreign_title" and Document.objects.count() == 0


def test_a_claim_is_all_or_nothing(world: dict[str, Any]) -> None:
    good, old = paper_ticket(world), paper_ticket(world, days=400)

    codes = [code for code, _m in refused(world, paper(good.ticket_no, "苏B54321"), paper(old.ticket_no, "苏B54321"))]

    assert codes == ["too_old"]
    assert live(ItemKind.PAPER_TICKET, good.pk) == 0


def test_an_item_taken_between_the_check_and_the_issue_refuses_the_claim_and_keeps_nothing(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket = paper_ticket(world)
    stale = claims._states(ClaimKind.PAPER_TICKET, [ticket.pk], beijing_today())  # what the check saw
    (first,) = claim(world, paper(ticket.ticket_no, "苏B54321"))  # a concurrent request wins
    monkeypatch.setattr(claims, "_states", lambda kind, ids, today: stale if ids else {})
    new = NewTitle(kind="person", name="张三（新）")

    ((code, _message),) = refused(world, paper(ticket.ticket_no, "苏B54321"), new_title=new)

    assert code == "already_invoiced"
    assert not BuyerTitle.objects.filter(name="张三（新）").exists()  # the title added for it is rolled back
    assert DocumentItem.objects.get(item_kind=ItemKind.PAPER_TICKET, item_id=ticket.pk).document_id == first.pk


def test_claims_per_customer_are_rate_limited_refused_ones_included(world: dict[str, Any], settings: Any) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "CLAIM_RATE_LIMIT": 2}
    ticket = paper_ticket(world)
    refused(world, paper(ticket.ticket_no, "苏X00000"))
    refused(world, paper(ticket.ticket_no, "苏X00001"))

    with pytest.raises(ClaimError) as error:
        claim(world, paper(ticket.ticket_no, "苏B54321"))  # the right plate, too late

    assert error.value.code == "rate_limited" and live(ItemKind.PAPER_TICKET, ticket.pk) == 0
    other = Customer.objects.create(name="李四", phone="13800000002")
    theirs = BuyerTitle.objects.create(customer=other, kind="person", name="李四", valid_from=days_ago(10))
    assert len(claim(world, paper(ticket.ticket_no, "苏B54321"), customer=other, title=theirs)) == 1


# --- the channel API -----------------------------------------------------------------------------------------------


@pytest.fixture
def api(make_staff: Callable[..., User]) -> Callable[..., APIClient]:
    def make(role: str, province: str = "") -> APIClient:
        client = APIClient()
        client.default_format = "json"
        client.force_authenticate(make_staff(role, province))
        return client

    return make


def body(world: dict[str, Any], *items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"items": list(items), "customer": world["customer"].pk, "title": world["title"].pk, **extra}


def test_an_agent_claims_each_kind_through_the_api(world: dict[str, Any], api: Callable[..., APIClient]) -> None:
    ticket, ride, charge = paper_ticket(world), taxi_ride(taxi_company(), amount=3550), audit_charge(world)
    client = api(Role.AGENT)

    responses = [
        client.post(REQUESTS, body(world, item), format="json")
        for item in (
            {"kind": "paper_ticket", "number": ticket.ticket_no, "plate": "苏B54321", "plate_color": 0},
            {"kind": "taxi_ride", "number": ride.ride_id, "amount": "35.50"},
            {"kind": "audit_charge", "number": charge.charge_id, "plate": "苏A12345"},
        )
    ]

    assert [r.status_code for r in responses] == [201, 201, 201], [r.json() for r in responses]
    lines = [r.json()["documents"][0]["business_line"] for r in responses]
    assert lines == [BusinessLine.PAPER, BusinessLine.TAXI, BusinessLine.AUDIT]
    assert AuditEvent.objects.filter(action="invoice.claim").count() == 3


def test_api_refusals_have_a_code_and_unknown_equals_mismatched(
    world: dict[str, Any], api: Callable[..., APIClient]
) -> None:
    ticket = paper_ticket(world, ticket_no="PT-REAL-1")
    client = api(Role.AGENT)

    unknown = client.post(REQUESTS, body(world, {"kind": "paper_ticket", "number": "PT-FAKE-1", "plate": "苏B54321"}))
    wrong = client.post(REQUESTS, body(world, {"kind": "paper_ticket", "number": "PT-REAL-1", "plate": "苏B00000"}))

    assert unknown.status_code == wrong.status_code == 404
    assert unknown.json()["code"] == "not_found"
    assert str(unknown.json()).replace("PT-FAKE-1", "N") == str(wrong.json()).replace("PT-REAL-1", "N")
    ok = client.post(REQUESTS, body(world, {"kind": "paper_ticket", "number": "PT-REAL-1", "plate": "苏B54321"}))
    again = client.post(REQUESTS, body(world, {"kind": "paper_ticket", "number": "PT-REAL-1", "plate": "苏B54321"}))
    assert ok.status_code == 201 and again.status_code == 409
    assert again.json()["code"] == "already_invoiced" and ok.json()["documents"][0]["number"] in again.json()["detail"]
    assert live(ItemKind.PAPER_TICKET, ticket.pk) == 1


def test_api_day_seven_window_and_rate_limit_refusals(
    world: dict[str, Any], api: Callable[..., APIClient], settings: Any
) -> None:
    client = api(Role.AGENT)
    young, old = paper_ticket(world, days=2), paper_ticket(world, days=500)

    not_yet = client.post(
        REQUESTS, body(world, {"kind": "paper_ticket", "number": young.ticket_no, "plate": "苏B54321"})
    )
    too_old = client.post(REQUESTS, body(world, {"kind": "paper_ticket", "number": old.ticket_no, "plate": "苏B54321"}))
    assert (not_yet.status_code, not_yet.json()["code"]) == (409, "not_yet")
    assert (too_old.status_code, too_old.json()["code"]) == (409, "too_old")

    settings.PIAOGEN = {**settings.PIAOGEN, "CLAIM_RATE_LIMIT": 2}
    limited = client.post(REQUESTS, body(world, {"kind": "paper_ticket", "number": "X", "plate": "苏B54321"}))
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert Document.objects.count() == 0


def test_a_province_token_claims_only_its_provinces_items(world: dict[str, Any], api: Callable[..., APIClient]) -> None:
    local = Customer.objects.create(name="王五", phone="13800000005", province="32")
    title = BuyerTitle.objects.create(customer=local, kind="person", name="王五", valid_from=days_ago(10))
    ours, theirs = paper_ticket(world), paper_ticket(world, unit="capital", plate="京A12345")
    jiangsu = api(Role.PROVINCE, "32")
    claim_body = {"customer": local.pk, "title": title.pk}

    other = jiangsu.post(
        REQUESTS, {"items": [{"kind": "paper_ticket", "number": theirs.ticket_no, "plate": "京A12345"}], **claim_body}
    )
    unknown = jiangsu.post(
        REQUESTS, {"items": [{"kind": "paper_ticket", "number": "PT-NONE", "plate": "京A12345"}], **claim_body}
    )
    assert other.status_code == unknown.status_code == 404
    assert str(other.json()).replace(theirs.ticket_no, "N") == str(unknown.json()).replace("PT-NONE", "N")

    mine = jiangsu.post(
        REQUESTS, {"items": [{"kind": "paper_ticket", "number": ours.ticket_no, "plate": "苏B54321"}], **claim_body}
    )
    assert mine.status_code == 201 and mine.json()["documents"][0]["customer"] == local.pk

    # not their customer (no province, or another one's): as if it did not exist
    foreign = jiangsu.post(
        REQUESTS, body(world, {"kind": "paper_ticket", "number": ours.ticket_no, "plate": "苏B54321"})
    )
    assert foreign.status_code == 400 and [error["field"] for error in foreign.json()["errors"]] == ["customer"]
    # and only claims: no requests by segment or trip
    assert jiangsu.post(REQUESTS, {"items": [{"kind": "segment", "id": 1}]}, format="json").status_code == 403


def test_the_api_validates_claim_requests(world: dict[str, Any], api: Callable[..., APIClient]) -> None:
    client = api(Role.AGENT)

    def post(data: dict[str, Any]) -> Any:
        return client.post(REQUESTS, data, format="json")

    ticket = {"kind": "paper_ticket", "number": "PT1", "plate": "苏B54321"}
    assert post(body(world, {"kind": "paper_ticket", "number": "PT1"})).status_code == 400  # no plate
    assert post(body(world, {"kind": "taxi_ride", "number": "R1"})).status_code == 400  # no second factor
    assert post(body(world, ticket, {"kind": "segment", "id": 1})).status_code == 400  # mixed
    assert post({"items": [ticket]}).status_code == 400  # no buyer
    assert post({**body(world, ticket), "new_title": {"kind": "person", "name": "张三"}}).status_code == 400  # both
    assert Document.objects.count() == 0


def test_the_readmes_claim_examples_work(world: dict[str, Any], api: Callable[..., APIClient]) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    examples = [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", readme, re.DOTALL) if '"items"' in body]
    paper_ticket(world, ticket_no="3201202611150001")
    taxi_ride(taxi_company(), ride_id="R20261120001", amount=3550)
    audit_charge(world, charge_id="AC20261101001")
    client = api(Role.AGENT)

    for example in examples:
        example["customer"] = world["customer"].pk
        if "title" in example:
            example["title"] = world["title"].pk
        response = client.post(REQUESTS, example)
        assert response.status_code == 201, (example, response.json())
    assert [e["items"][0]["kind"] for e in examples] == ["paper_ticket", "taxi_ride", "audit_charge"]
