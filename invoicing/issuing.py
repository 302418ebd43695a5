"""Issuing documents (domain.md §2–§4): trips and top-ups into 数电 invoices and fiscal e-receipts, red-letter
reversal (红冲), title exchange (换票) and the chunked daily run.

How a call issues (``issue_segments``, ``issue_topups``):

1. eligibility is re-read inside the transaction (``invoicing.eligibility``, the one place for the rules): the
   caller's ids are a wish, never trusted;
2. items are grouped into documents by (kind, seller, buyer title version, rate) (§4.7) and, within a document,
   into lines by (plate, vehicle type) with the date range; the tax is split per line after aggregation
   (``tax.tax_lines``) and checked (``tax.check_invoice``); a group with more lines than
   ``tax.SAFE_LINES_PER_INVOICE`` is split over several documents;
3. numbers are taken late, one block per series for the whole call, series in the fixed order of ADR 0002
   (digital, then fiscal, each by province);
4. documents, lines, items and "issued" events are written with ``COPY`` (ids drawn from the sequences first): no
   model instances and no per-value SQL compilation, ≈ 10× faster than ``bulk_create`` (docs/benchmarks.md).

Exactly once: the partial unique index ``document_item_one_live_per_item`` refuses a second live item. When a
concurrent worker issued some of the same items first, the insert fails, the attempt's savepoint rolls back (its
numbers go back to the series, so it stays gapless) and the call re-reads eligibility — now without the taken
items — and tries again. Each retry drops at least one item, so it ends; with four workers on the same items a
call can lose more than once, hence a few attempts rather than exactly one.

Decisions:

- Fiscal e-receipts carry the item name ``车辆通行费`` (no tax classification prefix; they are not VAT invoices).
- Top-ups: **one document per top-up**, item ``*预付卡销售*ETC充值``, 不征税 (rate None), seller the card issuer,
  buyer the title in force at the top-up time. A top-up is one payment the customer chose to invoice "as top-up";
  one document each keeps reversal and support per payment.
- A red-letter document mirrors the original's lines with negative amounts and has no items of its own; the
  original's items stay as they were with ``live`` cleared (lineage: item → original ← red via ``original``).
- A reissue copies the original's lines and items under the new title (``replaces`` set) in the same transaction
  as the reversal.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.eligibility import (
    BEIJING,
    ItemState,
    Reason,
    audit_charge_states,
    in_array,
    invoiceable_audit_charges,
    invoiceable_segments,
    invoiceable_topups,
    paper_ticket_states,
    segment_states,
    taxi_ride_states,
    topup_states,
)
from invoicing.models import (
    BusinessLine,
    BuyerTitle,
    Document,
    DocumentEvent,
    DocumentItem,
    DocumentKind,
    DocumentStatus,
    IssueRun,
    ItemKind,
    RunKind,
    RunStatus,
)
from invoicing.numbering import digital_invoice_numbers, fiscal_receipt_numbers
from invoicing.tax import SAFE_LINES_PER_INVOICE, TaxLine, check_invoice, tax_lines
from piaogen.audit import audit_record
from piaogen.models import User
from tolling.models import AuditCharge, Operator, PaperTicket, Segment, TaxiRide, TollUnit, TopUp

log = logging.getLogger(__name__)

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


@dataclass
class _ItemRow:
    kind: str
    id: int
    amount: int
    service_date: dt.date
    card_no: str


@dataclass
class _LineDraft:
    item_name: str
    plate: str
    vehicle_type: str
    date_from: dt.date | None
    date_to: dt.date | None
    tax: TaxLine
    items: list[_ItemRow]


@dataclass
class _Draft:
    kind: str
    business_line: str
    seller: Operator
    title: BuyerTitle
    customer_id: int | None
    rate: Decimal | None
    lines: list[_LineDraft] = field(default_factory=list)
    replaces_id: int | None = None
    original_id: int | None = None
    status: str = DocumentStatus.ISSUED
    remarks: str = ""
    is_merged: bool = False

    @property
    def series(self) -> tuple[int, str]:
        """Lock order of ADR 0002: digital before fiscal, then by province."""
        return (0 if self.kind == DocumentKind.DIGITAL_INVOICE else 1, self.seller.province)


def vehicle_type(vehicle_class: int) -> str:
    """The printed 类型 of a toll line: 客车, 货车 or 专项作业车 from the toll vehicle class."""
    if vehicle_class < 10:
        return str(_("客车"))
    if vehicle_class < 20:
        return str(_("货车"))
    return str(_("专项作业车"))


def _lines(rows: list[tuple[tuple[str, str], _ItemRow]], rate: Decimal | None, item_name: str) -> list[_LineDraft]:
    """Aggregate items into lines by (plate, vehicle type) with their date range, then split the tax per line."""
    grouped: dict[tuple[str, str], list[_ItemRow]] = defaultdict(list)
    for key, item in rows:
        grouped[key].append(item)
    taxes = tax_lines(((key, item.amount) for key, item in rows), rate)
    return [
        _LineDraft(
            item_name=item_name,
            plate=key[0],
            vehicle_type=key[1],
            date_from=min(i.service_date for i in items),
            date_to=max(i.service_date for i in items),
            tax=taxes[key],
            items=items,
        )
        for key, items in grouped.items()
    ]


def _segment_drafts(states: dict[int, ItemState], *, merged: bool = False) -> list[_Draft]:
    """Documents for eligible segments: one per (kind, seller, title version, rate), lines by plate."""
    rows = Segment.objects.filter(id__in=in_array(states)).values_list(
        "id", "plate", "vehicle_class", "service_date", "card_no", "fee"
    )
    types: dict[int, str] = {}
    groups: dict[tuple[Any, ...], list[tuple[tuple[str, str], _ItemRow]]] = defaultdict(list)
    for seg_id, plate, vehicle_class, service_date, card_no, fee in rows:
        state = states[seg_id]
        assert state.title is not None  # eligible: a title in force
        key = (state.document_kind, state.seller_id, state.title.pk, state.tax_rate)
        groups[key].append(
            (
                (plate, types.get(vehicle_class) or types.setdefault(vehicle_class, vehicle_type(vehicle_class))),
                _ItemRow(ItemKind.SEGMENT, seg_id, fee, service_date, card_no),
            )
        )
    sellers = Operator.objects.in_bulk({key[1] for key in groups})
    titles = {s.title.pk: s.title for s in states.values() if s.title is not None}
    drafts = []
    for (kind, seller_id, title_id, rate), items in sorted(groups.items(), key=lambda g: str(g[0])):
        name = ITEM_FISCAL if kind == DocumentKind.FISCAL_RECEIPT else ITEM_TOLL
        lines = _lines(items, rate, name)
        for start in range(0, len(lines), SAFE_LINES_PER_INVOICE):
            drafts.append(
                _Draft(
                    kind=kind,
                    business_line=BusinessLine.ETC_TRIP,
                    seller=sellers[seller_id],
                    title=titles[title_id],
                    customer_id=titles[title_id].customer_id,
                    rate=rate,
                    lines=lines[start : start + SAFE_LINES_PER_INVOICE],
                    is_merged=merged,
                )
            )
    return drafts


def _topup_drafts(states: dict[int, ItemState]) -> list[_Draft]:
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
        item = _ItemRow(ItemKind.TOPUP, topup_id, amount, service_date, card_no)
        drafts.append(
            _Draft(
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
    business_line: str, rows: list[tuple[ItemState, BuyerTitle, _LineKey, str, _ItemRow]]
) -> list[_Draft]:
    """Documents per (kind, seller, title version, rate) like segments (§4.7), lines by (plate, vehicle type) with
    the date range; ``rows``: (state, buyer title, line key, item name for an invoice, item). Fiscal receipts carry
    ``车辆通行费``."""
    groups: dict[tuple[Any, ...], list[tuple[_LineKey, _ItemRow]]] = defaultdict(list)
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
    for key, items in sorted(groups.items(), key=lambda g: str(g[0])):
        kind, seller_id, title_id, rate = key
        lines = _lines(items, rate, names[key])
        for start in range(0, len(lines), SAFE_LINES_PER_INVOICE):
            drafts.append(
                _Draft(
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


def _audit_charge_drafts(states: dict[int, ItemState]) -> list[_Draft]:
    """Back-charges like segments of the underpaid toll unit, buyer the title in force at payment for the card.
    A back-charge carries no vehicle class: its line has the plate and no 类型."""
    rows = AuditCharge.objects.filter(id__in=in_array(states)).order_by("id")
    out = []
    for charge_id, plate, service_date, card_no, amount in rows.values_list(
        "id", "plate", "service_date", "card_no", "amount"
    ):
        state = states[charge_id]
        assert state.title is not None  # eligible: a title in force
        item = _ItemRow(ItemKind.AUDIT_CHARGE, charge_id, amount, service_date, card_no)
        out.append((state, state.title, (plate, ""), ITEM_TOLL, item))
    return _grouped_drafts(BusinessLine.AUDIT, out)


def _paper_ticket_drafts(states: dict[int, ItemState], title: BuyerTitle) -> list[_Draft]:
    """Paper tickets like segments of their toll unit; the buyer is the claiming customer's ``title``."""
    rows = PaperTicket.objects.filter(id__in=in_array(states)).order_by("id")
    out = []
    for ticket_id, plate, vehicle_class, service_date, amount in rows.values_list(
        "id", "plate", "vehicle_class", "service_date", "amount"
    ):
        item = _ItemRow(ItemKind.PAPER_TICKET, ticket_id, amount, service_date, "")
        out.append((states[ticket_id], title, (plate, vehicle_type(vehicle_class)), ITEM_TOLL, item))
    return _grouped_drafts(BusinessLine.PAPER, out)


