"""What query statistics count: the subjects (passages, documents, top-ups, back-charges, paper tickets, taxi
rides) with their columns and measures, the invoice states and the dimensions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.eligibility import (
    ItemState,
    Reason,
    audit_charge_states,
    paper_ticket_states,
    segment_states,
    taxi_ride_states,
    topup_states,
)
from invoicing.models import (
    BusinessLine,
    Document,
    ItemKind,
)
from tolling.models import AuditCharge, PaperTicket, Segment, TaxiRide, TopUp

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


# The three outcomes the record pages count (support/record_stats.py), each a set of states: a ``state`` filter may
# name one of them instead of one state, so the figure and its drill-down are still one query.
STATE_GROUPS: dict[str, frozenset[str]] = {
    "invoiced": frozenset({Reason.IN_DOCUMENT.value}),
    "waiting": frozenset({Reason.NOT_YET.value, Reason.ELIGIBLE.value, RELEASED}),
    "ineligible": frozenset(
        {
            Reason.ZERO_FEE.value,
            Reason.TOPUP_INVOICED.value,
            Reason.TOPUP_CHOSEN.value,
            Reason.TRIPS_INVOICED.value,
            Reason.NO_RATE.value,
            Reason.NO_BUYER.value,
        }
    ),
}
STATE_GROUP_LABELS: dict[str, Promise] = {
    "invoiced": _("已开票"),
    "waiting": _("待开票（未到可开票日或可开票未开具）"),
    "ineligible": _("不可开票"),
}


def state_group(key: str) -> str:
    """The outcome (``STATE_GROUPS``) of a state key."""
    return next(group for group, keys in STATE_GROUPS.items() if key in keys)


def state_matches(key: str | None, wanted: str) -> bool:
    """Whether an item's state key passes a ``state`` filter: that state, or one of the states of that group."""
    return key is not None and (key == wanted or key in STATE_GROUPS.get(wanted, ()))


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
