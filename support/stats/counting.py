"""Counting: the rows behind a query (``subject_rows``), the groups and their measures (``statistics``) — in
PostgreSQL, from the segment or document rollup where it serves (support/stats_rollup.py), or from each item's
invoice state — and the labels of every key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import BigIntegerField, Count, Exists, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext_lazy as _

from invoicing.eligibility import (
    BEIJING,
    ItemState,
    document_kind_for,
)
from invoicing.models import (
    BusinessLine,
    BuyerTitle,
    CardBinding,
    DocumentItem,
    DocumentKind,
    DocumentLine,
    DocumentStatus,
)
from piaogen.access import scoped
from piaogen.identifiers import VehicleClass, province_label
from piaogen.models import User
from support.stats.query import StatsQuery
from support.stats.subjects import (
    STATE_CHUNK,
    STATE_LABELS,
    STATE_LIMIT,
    Measure,
    StatsTooBroad,
    Subject,
    state_key,
    state_matches,
)
from support.stats_rollup import DOCUMENTS, SEGMENTS, Rollup, rollup_watermark
from tolling.models import Operator, RoadNature

# --- rows -----------------------------------------------------------------------------------------------------------


def _natures(kind: str) -> list[int]:
    """The road natures whose items get documents of ``kind`` (through ``document_kind_for``)."""
    return [nature for nature in RoadNature.values if document_kind_for(nature) == kind]


def _customer_cards(q: Q) -> QuerySet[Any]:
    return CardBinding.objects.filter(q).values("card_no")


def subject_rows(user: User, query: StatsQuery, *, base: QuerySet[Any] | None = None) -> QuerySet[Any]:
    """The subject's rows matching every filter but the invoice state, in the user's scope. ``base``: the subject's
    rollup instead of its rows (for the filters it has, ``_rollup_for``)."""
    spec = query.spec
    qs: QuerySet[Any] = scoped(base if base is not None else spec.model.objects.all(), user)  # type: ignore[attr-defined]
    if query.province:
        qs = qs.filter(province=query.province)
    if query.operator:
        qs = qs.filter(**{spec.operator: query.operator})
    if query.is_documents:
        return _document_filters(qs, query)
    if query.start:
        qs = qs.filter(service_date__gte=query.start)
    if query.end:
        qs = qs.filter(service_date__lte=query.end)
    if query.issued_start or query.issued_end:
        qs = qs.filter(Exists(_held_in_range(spec, query)))
    if query.business_line and query.business_line != spec.business_line:
        return qs.none()
    if query.document_kind:
        if spec.road_nature:
            qs = qs.filter(**{f"{spec.road_nature}__in": _natures(query.document_kind)})
        elif query.document_kind != DocumentKind.DIGITAL_INVOICE:  # top-ups and taxi rides get 数电 invoices
            return qs.none()
    if query.toll_unit and spec.toll_unit:
        qs = qs.filter(**{spec.toll_unit: query.toll_unit})
    if query.card_type and spec.card_type:
        qs = qs.filter(**{spec.card_type: query.card_type})
    if query.vehicle_class and spec.vehicle_class:
        qs = qs.filter(**{spec.vehicle_class: query.vehicle_class})
    if query.plate and spec.plate:
        qs = qs.filter(**{spec.plate: query.plate})
    if query.card and spec.card:
        qs = qs.filter(**{spec.card: query.card})
    if query.batch and spec.batch:
        qs = qs.filter(batch_id=query.batch)
    # the customer and the buyer title reach items through the cards ever bound to the customer
    if query.customer:
        qs = qs.filter(card_no__in=_customer_cards(Q(customer_id=query.customer))) if spec.card else qs.none()
    if query.buyer:
        holders = BuyerTitle.objects.filter(name__icontains=query.buyer).values("customer_id")
        qs = qs.filter(card_no__in=_customer_cards(Q(customer_id__in=holders))) if spec.card else qs.none()
    return qs


def _held_in_range(spec: Subject, query: StatsQuery) -> QuerySet[DocumentItem]:
    """The live document items holding the row, issued in the query's issue-date range."""
    assert spec.item_kind is not None
    held = DocumentItem.objects.filter(item_kind=spec.item_kind, item_id=OuterRef("id"), live=True)
    if query.issued_start:
        held = held.filter(document__service_date__gte=query.issued_start)
    if query.issued_end:
        held = held.filter(document__service_date__lte=query.issued_end)
    return held


