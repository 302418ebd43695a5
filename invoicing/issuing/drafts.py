"""Documents built in memory (``Draft``, written by ``writing.documents_write``): one per top-up, and the red
and reissued copies of ``lifecycle``. Every other item kind is grouped into documents in SQL (``grouping``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

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
from invoicing.tax import TaxLine
from tolling.models import Operator, TopUp

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
"""``TaxLine.of`` (the split of domain.md §3, ``invoicing.tax``) memoized: a top-up's split depends only on its
amount, amounts repeat, and a run splits one line per top-up (``TaxLine`` is immutable)."""


def topup_drafts(states: dict[int, ItemState]) -> list[Draft]:
    """One non-taxable invoice per top-up from its card issuer: one line, the top-up, its date its period."""
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
                lines=[LineDraft(ITEM_TOPUP, "", "", service_date, service_date, _tax_line(amount, None), [item])],
            )
        )
    return drafts
