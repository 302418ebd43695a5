"""Back-charges, paper tickets and taxi rides grouped into documents by the SQL statements of
``invoicing/issuing/sql/`` (the trips' grouping): every field of every document, line, item and event against
documents computed by hand from domain.md §2–§4 (sellers, kinds, rates, the tax split per line after aggregation,
lines by plate and vehicle type with the date range, documents in (kind, seller, title, rate) order and numbered in
that order, a group over ``SAFE_LINES_PER_INVOICE`` lines split); and the grouping statements run as they stand."""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction

from invoicing.eligibility import beijing_today
from invoicing.issuing import IssuingError, grouping, issue_audit_charges, issue_paper_tickets, issue_taxi_rides
from invoicing.issuing.grouping import SQL_DIR
from invoicing.models import (
    BusinessLine,
    BuyerTitle,
    Customer,
    Document,
    DocumentItem,
    DocumentKind,
    ItemKind,
    NumberSeries,
)
from invoicing.tax import SAFE_LINES_PER_INVOICE
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

R3, R5, R9 = Decimal("0.03"), Decimal("0.05"), Decimal("0.09")
TOLL, FISCAL, TAXI = "*经营租赁*通行费", "车辆通行费", "*运输服务*客运服务费"
D = dt.date


@pytest.fixture
def w(world: dict[str, Any]) -> dict[str, Any]:
    """The issuing world plus a 9 % unit of the road operator and two taxi companies (3 % and 9 %)."""
    nine = TollUnit.objects.create(
        code="G0002320010010A0", name="京沪1", province="32", operator=world["road"], road_nature=RoadNature.COMMERCIAL
    )
    TollUnitRate.objects.create(toll_unit=nine, tax_rate=R9, valid_from=D(2020, 1, 1))
    taxis = [
        Operator.objects.create(kind=OperatorKind.TAXI_COMPANY, tax_id=tax_id, name=name, province="32", tax_rate=rate)
        for tax_id, name, rate in (
            ("91320100000000009X", "南京出租汽车有限公司", R3),
            ("91320100000000008X", "苏州出租汽车有限公司", R9),
        )
    ]
    return {**world, "nine": nine, "taxi3": taxis[0], "taxi9": taxis[1]}


def charge(
    w: dict[str, Any], unit: str, amount: int, day: int, *, plate: str = "苏A12345", card: str = POST_CARD
) -> int:
    n = AuditCharge.objects.count() + 1
    return AuditCharge.objects.create(
        charge_id=f"AC{n}",
        service_date=D(2026, 11, day),
        card_no=card,
        plate=plate,
        plate_color=0,
        toll_unit=w[unit],
        province="32",
        reason=AuditReason.CLASS,
        amount=amount,
        paid_at=at(day),
    ).pk


def ticket(w: dict[str, Any], unit: str, amount: int, day: int, vehicle_class: int) -> int:
    n = PaperTicket.objects.count() + 1
    return PaperTicket.objects.create(
        ticket_no=f"PT{n}",
        service_date=D(2026, 11, day),
        toll_unit=w[unit],
        province="32",
        plate="苏B54321",
        plate_color=0,
        vehicle_class=vehicle_class,
        exit_time=at(day),
        amount=amount,
        pay_method=PayMethod.CASH,
    ).pk


def ride(w: dict[str, Any], company: str, amount: int, day: int, plate: str) -> int:
    n = TaxiRide.objects.count() + 1
    start = dt.datetime(2026, 11, day, 9, tzinfo=BJ)
    return TaxiRide.objects.create(
        ride_id=f"R{n}",
        service_date=D(2026, 11, day),
        company=w[company],
        province="32",
        taxi_plate=plate,
        start_time=start,
        end_time=start + dt.timedelta(minutes=30),
        distance_m=12000,
        amount=amount,
    ).pk


def digital(seq: int) -> tuple[str, str]:
    """(code, number) of the seq-th 数电 invoice of Jiangsu this year: yy + 32 + channel 1 + 15 digits."""
    return "", f"{beijing_today().year % 100:02d}321{seq:015d}"


