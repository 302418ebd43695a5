"""Fixtures shared by the support tests."""

from __future__ import annotations

from typing import Any

import pytest

from invoicing.issuing import issue_segments
from invoicing.models import Document
from tests.invoicing import test_sheets
from tests.invoicing.test_sheets import CARD, segment
from tolling.models import Card

world = test_sheets.world  # the fixture

# --- actions, tickets, privacy, audit (part B) ----------------------------------------------------------------------

HOLDER = {
    "holder_name": "张三",
    "holder_id_type": "身份证",
    "holder_id_no": "110101199003071234",
    "holder_phone": "13800000001",
}


def holder_card(card_no: str, **overrides: str) -> Card:
    """An ETC card of Jiangsu with the holder data recorded at issue (``HOLDER``)."""
    fields = {**HOLDER, **overrides}
    return Card.objects.create(card_no=card_no, card_type=23, province=card_no[:2], **fields)


@pytest.fixture
def issued(world: dict[str, Any]) -> Document:
    """A 数电 invoice of ¥100.00 at 3% sold in Jiangsu to 张三 (title with an e-mail), for one trip on ``CARD``."""
    (document,) = issue_segments(segment_ids=[segment(world, fee=10000).pk])
    return document


# --- search and record pages (part A) -------------------------------------------------------------------------------


def make_trip(
    world: dict[str, Any], pass_id: str, *fees: tuple[str, int], card_no: str = CARD, days: int = 20, issue: bool = True
) -> Any:
    """A trip (the pass-id registry row ingest writes) with one segment per (toll unit, fee), issued if asked."""
    import datetime as dt

    from tests.invoicing.test_sheets import days_ago
    from tolling.models import Trip

    segments = [
        segment(world, fee=fee, unit=unit, pass_id=pass_id, segment_no=n, card_no=card_no, days=days)
        for n, (unit, fee) in enumerate(fees, start=1)
    ]
    exit_time = days_ago(days)
    trip = Trip.objects.create(
        pass_id=pass_id,
        card_no=card_no,
        card_type=segments[0].card_type,
        plate="苏A12345",
        plate_color=0,
        vehicle_class=1,
        entry_time=exit_time - dt.timedelta(hours=1),
        exit_time=exit_time,
        service_date=exit_time.date(),
    )
    if issue:
        issue_segments(segment_ids=[s.pk for s in segments])
    return trip


@pytest.fixture
def records(world: dict[str, Any]) -> dict[str, Any]:
    """张三's account as the support pages see it: a Jiangsu vehicle 苏A12345 with a post-pay card (``CARD``), a
    prepaid card and a Beijing card, and trips in every invoice state — issued (invoice + fiscal receipt, with a
    summary sheet and a back-charge), not yet invoiceable, zero fee, paid from an invoiced top-up, and released by
    a reversal — plus a Beijing-only trip."""
    import datetime as dt

    from invoicing.issuing import document_reverse, issue_topups
    from invoicing.models import BuyerTitle, DocumentKind
    from invoicing.sheets import summary_sheet_issue
    from tests.invoicing.test_sheets import OTHER_CARD, PREPAID, days_ago, topup
    from tolling.models import AuditCharge, AuditReason, Vehicle

    vehicle = Vehicle.objects.create(plate="苏A12345", plate_color=0, vehicle_class=1)
    cards = {
        "post": holder_card(CARD),
        "prepaid": holder_card(PREPAID),
        "beijing": holder_card(OTHER_CARD),
    }
    for card in cards.values():
        card.vehicle = vehicle
        card.save(update_fields=["vehicle"])
    Card.objects.filter(card_no=PREPAID).update(card_type=22)
    customer = world["customer"]
    customer.id_type, customer.id_no, customer.province = "身份证", "110101199003071233", "32"
    customer.save()
    new_title = BuyerTitle.objects.create(
        customer=customer,
        kind="company",
        name="江苏苏通物流有限公司",
        tax_id="91320100MA1XY0123J",
        valid_from=days_ago(10),
    )
    invoiced = make_trip(world, "PINVOICED01", ("commercial", 10000), ("loan", 5000), days=20)
    waiting = make_trip(world, "PWAITING01", ("commercial", 3000), days=2)
    zero = make_trip(world, "PZERO01", ("commercial", 0), days=20)
    released = make_trip(world, "PRELEASED01", ("commercial", 4000), days=20)
    held = Document.objects.get(items__item_kind="segment", items__item_id__in=[s.pk for s in segments_of(released)])
    document_reverse(document=held, reason="抬头错误", by=None)
    paid = topup(world, amount=100000)
    issue_topups(topup_ids=[paid.pk])
    from_topup = make_trip(world, "PPREPAID01", ("commercial", 2000), card_no=PREPAID, days=20)
    beijing = make_trip(world, "PBEIJING01", ("capital", 6000), card_no=OTHER_CARD, days=20)
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=[invoiced.pass_id])
    charge = AuditCharge.objects.create(
        charge_id="AC0001",
        service_date=dt.date.today(),
        pass_id=invoiced.pass_id,
        card_no=CARD,
        plate="苏A12345",
        plate_color=0,
        toll_unit=world["commercial"],
        province="32",
        reason=AuditReason.CLASS,
        amount=1200,
        paid_at=days_ago(1),
    )
    documents = Document.objects.filter(
        items__item_kind="segment", items__item_id__in=[s.pk for s in segments_of(invoiced)]
    ).distinct()
    return {
        **world,
        "vehicle": vehicle,
        "cards": cards,
        "new_title": new_title,
        "invoiced": invoiced,
        "waiting": waiting,
        "zero": zero,
        "released": released,
        "reversed_document": held,
        "topup": paid,
        "from_topup": from_topup,
        "beijing_trip": beijing,
        "sheet": sheet,
        "charge": charge,
        "invoice": documents.get(kind=DocumentKind.DIGITAL_INVOICE),
        "receipt": documents.get(kind=DocumentKind.FISCAL_RECEIPT),
    }


def segments_of(trip: Any) -> list[Any]:
    from tolling.models import Segment

    return list(Segment.objects.filter(pass_id=trip.pass_id).order_by("segment_no"))
