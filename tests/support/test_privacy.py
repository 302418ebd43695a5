"""Privacy: phones, ID numbers and e-mail addresses are masked in every output of the support workbench (ticket
pages, tickets API, action pages, audit viewer and export) until an agent reveals them with a reason; the reveal is
audited, personal, per customer, and expires."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from invoicing.models import Customer
from piaogen.audit import audit_record
from piaogen.models import AuditEvent, Role, User
from support.models import PiiReveal
from support.privacy import mask_pii, pii_reveal, pii_revealed
from support.tickets import ticket_open
from tests.fixtures.support import HOLDER, holder_card

PHONE, ID_NO = "13912345678", "320102199001011234"
MASKED_PHONE, MASKED_ID = "139****5678", "320102********1234"


@pytest.fixture
def customer(db: None) -> Customer:
    return Customer.objects.create(name="王五", phone=PHONE, id_no=ID_NO, id_type="身份证", province="32")


def test_nothing_is_revealed_by_default(agent: User, customer: Customer) -> None:
    assert pii_revealed(user=agent, customer=customer) is False


def test_a_reveal_with_a_reason_shows_the_data_to_that_agent_for_that_customer_only(
    agent: User, customer: Customer, make_staff: Callable[..., User]
) -> None:
    other_agent = make_staff(Role.AGENT, username="agent2")
    other_customer = Customer.objects.create(name="赵六", phone="13700000000")

    reveal = pii_reveal(user=agent, customer=customer, reason="客户核实身份")

    assert pii_revealed(user=agent, customer=customer) is True
    assert pii_revealed(user=other_agent, customer=customer) is False
    assert pii_revealed(user=agent, customer=other_customer) is False
    assert reveal.expires_at - reveal.created_at == dt.timedelta(minutes=15)


def test_a_reveal_expires_after_the_configured_minutes(agent: User, customer: Customer, settings: Any) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "PII_REVEAL_MINUTES": 5}
    reveal = pii_reveal(user=agent, customer=customer, reason="客户核实身份")
    assert reveal.expires_at - reveal.created_at == dt.timedelta(minutes=5)

    PiiReveal.objects.filter(pk=reveal.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert pii_revealed(user=agent, customer=customer) is False


def test_a_reveal_needs_a_reason_and_is_audited(
    agent: User, customer: Customer, client_for: Callable[[User], Client]
) -> None:
    client = client_for(agent)
    url = f"/customers/{customer.pk}/reveal/"

    refused = client.post(url, {"reason": "   "})
    masked_page = client.get(url).content.decode()
    done = client.post(url, {"reason": "客户来电核实身份"})
    shown_page = client.get(url).content.decode()

    assert refused.status_code == 200 and refused.context["form"].errors["reason"]
    assert MASKED_PHONE in masked_page and PHONE not in masked_page and ID_NO not in masked_page
    assert done.status_code == 302
    assert PHONE in shown_page and ID_NO in shown_page
    event = AuditEvent.objects.get(action="pii.reveal")
    assert (event.actor, event.reason, event.object_id, event.ip) == (
        agent,
        "客户来电核实身份",
        str(customer.pk),
        "127.0.0.1",
    )
    assert PiiReveal.objects.count() == 1


def test_a_reveal_returns_to_the_page_it_was_asked_from_but_never_off_site(
    agent: User, customer: Customer, client_for: Callable[[User], Client]
) -> None:
    client = client_for(agent)
    url = f"/customers/{customer.pk}/reveal/"

    back = client.post(url, {"reason": "核实", "next": "/tickets/"})
    off_site = client.post(url, {"reason": "核实", "next": "https://evil.example.com/"})

    assert back["Location"] == "/tickets/"
    assert off_site["Location"] == url


@pytest.mark.parametrize("role", [Role.MANAGER, Role.PROVINCE])
def test_managers_and_province_users_cannot_reveal(
    role: str, customer: Customer, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    user = make_staff(role, "32" if role == Role.PROVINCE else "")
    PiiReveal.objects.create(
        user=user, customer=customer, reason="x", expires_at=timezone.now() + dt.timedelta(hours=1)
    )

    assert client_for(user).post(f"/customers/{customer.pk}/reveal/", {"reason": "好奇"}).status_code == 403
    assert pii_revealed(user=user, customer=customer) is False  # even with a row: not a role that may see


def test_ticket_pages_and_api_mask_the_phone_until_revealed(
    agent: User, customer: Customer, client_for: Callable[[User], Client]
) -> None:
    ticket = ticket_open(category="other", subject="咨询", customer=customer, by=agent)
    client = client_for(agent)
    api = APIClient()
    api.force_authenticate(agent)
    outputs = {
        "list": lambda: client.get("/tickets/").content.decode(),
        "detail": lambda: client.get(f"/tickets/{ticket.pk}/").content.decode(),
        "api list": lambda: api.get("/api/v1/tickets/").content.decode(),
        "api detail": lambda: api.get(f"/api/v1/tickets/{ticket.pk}/").content.decode(),
    }

    for name, output in outputs.items():
        text = output()
        assert MASKED_PHONE in text and PHONE not in text, name

    pii_reveal(user=agent, customer=customer, reason="核实")

    for name, output in outputs.items():
        assert PHONE in output(), name


def test_the_card_binding_preview_result_and_audit_trail_mask_the_holders_numbers(
    agent: User, client_for: Callable[[User], Client], customer: Customer
) -> None:
    holder_card("32010000000000000777")
    client = client_for(agent)
    data = {"card_no": "32010000000000000777", **HOLDER, "reason": "客户来电绑卡", "key": str(uuid.uuid4())}

    preview = client.post(f"/actions/customers/{customer.pk}/bind/", {**data, "step": "preview"})
    result = client.post(f"/actions/customers/{customer.pk}/bind/", {**data, "step": "confirm"}, follow=True)
    viewer = client.get("/audit/").content.decode()
    export = b"".join(client.get("/audit/export.csv").streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]

    preview_html = preview.content.decode()
    assert "110101********1234" in preview_html and "138****0001" in preview_html
    # the form's own hidden inputs carry what the agent typed back to the server; nothing else shows it
    visible = preview_html.replace(f'value="{HOLDER["holder_id_no"]}"', "").replace(
        f'value="{HOLDER["holder_phone"]}"', ""
    )
    assert HOLDER["holder_id_no"] not in visible and HOLDER["holder_phone"] not in visible
    for text in (result.content.decode(), viewer, export):
        assert HOLDER["holder_id_no"] not in text and HOLDER["holder_phone"] not in text
    bind = AuditEvent.objects.get(action="card.bind")
    assert bind.after is not None and bind.after["holder"] == {
        "id_type": "身份证",
        "id_no": "110101********1234",
        "phone": "138****0001",
    }


def test_the_audit_viewer_and_export_mask_pii_written_by_anyone(
    agent: User, client_for: Callable[[User], Client], customer: Customer
) -> None:
    audit_record(
        actor=agent, action="customer.update", obj=customer, reason="资料更正",
        before={"phone": PHONE, "nested": {"id_no": ID_NO}}, after={"holder_phone": "13800000001"},
    )  # fmt: skip
    client = client_for(agent)

    viewer = client.get("/audit/").content.decode()
    export = b"".join(client.get("/audit/export.csv").streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]

    for text in (viewer, export):
        assert PHONE not in text and ID_NO not in text and "13800000001" not in text
        assert MASKED_PHONE in text and MASKED_ID in text


def test_mask_pii_masks_known_keys_at_any_depth_and_leaves_the_rest() -> None:
    value = {"phone": PHONE, "list": [{"holder_id_no": ID_NO}], "name": "王五", "count": 3}

    assert mask_pii(value) == {"phone": MASKED_PHONE, "list": [{"holder_id_no": MASKED_ID}], "name": "王五", "count": 3}


def test_the_customer_page_masks_the_e_mail_address_until_revealed(
    agent: User, customer: Customer, client_for: Callable[[User], Client]
) -> None:
    Customer.objects.filter(pk=customer.pk).update(email="wangwu@example.com")
    client = client_for(agent)
    page = client.get(reverse("customer-detail", args=[customer.pk])).content.decode()
    assert "wangwu@example.com" not in page and "w*****@example.com" in page

    pii_reveal(user=agent, customer=customer, reason="客户核实邮箱")
    assert "wangwu@example.com" in client.get(reverse("customer-detail", args=[customer.pk])).content.decode()


def test_mask_pii_masks_e_mail_addresses_too() -> None:
    assert mask_pii({"delivery": {"address": "wangwu@example.com", "status": "sent"}}) == {
        "delivery": {"address": "w*****@example.com", "status": "sent"}
    }
