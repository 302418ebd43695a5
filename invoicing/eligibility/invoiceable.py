"""What issuing runs pick up: the invoiceable segments, top-ups and back-charges as querysets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db.models import BooleanField, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from invoicing.eligibility.base import in_array, trip_cutoff
from invoicing.eligibility.fifo import (
    fifo_sql,
)
from invoicing.eligibility.states import rate_in_force
from invoicing.eligibility.titles import buyers_sql
from invoicing.models import BuyerTitle, CardBinding, CardPrepaidChoice, DocumentItem, ItemKind, PrepaidChoice
from piaogen.identifiers import CardType
from tolling.models import AuditCharge, RoadNature, Segment, TollUnitRate, TopUp

# --- what issuing runs pick up -----------------------------------------------------------------------------------


def _not_held(kind: str) -> Q:
    # NOT EXISTS on the partial unique index document_item_one_live_per_item (item_kind, item_id) WHERE live
    return ~Q(Exists(DocumentItem.objects.filter(item_kind=kind, item_id=OuterRef("id"), live=True)))


def _covering_bindings(at: str) -> QuerySet[CardBinding]:
    """The card bindings that covered the row's time ``at`` (at most one per card; ``CardBinding.covering``)."""
    return CardBinding.objects.filter(
        Q(covers_from__lte=OuterRef(at)) | Q(covers_from__isnull=True, bound_at__lte=OuterRef(at)),
        Q(unbound_at__isnull=True) | Q(unbound_at__gt=OuterRef(at)),
        card_no=OuterRef("card_no"),
    )


def buyer_customer(at: str) -> Subquery:
    """The id of the customer whose binding covered the row's time ``at`` (to group a run's work by customer)."""
    return Subquery(_covering_bindings(at).order_by("-bound_at").values("customer_id")[:1])


def _has_buyer(at: str, invoice_cycle: str | None = None) -> Exists:
    """A binding covering the row's time whose customer has a title (card or default): the one in force then, or
    for a time before their first title, that first one (``titles.buyers_sql``); with ``invoice_cycle``, a customer
    who chose that cycle (``Customer.invoice_cycle``)."""
    title = BuyerTitle.objects.filter(
        Q(card_no=OuterRef(OuterRef("card_no"))) | Q(card_no=""), customer=OuterRef("customer_id"), one_document=False
    )
    binding = _covering_bindings(at).filter(Exists(title))
    if invoice_cycle is not None:
        binding = binding.filter(customer__invoice_cycle=invoice_cycle)
    return Exists(binding)


def invoiceable_segments(
    *,
    service_date_to: dt.date,
    service_date_from: dt.date | None = None,
    province: str | None = None,
    require_buyer: bool = True,
    invoice_cycle: str | None = None,
    limit: int | None = None,
) -> QuerySet[Segment]:
    """Segments a daily run issues: fee > 0, service_date ≤ ``service_date_to`` (pass ``trip_cutoff(today)``),
    no live document item, not paid from an invoiced top-up (FIFO), a rate in force on commercial roads and, with
    ``require_buyer``, a title in force at the exit time. Ordered by id for chunking. ``invoice_cycle`` (implies
    ``require_buyer``): only trips of customers who chose it — the daily run takes ``InvoiceCycle.PER_TRIP``, the
    monthly merge ``InvoiceCycle.MONTHLY``.

    Indexes: the BRIN ``segment_date_brin`` bounds the service-date range (pass ``service_date_from``, the last
    run's cut-off, in production); the NOT EXISTS probes ``document_item_one_live_per_item``; the FIFO subquery
    starts from that index for top-ups and reads the few affected cards' segments by ``segment_card_date_idx``.
    ``test_invoiceable_segments_use_the_indexes`` checks the plan (seq and plain index scans off, as the test
    tables are tiny); abridged::

        Nested Loop
          ->  Merge Anti Join  (Merge Cond: tolling_segment.id = u0.item_id)
                ->  Bitmap Heap Scan on tolling_segment  (Filter: fee > 0 AND NOT (hashed SubPlan 4))
                      ->  Bitmap Index Scan on segment_date_brin  (service_date <= … AND service_date >= …)
                      SubPlan 4  (FIFO, once per run)
                        CTE cards ->  Bitmap Index Scan on document_item_one_live_per_item (item_kind = 'topup')
                        ->  Bitmap Index Scan on segment_card_date_idx  (card_no = c.card_no)
                        ->  Bitmap Index Scan on topup_card_time_idx  (card_no = o.card_no)
                ->  Bitmap Index Scan on document_item_one_live_per_item  (item_kind = 'segment'; u0)
          ->  Bitmap Heap Scan on tolling_tollunit  (by pkey; SubPlan: rates by toll_unit_id)
    """
    qs = Segment.objects.filter(service_date__lte=service_date_to, fee__gt=0)
    if service_date_from is not None:
        qs = qs.filter(service_date__gte=service_date_from)
    if province is not None:
        qs = qs.filter(province=province)
    has_rate = Exists(
        TollUnitRate.objects.filter(toll_unit=OuterRef("toll_unit"), valid_from__lte=OuterRef("service_date"))
    )
    qs = qs.filter(_not_held(ItemKind.SEGMENT)).filter(Q(toll_unit__road_nature=RoadNature.LOAN) | has_rate)
    sql, params = fifo_sql(returns="segments", card_nos=None)
    qs = qs.exclude(id__in=RawSQL(sql, params))  # noqa: S611 -- constant SQL
    if require_buyer or invoice_cycle is not None:
        qs = qs.filter(_has_buyer("exit_time", invoice_cycle))
    qs = qs.order_by("id")
    return qs[:limit] if limit is not None else qs


