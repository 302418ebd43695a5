"""What issuing picks up: the invoiceable segments, top-ups and back-charges of a run (querysets over the rows
their state statements in ``sql/`` find without blockers), and the rows set-based issuing issues."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from invoicing.eligibility.base import Reason, chosen, id_list, statement, trip_cutoff
from invoicing.models import PrepaidChoice
from tolling.models import AuditCharge, Segment, TopUp

# The rows of a state statement that a run may issue: no blocker but those allowed (``require_buyer=False``: a
# missing buyer). A customer's invoice cycle (``Customer.invoice_cycle``) and the prepaid choice in force narrow
# them further; both are columns of the statements.
_NO_BLOCKER = "st.blockers <@ %s::text[]"
_CYCLE = "st.customer_id IN (SELECT c.id FROM invoicing_customer c WHERE c.invoice_cycle = %s)"


def _invoiceable_ids(
    name: str, values: dict[str, Any], *, require_buyer: bool, where: Sequence[tuple[str, Any]] = ()
) -> RawSQL:
    sql, params = statement(name, **values)
    allowed = [] if require_buyer else [Reason.NO_BUYER.value]
    conditions = [_NO_BLOCKER, *(condition for condition, _value in where)]
    params += [allowed, *(value for _condition, value in where)]
    # our own statement and conditions; every value is a parameter
    return RawSQL(f"SELECT st.id FROM ({sql}) st WHERE {' AND '.join(conditions)}", params)  # noqa: S608, S611


def invoiceable_segments(
    *,
    service_date_to: dt.date,
    service_date_from: dt.date | None = None,
    province: str | None = None,
    require_buyer: bool = True,
    invoice_cycle: str | None = None,
    limit: int | None = None,
) -> QuerySet[Segment]:
    """Segments a daily run issues: those of ``sql/segment_states.sql`` with no blocker on the Beijing date whose
    cut-off is ``service_date_to`` (pass ``trip_cutoff(today)``), i.e. fee > 0, no live document item, not paid
    from an invoiced top-up (FIFO), a rate in force on commercial roads and, with ``require_buyer``, a title in
    force at the exit time. Ordered by id for chunking. ``invoice_cycle`` (implies ``require_buyer``): only trips
    of customers who chose it — the daily run takes ``InvoiceCycle.PER_TRIP``, the monthly merge
    ``InvoiceCycle.MONTHLY``.

    Indexes: the BRIN ``segment_date_brin`` bounds the service-date range (pass ``service_date_from``, the last
    run's cut-off, in production); ``document_item_one_live_per_item`` decides "held"; FIFO reads the few affected
    cards' segments by ``segment_card_date_idx`` (``test_invoiceable_segments_use_the_indexes``).
    """
    values = {
        **chosen(date_from=service_date_from, date_to=service_date_to, province=province),
        "cutoff": service_date_to,
        "all_rows": False,
    }
    where = [(_CYCLE, invoice_cycle)] if invoice_cycle is not None else []
    ids = _invoiceable_ids(
        "segment_states.sql", values, require_buyer=require_buyer or invoice_cycle is not None, where=where
    )
    qs = Segment.objects.filter(id__in=ids).order_by("id")
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
    """Top-ups a run may issue (at once): those of ``sql/topup_states.sql`` with no blocker and, with
    ``chosen_at_topup``, whose card holder chose "at top-up" (the choice in force at the top-up's time; domain.md
    §4.12). The others are invoiced on request only."""
    values = chosen(date_from=service_date_from, date_to=service_date_to, province=province)
    where = [("st.prepaid_choice = %s", PrepaidChoice.AT_TOPUP.value)] if chosen_at_topup else []
    ids = _invoiceable_ids("topup_states.sql", values, require_buyer=require_buyer, where=where)
    qs = TopUp.objects.filter(id__in=ids).order_by("id")
    return qs[:limit] if limit is not None else qs


def invoiceable_audit_charges(
    *, service_date_to: dt.date, province: str | None = None, limit: int | None = None
) -> QuerySet[AuditCharge]:
    """Back-charges a run may issue: those of ``sql/audit_charge_states.sql`` with no blocker (a bound card with a
    title in force at payment, a rate in force on commercial roads, not yet in a live document)."""
    values = {"ids": None, "date_to": service_date_to, "province": province}
    ids = _invoiceable_ids("audit_charge_states.sql", values, require_buyer=True)
    qs = AuditCharge.objects.filter(id__in=ids).order_by("id")
    return qs[:limit] if limit is not None else qs


def buyer_customer() -> RawSQL:
    """The id of the customer whose binding covered a segment's exit time (to group a run's work by customer)."""
    return RawSQL(
        "(SELECT b.customer_id FROM invoicing_buyer_at(tolling_segment.card_no, tolling_segment.exit_time) b)", []
    )


# the columns set-based issuing reads (``invoicing.issuing.grouping``)
_ELIGIBLE_ROWS = """
SELECT st.id AS i, st.card_no, st.exit_time AS at, st.service_date, st.fee, st.plate, st.vehicle_class, st.rate,
    st.nature, st.seller, st.customer_id, st.title_id
FROM ({states}) st
WHERE st.blockers = '{{}}'
"""


ServiceDates = tuple[dt.date, dt.date]

_SERVICE_DATES_SQL = (
    "SELECT min(service_date), max(service_date) FROM tolling_segment "
    "WHERE id = ANY(string_to_array(%s::text, ',')::bigint[])"
)


def segment_service_dates(segment_ids: Sequence[int]) -> ServiceDates | None:
    """The first and last service date of ``segment_ids`` (None: none of them exists), for callers that do not know
    them: one probe of the primary key per id and partition (ADR 0010 addendum)."""
    with connection.cursor() as cursor:
        cursor.execute(_SERVICE_DATES_SQL, [id_list(segment_ids)])
        first, last = cursor.fetchone()
    return None if first is None else (first, last)


def eligible_segment_rows_sql(
    *, segment_ids: Sequence[int], today: dt.date | None = None, service_dates: ServiceDates | None = None
) -> tuple[str, list[Any]]:
    """The statement behind set-based issuing (``invoicing.issuing.grouping``): of ``segment_ids``, the segments
    eligible now — the rows of ``sql/segment_states.sql`` with no blocker, so exactly those ``segment_states``
    calls eligible — with what issuing needs: columns ``i`` (id), ``card_no``, ``at`` (exit time),
    ``service_date``, ``fee``, ``plate``, ``vehicle_class``, ``rate`` (in force on the service date), ``nature``
    (road nature), ``seller`` (the toll unit's operator), ``customer_id`` and ``title_id`` (the buyer in force at
    the exit time). ``tests/invoicing/test_issuing_consistency.py`` checks it against ``segment_states``.

    ``service_dates``: the first and last service date of ``segment_ids`` (a run knows them from its selection;
    otherwise they are looked up here). The statement carries them as its date range, so the planner keeps only
    the partitions of those months (ADR 0010 addendum): over every partition, planning alone took ≈ 120 ms a
    chunk. The range only narrows where the ids are looked for; a segment outside it is not issued by this call.
    """
    bounds = service_dates if service_dates is not None else segment_service_dates(segment_ids)
    first, last = bounds if bounds is not None else (dt.date.max, dt.date.min)  # none exists: an empty range
    states, params = statement(
        "segment_states.sql",
        **chosen(ids=segment_ids, date_from=first, date_to=last),
        cutoff=trip_cutoff(today),
        all_rows=False,
    )
    return _ELIGIBLE_ROWS.format(states=states), params
