"""Eligibility: every reason, the day-7 boundary, FIFO over a prepaid card's top-ups, the title in force, and the
query count and plan of the set-based paths."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from invoicing.eligibility import (
    Reason,
    TopUpMode,
    audit_charge_states,
    fifo_matches,
    fifo_paid_by_invoiced_topups,
    fifo_topups_spent_on_invoiced_segments,
    invoiceable_audit_charges,
    invoiceable_segments,
    invoiceable_topups,
    paper_ticket_states,
    segment_states,
    taxi_ride_states,
    title_in_force,
    titles_in_force,
    topup_states,
    trip_cutoff,
)
from invoicing.models import (
    BuyerTitle,
    CardBinding,
    CardPrepaidChoice,
    Customer,
    Document,
    DocumentItem,
    DocumentKind,
    DocumentLine,
    DocumentStatus,
    ItemKind,
    PrepaidChoice,
)
from tests.factories import (
    BuyerTitleFactory,
    CardBindingFactory,
    CustomerFactory,
    OperatorFactory,
    SegmentFactory,
    TollUnitFactory,
    TopUpFactory,
)
from tolling.models import (
    AuditCharge,
    AuditReason,
    Operator,
    OperatorKind,
    PaperTicket,
    PayMethod,
    RoadNature,
    Segment,
    TaxiRide,
    TollUnitRate,
    TopUp,
)

BJ = ZoneInfo("Asia/Shanghai")
PREPAID, POSTPAY = 22, 23
CARD = "32010000000000000001"  # prepaid
CARD_B = "32010000000000000002"  # prepaid, opening balance
POST_CARD = "32010000000000000003"  # post-pay
TODAY = dt.date(2026, 12, 31)  # far enough after every trip below unless a test says otherwise

_seq = itertools.count(1)


def at(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=BJ)


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    road = OperatorFactory.create(tax_id="91320000000000001X", name="苏高速")
    issuer = OperatorFactory.create(kind=OperatorKind.CARD_ISSUER, tax_id="91320000000000002X", name="苏通卡")
    commercial = TollUnitFactory.create(code="G0001320010010A0", name="宁沪1", operator=road, rate=Decimal("0.09"))
    loan = TollUnitFactory.create(code="G0001320010020A0", name="还贷1", operator=road, road_nature=RoadNature.LOAN)
    TollUnitRate.objects.create(toll_unit=commercial, tax_rate=Decimal("0.03"), valid_from=dt.date(2026, 11, 15))
    return {"road": road, "issuer": issuer, "commercial": commercial, "loan": loan}


def segment(
    world: dict[str, Any],
    *,
    exit_time: dt.datetime,
    fee: int,
    card_no: str = CARD,
    card_type: int = PREPAID,
    unit: str = "commercial",
    discount: int = 0,
    save: bool = True,
) -> Segment:
    return (SegmentFactory.create if save else SegmentFactory.build)(
        pass_id=f"P{next(_seq):020d}",
        card_no=card_no,
        card_type=card_type,
        toll_unit=world[unit],
        province="32",
        exit_time=exit_time,
        discount_fee=discount,
        fee=fee,
    )


def topup(world: dict[str, Any], *, when: dt.datetime, amount: int, card_no: str = CARD) -> TopUp:
    return TopUpFactory.create(
        topup_id=f"T{next(_seq)}", card_no=card_no, amount=amount, topped_up_at=when, issuer=world["issuer"]
    )


def hold(world: dict[str, Any], kind: str, item_id: int, *, amount: int = 100, live: bool = True) -> Document:
    """Put an item into a minimal issued document (or a reversed one, with live=False)."""
    document = Document.objects.create(
        kind=DocumentKind.DIGITAL_INVOICE,
        business_line="etc_trip",
        status=DocumentStatus.ISSUED if live else DocumentStatus.REVERSED,
        code="",
        number=f"2632100000{next(_seq):010d}",
        service_date=dt.date(2026, 11, 20),
        province="32",
        seller=world["road"],
        seller_name="苏高速",
        seller_tax_id="91320000000000001X",
        buyer_name="张三",
        amount_net=amount,
        amount_tax=0,
        amount_gross=amount,
    )
    line = DocumentLine.objects.create(
        document=document, line_no=1, item_name="*经营租赁*通行费", amount_net=amount, amount_tax=0, amount_gross=amount
    )
    DocumentItem.objects.create(
        document=document,
        line=line,
        item_kind=kind,
        item_id=item_id,
        service_date=_item_date(kind, item_id),  # items carry their fact's date (its partition, ADR 0010)
        card_no=CARD,
        amount=amount,
        live=live,
    )
    return document


def _item_date(kind: str, item_id: int) -> dt.date:
    if kind == ItemKind.SEGMENT:
        return Segment.objects.get(pk=item_id).service_date
    if kind == ItemKind.TOPUP:
        return TopUp.objects.get(pk=item_id).service_date
    return dt.date(2026, 11, 1)


def customer(name: str, phone: str) -> Customer:
    return CustomerFactory.create(name=name, phone=phone)


def title(who: Customer, name: str, valid_from: dt.datetime, card_no: str = "") -> BuyerTitle:
    return BuyerTitleFactory.create(customer=who, card_no=card_no, name=name, valid_from=valid_from)


def bind(who: Customer, card_no: str, bound_at: dt.datetime, unbound_at: dt.datetime | None = None) -> CardBinding:
    return CardBindingFactory.create(customer=who, card_no=card_no, bound_at=bound_at, unbound_at=unbound_at)


@pytest.fixture
def buyer(world: dict[str, Any]) -> Customer:
    """A customer bound to every test card since October with a default title."""
    who = customer("张三", "13800000001")
    for card_no in (CARD, CARD_B, POST_CARD):
        bind(who, card_no, at(1, month=10))
    title(who, "张三", at(1, month=10))
    return who


def state(seg: Segment, today: dt.date = TODAY) -> Any:
    return segment_states(segment_ids=[seg.pk], today=today)[seg.pk]


# --- day 7, zero fee, documents ----------------------------------------------------------------------------------


def test_a_trip_becomes_invoiceable_on_the_seventh_day_at_beijing_midnight(
    world: dict[str, Any], buyer: Customer
) -> None:
    # 23:59 Beijing on 1 Nov is 15:59 UTC: the Beijing date (service_date) counts, not the UTC one
    seg = segment(world, exit_time=at(1, 23, 59), fee=1000)
    assert seg.service_date == dt.date(2026, 11, 1)
    before = state(seg, today=dt.date(2026, 11, 7))
    assert before.reason == Reason.NOT_YET
    assert before.invoiceable_on == dt.date(2026, 11, 8)
    assert before.message() == "未到可开票日：2026-11-08起可开票"
    assert not before.final
    on = state(seg, today=dt.date(2026, 11, 8))
    assert on.reason == Reason.ELIGIBLE
    assert on.eligible
    assert trip_cutoff(dt.date(2026, 11, 8)) == dt.date(2026, 11, 1)
    assert [s.pk for s in invoiceable_segments(service_date_to=trip_cutoff(dt.date(2026, 11, 7)))] == []
    assert [s.pk for s in invoiceable_segments(service_date_to=trip_cutoff(dt.date(2026, 11, 8)))] == [seg.pk]


def test_the_day_count_is_a_setting(world: dict[str, Any], buyer: Customer, settings: Any) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "TRIP_INVOICEABLE_AFTER_DAYS": 3}
    seg = segment(world, exit_time=at(1, 0, 0), fee=1000)
    assert state(seg, today=dt.date(2026, 11, 3)).reason == Reason.NOT_YET
    assert state(seg, today=dt.date(2026, 11, 4)).reason == Reason.ELIGIBLE


def test_a_zero_fee_segment_is_never_invoiceable(world: dict[str, Any], buyer: Customer) -> None:
    seg = segment(world, exit_time=at(1), fee=0, discount=3500)  # green channel: 35.00 due, all discounted
    got = state(seg)
    assert got.reason == Reason.ZERO_FEE
    assert got.final
    assert got.message() == "实收金额为零，不开票"
    assert list(invoiceable_segments(service_date_to=TODAY)) == []


def test_a_segment_in_a_live_document_names_it_and_a_reversal_releases_it(
    world: dict[str, Any], buyer: Customer
) -> None:
    seg = segment(world, exit_time=at(1), fee=1000, card_type=POSTPAY, card_no=POST_CARD)
    first = hold(world, ItemKind.SEGMENT, seg.pk)
    held = state(seg)
    assert held.reason == Reason.IN_DOCUMENT
    assert held.document is not None and held.document.id == first.pk
    assert held.message() == f"已在票据{first.number}中"
    assert list(invoiceable_segments(service_date_to=TODAY)) == []

    DocumentItem.objects.filter(document=first).update(live=False)  # 红冲
    Document.objects.filter(pk=first.pk).update(status=DocumentStatus.REVERSED)
    released = state(seg)
    assert released.reason == Reason.ELIGIBLE
    assert released.document is None
    assert released.released_from is not None and released.released_from.number == first.number
    assert released.released_from.status == DocumentStatus.REVERSED
    assert [s.pk for s in invoiceable_segments(service_date_to=TODAY)] == [seg.pk]

    second = hold(world, ItemKind.SEGMENT, seg.pk)  # reissued
    again = state(seg)
    assert again.document is not None and again.document.id == second.pk
    assert again.released_from is not None and again.released_from.id == first.pk


def test_it_gives_the_document_kind_seller_and_rate_in_force_on_the_service_date(
    world: dict[str, Any], buyer: Customer
) -> None:
    early = segment(world, exit_time=at(14, 23, 59), fee=1000)
    late = segment(world, exit_time=at(15, 0, 0), fee=1000)
    loan = segment(world, exit_time=at(15), fee=1000, unit="loan")
    states = segment_states(segment_ids=[early.pk, late.pk, loan.pk], today=TODAY)
    assert (states[early.pk].document_kind, states[early.pk].tax_rate) == (
        DocumentKind.DIGITAL_INVOICE,
        Decimal("0.09"),
    )
    assert states[late.pk].tax_rate == Decimal("0.03")
    assert (states[loan.pk].document_kind, states[loan.pk].tax_rate) == (DocumentKind.FISCAL_RECEIPT, None)
    assert {s.seller_id for s in states.values()} == {world["road"].pk}
    assert all(s.eligible for s in states.values())


def test_a_commercial_segment_without_a_rate_in_force_waits_for_master_data(
    world: dict[str, Any], buyer: Customer
) -> None:
    TollUnitRate.objects.filter(toll_unit=world["commercial"]).delete()
    seg = segment(world, exit_time=at(1), fee=1000)
    assert state(seg).reason == Reason.NO_RATE
    assert list(invoiceable_segments(service_date_to=TODAY)) == []


def test_it_reports_every_blocker_with_the_final_ones_first(world: dict[str, Any], buyer: Customer) -> None:
    seg = segment(world, exit_time=at(20), fee=1000, card_no=POST_CARD, card_type=POSTPAY)
    hold(world, ItemKind.SEGMENT, seg.pk)
    got = state(seg, today=dt.date(2026, 11, 21))
    assert got.blockers == (Reason.IN_DOCUMENT, Reason.NOT_YET)


def test_states_by_card_and_date_range(world: dict[str, Any], buyer: Customer) -> None:
    inside = segment(world, exit_time=at(5), fee=100)
    segment(world, exit_time=at(9), fee=100)
    segment(world, exit_time=at(5), fee=100, card_no=POST_CARD, card_type=POSTPAY)
    got = segment_states(card_no=CARD, date_from=dt.date(2026, 11, 1), date_to=dt.date(2026, 11, 8), today=TODAY)
    assert list(got) == [inside.pk]
    with pytest.raises(ValueError):
        segment_states(today=TODAY)


# --- FIFO over a prepaid card's top-ups --------------------------------------------------------------------------


@pytest.fixture
def prepaid(world: dict[str, Any], buyer: Customer) -> dict[str, Any]:
    """T1 100.00 (invoiced) then T2 100.00; trips of 60, 0, 30, 30 (straddles), 50 — FIFO spends T1 first."""
    t1 = topup(world, when=at(1, 9), amount=10000)
    s1 = segment(world, exit_time=at(2), fee=6000)  # [0, 60) of T1
    s0 = segment(world, exit_time=at(2, 13), fee=0, discount=500)  # spends nothing
    s2 = segment(world, exit_time=at(3), fee=3000)  # [60, 90) of T1
    t2 = topup(world, when=at(5, 9), amount=10000)
    s3 = segment(world, exit_time=at(6), fee=3000)  # [90, 120): 10.00 from T1, 20.00 from T2
    s4 = segment(world, exit_time=at(7), fee=5000)  # [120, 170) of T2
    hold(world, ItemKind.TOPUP, t1.pk, amount=10000)
    return {"t1": t1, "t2": t2, "s0": s0, "s1": s1, "s2": s2, "s3": s3, "s4": s4}


def test_trips_paid_from_an_invoiced_top_up_are_ineligible_including_a_straddling_one(
    prepaid: dict[str, Any],
) -> None:
    s = prepaid
    ids = [s[k].pk for k in ("s0", "s1", "s2", "s3", "s4")]
    states = segment_states(segment_ids=ids, today=TODAY)
    assert states[s["s1"].pk].reason == Reason.TOPUP_INVOICED
    assert states[s["s2"].pk].reason == Reason.TOPUP_INVOICED
    assert states[s["s3"].pk].reason == Reason.TOPUP_INVOICED  # any fen from an invoiced top-up
    assert states[s["s3"].pk].final
    assert states[s["s4"].pk].reason == Reason.ELIGIBLE  # all from T2, not invoiced
    assert states[s["s0"].pk].reason == Reason.ZERO_FEE
    assert fifo_paid_by_invoiced_topups([CARD]) == {s["s1"].pk, s["s2"].pk, s["s3"].pk}
    assert fifo_paid_by_invoiced_topups() == {s["s1"].pk, s["s2"].pk, s["s3"].pk}
    assert [x.pk for x in invoiceable_segments(service_date_to=TODAY)] == [s["s4"].pk]


def test_fifo_matches_show_which_top_up_paid_which_trip(prepaid: dict[str, Any]) -> None:
    s = prepaid
    t1, t2 = s["t1"].pk, s["t2"].pk
    assert all(type(m.fen) is int for m in fifo_matches(CARD))
    assert {(m.segment_id, m.topup_id, m.fen) for m in fifo_matches(CARD)} == {
        (s["s1"].pk, t1, 6000),
        (s["s2"].pk, t1, 3000),
        (s["s3"].pk, t1, 1000),
        (s["s3"].pk, t2, 2000),
        (s["s4"].pk, t2, 5000),
    }


def test_a_top_up_is_invoiceable_at_once_and_not_twice(world: dict[str, Any], prepaid: dict[str, Any]) -> None:
    late = topup(world, when=at(30, 23), amount=5000)
    states = topup_states(card_no=CARD)
    t1, t2 = states[prepaid["t1"].pk], states[prepaid["t2"].pk]
    assert (t1.reason, t1.mode) == (Reason.IN_DOCUMENT, TopUpMode.AS_TOPUP)
    assert (t2.reason, t2.mode) == (Reason.ELIGIBLE, TopUpMode.OPEN)
    assert (t2.document_kind, t2.seller_id, t2.tax_rate) == (DocumentKind.DIGITAL_INVOICE, world["issuer"].pk, None)
    assert states[late.pk].reason == Reason.ELIGIBLE  # no day-7 wait
    assert states[late.pk].invoiceable_on == dt.date(2026, 11, 30)
    got = {t.pk for t in invoiceable_topups(service_date_to=dt.date(2026, 11, 30), chosen_at_topup=False)}
    assert got == {prepaid["t2"].pk, late.pk}
    assert not invoiceable_topups(service_date_to=dt.date(2026, 11, 30)).exists()  # runs: "at top-up" cards only
    CardPrepaidChoice.objects.create(card_no=CARD, choice=PrepaidChoice.AT_TOPUP, valid_from=at(30, 12))
    assert {t.pk for t in invoiceable_topups(service_date_to=dt.date(2026, 11, 30))} == {late.pk}


def test_a_top_up_whose_trips_were_invoiced_can_no_longer_be_invoiced(
    world: dict[str, Any], prepaid: dict[str, Any]
) -> None:
    hold(world, ItemKind.SEGMENT, prepaid["s4"].pk, amount=5000)  # the customer chose "by consumption" for T2
    t2 = topup_states(topup_ids=[prepaid["t2"].pk])[prepaid["t2"].pk]
    assert (t2.reason, t2.mode) == (Reason.TRIPS_INVOICED, TopUpMode.AS_TRIPS)
    assert fifo_topups_spent_on_invoiced_segments([CARD]) == {prepaid["t2"].pk}
    assert list(invoiceable_topups(service_date_to=TODAY)) == []


def test_trips_paid_from_a_top_up_chosen_at_top_up_wait_for_its_invoice(
    world: dict[str, Any], prepaid: dict[str, Any]
) -> None:
    """The card chose "at top-up" before T2: T2's money is T2's invoice, so s3 (part T2) and s4 (all T2) are not
    invoiceable as trips while T2 is not invoiced; no run can issue a trip first and lose the customer's choice."""
    CardPrepaidChoice.objects.create(card_no=CARD, choice=PrepaidChoice.AT_TOPUP, valid_from=at(4))
    states = segment_states(card_no=CARD, today=TODAY)
    assert states[prepaid["s4"].pk].reason == Reason.TOPUP_CHOSEN
    assert not states[prepaid["s4"].pk].final
    assert states[prepaid["s3"].pk].reason == Reason.TOPUP_INVOICED  # T1 (invoiced) comes first
    assert Reason.TOPUP_CHOSEN in states[prepaid["s3"].pk].blockers
    assert list(invoiceable_segments(service_date_to=TODAY)) == []
    assert {t.pk for t in invoiceable_topups(service_date_to=TODAY)} == {prepaid["t2"].pk}  # the run takes T2
    hold(world, ItemKind.TOPUP, prepaid["t2"].pk, amount=10000)
    assert segment_states(card_no=CARD, today=TODAY)[prepaid["s4"].pk].reason == Reason.TOPUP_INVOICED


