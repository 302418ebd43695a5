"""Claims (domain.md §4.13): a customer, or an agent for a caller (代客开票), asks for the invoice of a paper ticket
(纸改电), a taxi ride or an audit back-charge (稽核补费) by the number printed on it and a second factor:

- paper ticket: ticket number + plate (+ plate colour);
- taxi ride: ride id + the amount or the taxi's plate (both, when both are given);
- back-charge: charge id + plate (+ plate colour). A charge without a card is claimable this way; a charge whose
  card was bound to another customer when it was paid is not this customer's to claim.

Plates compare leniently: full-width folded, upper-cased, spaces and separators (``·``, ``-``, ``_``, ``.``)
dropped, as people type them.

**No oracle.** An unknown number, a wrong second factor, an item of another province (a province token claims its
own province's items only) and a back-charge of another customer's card all get the very same refusal (code
``not_found``, one message): the answer never tells which of them it was. Only a caller who named an item and its
second factor learns its state (already invoiced, too old, not yet invoiceable).

**Nothing issued on a refusal.** A claim is all or nothing: every item is checked first, and one transaction adds a
new buyer title (when the claim brings one) and issues the documents through the issuing services
(``invoicing.issuing``: exactly once, numbering, tax). An item taken by a concurrent request between the check and
the issue refuses the whole claim (``already_invoiced``) and rolls everything back.

Rules kept here, each a setting: the request window (``PIAOGEN["REQUEST_WINDOW_DAYS"]``: an older item is
``too_old``) and a rate limit per customer (``PIAOGEN["CLAIM_RATE_LIMIT"]`` claims per
``PIAOGEN["CLAIM_RATE_WINDOW_SECONDS"]``, refused ones and previews included, so that guessing second factors is
bounded). The day-7 rule and "one live document per item" are eligibility's (``invoicing.eligibility``): a paper
ticket is a trip and becomes claimable on its 7th day.

Back-charge linked to a trip (assumed): the charge is its own item — the underpaid difference, not the trip's
fee — so claiming it issues the charge alone and never touches the trip's segments or their documents; a charge
already held by a live document (the trip's or any other: the daily run issues charges of bound cards) is
``already_invoiced``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from invoicing.customers import buyer_title_add
from invoicing.eligibility import (
    ItemState,
    Reason,
    audit_charge_states,
    beijing_today,
    paper_ticket_states,
    taxi_ride_states,
)
from invoicing.issuing import IssuingError, issue_audit_charges, issue_paper_tickets, issue_taxi_rides
from invoicing.models import BuyerTitle, Customer, Document, DocumentItem, ItemKind
from piaogen.audit import audit_record
from piaogen.identifiers import fold_fullwidth
from piaogen.models import User
from tolling.models import AuditCharge, PaperTicket, TaxiRide

log = logging.getLogger(__name__)


class ClaimKind(models.TextChoices):
    """What can be claimed by its printed number (the channel API's item kinds)."""

    PAPER_TICKET = "paper_ticket", _("纸质票据（纸改电）")
    TAXI_RIDE = "taxi_ride", _("出租车行程")
    AUDIT_CHARGE = "audit_charge", _("稽核补费")


ITEM_KINDS = {
    ClaimKind.PAPER_TICKET: ItemKind.PAPER_TICKET,
    ClaimKind.TAXI_RIDE: ItemKind.TAXI_RIDE,
    ClaimKind.AUDIT_CHARGE: ItemKind.AUDIT_CHARGE,
}

NOT_FOUND = "not_found"


@dataclass(frozen=True)
class ClaimItem:
    """One item of a claim as the caller states it. ``amount`` in fen."""

    kind: str
    number: str
    plate: str = ""
    plate_color: int | None = None
    amount: int | None = None
    taxi_plate: str = ""


@dataclass(frozen=True)
class NewTitle:
    """A buyer title given in the claim: added to the customer's titles (validated like every title)."""

    kind: str
    name: str
    tax_id: str = ""
    email: str = ""


@dataclass(frozen=True)
class Refusal:
    kind: str
    number: str
    code: str
    message: str


class ClaimError(IssuingError):
    """A claim refused as a whole (rate limit, buyer): nothing was issued."""


class ClaimRefused(ClaimError):
    """Items of a claim that cannot be invoiced, each with its code and message: nothing was issued."""

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        super().__init__([ValidationError(r.message, code=r.code) for r in refusals])
        self.refusals = list(refusals)


# --- matching the printed number and the second factor ------------------------------------------------------------

_PLATE_NOISE = re.compile(r"[\s·•\-_.]+")


def plate_key(text: str) -> str:
    """A plate as compared in claims: full-width folded, upper-cased, without spaces and separators."""
    return _PLATE_NOISE.sub("", fold_fullwidth(text or "")).upper()


def _number(text: str) -> str:
    return fold_fullwidth(text or "").strip()


def _plate_matches(stated: str, color: int | None, plate: str, plate_color: int) -> bool:
    return bool(stated) and plate_key(stated) == plate_key(plate) and (color is None or color == plate_color)


def _find(item: ClaimItem, province: str | None) -> tuple[int, dt.date] | None:
    """The id and service date of the item the caller names, if its second factor matches and it is within
    ``province``."""
    number = _number(item.number)
    if not number:
        return None
    if item.kind == ClaimKind.PAPER_TICKET:
        tickets = PaperTicket.objects.filter(ticket_no=number)  # paper_ticket_no_uniq
        ticket = (tickets if province is None else tickets.filter(province=province)).first()
        if ticket is None or not _plate_matches(item.plate, item.plate_color, ticket.plate, ticket.plate_color):
            return None
        return ticket.pk, ticket.service_date
    if item.kind == ClaimKind.TAXI_RIDE:
        rides = TaxiRide.objects.filter(ride_id=number)  # taxi_ride_id_uniq
        ride = (rides if province is None else rides.filter(province=province)).first()
        if ride is None or (item.amount is None and not item.taxi_plate):
            return None
        if item.amount is not None and item.amount != ride.amount:
            return None
        if item.taxi_plate and plate_key(item.taxi_plate) != plate_key(ride.taxi_plate):
            return None
        return ride.pk, ride.service_date
    if item.kind == ClaimKind.AUDIT_CHARGE:
        charges = AuditCharge.objects.filter(charge_id=number)  # audit_charge_id_uniq
        charge = (charges if province is None else charges.filter(province=province)).first()
        if charge is None or not _plate_matches(item.plate, item.plate_color, charge.plate, charge.plate_color):
            return None
        return charge.pk, charge.service_date
    return None


def _states(kind: str, ids: list[int], today: dt.date) -> dict[int, ItemState]:
    if not ids:
        return {}
    if kind == ClaimKind.PAPER_TICKET:
        return paper_ticket_states(ticket_ids=ids, today=today)
    if kind == ClaimKind.TAXI_RIDE:
        return taxi_ride_states(ride_ids=ids)
    return audit_charge_states(charge_ids=ids)


def _not_found(item: ClaimItem) -> Refusal:
    """The one answer for unknown, mismatched, another province's and another customer's items."""
    message = _("%(number)s：找不到该号码，或所填的车牌、金额等信息不符") % {"number": _number(item.number)}
    return Refusal(item.kind, _number(item.number), NOT_FOUND, str(message))


def _refusal(
    item: ClaimItem, state: ItemState, service_date: dt.date, *, customer: Customer, today: dt.date
) -> Refusal | None:
    """Why the matched item cannot be claimed by ``customer`` now (None: it can)."""
    number = _number(item.number)
    if item.kind == ClaimKind.AUDIT_CHARGE and state.customer_id not in (None, customer.pk):
        return _not_found(item)  # the charge of a card bound to someone else when it was paid
    blockers = [b for b in state.blockers if b != Reason.NO_BUYER]  # the claim brings the buyer
    window = settings.PIAOGEN["REQUEST_WINDOW_DAYS"]
    if Reason.IN_DOCUMENT in blockers:
        message = _("%(number)s：已开票（票据%(document)s），不能重复开票") % {
            "number": number,
            "document": state.document,
        }
        return Refusal(item.kind, number, "already_invoiced", str(message))
    if service_date < today - dt.timedelta(days=window):
        message = _("%(number)s：已超过%(days)s天的申请期限，不能再申请开票") % {"number": number, "days": window}
        return Refusal(item.kind, number, "too_old", str(message))
    if Reason.NOT_YET in blockers:
        message = _("%(number)s：未到可开票日，%(date)s起可申请") % {
            "number": number,
            "date": state.invoiceable_on.isoformat() if state.invoiceable_on else "",
        }
        return Refusal(item.kind, number, "not_yet", str(message))
    if blockers:
        message = _("%(number)s：暂不能开票（%(reason)s）") % {"number": number, "reason": state.message()}
        return Refusal(item.kind, number, str(blockers[0]), str(message))
    return None


# --- rate limit ---------------------------------------------------------------------------------------------------


def _rate_limit(customer: Customer) -> None:
    """Count this claim against the customer's window (a fixed window in the cache, shared by every worker);
    refuse it beyond the limit. An unreachable cache does not stop claims (logged)."""
    limit = settings.PIAOGEN["CLAIM_RATE_LIMIT"]
    window = settings.PIAOGEN["CLAIM_RATE_WINDOW_SECONDS"]
    key = f"claims:customer:{customer.pk}:{int(time.time()) // window}"
    try:
        cache.add(key, 0, timeout=window)
        count = cache.incr(key)
    except Exception:  # the cache being down must not stop invoicing
        log.warning("claims: rate limit not applied, the cache is unreachable", exc_info=True)
        return
    if count > limit:
        raise ClaimError(
            _("该客户的开票申请过于频繁（每%(minutes)s分钟最多%(limit)s次），请稍后再试"),
            code="rate_limited",
            params={"minutes": max(1, window // 60), "limit": limit},
        )


# --- the service --------------------------------------------------------------------------------------------------


def _buyer(*, customer: Customer, title: BuyerTitle | None, new_title: NewTitle | None) -> None:
    if (title is None) == (new_title is None):
        raise ClaimError(_("请选择客户的已有抬头，或填写新抬头（二选一）"), code="buyer_required")
    if title is not None and title.customer_id != customer.pk:
        raise ClaimError(_("所选抬头不属于该客户"), code="foreign_title")


@transaction.atomic
def invoice_claim(
    *,
    items: Sequence[ClaimItem],
    customer: Customer,
    title: BuyerTitle | None = None,
    new_title: NewTitle | None = None,
    reason: str = "",
    by: User | None,
    province: str | None = None,
    today: dt.date | None = None,
) -> list[Document]:
    """Issue the documents for the claimed ``items`` to ``customer``'s ``title`` (or ``new_title``, added first),
    or raise ``ClaimRefused`` (every refused item with its code) / ``ClaimError`` with nothing written.
    ``province``: the caller's scope (a province token's); ``today``: the Beijing date (tests)."""
    today = today or beijing_today()
    _rate_limit(customer)
    _buyer(customer=customer, title=title, new_title=new_title)
    wanted: dict[str, list[int]] = {kind: [] for kind in ClaimKind.values}
    found: list[tuple[ClaimItem, tuple[int, dt.date] | None]] = []
    for item in items:
        match = _find(item, province)
        found.append((item, match))
        if match is not None and match[0] not in wanted[item.kind]:
            wanted[item.kind].append(match[0])
    states = {kind: _states(kind, ids, today) for kind, ids in wanted.items()}
    refusals = []
    for item, match in found:
        state = states[item.kind].get(match[0]) if match is not None else None
        if state is None or match is None:
            refusal: Refusal | None = _not_found(item)
        else:
            refusal = _refusal(item, state, match[1], customer=customer, today=today)
        if refusal is not None:
            refusals.append(refusal)
    if not found:
        raise ClaimError(_("请至少填写一项要开票的明细"), code="nothing_claimed")
    if refusals:
        raise ClaimRefused(refusals)
    buyer = title
    if new_title is not None:
        buyer = buyer_title_add(
            customer=customer,
            kind=new_title.kind,
            name=new_title.name,
            tax_id=new_title.tax_id,
            email=new_title.email,
            reason=reason or str(_("申请开票时新增抬头")),
            by=by,
        )
    assert buyer is not None
    numbers = {(item.kind, match[0]): _number(item.number) for item, match in found if match is not None}
    documents = _issue(wanted, buyer, numbers, by=by, today=today)
    audit_record(
        actor=by,
        action="invoice.claim",
        object_type="invoicing.customer",
        object_id=str(customer.pk),
        province=customer.province,
        reason=reason,
        after={
            "items": [{"kind": item.kind, "number": _number(item.number)} for item, _match in found],
            "title": buyer.pk,
            "documents": [d.pk for d in documents],
            "numbers": [str(d) for d in documents],
        },
    )
    return documents


def _issue(
    wanted: dict[str, list[int]],
    buyer: BuyerTitle,
    numbers: dict[tuple[str, int], str],
    *,
    by: User | None,
    today: dt.date,
) -> list[Document]:
    """Issue through the issuing services; an item one of them skipped (taken meanwhile) refuses the claim."""
    documents: list[Document] = []
    if wanted[ClaimKind.PAPER_TICKET]:
        documents += issue_paper_tickets(ticket_ids=wanted[ClaimKind.PAPER_TICKET], title=buyer, by=by, today=today)
    if wanted[ClaimKind.TAXI_RIDE]:
        documents += issue_taxi_rides(ride_ids=wanted[ClaimKind.TAXI_RIDE], title=buyer, by=by)
    if wanted[ClaimKind.AUDIT_CHARGE]:
        documents += issue_audit_charges(charge_ids=wanted[ClaimKind.AUDIT_CHARGE], title=buyer, by=by)
    for kind, ids in wanted.items():
        held = set(
            DocumentItem.objects.filter(document__in=documents, item_kind=ITEM_KINDS[ClaimKind(kind)]).values_list(
                "item_id", flat=True
            )
        )
        lost = [item_id for item_id in ids if item_id not in held]
        if lost:
            raise ClaimRefused(
                [
                    Refusal(
                        kind,
                        numbers[(kind, item_id)],
                        "already_invoiced",
                        str(_("%(number)s：刚被其他申请开票，不能重复开票") % {"number": numbers[(kind, item_id)]}),
                    )
                    for item_id in lost
                ]
            )
    return documents
