"""Personal data is masked by one rule in every channel: pages, API, exports, the audit viewer and its CSV, e-mail
previews, action results and logs. This module is that rule; everything that shows personal data goes through it.

The rule, per kind of value (`Pii`):

- phone: ``138****5678`` (first 3 and last 4 kept);
- ID number (resident ID, card holder's ID): ``110101********1234`` (first 6 and last 4 kept);
- taxpayer id: a person's taxpayer id is their resident ID number (18 characters shaped like one: 17 digits, a
  digit or X, a plausible birth date) and is masked like an ID number; a company's code (统一社会信用代码) is public
  and shown;
- e-mail: ``z****@example.com`` (first character and domain kept);
- address (a title's 地址电话): every run of 7 or more digits (a phone number) masked as a phone;
- bank account: only the last 4 characters kept;
- name (a card holder's): the first character kept.

A value is shown in clear only when it is a `Revealed` string, which ``support.privacy`` hands out while an agent's
reveal (reason given, audited) is in force for that customer. Masking is idempotent, so masking twice is harmless.

Channels: templates use the ``pii`` filter (``{{ customer.phone|pii:"phone" }}``); serializers get a `PiiField` for
every model field in `PII_FIELDS` (`MaskedModelSerializer` builds it) and free JSON goes out through
`MaskedJSONField`; Python that builds text or JSON calls `shown` / `mask_json`; logs pass through
``piaogen.logs``. tests/piaogen/test_privacy_layer.py walks every serializer field and every template variable and fails
on one that holds personal data and is not masked this way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from django.db.models import Model
from rest_framework import serializers

from piaogen.identifiers import mask_email, mask_id_number, mask_name, mask_phone


class Pii(StrEnum):
    PHONE = "phone"
    ID_NO = "id_no"
    TAX_ID = "tax_id"
    EMAIL = "email"
    ADDRESS = "address"
    ACCOUNT = "account"
    NAME = "name"


class Revealed(str):
    """A personal value the reader revealed for its customer (``support.privacy``): shown as it is."""

    __slots__ = ()


# a resident ID number's shape (6-digit region, birth date, 3 digits, check character), whatever its check character
_RESIDENT_ID_SHAPE_RE = re.compile(r"\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")
_DIGIT_RUN_RE = re.compile(r"\d{7,}")


def is_personal_tax_id(tax_id: str) -> bool:
    """Whether a taxpayer id is a person's: their resident ID number (a company's code never has this shape)."""
    return bool(_RESIDENT_ID_SHAPE_RE.fullmatch(tax_id.strip()))


def mask_personal_tax_id(tax_id: str) -> str:
    """A buyer's taxpayer id: a company's code stays readable; a person's (their resident ID number) is masked."""
    return mask_id_number(tax_id) if is_personal_tax_id(tax_id) else tax_id


def mask_phones_in(text: str) -> str:
    """Free text such as an invoice title's 地址电话: every run of 7+ digits (a phone number) masked."""
    return _DIGIT_RUN_RE.sub(lambda match: mask_phone(match.group()), text)


def mask_account(account: str) -> str:
    """A bank account (开户行及账号): only the last 4 characters kept."""
    return "*" * max(len(account) - 4, 0) + account[-4:] if len(account) > 4 else "*" * len(account)


MASKS: dict[Pii, Callable[[str], str]] = {
    Pii.PHONE: mask_phone,
    Pii.ID_NO: mask_id_number,
    Pii.TAX_ID: mask_personal_tax_id,
    Pii.EMAIL: mask_email,
    Pii.ADDRESS: mask_phones_in,
    Pii.ACCOUNT: mask_account,
    Pii.NAME: mask_name,
}


def shown(kind: Pii | str, value: Any) -> str:
    """``value`` as anyone may see it: masked by the rule for ``kind``, unless it is `Revealed`."""
    if value is None:
        return ""
    if isinstance(value, Revealed):
        return value  # still marked: a page that shows it again (``|pii``) shows it whole too
    text = str(value)
    return MASKS[Pii(kind)](text) if text else ""


_PHONE_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:\+?86)?1[3-9][0-9]{9}(?![0-9])")
_ID_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])[0-9]{6}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def mask_text(text: str) -> str:
    """Free text (an error message, a log line) with every phone, resident ID number and e-mail address in it
    masked by its rule."""
    text = _ID_IN_TEXT.sub(lambda match: shown(Pii.ID_NO, match.group()), text)
    text = _PHONE_IN_TEXT.sub(lambda match: shown(Pii.PHONE, match.group()), text)
    return _EMAIL_IN_TEXT.sub(lambda match: shown(Pii.EMAIL, match.group().replace("%40", "@")), text)