def test_a_choice_made_after_the_top_up_leaves_its_trips_invoiceable(
    world: dict[str, Any], prepaid: dict[str, Any]
) -> None:
    CardPrepaidChoice.objects.create(card_no=CARD, choice=PrepaidChoice.AT_TOPUP, valid_from=at(5, 10))  # after T2
    assert segment_states(card_no=CARD, today=TODAY)[prepaid["s4"].pk].reason == Reason.ELIGIBLE


def test_a_top_up_partly_invoiced_as_trips_leaves_its_other_trips_invoiceable(
    world: dict[str, Any], prepaid: dict[str, Any]
) -> None:
    CardPrepaidChoice.objects.create(card_no=CARD, choice=PrepaidChoice.AT_TOPUP, valid_from=at(4))
    extra = segment(world, exit_time=at(8), fee=1000)  # [170, 180) of T2
    hold(world, ItemKind.SEGMENT, prepaid["s4"].pk, amount=5000)  # invoiced as a trip before the choice counted
    assert segment_states(segment_ids=[extra.pk], today=TODAY)[extra.pk].reason == Reason.ELIGIBLE


def test_reversing_the_top_up_invoice_releases_its_trips(prepaid: dict[str, Any]) -> None:
    DocumentItem.objects.filter(item_kind=ItemKind.TOPUP).update(live=False)
    states = segment_states(card_no=CARD, today=TODAY)
    assert {k for k, v in states.items() if v.eligible} == {prepaid[k].pk for k in ("s1", "s2", "s3", "s4")}