def _taxi_ride_drafts(states: dict[int, ItemState], title: BuyerTitle) -> list[_Draft]:
    """Taxi rides from their company at its rate, item ``*运输服务*客运服务费``, lines by taxi plate."""
    rows = TaxiRide.objects.filter(id__in=in_array(states)).order_by("id")
    out = []
    for ride_id, taxi_plate, service_date, amount in rows.values_list("id", "taxi_plate", "service_date", "amount"):
        item = _ItemRow(ItemKind.TAXI_RIDE, ride_id, amount, service_date, "")
        out.append((states[ride_id], title, (taxi_plate, ""), ITEM_TAXI, item))
    return _grouped_drafts(BusinessLine.TAXI, out)


# --- writing ------------------------------------------------------------------------------------------------------


def _numbers(drafts: list[_Draft], issued_on: dt.date) -> list[tuple[str, str]]:
    """(code, number) per draft: one block per series for all drafts, series in the ADR 0002 lock order."""
    by_series: dict[tuple[int, str], list[int]] = defaultdict(list)
    for index, draft in enumerate(drafts):
        by_series[draft.series].append(index)
    out: list[tuple[str, str]] = [("", "")] * len(drafts)
    for (order, province), indexes in sorted(by_series.items()):
        if order == 0:
            numbers = digital_invoice_numbers(province=province, issued_on=issued_on, count=len(indexes))
            code = ""
        else:
            code, numbers = fiscal_receipt_numbers(province=province, issued_on=issued_on, count=len(indexes))
        for index, number in zip(indexes, numbers, strict=True):
            out[index] = (code, number)
    return out


