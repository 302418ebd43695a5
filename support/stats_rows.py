"""The rows behind a statistics cell (support/stats/): paged for the drill-down page, whole for the exports, each
row with its invoice state and the link to its record; and the CSV (UTF-8 with BOM) and XLSX files of a table.

Cells keep their types (dates, integer fen, counts) until the last step: the page shows ¥ with two decimals, the
XLSX stores real numbers and dates, the CSV plain yuan.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import Model, OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from invoicing.eligibility import BEIJING, ItemState
from invoicing.models import Document
from piaogen.access import scoped
from piaogen.identifiers import CardType, VehicleClass, province_label
from piaogen.models import User
from piaogen.money import fen_to_decimal, format_yuan, yuan_str
from piaogen.privacy import Pii, shown
from support.stats import DIMENSIONS, Statistics, StatsQuery, item_states, matching_ids, row_count, subject_rows
from tolling.models import AuditCharge, Card, PaperTicket, Segment, TaxiRide, TopUp, Trip

PAGE_SIZE = 50
EXPORT_MAX_ROWS = 100_000  # rows of one drill-down export; more: narrow the filters (the page says so)
CHUNK = 2_000
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass(frozen=True)
class Column:
    label: Promise | str
    kind: str = "text"  # text, date, money, count


@dataclass
class Row:
    url: str
    values: list[Any]


def display(value: Any, kind: str) -> str:
    """A cell as the page shows it: ¥ amounts with two decimals, dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if kind == "money":
        return format_yuan(value)
    if kind == "count":
        return f"{value:,}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _search(text: str) -> str:
    return f"{reverse('search')}?{urlencode({'q': text})}"


def _local(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment, BEIJING).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _state(states: dict[int, ItemState], item_id: int) -> str:
    state = states.get(item_id)
    return state.message() if state is not None else ""


STATE = Column(gettext_lazy("开票状态及原因"))

COLUMNS: dict[str, list[Column]] = {
    "segments": [
        Column(gettext_lazy("业务日期"), "date"),
        Column(gettext_lazy("通行标识")),
        Column(gettext_lazy("拆分序号"), "count"),
        Column(gettext_lazy("出口时间")),
        Column(gettext_lazy("车牌号")),
        Column(gettext_lazy("ETC卡号")),
        Column(gettext_lazy("卡类型")),
        Column(gettext_lazy("收费车型")),
        Column(gettext_lazy("省份")),
        Column(gettext_lazy("收费单元")),
        Column(gettext_lazy("路段业主")),
        Column(gettext_lazy("应收金额"), "money"),
        Column(gettext_lazy("优惠金额"), "money"),
        Column(gettext_lazy("实收金额"), "money"),
        STATE,
    ],
    "documents": [
        Column(gettext_lazy("开票日期"), "date"),
        Column(gettext_lazy("票据号码")),
        Column(gettext_lazy("票据种类")),
        Column(gettext_lazy("业务线")),
        Column(gettext_lazy("状态")),
        Column(gettext_lazy("省份")),
        Column(gettext_lazy("销售方")),
        Column(gettext_lazy("购买方")),
        Column(gettext_lazy("购买方纳税人识别号")),
        Column(gettext_lazy("ETC卡号")),
        Column(gettext_lazy("金额"), "money"),
        Column(gettext_lazy("税额"), "money"),
        Column(gettext_lazy("价税合计"), "money"),
    ],
    "topups": [
        Column(gettext_lazy("业务日期"), "date"),
        Column(gettext_lazy("充值流水号")),
        Column(gettext_lazy("充值时间")),
        Column(gettext_lazy("ETC卡号")),
        Column(gettext_lazy("省份")),
        Column(gettext_lazy("发行方")),
        Column(gettext_lazy("充值金额"), "money"),
        STATE,
    ],
    "audit_charges": [
        Column(gettext_lazy("业务日期"), "date"),
        Column(gettext_lazy("补费流水号")),
        Column(gettext_lazy("原通行标识")),
        Column(gettext_lazy("车牌号")),
        Column(gettext_lazy("ETC卡号")),
        Column(gettext_lazy("省份")),
        Column(gettext_lazy("收费单元")),
        Column(gettext_lazy("补费原因")),
        Column(gettext_lazy("补费金额"), "money"),
        STATE,
    ],
    "paper_tickets": [
        Column(gettext_lazy("业务日期"), "date"),
        Column(gettext_lazy("票据号")),
        Column(gettext_lazy("车牌号")),
        Column(gettext_lazy("收费车型")),
        Column(gettext_lazy("省份")),
        Column(gettext_lazy("收费单元")),
        Column(gettext_lazy("支付方式")),
        Column(gettext_lazy("金额"), "money"),
        STATE,
    ],
    "taxi_rides": [
        Column(gettext_lazy("业务日期"), "date"),
        Column(gettext_lazy("行程号")),
        Column(gettext_lazy("出租车公司")),
        Column(gettext_lazy("出租车车牌")),
        Column(gettext_lazy("省份")),
        Column(gettext_lazy("金额"), "money"),
        STATE,
    ],
}