def fiscal(seq: int) -> tuple[str, str]:
    """(code, number) of the seq-th fiscal e-receipt of Jiangsu this year: 32 02 99 yy, 10 digits."""
    return f"320299{beijing_today().year % 100:02d}", f"{seq:010d}"


def snapshot(doc: Document) -> dict[str, Any]:
    """Everything issuing wrote for a document, lines by number, items by line and id."""
    lines = list(doc.lines.order_by("line_no"))
    numbers = {line.pk: line.line_no for line in lines}
    return {
        "document": (
            doc.kind,
            doc.business_line,
            doc.status,
            doc.seller_id,
            doc.seller_name,
            doc.seller_tax_id,
            doc.province,
            doc.title_id,
            doc.customer_id,
            doc.buyer_name,
            doc.card_no,
            doc.tax_rate,
            doc.amount_net,
            doc.amount_tax,
            doc.amount_gross,
            doc.period_start,
            doc.period_end,
            doc.is_merged,
            doc.service_date,
            (doc.code, doc.number),
            doc.original_id,
            doc.replaces_id,
            doc.run_id,
        ),
        "lines": [
            (
                line.line_no,
                line.item_name,
                line.plate,
                line.vehicle_type,
                line.date_from,
                line.date_to,
                line.tax_rate,
                line.amount_net,
                line.amount_tax,
                line.amount_gross,
                line.service_date,
                line.card_no,
            )
            for line in lines
        ],
        "items": sorted(
            (numbers[i.line_id], i.item_kind, i.item_id, i.amount, i.service_date, i.card_no, i.live)
            for i in doc.items.all()
        ),
        "events": [(e.kind, e.by_id, e.data) for e in doc.events.order_by("id")],
    }


def expected(
    w: dict[str, Any],
    *,
    kind: str,
    line: str,
    seller: str,
    title: BuyerTitle,
    card: str,
    rate: Decimal | None,
    numbered: tuple[str, str],
    lines: list[tuple[str, str, D, D, int, int, int]],
    items: list[tuple[int, str, int, int, D, str]],
    by: User | None,
) -> dict[str, Any]:
    """A document by hand: ``lines`` as (plate, vehicle type, from, to, net, tax, gross), the item name and the
    totals follow from the kind; ``items`` as (line no, kind, id, amount, service date, card)."""
    operator = w[seller]
    item_name = FISCAL if kind == DocumentKind.FISCAL_RECEIPT else TAXI if line == BusinessLine.TAXI else TOLL
    today = beijing_today()
    net, tax, gross = (sum(values) for values in zip(*(row[4:] for row in lines), strict=True))
    first, last = min(row[2] for row in lines), max(row[3] for row in lines)
    return {
        "document": (
            kind,
            line,
            "issued",
            operator.pk,
            operator.name,
            operator.tax_id,
            "32",
            title.pk,
            title.customer_id,
            title.name,
            card,
            rate,
            net,
            tax,
            gross,
            first,
            last,
            False,
            today,
            numbered,
            None,
            None,
            None,
        ),
        "lines": [
            (no, item_name, plate, vtype, date_from, date_to, rate, n, t, g, today, card)
            for no, (plate, vtype, date_from, date_to, n, t, g) in enumerate(lines, start=1)
        ],
        "items": sorted((*item, True) for item in items),
        "events": [("issued", by.pk if by is not None else None, {"items": len(items)})],
    }


