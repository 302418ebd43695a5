"""Delivering documents and summary sheets by e-mail (issue 4 §8) through Django's e-mail backends: console/file
in development, SMTP by ``EMAIL_URL`` in production, locmem in tests.

- The address is the one asked for, else the buyer title's 收票邮箱, else the customer's e-mail.
- A ``Delivery`` row records each sending: status (pending → sent | failed), attempts, the last error and
  ``sent_at``; every attempt writes a ``DocumentEvent`` (for a sheet: on each of its documents).
- An attempt is claimed by a conditional ``UPDATE`` on the attempts it saw, so two workers never send the same
  attempt twice. A failed attempt (SMTP or connection error) is retried by ``invoicing.tasks.delivery_retry``
  with exponential backoff until ``PIAOGEN["DELIVERY_MAX_ATTEMPTS"]`` (default 5) attempts were made.
- Safe to click twice: sending the same target to the same address again within
  ``PIAOGEN["DELIVERY_REPEAT_SECONDS"]`` (default 60) of a pending or sent delivery returns that delivery.
"""

from __future__ import annotations

import datetime as dt
import logging
from smtplib import SMTPException
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from invoicing.eligibility import BEIJING
from invoicing.issuing import IssuingError
from invoicing.models import (
    Delivery,
    DeliveryStatus,
    Document,
    DocumentEvent,
    DocumentKind,
    DocumentStatus,
    SheetStatus,
    SummarySheet,
)
from piaogen.models import User
from piaogen.money import format_yuan
from piaogen.privacy import mask_text

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_BASE_SECONDS = 60
DEFAULT_REPEAT_SECONDS = 60
MAX_RETRY_SECONDS = 3600


class DeliveryError(IssuingError):
    """A delivery cannot be made as asked (no address, a void sheet…); the message is for the agent."""


