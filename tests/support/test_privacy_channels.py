"""Personal data masked in every channel, end to end (issue #18's probe findings, each as a regression test): a
person's taxpayer id (their resident ID number) and e-mail addresses on the document and customer pages, in both
APIs, the audit viewer and its CSV, the resend preview, action results and the action API — unless an agent revealed
the customer's data with a reason. A company's taxpayer id is public and stays readable."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from invoicing.customers import buyer_title_add
from invoicing.delivery import delivery_send
from invoicing.issuing import issue_segments
from invoicing.models import BuyerTitle, Document
from piaogen.models import Role, User
from support.models import ActionRequest
from support.privacy import pii_reveal
from tests.fixtures.invoicing import segment

PERSON_TAX_ID = "320102199001011232"  # 张三's resident ID number, his taxpayer id as a person
MASKED_TAX_ID = "320102********1232"
TITLE_EMAIL, MASKED_TITLE_EMAIL = "piao@example.com", "p***@example.com"
COMPANY_TAX_ID = "91320100MA1XY0123J"


@pytest.fixture
def person(world: dict[str, Any]) -> dict[str, Any]:
    """张三's personal title carries his resident ID as taxpayer id; an invoice issued to it, e-mailed to him."""
    BuyerTitle.objects.filter(pk=world["title"].pk).update(tax_id=PERSON_TAX_ID)
    (document,) = issue_segments(segment_ids=[segment(world, fee=10000).pk])
    delivery_send(document=document, address=None, by=None)
    return {**world, "document": document}


def _api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _leaks(body: str) -> list[str]:
    return [value for value in (PERSON_TAX_ID, TITLE_EMAIL) if value in body]


@pytest.mark.parametrize(("role", "province"), [(Role.PROVINCE, "32"), (Role.MANAGER, ""), (Role.AGENT, "")])
def test_the_document_api_masks_the_delivery_address_and_a_persons_taxpayer_id(
    role: str, province: str, person: dict[str, Any], make_staff: Callable[..., User]
) -> None:
    client = _api(make_staff(role, province))
    document: Document = person["document"]

    detail = client.get(f"/api/v1/documents/{document.pk}/")
    listed = client.get("/api/v1/documents/")

    assert detail.status_code == 200
    assert detail.json()["deliveries"][0]["address"] == MASKED_TITLE_EMAIL
    assert detail.json()["buyer_tax_id"] == MASKED_TAX_ID
    assert _leaks(detail.content.decode()) == [] and _leaks(listed.content.decode()) == []


def test_the_document_page_masks_a_persons_taxpayer_id_and_the_delivery_address(
    person: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    page = client_for(agent).get(f"/documents/{person['document'].pk}/").content.decode()

    assert MASKED_TAX_ID in page and MASKED_TITLE_EMAIL in page
    assert _leaks(page) == []


def test_the_customer_page_and_api_mask_a_persons_taxpayer_id_until_the_agent_reveals(
    person: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    customer = person["customer"]
    client, api = client_for(agent), _api(agent)

    page = client.get(f"/customers/{customer.pk}/").content.decode()
    record = api.get(f"/api/v1/customers/{customer.pk}/").json()
    assert _leaks(page) == [] and MASKED_TAX_ID in page
    assert [title["tax_id"] for title in record["titles"]] == [MASKED_TAX_ID]

    pii_reveal(user=agent, customer=customer, reason="客户来电核实抬头")

    assert PERSON_TAX_ID in client.get(f"/customers/{customer.pk}/").content.decode()
    assert [t["tax_id"] for t in api.get(f"/api/v1/customers/{customer.pk}/").json()["titles"]] == [PERSON_TAX_ID]


def test_a_company_taxpayer_id_stays_readable(
    person: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    BuyerTitle.objects.filter(pk=person["title"].pk).update(tax_id=COMPANY_TAX_ID, kind="company")

    page = client_for(agent).get(f"/customers/{person['customer'].pk}/").content.decode()

    assert COMPANY_TAX_ID in page


def test_the_audit_viewer_and_its_csv_mask_a_persons_taxpayer_id(
    person: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    customer = person["customer"]
    buyer_title_add(customer=customer, kind="person", name="张三", tax_id=PERSON_TAX_ID, reason="更正", by=agent)
    client = client_for(agent)

    viewer = client.get("/audit/").content.decode()
    export = b"".join(client.get("/audit/export.csv").streaming_content).decode()  # type: ignore[attr-defined]

    assert MASKED_TAX_ID in viewer and MASKED_TAX_ID in export
    assert PERSON_TAX_ID not in viewer and PERSON_TAX_ID not in export


def test_the_resend_preview_and_the_action_result_never_print_the_full_address(
    person: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(agent)
    url = f"/actions/documents/{person['document'].pk}/resend/"
    key = str(uuid.uuid4())

    preview = client.post(url, {"reason": "客户未收到", "key": key, "step": "preview"})
    done = client.post(url, {"reason": "客户未收到", "key": key, "step": "confirm"}, follow=True)

    assert preview.status_code == 200 and MASKED_TITLE_EMAIL in preview.content.decode()
    assert done.status_code == 200 and MASKED_TITLE_EMAIL in done.content.decode()
    assert _leaks(preview.content.decode()) == [] and _leaks(done.content.decode()) == []


def test_the_action_api_masks_its_preview_and_its_result(person: dict[str, Any], agent: User) -> None:
    api = _api(agent)
    url = f"/api/v1/actions/customers/{person['customer'].pk}/titles/"
    data = {"reason": "更正抬头", "kind": "person", "name": "张三", "tax_id": PERSON_TAX_ID, "email": TITLE_EMAIL}

    preview = api.post(f"{url}?preview=1", data, format="json")
    done = api.post(url, data, format="json")

    assert preview.status_code == 200 and done.status_code == 201
    assert done.json()["result"]["title"]["tax_id"] == MASKED_TAX_ID
    assert _leaks(preview.content.decode()) == [] and _leaks(done.content.decode()) == []


def test_a_resend_refused_for_the_address_on_file_masks_it_in_the_message(
    person: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    demo = "fp408110@demo.invalid"  # the demo's addresses are never sent to: the refusal names the address
    BuyerTitle.objects.filter(pk=person["title"].pk).update(email=demo)
    client = client_for(agent)
    url = f"/actions/documents/{person['document'].pk}/resend/"
    key = str(uuid.uuid4())

    client.post(url, {"reason": "客户未收到", "key": key, "step": "preview"})
    done = client.post(url, {"reason": "客户未收到", "key": key, "step": "confirm"}, follow=True)

    body = done.content.decode()
    assert "演示数据的邮箱不能投递：f*******@demo.invalid" in body
    assert demo not in body
    assert demo not in client.get("/audit/").content.decode()


def test_the_resend_preview_shows_the_whole_address_while_the_customer_is_revealed(
    person: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    pii_reveal(user=agent, customer=person["customer"], reason="客户来电核对收票邮箱")
    client = client_for(agent)
    url = f"/actions/documents/{person['document'].pk}/resend/"
    key = str(uuid.uuid4())

    preview = client.post(url, {"reason": "客户未收到", "key": key, "step": "preview"}).content.decode()
    done = client.post(url, {"reason": "客户未收到", "key": key, "step": "confirm"}, follow=True)

    assert f"发送至{TITLE_EMAIL}" in preview and f"收件邮箱：{TITLE_EMAIL}" in preview
    assert TITLE_EMAIL not in str(ActionRequest.objects.get().result)  # what is stored stays masked
    assert done.status_code == 200