def test_back_charges_are_grouped_like_segments_of_their_units(w: dict[str, Any], agent: User) -> None:
    nine_a = charge(w, "nine", 10000, 3)
    bridge = charge(w, "bridge", 4560, 4)  # 45.60 @ 5 % → 43.43 + 2.17
    loan = charge(w, "loan", 4560, 4, plate="苏B00001")
    commercial = charge(w, "commercial", 23276, 5)  # 232.76 @ 3 % → 225.98 + 6.78
    nine_b = charge(w, "nine", 5000, 5)  # same plate, same unit: one line of 150.00
    nine_c = charge(w, "nine", 100, 3, plate="苏C99999")  # 1.00 @ 9 % → 0.92 + 0.08, the 9 % document's 2nd line
    unbound = charge(w, "nine", 700, 6, card="")  # no card: no buyer, not issued without a claim
    t, A = w["title"], ItemKind.AUDIT_CHARGE
    nov = D(2026, 11, 1).replace

    docs = issue_audit_charges(charge_ids=[nine_a, bridge, loan, commercial, nine_b, nine_c, unbound], by=agent)

    common = {"line": BusinessLine.AUDIT, "title": t, "card": POST_CARD, "by": agent}
    # documents in (kind, seller, title, rate) order, rate none first; 数电 numbered 1, 2, 3, the fiscal receipt 1
    assert [snapshot(doc) for doc in docs] == [
        expected(
            w,
            **common,
            kind=DocumentKind.DIGITAL_INVOICE,
            seller="road",
            rate=R3,
            numbered=digital(1),
            lines=[("苏A12345", "", nov(day=5), nov(day=5), 22598, 678, 23276)],
            items=[(1, A, commercial, 23276, nov(day=5), POST_CARD)],
        ),
        expected(
            w,
            **common,
            kind=DocumentKind.DIGITAL_INVOICE,
            seller="road",
            rate=R9,
            numbered=digital(2),
            # 150.00 @ 9 %: 15000 / 1.09 = 13761.47 → 13761 + 1239
            lines=[
                ("苏A12345", "", nov(day=3), nov(day=5), 13761, 1239, 15000),
                ("苏C99999", "", nov(day=3), nov(day=3), 92, 8, 100),
            ],
            items=[
                (1, A, nine_a, 10000, nov(day=3), POST_CARD),
                (1, A, nine_b, 5000, nov(day=5), POST_CARD),
                (2, A, nine_c, 100, nov(day=3), POST_CARD),
            ],
        ),
        expected(
            w,
            **common,
            kind=DocumentKind.DIGITAL_INVOICE,
            seller="other",
            rate=R5,
            numbered=digital(3),
            lines=[("苏A12345", "", nov(day=4), nov(day=4), 4343, 217, 4560)],
            items=[(1, A, bridge, 4560, nov(day=4), POST_CARD)],
        ),
        expected(
            w,
            **common,
            kind=DocumentKind.FISCAL_RECEIPT,
            seller="road",
            rate=None,
            numbered=fiscal(1),
            lines=[("苏B00001", "", nov(day=4), nov(day=4), 4560, 0, 4560)],
            items=[(1, A, loan, 4560, nov(day=4), POST_CARD)],
        ),
    ]
    assert [doc.pk for doc in docs] == sorted(doc.pk for doc in docs)  # ids drawn in document order


def test_a_claim_gives_back_charges_its_title_and_a_document_of_two_cards_no_card(w: dict[str, Any]) -> None:
    other = Customer.objects.create(name="李四", phone="13800000002")
    title = BuyerTitle.objects.create(customer=other, kind="person", name="李四", valid_from=at(1, month=10))
    carded = charge(w, "nine", 10900, 3)
    cardless = charge(w, "nine", 1090, 4, card="")
    nov = D(2026, 11, 1).replace
    A = ItemKind.AUDIT_CHARGE

    (doc,) = issue_audit_charges(charge_ids=[carded, cardless], title=title)

    assert snapshot(doc) == expected(
        w,
        kind=DocumentKind.DIGITAL_INVOICE,
        line=BusinessLine.AUDIT,
        seller="road",
        title=title,
        card="",
        rate=R9,
        numbered=digital(1),
        lines=[("苏A12345", "", nov(day=3), nov(day=4), 11000, 990, 11990)],
        items=[(1, A, carded, 10900, nov(day=3), POST_CARD), (1, A, cardless, 1090, nov(day=4), "")],
        by=None,
    )