@dataclass(frozen=True)
class _Written:
    """What ``_write`` inserted: document ids and their printed numbers (code + number), in draft order."""

    ids: list[int]
    numbers: list[str]

    def documents(self) -> list[Document]:
        """The documents as model instances (one query; for single requests, not for runs)."""
        by_id = Document.objects.filter(id__in=in_array(self.ids)).in_bulk() if self.ids else {}
        return [by_id[pk] for pk in self.ids]


_DOCUMENT_COLUMNS = (
    "id",
    "kind",
    "business_line",
    "status",
    "code",
    "number",
    "issued_at",
    "service_date",
    "province",
    "seller_id",
    "seller_name",
    "seller_tax_id",
    "customer_id",
    "title_id",
    "buyer_name",
    "buyer_tax_id",
    "card_no",
    "tax_rate",
    "amount_net",
    "amount_tax",
    "amount_gross",
    "period_start",
    "period_end",
    "is_merged",
    "original_id",
    "replaces_id",
    "remarks",
    "pdf",
    "run_id",
)
_LINE_COLUMNS = (
    "id",
    "document_id",
    "line_no",
    "item_name",
    "plate",
    "vehicle_type",
    "date_from",
    "date_to",
    "tax_rate",
    "amount_net",
    "amount_tax",
    "amount_gross",
)
_ITEM_COLUMNS = ("document_id", "line_id", "item_kind", "item_id", "service_date", "card_no", "amount", "live")
_EVENT_COLUMNS = ("document_id", "kind", "at", "by_id", "data")


