"""Document pages: a document's printed fields, lines, lineage, summary sheets, deliveries and events; its PDF."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from invoicing.api import documents_for
from invoicing.models import Delivery, Document, DocumentEvent, DocumentLine
from piaogen.access import ALL_ROLES, role_required
from piaogen.models import User


def document_for(user: User, document_id: int) -> Document:
    """A document the user may see (their province's, or any for national roles); 404 otherwise."""
    return get_object_or_404(
        documents_for(user).select_related("original", "replaces", "customer", "title"), pk=document_id
    )


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@require_GET
@role_required(*ALL_ROLES)
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    user = _user(request)
    document = document_for(user, document_id)
    context = {
        "document": document,
        "lines": DocumentLine.objects.filter(document=document).order_by("line_no"),
        "reversals": documents_for(user).filter(original=document).order_by("issued_at"),
        "reissues": documents_for(user).filter(replaces=document).order_by("issued_at"),
        "sheets": document.summary_sheets.order_by("-issued_at"),
        "deliveries": Delivery.objects.filter(document=document).order_by("-created_at"),
        "events": DocumentEvent.objects.filter(document=document).select_related("by").order_by("at", "id"),
    }
    return render(request, "invoicing/document_detail.html", context)


@require_GET
@role_required(*ALL_ROLES)
def document_pdf(request: HttpRequest, document_id: int) -> FileResponse:
    from invoicing.pdf import document_pdf_ensure  # weasyprint loads only when a PDF is asked for

    document = document_pdf_ensure(document=document_for(_user(request), document_id))
    return FileResponse(
        document.pdf.open("rb"), as_attachment=False, filename=f"{document}.pdf", content_type="application/pdf"
    )