def test_paper_tickets_are_lined_by_plate_and_vehicle_type_for_the_claiming_title(
    w: dict[str, Any], agent: User
) -> None:
    truck = ticket(w, "nine", 6000, 3, vehicle_class=11)
    car = ticket(w, "nine", 4000, 4, vehicle_class=1)
    truck_again = ticket(w, "nine", 1000, 5, vehicle_class=11)
    loan = ticket(w, "loan", 3500, 4, vehicle_class=1)
    too_young = ticket(w, "nine", 800, 18, vehicle_class=11)  # day 7 not reached on 11-20
    nov = D(2026, 11, 1).replace
    P, t = ItemKind.PAPER_TICKET, w["title"]

    docs = issue_paper_tickets(
        ticket_ids=[truck, car, truck_again, loan, too_young], title=t, by=agent, today=D(2026, 11, 20)
    )

    common = {"line": BusinessLine.PAPER, "title": t, "card": "", "by": agent, "seller": "road"}
    assert [snapshot(doc) for doc in docs] == [
        expected(
            w,
            **common,
            kind=DocumentKind.DIGITAL_INVOICE,
            rate=R9,
            numbered=digital(1),
            # 70.00 @ 9 % → 64.22 + 5.78; 40.00 @ 9 % → 36.70 + 3.30
            lines=[
                ("苏B54321", "货车", nov(day=3), nov(day=5), 6422, 578, 7000),
                ("苏B54321", "客车", nov(day=4), nov(day=4), 3670, 330, 4000),
            ],
            items=[
                (1, P, truck, 6000, nov(day=3), ""),
                (1, P, truck_again, 1000, nov(day=5), ""),
                (2, P, car, 4000, nov(day=4), ""),
            ],
        ),
        expected(
            w,
            **common,
            kind=DocumentKind.FISCAL_RECEIPT,
            rate=None,
            numbered=fiscal(1),
            lines=[("苏B54321", "客车", nov(day=4), nov(day=4), 3500, 0, 3500)],
            items=[(1, P, loan, 3500, nov(day=4), "")],
        ),
    ]


def test_taxi_rides_are_grouped_by_company_and_rate_and_lined_by_taxi_plate(w: dict[str, Any], agent: User) -> None:
    first = ride(w, "taxi3", 10300, 4, "苏A T1234")
    nine = ride(w, "taxi9", 10900, 4, "苏E T5678")
    again = ride(w, "taxi3", 2060, 5, "苏A T1234")
    other_plate = ride(w, "taxi3", 515, 4, "苏A T0001")
    nov = D(2026, 11, 1).replace
    X, t = ItemKind.TAXI_RIDE, w["title"]

    docs = issue_taxi_rides(ride_ids=[first, nine, again, other_plate], title=t, by=agent)

    common = {"line": BusinessLine.TAXI, "title": t, "card": "", "by": agent, "kind": DocumentKind.DIGITAL_INVOICE}
    assert [snapshot(doc) for doc in docs] == [
        expected(
            w,
            **common,
            seller="taxi3",
            rate=R3,
            numbered=digital(1),
            # 123.60 @ 3 % → 120.00 + 3.60; 5.15 @ 3 % → 5.00 + 0.15
            lines=[
                ("苏A T1234", "", nov(day=4), nov(day=5), 12000, 360, 12360),
                ("苏A T0001", "", nov(day=4), nov(day=4), 500, 15, 515),
            ],
            items=[
                (1, X, first, 10300, nov(day=4), ""),
                (1, X, again, 2060, nov(day=5), ""),
                (2, X, other_plate, 515, nov(day=4), ""),
            ],
        ),
        expected(
            w,
            **common,
            seller="taxi9",
            rate=R9,
            numbered=digital(2),
            lines=[("苏E T5678", "", nov(day=4), nov(day=4), 10000, 900, 10900)],
            items=[(1, X, nine, 10900, nov(day=4), "")],
        ),
    ]


def test_a_taxi_company_rate_outside_the_toll_rates_refuses_the_call(w: dict[str, Any]) -> None:
    w["taxi3"].tax_rate = Decimal("0.06")
    w["taxi3"].save()
    r = ride(w, "taxi3", 10600, 4, "苏A T1234")

    with pytest.raises(IssuingError) as refused:
        issue_taxi_rides(ride_ids=[r], title=w["title"])

    assert refused.value.code == "unsupported_rate"
    assert not Document.objects.exists()