def test_trips_before_the_first_loaded_top_up_are_paid_from_the_opening_balance(
    world: dict[str, Any], buyer: Customer
) -> None:
    early = segment(world, exit_time=at(1), fee=4000, card_no=CARD_B)  # paid before any top-up we know of
    t1 = topup(world, when=at(2), amount=10000, card_no=CARD_B)
    later = segment(world, exit_time=at(3), fee=3000, card_no=CARD_B)
    hold(world, ItemKind.TOPUP, t1.pk, amount=10000)
    states = segment_states(card_no=CARD_B, today=TODAY)
    assert states[early.pk].reason == Reason.ELIGIBLE  # opening balance [0, 40), not T1
    assert states[later.pk].reason == Reason.TOPUP_INVOICED  # [40, 70) of T1
    assert {(m.segment_id, m.topup_id, m.fen) for m in fifo_matches(CARD_B)} == {(later.pk, t1.pk, 3000)}


def test_a_post_pay_card_is_never_affected_by_fifo(world: dict[str, Any], buyer: Customer) -> None:
    odd = topup(world, when=at(1), amount=10000, card_no=POST_CARD)  # should not happen, and must not matter
    hold(world, ItemKind.TOPUP, odd.pk, amount=10000)
    seg = segment(world, exit_time=at(2), fee=3000, card_no=POST_CARD, card_type=POSTPAY)
    assert state(seg).reason == Reason.ELIGIBLE
    assert fifo_paid_by_invoiced_topups([POST_CARD]) == set()


