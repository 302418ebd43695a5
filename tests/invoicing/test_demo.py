"""The demo seed: a small country that satisfies every invariant, the same for the same seed, and its command."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F
from django.test import Client
from django.urls import reverse

from invoicing.demo import DEMO_LOGINS, DemoDataExists, demo_seed
from invoicing.models import BuyerTitle, CardBinding, Customer
from piaogen.identifiers import (
    PROVINCE_NAMES,
    PlateColor,
    is_plate,
    is_resident_id,
    is_uscc,
    plate_kind,
)
from piaogen.models import User
from piaogen.money import parse_yuan
from tests.fixtures.shared import shared_world
from tolling.demo import (
    SEGMENT_CSV_HEADER,
    generate_trips,
    stored_cards,
    stored_units_by_province,
    trips_csv_text,
)
from tolling.models import (
    AuditCharge,
    AuditReason,
    Card,
    Operator,
    OperatorKind,
    PaperTicket,
    Segment,
    TaxiRide,
    TollUnit,
    TollUnitRate,
    TopUp,
    Trip,
    Vehicle,
)

TODAY = dt.date(2026, 11, 20)
SEGMENTS = 2_000


@shared_world
def seeded() -> dict[str, int]:
    return demo_seed(segments=SEGMENTS, seed=7, today=TODAY)


def _scalar(sql: str) -> object:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _snapshot() -> str:
    return str(
        _scalar(
            """
            SELECT md5(string_agg(concat_ws('|', s.pass_id, s.segment_no, s.card_no, s.plate, s.plate_color,
                                            u.code, s.entry_time, s.exit_time, s.pay_fee, s.discount_fee),
                                  ',' ORDER BY s.pass_id, s.segment_no))
              || md5((SELECT string_agg(concat_ws('|', name, phone, id_no), ',' ORDER BY phone)
                        FROM invoicing_customer))
              || md5((SELECT string_agg(concat_ws('|', card_no, holder_name, holder_id_no), ',' ORDER BY card_no)
                        FROM tolling_card))
              FROM tolling_segment s JOIN tolling_tollunit u ON u.id = s.toll_unit_id
            """
        )
    )


def test_it_returns_the_count_of_every_table(seeded: dict[str, int]) -> None:
    assert seeded["segments"] == Segment.objects.count() == SEGMENTS
    assert seeded["trips"] == Trip.objects.count()
    assert seeded["cards"] == Card.objects.count() == Vehicle.objects.count()
    assert seeded["customers"] == Customer.objects.count() == SEGMENTS // 20
    assert seeded["topups"] == TopUp.objects.count() == SEGMENTS // 10
    assert seeded["audit_charges"] == AuditCharge.objects.count() >= 10
    assert seeded["paper_tickets"] == PaperTicket.objects.count() >= 10
    assert seeded["taxi_rides"] == TaxiRide.objects.count() >= 10


def test_every_etc_province_has_road_operators_an_issuer_and_toll_units(seeded: dict[str, int]) -> None:
    for province in set(PROVINCE_NAMES) - {"46", "54"}:
        roads = Operator.objects.filter(province=province, kind=OperatorKind.ROAD_OPERATOR).count()
        assert 2 <= roads <= 4, province
        assert Operator.objects.filter(province=province, kind=OperatorKind.CARD_ISSUER).count() == 1
        assert 10 <= TollUnit.objects.filter(province=province).count() <= 30
        assert set(TollUnit.objects.filter(province=province).values_list("road_nature", flat=True)) == {1, 2}
    assert not TollUnit.objects.filter(province__in=["46", "54"]).exists()
    taxis = Operator.objects.filter(kind=OperatorKind.TAXI_COMPANY)
    assert taxis.count() >= 3
    assert set(taxis.values_list("tax_rate", flat=True)) == {Decimal("0.030")}


def test_all_taxpayer_ids_are_valid_unified_social_credit_codes(seeded: dict[str, int]) -> None:
    ids = [
        *Operator.objects.values_list("tax_id", flat=True),
        *Customer.objects.filter(kind="company").values_list("id_no", flat=True),
        *BuyerTitle.objects.exclude(tax_id="").values_list("tax_id", flat=True),
        *Card.objects.filter(holder_id_type="统一社会信用代码").values_list("holder_id_no", flat=True),
    ]
    assert len(ids) > 150
    assert [tax_id for tax_id in ids if not is_uscc(tax_id)] == []
    assert len(set(Operator.objects.values_list("tax_id", flat=True))) == Operator.objects.count()


def test_resident_ids_are_valid_and_phones_unique(seeded: dict[str, int]) -> None:
    ids = [
        *Card.objects.filter(holder_id_type="身份证").values_list("holder_id_no", flat=True),
        *Customer.objects.filter(kind="person").values_list("id_no", flat=True),
    ]
    assert len(ids) > 100
    assert [id_no for id_no in ids if not is_resident_id(id_no)] == []
    assert not Card.objects.filter(holder_name="").exists()
    assert not Card.objects.filter(holder_phone="").exists()


def test_card_numbers_start_with_their_province(seeded: dict[str, int]) -> None:
    for card_no, card_type, province, issuer_province in Card.objects.values_list(
        "card_no", "card_type", "province", "issuer__province"
    ):
        assert len(card_no) == 20 and card_no.isdigit()
        assert card_no[:2] == province == issuer_province
        assert card_type in (22, 23)
    assert set(Card.objects.values_list("card_type", flat=True)) == {22, 23}
    assert set(Segment.objects.values_list("card_type", flat=True)) == {22, 23}
    assert all(no[:2] in PROVINCE_NAMES for no in Segment.objects.values_list("card_no", flat=True).distinct())


def test_plates_come_in_every_colour_and_pass_the_lenient_check(seeded: dict[str, int]) -> None:
    vehicles = list(Vehicle.objects.values_list("plate", "plate_color"))
    assert {colour for _, colour in vehicles} == set(PlateColor.values)
    plates = [
        *(plate for plate, _ in vehicles),
        *PaperTicket.objects.values_list("plate", flat=True),
        *AuditCharge.objects.values_list("plate", flat=True),
        *TaxiRide.objects.values_list("taxi_plate", flat=True),
    ]
    assert [plate for plate in plates if not is_plate(plate)] == []
    assert all(plate_kind(plate) == "new_energy" for plate, colour in vehicles if colour in (4, 5, 11))
    assert any(plate.endswith("挂") for plate, colour in vehicles if colour == 1)
    # the plate's province character is that of the card's province (cross-border 粤Z plates aside)
    chars = dict(zip(PROVINCE_NAMES, "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新", strict=True))
    for plate, province in Card.objects.values_list("vehicle__plate", "province"):
        assert plate[0] == chars[province]


def test_vehicle_classes_are_mostly_passenger_cars_with_trucks_and_special_vehicles(seeded: dict[str, int]) -> None:
    classes = dict(
        Segment.objects.values_list("vehicle_class").annotate(n=Count("id")).values_list("vehicle_class", "n")
    )
    assert classes[1] > SEGMENTS / 3
    assert sum(n for c, n in classes.items() if 11 <= c <= 16) > 0
    assert Vehicle.objects.filter(vehicle_class__gte=21).exists()


def test_commercial_units_have_rates_and_loan_units_none(seeded: dict[str, int]) -> None:
    assert set(TollUnitRate.objects.values_list("tax_rate", flat=True)) == {
        Decimal("0.030"),
        Decimal("0.050"),
        Decimal("0.090"),
    }
    assert not TollUnitRate.objects.filter(toll_unit__road_nature=2).exists()
    assert not TollUnit.objects.filter(road_nature=1, rates__isnull=True).exists()
    changed = TollUnit.objects.annotate(n=Count("rates")).filter(n=2)
    assert changed.exists()
    for unit in changed:
        rates = list(unit.rates.order_by("valid_from"))
        assert rates[0].valid_from < rates[1].valid_from and rates[0].tax_rate != rates[1].tax_rate


def test_segment_money_and_times_are_consistent(seeded: dict[str, int]) -> None:
    assert not Segment.objects.exclude(fee=F("pay_fee") - F("discount_fee")).exists()
    assert not Segment.objects.filter(discount_fee__gt=F("pay_fee")).exists()
    assert Segment.objects.filter(discount_fee=0, pay_fee__gt=0).exists()  # no discount
    assert Segment.objects.filter(fee=0, pay_fee__gt=0).exists()  # green channel
    five_percent = Segment.objects.filter(pay_fee__gte=1000).exclude(discount_fee=0).exclude(fee=0)
    assert five_percent.exists()
    assert all(
        pay * 4 <= discount * 100 <= pay * 16 for pay, discount in five_percent.values_list("pay_fee", "discount_fee")
    )
    # the segment's province is its toll unit's; its service date the Beijing date of its exit
    assert not Segment.objects.exclude(province=F("toll_unit__province")).exists()
    assert (
        _scalar(
            "SELECT count(*) FROM tolling_segment WHERE service_date <> (exit_time AT TIME ZONE 'Asia/Shanghai')::date"
        )
        == 0
    )
    assert not Segment.objects.filter(exit_time__lt=F("entry_time")).exists()
    dates = Segment.objects.values_list("service_date", flat=True)
    assert TODAY - dt.timedelta(days=61) <= min(dates) and max(dates) < TODAY


def test_trips_have_one_to_five_segments_and_some_cross_provinces(seeded: dict[str, int]) -> None:
    per_trip = Segment.objects.values("pass_id").annotate(n=Count("id"), provinces=Count("province", distinct=True))
    assert {row["n"] for row in per_trip} <= {1, 2, 3, 4, 5}
    assert any(row["n"] >= 3 for row in per_trip)
    assert sum(row["provinces"] > 1 for row in per_trip) > 5


def test_trips_match_their_segments(seeded: dict[str, int]) -> None:
    mismatches = _scalar(
        """
        SELECT count(*) FROM tolling_trip t
          JOIN (SELECT pass_id, min(entry_time) AS entry_time, max(exit_time) AS exit_time,
                       count(DISTINCT (card_no, card_type, plate, plate_color, vehicle_class)) AS vehicles,
                       max(card_no) AS card_no, max(plate) AS plate, max(vehicle_class) AS vehicle_class,
                       (array_agg(service_date ORDER BY segment_no))[1] AS first_date,
                       array_agg(segment_no::int ORDER BY segment_no) AS numbers
                  FROM tolling_segment GROUP BY pass_id) s USING (pass_id)
         WHERE s.vehicles <> 1 OR t.entry_time <> s.entry_time OR t.exit_time <> s.exit_time
            OR t.card_no <> s.card_no OR t.plate <> s.plate OR t.vehicle_class <> s.vehicle_class
            OR t.service_date <> s.first_date
            OR s.numbers <> (SELECT array_agg(i) FROM generate_series(1, cardinality(s.numbers)) i)
        """
    )
    assert mismatches == 0
    assert Trip.objects.count() == Segment.objects.values("pass_id").distinct().count()


def test_customers_bind_most_cards_and_keep_title_versions(seeded: dict[str, int]) -> None:
    bound = CardBinding.objects.filter(unbound_at__isnull=True).values("card_no").distinct().count()
    assert 0.5 * Card.objects.count() < bound < Card.objects.count()
    assert set(Customer.objects.values_list("kind", flat=True)) == {"person", "company"}
    assert Customer.objects.exclude(email="").exists()
    assert not BuyerTitle.objects.filter(kind="company", tax_id="").exists()
    versions = BuyerTitle.objects.filter(card_no="").values("customer").annotate(n=Count("id"))
    assert all(row["n"] >= 1 for row in versions)
    assert Customer.objects.count() == versions.count()
    assert sum(row["n"] >= 2 for row in versions) > 5
    assert any(row["n"] == 3 for row in versions)
    assert BuyerTitle.objects.exclude(card_no="").exists()  # a card-specific title


def test_other_business_lines_are_filled(seeded: dict[str, int]) -> None:
    assert all(10_000 <= amount <= 200_000 for amount in TopUp.objects.values_list("amount", flat=True))
    prepaid = dict(Card.objects.values_list("card_no", "card_type"))
    issuers = dict(Card.objects.values_list("card_no", "issuer_id"))
    for card_no, issuer_id in TopUp.objects.values_list("card_no", "issuer_id"):
        assert prepaid[card_no] == 22 and issuers[card_no] == issuer_id
    assert set(AuditCharge.objects.values_list("reason", flat=True)) == set(AuditReason.values)
    linked = AuditCharge.objects.exclude(pass_id="")
    assert linked.exists() and AuditCharge.objects.filter(pass_id="").exists()
    assert set(linked.values_list("pass_id", flat=True)) <= set(Trip.objects.values_list("pass_id", flat=True))
    assert not AuditCharge.objects.exclude(province=F("toll_unit__province")).exists()
    assert set(PaperTicket.objects.values_list("pay_method", flat=True)) == {"CASH", "MOBILE"}
    assert not TaxiRide.objects.exclude(company__kind=OperatorKind.TAXI_COMPANY).exists()
    assert not TaxiRide.objects.exclude(province=F("company__province")).exists()


def test_it_is_deterministic_for_a_seed(seeded: dict[str, int]) -> None:
    first = _snapshot()
    assert demo_seed(segments=SEGMENTS, seed=7, today=TODAY, reset=True) == seeded
    assert _snapshot() == first
    demo_seed(segments=SEGMENTS, seed=8, today=TODAY, reset=True)
    assert _snapshot() != first


def test_seeding_twice_without_reset_raises(seeded: dict[str, int]) -> None:
    with pytest.raises(DemoDataExists):
        demo_seed(segments=100, seed=1)
    with pytest.raises(CommandError):
        call_command("seed_demo", "--segments", "100", stdout=io.StringIO())


def test_if_empty_seeds_once_and_then_does_nothing(db: None) -> None:
    out = io.StringIO()
    call_command("seed_demo", "--segments", "300", "--if-empty", stdout=out)
    assert "300" in out.getvalue() and "rows/s" in out.getvalue()
    assert Segment.objects.count() == 300
    out = io.StringIO()
    call_command("seed_demo", "--segments", "500", "--if-empty", stdout=out)
    assert "nothing seeded" in out.getvalue()
    assert Segment.objects.count() == 300


def test_the_demo_logins_work(db: None) -> None:
    out = io.StringIO()
    call_command("seed_demo", "--segments", "200", stdout=out)
    for login in DEMO_LOGINS:
        assert login.username in out.getvalue()
        response = Client().post(reverse("login"), {"username": login.username, "password": login.password})
        assert response.status_code == 302 and response["Location"] == reverse("home"), login.username
        user = User.objects.get(username=login.username)
        assert (user.role, user.province) == (login.role, login.province)


def test_generated_csv_rows_follow_the_upload_contract(seeded: dict[str, int]) -> None:
    units, cards = stored_units_by_province(["32"]), stored_cards()
    trips = list(
        generate_trips(
            rng=random.Random(1), units_by_province=units, cards=cards, segments=500, today=TODAY, pass_prefix="T"
        )
    )
    rows = list(csv.DictReader(io.StringIO(SEGMENT_CSV_HEADER + trips_csv_text(trips))))
    assert len(rows) == 500
    codes = set(TollUnit.objects.filter(province="32").values_list("code", flat=True))
    for row in rows:
        assert row["toll_unit"] in codes
        assert parse_yuan(row["fee"]) == parse_yuan(row["pay_fee"]) - parse_yuan(row["discount_fee"])
        assert dt.datetime.fromisoformat(row["entry_time"]) <= dt.datetime.fromisoformat(row["exit_time"])
        assert len(row["card_no"]) == 20 and is_plate(row["plate"])


def test_the_demo_keeps_prepaid_cards_of_both_invoicing_choices(seeded: dict[str, int]) -> None:
    from invoicing.models import CardPrepaidChoice, PrepaidChoice

    at_topup = set(CardPrepaidChoice.objects.values_list("card_no", flat=True))
    prepaid = set(Card.objects.filter(card_type=22).values_list("card_no", flat=True))
    assert seeded["prepaid_choices"] == len(at_topup) > 0
    assert set(CardPrepaidChoice.objects.values_list("choice", flat=True)) == {PrepaidChoice.AT_TOPUP}
    assert at_topup < prepaid and prepaid - at_topup  # the others are invoiced per trip (no choice: the default)