def max_attempts() -> int:
    return int(settings.PIAOGEN.get("DELIVERY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def retry_delay(attempts: int) -> int:
    """Seconds before the next attempt after ``attempts`` failed ones: base × 2^(attempts−1), at most an hour."""
    base = int(settings.PIAOGEN.get("DELIVERY_RETRY_BASE_SECONDS", DEFAULT_RETRY_BASE_SECONDS))
    return int(min(MAX_RETRY_SECONDS, base * 2 ** max(0, attempts - 1)))


def delivery_address(*, document: Document | None = None, sheet: SummarySheet | None = None) -> str:
    """Where a document or sheet goes by default: the buyer title's e-mail, else the customer's ('' if none)."""
    if document is not None:
        titles = [document.title] if document.title_id else []
        customer = document.customer
    else:
        assert sheet is not None
        titles = [d.title for d in sheet.documents.select_related("title").order_by("pk") if d.title_id]
        customer = sheet.customer
    for title in titles:
        if title is not None and title.email:
            return title.email
    return customer.email if customer is not None else ""


def is_demo_address(address: str) -> bool:
    """An address of the demo customers (``PIAOGEN["DEMO_EMAIL_DOMAIN"]``, a reserved .invalid domain): never sent."""
    domain = str(settings.PIAOGEN.get("DEMO_EMAIL_DOMAIN", "")).lower()
    return bool(domain) and address.strip().lower().endswith("@" + domain)


def undelivered_reason(document: Document) -> str:
    """Why a document has no delivery, as it truly is (document pages): no address, demo data, automatic delivery
    off, or queued after issuing and not sent yet. Reads the document's title and customer (select them)."""
    address = delivery_address(document=document)
    if not address:
        return str(_("无收票邮箱：未投递"))
    if is_demo_address(address):
        return str(_("演示数据：未投递"))
    if not settings.PIAOGEN.get("DELIVER_AFTER_ISSUE", True):
        return str(_("自动投递已关闭：未投递"))
    return str(_("已排队，尚未投递"))


def _target(delivery: Delivery) -> Q:
    return Q(document_id=delivery.document_id) if delivery.document_id else Q(sheet_id=delivery.sheet_id)


def _document_ids(delivery: Delivery) -> list[int]:
    if delivery.document_id:
        return [delivery.document_id]
    return list(Document.objects.filter(summary_sheets=delivery.sheet_id).order_by("pk").values_list("pk", flat=True))


def _event(delivery: Delivery, kind: str, by: User | None, **data: Any) -> None:
    prefix = "" if delivery.document_id else "sheet_"
    payload = {"delivery": delivery.pk, "address": delivery.address, "attempt": delivery.attempts, **data}
    if delivery.sheet_id:
        payload["sheet"] = delivery.sheet_id
    DocumentEvent.objects.bulk_create(
        DocumentEvent(document_id=document_id, kind=prefix + kind, by=by, data=payload)
        for document_id in _document_ids(delivery)
    )


def _document_context(document: Document) -> dict[str, Any]:
    return {
        "document": document,
        "kind_label": DocumentKind(document.kind).label,
        "number": str(document),
        "is_red": document.status == DocumentStatus.RED,
        "issued_on": document.issued_at.astimezone(BEIJING).strftime("%Y-%m-%d"),
        "amount": format_yuan(document.amount_gross),
    }


def _sheet_context(sheet: SummarySheet) -> dict[str, Any]:
    return {
        "sheet": sheet,
        "trip_count": len(sheet.pass_ids),
        "document_count": sheet.documents.count(),
        "issued_on": sheet.issued_at.astimezone(BEIJING).strftime("%Y-%m-%d"),
        "amount": format_yuan(sheet.amount_gross),
    }


def delivery_message(delivery: Delivery) -> EmailMultiAlternatives:
    """The e-mail for a delivery: Chinese subject, text and HTML bodies, and the PDF (rendered on first need)."""
    from invoicing.pdf import document_pdf_ensure, summary_sheet_pdf_ensure  # weasyprint: only when sending

    if delivery.document_id:
        document = Document.objects.select_related("customer", "title").get(pk=delivery.document_id)
        pdf, name, context = document_pdf_ensure(document=document).pdf, "document", _document_context(document)
        filename = f"{document}.pdf"
    else:
        assert delivery.sheet_id is not None
        sheet = SummarySheet.objects.select_related("customer").get(pk=delivery.sheet_id)
        pdf, name, context = summary_sheet_pdf_ensure(sheet=sheet).pdf, "sheet", _sheet_context(sheet)
        filename = f"{sheet.number}.pdf"
    with translation.override(settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string(f"emails/{name}-subject.txt", context).split())
        text = render_to_string(f"emails/{name}-body.txt", context)
        html = render_to_string(f"emails/{name}-body.html", context)
    message = EmailMultiAlternatives(subject, text, to=[delivery.address])
    message.attach_alternative(html, "text/html")
    with pdf.open("rb") as file:
        message.attach(filename, file.read(), "application/pdf")
    return message


def _schedule_retry(delivery: Delivery) -> None:
    from invoicing.tasks import delivery_retry  # tasks import this module

    countdown = retry_delay(delivery.attempts)
    transaction.on_commit(lambda: delivery_retry.apply_async((delivery.pk,), countdown=countdown))


def delivery_attempt(*, delivery: Delivery, by: User | None = None) -> Delivery:
    """Make one sending attempt if the delivery still needs one (pending or failed, attempts left); else return it
    as it is. Records the outcome; schedules the next attempt with backoff after a failure."""
    claimed = (
        Delivery.objects.filter(
            pk=delivery.pk,
            attempts=delivery.attempts,
            attempts__lt=max_attempts(),
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED],
        ).update(attempts=F("attempts") + 1)
        == 1
    )
    if not claimed:
        delivery.refresh_from_db()
        return delivery
    delivery.attempts += 1
    try:
        delivery_message(delivery).send()
    except (SMTPException, OSError) as error:
        # a mail server's refusal names the recipient: stored (shown, logged) with the address masked
        failure = mask_text(f"{type(error).__name__}: {error}")[:2000]
        delivery.status, delivery.last_error = DeliveryStatus.FAILED, failure
        Delivery.objects.filter(pk=delivery.pk).update(status=delivery.status, last_error=delivery.last_error)
        _event(delivery, "delivery_failed", by, error=delivery.last_error)
        log.warning("delivery %s attempt %s failed: %s", delivery.pk, delivery.attempts, delivery.last_error)
        if delivery.attempts < max_attempts():
            _schedule_retry(delivery)
        return delivery
    delivery.status, delivery.sent_at, delivery.last_error = DeliveryStatus.SENT, timezone.now(), ""
    Delivery.objects.filter(pk=delivery.pk).update(status=delivery.status, sent_at=delivery.sent_at, last_error="")
    _event(delivery, "delivered", by)
    return delivery


@transaction.atomic
def _delivery_create(
    *, document: Document | None, sheet: SummarySheet | None, address: str, by: User | None
) -> tuple[Delivery, bool]:
    target = f"document:{document.pk}" if document is not None else f"sheet:{sheet.pk if sheet else ''}"
    with connection.cursor() as cursor:  # a double submit waits here, then finds the first one's delivery
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"delivery:{target}:{address}"])
    repeat = dt.timedelta(seconds=int(settings.PIAOGEN.get("DELIVERY_REPEAT_SECONDS", DEFAULT_REPEAT_SECONDS)))
    recent = (
        Delivery.objects.filter(
            document=document,
            sheet=sheet,
            address=address,
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENT],
            created_at__gte=timezone.now() - repeat,
        )
        .order_by("-created_at")
        .first()
    )
    if recent is not None:
        return recent, False
    return Delivery.objects.create(document=document, sheet=sheet, address=address, requested_by=by), True


