"""Delivery by e-mail: Chinese subject and bodies, the PDF attached, status and attempts recorded, failures kept
with their error and retried with backoff up to the limit, a double submit sending once."""

from __future__ import annotations

from collections.abc import Callable
from smtplib import SMTPRecipientsRefused, SMTPServerDisconnected
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend

from invoicing import delivery as delivery_module
from invoicing import tasks
from invoicing.delivery import (
    DeliveryError,
    delivery_attempt,
    delivery_ensure,
    delivery_resend,
    delivery_send,
    retry_delay,
)
from invoicing.issuing import issue_segments
from invoicing.models import Customer, Delivery, DeliveryStatus, Document, DocumentEvent, SheetStatus, SummarySheet
from invoicing.sheets import summary_sheet_issue
from piaogen.models import User
from tests.fixtures.invoicing import CARD, segment, trip


class FailingBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Any) -> int:
        raise SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.fixture
def document(world: dict[str, Any]) -> Document:
    seg = segment(world, fee=10000)
    (issued,) = issue_segments(segment_ids=[seg.pk])
    return issued


@pytest.fixture
def failing(settings: Any) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"


@pytest.fixture
def scheduled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Retries scheduled with apply_async: (delivery id, countdown)."""
    calls: list[tuple[int, int]] = []

    def apply_async(args: tuple[int], countdown: int) -> None:
        calls.append((args[0], countdown))

    monkeypatch.setattr(tasks.delivery_retry, "apply_async", apply_async)
    return calls


def test_it_sends_the_document_in_chinese_with_the_pdf_attached(document: Document, agent: User) -> None:
    delivery = delivery_send(document=document, by=agent)

    assert (delivery.status, delivery.attempts, delivery.address) == (DeliveryStatus.SENT, 1, "piao@example.com")
    assert delivery.sent_at is not None and delivery.last_error == ""
    (message,) = mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    assert message.to == ["piao@example.com"]
    assert message.subject == f"【票根】您的数电发票 {document.number}"
    assert "张三，您好" in message.body and "价税合计：¥100.00" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "已开具，PDF 见附件" in str(html)
    ((filename, content, content_type),) = message.attachments
    assert (filename, content_type) == (f"{document.number}.pdf", "application/pdf")
    assert bytes(content).startswith(b"%PDF")
    event = DocumentEvent.objects.get(document=document, kind="delivered")
    assert (event.by, event.data["address"]) == (agent, "piao@example.com")
    assert Delivery.objects.get().requested_by == agent


def test_without_a_title_email_it_uses_the_customers(world: dict[str, Any], document: Document) -> None:
    world["title"].email = ""
    world["title"].save()

    delivery = delivery_send(document=Document.objects.get(pk=document.pk))

    assert delivery.address == "zhangsan@example.com"


def test_without_any_address_it_refuses(world: dict[str, Any], document: Document) -> None:
    world["title"].email = ""
    world["title"].save()
    Customer.objects.update(email="")

    with pytest.raises(DeliveryError, match="没有收票邮箱"):
        delivery_send(document=Document.objects.get(pk=document.pk))
    assert not Delivery.objects.exists()
    assert delivery_ensure(document=document) is None


def test_a_failure_is_recorded_and_retried_with_backoff(
    document: Document,
    failing: None,
    scheduled: list[tuple[int, int]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_send(document=document, address="x@example.com")

    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert "SMTPServerDisconnected" in delivery.last_error
    assert Delivery.objects.get().status == DeliveryStatus.FAILED
    assert DocumentEvent.objects.filter(document=document, kind="delivery_failed").count() == 1
    assert scheduled == [(delivery.pk, retry_delay(1))]
    assert mail.outbox == []


def test_a_retry_that_succeeds_marks_the_delivery_sent(
    document: Document, settings: Any, scheduled: list[tuple[int, int]]
) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    delivery = delivery_send(document=document)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    tasks.delivery_retry(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 2, "")
    assert len(mail.outbox) == 1


def test_retries_stop_at_the_maximum_attempts(
    document: Document,
    failing: None,
    settings: Any,
    scheduled: list[tuple[int, int]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "DELIVERY_MAX_ATTEMPTS": 3}
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_send(document=document)
        for _attempt in range(5):
            tasks.delivery_retry(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert [countdown for _id, countdown in scheduled] == [retry_delay(1), retry_delay(2)]
    assert retry_delay(1) < retry_delay(2) < retry_delay(3)


def test_a_sent_delivery_is_not_attempted_again(document: Document) -> None:
    delivery = delivery_send(document=document)
    stale = Delivery.objects.get(pk=delivery.pk)
    stale.attempts = 0  # what a second worker saw before the first one claimed the attempt

    assert delivery_attempt(delivery=stale).attempts == 1
    assert len(mail.outbox) == 1


def test_a_double_submit_sends_once_and_a_resend_later_sends_again(
    document: Document, agent: User, settings: Any
) -> None:
    first = delivery_send(document=document, by=agent)
    second = delivery_send(document=document, by=agent)

    assert second.pk == first.pk and len(mail.outbox) == 1

    settings.PIAOGEN = {**settings.PIAOGEN, "DELIVERY_REPEAT_SECONDS": 0}
    again = delivery_resend(delivery=first, by=agent)

    assert again.pk != first.pk and again.status == DeliveryStatus.SENT
    assert len(mail.outbox) == 2


def test_the_automatic_delivery_task_sends_once(document: Document) -> None:
    tasks.deliver_document(document.pk)
    tasks.deliver_document(document.pk)

    assert Delivery.objects.count() == 1 and len(mail.outbox) == 1


def test_it_sends_a_summary_sheet_with_its_pdf(world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000), ("loan", 2500))
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PA"])

    tasks.deliver_sheet(sheet.pk)

    delivery = Delivery.objects.get()
    assert (delivery.sheet, delivery.status, delivery.address) == (sheet, DeliveryStatus.SENT, "piao@example.com")
    (message,) = mail.outbox
    assert message.subject == f"【票根】电子汇总单 {sheet.number}"
    assert "汇总 1 次通行、2 张票据" in message.body and "¥125.00" in message.body
    ((filename, content, _type),) = message.attachments
    assert filename == f"{sheet.number}.pdf" and bytes(content).startswith(b"%PDF")
    assert DocumentEvent.objects.filter(kind="sheet_delivered", data__sheet=sheet.pk).count() == 2


def test_a_void_sheet_is_not_sent(world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000))
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PA"])
    SummarySheet.objects.filter(pk=sheet.pk).update(status=SheetStatus.VOID)

    with pytest.raises(DeliveryError, match="已作废"):
        delivery_send(sheet=SummarySheet.objects.get(pk=sheet.pk))


def test_the_module_reads_its_limits_from_settings(settings: Any) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "DELIVERY_MAX_ATTEMPTS": 2, "DELIVERY_RETRY_BASE_SECONDS": 10}

    assert delivery_module.max_attempts() == 2
    assert [retry_delay(n) for n in (1, 2, 3)] == [10, 20, 40]


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Any) -> int:
        raise SMTPRecipientsRefused({"zhangsan@example.com": (550, b"5.1.1 <zhangsan@example.com>: unknown user")})


def test_a_refusal_naming_the_recipient_is_stored_with_the_address_masked(
    document: Document, settings: Any, scheduled: list[tuple[int, int]]
) -> None:
    """The error is shown on the document and customer pages, in the API and in the worker's log (issue #18)."""
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"

    delivery = delivery_send(document=document, address="zhangsan@example.com")

    assert delivery.status == DeliveryStatus.FAILED and "SMTPRecipientsRefused" in delivery.last_error
    assert "zhangsan@example.com" not in Delivery.objects.get().last_error
    assert "z*******@example.com" in Delivery.objects.get().last_error
