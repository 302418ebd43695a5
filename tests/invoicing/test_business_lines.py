"""Back-charges, paper tickets (纸改电) and taxi rides: seller, kind, rate, buyer, the tax split, exactly once,
reversal releasing the item, and the daily run picking up back-charges."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from invoicing.issuing import (
    IssuingError,
    document_reverse,
    issue_audit_charges,
    issue_paper_tickets,
    issue_run_create_daily,
    issue_run_daily,
    issue_taxi_rides,
)
from invoicing.models import BusinessLine, DocumentItem, DocumentKind, ItemKind
from piaogen.models import User
from tests.fixtures import issuing
from tests.fixtures.issuing import BJ, POST_CARD, at
from tolling.models import (
    AuditCharge,
    AuditReason,
    Operator,
    OperatorKind,
    PaperTicket,
    PayMethod,
    RoadNature,
    TaxiRide,
    TollUnit,
    TollUnitRate,
)

world = issuing.world  # the fixture


@pytest.fixture
def lines(world: dict[str, Any]) -> dict[str, Any]:
    """A 9% unit of the road operator and a taxi company at 3%."""
    nine = TollUnit.objects.create(
        code="G0002320010010A0", name="京沪1", province="32", operator=world["road"], road_nature=RoadNature.COMMERCIAL
    )
    TollUnitRate.objects.create(toll_unit=nine, tax_rate=Decimal("0.09"), valid_from=dt.date(2020, 1, 1))
    taxi = Operator.objects.create(
        kind=OperatorKind.TAXI_COMPANY,
        tax_id="91320100000000009X",
        name="南京出租汽车有限公司",
        province="32",
        tax_rate=Decimal("0.03"),
    )
    return {**world, "nine": nine, "taxi": taxi}


def charge(w: dict[str, Any], *, amount: int = 10000, unit: str = "nine", card_no: str = POST_CARD) -> AuditCharge:
    n = AuditCharge.objects.count() + 1
    return AuditCharge.objects.create(
        charge_id=f"AC{n}",
        service_date=dt.date(2026, 11, 3),
        card_no=card_no,
        plate="苏A12345",
        plate_color=0,
        toll_unit=w[unit],
        province="32",
        reason=AuditReason.CLASS,
        amount=amount,
        paid_at=at(5),
    )


def ticket(w: dict[str, Any], *, amount: int = 10000, unit: str = "nine") -> PaperTicket:
    n = PaperTicket.objects.count() + 1
    return PaperTicket.objects.create(
        ticket_no=f"PT{n}",
        service_date=dt.date(2026, 11, 3),
        toll_unit=w[unit],
        province="32",
        plate="苏B54321",
        plate_color=0,
        vehicle_class=11,
        exit_time=at(3),
        amount=amount,
        pay_method=PayMethod.CASH,
    )


def ride(w: dict[str, Any], *, amount: int = 10000, company: Operator | None = None) -> TaxiRide:
    n = TaxiRide.objects.count() + 1
    start = dt.datetime(2026, 11, 4, 9, tzinfo=BJ)
    return TaxiRide.objects.create(
        ride_id=f"R{n}",
        service_date=dt.date(2026, 11, 4),
        company=company or w["taxi"],
        province="32",
        taxi_plate="苏A T1234",
        start_time=start,
        end_time=start + dt.timedelta(minutes=30),
        distance_m=12000,
        amount=amount,
    )


def live(kind: str, pk: int) -> int:
    return DocumentItem.objects.filter(item_kind=kind, item_id=pk, live=True).count()


def test_a_back_charge_is_invoiced_by_the_underpaid_units_operator_at_9_percent(lines: dict[str, Any]) -> None:
    c = charge(lines)

    (doc,) = issue_audit_charges(charge_ids=[c.pk])

    assert (doc.kind, doc.business_line, doc.tax_rate) == (
        DocumentKind.DIGITAL_INVOICE,
        BusinessLine.AUDIT,
        Decimal("0.09"),
    )
    assert (doc.seller_id, doc.title_id, doc.buyer_name) == (lines["road"].pk, lines["title"].pk, "张三")
    assert (doc.amount_gross, doc.amount_net, doc.amount_tax) == (10000, 9174, 826)
    (line,) = doc.lines.all()
    assert (line.item_name, line.plate) == ("*经营租赁*通行费", "苏A12345")
    assert live(ItemKind.AUDIT_CHARGE, c.pk) == 1
    assert issue_audit_charges(charge_ids=[c.pk]) == []
    assert DocumentItem.objects.filter(item_kind=ItemKind.AUDIT_CHARGE, item_id=c.pk).count() == 1


def test_a_back_charge_on_a_loan_road_gets_a_fiscal_receipt(lines: dict[str, Any]) -> None:
    (doc,) = issue_audit_charges(charge_ids=[charge(lines, unit="loan").pk])

    assert (doc.kind, doc.tax_rate, doc.amount_tax) == (DocumentKind.FISCAL_RECEIPT, None, 0)
    assert doc.lines.get().item_name == "车辆通行费"


def test_a_back_charge_without_a_bound_card_is_not_issued(lines: dict[str, Any]) -> None:
    assert issue_audit_charges(charge_ids=[charge(lines, card_no="").pk]) == []


def test_a_reversed_back_charge_is_released_for_reissue(lines: dict[str, Any], agent: User) -> None:
    c = charge(lines)
    (doc,) = issue_audit_charges(charge_ids=[c.pk])

    document_reverse(document=doc, reason="客户申请", by=agent)

    assert live(ItemKind.AUDIT_CHARGE, c.pk) == 0
    (again,) = issue_audit_charges(charge_ids=[c.pk])
    assert again.pk != doc.pk and again.amount_gross == 10000


def test_the_daily_run_picks_up_back_charges(lines: dict[str, Any]) -> None:
    c = charge(lines)
    run, _ = issue_run_create_daily(business_date=dt.date(2026, 11, 10))

    run = issue_run_daily(run_id=run.pk)

    assert (run.items_total, run.documents_issued) == (1, 1)
    assert DocumentItem.objects.get(item_kind=ItemKind.AUDIT_CHARGE, item_id=c.pk).document.run_id == run.pk


def test_paper_tickets_go_to_the_claiming_title_like_segments(lines: dict[str, Any], agent: User) -> None:
    t1, t2 = ticket(lines, amount=6000), ticket(lines, amount=4000)

    (doc,) = issue_paper_tickets(ticket_ids=[t1.pk, t2.pk], title=lines["title"], by=agent)

    assert (doc.kind, doc.business_line, doc.tax_rate) == (
        DocumentKind.DIGITAL_INVOICE,
        BusinessLine.PAPER,
        Decimal("0.09"),
    )
    assert (doc.seller_id, doc.title_id, doc.customer_id) == (lines["road"].pk, lines["title"].pk, lines["customer"].pk)
    assert (doc.amount_gross, doc.amount_net, doc.amount_tax) == (10000, 9174, 826)
    (line,) = doc.lines.all()
    assert (line.item_name, line.plate, line.vehicle_type) == ("*经营租赁*通行费", "苏B54321", "货车")
    assert issue_paper_tickets(ticket_ids=[t1.pk, t2.pk], title=lines["title"]) == []

    document_reverse(document=doc, reason="抬头有误", by=agent)
    assert live(ItemKind.PAPER_TICKET, t1.pk) == 0
    (again,) = issue_paper_tickets(ticket_ids=[t1.pk], title=lines["title"])
    assert again.amount_gross == 6000


def test_taxi_rides_are_invoiced_by_the_company_at_its_rate(lines: dict[str, Any], agent: User) -> None:
    r = ride(lines, amount=10300)

    (doc,) = issue_taxi_rides(ride_ids=[r.pk], title=lines["title"], by=agent)

    assert (doc.kind, doc.business_line, doc.tax_rate) == (
        DocumentKind.DIGITAL_INVOICE,
        BusinessLine.TAXI,
        Decimal("0.03"),
    )
    assert (doc.seller_id, doc.seller_name, doc.title_id) == (
        lines["taxi"].pk,
        "南京出租汽车有限公司",
        lines["title"].pk,
    )
    assert (doc.amount_gross, doc.amount_net, doc.amount_tax) == (10300, 10000, 300)
    (line,) = doc.lines.all()
    assert (line.item_name, line.plate) == ("*运输服务*客运服务费", "苏A T1234")
    assert issue_taxi_rides(ride_ids=[r.pk], title=lines["title"]) == []

    document_reverse(document=doc, reason="客户申请", by=agent)
    (again,) = issue_taxi_rides(ride_ids=[r.pk], title=lines["title"])
    assert again.amount_gross == 10300 and live(ItemKind.TAXI_RIDE, r.pk) == 1


def test_a_taxi_company_without_a_rate_is_refused(lines: dict[str, Any]) -> None:
    lines["taxi"].tax_rate = None
    lines["taxi"].save()
    r = ride(lines)

    with pytest.raises(IssuingError):
        issue_taxi_rides(ride_ids=[r.pk], title=lines["title"])
    assert live(ItemKind.TAXI_RIDE, r.pk) == 0