def _loaded(user: User, query: StatsQuery, ids: Sequence[int]) -> list[Any]:
    """The rows of ``ids`` (in the user's scope, like the query that found them) with what their cells and links
    need, in the order of ``ids``."""
    model: type[Model] = query.spec.model
    qs: QuerySet[Any] = scoped(model.objects.filter(id__in=list(ids)), user)  # type: ignore[attr-defined]
    if query.subject in ("segments", "audit_charges"):
        trips = Trip.objects.filter(pass_id=OuterRef("pass_id")).values("id")[:1]
        qs = qs.annotate(trip_pk=Subquery(trips)).select_related("toll_unit__operator")
    elif query.subject == "paper_tickets":
        qs = qs.select_related("toll_unit")
    elif query.subject == "topups":
        qs = qs.select_related("issuer")
    elif query.subject == "taxi_rides":
        qs = qs.select_related("company")
    by_id = {obj.pk: obj for obj in qs}
    return [by_id[i] for i in ids if i in by_id]


def _cards(objects: Sequence[Any]) -> dict[str, int]:
    numbers = {obj.card_no for obj in objects if getattr(obj, "card_no", "")}
    return dict(Card.objects.filter(card_no__in=numbers).values_list("card_no", "id")) if numbers else {}


def _rows(query: StatsQuery, objects: Sequence[Any]) -> list[Row]:
    states = item_states(query, [obj.pk for obj in objects]) if not query.is_documents else {}
    cards = _cards(objects) if query.subject in ("topups", "audit_charges") else {}
    return [_row(query.subject, obj, states, cards) for obj in objects]


def _row(subject: str, obj: Any, states: dict[int, ItemState], cards: dict[str, int]) -> Row:
    if subject == "segments":
        s: Segment = obj
        url = reverse("trip-detail", args=[obj.trip_pk]) if obj.trip_pk else _search(s.pass_id)
        return Row(url, [s.service_date, s.pass_id, s.segment_no, _local(s.exit_time), s.plate, s.card_no,
                         str(CardType(s.card_type).label), str(VehicleClass(s.vehicle_class).label),
                         province_label(s.province), s.toll_unit.name, s.toll_unit.operator.name,
                         s.pay_fee, s.discount_fee, s.fee, _state(states, s.pk)])  # fmt: skip
    if subject == "documents":
        d: Document = obj
        tax_id = shown(Pii.TAX_ID, d.buyer_tax_id)  # a person's (a resident ID) masked, a company's shown
        return Row(reverse("document-detail", args=[d.pk]),
                   [d.service_date, str(d), d.get_kind_display(), d.get_business_line_display(),
                    d.get_status_display(), province_label(d.province), d.seller_name, d.buyer_name, tax_id,
                    d.card_no, d.amount_net, d.amount_tax, d.amount_gross])  # fmt: skip
    if subject == "topups":
        t: TopUp = obj
        url = reverse("card-detail", args=[cards[t.card_no]]) if t.card_no in cards else _search(t.card_no)
        return Row(url, [t.service_date, t.topup_id, _local(t.topped_up_at), t.card_no, province_label(t.province),
                         t.issuer.name, t.amount, _state(states, t.pk)])  # fmt: skip
    if subject == "audit_charges":
        a: AuditCharge = obj
        if obj.trip_pk:
            url = reverse("trip-detail", args=[obj.trip_pk])
        elif a.card_no in cards:
            url = reverse("card-detail", args=[cards[a.card_no]])
        else:
            url = _search(a.plate)
        return Row(url, [a.service_date, a.charge_id, a.pass_id, a.plate, a.card_no, province_label(a.province),
                         a.toll_unit.name, a.get_reason_display(), a.amount, _state(states, a.pk)])  # fmt: skip
    if subject == "paper_tickets":
        p: PaperTicket = obj
        vehicle_class = str(VehicleClass(p.vehicle_class).label)
        return Row(_search(p.ticket_no), [p.service_date, p.ticket_no, p.plate, vehicle_class,
                                          province_label(p.province), p.toll_unit.name, p.get_pay_method_display(),
                                          p.amount, _state(states, p.pk)])  # fmt: skip
    r: TaxiRide = obj
    return Row(_search(r.ride_id), [r.service_date, r.ride_id, r.company.name, r.taxi_plate,
                                    province_label(r.province), r.amount, _state(states, r.pk)])  # fmt: skip


