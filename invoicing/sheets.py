"""Summary sheets (电子汇总单, domain.md §1 and §4.8): one sheet binds one or more trips of a card to the live
documents (数电 invoices and fiscal e-receipts) that hold their segments, with the trips' total.

- A trip's documents are found through ``DocumentItem`` (segment items of the trip's segments, ``live``); a
  document shared with other trips is listed once, and the sheet's total counts only these trips' items.
- The sheet number is the card issuer's province (the card number's first two digits) + ``YYYYMM`` + sequence
  (``numbering.summary_sheet_numbers``), taken in the issuing transaction, so the series stays gapless.
- Issuing is idempotent: a valid sheet of the card that covers exactly these trips and documents is returned as
  is. When what a sheet summarises changed (a document reversed or reissued), the old sheet is voided with
  ``replaced_by`` pointing at a new one over the trips' current documents; with nothing left to summarise it is
  voided without a replacement. Calls for one card serialize on an advisory lock.
- Top-ups get no sheet: only segment items are looked at.

Hook for the lifecycle: ``summary_sheets_refresh_for(document=…)`` refreshes every valid sheet that binds the
document. Call it right after ``issuing.document_reverse`` / ``issuing.document_reissue`` in the same transaction
(the API does; the issuing services may call it themselves later, it is idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.eligibility import beijing_today
from invoicing.issuing import IssuingError
from invoicing.models import Document, DocumentEvent, DocumentItem, DocumentStatus, ItemKind, SheetStatus, SummarySheet
from invoicing.numbering import summary_sheet_numbers
from piaogen.audit import audit_record
from piaogen.models import User
from tolling.models import Segment


@dataclass(frozen=True)
class SheetContent:
    """What a sheet over some trips binds now: its trips (those with live documents), documents and total."""

    pass_ids: list[str]
    document_ids: frozenset[int]
    amount_gross: int
    customer_id: int | None


def _lock_card(card_no: str) -> None:
    """Serialize sheet issuing per card: a double submit waits for the first and then finds its sheet."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"summary-sheet:{card_no}"])


def summary_sheet_content(*, card_no: str, pass_ids: Sequence[str]) -> SheetContent:
    """The live documents of the card's segments on ``pass_ids``, grouped back by trip (segment items only)."""
    segments = dict(Segment.objects.filter(card_no=card_no, pass_id__in=list(pass_ids)).values_list("id", "pass_id"))
    items = list(
        DocumentItem.objects.filter(
            item_kind=ItemKind.SEGMENT,
            item_id__in=list(segments),
            live=True,
            document__status=DocumentStatus.ISSUED,
        ).values_list("item_id", "document_id", "amount", "document__customer_id")
    )
    covered = {segments[item_id] for item_id, _doc, _amount, _customer in items}
    customers = [customer for *_rest, customer in items if customer is not None]
    return SheetContent(
        pass_ids=[pass_id for pass_id in dict.fromkeys(pass_ids) if pass_id in covered],
        document_ids=frozenset(document_id for _item, document_id, _amount, _customer in items),
        amount_gross=sum(amount for _item, _doc, amount, _customer in items),
        customer_id=customers[0] if customers else None,
    )


def _check_request(card_no: str, pass_ids: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(pass_id.strip() for pass_id in pass_ids if pass_id.strip()))
    if not wanted:
        raise IssuingError(_("请至少选择一个通行"), code="sheet_no_trips")
    if len(card_no) != 20 or not card_no.isdigit():
        raise IssuingError(_("ETC卡号应为20位数字"), code="sheet_bad_card")
    known = set(Segment.objects.filter(card_no=card_no, pass_id__in=wanted).values_list("pass_id", flat=True))
    unknown = [pass_id for pass_id in wanted if pass_id not in known]
    if unknown:
        raise IssuingError(
            _("通行%(pass_ids)s不属于卡%(card_no)s"),
            code="sheet_foreign_trip",
            params={"pass_ids": str(_("、")).join(unknown), "card_no": card_no},
        )
    return wanted


def _existing(card_no: str, pass_ids: Sequence[str]) -> SummarySheet | None:
    """The valid sheet of the card over exactly these trips (order aside), if any."""
    return (
        SummarySheet.objects.select_for_update()
        .filter(card_no=card_no, status=SheetStatus.VALID, pass_ids__contains=list(pass_ids))
        .filter(pass_ids__contained_by=list(pass_ids))
        .order_by("-issued_at")
        .first()
    )


