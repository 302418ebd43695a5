"""PDF documents of the issuing engine (domain.md §1), rendered with WeasyPrint from `templates/invoicing/pdf/`.

- the toll invoice (数电 电子发票（普通发票） with the 通行费 marking, or a legacy 增值税电子普通发票), 241 × 140 mm
  landscape, the size of the printed VAT invoice form, with a QR code of its key fields top left;
- the fiscal e-receipt (通行费财政电子票据), 210 × 140 mm landscape;
- the summary sheet (电子汇总单), A4 portrait: it can list many trips, and says plainly it is not an invoice.

One font, ``WenQuanYi Micro Hei``, named everywhere (also in the ``@page`` margin boxes, which do not inherit it),
embedded as a subset. Nothing is fetched: the URL fetcher stops the render on any URL but an inline ``data:`` one,
and the QR code is an inline ``data:`` PNG. The WeasyPrint setup is ``piaogen.pdf``'s, shared with the reports:
font configuration and parsed stylesheet built once per process; the templates are XHTML, parsed by the C XML
parser, with a trimmed user-agent stylesheet (``PDF_STYLE``). Render time grows with boxes and lines: cells split
their lines by newlines in the text (``white-space: pre-line``) rather than ``<br>`` elements, and page numbers are
printed only on documents that run onto a second page (docs/benchmarks.md § PDF rendering).

The printed forms are fixed Chinese by law, whatever the reader's language: templates are rendered in zh-hans.
``document_pdf_bytes`` and ``summary_sheet_pdf_bytes`` are pure (they work on unsaved instances when given their
lines / trips); ``document_pdf_ensure`` and ``summary_sheet_pdf_ensure`` render on first need and cache the file in
the instance's ``pdf`` field.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import segno
from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import render_to_string
from django.utils import timezone, translation

from invoicing.models import (
    BusinessLine,
    Document,
    DocumentEvent,
    DocumentItem,
    DocumentKind,
    DocumentLine,
    DocumentStatus,
    ItemKind,
    SheetStatus,
    SummarySheet,
)
from piaogen.identifiers import PROVINCE_NAMES
from piaogen.money import amount_in_words, format_yuan, yuan_str
from piaogen.pdf import PdfStyle, pdf_layout, pdf_write
from tolling.models import Segment, Trip

CSS_TEMPLATE = "invoicing/pdf/pdf.css"
UA_CSS_TEMPLATE = "invoicing/pdf/ua.css"
INVOICE_TEMPLATE = "invoicing/pdf/invoice.html"
RECEIPT_TEMPLATE = "invoicing/pdf/receipt.html"
SHEET_TEMPLATE = "invoicing/pdf/summary_sheet.html"

DRAWER_DEFAULT = "票根"
"""开票人 printed on invoices and 收款人 on receipts unless ``settings.PIAOGEN["PDF_DRAWER"]`` names one (assumed)."""

INVOICE_MIN_ROWS = 7
RECEIPT_MIN_ROWS = 6
"""The line tables keep at least this many rows' height, so a one-line document still looks like the form."""

PAGED_AFTER_ROWS = 8
"""A document with more lines may run onto a second page: only then are pages numbered (第 n 页 / 共 m 页)."""

SHEET_ONE_PAGE_MAX_LINES = 45
"""A summary sheet of more table lines (one per trip, one per document) cannot fit on one A4 page (≈ 38 do): it is
rendered with page numbers at once. Fewer lines may still run over (long names wrap): then it is rendered again."""

ROW_MM = 4.6
"""Height of one printed line in mm, for the blank space that keeps the table at ``INVOICE_MIN_ROWS`` rows."""

TOLL_LINES = frozenset({BusinessLine.ETC_TRIP, BusinessLine.ETC_TOPUP, BusinessLine.AUDIT, BusinessLine.PAPER})
"""Business lines whose invoices carry the 通行费 special-element marking."""

