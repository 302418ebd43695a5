"""Top-ups exist only for prepaid cards (储值卡, 22): a top-up row for a registered post-pay card (记账卡, 23) is
rejected as a row with a clear reason and lands in the error file, while the rest of the batch goes in."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from ingest_fixtures import CARD, csv_bytes, ingest, row, units_create
from rest_framework.test import APIClient

from piaogen.models import Role, User
from tolling.models import Card, RejectedRow, TopUp, UploadBatch, UploadStatus

pytestmark = pytest.mark.django_db(transaction=True)

PREPAID = "32011901220000123456"
POST_PAY = CARD  # 32011901230000123456, registered as type 23 by the segments upload below
UNKNOWN = "32011901220000999999"
POST_PAY_REASON = "ETC卡号（card_no）：该卡是记账卡（23），记账卡不能充值，只有储值卡（22）才有充值记录"


@pytest.fixture
def user(make_staff: Callable[..., User]) -> User:
    units_create()
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


@pytest.fixture
def cards(user: User) -> None:
    """The post-pay card registered the way real data registers it (a segments upload), and a prepaid one."""
    segments = ingest(user, "segments", csv_bytes([row("segments", card_no=POST_PAY, card_type="23")]))
    assert segments.rows_accepted == 1
    Card.objects.create(card_no=PREPAID, card_type=22, province="32")
    assert Card.objects.get(card_no=POST_PAY).card_type == 23


def topups(*rows: dict[str, str]) -> bytes:
    return csv_bytes(list(rows), kind="topups")


def test_a_top_up_of_a_post_pay_card_is_rejected_and_the_rest_of_the_batch_goes_in(user: User, cards: None) -> None:
    content = topups(
        row("topups", topup_id="TU0001", card_no=PREPAID),
        row("topups", topup_id="TU0002", card_no=POST_PAY),
        row("topups", topup_id="TU0003", card_no=UNKNOWN),  # not registered yet: the contract has no card type
    )
    batch = ingest(user, "topups", content)

    assert (batch.status, batch.rows_total, batch.rows_accepted, batch.rows_rejected) == ("done", 3, 2, 1)
    assert sorted(TopUp.objects.values_list("topup_id", flat=True)) == ["TU0001", "TU0003"]
    assert dict(RejectedRow.objects.filter(batch=batch).values_list("line_no", "reasons")) == {3: [POST_PAY_REASON]}


def test_the_post_pay_row_lands_in_the_error_file_with_its_line_and_reason(user: User, cards: None) -> None:
    batch = ingest(user, "topups", topups(row("topups", topup_id="TU0001", card_no=PREPAID),
                                          row("topups", topup_id="TU0002", card_no=POST_PAY)))  # fmt: skip

    text = batch.error_file.read().decode("utf-8-sig")
    lines = text.strip().split("\r\n")
    assert len(lines) == 2  # the header and the one rejected row
    assert "TU0002" in lines[1] and POST_PAY in lines[1]
    assert lines[1].endswith(f",3,{POST_PAY_REASON},card_no.post_pay")  # the cells, then 行号, 错误原因, 错误代码
    assert "TU0001" not in text


def test_every_reason_of_a_post_pay_row_is_listed_together(user: User, cards: None) -> None:
    batch = ingest(user, "topups", topups(row("topups", card_no=POST_PAY, amount="0")))
    (reasons,) = RejectedRow.objects.filter(batch=batch).values_list("reasons", flat=True)
    assert POST_PAY_REASON in reasons
    assert "充值金额（amount）：金额必须大于零" in reasons


def test_a_post_pay_card_of_another_province_gets_only_the_province_reason(
    user: User, make_staff: Callable[..., User]
) -> None:
    Card.objects.create(card_no="33011901230000123456", card_type=23, province="33")
    batch = ingest(user, "topups", topups(row("topups", card_no="33011901230000123456")))
    (reasons,) = RejectedRow.objects.filter(batch=batch).values_list("reasons", flat=True)
    assert reasons == [
        "ETC卡号（card_no）：卡号的发行省份（前两位）必须是本省（32）"
    ]  # nothing told about Zhejiang's card


@pytest.mark.integration
def test_an_api_upload_processed_by_a_worker_rejects_the_post_pay_top_up(
    user: User, cards: None, celery_worker_process: Any
) -> None:
    client = APIClient()
    client.force_authenticate(user)
    content = topups(row("topups", topup_id="TU0001", card_no=PREPAID), row("topups", topup_id="TU0002",
                                                                            card_no=POST_PAY))  # fmt: skip
    response = client.post("/api/v1/uploads/", {"kind": "topups", "file": SimpleUploadedFile("topups.csv", content)},
                           format="multipart")  # fmt: skip
    assert response.status_code == 202

    deadline = time.monotonic() + 120
    batch = UploadBatch.objects.get(pk=response.json()["id"])
    while batch.status in (UploadStatus.QUEUED, UploadStatus.RUNNING) and time.monotonic() < deadline:
        time.sleep(0.05)
        batch.refresh_from_db()
    assert (batch.status, batch.rows_accepted, batch.rows_rejected) == ("done", 1, 1)
    errors = client.get(f"/api/v1/uploads/{batch.pk}/errors/")
    assert errors.status_code == 200
    body = b"".join(errors.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    assert "TU0002" in body and POST_PAY_REASON in body
    assert list(TopUp.objects.values_list("topup_id", flat=True)) == ["TU0001"]