def _document_filters(qs: QuerySet[Any], query: StatsQuery) -> QuerySet[Any]:
    if query.issued_start:
        qs = qs.filter(service_date__gte=query.issued_start)
    if query.issued_end:
        qs = qs.filter(service_date__lte=query.issued_end)
    if query.start:  # the travel period meets the range
        qs = qs.filter(Q(period_end__isnull=True) | Q(period_end__gte=query.start))
    if query.end:
        qs = qs.filter(Q(period_start__isnull=True) | Q(period_start__lte=query.end))
    if query.business_line:
        qs = qs.filter(business_line=query.business_line)
    if query.document_kind:
        qs = qs.filter(kind=query.document_kind)
    if query.document_status:
        qs = qs.filter(status=query.document_status)
    if query.card:
        qs = qs.filter(card_no=query.card)
    if query.plate:
        qs = qs.filter(Exists(DocumentLine.objects.filter(document_id=OuterRef("id"), plate=query.plate)))
    if query.customer:
        qs = qs.filter(customer_id=query.customer)
    if query.buyer:
        qs = qs.filter(buyer_name__icontains=query.buyer)
    return qs


# --- statistics -----------------------------------------------------------------------------------------------------


@dataclass
class Cell:
    """One group: its keys (raw values) and labels, the measures, and the query of the rows behind it."""

    keys: tuple[Any, ...]
    labels: tuple[str, ...]
    values: dict[str, int]
    query: StatsQuery


@dataclass
class Statistics:
    query: StatsQuery
    dimensions: tuple[str, ...]
    measures: tuple[Measure, ...]
    cells: list[Cell]
    total: dict[str, int] = field(default_factory=dict)


def _dimension_column(spec: Subject, dimension: str) -> str | None:
    """The column a dimension groups on (None: a constant for this subject, or the state)."""
    return {
        "day": "service_date",
        "month": "month",
        "province": "province",
        "operator": spec.operator,
        "business_line": "business_line" if spec.business_line is None else None,
        "vehicle_class": spec.vehicle_class,
        "document_kind": "kind" if spec.business_line is None else spec.road_nature,
        "state": "status" if spec.business_line is None else None,
    }[dimension]


def _dimension_key(spec: Subject, dimension: str, raw: Any) -> Any:
    """A group's key from the grouped column's value (road nature → document kind, constants filled in)."""
    if dimension == "business_line" and spec.business_line is not None:
        return spec.business_line
    if dimension == "document_kind" and spec.business_line is not None:
        return document_kind_for(raw) if spec.road_nature else DocumentKind.DIGITAL_INVOICE
    if dimension == "month" and isinstance(raw, dt.datetime):
        return raw.astimezone(BEIJING).date()
    return raw


def _pinned(query: StatsQuery, dimension: str, key: Any) -> StatsQuery:
    """The query of one group's rows: the dimension's value becomes a filter."""
    if key is None:
        return query
    dated = ("issued_start", "issued_end") if query.is_documents else ("start", "end")
    if dimension == "day":
        return replace(query, **{dated[0]: key, dated[1]: key})
    if dimension == "month":
        first = key.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        low, high = getattr(query, dated[0]), getattr(query, dated[1])
        return replace(
            query, **{dated[0]: max(first, low) if low else first, dated[1]: min(last, high) if high else last}
        )
    if dimension == "state":
        return replace(query, **{"document_status" if query.is_documents else "state": key})
    return replace(query, **{dimension: key})


def statistics(*, user: User, query: StatsQuery) -> Statistics:
    """The groups of the query's rows with their measures, ordered by their keys, and the totals."""
    spec = query.spec
    rows = subject_rows(user, query)
    groups = _count_with_states(rows, query) if query.uses_states else _count(user, rows, query)
    labels = _labeller(query.group_by, groups.keys())
    cells = []
    for keys in sorted(groups, key=_sort_key):
        cell_query = query
        for dimension, key in zip(query.group_by, keys, strict=True):
            cell_query = _pinned(cell_query, dimension, key)
        cells.append(Cell(keys, tuple(labels(d, k) for d, k in zip(query.group_by, keys, strict=True)),
                          groups[keys], cell_query))  # fmt: skip
    total = {m.key: sum(cell.values[m.key] for cell in cells) for m in spec.measures}
    total.setdefault("count", 0)
    return Statistics(query, query.group_by, spec.measures, cells, total)