@dataclass
class DrillPage:
    columns: list[Column]
    rows: list[Row]
    page: Page[Any]
    total: int


def drill_page(*, user: User, query: StatsQuery, page: Any) -> DrillPage:
    """One page of the rows behind a cell, newest first, with the total count (the cell's count)."""
    ids = matching_ids(user, query)
    source: Any = ids if ids is not None else subject_rows(user, query).order_by("-id").values_list("id", flat=True)
    paginator = Paginator(source, PAGE_SIZE)
    if ids is None:  # the cell's count as the statistics counted it (a rollup where one serves)
        paginator.count = row_count(user, query)  # a cached_property: set before its first read
    current = paginator.get_page(page)
    objects = _loaded(user, query, list(current.object_list))
    return DrillPage(COLUMNS[query.subject], _rows(query, objects), current, current.paginator.count)


def drill_count(*, user: User, query: StatsQuery) -> int:
    ids = matching_ids(user, query)
    return len(ids) if ids is not None else row_count(user, query)


def drill_rows(*, user: User, query: StatsQuery) -> Iterator[Row]:
    """Every row behind a query (at most ``EXPORT_MAX_ROWS``), in chunks."""
    ids = matching_ids(user, query)
    if ids is None:
        ids = list(subject_rows(user, query).order_by("-id").values_list("id", flat=True)[:EXPORT_MAX_ROWS])
    for start in range(0, min(len(ids), EXPORT_MAX_ROWS), CHUNK):
        yield from _rows(query, _loaded(user, query, ids[start : start + CHUNK]))


# --- the statistics table as rows -----------------------------------------------------------------------------------


def table_columns(stats: Statistics) -> list[Column]:
    kinds = {"day": "date", "month": "month"}
    return [
        *(Column(DIMENSIONS[d], kinds.get(d, "text")) for d in stats.dimensions),
        *(Column(m.label, "money" if m.money else "count") for m in stats.measures),
    ]


def table_rows(stats: Statistics) -> list[list[Any]]:
    """The table's rows (days and months as dates, for the files), then the totals."""
    rows = []
    for cell in stats.cells:
        keys = [k if d in ("day", "month") and k is not None else label
                for d, k, label in zip(stats.dimensions, cell.keys, cell.labels, strict=True)]  # fmt: skip
        rows.append([*keys, *(cell.values[m.key] for m in stats.measures)])
    if stats.dimensions:
        rows.append(
            [_("合计"), *([""] * (len(stats.dimensions) - 1)), *(stats.total.get(m.key) for m in stats.measures)]
        )
    return rows


# --- files ----------------------------------------------------------------------------------------------------------


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet will not evaluate (OWASP CSV injection); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_bytes(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """CSV in UTF-8 with a BOM (Excel on Chinese Windows reads it right), amounts in plain yuan."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([str(c.label) for c in columns])
    yield ("\ufeff" + buffer.getvalue()).encode()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        cells = []
        for column, value in zip(columns, row, strict=True):
            if column.kind == "money" and isinstance(value, int):
                cells.append(yuan_str(value))
            elif isinstance(value, dt.date):
                cells.append(value.strftime("%Y-%m") if column.kind == "month" else value.isoformat())
            else:
                cells.append(safe_cell("" if value is None else value))
        writer.writerow(cells)
        yield buffer.getvalue().encode()


def xlsx_write(columns: Sequence[Column], rows: Iterable[Sequence[Any]], out: IO[bytes]) -> None:
    """XLSX with real numbers (yuan with two decimals, counts) and real dates."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(str(_("查询统计")))
    sheet.append([str(c.label) for c in columns])
    for row in rows:
        cells = []
        for column, value in zip(columns, row, strict=True):
            cell = WriteOnlyCell(sheet)
            if column.kind == "money" and isinstance(value, int):
                cell.value = fen_to_decimal(value)
                cell.number_format = "#,##0.00"
            elif column.kind in ("date", "month") and isinstance(value, dt.date):
                cell.value = value
                cell.number_format = "yyyy-mm" if column.kind == "month" else "yyyy-mm-dd"
            elif column.kind == "count" and isinstance(value, int):
                cell.value = value
                cell.number_format = "0"
            else:
                cell.value = safe_cell("" if value is None else value)
            cells.append(cell)
        sheet.append(cells)
    book.save(out)
