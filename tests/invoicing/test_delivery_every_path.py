"""Every document reaches its buyer (issue #12 item 6): whatever issued it — a run, a request, a reversal, a
reissue — it is queued for e-mail when the buyer has an address; a document without a delivery says truthfully why
(no address, demo data, automatic delivery off, queued)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from invoicing.delivery import DeliveryError, delivery_ensure, delivery_send, is_demo_address, undelivered_reason
from invoicing.issuing import document_reissue, document_reverse, issue_segments
from invoicing.models import BuyerTitle, Customer, Delivery, DeliveryStatus, Document, DocumentStatus
from piaogen.celery import app as celery_app
from piaogen.models import User
from tests.fixtures.invoicing import segment

DEMO = "u12345678@demo.invalid"


@pytest.fixture
def eager_celery() -> Iterator[None]:
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def issued(world: dict[str, Any]) -> Document:
    (document,) = issue_segments(segment_ids=[segment(world, fee=1000).pk])
    return document


def test_a_reissue_e_mails_the_new_document_and_the_red_one(
    world: dict[str, Any], django_capture_on_commit_callbacks: Callable[..., Any], eager_celery: None
) -> None:
    original = issued(world)
    corrected = BuyerTitle.objects.create(
        customer=world["customer"], kind="person", name="张三（更正）", email="new@example.com",
        valid_from=world["title"].valid_from + dt.timedelta(seconds=1),
    )  # fmt: skip
    mail.outbox.clear()
    Delivery.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        new = document_reissue(document=original, title=corrected, reason="抬头写错", by=None)

    red = Document.objects.get(original=original, status=DocumentStatus.RED)
    sent = {d.document_id: d.address for d in Delivery.objects.filter(status=DeliveryStatus.SENT)}
    assert sent == {new.pk: "new@example.com", red.pk: "piao@example.com"}
    assert len(mail.outbox) == 2


def test_a_reversal_e_mails_the_red_document(
    world: dict[str, Any], django_capture_on_commit_callbacks: Callable[..., Any], eager_celery: None
) -> None:
    original = issued(world)
    Delivery.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        red = document_reverse(document=original, reason="重复开票", by=None)

    assert list(Delivery.objects.values_list("document_id", flat=True)) == [red.pk]


def test_a_document_without_a_delivery_says_why(world: dict[str, Any], settings: Any) -> None:
    document = issued(world)
    Delivery.objects.all().delete()
    assert undelivered_reason(document) == "已排队，尚未投递"

    settings.PIAOGEN = {**settings.PIAOGEN, "DELIVER_AFTER_ISSUE": False}
    assert undelivered_reason(document) == "自动投递已关闭：未投递"

    BuyerTitle.objects.filter(pk=world["title"].pk).update(email=DEMO)
    Customer.objects.filter(pk=world["customer"].pk).update(email="")
    document = Document.objects.select_related("title", "customer").get(pk=document.pk)
    assert undelivered_reason(document) == "演示数据：未投递"

    BuyerTitle.objects.filter(pk=world["title"].pk).update(email="")
    document = Document.objects.select_related("title", "customer").get(pk=document.pk)
    assert undelivered_reason(document) == "无收票邮箱：未投递"


def test_demo_addresses_are_never_sent_to(world: dict[str, Any]) -> None:
    document = issued(world)
    Delivery.objects.all().delete()
    mail.outbox.clear()
    BuyerTitle.objects.filter(pk=world["title"].pk).update(email=DEMO)
    document = Document.objects.select_related("title", "customer").get(pk=document.pk)

    assert is_demo_address(DEMO) and not is_demo_address("piao@example.com")
    assert delivery_ensure(document=document) is None
    with pytest.raises(DeliveryError, match="演示数据"):
        delivery_send(document=document)
    assert mail.outbox == [] and not Delivery.objects.exists()


def test_the_document_page_shows_the_demo_state_instead_of_not_yet_delivered(
    world: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    document = issued(world)
    Delivery.objects.all().delete()
    BuyerTitle.objects.filter(pk=world["title"].pk).update(email=DEMO)

    page = client_for(agent).get(f"/documents/{document.pk}/").content.decode()

    assert "演示数据：未投递" in page and "尚未投递" not in page.replace("已排队，尚未投递", "")