def _new_ids(cursor: CursorWrapper, table: str, count: int) -> list[int]:
    """``count`` ids from the table's identity sequence (so rows can reference each other before they exist)."""
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
    return [row[0] for row in cursor.fetchall()]


def _copy(cursor: CursorWrapper, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _write(
    drafts: list[_Draft],
    *,
    run: IssueRun | None,
    by: User | None,
    event: str = "issued",
    data: dict[str, Any] | None = None,
) -> _Written:
    """Take numbers for the drafts and insert documents, lines, items and events set-based (COPY).

    The constraints still decide: a second live item fails the COPY of items (``IntegrityError``, as Django raises
    it, with the psycopg error as ``__cause__``), the foreign keys are checked at commit.
    """
    if not drafts:
        return _Written([], [])
    for draft in drafts:
        if draft.status != DocumentStatus.RED:
            check_invoice(line.tax for line in draft.lines)
    now = timezone.now()
    issued_on = timezone.localdate(now, timezone=BEIJING)
    numbers = _numbers(drafts, issued_on)  # late: right before the inserts
    run_id = run.pk if run is not None else None
    by_id = by.pk if by is not None else None
    extra = {"run": run_id, **(data or {})} if run is not None else dict(data or {})
    with connection.wrap_database_errors, connection.cursor() as cursor:
        doc_ids = _new_ids(cursor, "invoicing_document", len(drafts))
        line_ids = iter(_new_ids(cursor, "invoicing_documentline", sum(len(d.lines) for d in drafts)))
        documents: list[tuple[Any, ...]] = []
        lines: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        for draft, doc_id, (code, number) in zip(drafts, doc_ids, numbers, strict=True):
            net = tax = count = 0
            dates: list[dt.date] = []
            cards: set[str] = set()
            for line_no, line in enumerate(draft.lines, start=1):
                line_id = next(line_ids)
                net += line.tax.net
                tax += line.tax.tax
                dates.extend(d for d in (line.date_from, line.date_to) if d is not None)
                lines.append(
                    (
                        line_id,
                        doc_id,
                        line_no,
                        line.item_name,
                        line.plate,
                        line.vehicle_type,
                        line.date_from,
                        line.date_to,
                        draft.rate,
                        line.tax.net,
                        line.tax.tax,
                        line.tax.gross,
                    )
                )
                for item in line.items:
                    cards.add(item.card_no)
                    items.append(
                        (doc_id, line_id, item.kind, item.id, item.service_date, item.card_no, item.amount, True)
                    )
                count += len(line.items)
            seller, title = draft.seller, draft.title
            documents.append(
                (
                    doc_id,
                    draft.kind,
                    draft.business_line,
                    draft.status,
                    code,
                    number,
                    now,
                    issued_on,
                    seller.province,
                    seller.pk,
                    seller.name,
                    seller.tax_id,
                    draft.customer_id,
                    title.pk,
                    title.name,
                    title.tax_id,
                    cards.pop() if len(cards) == 1 else "",
                    draft.rate,
                    net,
                    tax,
                    net + tax,
                    min(dates) if dates else None,
                    max(dates) if dates else None,
                    draft.is_merged,
                    draft.original_id,
                    draft.replaces_id,
                    draft.remarks,
                    "",
                    run_id,
                )
            )
            events.append((doc_id, event, now, by_id, json.dumps({**extra, "items": count})))
        _copy(cursor, "invoicing_document", _DOCUMENT_COLUMNS, documents)
        _copy(cursor, "invoicing_documentline", _LINE_COLUMNS, lines)
        _copy(cursor, "invoicing_documentitem", _ITEM_COLUMNS, items)  # the partial unique index decides races here
        _copy(cursor, "invoicing_documentevent", _EVENT_COLUMNS, events)
    return _Written(doc_ids, [f"{code}{number}" for code, number in numbers])


def _is_live_item_race(error: IntegrityError) -> bool:
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None) == LIVE_ITEM_CONSTRAINT


