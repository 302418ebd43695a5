"""Item states: for given segments, top-ups, back-charges, paper tickets and taxi rides, can each be invoiced
now, and if not, why. The rules are the statements of ``sql/<kind>_states.sql`` (each returns every blocker of an
item in priority order); this module only turns their rows into ``ItemState``s with the documents and titles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from invoicing.eligibility.base import (
    DocumentRef,
    ItemState,
    Reason,
    TopUpMode,
    chosen,
    document_kind_for,
    id_list,
    in_array,
    statement_rows,
    trip_cutoff,
)
from invoicing.eligibility.titles import titles_by_id
from invoicing.models import DocumentItem, DocumentKind, ItemKind
from tolling.models import RoadNature


@dataclass(frozen=True)
class _Holders:
    """Of items of one kind: the live document holding each, and the latest released (reversed) one."""

    kind: str
    live: dict[int, DocumentRef]
    released: dict[int, DocumentRef]

    def state(self, item_id: int, blockers: tuple[Reason, ...], **fields: Any) -> ItemState:
        """An item's state: its ``blockers`` (from its statement in ``sql/``) and the documents that held it."""
        return ItemState(
            item_kind=self.kind,
            item_id=item_id,
            blockers=blockers,
            document=self.live.get(item_id),
            released_from=self.released.get(item_id),
            **fields,
        )


def _documents(kind: str, ids: Iterable[int]) -> _Holders:
    """The live document and the latest released (reversed) document of each item: one query."""
    live: dict[int, DocumentRef] = {}
    released: dict[int, DocumentRef] = {}
    rows = (
        DocumentItem.objects.filter(item_kind=kind, item_id__in=in_array(ids))
        .order_by("item_id", "-id")
        .values_list("item_id", "live", "document_id", "document__code", "document__number", "document__status")
    )
    for item_id, is_live, doc_id, code, number, status in rows:
        ref = DocumentRef(id=doc_id, code=code, number=number, status=status)
        if is_live:
            live[item_id] = ref
        else:
            released.setdefault(item_id, ref)
    return _Holders(kind, live, released)


def _reasons(blockers: Sequence[str]) -> tuple[Reason, ...]:
    return tuple(Reason(b) for b in blockers)


def _road(nature: int, rate: Decimal | None) -> dict[str, Any]:
    """What the road of a toll item decides (domain.md §2): its document kind and rate, none on a loan road."""
    return {"document_kind": document_kind_for(nature), "tax_rate": None if nature == RoadNature.LOAN else rate}