# --- buyer title in force ----------------------------------------------------------------------------------------


@pytest.fixture
def titles(world: dict[str, Any]) -> dict[str, Any]:
    """A holds CARD 1–10 Nov with default titles v1 (1 Nov), v2 (4 Nov) and a card title from 6 Nov; then B holds
    it from 10 Nov 12:00, with a default title only from 12 Nov."""
    a, b = customer("甲公司", "13800000011"), customer("乙", "13800000012")
    bind(a, CARD, at(1, 0), unbound_at=at(10, 12))
    bind(b, CARD, at(10, 12))
    return {
        "a": a,
        "b": b,
        "v1": title(a, "甲公司(旧)", at(1, 0)),
        "v2": title(a, "甲公司", at(4, 0)),
        "card": title(a, "甲公司苏A12345", at(6, 0), card_no=CARD),
        "other_card": title(a, "甲公司其它车", at(1, 0), card_no=CARD_B),
        "b1": title(b, "乙", at(12, 0)),
    }


def test_the_title_in_force_at_the_trip_time_applies(titles: dict[str, Any]) -> None:
    a = titles["a"].pk
    assert title_in_force(customer_id=a, card_no=CARD, at=at(3)) == titles["v1"]
    assert title_in_force(customer_id=a, card_no=CARD, at=at(4, 0)) == titles["v2"]  # valid_from ≤ at
    assert title_in_force(customer_id=a, card_no=CARD, at=at(3, 23, 59)) == titles["v1"]
    assert title_in_force(customer_id=a, card_no=CARD, at=at(6, 1)) == titles["card"]  # card-specific wins
    assert title_in_force(customer_id=a, card_no=CARD, at=at(5)) == titles["v2"]  # card title not yet in force


