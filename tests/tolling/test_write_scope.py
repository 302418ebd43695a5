"""The write matrix (issue #18): a province (Zhejiang, 33) naming another province's (Jiangsu, 32) keys in any
upload kind, the upload API or the console changes nothing of Jiangsu's and learns nothing of it — the answer is
the one it gets for a key that does not exist (or, for the national pass-id registry, one neutral reason that it
also gets for its own inconsistent rows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.utils import timezone
from ingest_fixtures import (
    CARD,
    ISSUER_TAX_ID,
    ROAD_TAX_ID,
    TAXI_TAX_ID,
    UNIT,
    csv_bytes,
    ingest,
    row,
    units_create,
)
from rest_framework.test import APIClient

from piaogen.models import Role, User
from tolling.importing.conflicts import taken_reason
from tolling.models import (
    AuditCharge,
    Operator,
    PaperTicket,
    RejectedRow,
    Segment,
    TaxiRide,
    TollUnit,
    TopUp,
    Trip,
    UploadBatch,
)

ZJ = "33"
ZJ_UNIT = "G001533001001001"  # units_create's Zhejiang unit
ZJ_CARD = "33011901230000654321"
ZJ_PREPAID = "33011901220000654321"

pytestmark = pytest.mark.django_db(transaction=True)  # the loader works on connections of its own


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    units_create()
    return make_staff(Role.PROVINCE, "32", username="js")


@pytest.fixture
def zhejiang(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, ZJ, username="zj")


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of Jiangsu's, as stored."""
    tables: dict[str, Any] = {
        "operators": Operator.objects.filter(province="32"),
        "units": TollUnit.objects.filter(province="32"),
        "segments": Segment.objects.filter(province="32"),
        "trips": Trip.objects.filter(card_no__startswith="32"),
        "topups": TopUp.objects.filter(province="32"),
        "charges": AuditCharge.objects.filter(province="32"),
        "tickets": PaperTicket.objects.filter(province="32"),
        "rides": TaxiRide.objects.filter(province="32"),
    }
    return {name: [model_to_dict(obj) for obj in qs.order_by("pk")] for name, qs in tables.items()}


def answer(batch: UploadBatch) -> tuple[Any, ...]:
    """What the uploader learns: status, counts, and the reasons of each rejected row."""
    reasons = list(RejectedRow.objects.filter(batch=batch).order_by("line_no").values_list("line_no", "reasons"))
    return (
        batch.status,
        batch.rows_total,
        batch.rows_accepted,
        batch.rows_duplicate,
        batch.rows_rejected,
        batch.rows_conflict,
        reasons,
    )


def zj(kind: str, **changes: str) -> dict[str, str]:
    """A valid Zhejiang row of ``kind``."""
    base: dict[str, dict[str, str]] = {
        "segments": {"card_no": ZJ_CARD, "plate": "浙A12345", "toll_unit": ZJ_UNIT, "pass_id": "G3301ZJ0001"},
        "topups": {"card_no": ZJ_PREPAID, "issuer_name": "浙江发行方"},
        "audit_charges": {"card_no": ZJ_CARD, "plate": "浙A12345", "toll_unit": ZJ_UNIT, "pass_id": ""},
        "paper_tickets": {"toll_unit": ZJ_UNIT, "plate": "浙A12345"},
        "taxi_rides": {"company_name": "杭州出租"},
        "toll_units": {"toll_unit": "G001533001009999", "province": ZJ, "operator_name": "浙江某路段业主"},
    }
    return row(kind, **{**base[kind], **changes})


# --- natural keys per province: the other province's key is answered like a new one ------------------------------


@pytest.mark.parametrize(
    ("kind", "key"),
    [("topups", "topup_id"), ("audit_charges", "charge_id"), ("paper_tickets", "ticket_no"), ("taxi_rides", "ride_id")],
)
def test_a_key_of_another_province_is_answered_like_an_unknown_one_and_changes_nothing(
    jiangsu: User, zhejiang: User, kind: str, key: str
) -> None:
    ingest(jiangsu, kind, csv_bytes([row(kind)], kind=kind))
    before = snapshot()

    taken = ingest(zhejiang, kind, csv_bytes([zj(kind)], kind=kind), province=ZJ)  # Jiangsu's key
    unknown = ingest(zhejiang, kind, csv_bytes([zj(kind, **{key: "NEW0001"})], kind=kind), province=ZJ)

    assert answer(taken) == answer(unknown) == ("done", 1, 1, 0, 0, 0, [])
    assert snapshot() == before