def segment_states(
    *,
    segment_ids: Sequence[int] | None = None,
    card_no: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    today: dt.date | None = None,
) -> dict[int, ItemState]:
    """The state of segments chosen by id and/or by card and service-date range; ``today`` is a Beijing date.

    The rules are ``sql/segment_states.sql``'s; here its rows become ``ItemState``s with the holding documents and
    the titles: three queries for any number of segments.
    """
    if segment_ids is None and card_no is None:
        raise ValueError("segment_states needs segment_ids or card_no")
    where = chosen(ids=segment_ids, card_no=card_no, date_from=date_from, date_to=date_to)
    rows = statement_rows("segment_states.sql", **where, cutoff=trip_cutoff(today), all_rows=True)
    if not rows:
        return {}
    after = dt.timedelta(days=settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"])
    holders = _documents(ItemKind.SEGMENT, (row[0] for row in rows))
    titles = titles_by_id(row[12] for row in rows)
    states: dict[int, ItemState] = {}
    for row in rows:
        seg_id, _card, _type, _at, service_date, fee, _plate, _class = row[:8]
        nature, seller_id, rate, customer_id, title_id, blockers = row[8:]
        states[seg_id] = holders.state(
            seg_id,
            _reasons(blockers),
            amount=fee,
            **_road(nature, rate),
            seller_id=seller_id,
            invoiceable_on=service_date + after,
            customer_id=customer_id,
            title=titles.get(title_id) if title_id is not None else None,
        )
    return states


def topup_states(
    *,
    topup_ids: Sequence[int] | None = None,
    card_no: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[int, ItemState]:
    """The state of top-ups (the rules: ``sql/topup_states.sql``): invoiceable at once as a non-taxable invoice
    from the card issuer, unless a live document holds it, trips it paid are invoiced, or no title was in force at
    the top-up. Three queries."""
    if topup_ids is None and card_no is None:
        raise ValueError("topup_states needs topup_ids or card_no")
    where = chosen(ids=topup_ids, card_no=card_no, date_from=date_from, date_to=date_to)
    rows = statement_rows("topup_states.sql", **where)
    if not rows:
        return {}
    holders = _documents(ItemKind.TOPUP, (row[0] for row in rows))
    titles = titles_by_id(row[7] for row in rows)
    states: dict[int, ItemState] = {}
    for topup_id, _card, _at, amount, issuer_id, service_date, customer_id, title_id, _choice, mode, blockers in rows:
        states[topup_id] = holders.state(
            topup_id,
            _reasons(blockers),
            amount=amount,
            document_kind=DocumentKind.DIGITAL_INVOICE,  # non-taxable (不征税) invoice
            seller_id=issuer_id,
            tax_rate=None,
            invoiceable_on=service_date,
            customer_id=customer_id,
            title=titles.get(title_id) if title_id is not None else None,
            mode=TopUpMode(mode),
        )
    return states


def audit_charge_states(*, charge_ids: Sequence[int]) -> dict[int, ItemState]:
    """Back-charges (the rules: ``sql/audit_charge_states.sql``): their own items, invoiced at once by the
    underpaid toll unit's operator at its rate on the service date; the buyer is found through the card when there
    is one, else it comes with a request."""
    rows = statement_rows("audit_charge_states.sql", ids=id_list(charge_ids), date_to=None, province=None)
    holders = _documents(ItemKind.AUDIT_CHARGE, (row[0] for row in rows))
    titles = titles_by_id(row[9] for row in rows)
    states: dict[int, ItemState] = {}
    for charge_id, _card, _at, amount, service_date, nature, seller_id, rate, customer_id, title_id, blockers in rows:
        states[charge_id] = holders.state(
            charge_id,
            _reasons(blockers),
            amount=amount,
            **_road(nature, rate),
            seller_id=seller_id,
            invoiceable_on=service_date,
            customer_id=customer_id,
            title=titles.get(title_id) if title_id is not None else None,
        )
    return states


def paper_ticket_states(*, ticket_ids: Sequence[int], today: dt.date | None = None) -> dict[int, ItemState]:
    """Paper tickets (纸改电; the rules: ``sql/paper_ticket_states.sql``): eligible on request only, like a segment of
    their toll unit, the day-7 rule included; ``today`` is a Beijing date."""
    rows = statement_rows("paper_ticket_states.sql", ids=id_list(ticket_ids), cutoff=trip_cutoff(today))
    holders = _documents(ItemKind.PAPER_TICKET, (row[0] for row in rows))
    after = dt.timedelta(days=settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"])
    states: dict[int, ItemState] = {}
    for ticket_id, amount, service_date, nature, seller_id, rate, blockers in rows:
        states[ticket_id] = holders.state(
            ticket_id,
            _reasons(blockers),
            amount=amount,
            **_road(nature, rate),
            seller_id=seller_id,
            invoiceable_on=service_date + after,
        )
    return states


def taxi_ride_states(*, ride_ids: Sequence[int]) -> dict[int, ItemState]:
    """Taxi rides (the rules: ``sql/taxi_ride_states.sql``): eligible on request only, invoiced by the taxi company
    at its own rate (None: not set)."""
    rows = statement_rows("taxi_ride_states.sql", ids=id_list(ride_ids))
    holders = _documents(ItemKind.TAXI_RIDE, (row[0] for row in rows))
    states: dict[int, ItemState] = {}
    for ride_id, amount, service_date, company_id, rate, blockers in rows:
        states[ride_id] = holders.state(
            ride_id,
            _reasons(blockers),
            amount=amount,
            document_kind=DocumentKind.DIGITAL_INVOICE,
            seller_id=company_id,
            tax_rate=rate,
            invoiceable_on=service_date,
        )
    return states
