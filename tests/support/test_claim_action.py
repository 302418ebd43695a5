"""代客开票 through its page: the preview shows what will be issued and writes nothing, a refusal is a form error
that says the same for an unknown number and a wrong plate, a new title is validated and added, and a taxi ride
is claimed with its amount or the taxi's plate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from invoicing.models import BuyerTitle, Document, DocumentItem
from piaogen.models import AuditEvent, User
from support.models import ActionRequest
from tests.fixtures.claims import paper_ticket, taxi_company, taxi_ride

REASON = "客户来电，纸质票据改开电子发票"


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings: Any) -> None:
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-claims-{uuid.uuid4()}"}}


@pytest.fixture
def agent_client(agent: User, client_for: Callable[[User], Client]) -> Client:
    return client_for(agent)


def post(client: Client, world: dict[str, Any], step: str, **data: Any) -> Any:
    body = {"claim_kind": "paper_ticket", "reason": REASON, "key": str(uuid.uuid4()), "step": step, **data}
    if "new_name" not in data:
        body.setdefault("title", str(world["title"].pk))
    return client.post(f"/actions/customers/{world['customer'].pk}/claim/", body)


def errors(response: Any) -> str:
    return " ".join(response.context["form"].non_field_errors())


def test_the_preview_shows_the_document_and_writes_nothing(agent_client: Client, world: dict[str, Any]) -> None:
    ticket = paper_ticket(world, amount=3500)

    response = post(agent_client, world, "preview", number=ticket.ticket_no, plate="苏b54321")

    assert response.status_code == 200
    preview = response.context["preview"]
    assert ticket.ticket_no in preview["plan"] and preview["totals"]["amount_gross"] == 3500
    customer = world["customer"]
    assert f"将为客户{customer.name}开具" in preview["plan"]  # by name, not the internal id
    assert f"客户{customer.pk}" not in preview["plan"]
    assert f"客户 {customer.name}（{customer.pk}）" not in response.content.decode()  # nor the page's header
    assert "¥35.00" in response.content.decode()
    assert Document.objects.count() == 0 and ActionRequest.objects.count() == 0


def test_confirming_issues_once_and_audits(agent_client: Client, world: dict[str, Any], agent: User) -> None:
    ticket = paper_ticket(world)
    key = str(uuid.uuid4())

    for _ in range(2):
        response = post(agent_client, world, "confirm", number=ticket.ticket_no, plate="苏B54321", key=key)
        assert response.status_code == 302

    assert DocumentItem.objects.filter(item_kind="paper", item_id=ticket.pk, live=True).count() == 1
    assert ActionRequest.objects.get().kind == "claim"
    assert AuditEvent.objects.filter(action="support.claim", actor=agent).count() == 1
    assert AuditEvent.objects.filter(action="invoice.claim", actor=agent, reason=REASON).count() == 1


def test_an_unknown_number_and_a_wrong_plate_read_the_same(agent_client: Client, world: dict[str, Any]) -> None:
    ticket = paper_ticket(world, ticket_no="PT-REAL-9")

    unknown = errors(post(agent_client, world, "confirm", number="PT-FAKE-9", plate="苏B54321"))
    wrong = errors(post(agent_client, world, "confirm", number="PT-REAL-9", plate="苏B99999"))

    assert unknown and unknown.replace("PT-FAKE-9", "N") == wrong.replace("PT-REAL-9", "N")
    assert Document.objects.count() == 0 and ActionRequest.objects.count() == 0
    assert ticket.pk


def test_a_new_title_is_validated_then_added(agent_client: Client, world: dict[str, Any]) -> None:
    ticket = paper_ticket(world)
    company = {"new_name": "南京某某科技有限公司", "new_kind": "company"}

    bad = post(agent_client, world, "confirm", number=ticket.ticket_no, plate="苏B54321", new_tax_id="123", **company)
    assert "纳税人识别号无效" in errors(bad)
    assert not BuyerTitle.objects.filter(name="南京某某科技有限公司").exists() and Document.objects.count() == 0

    good = post(
        agent_client,
        world,
        "confirm",
        number=ticket.ticket_no,
        plate="苏B54321",
        new_tax_id="91110000600037341L",
        **company,
    )
    assert good.status_code == 302
    document = Document.objects.get()
    assert (document.buyer_name, document.buyer_tax_id) == ("南京某某科技有限公司", "91110000600037341L")


def test_a_taxi_ride_is_claimed_with_the_amount_or_the_taxi_plate(agent_client: Client, world: dict[str, Any]) -> None:
    company = taxi_company()
    first, second = taxi_ride(company, amount=2350), taxi_ride(company, amount=1800)

    by_amount = post(agent_client, world, "confirm", claim_kind="taxi_ride", number=first.ride_id, amount="23.5")
    by_plate = post(agent_client, world, "confirm", claim_kind="taxi_ride", number=second.ride_id, plate="苏AT1234")
    neither = post(agent_client, world, "preview", claim_kind="taxi_ride", number=second.ride_id)

    assert by_amount.status_code == by_plate.status_code == 302
    assert sorted(Document.objects.values_list("amount_gross", flat=True)) == [1800, 2350]
    assert neither.context["form"].errors["amount"]