def test_bindings_that_changed_hands_give_each_holder_their_own_trips(titles: dict[str, Any]) -> None:
    assert title_in_force(card_no=CARD, at=at(10, 11, 59)) == titles["card"]  # still A's
    assert title_in_force(customer_id=titles["a"].pk, card_no=CARD, at=at(10, 12)) is None  # unbound_at excluded
    assert title_in_force(card_no=CARD, at=at(11)) == titles["b1"]  # B holds it; before B's first title: that one
    assert title_in_force(card_no=CARD, at=at(13)) == titles["b1"]
    assert title_in_force(card_no=CARD, at=at(30, month=10)) is None  # before anyone bound it
    many = titles_in_force([(CARD, at(3)), (CARD, at(13)), (CARD_B, at(3))])
    assert many[(CARD, at(3))] == (titles["a"].pk, titles["v1"])
    assert many[(CARD, at(13))] == (titles["b"].pk, titles["b1"])
    assert many[(CARD_B, at(3))] == (None, None)


def test_segments_get_the_buyer_of_their_exit_time_or_no_buyer(world: dict[str, Any], titles: dict[str, Any]) -> None:
    before = segment(world, exit_time=at(30, month=10), fee=100)
    v1 = segment(world, exit_time=at(3), fee=100)
    card = segment(world, exit_time=at(8), fee=100)
    gap = segment(world, exit_time=at(11), fee=100)
    b = segment(world, exit_time=at(13), fee=100)
    states = segment_states(card_no=CARD, today=TODAY)
    assert states[before.pk].reason == Reason.NO_BUYER
    assert not states[before.pk].final
    assert (states[v1.pk].customer_id, states[v1.pk].title) == (titles["a"].pk, titles["v1"])
    assert states[card.pk].title == titles["card"]
    # bound to B before B's first title: that first title applies (domain.md §4.11)
    assert (states[gap.pk].reason, states[gap.pk].title) == (Reason.ELIGIBLE, titles["b1"])
    assert (states[b.pk].reason, states[b.pk].title) == (Reason.ELIGIBLE, titles["b1"])
    assert {s.pk for s in invoiceable_segments(service_date_to=TODAY)} == {v1.pk, card.pk, gap.pk, b.pk}
    assert invoiceable_segments(service_date_to=TODAY, require_buyer=False).count() == 5