LOCK_BLOCK_BITS = 10
"""Items are locked in blocks of 1,024 consecutive ids: a run's chunk (ids in order) takes one or two locks."""

_LOCK_SQL = """
SELECT count(pg_advisory_xact_lock(hashtext(%s), b)) FROM (
    SELECT DISTINCT (i >> %s)::int AS b FROM unnest(%s::bigint[]) AS i ORDER BY 1
) blocks
"""


def _lock_items(kind: str, ids: Sequence[int]) -> None:
    """Serialize workers whose items overlap, until commit: a second worker waits, then reads eligibility after
    the first committed, so its insert does not lose a race. Blocks are locked in ascending order (no deadlock),
    always before any number series (lock order: items, then ADR 0002's digital, then fiscal)."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [f"invoicing.item.{kind}", LOCK_BLOCK_BITS, list(ids)])


def _issue(
    kind: str,
    ids: list[int],
    build: Callable[[], list[_Draft]],
    *,
    run: IssueRun | None,
    by: User | None,
    action: str,
) -> _Written:
    """Lock, ``build`` and write in a transaction (a savepoint inside a caller's one); on a lost race, again.

    The item locks make lost races rare; the partial unique index stays the guarantee and the retry its answer.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _lock_items(kind, ids)
                written = _write(build(), run=run, by=by)
                if by is not None and written.ids:
                    audit_record(
                        actor=by,
                        action=action,
                        object_type="invoicing.document",
                        object_id=",".join(str(pk) for pk in written.ids[:50]),
                        after={"documents": written.ids, "numbers": written.numbers},
                    )
                return written
        except IntegrityError as error:
            if not _is_live_item_race(error) or attempt == MAX_ATTEMPTS:
                raise
            log.info("issuing: items taken by a concurrent worker, attempt %s again without them", attempt + 1)
    raise AssertionError("unreachable")


def _issue_segments(
    ids: list[int], *, run: IssueRun | None, by: User | None, today: dt.date | None, merged: bool = False
) -> _Written:
    def build() -> list[_Draft]:
        states = segment_states(segment_ids=ids, today=today)
        return _segment_drafts({i: s for i, s in states.items() if s.eligible}, merged=merged)

    return _issue(ItemKind.SEGMENT, ids, build, run=run, by=by, action="document.issue") if ids else _Written([], [])


def _issue_topups(ids: list[int], *, run: IssueRun | None, by: User | None) -> _Written:
    def build() -> list[_Draft]:
        states = topup_states(topup_ids=ids)
        return _topup_drafts({i: s for i, s in states.items() if s.eligible})

    return _issue(ItemKind.TOPUP, ids, build, run=run, by=by, action="document.issue") if ids else _Written([], [])


def issue_segments(
    *,
    segment_ids: Sequence[int],
    run: IssueRun | None = None,
    by: User | None = None,
    today: dt.date | None = None,
    merged: bool = False,
) -> list[Document]:
    """Issue documents for those of ``segment_ids`` that are eligible now (Beijing ``today``); the others are
    skipped. One transaction (a savepoint inside a caller's); safe against concurrent workers. ``merged``: the
    monthly merge (one document per seller × title × rate × kind, ``is_merged``; lines by plate and date range)."""
    return _issue_segments(list(segment_ids), run=run, by=by, today=today, merged=merged).documents()


def issue_topups(*, topup_ids: Sequence[int], run: IssueRun | None = None, by: User | None = None) -> list[Document]:
    """Issue one non-taxable invoice per eligible top-up (card issuer → title in force at the top-up)."""
    return _issue_topups(list(topup_ids), run=run, by=by).documents()


def _issue_audit_charges(ids: list[int], *, run: IssueRun | None, by: User | None) -> _Written:
    def build() -> list[_Draft]:
        states = audit_charge_states(charge_ids=ids)
        return _audit_charge_drafts({i: s for i, s in states.items() if s.eligible})

    if not ids:
        return _Written([], [])
    return _issue(ItemKind.AUDIT_CHARGE, ids, build, run=run, by=by, action="document.issue")


def issue_audit_charges(
    *, charge_ids: Sequence[int], run: IssueRun | None = None, by: User | None = None
) -> list[Document]:
    """Issue documents for the eligible back-charges (稽核补费): seller the underpaid toll unit's operator, an
    invoice at the unit's rate on the service date (commercial road) or a fiscal receipt (loan road), buyer the
    title in force at payment for the charge's card. Others (in a document, no title, no rate) are skipped."""
    return _issue_audit_charges(list(charge_ids), run=run, by=by).documents()


def issue_paper_tickets(*, ticket_ids: Sequence[int], title: BuyerTitle, by: User | None = None) -> list[Document]:
    """纸改电: issue the claimed paper tickets to ``title`` (the claiming customer's), each like a segment of its
    toll unit. Tickets already in a live document (or without a rate in force) are skipped."""
    ids = list(ticket_ids)

    def build() -> list[_Draft]:
        states = paper_ticket_states(ticket_ids=ids)
        return _paper_ticket_drafts({i: s for i, s in states.items() if s.eligible}, title)

    if not ids:
        return []
    return _issue(ItemKind.PAPER_TICKET, ids, build, run=None, by=by, action="document.issue").documents()


def issue_taxi_rides(*, ride_ids: Sequence[int], title: BuyerTitle, by: User | None = None) -> list[Document]:
    """Issue the taxi rides to ``title``: one invoice per (company, rate) from the taxi company at its rate. A ride
    whose company has no rate set refuses the whole call (``IssuingError``); rides already in a live document are
    skipped."""
    ids = list(ride_ids)

    def build() -> list[_Draft]:
        states = taxi_ride_states(ride_ids=ids)
        no_rate = sorted(i for i, s in states.items() if s.reason == Reason.NO_RATE)
        if no_rate:
            raise IssuingError(
                _("出租车公司未设置税率，不能开票（行程%(rides)s）"),
                code="no_rate",
                params={"rides": ", ".join(str(i) for i in no_rate)},
            )
        return _taxi_ride_drafts({i: s for i, s in states.items() if s.eligible}, title)

    if not ids:
        return []
    return _issue(ItemKind.TAXI_RIDE, ids, build, run=None, by=by, action="document.issue").documents()


# --- lifecycle ----------------------------------------------------------------------------------------------------


def _locked_issued(document: Document) -> Document:
    original = Document.objects.select_for_update(of=("self",)).select_related("seller", "title").get(pk=document.pk)
    if original.status == DocumentStatus.REVERSED:
        raise IssuingError(
            _("票据%(number)s已红冲，不能重复红冲或换票"), code="already_reversed", params={"number": str(original)}
        )
    if original.status != DocumentStatus.ISSUED:
        raise IssuingError(_("红字票据%(number)s不能红冲或换票"), code="red_document", params={"number": str(original)})
    return original


def _copy_lines(original: Document, *, sign: int) -> list[_LineDraft]:
    lines = []
    for line in original.lines.order_by("line_no").prefetch_related("items"):
        tax = TaxLine(
            gross=sign * line.amount_gross, net=sign * line.amount_net, tax=sign * line.amount_tax, rate=line.tax_rate
        )
        items = [
            _ItemRow(i.item_kind, i.item_id, i.amount, i.service_date, i.card_no) for i in line.items.order_by("id")
        ]
        lines.append(
            _LineDraft(line.item_name, line.plate, line.vehicle_type, line.date_from, line.date_to, tax, items)
        )
    return lines


def _reverse(original: Document, *, reason: str, by: User | None) -> Document:
    """Red-letter document for a locked, issued original; releases its items."""
    assert original.title is not None
    red_lines = _copy_lines(original, sign=-1)
    for line in red_lines:
        line.items = []  # the red document mirrors the lines; the items stay with the original
    draft = _Draft(
        kind=original.kind,
        business_line=original.business_line,
        seller=original.seller,
        title=original.title,
        customer_id=original.customer_id,
        rate=original.tax_rate,
        lines=red_lines,
        original_id=original.pk,
        status=DocumentStatus.RED,
        remarks=str(_("对应正数发票：%(number)s") % {"number": str(original)}),
    )
    (red,) = _write(
        [draft], run=None, by=by, event="issued_red", data={"original": original.pk, "reason": reason}
    ).documents()
    Document.objects.filter(pk=original.pk).update(status=DocumentStatus.REVERSED)
    DocumentItem.objects.filter(document=original, live=True).update(live=False)
    DocumentEvent.objects.create(
        document=original, kind="reversed", by=by, data={"red": red.pk, "red_number": str(red), "reason": reason}
    )
    original.status = DocumentStatus.REVERSED
    return red


@transaction.atomic
def document_reverse(*, document: Document, reason: str, by: User | None) -> Document:
    """红冲: issue the negative document for ``document``, mark it reversed and release its items for reissue.
    A reversal cannot be undone; reversing twice (or a red document) raises ``IssuingError``."""
    if not reason.strip():
        raise IssuingError(_("请填写红冲原因"), code="reason_required")
    original = _locked_issued(document)
    red = _reverse(original, reason=reason, by=by)
    audit_record(
        actor=by,
        action="document.reverse",
        obj=original,
        reason=reason,
        before={"status": DocumentStatus.ISSUED},
        after={"status": DocumentStatus.REVERSED, "red": red.pk, "red_number": str(red)},
    )
    _sheets_refresh(original, by=by)
    document.status = DocumentStatus.REVERSED
    return red


def _sheets_refresh(document: Document, *, by: User | None) -> None:
    """A summary sheet that binds a reversed document is void and reissued (domain.md §4.8), in the same
    transaction as the reversal."""
    from invoicing.sheets import summary_sheets_refresh_for  # sheets builds on this module

    summary_sheets_refresh_for(document=document, by=by)


@transaction.atomic
def document_reissue(*, document: Document, title: BuyerTitle, reason: str, by: User | None) -> Document:
    """换票: within the title exchange window of the original's issue, reverse it and issue a new document over
    the same items and lines with ``title`` (one of the same customer's titles); ``replaces`` keeps the lineage."""
    if not reason.strip():
        raise IssuingError(_("请填写换票原因"), code="reason_required")
    original = _locked_issued(document)
    window = dt.timedelta(days=settings.PIAOGEN["TITLE_EXCHANGE_WINDOW_DAYS"])
    if timezone.now() > original.issued_at + window:
        raise IssuingError(
            _("票据%(number)s开具已超过%(days)s天，不能换票"),
            code="exchange_window_passed",
            params={"number": str(original), "days": window.days},
        )
    if original.customer_id is not None and title.customer_id != original.customer_id:
        raise IssuingError(_("新抬头不属于该票据的客户"), code="foreign_title")
    red = _reverse(original, reason=reason, by=by)
    draft = _Draft(
        kind=original.kind,
        business_line=original.business_line,
        seller=original.seller,
        title=title,
        customer_id=title.customer_id,
        rate=original.tax_rate,
        lines=_copy_lines(original, sign=1),
        replaces_id=original.pk,
        is_merged=original.is_merged,
    )
    (new,) = _write([draft], run=None, by=by, data={"replaces": original.pk, "reason": reason}).documents()
    DocumentEvent.objects.create(document=original, kind="reissued", by=by, data={"new": new.pk, "reason": reason})
    audit_record(
        actor=by,
        action="document.reissue",
        obj=original,
        reason=reason,
        before={"status": DocumentStatus.ISSUED, "title": original.title_id, "buyer_name": original.buyer_name},
        after={"red": red.pk, "new": new.pk, "title": title.pk, "buyer_name": title.name},
    )
    _sheets_refresh(original, by=by)
    document.status = DocumentStatus.REVERSED
    return new


# --- runs ---------------------------------------------------------------------------------------------------------


@transaction.atomic
def issue_run_create_daily(
    *, business_date: dt.date, province: str = "", params: dict[str, Any] | None = None
) -> tuple[IssueRun, bool]:
    """The daily run of ``business_date`` (created queued if it does not exist yet) and whether it was created.
    Idempotent per (business date, province): concurrent callers serialize on an advisory lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"issue-run:daily:{business_date}:{province}"])
    existing = IssueRun.objects.filter(kind=RunKind.DAILY, business_date=business_date, province=province).first()
    if existing is not None:
        return existing, False
    run = IssueRun.objects.create(
        kind=RunKind.DAILY, business_date=business_date, province=province, params=params or {}
    )
    return run, True


def issue_runs_create_daily(*, business_date: dt.date, params: dict[str, Any] | None = None) -> list[IssueRun]:
    """The daily runs of ``business_date`` split by province (one per province with toll units or sellers),
    for workers to issue in parallel: each province's documents take their own number series (ADR 0002), so two
    runs never wait on one another's series lock. Idempotent like ``issue_run_create_daily``."""
    provinces = set(TollUnit.objects.values_list("province", flat=True).distinct())
    provinces |= set(Operator.objects.values_list("province", flat=True).distinct())  # card issuers: top-ups
    return [
        issue_run_create_daily(business_date=business_date, province=province, params=params)[0]
        for province in sorted(provinces)
    ]


def _claim(run_id: int) -> bool:
    """Take the run: queued, or running with a stale heartbeat (``started_at`` is refreshed at every chunk)."""
    stale = timezone.now() - dt.timedelta(seconds=settings.PIAOGEN.get("ISSUE_STALE_SECONDS", DEFAULT_STALE_SECONDS))
    claimable = Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING, started_at__lt=stale)
    return bool(
        IssueRun.objects.filter(claimable, pk=run_id).update(status=RunStatus.RUNNING, started_at=timezone.now())
    )


