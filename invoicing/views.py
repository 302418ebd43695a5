"""Document pages: a document's printed fields, a PDF preview, the items it covers, its lineage (items → document →
summary sheet → reversal → reissue), deliveries and events; its PDF. Summary sheet pages: the sheet, its trips and
documents with why their totals differ from the sheet's, its PDF, deliveries (and resend), and its void/replaced
lineage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from csp.decorators import csp_replace
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from invoicing.delivery import DeliveryError, delivery_send
from invoicing.models import Delivery, Document, DocumentEvent, DocumentItem, DocumentLine, ItemKind, SummarySheet
from invoicing.selectors import ACTORS, documents_for, sheet_is_whole_for, sheet_pass_ids_for, sheets_for
from invoicing.sheets import summary_sheet_lineage, summary_sheet_totals
from piaogen.access import ALL_ROLES, role_required
from piaogen.errors import page_message
from piaogen.models import User
from tolling.models import AuditCharge, Segment, TopUp, Trip

ITEM_LIMIT = 100
LINEAGE_LIMIT = 12


def document_for(user: User, document_id: int) -> Document:
    """A document the user may see (their province's, or any for national roles); 404 otherwise."""
    return get_object_or_404(
        documents_for(user).select_related("original", "replaces", "customer", "title"), pk=document_id
    )


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@dataclass(frozen=True)
class LineageStep:
    """One document in the chain: the original, its red-letter reversal, the reissue that replaced it, …"""

    document: Document
    relation: str  # "original", "red", "reissue"


def document_lineage(user: User, document: Document) -> list[LineageStep]:
    """The chain the document belongs to, oldest first: walk back through ``replaces``/``original`` to the first
    issue, then forward through reversals and reissues (bounded; a few queries per step)."""
    visible = documents_for(user)
    root = document.original or document
    for _step in range(LINEAGE_LIMIT):
        if root.replaces_id is None:
            break
        previous = visible.filter(pk=root.replaces_id).first()
        if previous is None:
            break
        root = previous
    steps = [LineageStep(root, "original")]
    current: Document | None = root
    while current is not None and len(steps) < LINEAGE_LIMIT:
        steps += [LineageStep(red, "red") for red in visible.filter(original=current).order_by("issued_at", "pk")]
        current = visible.filter(replaces=current).order_by("issued_at", "pk").first()
        if current is not None:
            steps.append(LineageStep(current, "reissue"))
    return steps


@dataclass(frozen=True)
class ItemView:
    item: DocumentItem
    label: str
    detail: str
    trip_id: int | None = None
    batch_id: int | None = None


def document_items(document: Document, number: Any = 1) -> tuple[list[ItemView], Page[DocumentItem]]:
    """A page of what the document covers (segments with their trip, top-ups, back-charges…), ITEM_LIMIT rows a
    page, and the count of all."""
    page = Paginator(document.items.order_by("id"), ITEM_LIMIT).get_page(number)
    items = list(page.object_list)
    by_kind: dict[str, list[int]] = {}
    for item in items:
        by_kind.setdefault(item.item_kind, []).append(item.item_id)
    segments = {s.pk: s for s in Segment.objects.filter(pk__in=by_kind.get(ItemKind.SEGMENT, []))}
    trips = dict(Trip.objects.filter(pass_id__in={s.pass_id for s in segments.values()}).values_list("pass_id", "pk"))
    topups = {t.pk: t for t in TopUp.objects.filter(pk__in=by_kind.get(ItemKind.TOPUP, []))}
    charges = {c.pk: c for c in AuditCharge.objects.filter(pk__in=by_kind.get(ItemKind.AUDIT_CHARGE, []))}
    views = []
    for item in items:
        source: Any = None
        if item.item_kind == ItemKind.SEGMENT and (seg := segments.get(item.item_id)):
            source = seg
            views.append(
                ItemView(item, f"{seg.pass_id} #{seg.segment_no}", seg.plate, trips.get(seg.pass_id), seg.batch_id)
            )
            continue
        if item.item_kind == ItemKind.TOPUP:
            source = topups.get(item.item_id)
        elif item.item_kind == ItemKind.AUDIT_CHARGE:
            source = charges.get(item.item_id)
        label = str(source) if source is not None else f"{item.item_kind}:{item.item_id}"
        views.append(ItemView(item, label, item.card_no, None, getattr(source, "batch_id", None)))
    return views, page


@require_GET
@role_required(*ALL_ROLES)
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    user = _user(request)
    document = document_for(user, document_id)
    items, items_page = document_items(document, request.GET.get("items_page") or 1)
    context = {
        "document": document,
        "lines": Paginator(DocumentLine.objects.filter(document=document).order_by("line_no"), ITEM_LIMIT).get_page(
            request.GET.get("lines_page") or 1
        ),  # a line a plate: a fleet's document has hundreds
        "items": items,
        "items_page": items_page,
        "lineage": document_lineage(user, document),
        "reversals": documents_for(user).filter(original=document).order_by("issued_at")[:LINEAGE_LIMIT],
        "reissues": documents_for(user).filter(replaces=document).order_by("issued_at")[:LINEAGE_LIMIT],
        "sheets": sheets_for(user).filter(documents=document).order_by("-issued_at")[:LINEAGE_LIMIT],
        "deliveries": Delivery.objects.filter(document=document).order_by("-created_at")[:ITEM_LIMIT],
        "events": DocumentEvent.objects.filter(document=document)
        .select_related("by")
        .order_by("at", "id")[:ITEM_LIMIT],
    }
    return render(request, "invoicing/document_detail.html", context)


@require_GET
@role_required(*ALL_ROLES)
@xframe_options_sameorigin  # the document page previews it in an <iframe>
@csp_replace({"frame-ancestors": ["'self'"]})  # type: ignore[arg-type]  # django-csp types views as request-only
def document_pdf(request: HttpRequest, document_id: int) -> FileResponse:
    from invoicing.pdf import document_pdf_ensure  # weasyprint loads only when a PDF is asked for

    document = document_pdf_ensure(document=document_for(_user(request), document_id))
    return FileResponse(
        document.pdf.open("rb"), as_attachment=False, filename=f"{document}.pdf", content_type="application/pdf"
    )


# --- summary sheets -----------------------------------------------------------------------------------------------


def sheet_for(user: User, sheet_id: int) -> SummarySheet:
    """A sheet the user may see (``sheets_for``), with ``visible_pass_ids`` for province users; 404 otherwise."""
    sheets = sheet_pass_ids_for(user, sheets_for(user).select_related("customer", "replaced_by"))
    return get_object_or_404(sheets, pk=sheet_id)


@require_GET
@role_required(*ALL_ROLES)
def sheet_detail(request: HttpRequest, sheet_id: int) -> HttpResponse:
    user = _user(request)
    sheet = sheet_for(user, sheet_id)
    visible_pass_ids = getattr(sheet, "visible_pass_ids", None)  # province users: their province's trips only
    pass_ids = list(sheet.pass_ids if visible_pass_ids is None else visible_pass_ids)
    # every document the user may see: the totals count them all, the page lists ITEM_LIMIT of them
    documents = list(documents_for(user).filter(summary_sheets=sheet).order_by("issued_at", "pk"))
    totals = summary_sheet_totals(sheet=sheet, documents=documents)
    trips = Trip.objects.filter(pass_id__in=pass_ids).order_by("exit_time", "pk")
    chain = summary_sheet_lineage(sheet)
    visible = set(sheets_for(user).filter(pk__in=[s.pk for s in chain]).values_list("pk", flat=True))
    context = {
        "sheet": sheet,
        "whole": sheet_is_whole_for(user, sheet),
        "trips": Paginator(trips, ITEM_LIMIT).get_page(request.GET.get("trips_page") or 1),
        "pass_ids": pass_ids,
        "totals": totals,
        "document_rows": Paginator(totals.rows, ITEM_LIMIT).get_page(request.GET.get("documents_page") or 1),
        "lineage": [s for s in chain if s.pk in visible],
        "deliveries": Delivery.objects.filter(sheet=sheet).order_by("-created_at")[:ITEM_LIMIT],
        "can_act": user.role in ACTORS,
    }
    return render(request, "invoicing/sheet_detail.html", context)


@require_GET
@role_required(*ALL_ROLES)
def sheet_pdf(request: HttpRequest, sheet_id: int) -> FileResponse:
    from invoicing.pdf import summary_sheet_pdf_ensure  # weasyprint loads only when a PDF is asked for

    user = _user(request)
    sheet = sheet_for(user, sheet_id)
    if not sheet_is_whole_for(user, sheet):  # it lists other provinces' documents
        raise Http404
    sheet = summary_sheet_pdf_ensure(sheet=sheet)
    return FileResponse(
        sheet.pdf.open("rb"), as_attachment=False, filename=f"{sheet.number}.pdf", content_type="application/pdf"
    )


@require_POST
@role_required(*ACTORS)
def sheet_resend(request: HttpRequest, sheet_id: int) -> HttpResponse:
    """E-mail the sheet again (to the address given, else the buyer's); the delivery is recorded on the sheet."""
    user = _user(request)
    sheet = sheet_for(user, sheet_id)
    try:
        delivery = delivery_send(sheet=sheet, address=(request.POST.get("address") or "").strip() or None, by=user)
    except DeliveryError as error:
        messages.error(request, page_message(error))
    else:
        messages.success(request, delivery.get_status_display())
    return redirect("sheet-detail", sheet.pk)