NO_TRIP = "—"
"""Shown as the pass id of the row that holds a sheet's documents not tied to any listed trip (not expected)."""

QR_TYPE_CODES = {DocumentKind.DIGITAL_INVOICE: "32", DocumentKind.LEGACY_INVOICE: "14"}
"""Invoice type in the QR payload: 32 数电 普通发票, 14 增值税电子普通发票(通行费)."""


PDF_STYLE = PdfStyle(CSS_TEMPLATE, ua_css_template=UA_CSS_TEMPLATE)
"""The WeasyPrint setup of the printed forms (``piaogen.pdf``): XHTML templates, our trimmed user-agent stylesheet."""


def _html_to_pdf(html: str, *, paged_html: Callable[[], str] | None = None) -> bytes:
    """The PDF of ``html``; when it runs onto a second page and ``paged_html`` is given, the PDF of ``paged_html()``
    instead: the same document with page numbers, which a one-page document is spared (a margin box costs layout
    time). Both must paginate alike (same page size and margins)."""
    document = pdf_layout(html, PDF_STYLE)
    if paged_html is not None and len(document.pages) > 1:
        document = pdf_layout(paged_html(), PDF_STYLE)
    return pdf_write(document)


def _render(template: str, context: dict[str, Any], *, paged: dict[str, Any] | None = None) -> bytes:
    """Render ``template`` to PDF in zh-hans; ``paged`` (context overrides) renders it again with them when the
    document runs onto a second page (see ``_html_to_pdf``)."""
    with translation.override("zh-hans"):
        html = render_to_string(template, context)
    if paged is None:
        return _html_to_pdf(html)

    def paged_html() -> str:
        with translation.override("zh-hans"):
            return render_to_string(template, {**context, **paged})

    return _html_to_pdf(html, paged_html=paged_html)


# --- formatting ----------------------------------------------------------------------------------------------------


def _money(fen: int) -> str:
    return format_yuan(fen, symbol=False)


def _rate_label(rate: Decimal | None) -> str:
    """3% / 5% / 9% (1.5% …), or 不征税 when there is no rate."""
    if rate is None:
        return "不征税"
    percent = (rate * 100).normalize()
    return f"{percent:f}%"


def _ymd(day: dt.date | None) -> str:
    return day.strftime("%Y%m%d") if day else ""


