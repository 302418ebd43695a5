"""Summary sheets: bind trips' live documents, numbered by the card issuer's province, idempotent, voided and
replaced when what they summarise changes; top-ups get none. The world (`world` fixture and helpers) is in
tests/fixtures/invoicing.py, shared with the delivery, API and support tests."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from invoicing.issuing import IssuingError, document_reissue, document_reverse, issue_segments, issue_topups
from invoicing.models import (
    BuyerTitle,
    Document,
    DocumentEvent,
    DocumentKind,
    SheetStatus,
    SummarySheet,
)
from invoicing.sheets import summary_sheet_issue, summary_sheet_refresh, summary_sheets_refresh_for
from tests.fixtures.invoicing import BJ, CARD, OTHER_CARD, PREPAID, days_ago, segment, topup, trip

# --- issuing ------------------------------------------------------------------------------------------------------


def test_a_sheet_binds_every_live_document_of_a_trip_with_the_trip_total(world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000), ("loan", 2500))

    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PA"])

    documents = list(sheet.documents.order_by("kind"))
    assert [d.kind for d in documents] == [DocumentKind.DIGITAL_INVOICE, DocumentKind.FISCAL_RECEIPT]
    assert sheet.amount_gross == 12500
    assert (sheet.status, sheet.card_no, sheet.pass_ids, sheet.customer) == ("valid", CARD, ["PA"], world["customer"])
    today = timezone.localdate(timezone=BJ)
    assert sheet.number.startswith(f"32{today:%Y%m}") and len(sheet.number) == 16
    assert sheet.province == "32"
    assert DocumentEvent.objects.filter(kind="sheet_bound", data__sheet=sheet.pk).count() == 2


def test_the_province_is_the_card_issuers_even_for_trips_on_other_provinces_roads(world: dict[str, Any]) -> None:
    trip(world, "PB", ("capital", 800), card_no=OTHER_CARD)

    sheet = summary_sheet_issue(card_no=OTHER_CARD, pass_ids=["PB"])

    assert sheet.province == "11" and sheet.number.startswith("11")


def test_several_trips_share_one_sheet_and_a_shared_document_is_listed_once(world: dict[str, Any]) -> None:
    first = segment(world, fee=1000, pass_id="P1")
    second = segment(world, fee=2000, pass_id="P2")
    (document,) = issue_segments(segment_ids=[first.pk, second.pk])  # one seller × title × rate: one document

    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["P1", "P2"])
    only_first = summary_sheet_issue(card_no=CARD, pass_ids=["P1"])

    assert list(sheet.documents.all()) == [document]
    assert sheet.amount_gross == 3000
    assert only_first.amount_gross == 1000  # only this trip's part of the shared document
    assert only_first.pk != sheet.pk


def test_issuing_twice_returns_the_same_sheet_and_takes_no_number(world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000))

    first = summary_sheet_issue(card_no=CARD, pass_ids=["PA"])
    again = summary_sheet_issue(card_no=CARD, pass_ids=[" PA ", "PA"])

    assert again.pk == first.pk
    assert SummarySheet.objects.count() == 1


def test_it_refuses_a_trip_of_another_card(world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000))

    with pytest.raises(IssuingError, match="不属于卡") as error:
        summary_sheet_issue(card_no=OTHER_CARD, pass_ids=["PA"])
    assert error.value.code == "sheet_foreign_trip"
    assert not SummarySheet.objects.exists()


def test_it_refuses_a_trip_that_has_no_document_yet(world: dict[str, Any]) -> None:
    segment(world, fee=500, pass_id="PN")

    with pytest.raises(IssuingError, match="尚无已开具的票据") as error:
        summary_sheet_issue(card_no=CARD, pass_ids=["PN"])
    assert error.value.code == "sheet_trip_not_invoiced"


def test_it_refuses_an_empty_request(world: dict[str, Any]) -> None:
    with pytest.raises(IssuingError, match="至少选择一个通行"):
        summary_sheet_issue(card_no=CARD, pass_ids=[" "])


def test_top_ups_get_no_sheet(world: dict[str, Any]) -> None:
    money = topup(world, amount=50000)
    (document,) = issue_topups(topup_ids=[money.pk])

    with pytest.raises(IssuingError):
        summary_sheet_issue(card_no=PREPAID, pass_ids=[money.topup_id])
    assert not document.summary_sheets.exists()


# --- changes ------------------------------------------------------------------------------------------------------


def test_a_reissue_voids_the_sheet_and_issues_one_over_the_new_document(world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000), ("loan", 2500))
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PA"])
    invoice = sheet.documents.get(kind=DocumentKind.DIGITAL_INVOICE)
    company = BuyerTitle.objects.create(
        customer=world["customer"],
        kind="company",
        name="苏州某某物流有限公司",
        tax_id="91320500MA1XXXXX0X",
        valid_from=days_ago(1),
    )
    new = document_reissue(document=invoice, title=company, reason="抬头错误", by=None)  # refreshes its sheets

    sheet.refresh_from_db()
    replacement = sheet.replaced_by
    assert replacement is not None
    assert summary_sheets_refresh_for(document=invoice) == []  # a second refresh finds nothing to do
    assert (sheet.status, sheet.replaced_by) == (SheetStatus.VOID, replacement)
    assert replacement.status == SheetStatus.VALID and replacement.number != sheet.number
    assert set(replacement.documents.all()) == {new, sheet.documents.get(kind=DocumentKind.FISCAL_RECEIPT)}
    assert replacement.amount_gross == 12500
    assert DocumentEvent.objects.filter(document=invoice, kind="sheet_voided").exists()


def test_issuing_again_after_a_change_replaces_the_old_sheet(world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000), ("loan", 2500))
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PA"])
    document_reverse(document=sheet.documents.get(kind=DocumentKind.FISCAL_RECEIPT), reason="重复开具", by=None)

    again = summary_sheet_issue(card_no=CARD, pass_ids=["PA"])

    sheet.refresh_from_db()
    assert sheet.replaced_by == again
    assert again.amount_gross == 10000
    assert SummarySheet.objects.filter(status=SheetStatus.VALID).count() == 1


def test_reversing_the_only_document_of_a_sheet_voids_it_without_replacement(world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000))
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PA"])
    invoice = sheet.documents.get()
    document_reverse(document=invoice, reason="退费", by=None)  # refreshes its sheets

    result = SummarySheet.objects.get(pk=sheet.pk)

    assert (result.status, result.replaced_by) == (SheetStatus.VOID, None)
    assert SummarySheet.objects.count() == 1


def test_refreshing_an_unchanged_sheet_changes_nothing(world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000))
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PA"])

    assert summary_sheet_refresh(sheet=sheet).pk == sheet.pk
    assert SummarySheet.objects.get().status == SheetStatus.VALID


def test_refreshing_a_void_sheet_resolves_to_its_replacement(world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000), ("loan", 2500))
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PA"])
    document_reverse(document=sheet.documents.get(kind=DocumentKind.FISCAL_RECEIPT), reason="重复", by=None)
    replacement = summary_sheet_refresh(sheet=sheet)

    assert summary_sheet_refresh(sheet=SummarySheet.objects.get(pk=sheet.pk)).pk == replacement.pk
    assert Document.objects.filter(summary_sheets=replacement).count() == 1
