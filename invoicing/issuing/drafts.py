"""Building documents in memory: items grouped into drafts per (kind, seller, buyer title version, rate)
(domain.md §4.7), lines by (plate, vehicle type) with the date range, the tax split per line."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_noop as _  # printed on documents: Chinese whatever the console's language

from invoicing.eligibility import (
    ItemState,
    in_array,
)
from invoicing.models import (
    BusinessLine,
    BuyerTitle,
    DocumentKind,
    DocumentStatus,
    ItemKind,
)
from invoicing.tax import SAFE_LINES_PER_INVOICE, TaxLine
from tolling.models import AuditCharge, Operator, PaperTicket, TaxiRide, TopUp

ITEM_TOLL = "*经营租赁*通行费"
ITEM_FISCAL = "车辆通行费"
ITEM_TOPUP = "*预付卡销售*ETC充值"
ITEM_TAXI = "*运输服务*客运服务费"

LIVE_ITEM_CONSTRAINT = "document_item_one_live_per_item"
MAX_ATTEMPTS = 8
"""Attempts of one issuing call when concurrent workers take some of its items first (each drops ≥ 1 item)."""

DEFAULT_CHUNK = 5000
DEFAULT_STALE_SECONDS = 300


class IssuingError(ValidationError):
    """A document cannot be issued, reversed or reissued as asked (message for the agent)."""


# --- building documents in memory ---------------------------------------------------------------------------------


class ItemRow(NamedTuple):
    """One invoiced thing on a line (a tuple: a run builds one per item)."""

    kind: str
    id: int
    amount: int
    service_date: dt.date
    card_no: str


@dataclass
class LineDraft:
    item_name: str
    plate: str
    vehicle_type: str
    date_from: dt.date | None
    date_to: dt.date | None
    tax: TaxLine
    items: list[ItemRow]


@dataclass
class Draft:
    kind: str
    business_line: str
    seller: Operator
    title: BuyerTitle
    customer_id: int | None
    rate: Decimal | None
    lines: list[LineDraft] = field(default_factory=list)
    replaces_id: int | None = None
    original_id: int | None = None
    status: str = DocumentStatus.ISSUED
    remarks: str = ""
    is_merged: bool = False


def vehicle_type(vehicle_class: int) -> str:
    """The printed 类型 of a toll line: 客车, 货车 or 专项作业车 from the toll vehicle class."""
    if vehicle_class < 10:
        return str(_("客车"))
    if vehicle_class < 20:
        return str(_("货车"))
    return str(_("专项作业车"))


_tax_line = lru_cache(maxsize=1 << 16)(TaxLine.of)
"""``TaxLine.of`` (the split of domain.md §3, ``invoicing.tax``) memoized: a line's split depends only on (gross,
rate), toll amounts repeat, and a run splits ≈ 1 line per document (``TaxLine`` is immutable)."""


def _lines(rows: list[tuple[tuple[str, str], ItemRow]], rate: Decimal | None, item_name: str) -> list[LineDraft]:
    """Aggregate items into lines by (plate, vehicle type) with their date range, then split the tax per line —
    what ``tax.tax_lines`` does, inlined: this runs once per document of a run, where most lines hold one item."""
    grouped: dict[tuple[str, str], list[ItemRow]] = {}
    for key, item in rows:
        found = grouped.get(key)
        if found is None:
            grouped[key] = [item]
        else:
            found.append(item)
    lines = []
    for (plate, kind), items in grouped.items():
        if len(items) == 1:
            gross, first, last = items[0].amount, items[0].service_date, items[0].service_date
        else:
            gross = sum(i.amount for i in items)
            first, last = min(i.service_date for i in items), max(i.service_date for i in items)
        lines.append(LineDraft(item_name, plate, kind, first, last, _tax_line(gross, rate), items))
    return lines


def group_order(group: tuple[tuple[Any, ...], Any]) -> tuple[Any, ...]:
    """Drafts in a fixed order (kind, seller, title, rate; None first) so numbers follow the same order each run."""
    kind, seller_id, title_id, rate = group[0]
    return (kind, seller_id, title_id, rate is not None, rate or 0)


def topup_drafts(states: dict[int, ItemState]) -> list[Draft]:
    """One non-taxable invoice per top-up from its card issuer."""
    rows = (
        TopUp.objects.filter(id__in=in_array(states))
        .order_by("id")
        .values_list("id", "service_date", "card_no", "amount")
    )
    sellers = Operator.objects.in_bulk({s.seller_id for s in states.values()})
    drafts = []
    for topup_id, service_date, card_no, amount in rows:
        state = states[topup_id]
        assert state.title is not None and state.seller_id is not None
        item = ItemRow(ItemKind.TOPUP, topup_id, amount, service_date, card_no)
        drafts.append(
            Draft(
                kind=DocumentKind.DIGITAL_INVOICE,
                business_line=BusinessLine.ETC_TOPUP,
                seller=sellers[state.seller_id],
                title=state.title,
                customer_id=state.title.customer_id,
                rate=None,
                lines=_lines([(("", ""), item)], None, ITEM_TOPUP),
            )
        )
    return drafts


# --- back-charges, paper tickets, taxi rides ----------------------------------------------------------------------

_LineKey = tuple[str, str]  # (plate, vehicle type)


def _grouped_drafts(
    business_line: str, rows: list[tuple[ItemState, BuyerTitle, _LineKey, str, ItemRow]]
) -> list[Draft]:
    """Documents per (kind, seller, title version, rate) like segments (§4.7), lines by (plate, vehicle type) with
    the date range; ``rows``: (state, buyer title, line key, item name for an invoice, item). Fiscal receipts carry
    ``车辆通行费``."""
    groups: dict[tuple[Any, ...], list[tuple[_LineKey, ItemRow]]] = defaultdict(list)
    names: dict[tuple[Any, ...], str] = {}
    titles: dict[int, BuyerTitle] = {}
    for state, title, line_key, item_name, item in rows:
        assert state.document_kind is not None and state.seller_id is not None
        key = (state.document_kind, state.seller_id, title.pk, state.tax_rate)
        groups[key].append((line_key, item))
        names[key] = ITEM_FISCAL if state.document_kind == DocumentKind.FISCAL_RECEIPT else item_name
        titles[title.pk] = title
    sellers = Operator.objects.in_bulk({key[1] for key in groups})
    drafts = []
    for key, items in sorted(groups.items(), key=group_order):
        kind, seller_id, title_id, rate = key
        lines = _lines(items, rate, names[key])
        for start in range(0, len(lines), SAFE_LINES_PER_INVOICE):
            drafts.append(
                Draft(
                    kind=kind,
                    business_line=business_line,
                    seller=sellers[seller_id],
                    title=titles[title_id],
                    customer_id=titles[title_id].customer_id,
                    rate=rate,
                    lines=lines[start : start + SAFE_LINES_PER_INVOICE],
                )
            )
    return drafts


def audit_charge_drafts(states: dict[int, ItemState], title: BuyerTitle | None = None) -> list[Draft]:
    """Back-charges like segments of the underpaid toll unit, buyer the title in force at payment for the card
    (or a claim's ``title``). A back-charge carries no vehicle class: its line has the plate and no 类型."""
    rows = AuditCharge.objects.filter(id__in=in_array(states)).order_by("id")
    out = []
    for charge_id, plate, service_date, card_no, amount in rows.values_list(
        "id", "plate", "service_date", "card_no", "amount"
    ):
        state = states[charge_id]
        buyer = title or state.title
        assert buyer is not None  # eligible: a title in force
        item = ItemRow(ItemKind.AUDIT_CHARGE, charge_id, amount, service_date, card_no)
        out.append((state, buyer, (plate, ""), ITEM_TOLL, item))
    return _grouped_drafts(BusinessLine.AUDIT, out)


def paper_ticket_drafts(states: dict[int, ItemState], title: BuyerTitle) -> list[Draft]:
    """Paper tickets like segments of their toll unit; the buyer is the claiming customer's ``title``."""
    rows = PaperTicket.objects.filter(id__in=in_array(states)).order_by("id")
    out = []
    for ticket_id, plate, vehicle_class, service_date, amount in rows.values_list(
        "id", "plate", "vehicle_class", "service_date", "amount"
    ):
        item = ItemRow(ItemKind.PAPER_TICKET, ticket_id, amount, service_date, "")
        out.append((states[ticket_id], title, (plate, vehicle_type(vehicle_class)), ITEM_TOLL, item))
    return _grouped_drafts(BusinessLine.PAPER, out)


def taxi_ride_drafts(states: dict[int, ItemState], title: BuyerTitle) -> list[Draft]:
    """Taxi rides from their company at its rate, item ``*运输服务*客运服务费``, lines by taxi plate."""
    rows = TaxiRide.objects.filter(id__in=in_array(states)).order_by("id")
    out = []
    for ride_id, taxi_plate, service_date, amount in rows.values_list("id", "taxi_plate", "service_date", "amount"):
        item = ItemRow(ItemKind.TAXI_RIDE, ride_id, amount, service_date, "")
        out.append((states[ride_id], title, (taxi_plate, ""), ITEM_TAXI, item))
    return _grouped_drafts(BusinessLine.TAXI, out)
