"""PII in the Django admin: a maintainer's change pages show customers' and card holders' phone, ID number, name
and e-mail masked, never in clear; editable PII is write-only (empty keeps the value, a new value replaces it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from invoicing.models import BuyerTitle, Customer, Delivery, Document
from piaogen.identifiers import mask_email
from piaogen.models import AuditEvent, User
from piaogen.privacy import mask_personal_tax_id, mask_phones_in
from tolling.models import Card, Operator

PHONE = "13812345678"
ID_NO = "110101199003071233"  # a valid resident ID (GB 11643 check character)
EMAIL = "zhangsan@example.com"


@pytest.fixture
def maintainer_client(maintainer: User, client_for: Callable[[User], Client]) -> Client:
    return client_for(maintainer)


@pytest.fixture
def customer(db: None) -> Customer:
    return Customer.objects.create(name="张三", phone=PHONE, email=EMAIL, id_type="身份证", id_no=ID_NO, province="32")


@pytest.fixture
def card(db: None) -> Card:
    return Card.objects.create(
        card_no="32010000000000000001", card_type=23, province="32", holder_name="张三丰", holder_id_type="身份证",
        holder_id_no=ID_NO, holder_phone=PHONE,
    )  # fmt: skip


def change_url(obj: object) -> str:
    meta = obj._meta  # type: ignore[attr-defined]
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])  # type: ignore[attr-defined]


def form_data(page: object) -> dict[str, str]:
    """The change form's own values, as a browser would post them back."""
    form = page.context["adminform"].form  # type: ignore[attr-defined]
    data = {}
    for name in form.fields:
        bound = form[name]
        value = bound.value()
        if hasattr(bound.field.widget, "decompress"):  # a split date and time
            for i, part in enumerate(bound.field.widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else str(part)
        else:
            data[name] = "" if value is None else str(value)
    return data


def test_a_customers_change_page_shows_phone_id_number_and_email_masked(
    customer: Customer, maintainer_client: Client
) -> None:
    page = maintainer_client.get(change_url(customer))
    html = page.content.decode()
    assert page.status_code == 200
    assert PHONE not in html
    assert ID_NO not in html
    assert EMAIL not in html
    assert "138****5678" in html
    assert "110101********1233" in html
    assert "z*******@example.com" in html


def test_a_card_holders_change_page_shows_name_phone_and_id_number_masked(
    card: Card, maintainer_client: Client
) -> None:
    html = maintainer_client.get(change_url(card)).content.decode()
    assert PHONE not in html
    assert ID_NO not in html
    assert "张三丰" not in html
    assert "138****5678" in html
    assert "110101********1233" in html
    assert "张**" in html


def test_the_customer_and_card_lists_mask_email_and_holder_name(
    customer: Customer, card: Card, maintainer_client: Client
) -> None:
    customers = maintainer_client.get(reverse("admin:invoicing_customer_changelist")).content.decode()
    assert EMAIL not in customers
    assert "z*******@example.com" in customers
    cards = maintainer_client.get(reverse("admin:tolling_card_changelist")).content.decode()
    assert "张三丰" not in cards
    assert PHONE not in cards


def test_saving_a_customer_with_the_pii_inputs_left_empty_keeps_the_stored_values(
    customer: Customer, maintainer_client: Client
) -> None:
    page = maintainer_client.get(change_url(customer))
    data = form_data(page)
    assert (data["phone"], data["id_no"], data["email"]) == ("", "", "")
    response = maintainer_client.post(change_url(customer), {**data, "name": "张三（已核实）"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.phone, customer.id_no, customer.email) == ("张三（已核实）", PHONE, ID_NO, EMAIL)


def test_typing_a_new_phone_replaces_it_and_the_audit_trail_names_only_the_field(
    customer: Customer, maintainer_client: Client
) -> None:
    data = form_data(maintainer_client.get(change_url(customer)))
    response = maintainer_client.post(change_url(customer), {**data, "phone": "13900001111"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.phone, customer.id_no, customer.email) == ("13900001111", ID_NO, EMAIL)
    event = AuditEvent.objects.get(action="admin.change", object_id=str(customer.pk))
    assert "13900001111" not in str(event.after)
    assert PHONE not in str(event.after)


def test_a_new_phone_already_used_by_another_customer_is_refused_without_showing_either(
    customer: Customer, maintainer_client: Client
) -> None:
    Customer.objects.create(name="李四", phone="13900002222", province="32")
    data = form_data(maintainer_client.get(change_url(customer)))
    response = maintainer_client.post(change_url(customer), {**data, "phone": "13900002222"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["phone"]
    customer.refresh_from_db()
    assert customer.phone == PHONE
    assert PHONE not in response.content.decode()


def test_read_only_pages_of_titles_deliveries_and_documents_mask_personal_data(
    customer: Customer, maintainer_client: Client
) -> None:
    title = BuyerTitle.objects.create(
        customer=customer, kind="person", name="张三", tax_id=ID_NO, address_phone="南京市中山路1号 13812345678",
        email=EMAIL, valid_from=timezone.now(),
    )  # fmt: skip
    road = Operator.objects.create(kind="road", tax_id="91320000134752200X", name="江苏交通控股", province="32")
    document = Document.objects.create(
        kind="invoice", business_line="etc_trip", number="26322000000000000001", service_date=timezone.localdate(),
        province="32", seller=road, seller_name=road.name, seller_tax_id=road.tax_id, customer=customer, title=title,
        buyer_name="张三", buyer_tax_id=ID_NO, amount_net=3447, amount_tax=103, amount_gross=3550,
    )  # fmt: skip
    delivery = Delivery.objects.create(document=document, address=EMAIL)
    for obj in (title, document, delivery):
        page = maintainer_client.get(change_url(obj))
        html = page.content.decode()
        assert page.status_code == 200
        assert ID_NO not in html, obj
        assert EMAIL not in html, obj
        assert PHONE not in html, obj
    assert "z*******@example.com" in maintainer_client.get(change_url(delivery)).content.decode()


def test_the_masks_keep_just_enough_to_recognise_a_value() -> None:
    assert mask_email("zhangsan@example.com") == "z*******@example.com"
    assert mask_email("a@b.cn") == "a*@b.cn"
    assert mask_email("not-an-address") == "**************"
    assert mask_personal_tax_id("91320000134752200X") == "91320000134752200X"  # a company's code stays readable
    assert mask_personal_tax_id(ID_NO) == "110101********1233"
    assert mask_phones_in("南京市中山路1号 025-84561234 13812345678") == "南京市中山路1号 025-845*1234 138****5678"
