"""Phone and ID numbers and e-mail addresses are masked everywhere unless the user revealed them for this
customer, with a reason, within the last `PIAOGEN["PII_REVEAL_MINUTES"]` minutes (audited).

Who may reveal: agents and maintainers (`REVEALERS`); everyone else always sees masked values. Outputs that show a
customer's phone or ID number call `customer_phone` / `customer_id_no` (or `pii_revealed` once per customer);
anything else that may carry PII (audit before/after, exports) goes through `mask_pii`; delivery addresses are shown
through the `mask_email` template filter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.customers import CustomerError
from invoicing.models import Customer
from piaogen.audit import audit_record
from piaogen.identifiers import mask_email, mask_id_number, mask_phone
from piaogen.models import Role, User
from support.models import PiiReveal

REVEALERS = (Role.AGENT, Role.MAINTAINER)

PHONE_KEYS = frozenset({"phone", "holder_phone", "mobile"})
ID_KEYS = frozenset({"id_no", "holder_id_no", "id_number"})
EMAIL_KEYS = frozenset({"email", "address"})  # a delivery's address is an e-mail address


def reveal_minutes() -> int:
    return int(settings.PIAOGEN["PII_REVEAL_MINUTES"])


def pii_revealed(*, user: User, customer: Customer) -> bool:
    """Whether `user` currently sees `customer`'s phone and ID numbers unmasked."""
    if not isinstance(user, User) or not user.has_role(*REVEALERS) or customer.pk is None:
        return False
    return PiiReveal.objects.filter(user=user, customer=customer, expires_at__gt=timezone.now()).exists()


def revealed_customer_ids(*, user: User, customer_ids: list[int]) -> set[int]:
    """Of ``customer_ids``, those whose data ``user`` sees unmasked now (one query, for lists)."""
    if not isinstance(user, User) or not user.has_role(*REVEALERS) or not customer_ids:
        return set()
    reveals = PiiReveal.objects.filter(user=user, customer_id__in=customer_ids, expires_at__gt=timezone.now())
    return set(reveals.values_list("customer_id", flat=True))


def customer_phone(*, user: User, customer: Customer, revealed: bool | None = None) -> str:
    """The customer's phone as this user may see it now."""
    shown = pii_revealed(user=user, customer=customer) if revealed is None else revealed
    return customer.phone if shown else mask_phone(customer.phone)


def customer_id_no(*, user: User, customer: Customer, revealed: bool | None = None) -> str:
    """The customer's ID number as this user may see it now."""
    shown = pii_revealed(user=user, customer=customer) if revealed is None else revealed
    return customer.id_no if shown else mask_id_number(customer.id_no)


def mask_pii(value: Any) -> Any:
    """A JSON value with every phone-, ID-number- or e-mail-like key masked (audit before/after in viewers and
    exports)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, str) and key in PHONE_KEYS:
                out[key] = mask_phone(item)
            elif isinstance(item, str) and key in ID_KEYS:
                out[key] = mask_id_number(item)
            elif isinstance(item, str) and key in EMAIL_KEYS:
                out[key] = mask_email(item)
            else:
                out[key] = mask_pii(item)
        return out
    if isinstance(value, list):
        return [mask_pii(item) for item in value]
    return value


@transaction.atomic
def pii_reveal(*, user: User, customer: Customer, reason: str, request: HttpRequest | None = None) -> PiiReveal:
    """Let `user` see `customer`'s phone and ID numbers for the next `PII_REVEAL_MINUTES` minutes (audited)."""
    if not user.has_role(*REVEALERS):
        raise CustomerError(_("无权查看敏感信息"), code="reveal_forbidden")
    reason = reason.strip()
    if not reason:
        raise CustomerError(_("请填写查看原因"), code="reason_required")
    now = timezone.now()
    reveal = PiiReveal.objects.create(
        user=user,
        customer=customer,
        reason=reason,
        created_at=now,
        expires_at=now + dt.timedelta(minutes=reveal_minutes()),
    )
    audit_record(
        actor=user,
        action="pii.reveal",
        obj=customer,
        reason=reason,
        after={"reveal": reveal.pk, "expires_at": reveal.expires_at.isoformat()},
        request=request,
    )
    return reveal