def test_a_province_names_another_provinces_sellers_only_as_its_own(jiangsu: User, zhejiang: User) -> None:
    """Probe finding 1: the operator, top-up issuer and taxi company are looked up in the uploader's province."""
    ingest(jiangsu, "topups", csv_bytes([row("topups")], kind="topups"))
    ingest(jiangsu, "taxi_rides", csv_bytes([row("taxi_rides")], kind="taxi_rides"))
    before = snapshot()

    unit = ingest(
        zhejiang,
        "toll_units",
        csv_bytes([zj("toll_units", operator_tax_id=ROAD_TAX_ID)], kind="toll_units"),
        province=ZJ,
    )
    topup = ingest(
        zhejiang,
        "topups",
        csv_bytes([zj("topups", issuer_tax_id=ISSUER_TAX_ID, topup_id="Z1")], kind="topups"),
        province=ZJ,
    )
    ride = ingest(
        zhejiang,
        "taxi_rides",
        csv_bytes([zj("taxi_rides", company_tax_id=TAXI_TAX_ID, ride_id="Z1")], kind="taxi_rides"),
        province=ZJ,
    )

    assert [answer(b)[:6] for b in (unit, topup, ride)] == [("done", 1, 1, 0, 0, 0)] * 3
    assert TollUnit.objects.get(code="G001533001009999").operator.province == ZJ
    assert TopUp.objects.get(topup_id="Z1", province=ZJ).issuer.province == ZJ
    assert TaxiRide.objects.get(ride_id="Z1", province=ZJ).company.province == ZJ
    assert set(Operator.objects.filter(tax_id__in=[ROAD_TAX_ID, TAXI_TAX_ID]).values_list("province", flat=True)) == {
        "32",
        ZJ,
    }
    assert snapshot() == before


def test_a_toll_unit_code_of_another_province_gets_one_reason_whether_it_exists_or_not(
    jiangsu: User, zhejiang: User
) -> None:
    before = snapshot()

    existing = ingest(
        zhejiang, "toll_units", csv_bytes([zj("toll_units", toll_unit=UNIT)], kind="toll_units"), province=ZJ
    )
    unknown = ingest(
        zhejiang,
        "toll_units",
        csv_bytes([zj("toll_units", toll_unit="G001532009999998")], kind="toll_units"),
        province=ZJ,
    )

    assert answer(existing) == answer(unknown)
    assert answer(existing)[4] == 1 and "本省代码（33）" in answer(existing)[6][0][1][0]
    assert snapshot() == before


def test_a_segment_on_another_provinces_toll_unit_gets_one_reason_whether_it_exists_or_not(
    jiangsu: User, zhejiang: User
) -> None:
    existing = ingest(zhejiang, "segments", csv_bytes([zj("segments", toll_unit=UNIT)]), province=ZJ)
    unknown = ingest(zhejiang, "segments", csv_bytes([zj("segments", toll_unit="G001532009999998")]), province=ZJ)

    assert answer(existing) == answer(unknown) and answer(existing)[4] == 1


def test_a_top_up_of_another_provinces_card_gets_one_reason_whether_the_card_exists_or_not(
    jiangsu: User, zhejiang: User
) -> None:
    ingest(jiangsu, "topups", csv_bytes([row("topups")], kind="topups"))  # registers nothing: cards come with trips
    ingest(jiangsu, "segments", csv_bytes([row("segments", card_no="32011901220000123456", card_type="22")]))

    existing = ingest(
        zhejiang, "topups", csv_bytes([zj("topups", card_no="32011901220000123456")], kind="topups"), province=ZJ
    )
    unknown = ingest(
        zhejiang, "topups", csv_bytes([zj("topups", card_no="32011901220000999999")], kind="topups"), province=ZJ
    )

    assert answer(existing) == answer(unknown) and answer(existing)[4] == 1


# --- the national pass-id registry: never merged, never a duplicate, one neutral reason ---------------------------


