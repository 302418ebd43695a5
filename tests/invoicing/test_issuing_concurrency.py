"""Integration: concurrent issuing never doubles an item nor skips or reuses a number.

Four threads issue overlapping sets of segments at once; then four real Celery workers run four overlapping daily
runs, and one worker is killed (SIGKILL) mid-run; its run is taken over once its heartbeat is stale. Either way
every segment ends in exactly one live document item and each number series is exactly 1..N.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from invoicing.issuing import issue_segments
from invoicing.models import (
    BuyerTitle,
    CardBinding,
    Customer,
    Document,
    DocumentItem,
    DocumentKind,
    DocumentStatus,
    IssueRun,
    ItemKind,
    NumberSeries,
    RunKind,
    RunStatus,
)
from invoicing.tasks import issue_daily, issue_runs_resume_stalled
from tolling.models import Operator, OperatorKind, RoadNature, Segment, TollUnit, TollUnitRate

pytestmark = pytest.mark.django_db(transaction=True)

BJ = ZoneInfo("Asia/Shanghai")
BUSINESS_DATE = dt.date(2026, 11, 20)
TODAY = dt.date(2026, 11, 27)


def build(segments: int) -> list[int]:
    """Two road operators (3 %, 5 %, a loan road), three cards of two customers, many plates: many documents."""
    road = Operator.objects.create(
        kind=OperatorKind.ROAD_OPERATOR, tax_id="91320000000000001X", name="甲", province="32"
    )
    other = Operator.objects.create(
        kind=OperatorKind.ROAD_OPERATOR, tax_id="91330000000000001X", name="乙", province="33"
    )
    units = [
        TollUnit.objects.create(code="G0001320010010A0", name="u1", province="32", operator=road, road_nature=1),
        TollUnit.objects.create(code="G0001330010010A0", name="u2", province="33", operator=other, road_nature=1),
        TollUnit.objects.create(
            code="G0001320010020A0", name="u3", province="32", operator=road, road_nature=RoadNature.LOAN
        ),
    ]
    TollUnitRate.objects.create(toll_unit=units[0], tax_rate=Decimal("0.03"), valid_from=dt.date(2020, 1, 1))
    TollUnitRate.objects.create(toll_unit=units[1], tax_rate=Decimal("0.05"), valid_from=dt.date(2020, 1, 1))
    cards = ["32010000000000000001", "32010000000000000002", "33010000000000000003"]
    start = dt.datetime(2026, 10, 1, tzinfo=BJ)
    for n, card_no in enumerate(cards):
        who = Customer.objects.create(name=f"客户{n}", phone=f"1380000000{n}")
        CardBinding.objects.create(customer=who, card_no=card_no, bound_at=start)
        BuyerTitle.objects.create(customer=who, kind="person", name=f"客户{n}", valid_from=start)
    rng = random.Random(7)
    rows = []
    for n in range(segments):
        exit_time = dt.datetime(2026, 11, rng.randint(1, 20), rng.randint(0, 23), tzinfo=BJ)
        fee = rng.randint(1, 30000)
        unit = rng.choice(units)
        rows.append(
            Segment(
                pass_id=f"P{n:020d}",
                segment_no=1,
                service_date=exit_time.date(),
                card_no=rng.choice(cards),
                card_type=23,
                plate=f"苏A{rng.randint(0, 40):05d}",
                plate_color=0,
                vehicle_class=rng.choice([1, 12]),
                toll_unit=unit,
                province=unit.province,  # a segment is its toll unit's province's (issuing checks the seller's)
                entry_time=exit_time - dt.timedelta(hours=1),
                exit_time=exit_time,
                entry_station="a",
                exit_station="b",
                pay_fee=fee,
                discount_fee=0,
                fee=fee,
            )
        )
    return [s.pk for s in Segment.objects.bulk_create(rows)]


def assert_exactly_once_and_gapless(segment_ids: list[int]) -> None:
    live: dict[int, int] = defaultdict(int)
    for item_id in DocumentItem.objects.filter(item_kind=ItemKind.SEGMENT, live=True).values_list("item_id", flat=True):
        live[item_id] += 1
    assert set(live) == set(segment_ids), "every segment in a live document"
    assert set(live.values()) == {1}, "and in only one"
    series: dict[str, list[int]] = defaultdict(list)
    for kind, code, number in Document.objects.values_list("kind", "code", "number"):
        if kind == DocumentKind.DIGITAL_INVOICE:
            series[f"digital:{number[:2]}:{number[2:4]}:{number[4]}"].append(int(number[5:]))
        else:
            series[f"fiscal:{code[:2]}:{code[6:]}"].append(int(number))
    assert series
    for key, numbers in series.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), f"{key} is gapless and unique"
        assert NumberSeries.objects.get(key=key).next_value == len(numbers) + 1
    amounts = dict(Segment.objects.filter(id__in=segment_ids).values_list("id", "fee"))
    issued = sum(Document.objects.filter(status=DocumentStatus.ISSUED).values_list("amount_gross", flat=True))
    assert issued == sum(amounts.values())


def test_four_threads_issuing_overlapping_segments_issue_each_exactly_once() -> None:
    ids = build(1200)
    rng = random.Random(1)
    # each thread: a random 60 % of the segments in its own order, in chunks of 50
    plans = [rng.sample(ids, k=len(ids) * 6 // 10) for _ in range(4)]
    plans[0] = list(ids)  # one thread covers everything, so every segment ends issued
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(plan: list[int]) -> None:
        try:
            barrier.wait()
            for start in range(0, len(plan), 50):
                issue_segments(segment_ids=plan[start : start + 50], today=TODAY)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert errors == []
    assert_exactly_once_and_gapless(ids)


def test_four_celery_workers_with_one_killed_mid_run_issue_each_segment_once(
    celery_workers: Any, settings: Any
) -> None:
    ids = build(3000)
    settings.PIAOGEN = {**settings.PIAOGEN, "ISSUE_STALE_SECONDS": 2}
    workers = [celery_workers(PIAOGEN_ISSUE_STALE_SECONDS="2") for _ in range(4)]
    # four overlapping runs (one run per date and province): each covers every segment
    runs = [
        IssueRun.objects.create(kind=RunKind.DAILY, business_date=day, province=province, params={"chunk_size": 25})
        for day in (BUSINESS_DATE, BUSINESS_DATE + dt.timedelta(days=1))
        for province in ("", "32")
    ]
    for run in runs:
        issue_daily.delay(run.pk)

    deadline = time.monotonic() + 180
    while not Document.objects.exists():  # all four are at work
        assert time.monotonic() < deadline, "no document issued"
        time.sleep(0.05)
    workers[0].kill()  # SIGKILL mid-chunk: its transaction rolls back, its numbers return to the series
    workers[0].wait()

    while IssueRun.objects.filter(status=RunStatus.DONE).count() < 3:
        assert time.monotonic() < deadline, list(IssueRun.objects.values_list("status", "items_done", "message"))
        time.sleep(0.1)
    # the killed worker's run goes stale; the beat task queues it again and a live worker takes it over
    while IssueRun.objects.filter(status=RunStatus.DONE).count() < 4:
        assert time.monotonic() < deadline, list(IssueRun.objects.values_list("status", "items_done", "message"))
        issue_runs_resume_stalled()
        time.sleep(1)
    assert not IssueRun.objects.filter(status=RunStatus.FAILED).exists()
    assert_exactly_once_and_gapless(ids)
    done = IssueRun.objects.filter(status=RunStatus.DONE)
    assert sum(done.values_list("documents_issued", flat=True)) <= Document.objects.count()