def _long_date(day: dt.date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def _local(moment: dt.datetime) -> dt.datetime:
    return timezone.localtime(moment) if timezone.is_aware(moment) else moment


def _drawer() -> str:
    return str(settings.PIAOGEN.get("PDF_DRAWER", DRAWER_DEFAULT))


def _is_red(document: Document) -> bool:
    return document.status == DocumentStatus.RED or document.amount_gross < 0


def document_qr_payload(document: Document) -> str:
    """The QR code text: the tax bureau's comma layout ``01,type,code,number,amount,date,check,crc``.

    amount is the amount without tax in yuan, date ``YYYYMMDD``; there is no check code for 数电 and fiscal
    documents, so that field is empty. The last field is ours: 4 hex digits of the CRC-32 of what precedes it,
    so a scanner can tell a mistyped payload. Fiscal receipts use type ``FS`` (财政电子票据).
    """
    kind = QR_TYPE_CODES.get(DocumentKind(document.kind), "FS")
    body = f"01,{kind},{document.code},{document.number},{yuan_str(document.amount_net)},{_ymd(document.service_date)},"
    crc = zlib.crc32(body.encode()) & 0xFFFF
    return f"{body},{crc:04X}"


def _qr_img(payload: str) -> str:
    """The QR code as an ``<img>`` of a PNG ``data:`` URI, sized by the stylesheet (drawn without smoothing).

    A PNG with a fixed mask rather than inline SVG with segno's automatic mask choice: WeasyPrint draws the SVG
    path command by command and segno scores all 8 masks, ≈ 20 % of an invoice's render together. Mask 0 is as
    valid as any (ISO/IEC 18004 lets the encoder choose); 4 px per module is sharp at 19 mm."""
    qr = segno.make(payload, error="m", micro=False, mask=0)
    return f'<img src="{qr.png_data_uri(scale=4, border=0)}" alt=""/>'


# --- documents -----------------------------------------------------------------------------------------------------


def _document_lines(document: Document, lines: Sequence[DocumentLine] | None) -> list[DocumentLine]:
    if lines is not None:
        return sorted(lines, key=lambda line: line.line_no)
    if document.pk is None:
        return []
    return list(document.lines.order_by("line_no"))


def _line_row(line: DocumentLine) -> dict[str, str]:
    taxable = line.tax_rate is not None
    return {
        "item_name": line.item_name,
        "plate": line.plate,
        "vehicle_type": line.vehicle_type,
        "date_from": _ymd(line.date_from),
        "date_to": _ymd(line.date_to),
        "amount_net": _money(line.amount_net),
        "tax_rate": _rate_label(line.tax_rate),
        "amount_tax": _money(line.amount_tax) if taxable else "***",
        "amount_gross": _money(line.amount_gross),
    }


def document_context(document: Document, lines: Sequence[DocumentLine] | None = None) -> dict[str, Any]:
    """Everything the invoice and receipt templates print, as display strings."""
    rows = [_line_row(line) for line in _document_lines(document, lines)]
    min_rows = RECEIPT_MIN_ROWS if document.kind == DocumentKind.FISCAL_RECEIPT else INVOICE_MIN_ROWS
    taxable = document.tax_rate is not None
    original = document.original
    red = _is_red(document)
    remarks = [document.remarks] if document.remarks else []
    if document.card_no and document.card_no not in document.remarks:
        remarks.append(f"ETC卡号：{document.card_no}")
    if red and original is not None:
        reference = f"{original.code} {original.number}" if original.code else original.number
        label = "原票据代码/号码" if document.kind == DocumentKind.FISCAL_RECEIPT else "被红冲蓝字发票号码"
        remarks.insert(0, f"{label}：{reference}")
    return {
        "document": document,
        "is_legacy": document.kind == DocumentKind.LEGACY_INVOICE,
        "is_toll": document.business_line in TOLL_LINES,
        "is_red": red,
        "province_name": PROVINCE_NAMES.get(document.province, ""),
        "issue_date": _long_date(document.service_date),
        "rows": rows,
        "is_paged": len(rows) > PAGED_AFTER_ROWS,
        "filler_mm": f"{(min_rows - len(rows)) * ROW_MM:.1f}" if len(rows) < min_rows else "",
        "total_net": format_yuan(document.amount_net),
        "total_tax": format_yuan(document.amount_tax) if taxable else "***",
        "total_gross": format_yuan(document.amount_gross),
        "total_words": amount_in_words(document.amount_gross),
        "remarks": remarks,
        "drawer": _drawer(),
        "qr_img": _qr_img(document_qr_payload(document)),
    }


def document_pdf_bytes(document: Document, *, lines: Sequence[DocumentLine] | None = None) -> bytes:
    """Render a document (invoice, legacy invoice or fiscal receipt) to PDF bytes.

    ``lines`` defaults to the saved document's lines; pass them for an unsaved instance.
    """
    template = RECEIPT_TEMPLATE if document.kind == DocumentKind.FISCAL_RECEIPT else INVOICE_TEMPLATE
    return _render(template, document_context(document, lines))


def document_pdf_name(document: Document) -> str:
    """Storage name of a document's PDF: ``documents/<province>/<yyyy>/<mm>/<code><number>.pdf``."""
    day = document.service_date
    return f"documents/{document.province}/{day:%Y}/{day:%m}/{document.code}{document.number}.pdf"


def _pdf_ensure(instance: Document | SummarySheet, name: str, render: Callable[[], bytes]) -> bool:
    """Render into ``instance.pdf`` unless its file exists; True when this call rendered and recorded it.

    The file name is recorded by a conditional ``UPDATE … WHERE pdf = <what this worker saw>``: of concurrent
    workers exactly one records its file; the others delete theirs and take the winner's.
    """
    field = instance.pdf
    if field.name and field.storage.exists(field.name):
        return False
    seen = field.name or ""
    saved = field.storage.save(name, ContentFile(render()))
    if not type(instance).objects.filter(pk=instance.pk, pdf=seen).update(pdf=saved):
        field.storage.delete(saved)
        instance.refresh_from_db(fields=["pdf"])
        return False
    field.name = saved
    return True


def document_pdf_ensure(*, document: Document) -> Document:
    """Render the document's PDF on first need and cache it in ``document.pdf``; later calls reuse the file.

    Safe under concurrent workers (one file recorded, see ``_pdf_ensure``); a ``pdf_rendered`` event records
    each render. A cached file that went missing from storage is rendered again.
    """
    if _pdf_ensure(document, document_pdf_name(document), lambda: document_pdf_bytes(document)):
        DocumentEvent.objects.create(document=document, kind="pdf_rendered", data={"file": document.pdf.name})
    return document


# --- summary sheets ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SheetDocument:
    """One document of a trip on a summary sheet, with the part of its amount that the trip accounts for."""

    kind_label: str
    code: str
    number: str
    seller_name: str
    tax_rate: str
    amount: int


@dataclass(frozen=True)
class SheetTrip:
    """One trip (pass id) of a summary sheet and the documents that hold its segments."""

    pass_id: str
    plate: str = ""
    entry_station: str = ""
    exit_station: str = ""
    entry_time: dt.datetime | None = None
    exit_time: dt.datetime | None = None
    documents: list[SheetDocument] = field(default_factory=list)

    @property
    def amount(self) -> int:
        return sum(document.amount for document in self.documents)


def _sheet_document(document: Document, amount: int) -> SheetDocument:
    return SheetDocument(
        kind_label=str(DocumentKind(document.kind).label),
        code=document.code,
        number=document.number,
        seller_name=document.seller_name,
        tax_rate=_rate_label(document.tax_rate) if document.kind != DocumentKind.FISCAL_RECEIPT else "—",
        amount=amount,
    )


def summary_sheet_trips(sheet: SummarySheet) -> list[SheetTrip]:
    """A saved sheet's trips in ``pass_ids`` order, each with its documents and the amount it contributes.

    Documents are tied to trips through their segment items. A document none of whose segments is on a listed
    trip (not expected) is shown under a trip-less row, so the sheet's documents are always all printed.
    """
    documents = {document.pk: document for document in sheet.documents.all()}
    items = list(
        DocumentItem.objects.filter(document_id__in=documents, item_kind=ItemKind.SEGMENT).values_list(
            "document_id", "item_id", "amount"
        )
    )
    segments = {
        row["id"]: row
        for row in Segment.objects.filter(id__in=[item_id for _, item_id, _ in items]).values(
            "id", "pass_id", "segment_no", "entry_station", "exit_station"
        )
    }
    trips = {trip.pass_id: trip for trip in Trip.objects.filter(pass_id__in=sheet.pass_ids)}
    amounts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    stations: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for document_id, item_id, amount in items:
        segment = segments.get(item_id)
        pass_id = segment["pass_id"] if segment else ""
        amounts[pass_id][document_id] += amount
        if segment:
            stations[pass_id].append((segment["segment_no"], segment["entry_station"], segment["exit_station"]))
    placed = {document_id for per_trip in amounts.values() for document_id in per_trip if per_trip}
    for document_id, document in documents.items():
        if document_id not in placed:
            amounts[""][document_id] += document.amount_gross
    result = []
    for pass_id in [*sheet.pass_ids, ""]:
        if pass_id == "" and not amounts.get(""):
            continue
        trip = trips.get(pass_id)
        ordered = sorted(stations.get(pass_id, []))
        result.append(
            SheetTrip(
                pass_id=pass_id or NO_TRIP,
                plate=trip.plate if trip else "",
                entry_station=ordered[0][1] if ordered else "",
                exit_station=ordered[-1][2] if ordered else "",
                entry_time=trip.entry_time if trip else None,
                exit_time=trip.exit_time if trip else None,
                documents=[
                    _sheet_document(documents[document_id], amount)
                    for document_id, amount in sorted(
                        amounts.get(pass_id, {}).items(),
                        key=lambda pair: (documents[pair[0]].kind, documents[pair[0]].number),
                    )
                ],
            )
        )
    return result


def _trip_row(index: int, trip: SheetTrip) -> dict[str, Any]:
    def when(moment: dt.datetime | None) -> str:
        return _local(moment).strftime("%Y-%m-%d %H:%M") if moment else ""

    return {
        "index": index,
        "trip": trip,
        "entry_time": when(trip.entry_time),
        "exit_time": when(trip.exit_time),
        "rowspan": 1 + max(1, len(trip.documents)),  # the trip's line and one per document (or 暂无票据)
        "documents": [{"document": document, "amount": _money(document.amount)} for document in trip.documents],
        "amount": _money(trip.amount),
    }


def summary_sheet_context(sheet: SummarySheet, trips: Sequence[SheetTrip]) -> dict[str, Any]:
    """Everything the summary sheet template prints, as display strings."""
    rows = [_trip_row(index, trip) for index, trip in enumerate(trips, start=1)]
    documents = {(document.code, document.number) for trip in trips for document in trip.documents}
    customer = sheet.customer
    return {
        "sheet": sheet,
        "is_void": sheet.status == SheetStatus.VOID,
        "province_name": PROVINCE_NAMES.get(sheet.province, ""),
        "customer_name": customer.name if customer else "",
        "issued_at": _local(sheet.issued_at).strftime("%Y-%m-%d %H:%M:%S"),
        "rows": rows,
        "is_paged": False,  # page numbers: summary_sheet_pdf_bytes renders again with True when it runs onto page 2
        "trip_count": len([trip for trip in trips if trip.pass_id != NO_TRIP]),
        "document_count": len(documents),
        "total": format_yuan(sheet.amount_gross),
        "total_words": amount_in_words(sheet.amount_gross),
    }


def summary_sheet_pdf_bytes(sheet: SummarySheet, *, trips: Sequence[SheetTrip] | None = None) -> bytes:
    """Render a summary sheet to PDF bytes. ``trips`` defaults to the saved sheet's (``summary_sheet_trips``)."""
    if trips is None:
        trips = summary_sheet_trips(sheet)
    context = summary_sheet_context(sheet, trips)
    if sum(row["rowspan"] for row in context["rows"]) > SHEET_ONE_PAGE_MAX_LINES:
        return _render(SHEET_TEMPLATE, {**context, "is_paged": True})
    return _render(SHEET_TEMPLATE, context, paged={"is_paged": True})


def summary_sheet_pdf_name(sheet: SummarySheet) -> str:
    """Storage name of a summary sheet's PDF: ``sheets/<province>/<yyyy>/<mm>/<number>.pdf``."""
    day = sheet.service_date
    return f"sheets/{sheet.province}/{day:%Y}/{day:%m}/{sheet.number}.pdf"


def summary_sheet_pdf_ensure(*, sheet: SummarySheet) -> SummarySheet:
    """Render the sheet's PDF on first need and cache it in ``sheet.pdf``, like ``document_pdf_ensure``."""
    _pdf_ensure(sheet, summary_sheet_pdf_name(sheet), lambda: summary_sheet_pdf_bytes(sheet))
    return sheet
