"""One validator per identifier on every write path (issue #12 item 5): every model field that holds an identifier
carries its validator from ``piaogen.identifiers``, and the admin, forms and API refuse what it refuses."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, models, transaction
from django.test import Client
from django.urls import reverse

from invoicing.models import BuyerTitle, CardBinding, Customer
from piaogen.identifiers import (
    IdentifierValidator,
    card_number_validator,
    id_number_validator,
    phone_validator,
    plate_validator,
    taxpayer_id_validator,
    validate_id_document,
    validate_id_number,
)
from piaogen.models import User
from tolling.models import Card

# an identifier is recognised by its field's name; each has exactly one validator
IDENTIFIERS: list[tuple[re.Pattern[str], IdentifierValidator]] = [
    (re.compile(r"(^|_)card_no$"), card_number_validator),
    (re.compile(r"(^|_)plate$"), plate_validator),
    (re.compile(r"(^|_)phone$"), phone_validator),
    (re.compile(r"(^|_)tax_id$"), taxpayer_id_validator),
    (re.compile(r"(^|_)id_no$"), id_number_validator),
]
# fields whose name looks like an identifier but that hold free text, with why
NOT_IDENTIFIERS = {
    "invoicing.BuyerTitle.address_phone": "free text: the address and telephone printed on the invoice",
}
APPS = ("piaogen", "tolling", "invoicing", "support", "reports")
INVALID_RESIDENT_ID = "110105194912310020"  # the check character should be X
VALID_RESIDENT_ID = "11010519491231002X"


def _fields() -> list[tuple[str, models.Field[Any, Any]]]:
    found = []
    for label in APPS:
        for model in apps.get_app_config(label).get_models():
            for field in model._meta.concrete_fields:
                found.append((f"{model._meta.label}.{field.name}", field))
    return found


def test_every_identifier_field_has_its_validator() -> None:
    missing = []
    seen = 0
    for name, field in _fields():
        if name in NOT_IDENTIFIERS:
            continue
        checked = field.base_field if isinstance(field, ArrayField) else field
        if isinstance(checked, models.EmailField) or "email" in field.name:
            seen += 1
            if not any(isinstance(v, EmailValidator) for v in checked.validators):
                missing.append(f"{name}: EmailValidator")
            continue
        for pattern, validator in IDENTIFIERS:
            if pattern.search(field.name):
                seen += 1
                if sum(isinstance(v, IdentifierValidator) for v in checked.validators) != 1 or (
                    validator not in checked.validators
                ):
                    missing.append(f"{name}: {validator!r}")
    assert missing == []
    assert seen > 30  # the walk found the identifiers (a renamed app would otherwise pass silently)


def test_the_id_number_is_checked_as_its_type_asks() -> None:
    with pytest.raises(ValidationError):
        validate_id_number(INVALID_RESIDENT_ID)
    with pytest.raises(ValidationError):
        validate_id_document("身份证", "91110000600037341L")  # a USCC is no resident ID
    with pytest.raises(ValidationError):
        validate_id_document("统一社会信用代码", VALID_RESIDENT_ID)
    assert validate_id_document("身份证", VALID_RESIDENT_ID.lower()) == VALID_RESIDENT_ID
    assert validate_id_document("护照", "E12345678") == "E12345678"


def test_a_customer_and_a_card_with_an_invalid_resident_id_do_not_validate(db: None) -> None:
    customer = Customer(name="张三", phone="13800000001", id_type="身份证", id_no=INVALID_RESIDENT_ID)
    card = Card(card_no="32010000000000000001", card_type=23, province="32", holder_id_type="身份证",
                holder_id_no=INVALID_RESIDENT_ID, holder_phone="13800000001")  # fmt: skip

    with pytest.raises(ValidationError) as customer_error:
        customer.full_clean()
    with pytest.raises(ValidationError) as card_error:
        card.full_clean()

    assert "id_no" in customer_error.value.message_dict
    assert "holder_id_no" in card_error.value.message_dict


def test_the_database_refuses_a_malformed_card_number_and_phone(db: None) -> None:
    customer = Customer.objects.create(name="张三", phone="13800000001")
    for build in (
        lambda: CardBinding.objects.create(customer=customer, card_no="1234"),
        lambda: BuyerTitle.objects.create(
            customer=customer, card_no="1234", kind="person", name="张三", valid_from="2026-01-01T00:00:00+08:00"
        ),
        lambda: Customer.objects.create(name="李四", phone="12345"),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            build()


@pytest.fixture
def maintainer_client(maintainer: User, client_for: Callable[[User], Client]) -> Client:
    return client_for(maintainer)


def _customer_form(**overrides: str) -> dict[str, str]:
    return {
        "kind": "person",
        "name": "张三",
        "phone": "13800000001",
        "email": "",
        "id_type": "身份证",
        "id_no": INVALID_RESIDENT_ID,
        "province": "11",
        "invoice_cycle": "daily",
        "created_at_0": "2026-11-01",
        "created_at_1": "08:00:00",
        **overrides,
    }


def test_the_admin_refuses_a_customer_with_an_invalid_resident_id(maintainer_client: Client) -> None:
    url = reverse("admin:invoicing_customer_add")

    refused = maintainer_client.post(url, _customer_form())
    saved = maintainer_client.post(url, _customer_form(id_no=VALID_RESIDENT_ID))

    assert refused.status_code == 200 and "id_no" in refused.context["adminform"].form.errors
    assert saved.status_code == 302
    assert list(Customer.objects.values_list("id_no", flat=True)) == [VALID_RESIDENT_ID]


def test_the_admin_refuses_a_card_holder_with_an_invalid_resident_id(maintainer_client: Client) -> None:
    card = Card.objects.create(card_no="32010000000000000001", card_type=23, province="32")
    url = reverse("admin:tolling_card_change", args=[card.pk])
    form = {
        "card_no": card.card_no,
        "card_type": "23",
        "province": "32",
        "holder_name": "张三",
        "holder_id_type": "身份证",
        "holder_id_no": INVALID_RESIDENT_ID,
        "holder_phone": "13800000001",
    }

    refused = maintainer_client.post(url, form)
    phone = maintainer_client.post(url, {**form, "holder_id_no": VALID_RESIDENT_ID, "holder_phone": "1380000"})
    saved = maintainer_client.post(url, {**form, "holder_id_no": VALID_RESIDENT_ID})

    assert refused.status_code == 200 and "holder_id_no" in refused.context["adminform"].form.errors
    assert phone.status_code == 200 and "holder_phone" in phone.context["adminform"].form.errors
    assert saved.status_code == 302
    card.refresh_from_db()
    assert card.holder_id_no == VALID_RESIDENT_ID