def revealed(value: Any, *, reveal: bool) -> Any:
    """``value`` marked `Revealed` when ``reveal`` (the caller checked a reveal in force), else as it is."""
    return Revealed(value) if reveal and isinstance(value, str) and value else value


# --- where personal data lives ---------------------------------------------------------------------------------------

PII_FIELDS: dict[str, dict[str, Pii]] = {
    "invoicing.customer": {"phone": Pii.PHONE, "id_no": Pii.ID_NO, "email": Pii.EMAIL},
    "invoicing.buyertitle": {
        "tax_id": Pii.TAX_ID,
        "address_phone": Pii.ADDRESS,
        "bank_account": Pii.ACCOUNT,
        "email": Pii.EMAIL,
    },
    "invoicing.document": {"buyer_tax_id": Pii.TAX_ID},
    "invoicing.delivery": {"address": Pii.EMAIL},
    "tolling.card": {"holder_name": Pii.NAME, "holder_id_no": Pii.ID_NO, "holder_phone": Pii.PHONE},
}
"""Model fields that hold personal data, by model label: what the serializers, the admin and the walking test read."""

PII_KEYS: dict[str, Pii] = {
    **dict.fromkeys(("phone", "holder_phone", "mobile", "customer_phone"), Pii.PHONE),
    **dict.fromkeys(("id_no", "holder_id_no", "id_number"), Pii.ID_NO),
    **dict.fromkeys(("tax_id", "buyer_tax_id", "new_tax_id"), Pii.TAX_ID),
    **dict.fromkeys(("email", "address"), Pii.EMAIL),  # a delivery's address is an e-mail address
    "address_phone": Pii.ADDRESS,
    "bank_account": Pii.ACCOUNT,
    "holder_name": Pii.NAME,
}
"""Names under which personal data travels outside a model: JSON keys (audit before/after, action results), template
variables and serializer fields."""


def pii_fields_of(model: type[Model]) -> dict[str, Callable[[str], str]]:
    """The model's personal-data fields with their masks (the admin's `masked_fields`)."""
    return {name: MASKS[kind] for name, kind in PII_FIELDS.get(model._meta.label_lower, {}).items()}


def mask_json(value: Any) -> Any:
    """A JSON value with every personal-data key (`PII_KEYS`) masked, at any depth; strings elsewhere as they are."""
    if isinstance(value, Mapping):
        return {
            key: shown(PII_KEYS[key], item) if isinstance(item, str) and key in PII_KEYS else mask_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_json(item) for item in value]
    return value


# --- the API ------------------------------------------------------------------------------------------------------

REVEALED_CUSTOMERS = "revealed_customers"
"""Serializer context key: the ids of the customers whose data the reader revealed (``support.privacy``)."""

_OWNERS = {"invoicing.customer": "pk"}  # whose data a row holds: the customer's own row, else its customer_id


class PiiField(serializers.CharField):
    """A read-only field holding personal data: masked by the rule for its kind, unless the serializer's context
    lists the row's customer in ``revealed_customers``."""

    def __init__(self, kind: Pii, *, owner: str = "customer_id", **kwargs: Any) -> None:
        kwargs["read_only"] = True
        self.kind, self.owner = Pii(kind), owner
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> Any:
        value = super().get_attribute(instance)
        if value is None:  # a dotted source through an empty relation (a ticket without a customer)
            return ""
        reveals = self.context.get(REVEALED_CUSTOMERS)
        owner = getattr(instance, self.owner, None)
        return revealed(value, reveal=reveals is not None and owner is not None and owner in reveals)

    def to_representation(self, value: Any) -> str:
        return shown(self.kind, value)


class MaskedDictField(serializers.DictField):
    """A typed mapping on the way out (statistics keys and labels, report filters) with personal-data keys masked."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return super().to_representation(mask_json(value))


class MaskedJSONField(serializers.JSONField):
    """Free-form JSON on the way out (action results and previews) with its personal-data keys masked."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return super().to_representation(mask_json(value))


class MaskedModelSerializer(serializers.ModelSerializer[Any]):
    """A model serializer whose personal-data fields (`PII_FIELDS`) are built as `PiiField`s."""

    def build_field(
        self, field_name: str, info: Any, model_class: type[Model], nested_depth: int
    ) -> tuple[type[serializers.Field[Any, Any, Any, Any]], dict[str, Any]]:
        kind = PII_FIELDS.get(model_class._meta.label_lower, {}).get(field_name)
        if kind is not None:
            owner = _OWNERS.get(model_class._meta.label_lower, "customer_id")
            label = model_class._meta.get_field(field_name).verbose_name  # type: ignore[union-attr]
            return PiiField, {"kind": kind, "owner": owner, "label": label}
        return super().build_field(field_name, info, model_class, nested_depth)