def _bound_ids(sheet: SummarySheet) -> frozenset[int]:
    return frozenset(sheet.documents.values_list("id", flat=True))


def _create(*, card_no: str, content: SheetContent, by: User | None, replaces: SummarySheet | None) -> SummarySheet:
    today = beijing_today()
    (number,) = summary_sheet_numbers(province=card_no[:2], issued_on=today, count=1)
    sheet = SummarySheet.objects.create(
        number=number,
        province=card_no[:2],
        customer_id=content.customer_id,
        card_no=card_no,
        pass_ids=content.pass_ids,
        amount_gross=content.amount_gross,
        issued_at=timezone.now(),
        service_date=today,
    )
    sheet.documents.set(sorted(content.document_ids))
    data = {"sheet": sheet.pk, "number": number, "replaces": replaces.pk if replaces else None}
    DocumentEvent.objects.bulk_create(
        DocumentEvent(document_id=document_id, kind="sheet_bound", by=by, data=data)
        for document_id in sorted(content.document_ids)
    )
    return sheet


def _void(sheet: SummarySheet, *, replaced_by: SummarySheet | None, by: User | None, reason: str) -> None:
    SummarySheet.objects.filter(pk=sheet.pk).update(status=SheetStatus.VOID, replaced_by=replaced_by)
    sheet.status, sheet.replaced_by = SheetStatus.VOID, replaced_by
    data = {"sheet": sheet.pk, "number": sheet.number, "replaced_by": replaced_by.pk if replaced_by else None}
    DocumentEvent.objects.bulk_create(
        DocumentEvent(document_id=document_id, kind="sheet_voided", by=by, data=data)
        for document_id in sorted(_bound_ids(sheet))
    )
    audit_record(
        actor=by,
        action="summary_sheet.void",
        obj=sheet,
        reason=reason,
        before={"status": SheetStatus.VALID},
        after={"status": SheetStatus.VOID, "replaced_by": replaced_by.number if replaced_by else None},
    )


@transaction.atomic
def summary_sheet_issue(*, card_no: str, pass_ids: Sequence[str], by: User | None = None) -> SummarySheet:
    """A valid summary sheet over the card's trips ``pass_ids`` and their live documents.

    Returns the existing sheet when one covers exactly these trips and documents (safe to call twice). When the
    trips' documents changed since, the old sheet is voided and replaced (``summary_sheet_refresh``). Every trip
    must belong to the card and have at least one live document (``IssuingError`` otherwise).
    """
    card_no = card_no.strip()
    wanted = _check_request(card_no, pass_ids)
    _lock_card(card_no)
    content = summary_sheet_content(card_no=card_no, pass_ids=wanted)
    missing = [pass_id for pass_id in wanted if pass_id not in content.pass_ids]
    if missing:
        raise IssuingError(
            _("通行%(pass_ids)s尚无已开具的票据，不能生成汇总单"),
            code="sheet_trip_not_invoiced",
            params={"pass_ids": str(_("、")).join(missing)},
        )
    existing = _existing(card_no, wanted)
    if existing is not None:
        if _bound_ids(existing) == content.document_ids and existing.amount_gross == content.amount_gross:
            return existing
        return _refresh_locked(existing, by=by)
    sheet = _create(card_no=card_no, content=content, by=by, replaces=None)
    audit_record(
        actor=by,
        action="summary_sheet.issue",
        obj=sheet,
        after={"number": sheet.number, "pass_ids": sheet.pass_ids, "documents": sorted(content.document_ids)},
    )
    return sheet


def _refresh_locked(sheet: SummarySheet, *, by: User | None) -> SummarySheet:
    content = summary_sheet_content(card_no=sheet.card_no, pass_ids=sheet.pass_ids)
    if content.document_ids == _bound_ids(sheet) and content.amount_gross == sheet.amount_gross:
        return sheet
    reason = "汇总的票据已变更"  # stored with the sheet and its events: Chinese whatever the requester's language
    if not content.document_ids:
        _void(sheet, replaced_by=None, by=by, reason=reason)
        return sheet
    new = _create(card_no=sheet.card_no, content=content, by=by, replaces=sheet)
    _void(sheet, replaced_by=new, by=by, reason=reason)
    audit_record(
        actor=by,
        action="summary_sheet.issue",
        obj=new,
        reason=reason,
        after={"number": new.number, "replaces": sheet.number, "documents": sorted(content.document_ids)},
    )
    return new


