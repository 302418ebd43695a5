"""A small two-province world for the reports tests, built through the real issuing services: Jiangsu (32) and
Zhejiang (33) operators, segments of several vehicle classes, documents issued and one reversed, spread over three
days; upload batches (one failed) and support tickets."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from invoicing.issuing import document_reverse, issue_segments
from invoicing.models import Document
from piaogen.models import Role, User
from piaogen.services import staff_upsert
from support.models import SearchEvent, Ticket
from tests.factories import (
    BuyerTitleFactory,
    CardBindingFactory,
    CustomerFactory,
    OperatorFactory,
    SegmentFactory,
    TollUnitFactory,
)
from tests.fixtures import PASSWORD
from tests.fixtures.shared import shared_world
from tolling.models import RoadNature, Segment, TollUnit, UploadBatch

BJ = ZoneInfo("Asia/Shanghai")
TODAY = dt.date(2026, 11, 20)
DAYS = [dt.date(2026, 11, 17), dt.date(2026, 11, 18), dt.date(2026, 11, 19)]

_seq = itertools.count(1)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=BJ)


def _province(province: str, prefix: str) -> dict[str, Any]:
    road = OperatorFactory.create(
        tax_id=f"9{province}0000000000001X", name=f"{prefix}高速公路股份有限公司", province=province
    )
    bridge = OperatorFactory.create(
        tax_id=f"9{province}0000000000003X", name=f"{prefix}大桥有限公司", province=province
    )
    units = {}
    for name, operator, nature, rate in (
        ("commercial", road, RoadNature.COMMERCIAL, Decimal("0.03")),
        ("bridge", bridge, RoadNature.COMMERCIAL, Decimal("0.05")),
        ("loan", road, RoadNature.LOAN, None),
    ):
        units[name] = TollUnitFactory.create(
            code=f"G00{province}{next(_seq):011d}", name=f"{prefix}{name}", operator=operator, road_nature=nature,
            rate=rate,
        )  # fmt: skip
    return {"road": road, "bridge_operator": bridge, **units}


def _segment(unit: TollUnit, *, card_no: str, exit_time: dt.datetime, fee: int, vehicle_class: int) -> Segment:
    return SegmentFactory.create(
        pass_id=f"P{next(_seq):020d}", card_no=card_no, card_type=23, vehicle_class=vehicle_class, toll_unit=unit,
        exit_time=exit_time, entry_station="甲", exit_station="乙", fee=fee,
    )  # fmt: skip


@shared_world
def world() -> dict[str, Any]:
    """Documents on three days in two provinces, one reversal, two upload batches and three tickets."""
    js, zj = _province("32", "江苏"), _province("33", "浙江")
    documents: list[Document] = []
    for province, units in (("32", js), ("33", zj)):
        card = f"{province}010000000000000{next(_seq):03d}"[:20]
        who = CustomerFactory.create(name=f"客户{province}", phone=f"1380000{next(_seq):04d}")
        CardBindingFactory.create(customer=who, card_no=card, bound_at=at(dt.date(2026, 9, 1)))
        BuyerTitleFactory.create(customer=who, valid_from=at(dt.date(2026, 9, 1)))
        for n, day in enumerate(DAYS):
            trip_day = day - dt.timedelta(days=10)
            segs = [
                _segment(units["commercial"], card_no=card, exit_time=at(trip_day, 8), fee=10000 + n, vehicle_class=1),
                _segment(units["bridge"], card_no=card, exit_time=at(trip_day, 9), fee=4560, vehicle_class=12),
                _segment(units["loan"], card_no=card, exit_time=at(trip_day, 10), fee=2000 + n, vehicle_class=1),
            ]
            issued = issue_segments(segment_ids=[s.pk for s in segs], today=TODAY)
            # issuing stamps today's date: place each batch on its day, as if issued then
            Document.objects.filter(pk__in=[d.pk for d in issued]).update(service_date=day)
            documents.extend(issued)
    reverser = staff_upsert(username="reverser", role=Role.AGENT, province="", password=PASSWORD)
    first_js = Document.objects.filter(province="32").order_by("pk").first()
    assert first_js is not None
    red = document_reverse(document=first_js, reason="客户申请", by=reverser)
    Document.objects.filter(pk=red.pk).update(service_date=DAYS[1])

    uploader = staff_upsert(username="uploader32", role=Role.PROVINCE, province="32", password=PASSWORD)
    for status, accepted, rejected in (("done", 100, 2), ("failed", 0, 0)):
        batch = UploadBatch.objects.create(
            kind="segments", province="32", uploaded_by=uploader, file_name=f"{status}.csv", file_size=10,
            sha256=f"{next(_seq):064d}", status=status, rows_total=accepted + rejected, rows_done=accepted + rejected,
            rows_accepted=accepted, rows_rejected=rejected, created_at=at(DAYS[0], 9), started_at=at(DAYS[0], 9),
            finished_at=at(DAYS[0], 9) + dt.timedelta(seconds=42),
        )  # fmt: skip
        if status == "done":  # Jiangsu's trips came in this batch, 8 to 10 days after they were made
            Segment.objects.filter(province="32").update(batch=batch)
    for province, day, closed in (("32", DAYS[0], DAYS[1]), ("32", DAYS[1], None), ("33", DAYS[0], None)):
        Ticket.objects.create(
            category="not_received", subject="未收到发票", province=province, created_by=reverser,
            created_at=at(day, 10), due_at=at(day, 20), status="closed" if closed else "open",
            closed_at=at(closed, 9) if closed else None,
        )  # fmt: skip
    for user, kind, day in ((reverser, "plate", DAYS[0]), (reverser, "card", DAYS[1]), (uploader, "plate", DAYS[1])):
        SearchEvent.objects.create(user=user, kind=kind, province=user.province_scope or "", at=at(day, 11), results=1)
    return {"32": js, "33": zj, "documents": documents, "red": red}


@shared_world(on=world)
def rolled_up(world: dict[str, Any]) -> dict[str, Any]:
    """The world with every rollup refreshed (as of ``TODAY``)."""
    from reports.rollups import rollups_refresh_all

    rollups_refresh_all(today=TODAY)
    return world


@pytest.fixture
def jiangsu_user(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32", username="js-staff")


REPORT_QUERY = {"start": "2026-11-01", "end": "2026-11-20"}