def invoiceable_topups(
    *,
    service_date_to: dt.date,
    service_date_from: dt.date | None = None,
    province: str | None = None,
    require_buyer: bool = True,
    chosen_at_topup: bool = True,
    limit: int | None = None,
) -> QuerySet[TopUp]:
    """Top-ups a run may issue (at once): no live item, no invoiced trips paid from them, a title in force and,
    with ``chosen_at_topup``, the card's holder chose "at top-up" (``CardPrepaidChoice`` in force at the top-up's
    time; domain.md §4.12). The others are invoiced on request only. Index: ``card_prepaid_choice_version_uniq``
    (card_no, valid_from) for the choice in force."""
    qs = TopUp.objects.filter(service_date__lte=service_date_to)
    if service_date_from is not None:
        qs = qs.filter(service_date__gte=service_date_from)
    if province is not None:
        qs = qs.filter(province=province)
    sql, params = fifo_sql(returns="topups", card_nos=None)
    qs = qs.filter(_not_held(ItemKind.TOPUP)).exclude(id__in=RawSQL(sql, params))  # noqa: S611 -- constant SQL
    if require_buyer:
        qs = qs.filter(_has_buyer("topped_up_at"))
    if chosen_at_topup:
        choice = CardPrepaidChoice.objects.filter(card_no=OuterRef("card_no"), valid_from__lte=OuterRef("topped_up_at"))
        qs = qs.alias(choice=Subquery(choice.order_by("-valid_from").values("choice")[:1]))
        qs = qs.filter(choice=PrepaidChoice.AT_TOPUP)
    qs = qs.order_by("id")
    return qs[:limit] if limit is not None else qs


def invoiceable_audit_charges(
    *, service_date_to: dt.date, province: str | None = None, limit: int | None = None
) -> QuerySet[AuditCharge]:
    """Back-charges a run may issue: on a bound card with a title in force at payment, not yet in a live document."""
    qs = AuditCharge.objects.filter(service_date__lte=service_date_to).exclude(card_no="")
    if province is not None:
        qs = qs.filter(province=province)
    has_rate = Exists(
        TollUnitRate.objects.filter(toll_unit=OuterRef("toll_unit"), valid_from__lte=OuterRef("service_date"))
    )
    qs = qs.filter(_not_held(ItemKind.AUDIT_CHARGE), _has_buyer("paid_at"))
    qs = qs.filter(Q(toll_unit__road_nature=RoadNature.LOAN) | has_rate).order_by("id")
    return qs[:limit] if limit is not None else qs


def eligible_segment_rows_sql(*, segment_ids: Sequence[int], today: dt.date | None = None) -> tuple[str, list[Any]]:
    """The statement behind set-based issuing (``invoicing.issuing.grouping``): of ``segment_ids``, the segments
    eligible now — exactly those ``segment_states(segment_ids=…, today=…)`` calls eligible, from the same rules —
    with what issuing needs: columns ``i`` (id), ``card_no``, ``at`` (exit time), ``service_date``, ``fee``,
    ``plate``, ``vehicle_class``, ``rate`` (in force on the service date), ``nature`` (road nature), ``seller``
    (the toll unit's operator), ``customer_id`` and ``title_id`` (the buyer in force at the exit time).

    Rules: fee > 0; the day-7 cut-off; no live document item; not paid from an invoiced top-up (FIFO over the
    chunk's prepaid cards only); a rate in force on commercial roads; a title in force (``titles.buyers_sql``).
    ``tests/invoicing/test_issuing_consistency.py`` checks it against ``segment_states`` item by item.
    """
    # ``id = ANY(array)``, not ``id IN (SELECT unnest(…))``: the planner then probes the primary key for the chunk's
    # ids instead of hash-joining them against a scan of every segment (0.3 s a chunk at 1 M segments)
    ids = RawSQL(
        "tolling_segment.id = ANY(string_to_array(%s, ',')::bigint[])",
        [",".join(str(int(i)) for i in segment_ids)],
        output_field=BooleanField(),
    )
    qs = Segment.objects.filter(ids, fee__gt=0, service_date__lte=trip_cutoff(today))
    qs = qs.filter(_not_held(ItemKind.SEGMENT)).annotate(
        i=F("id"),
        at=F("exit_time"),
        rate=rate_in_force(),
        nature=F("toll_unit__road_nature"),
        seller=F("toll_unit__operator_id"),
    )
    chunk_cards = Segment.objects.filter(id__in=in_array(segment_ids), card_type=CardType.PREPAID).values("card_no")
    cards_sql, cards_params = chunk_cards.query.sql_with_params()
    fifo, fifo_params = fifo_sql(returns="segments", card_nos=None, cards_sql=(cards_sql, list(cards_params)))
    qs = qs.exclude(id__in=RawSQL(fifo, fifo_params))  # noqa: S611 -- constant SQL, values are parameters
    rows_sql, params = (
        qs.order_by()
        .values_list("i", "card_no", "at", "service_date", "fee", "plate", "vehicle_class", "rate", "nature", "seller")
        .query.sql_with_params()
    )
    columns = "q.i, q.card_no, q.at, q.service_date, q.fee, q.plate, q.vehicle_class, q.rate, q.nature, q.seller"
    # a rate in force on commercial roads, tested here so that the rate subquery runs once per row
    wanted = "title_id IS NOT NULL AND (nature = %s OR rate IS NOT NULL)"
    sql = f"SELECT * FROM ({buyers_sql(rows_sql, columns)}) eligible WHERE {wanted}"  # noqa: S608
    return sql, [*params, RoadNature.LOAN.value]
