"""Item states: for given segments, top-ups, back-charges, paper tickets and taxi rides, can each be invoiced
now, and if not, why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F, OuterRef, QuerySet, Subquery

from invoicing.eligibility.base import (
    DocumentRef,
    ItemState,
    Reason,
    TopUpMode,
    document_kind_for,
    in_array,
    trip_cutoff,
)
from invoicing.eligibility.fifo import (
    fifo_paid_by_invoiced_topups,
    fifo_topups_spent_on_invoiced_segments,
)
from invoicing.eligibility.titles import (
    buyers_sql,
    titles_by_id,
    titles_in_force,
)
from invoicing.models import DocumentItem, DocumentKind, ItemKind
from piaogen.identifiers import CardType
from tolling.models import AuditCharge, PaperTicket, RoadNature, Segment, TaxiRide, TollUnitRate, TopUp


def _blockers(*checks: tuple[Reason, bool]) -> tuple[Reason, ...]:
    return tuple(reason for reason, applies in checks if applies)


def _narrow(
    qs: QuerySet[Any],
    *,
    ids: Sequence[int] | None,
    card_no: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
) -> QuerySet[Any]:
    if ids is not None:
        qs = qs.filter(id__in=in_array(ids))
    if card_no is not None:
        qs = qs.filter(card_no=card_no)
    if date_from is not None:
        qs = qs.filter(service_date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(service_date__lte=date_to)
    return qs


@dataclass(frozen=True)
class _Holders:
    """Of items of one kind: the live document holding each, and the latest released (reversed) one."""

    kind: str
    live: dict[int, DocumentRef]
    released: dict[int, DocumentRef]

    def state(self, item_id: int, *checks: tuple[Reason, bool], **fields: Any) -> ItemState:
        """An item's state: held by a live document is its first blocker, then the kind's own `checks`."""
        return ItemState(
            item_kind=self.kind,
            item_id=item_id,
            blockers=_blockers((Reason.IN_DOCUMENT, item_id in self.live), *checks),
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


def _with_buyers(qs: QuerySet[Any], columns: str) -> list[tuple[Any, ...]]:
    """Run ``qs`` (values with ``i``, ``card_no`` and ``at`` among them) with the buyer lookup joined in one statement
    (``titles.buyers_sql``): rows of ``columns`` + (customer id, title id). The times stay in the database."""
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(buyers_sql(sql, columns), params)
        return list(cursor.fetchall())


def rate_in_force(toll_unit: str = "toll_unit", on: str = "service_date") -> Subquery:
    return Subquery(
        TollUnitRate.objects.filter(toll_unit=OuterRef(toll_unit), valid_from__lte=OuterRef(on))
        .order_by("-valid_from")
        .values("tax_rate")[:1]
    )


def segment_states(
    *,
    segment_ids: Sequence[int] | None = None,
    card_no: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    today: dt.date | None = None,
) -> dict[int, ItemState]:
    """The state of segments chosen by id and/or by card and service-date range; ``today`` is a Beijing date.

    Set-based: five queries for any number of segments (segments with rate and buyer, titles, documents, FIFO).
    """
    if segment_ids is None and card_no is None:
        raise ValueError("segment_states needs segment_ids or card_no")
    qs = _narrow(Segment.objects.all(), ids=segment_ids, card_no=card_no, date_from=date_from, date_to=date_to)
    rows = _with_buyers(
        qs.annotate(
            i=F("id"),
            at=F("exit_time"),
            rate=rate_in_force(),
            nature=F("toll_unit__road_nature"),
            seller=F("toll_unit__operator_id"),
        )
        .order_by()
        .values_list("i", "card_no", "card_type", "service_date", "fee", "rate", "nature", "seller", "at"),
        "q.i, q.card_no, q.card_type, q.service_date, q.fee, q.rate, q.nature, q.seller",
    )
    if not rows:
        return {}
    cutoff = trip_cutoff(today)
    after = dt.timedelta(days=settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"])
    holders = _documents(ItemKind.SEGMENT, (row[0] for row in rows))
    paid_by_invoiced = fifo_paid_by_invoiced_topups({row[1] for row in rows if row[2] == CardType.PREPAID})
    titles = titles_by_id(row[-1] for row in rows)
    states: dict[int, ItemState] = {}
    for seg_id, _card, _type, service_date, fee, rate, nature, seller_id, customer_id, title_id in rows:
        title = titles.get(title_id) if title_id is not None else None
        kind = document_kind_for(nature)
        rate = None if nature == RoadNature.LOAN else rate
        states[seg_id] = holders.state(
            seg_id,
            (Reason.ZERO_FEE, fee == 0),
            (Reason.TOPUP_INVOICED, seg_id in paid_by_invoiced),
            (Reason.NOT_YET, service_date > cutoff),
            (Reason.NO_RATE, nature == RoadNature.COMMERCIAL and rate is None),
            (Reason.NO_BUYER, title is None),
            amount=fee,
            document_kind=kind,
            seller_id=seller_id,
            tax_rate=rate,
            invoiceable_on=service_date + after,
            customer_id=customer_id,
            title=title,
        )
    return states


def topup_states(
    *,
    topup_ids: Sequence[int] | None = None,
    card_no: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[int, ItemState]:
    """The state of top-ups: invoiceable at once as a non-taxable invoice from the card issuer, unless a live
    document holds it, trips it paid are invoiced, or no title was in force at the top-up. Five queries."""
    if topup_ids is None and card_no is None:
        raise ValueError("topup_states needs topup_ids or card_no")
    qs = _narrow(TopUp.objects.all(), ids=topup_ids, card_no=card_no, date_from=date_from, date_to=date_to)
    rows = _with_buyers(
        qs.annotate(i=F("id"), at=F("topped_up_at"))
        .order_by()
        .values_list("i", "card_no", "at", "amount", "issuer_id", "service_date"),
        "q.i, q.card_no, q.amount, q.issuer_id, q.service_date",
    )
    if not rows:
        return {}
    holders = _documents(ItemKind.TOPUP, (row[0] for row in rows))
    spent_on_invoiced = fifo_topups_spent_on_invoiced_segments({row[1] for row in rows})
    titles = titles_by_id(row[-1] for row in rows)
    states: dict[int, ItemState] = {}
    for topup_id, _card, amount, issuer_id, service_date, customer_id, title_id in rows:
        title = titles.get(title_id) if title_id is not None else None
        mode = (
            TopUpMode.AS_TOPUP
            if topup_id in holders.live
            else TopUpMode.AS_TRIPS
            if topup_id in spent_on_invoiced
            else TopUpMode.OPEN
        )
        states[topup_id] = holders.state(
            topup_id,
            (Reason.TRIPS_INVOICED, topup_id in spent_on_invoiced),
            (Reason.NO_BUYER, title is None),
            amount=amount,
            document_kind=DocumentKind.DIGITAL_INVOICE,  # non-taxable (不征税) invoice
            seller_id=issuer_id,
            tax_rate=None,
            invoiceable_on=service_date,
            customer_id=customer_id,
            title=title,
            mode=mode,
        )
    return states


def audit_charge_states(*, charge_ids: Sequence[int]) -> dict[int, ItemState]:
    """Back-charges: their own items, invoiced at once by the underpaid toll unit's operator at its rate on the
    service date; the buyer is found through the card when there is one, else it comes with a request."""
    rows = list(
        AuditCharge.objects.filter(id__in=in_array(charge_ids))
        .annotate(rate=rate_in_force())
        .order_by()
        .values_list(
            "id",
            "card_no",
            "paid_at",
            "amount",
            "service_date",
            "rate",
            "toll_unit__road_nature",
            "toll_unit__operator_id",
        )
    )
    holders = _documents(ItemKind.AUDIT_CHARGE, (row[0] for row in rows))
    buyers = titles_in_force((row[1], row[2]) for row in rows if row[1])
    states: dict[int, ItemState] = {}
    for charge_id, card, paid_at, amount, service_date, rate, nature, seller_id in rows:
        customer_id, title = buyers.get((card, paid_at), (None, None))
        rate = None if nature == RoadNature.LOAN else rate
        states[charge_id] = holders.state(
            charge_id,
            (Reason.NO_RATE, nature == RoadNature.COMMERCIAL and rate is None),
            (Reason.NO_BUYER, title is None),
            amount=amount,
            document_kind=document_kind_for(nature),
            seller_id=seller_id,
            tax_rate=rate,
            invoiceable_on=service_date,
            customer_id=customer_id,
            title=title,
        )
    return states


def paper_ticket_states(*, ticket_ids: Sequence[int], today: dt.date | None = None) -> dict[int, ItemState]:
    """Paper tickets (纸改电): eligible on request only (the claiming customer brings the buyer), like a segment of
    their toll unit — the day-7 rule included (a paper ticket is a trip); ``today`` is a Beijing date."""
    rows = list(
        PaperTicket.objects.filter(id__in=in_array(ticket_ids))
        .annotate(rate=rate_in_force())
        .order_by()
        .values_list("id", "amount", "service_date", "rate", "toll_unit__road_nature", "toll_unit__operator_id")
    )
    holders = _documents(ItemKind.PAPER_TICKET, (row[0] for row in rows))
    cutoff = trip_cutoff(today)
    after = dt.timedelta(days=settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"])
    states: dict[int, ItemState] = {}
    for ticket_id, amount, service_date, rate, nature, seller_id in rows:
        rate = None if nature == RoadNature.LOAN else rate
        states[ticket_id] = holders.state(
            ticket_id,
            (Reason.NOT_YET, service_date > cutoff),
            (Reason.NO_RATE, nature == RoadNature.COMMERCIAL and rate is None),
            amount=amount,
            document_kind=document_kind_for(nature),
            seller_id=seller_id,
            tax_rate=rate,
            invoiceable_on=service_date + after,
        )
    return states


def taxi_ride_states(*, ride_ids: Sequence[int]) -> dict[int, ItemState]:
    """Taxi rides: eligible on request only, invoiced by the taxi company at its own rate (None: not set)."""
    rows = list(
        TaxiRide.objects.filter(id__in=in_array(ride_ids))
        .order_by()
        .values_list("id", "amount", "service_date", "company_id", "company__tax_rate")
    )
    holders = _documents(ItemKind.TAXI_RIDE, (row[0] for row in rows))
    states: dict[int, ItemState] = {}
    for ride_id, amount, service_date, company_id, rate in rows:
        states[ride_id] = holders.state(
            ride_id,
            (Reason.NO_RATE, rate is None),
            amount=amount,
            document_kind=DocumentKind.DIGITAL_INVOICE,
            seller_id=company_id,
            tax_rate=rate,
            invoiceable_on=service_date,
        )
    return states
