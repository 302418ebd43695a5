"""Query statistics (查询统计): count and sum passages, documents, top-ups, back-charges, paper tickets and taxi rides
along one or two dimensions, for any filter set, and the rows behind every number.

A number and its drill-down come from the same queryset (``subject_rows``) and, where the invoice state is asked
for, from the same state computation (``invoicing.eligibility``'s ``*_states``, not re-implemented here): a cell's
count is the count of the rows its link opens (style rule 27). Without the state, counting is one ``GROUP BY`` in
PostgreSQL; with it, the matching items' states are computed in chunks and counted here.

Every query starts from ``piaogen.access.scoped``: a province-bound user's query is pinned to their province,
whatever the URL says, and the base querysets are bounded again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from django import forms
from django.db.models import BigIntegerField, Count, Exists, Max, Model, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncMonth
from django.http import QueryDict
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.eligibility import (
    BEIJING,
    ItemState,
    Reason,
    audit_charge_states,
    beijing_today,
    document_kind_for,
    paper_ticket_states,
    segment_states,
    taxi_ride_states,
    topup_states,
)
from invoicing.models import (
    BusinessLine,
    BuyerTitle,
    CardBinding,
    Document,
    DocumentItem,
    DocumentKind,
    DocumentLine,
    DocumentStatus,
    ItemKind,
)
from piaogen.access import scoped
from piaogen.identifiers import CardType, Province, VehicleClass, fold_fullwidth, province_label
from piaogen.models import User
from support.stats_rollup import SegmentRollup, SegmentRollupWatermark, segment_rollup_watermark
from tolling.models import AuditCharge, Operator, PaperTicket, RoadNature, Segment, TaxiRide, TopUp

DEFAULT_DAYS = 31
MAX_DAYS = 732
STATE_CHUNK = 5_000  # items whose state is computed in one call of ``*_states`` (≈ 1 s at 1 M segments)
# Items whose state one request may compute: ``*_states`` costs ≈ 0.2 ms an item (buyer lookups, FIFO of their
# cards), so a question by invoice state must be narrowed first (a card, plate, customer, or a short range of one
# province). docs/benchmarks.md § Query statistics.
STATE_LIMIT = 10_000
RELEASED = "released"  # an eligible item whose document was reversed: shown apart from never-invoiced ones

# --- subjects -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    key: str
    label: Promise
    column: str | None  # summed column; None: a count
    money: bool = True


COUNT = Measure("count", pgettext_lazy("count", "数量"), None, money=False)


@dataclass(frozen=True)
class Subject:
    """What a subject's rows have, by column (None: the filter or dimension does not apply to it)."""

    key: str
    label: Promise
    model: type[Model]
    measures: tuple[Measure, ...]
    business_line: str | None  # the one line of an item subject; documents carry theirs
    operator: str  # the seller: toll unit operator, card issuer, taxi company, document seller
    states: Callable[[list[int]], dict[int, ItemState]] | None = None
    toll_unit: str | None = None
    road_nature: str | None = None
    plate: str | None = None
    card: str | None = None
    card_type: str | None = None
    vehicle_class: str | None = None
    batch: bool = True
    item_kind: str | None = None  # ItemKind of an item subject


