"""Reveals: an agent or maintainer sees a customer's personal data in clear for `PIAOGEN["PII_REVEAL_MINUTES"]`
minutes after giving a reason (audited); everyone else, and everything else, sees it masked.

The masking rule itself is ``piaogen.privacy`` (one rule for pages, API, exports, audit, previews, results, logs).
This module only decides when a value may leave unmasked: `customer_phone` / `customer_id_no` (and `reveal_for`)
hand out a ``Revealed`` value while a reveal is in force and the masked value otherwise; outputs still pass every
value through the layer (the ``pii`` filter, ``PiiField``), which shows a ``Revealed`` value as it is.
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
from piaogen.models import Role, User
from piaogen.privacy import Pii, Revealed, mask_json, shown
from support.models import PiiReveal

REVEALERS = (Role.AGENT, Role.MAINTAINER)


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


class ActiveReveals:
    """The customers whose data ``user`` may see in clear now: ``customer_id in reveals`` (one query, on first use;
    a reveal lasts minutes, so a user has few). The serializers' ``revealed_customers`` context."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self._ids: set[int] | None = None

    def __contains__(self, customer_id: object) -> bool:
        if self._ids is None:
            self._ids = (
                set(
                    PiiReveal.objects.filter(user=self.user, expires_at__gt=timezone.now()).values_list(
                        "customer_id", flat=True
                    )
                )
                if isinstance(self.user, User) and self.user.has_role(*REVEALERS)
                else set()
            )
        return customer_id in self._ids


def reveal_for(kind: Pii, value: str, *, revealed: bool) -> str:
    """``value`` as a reader sees it: `Revealed` (shown in clear by the layer) when ``revealed``, masked otherwise."""
    return Revealed(value) if revealed and value else shown(kind, value)


def customer_phone(*, user: User, customer: Customer, revealed: bool | None = None) -> str:
    """The customer's phone as this user may see it now."""
    shown_now = pii_revealed(user=user, customer=customer) if revealed is None else revealed
    return reveal_for(Pii.PHONE, customer.phone, revealed=shown_now)


def customer_id_no(*, user: User, customer: Customer, revealed: bool | None = None) -> str:
    """The customer's ID number as this user may see it now."""
    shown_now = pii_revealed(user=user, customer=customer) if revealed is None else revealed
    return reveal_for(Pii.ID_NO, customer.id_no, revealed=shown_now)


def mask_pii(value: Any) -> Any:
    """A JSON value with every personal-data key masked (audit before/after in viewers and exports)."""
    return mask_json(value)


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