def _sort_key(keys: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((k is None, str(k) if not isinstance(k, int | dt.date) else k) for k in keys)


def _count_in_sql(
    rows: QuerySet[Any], query: StatsQuery, *, rollup: Rollup | None = None
) -> tuple[dict[tuple[Any, ...], dict[str, int]], int | None]:
    """The groups counted by PostgreSQL; from a rollup (counts are its count column), also the rollup's watermark
    read in the same statement (None: no rows)."""
    spec = query.spec
    columns = [_dimension_column(spec, d) for d in query.group_by]
    if "month" in columns:
        rows = rows.annotate(month=TruncMonth("service_date"))
    named = [c for c in columns if c is not None]
    aggregates: dict[str, Any] = {}
    for m in spec.measures:
        if m.column is None:
            aggregates[m.key] = Sum(rollup.count, default=0) if rollup else Count("id")
        else:
            aggregates[m.key] = Sum(m.column, default=0)
    if rollup:  # the watermark in the rollup's snapshot: exactly the rows up to it are in these rows
        mark = rollup.watermark.objects.filter(id=1).values("max_id")
        aggregates["watermark"] = Max(Subquery(mark, output_field=BigIntegerField()))
    result: dict[tuple[Any, ...], dict[str, int]] = {}
    watermark: int | None = None
    grouped = rows.order_by().values(*named).annotate(**aggregates) if named else [rows.aggregate(**aggregates)]
    for row in grouped:
        if rollup:
            watermark = row["watermark"] if row["watermark"] is not None else watermark
            if not row["count"]:
                continue
        keys = tuple(
            _dimension_key(spec, d, row[c] if c is not None else None)
            for d, c in zip(query.group_by, columns, strict=True)
        )
        values = {m.key: int(row[m.key] or 0) for m in spec.measures}
        if keys in result:  # two raw values with one key (road natures of one document kind)
            values = {k: v + result[keys][k] for k, v in values.items()}
        result[keys] = values
    return result, watermark


def _rollup_for(query: StatsQuery) -> Rollup | None:
    """The rollup that has every filter and dimension of the query, if one does: segments without plate, card,
    customer, buyer, batch, issue dates or the invoice state; documents without travel dates, card, plate, customer
    or buyer."""
    if query.subject == "segments":
        uncovered: tuple[Any, ...] = (query.plate, query.card, query.customer, query.buyer, query.batch,
                                      query.issued_start, query.issued_end, query.state)  # fmt: skip
        covered = "state" not in query.group_by and all(v is None for v in uncovered)
        return SEGMENTS if covered else None
    if query.subject == "documents":
        uncovered = (query.start, query.end, query.card, query.plate, query.customer, query.buyer)
        return DOCUMENTS if all(v is None for v in uncovered) else None
    return None


def _count(user: User, rows: QuerySet[Any], query: StatsQuery) -> dict[tuple[Any, ...], dict[str, int]]:
    """Without the invoice state: in the database, from the subject's rollup up to its watermark and raw rows above
    it (``support.stats_rollup``) where a rollup has the query, else from the raw rows."""
    rollup = _rollup_for(query)
    if rollup is None:
        return _count_in_sql(rows, query)[0]
    before = rollup_watermark(rollup)  # ≤ the watermark the rollup statement sees
    rolled, seen = _count_in_sql(subject_rows(user, query, base=rollup.model.objects.all()), query, rollup=rollup)
    # no rollup row matched: none of the rows up to its watermark match either, so ``before`` is as good
    recent, _ = _count_in_sql(rows.filter(id__gt=seen if seen is not None else before), query)
    for keys, values in recent.items():
        if keys in rolled:
            values = {k: v + rolled[keys][k] for k, v in values.items()}
        rolled[keys] = values
    return rolled


def row_count(user: User, query: StatsQuery) -> int:
    """How many rows ``subject_rows`` holds (not by invoice state): the statistics' own total — from a rollup where
    one serves (``_count``), so a drill-down's count costs what its cell did — else ``COUNT(*)``."""
    rows = subject_rows(user, query)
    if _rollup_for(query) is None:
        return rows.count()
    return sum(values["count"] for values in _count(user, rows, replace(query, group_by=())).values())


def _value_columns(query: StatsQuery) -> list[str]:
    spec = query.spec
    columns = ["id", *(c for d in query.group_by if (c := _dimension_column(spec, d)) and c not in ("id",))]
    columns += [m.column for m in spec.measures if m.column]
    return list(dict.fromkeys(columns))


def item_states(query: StatsQuery, ids: Sequence[int]) -> dict[int, ItemState]:
    """The states of items of the query's subject, computed by ``invoicing.eligibility`` in chunks."""
    compute = query.spec.states
    assert compute is not None
    states: dict[int, ItemState] = {}
    for i in range(0, len(ids), STATE_CHUNK):
        states.update(compute(list(ids[i : i + STATE_CHUNK])))
    return states


def _count_with_states(rows: QuerySet[Any], query: StatsQuery) -> dict[tuple[Any, ...], dict[str, int]]:
    """The groups, counted here from each item's state (at most ``STATE_LIMIT`` items)."""
    spec = query.spec
    columns = _value_columns(query)
    if "month" in columns:
        rows = rows.annotate(month=TruncMonth("service_date"))
    data = list(rows.order_by().values_list(*columns)[: STATE_LIMIT + 1])
    if len(data) > STATE_LIMIT:
        raise StatsTooBroad(rows.count())
    states = item_states(query, [row[0] for row in data])
    position = {c: i for i, c in enumerate(columns)}
    result: dict[tuple[Any, ...], dict[str, int]] = {}
    for row in data:
        state = states.get(row[0])
        key_of_state = state_key(state) if state is not None else None
        if query.state is not None and not state_matches(key_of_state, query.state):
            continue
        keys = []
        for d in query.group_by:
            if d == "state":
                keys.append(key_of_state)
                continue
            column = _dimension_column(spec, d)
            keys.append(_dimension_key(spec, d, row[position[column]] if column else None))
        group = result.setdefault(tuple(keys), {m.key: 0 for m in spec.measures})
        for m in spec.measures:
            if m.column:
                group[m.key] += row[position[m.column]]
            else:
                group[m.key] += 1
    return result


def matching_ids(user: User, query: StatsQuery) -> list[int] | None:
    """Ids of the rows behind a query, newest first, when the invoice state selects them (None: the queryset of
    ``subject_rows`` is the answer)."""
    if query.is_documents or query.state is None:
        return None
    rows = subject_rows(user, query)
    ids = list(rows.order_by("-id").values_list("id", flat=True)[: STATE_LIMIT + 1])
    if len(ids) > STATE_LIMIT:
        raise StatsTooBroad(rows.count())
    states = item_states(query, ids)
    return [i for i in ids if i in states and state_matches(state_key(states[i]), query.state)]


# --- labels ---------------------------------------------------------------------------------------------------------


def _labeller(dimensions: Iterable[str], keys: Iterable[tuple[Any, ...]]) -> Callable[[str, Any], str]:
    """The label of every key (one query for the operators' names); no raw code reaches the page."""
    dims = list(dimensions)
    operator_ids: set[int] = set()
    if "operator" in dims:
        at = dims.index("operator")
        operator_ids = {k[at] for k in keys if k[at] is not None}
    names = dict(Operator.objects.filter(id__in=operator_ids).values_list("id", "name")) if operator_ids else {}

    def label(dimension: str, key: Any) -> str:
        return dimension_label(dimension, key, names)

    return label


def dimension_label(dimension: str, key: Any, operator_names: dict[int, str] | None = None) -> str:
    if key is None:
        return str(_("不适用"))
    if dimension == "day":
        return key.isoformat()
    if dimension == "month":
        return key.strftime("%Y-%m")
    if dimension == "province":
        return province_label(key)
    if dimension == "operator":
        return (operator_names or {}).get(key) or str(_("未知"))
    if dimension == "business_line":
        return str(BusinessLine(key).label)
    if dimension == "vehicle_class":
        return str(VehicleClass(key).label)
    if dimension == "document_kind":
        return str(DocumentKind(key).label)
    if dimension == "state":
        if key in DocumentStatus.values:
            return str(DocumentStatus(key).label)
        return str(STATE_LABELS.get(key, key))
    return str(key)