@transaction.atomic
def summary_sheet_refresh(*, sheet: SummarySheet, by: User | None = None) -> SummarySheet:
    """Bring a sheet up to date with its trips' live documents: unchanged → the sheet itself; changed → the old
    sheet voided (``replaced_by``) and the new one returned; nothing left to summarise (every document reversed
    without reissue) → the old sheet voided and returned. A void sheet resolves to its latest replacement."""
    _lock_card(sheet.card_no)
    current = SummarySheet.objects.select_for_update().get(pk=sheet.pk)
    while current.status == SheetStatus.VOID and current.replaced_by_id is not None:
        current = SummarySheet.objects.select_for_update().get(pk=current.replaced_by_id)
    if current.status == SheetStatus.VOID:
        return current
    return _refresh_locked(current, by=by)


@transaction.atomic
def summary_sheets_refresh_for(*, document: Document, by: User | None = None) -> list[SummarySheet]:
    """The lifecycle hook: refresh every valid sheet that binds ``document`` (call after a reversal or reissue of
    it). Returns the sheets now standing in their place (void ones when nothing was left to summarise)."""
    sheets = SummarySheet.objects.filter(Q(documents=document), status=SheetStatus.VALID).order_by("pk")
    return [summary_sheet_refresh(sheet=sheet, by=by) for sheet in list(sheets)]


# --- reading a sheet (the sheet page) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SheetDocumentRow:
    """A document a sheet binds, with how much of it covers the sheet's trips and how much other things."""

    document: Document
    on_sheet: int  # fen: its segment items on the sheet's trips
    elsewhere: int  # fen: the rest of the document (other trips of the card, merged into the same document)


@dataclass(frozen=True)
class SheetTotals:
    """Why the documents' total differs from the sheet's (the sheet page explains each part)."""

    rows: list[SheetDocumentRow]
    sheet_total: int  # the sheet's own total: its trips' items when it was issued
    documents_total: int  # the listed documents' totals
    on_sheet_total: int  # what those documents hold of the sheet's trips
    elsewhere_total: int  # what they hold of other trips
    no_longer_live: int  # documents listed that are reversed since (the sheet was voided and replaced, or is due)

    @property
    def agree(self) -> bool:
        return self.documents_total == self.sheet_total


def summary_sheet_totals(*, sheet: SummarySheet, documents: Sequence[Document]) -> SheetTotals:
    """The sheet's documents (as the caller may see them) split into the part on the sheet's trips and the rest.
    Two queries: the documents' segment items, and those segments' pass ids."""
    items = list(
        DocumentItem.objects.filter(document__in=[d.pk for d in documents], item_kind=ItemKind.SEGMENT).values_list(
            "document_id", "item_id", "amount"
        )
    )
    pass_ids = dict(Segment.objects.filter(id__in=[i for _d, i, _a in items]).values_list("id", "pass_id"))
    trips = set(sheet.pass_ids)
    on_sheet: dict[int, int] = {}
    for document_id, item_id, amount in items:
        if pass_ids.get(item_id) in trips:
            on_sheet[document_id] = on_sheet.get(document_id, 0) + amount
    rows = [SheetDocumentRow(d, on_sheet.get(d.pk, 0), d.amount_gross - on_sheet.get(d.pk, 0)) for d in documents]
    return SheetTotals(
        rows=rows,
        sheet_total=sheet.amount_gross,
        documents_total=sum(d.amount_gross for d in documents),
        on_sheet_total=sum(r.on_sheet for r in rows),
        elsewhere_total=sum(r.elsewhere for r in rows),
        no_longer_live=sum(1 for d in documents if d.status != DocumentStatus.ISSUED),
    )


def summary_sheet_lineage(sheet: SummarySheet, *, limit: int = 12) -> list[SummarySheet]:
    """The chain of sheets this one belongs to, oldest first: back through the sheets it replaced, forward through
    ``replaced_by`` (bounded; one query per step)."""
    first = sheet
    for _step in range(limit):
        previous = SummarySheet.objects.filter(replaced_by=first).first()
        if previous is None:
            break
        first = previous
    chain = [first]
    while chain[-1].replaced_by_id is not None and len(chain) < limit:
        following = SummarySheet.objects.filter(pk=chain[-1].replaced_by_id).first()
        if following is None:
            break
        chain.append(following)
    return chain