SUBJECTS: dict[str, Subject] = {
    s.key: s
    for s in (
        Subject(
            "segments",
            pgettext_lazy("plural", "通行拆分明细"),
            Segment,
            (
                COUNT,
                Measure("pay_fee", _("应收金额"), "pay_fee"),
                Measure("discount_fee", _("优惠金额"), "discount_fee"),
                Measure("fee", _("实收金额"), "fee"),
            ),
            BusinessLine.ETC_TRIP,
            "toll_unit__operator_id",
            lambda ids: segment_states(segment_ids=ids),
            toll_unit="toll_unit__code",
            road_nature="toll_unit__road_nature",
            plate="plate",
            card="card_no",
            card_type="card_type",
            vehicle_class="vehicle_class",
            item_kind=ItemKind.SEGMENT,
        ),
        Subject(
            "documents",
            pgettext_lazy("plural", "票据"),
            Document,
            (
                COUNT,
                Measure("amount_net", _("金额"), "amount_net"),
                Measure("amount_tax", _("税额"), "amount_tax"),
                Measure("amount_gross", _("价税合计"), "amount_gross"),
            ),
            None,
            "seller_id",
            card="card_no",
            batch=False,
        ),
        Subject(
            "topups",
            pgettext_lazy("plural", "充值"),
            TopUp,
            (COUNT, Measure("amount", _("充值金额"), "amount")),
            BusinessLine.ETC_TOPUP,
            "issuer_id",
            lambda ids: topup_states(topup_ids=ids),
            card="card_no",
            item_kind=ItemKind.TOPUP,
        ),
        Subject(
            "audit_charges",
            pgettext_lazy("plural", "稽核补费"),
            AuditCharge,
            (COUNT, Measure("amount", _("补费金额"), "amount")),
            BusinessLine.AUDIT,
            "toll_unit__operator_id",
            lambda ids: audit_charge_states(charge_ids=ids),
            toll_unit="toll_unit__code",
            road_nature="toll_unit__road_nature",
            plate="plate",
            card="card_no",
            item_kind=ItemKind.AUDIT_CHARGE,
        ),
        Subject(
            "paper_tickets",
            pgettext_lazy("plural", "纸质票据"),
            PaperTicket,
            (COUNT, Measure("amount", _("金额"), "amount")),
            BusinessLine.PAPER,
            "toll_unit__operator_id",
            lambda ids: paper_ticket_states(ticket_ids=ids),
            toll_unit="toll_unit__code",
            road_nature="toll_unit__road_nature",
            plate="plate",
            vehicle_class="vehicle_class",
            item_kind=ItemKind.PAPER_TICKET,
        ),
        Subject(
            "taxi_rides",
            pgettext_lazy("plural", "出租车行程"),
            TaxiRide,
            (COUNT, Measure("amount", _("金额"), "amount")),
            BusinessLine.TAXI,
            "company_id",
            lambda ids: taxi_ride_states(ride_ids=ids),
            plate="taxi_plate",
            item_kind=ItemKind.TAXI_RIDE,
        ),
    )
}

SUBJECT_CHOICES = [(s.key, s.label) for s in SUBJECTS.values()]

# --- states ---------------------------------------------------------------------------------------------------------

STATE_LABELS: dict[str, Promise] = {
    **{reason.value: reason.label for reason in Reason},
    RELEASED: _("原票据已红冲，可重新开票"),
}


def state_key(state: ItemState) -> str:
    """The statistics' state of an item: its main reason, with "eligible again after a reversal" apart."""
    if state.reason == Reason.ELIGIBLE and state.released_from is not None:
        return RELEASED
    return state.reason.value


# --- dimensions -----------------------------------------------------------------------------------------------------

DIMENSIONS: dict[str, Promise] = {
    "day": _("日"),
    "month": _("月"),
    "province": _("省份"),
    "operator": _("路段业主/销售方"),
    "business_line": _("业务线"),
    "state": _("开票状态及原因"),
    "vehicle_class": _("收费车型"),
    "document_kind": _("票据种类"),
}
MAX_GROUPS = 2