# --- other business lines ----------------------------------------------------------------------------------------


def test_back_charges_paper_tickets_and_taxi_rides(world: dict[str, Any], buyer: Customer) -> None:
    charge = AuditCharge.objects.create(
        charge_id="A1",
        service_date=dt.date(2026, 11, 20),
        card_no=CARD,
        plate="苏A12345",
        plate_color=0,
        toll_unit=world["commercial"],
        province="32",
        reason=AuditReason.CLASS,
        amount=2000,
        paid_at=at(20),
    )
    ticket = PaperTicket.objects.create(
        ticket_no="PT1",
        service_date=dt.date(2026, 11, 20),
        toll_unit=world["loan"],
        province="32",
        plate="苏A12345",
        plate_color=0,
        vehicle_class=1,
        exit_time=at(20),
        amount=1500,
        pay_method=PayMethod.CASH,
    )
    taxi_co = Operator.objects.create(
        kind=OperatorKind.TAXI_COMPANY,
        tax_id="91320000000000003X",
        name="出租",
        province="32",
        tax_rate=Decimal("0.03"),
    )
    ride = TaxiRide.objects.create(
        ride_id="R1",
        service_date=dt.date(2026, 11, 20),
        company=taxi_co,
        province="32",
        taxi_plate="苏A T1234",
        start_time=at(20, 10),
        end_time=at(20, 11),
        distance_m=5000,
        amount=3000,
    )
    c = audit_charge_states(charge_ids=[charge.pk])[charge.pk]
    assert (c.reason, c.tax_rate, c.customer_id) == (Reason.ELIGIBLE, Decimal("0.03"), buyer.pk)
    assert [x.pk for x in invoiceable_audit_charges(service_date_to=dt.date(2026, 11, 20))] == [charge.pk]
    hold(world, ItemKind.AUDIT_CHARGE, charge.pk)
    assert audit_charge_states(charge_ids=[charge.pk])[charge.pk].reason == Reason.IN_DOCUMENT
    assert list(invoiceable_audit_charges(service_date_to=TODAY)) == []

    p = paper_ticket_states(ticket_ids=[ticket.pk])[ticket.pk]
    assert (p.reason, p.document_kind, p.tax_rate) == (Reason.ELIGIBLE, DocumentKind.FISCAL_RECEIPT, None)
    r = taxi_ride_states(ride_ids=[ride.pk])[ride.pk]
    assert (r.reason, r.seller_id, r.tax_rate) == (Reason.ELIGIBLE, taxi_co.pk, Decimal("0.03"))
    hold(world, ItemKind.TAXI_RIDE, ride.pk)
    assert taxi_ride_states(ride_ids=[ride.pk])[ride.pk].reason == Reason.IN_DOCUMENT


