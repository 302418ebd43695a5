"""Lifecycle of an issued document: red-letter reversal (红冲) and title exchange (换票)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.issuing.drafts import (
    Draft,
    IssuingError,
    ItemRow,
    LineDraft,
)
from invoicing.issuing.writing import (
    deliveries_queue,
    documents_write,
)
from invoicing.models import (
    BuyerTitle,
    Document,
    DocumentEvent,
    DocumentItem,
    DocumentStatus,
)
from invoicing.tax import TaxLine
from piaogen.audit import audit_record
from piaogen.models import User

REVERSED: list[Callable[[int, str, str], None]] = []
"""Called as ``hook(document_id, before, after)`` in the reversal's transaction once a document's status changed:
apps that keep aggregates of documents (the statistics rollup, ``support.stats_rollup``) register here and adjust
them. Invoicing imports no app above it."""

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


def _copy_lines(original: Document, *, sign: int) -> list[LineDraft]:
    # the items are read by document (indexed) and grouped by line here: item.line has no index of its own
    by_line: dict[int, list[ItemRow]] = defaultdict(list)
    for i in DocumentItem.objects.filter(document=original).order_by("id"):
        by_line[i.line_id].append(ItemRow(i.item_kind, i.item_id, i.amount, i.service_date, i.card_no))
    lines = []
    for line in original.lines.order_by("line_no"):
        tax = TaxLine(
            gross=sign * line.amount_gross, net=sign * line.amount_net, tax=sign * line.amount_tax, rate=line.tax_rate
        )
        lines.append(
            LineDraft(
                line.item_name, line.plate, line.vehicle_type, line.date_from, line.date_to, tax, by_line[line.pk]
            )
        )
    return lines


def _draft_from(original: Document, title: BuyerTitle, lines: list[LineDraft], **fields: Any) -> Draft:
    """A document of ``original``'s kind, business line, seller and rate, to ``title``, with ``lines``."""
    return Draft(
        kind=original.kind,
        business_line=original.business_line,
        seller=original.seller,
        title=title,
        rate=original.tax_rate,
        lines=lines,
        **fields,
    )


def _reverse(original: Document, *, reason: str, by: User | None) -> Document:
    """Red-letter document for a locked, issued original; releases its items."""
    assert original.title is not None
    red_lines = _copy_lines(original, sign=-1)
    for line in red_lines:
        line.items = []  # the red document mirrors the lines; the items stay with the original
    draft = _draft_from(
        original,
        original.title,
        red_lines,
        customer_id=original.customer_id,
        original_id=original.pk,
        status=DocumentStatus.RED,
        remarks=f"对应正数发票：{original}",  # printed on the document: Chinese whatever the console's language
    )
    (red,) = documents_write(
        [draft], run=None, by=by, event="issued_red", data={"original": original.pk, "reason": reason}
    ).documents()
    deliveries_queue([red.pk])  # the buyer gets the red-letter document too
    Document.objects.filter(pk=original.pk).update(status=DocumentStatus.REVERSED)
    for hook in REVERSED:
        hook(original.pk, DocumentStatus.ISSUED, DocumentStatus.REVERSED)
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
    draft = _draft_from(
        original,
        title,
        _copy_lines(original, sign=1),
        customer_id=title.customer_id,
        replaces_id=original.pk,
        is_merged=original.is_merged,
    )
    (new,) = documents_write([draft], run=None, by=by, data={"replaces": original.pk, "reason": reason}).documents()
    deliveries_queue([new.pk])  # like every issued document: e-mailed when the buyer has an address
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