class StatsTooBroad(Exception):
    """The invoice state was asked for over more items than ``STATE_LIMIT``."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count

    def message(self) -> str:
        return str(
            _(
                "按开票状态统计时最多计算%(limit)s条明细，当前条件下有%(count)s条；请先按卡号、车牌、客户或省份和较短日期缩小范围。"
            )
            % {"limit": f"{STATE_LIMIT:,}", "count": f"{self.count:,}"}
        )


# --- the query ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatsQuery:
    """Filters and grouping, as in the URL. ``start``/``end`` is the trip (business) date of an item, the travel
    period of a document; ``issued_start``/``issued_end`` the issue date of a document, of an item's live document.
    Items are always bounded by their trip date, documents by their issue date (the default: the last 31 days)."""

    subject: str = "segments"
    start: dt.date | None = None
    end: dt.date | None = None
    issued_start: dt.date | None = None
    issued_end: dt.date | None = None
    province: str | None = None
    operator: int | None = None
    toll_unit: str | None = None
    business_line: str | None = None
    document_kind: str | None = None
    document_status: str | None = None
    card_type: int | None = None
    vehicle_class: int | None = None
    plate: str | None = None
    card: str | None = None
    customer: int | None = None
    buyer: str | None = None
    batch: int | None = None
    state: str | None = None
    group_by: tuple[str, ...] = ("day",)
    invalid: tuple[str, ...] = field(default=(), compare=False)  # parameters given but not understood (dropped)

    @property
    def spec(self) -> Subject:
        return SUBJECTS[self.subject]

    @property
    def is_documents(self) -> bool:
        return self.subject == "documents"

    @property
    def uses_states(self) -> bool:
        """Counting needs each item's invoice state (computed by ``invoicing.eligibility``)."""
        return not self.is_documents and (self.state is not None or "state" in self.group_by)

    def params(self, **overrides: object) -> dict[str, str]:
        """The query as URL parameters (empty ones left out), with ``overrides`` applied."""
        values: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "invalid"}
        values["group_by"] = ",".join(self.group_by)
        values.update(overrides)
        out: dict[str, str] = {}
        for key, value in values.items():
            if value is None or value == "":
                continue
            out[key] = value.isoformat() if isinstance(value, dt.date) else str(value)
        return out

    def rejected(self) -> list[str]:
        """Labels of the filters given with a value that is not valid (a date, a number, a choice): not applied."""
        return [str(StatsForm.base_fields[name].label or name) for name in self.invalid]

    def ignored(self) -> list[Promise]:
        """Labels of the filters set that do not apply to this subject (they are not applied)."""
        spec = self.spec
        checks = [
            (self.toll_unit, spec.toll_unit, _("收费单元")),
            (self.card_type, spec.card_type, _("卡类型")),
            (self.vehicle_class, spec.vehicle_class, _("收费车型")),
            (self.plate, spec.plate or (self.is_documents or None), _("车牌号")),
            (self.card, spec.card, _("ETC卡号")),
            (self.batch, spec.batch or None, _("上传批次")),
            (self.document_status, self.is_documents or None, _("票据状态")),
            (self.state, (not self.is_documents) or None, _("开票状态及原因")),
        ]
        return [label for value, applies, label in checks if value not in (None, "") and not applies]