def test_more_lines_than_one_document_may_hold_are_split_over_documents_in_line_order(w: dict[str, Any]) -> None:
    ids = [charge(w, "nine", 100, 3, plate=f"苏A{n:05d}") for n in range(SAFE_LINES_PER_INVOICE + 1)]

    docs = issue_audit_charges(charge_ids=ids)

    assert [(doc.number, doc.lines.count(), doc.amount_gross) for doc in docs] == [
        (digital(1)[1], SAFE_LINES_PER_INVOICE, 100 * SAFE_LINES_PER_INVOICE),
        (digital(2)[1], 1, 100),
    ]
    (last,) = docs[1].lines.all()
    assert (last.line_no, last.plate, last.amount_net, last.amount_tax) == (
        1,
        f"苏A{SAFE_LINES_PER_INVOICE:05d}",
        92,
        8,
    )


# --- exactly once -------------------------------------------------------------------------------------------------


def test_a_lost_race_on_back_charges_is_retried_without_the_taken_charge(
    w: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose eligibility read is stale (another worker issued one of its charges since) fails on the
    partial unique index, rolls the attempt back (numbers included) and tries again without that charge."""
    taken = charge(w, "nine", 10900, 3)
    free = charge(w, "nine", 2180, 3, plate="苏C00001")
    (first,) = issue_audit_charges(charge_ids=[taken])
    real = grouping.statement
    calls: list[str] = []

    def stale_once(name: str, **values: Any) -> tuple[str, list[Any]]:
        sql, params = real(name, **values)
        calls.append(name)
        if len(calls) > 1:
            return sql, params
        # the first read still sees ``taken`` as free: its blockers as they were before ``first`` was issued
        columns = "id, card_no, paid_at, amount, service_date, nature, seller, rate, customer_id, title_id"
        return f"SELECT {columns}, '{{}}'::text[] AS blockers FROM ({sql}) st", params  # noqa: S608  (our statement)

    monkeypatch.setattr(grouping, "statement", stale_once)

    (second,) = issue_audit_charges(charge_ids=[taken, free])

    assert calls == ["audit_charge_states.sql"] * 2
    assert (second.amount_gross, second.amount_net, second.amount_tax) == (2180, 2000, 180)
    assert list(DocumentItem.objects.filter(item_id=taken, live=True).values_list("document_id", flat=True)) == [
        first.pk
    ]
    assert sorted(Document.objects.values_list("number", flat=True)) == [digital(1)[1], digital(2)[1]]
    assert NumberSeries.objects.get().next_value == 3  # the failed attempt's number went back


@pytest.mark.django_db(transaction=True)
def test_four_threads_claiming_overlapping_items_issue_each_exactly_once(w: dict[str, Any]) -> None:
    charges = [charge(w, "nine", 100 + n, 3 + n % 5, plate=f"苏A{n % 7:05d}") for n in range(60)]
    tickets = [ticket(w, "nine" if n % 3 else "loan", 200 + n, 3 + n % 5, 11 if n % 2 else 1) for n in range(60)]
    rides = [ride(w, "taxi3" if n % 2 else "taxi9", 300 + n, 4, f"苏A T{n % 5:04d}") for n in range(60)]
    title, rng = w["title"], random.Random(3)
    calls: list[tuple[Callable[..., list[Document]], str, list[int], dict[str, Any]]] = [
        (issue_audit_charges, "charge_ids", charges, {}),
        (issue_paper_tickets, "ticket_ids", tickets, {"title": title, "today": D(2026, 11, 20)}),
        (issue_taxi_rides, "ride_ids", rides, {"title": title}),
    ]
    plans = [[list(ids)] + [rng.sample(ids, k=40) for _ in range(3)] for _issue, _key, ids, _extra in calls]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(thread: int) -> None:
        try:
            barrier.wait()
            for (issue, key, _ids, extra), plan in zip(calls, plans, strict=True):
                ids = plan[thread]
                for start in range(0, len(ids), 10):
                    issue(**{key: ids[start : start + 10]}, **extra)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert errors == []
    for kind, ids in ((ItemKind.AUDIT_CHARGE, charges), (ItemKind.PAPER_TICKET, tickets), (ItemKind.TAXI_RIDE, rides)):
        live = list(DocumentItem.objects.filter(item_kind=kind, live=True).values_list("item_id", flat=True))
        assert sorted(live) == sorted(ids), f"every {kind} in exactly one live document"
    numbers = [int(n) for n in Document.objects.filter(code="").values_list("number", flat=True)]
    receipts = [int(n) for n in Document.objects.exclude(code="").values_list("number", flat=True)]
    assert sorted(n % 10**15 for n in numbers) == list(range(1, len(numbers) + 1))  # gapless, each once
    assert sorted(receipts) == list(range(1, len(receipts) + 1))
    gross = sum(Document.objects.values_list("amount_gross", flat=True))
    assert gross == sum(range(100, 160)) + sum(range(200, 260)) + sum(range(300, 360))


# --- the grouping statements, as they stand -------------------------------------------------------------------

PARAMETER = re.compile(r"%\((\w+)\)s")


def run_file(name: str, **values: Any) -> list[tuple[Any, ...]]:
    """``sql/<name>`` run as it stands with its named parameters (what a reader does in psql)."""
    text = (SQL_DIR / name).read_text()
    with connection.cursor() as cursor:
        cursor.execute(text, {key: values[key] for key in set(PARAMETER.findall(text))})
        return list(cursor.fetchall()) if cursor.description else []


def test_the_grouping_statements_run_as_they_stand_on_rows_of_any_kind(w: dict[str, Any]) -> None:
    road, other = w["road"].pk, w["other"].pk
    rows = [  # id, card, date, amount, plate, vtype, seller, title, kind, rate
        (1, "c1", "2026-11-03", 10000, "苏A1", "", road, 7, "invoice", "0.09"),
        (2, "c1", "2026-11-05", 5000, "苏A1", "", road, 7, "invoice", "0.09"),
        (3, "c1", "2026-11-04", 4560, "苏A1", "", other, 7, "invoice", "0.05"),
        (4, "c2", "2026-11-04", 3500, "苏A1", "", road, 7, "receipt", None),
        (5, "c2", "2026-11-03", 100, "苏B2", "", road, 7, "invoice", "0.09"),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE issue_rows (id bigint, card_no varchar, service_date date, amount bigint, "
            "plate varchar, vtype varchar, seller bigint, title_id bigint, kind varchar, rate numeric) ON COMMIT DROP"
        )
        cursor.executemany("INSERT INTO issue_rows VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        run_file("lines.sql", lines_per_document=1)  # one line a document: the 9 % group splits in two
        run_file("documents.sql")
        counts = sorted(run_file("series_counts.sql"))
        cursor.execute(
            "SELECT grp, part, line_no, plate, gross, net, date_from, date_to FROM issue_lines ORDER BY 1, 2"
        )
        lines = cursor.fetchall()
        cursor.execute("SELECT grp, part, kind, seller, gross, net, card_no, n FROM issue_docs ORDER BY id")
        docs = cursor.fetchall()

    assert counts == [("invoice", "32", 3), ("receipt", "32", 1)]
    nov = D(2026, 11, 1).replace
    assert lines == [
        (1, 0, 1, "苏A1", 15000, 13761, nov(day=3), nov(day=5)),
        (1, 1, 1, "苏B2", 100, 92, nov(day=3), nov(day=3)),
        (2, 0, 1, "苏A1", 4560, 4343, nov(day=4), nov(day=4)),
        (3, 0, 1, "苏A1", 3500, 3500, nov(day=4), nov(day=4)),
    ]
    assert docs == [
        (1, 0, "invoice", road, 15000, 13761, "c1", 1),
        (1, 1, "invoice", road, 100, 92, "c2", 2),
        (2, 0, "invoice", other, 4560, 4343, "c1", 3),
        (3, 0, "receipt", road, 3500, 3500, "c2", 1),
    ]


def test_every_row_statement_nests_its_item_kinds_eligibility_statement() -> None:
    names = sorted(path.name for path in SQL_DIR.glob("*_rows.sql"))

    assert names == ["audit_charge_rows.sql", "paper_ticket_rows.sql", "segment_rows.sql", "taxi_ride_rows.sql"]
    assert all((SQL_DIR / name).read_text().count("({states})") == 1 for name in names)