def _chunked(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def issue_run_daily(*, run_id: int, chunk_size: int | None = None) -> IssueRun:
    """Claim the daily run and issue everything invoiceable up to its business date, chunk by chunk.

    Each chunk is one transaction: its documents and the run's progress (items_done, documents_issued and the
    heartbeat in ``started_at``) commit together. Re-running is safe: what was issued is no longer invoiceable,
    so a second run finds nothing left. A run that is not claimable (done, or running elsewhere) is returned as is.
    """
    if not _claim(run_id):
        return IssueRun.objects.get(pk=run_id)
    run = IssueRun.objects.get(pk=run_id)
    assert run.business_date is not None
    size = chunk_size or int(run.params.get("chunk_size") or DEFAULT_CHUNK)
    today = run.business_date + dt.timedelta(days=settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"])
    province = run.province or None
    try:
        segment_ids = list(
            invoiceable_segments(service_date_to=run.business_date, province=province).values_list("id", flat=True)
        )
        topup_ids = list(
            invoiceable_topups(service_date_to=run.business_date, province=province).values_list("id", flat=True)
        )
        charge_ids = list(
            invoiceable_audit_charges(service_date_to=run.business_date, province=province).values_list("id", flat=True)
        )
        IssueRun.objects.filter(pk=run_id).update(
            items_total=F("items_done") + len(segment_ids) + len(topup_ids) + len(charge_ids)
        )
        work: list[tuple[str, list[int]]] = [("segment", c) for c in _chunked(segment_ids, size)]
        work += [("topup", c) for c in _chunked(topup_ids, size)]
        work += [("audit", c) for c in _chunked(charge_ids, size)]
        for kind, chunk in work:
            with transaction.atomic():
                if kind == "segment":
                    written = _issue_segments(chunk, run=run, by=None, today=today)
                elif kind == "topup":
                    written = _issue_topups(chunk, run=run, by=None)
                else:
                    written = _issue_audit_charges(chunk, run=run, by=None)
                IssueRun.objects.filter(pk=run_id).update(  # items looked at, issued or found taken
                    items_done=F("items_done") + len(chunk),
                    documents_issued=F("documents_issued") + len(written.ids),
                    started_at=timezone.now(),
                )
    except Exception as error:
        IssueRun.objects.filter(pk=run_id).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), message=str(error)[:2000]
        )
        raise
    IssueRun.objects.filter(pk=run_id).update(status=RunStatus.DONE, finished_at=timezone.now())
    run.refresh_from_db()
    return run