# --- set-based: query count, agreement with the daily pick-up, plan ----------------------------------------------


@pytest.fixture
def many(world: dict[str, Any], buyer: Customer) -> list[int]:
    """500 segments on 50 prepaid cards, each bound with a title, and one invoiced top-up per card."""
    cards = [f"3201{n:016d}" for n in range(100, 150)]
    CardBinding.objects.bulk_create(CardBinding(customer=buyer, card_no=c, bound_at=at(1, month=10)) for c in cards)
    for c in cards:
        t = topup(world, when=at(1, 1), amount=3000, card_no=c)
        hold(world, ItemKind.TOPUP, t.pk, amount=3000)
    segments = [
        segment(world, exit_time=at(1 + i // 50, 10, i % 50), fee=1000 * (i % 3), card_no=cards[i % 50], save=False)
        for i in range(500)
    ]
    return [s.pk for s in Segment.objects.bulk_create(segments)]


def test_segment_states_take_a_constant_few_queries(many: list[int], django_assert_max_num_queries: Any) -> None:
    with django_assert_max_num_queries(5):
        states = segment_states(segment_ids=many, today=dt.date(2026, 11, 12))
    assert len(states) == 500
    assert {s.reason for s in states.values()} == {
        Reason.ELIGIBLE,
        Reason.ZERO_FEE,
        Reason.TOPUP_INVOICED,
        Reason.NOT_YET,
    }


def test_the_daily_pick_up_agrees_with_the_states(many: list[int]) -> None:
    today = dt.date(2026, 11, 12)
    states = segment_states(segment_ids=many, today=today)
    eligible = {k for k, v in states.items() if v.eligible}
    assert eligible
    assert {s.pk for s in invoiceable_segments(service_date_to=trip_cutoff(today))} == eligible
    assert invoiceable_segments(service_date_to=trip_cutoff(today), province="11").count() == 0
    assert len(invoiceable_segments(service_date_to=trip_cutoff(today), limit=3)) == 3


def test_invoiceable_segments_use_the_indexes(many: list[int]) -> None:
    qs = invoiceable_segments(
        service_date_to=dt.date(2026, 11, 5), service_date_from=dt.date(2026, 11, 1), require_buyer=False
    )
    card = Segment.objects.get(pk=many[0]).card_no
    with connection.cursor() as cursor:
        # the tables are tiny here, so a sequential scan wins: ask what the planner can use at scale
        # statistics of this test's rows, not of whatever autovacuum last saw in a database other tests fill
        # (rolled back with the test)
        cursor.execute("ANALYZE")
        cursor.execute("SET enable_seqscan = off; SET enable_indexscan = off")
        try:
            plan = qs.explain()
            # FIFO runs once per statement as a function (sql/functions.sql), planned apart: its own plan
            cursor.execute("EXPLAIN SELECT * FROM invoicing_fifo_matches(ARRAY[%s]::varchar[])", [card])
            fifo_plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan; RESET enable_indexscan")
    assert _index_used("segment_date_brin", plan)
    assert _index_used("document_item_one_live_per_item", plan)
    assert _index_used("segment_card_date_idx", fifo_plan) and _index_used("topup_card_time_idx", fifo_plan)


def _index_used(name: str, plan: str) -> bool:
    """Index ``name`` or, on a partitioned table (ADR 0010), one of its partitions' indexes appears in ``plan``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(c.relname) FROM pg_class c WHERE c.relname = %s OR c.oid IN"
            " (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)",
            [name, name],
        )
        (names,) = cursor.fetchone()
    return any(f" {index} " in f"{plan} ".replace("\n", " ") for index in names)