class StatsForm(forms.Form):
    """The filter bar; parsed leniently (an invalid value is dropped, not an error)."""

    subject = forms.ChoiceField(label=_("统计对象"), required=False, choices=SUBJECT_CHOICES)
    start = forms.DateField(label=_("通行日期起"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("通行日期止"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    issued_start = forms.DateField(
        label=_("开票日期起"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    issued_end = forms.DateField(label=_("开票日期止"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    province = forms.ChoiceField(label=_("省份"), required=False, choices=[("", _("全部省份")), *Province.choices])
    operator = forms.IntegerField(label=_("路段业主/销售方"), required=False, min_value=1)
    toll_unit = forms.CharField(label=_("收费单元编号"), required=False)
    business_line = forms.ChoiceField(
        label=_("业务线"), required=False, choices=[("", _("全部业务线")), *BusinessLine.choices]
    )
    document_kind = forms.ChoiceField(
        label=_("票据种类"), required=False, choices=[("", _("全部种类")), *DocumentKind.choices]
    )
    document_status = forms.ChoiceField(
        label=_("票据状态"), required=False, choices=[("", _("全部状态")), *DocumentStatus.choices]
    )
    card_type = forms.TypedChoiceField(
        label=_("卡类型"), required=False, coerce=int, empty_value=None, choices=[("", _("全部")), *CardType.choices]
    )
    vehicle_class = forms.TypedChoiceField(
        label=_("收费车型"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("全部车型")), *VehicleClass.choices],
    )
    plate = forms.CharField(label=_("车牌号"), required=False)
    card = forms.CharField(label=_("ETC卡号"), required=False)
    customer = forms.IntegerField(label=_("客户编号"), required=False, min_value=1)
    buyer = forms.CharField(label=_("购买方抬头"), required=False)
    batch = forms.IntegerField(label=_("上传批次"), required=False, min_value=1)
    state = forms.ChoiceField(
        label=_("开票状态及原因"), required=False, choices=[("", _("全部")), *STATE_LABELS.items()]
    )
    group_by = forms.ChoiceField(label=_("分组"), required=False, choices=[("", _("不分组")), *DIMENSIONS.items()])
    then_by = forms.ChoiceField(label=_("再按"), required=False, choices=[("", _("不分组")), *DIMENSIONS.items()])


def _groups(data: QueryDict | dict[str, str]) -> tuple[str, ...]:
    raw = data.get("group_by")
    parts = [part.strip() for part in (raw or "").split(",")] if raw is not None else ["day"]
    if data.get("then_by"):  # the page's second select
        parts.append(str(data.get("then_by")))
    groups: list[str] = []
    for part in parts:
        if part in DIMENSIONS and part not in groups and len(groups) < MAX_GROUPS:
            if {part, *groups} >= {"day", "month"}:
                continue
            groups.append(part)
    return tuple(groups)


def _text(value: Any) -> str | None:
    text = fold_fullwidth(str(value or "")).strip()
    return text or None


def query_from(data: QueryDict | dict[str, str], *, user: User, today: dt.date | None = None) -> StatsQuery:
    """Parse the URL (or API) parameters, default the date range and pin the user's province."""
    form = StatsForm(data)
    form.is_valid()
    clean = form.cleaned_data
    subject = clean.get("subject") or "segments"
    dates: dict[str, Any] = {key: clean.get(key) for key in ("start", "end", "issued_start", "issued_end")}
    primary = ("issued_start", "issued_end") if subject == "documents" else ("start", "end")
    for low, high in (("start", "end"), ("issued_start", "issued_end")):
        if dates[low] and dates[high] and dates[low] > dates[high]:
            dates[low], dates[high] = dates[high], dates[low]
        if low == primary[0] or dates[low] or dates[high]:
            end = dates[high] or (today or beijing_today())
            start = dates[low] or end - dt.timedelta(days=DEFAULT_DAYS - 1)
            dates[low], dates[high] = max(start, end - dt.timedelta(days=MAX_DAYS - 1)), end
    return StatsQuery(
        subject=subject,
        **dates,
        province=user.province_scope or clean.get("province") or None,
        operator=clean.get("operator") or None,
        toll_unit=(_text(clean.get("toll_unit")) or "").upper() or None,
        business_line=clean.get("business_line") or None,
        document_kind=clean.get("document_kind") or None,
        document_status=clean.get("document_status") or None,
        card_type=clean.get("card_type") or None,
        vehicle_class=clean.get("vehicle_class") or None,
        plate=(_text(clean.get("plate")) or "").upper() or None,
        card=_text(clean.get("card")),
        customer=clean.get("customer") or None,
        buyer=_text(clean.get("buyer")),
        batch=clean.get("batch") or None,
        state=clean.get("state") or None,
        group_by=_groups(data),
        invalid=tuple(name for name in form.errors if name not in ("group_by", "then_by")),
    )


def _operators(user: User) -> QuerySet[Operator]:
    return scoped(Operator.objects.all(), user).order_by("province", "name")


def stats_form(query: StatsQuery, user: User) -> StatsForm:
    """The filter bar pre-filled with the query in force; a province user cannot pick another province."""
    initial = query.params()
    initial["group_by"], initial["then_by"] = ([*list(query.group_by), "", ""])[:2]
    form = StatsForm(initial=initial)
    form.fields["operator"] = forms.ChoiceField(
        label=_("路段业主/销售方"),
        required=False,
        choices=[("", _("全部")), *((str(pk), name) for pk, name in _operators(user).values_list("pk", "name"))],
    )
    if user.province_scope is not None:
        province = form.fields["province"]
        assert isinstance(province, forms.ChoiceField)
        province.choices = [(user.province_scope, province_label(user.province_scope))]
        province.disabled = True
    return form


# --- rows -----------------------------------------------------------------------------------------------------------


def _natures(kind: str) -> list[int]:
    """The road natures whose items get documents of ``kind`` (through ``document_kind_for``)."""
    return [nature for nature in RoadNature.values if document_kind_for(nature) == kind]


def _customer_cards(q: Q) -> QuerySet[Any]:
    return CardBinding.objects.filter(q).values("card_no")


def subject_rows(user: User, query: StatsQuery, *, base: QuerySet[Any] | None = None) -> QuerySet[Any]:
    """The subject's rows matching every filter but the invoice state, in the user's scope. ``base``: the segment
    rollup instead of the segments (for the filters it has, ``_rollup_covers``)."""
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
    rows: QuerySet[Any], query: StatsQuery, *, rollup: bool = False
) -> tuple[dict[tuple[Any, ...], dict[str, int]], int | None]:
    """The groups counted by PostgreSQL; from the segment rollup (``rollup``: counts are its ``segments``), also the
    watermark read in the same statement (None: no rows)."""
    spec = query.spec
    columns = [_dimension_column(spec, d) for d in query.group_by]
    if "month" in columns:
        rows = rows.annotate(month=TruncMonth("service_date"))
    named = [c for c in columns if c is not None]
    aggregates: dict[str, Any] = {}
    for m in spec.measures:
        if m.column is None:
            aggregates[m.key] = Sum("segments", default=0) if rollup else Count("id")
        else:
            aggregates[m.key] = Sum(m.column, default=0)
    if rollup:  # the watermark in the rollup's snapshot: exactly the segments up to it are in these rows
        mark = SegmentRollupWatermark.objects.filter(id=1).values("max_id")
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


def _rollup_covers(query: StatsQuery) -> bool:
    """The segment rollup has every filter and dimension of the query (not plate, card, customer, buyer, batch,
    issue dates or the invoice state)."""
    uncovered = (query.plate, query.card, query.customer, query.buyer, query.batch, query.issued_start,
                 query.issued_end, query.state)  # fmt: skip
    return query.subject == "segments" and "state" not in query.group_by and all(v is None for v in uncovered)


def _count(user: User, rows: QuerySet[Any], query: StatsQuery) -> dict[tuple[Any, ...], dict[str, int]]:
    """Without the invoice state: in the database, segments from the rollup up to its watermark and raw above it
    (``support.stats_rollup``), everything else from the raw rows."""
    if not _rollup_covers(query):
        return _count_in_sql(rows, query)[0]
    before = segment_rollup_watermark()  # ≤ the watermark the rollup statement sees
    rolled, seen = _count_in_sql(subject_rows(user, query, base=SegmentRollup.objects.all()), query, rollup=True)
    # no rollup row matched: none of the segments up to its watermark match either, so ``before`` is as good
    recent, _ = _count_in_sql(rows.filter(id__gt=seen if seen is not None else before), query)
    for keys, values in recent.items():
        if keys in rolled:
            values = {k: v + rolled[keys][k] for k, v in values.items()}
        rolled[keys] = values
    return rolled


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
        if query.state is not None and key_of_state != query.state:
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
    return [i for i in ids if i in states and state_key(states[i]) == query.state]


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