def delivery_send(
    *,
    document: Document | None = None,
    sheet: SummarySheet | None = None,
    address: str | None = None,
    by: User | None = None,
) -> Delivery:
    """E-mail a document or a summary sheet (exactly one) to ``address`` (default: ``delivery_address``) now.

    Returns the delivery: sent, or failed with the error recorded and a retry scheduled. A repeat of a pending or
    recently sent delivery to the same address returns that one instead of sending again.
    """
    if (document is None) == (sheet is None):
        raise ValueError("delivery_send needs a document or a sheet")
    if sheet is not None and sheet.status == SheetStatus.VOID:
        raise DeliveryError(_("汇总单%(number)s已作废，不能发送"), code="sheet_void", params={"number": sheet.number})
    address = (address or delivery_address(document=document, sheet=sheet)).strip()
    if not address:
        raise DeliveryError(_("没有收票邮箱：请先在抬头或客户资料中填写邮箱"), code="no_address")
    if is_demo_address(address):
        # masked: the message reaches pages and the audit trail, and the address may be the customer's on file
        raise DeliveryError(
            _("演示数据的邮箱不能投递：%(address)s"), code="demo_address", params={"address": mask_text(address)}
        )
    try:
        validate_email(address)
    except ValidationError as error:
        raise DeliveryError(
            _("邮箱格式不正确：%(address)s"), code="bad_address", params={"address": mask_text(address)}
        ) from error
    delivery, created = _delivery_create(document=document, sheet=sheet, address=address, by=by)
    return delivery_attempt(delivery=delivery, by=by) if created else delivery


def delivery_resend(*, delivery: Delivery, by: User | None) -> Delivery:
    """Send a delivery's document or sheet again to the same address (a new delivery row, the history kept)."""
    return delivery_send(document=delivery.document, sheet=delivery.sheet, address=delivery.address, by=by)


def delivery_ensure(*, document: Document | None = None, sheet: SummarySheet | None = None) -> Delivery | None:
    """The automatic delivery after issuing: send once to the default address unless a delivery exists already
    or there is no address (then None). Safe to run twice."""
    existing = Delivery.objects.filter(document=document, sheet=sheet).order_by("pk").first()
    if existing is not None:
        return existing
    address = delivery_address(document=document, sheet=sheet)
    if not address or is_demo_address(address):
        return None
    return delivery_send(document=document, sheet=sheet)


def deliveries_ensure(*, document_ids: list[int]) -> int:
    """The automatic delivery of newly issued documents (queued by issuing after commit): ``delivery_ensure`` for
    each, so a document is sent once however often this runs. An unusable address is logged and skipped, not
    raised, so one bad address does not stop the others. Returns the number of deliveries sent now or before."""
    done = 0
    for document in Document.objects.filter(pk__in=document_ids).select_related("customer", "title").order_by("pk"):
        try:
            done += delivery_ensure(document=document) is not None
        except DeliveryError as error:
            log.warning("automatic delivery of document %s skipped: %s", document.pk, error.messages[0])
    return done