def test_a_pass_id_of_another_province_with_another_card_is_refused_not_merged(jiangsu: User, zhejiang: User) -> None:
    """Probe finding 2: the row used to widen Jiangsu's trip and make its header readable to Zhejiang."""
    ingest(jiangsu, "segments", csv_bytes([row("segments")]))
    before = snapshot()
    pass_id = row("segments")["pass_id"]
    hostile = zj("segments", pass_id=pass_id, entry_time="2025-12-31 01:00:00", exit_time="2026-01-02 23:00:00")

    batch = ingest(
        zhejiang, "segments", csv_bytes([hostile, zj("segments", pass_id=pass_id, segment_no="7")]), province=ZJ
    )

    assert answer(batch) == ("done", 2, 0, 0, 2, 2, [(2, [taken_reason()]), (3, [taken_reason()])])
    assert snapshot() == before
    assert not Segment.objects.filter(province=ZJ).exists()


def test_another_provinces_segment_key_is_refused_never_counted_as_a_duplicate(jiangsu: User, zhejiang: User) -> None:
    """Same card and vehicle (a passage going on into Zhejiang), but Jiangsu's segment number."""
    ingest(jiangsu, "segments", csv_bytes([row("segments")]))
    before = snapshot()
    same_vehicle = {"card_no": CARD, "plate": row("segments")["plate"], "pass_id": row("segments")["pass_id"]}

    batch = ingest(zhejiang, "segments", csv_bytes([zj("segments", **same_vehicle)]), province=ZJ)

    assert answer(batch) == ("done", 1, 0, 0, 1, 1, [(2, [taken_reason()])])
    assert snapshot() == before


def test_the_neutral_reason_is_the_one_a_province_gets_for_its_own_inconsistent_rows(zhejiang: User) -> None:
    units_create()
    ingest(zhejiang, "segments", csv_bytes([zj("segments")]), province=ZJ)

    batch = ingest(
        zhejiang, "segments", csv_bytes([zj("segments", segment_no="2", card_no="33011901230000999999")]), province=ZJ
    )

    assert answer(batch)[6] == [(2, [taken_reason()])]
    assert taken_reason() and "32" not in taken_reason() and "江苏" not in taken_reason()


def test_a_passage_going_on_into_the_next_province_joins_its_trip(jiangsu: User, zhejiang: User) -> None:
    """The legitimate cross-province trip: same card and vehicle, the next segment number, later times."""
    ingest(jiangsu, "segments", csv_bytes([row("segments")]))
    same = {"card_no": CARD, "plate": row("segments")["plate"], "pass_id": row("segments")["pass_id"]}
    onward = zj("segments", segment_no="2", entry_time="2026-01-01 09:10:00", exit_time="2026-01-01 10:00:00", **same)

    batch = ingest(zhejiang, "segments", csv_bytes([onward]), province=ZJ)

    assert answer(batch)[:6] == ("done", 1, 1, 0, 0, 0)
    trip = Trip.objects.get(pass_id=same["pass_id"])
    assert trip.exit_time == dt.datetime(2026, 1, 1, 2, 0, tzinfo=dt.UTC)
    assert set(Segment.objects.filter(pass_id=trip.pass_id).values_list("province", flat=True)) == {"32", ZJ}


# --- the upload API: another province's batch is answered like one that does not exist ---------------------------


def test_the_upload_api_answers_another_provinces_batch_like_a_missing_one(jiangsu: User, zhejiang: User) -> None:
    batch = ingest(jiangsu, "segments", csv_bytes([row("segments", segment_no="x")]))  # one rejected row
    api = APIClient()
    api.force_authenticate(zhejiang)
    missing = UploadBatch.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000  # type: ignore[operator]

    for method, path in [
        ("get", "/api/v1/uploads/{}/"),
        ("get", "/api/v1/uploads/{}/errors/"),
        ("post", "/api/v1/uploads/{}/cancel/"),
    ]:
        theirs = getattr(api, method)(path.format(batch.pk))
        nothing = getattr(api, method)(path.format(missing))
        assert (
            (theirs.status_code, theirs.json())
            == (nothing.status_code, nothing.json())
            == (
                404,
                nothing.json(),
            )
        ), path
    batch.refresh_from_db()
    assert not batch.cancel_requested and timezone.now()


def test_an_upload_for_another_province_is_refused_and_stores_nothing(jiangsu: User, zhejiang: User) -> None:
    api = APIClient()
    api.force_authenticate(zhejiang)

    response = api.post(
        "/api/v1/uploads/",
        {"kind": "segments", "province": "32", "file": SimpleUploadedFile("s.csv", csv_bytes([row("segments")]))},
        format="multipart",
    )

    assert response.status_code == 403
    assert not UploadBatch.objects.exists() and not Segment.objects.exists()
