#!/usr/bin/env python3
"""Dashboard at national scale (issue #6 item 8, product.md §6): rollup refresh time, then p50/p95 of the dashboard
data for random filter combinations.

    python bench/dataset.py                                  # the dataset first (10 M segments, 2 M documents)
    python bench/dashboard.py                                # rebuild the rollups, then 300 random filter sets
    python bench/dashboard.py --database piaogen_bench_small -n 100
    python bench/dashboard.py --keep-rollups                 # time the filters only (rollups already built)

1. **Rollup refresh**: the watermarks are dropped and `reports.rollups.rollup_refresh` rebuilds every day of the
   three rollups, as beat would on a fresh install. For the document rollup each day is timed on its own and set
   against the number of segments its documents cover: the figure asked for is the refresh time of one day of 1 M
   segments (the busiest day's time, scaled linearly to 1 M when the day has fewer).
2. **Dashboard data**: N random filter sets (seeded: the same sets every run) — a date range of 1–30 days inside the
   data, and each of province, business line, operator (of that province), vehicle class and document kind set
   with some probability — each timed through `reports.dashboard.dashboard_data` (the service the page calls:
   KPIs with the previous period, every breakdown, upload health, support workload) and through
   `reports.charts.dashboard_charts` on top (the plotly figures the page embeds). p50/p95/max are printed.

Target (product.md §6): p95 ≤ 200 ms for the dashboard with any filter.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

from bench.dataset import DEFAULT_DATABASE, database_url  # noqa: E402

TARGET_P95_MS = 200.0
WARMUP = 5


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def refresh_rollups() -> None:
    from django.db import connection

    from reports.models import RollupWatermark
    from reports.rollups import ROLLUPS, rollup_refresh

    RollupWatermark.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.service_date, count(*) FROM invoicing_documentitem i "
            "JOIN invoicing_document d ON d.id = i.document_id WHERE i.item_kind = 'segment' GROUP BY 1"
        )
        segments = dict(cursor.fetchall())
    print("rollup refresh (from an empty watermark):")
    for name, rollup in ROLLUPS.items():
        if name != "documents":
            started = time.perf_counter()
            result = rollup_refresh(name=name)
            print(f"  {name:<10} {len(result.days):>4} days  {time.perf_counter() - started:8.2f} s")
            continue
        started = time.perf_counter()
        result = rollup_refresh(name=name)
        print(f"  documents  {len(result.days):>4} days  {time.perf_counter() - started:8.2f} s")
        if not result.days:
            continue
        busiest = max(result.days, key=lambda day: segments.get(day, 0))
        timings = []
        for _ in range(3):  # the busiest day again, as a re-run of an open day does
            started = time.perf_counter()
            rollup.rebuild_day(busiest)
            timings.append(time.perf_counter() - started)
        took, count = statistics.median(timings), segments.get(busiest, 0)
        per_million = took / count * 1_000_000 if count else float("nan")
        print(
            f"    busiest day {busiest}: {count:,} segments, refreshed in {took:.2f} s (median of 3) "
            f"→ one day of 1 M segments ≈ {per_million:.1f} s (scaled linearly)"
        )


def random_filters(rng: random.Random, first: dt.date, last: dt.date, provinces: list[str],
                   operators: dict[str, list[int]]) -> dict[str, str]:  # fmt: skip
    from invoicing.models import BusinessLine, DocumentKind
    from piaogen.identifiers import VehicleClass

    length = rng.randint(1, 30)
    end = first + dt.timedelta(days=rng.randint(0, max(0, (last - first).days)))
    query = {"start": (end - dt.timedelta(days=length - 1)).isoformat(), "end": end.isoformat()}
    if rng.random() < 0.5:
        query["province"] = rng.choice(provinces)
        if rng.random() < 0.25 and operators.get(query["province"]):
            query["operator"] = str(rng.choice(operators[query["province"]]))
    if rng.random() < 0.3:
        query["business_line"] = rng.choice(BusinessLine.values)
    if rng.random() < 0.25:
        query["vehicle_class"] = str(rng.choice(VehicleClass.values))
    if rng.random() < 0.25:
        query["document_kind"] = rng.choice(DocumentKind.values)
    return query


def time_dashboard(samples: int, seed: int) -> bool:
    from django.db.models import Max, Min

    from reports.charts import dashboard_charts
    from reports.dashboard import dashboard_data
    from reports.filters import filters_from
    from reports.models import DocumentRollup

    span = DocumentRollup.objects.aggregate(first=Min("day"), last=Max("day"))
    if span["first"] is None:
        print("no rollup rows: run without --keep-rollups first")
        return False
    provinces = sorted(set(DocumentRollup.objects.values_list("province", flat=True).distinct()))
    operators: dict[str, list[int]] = {}
    for province, operator in DocumentRollup.objects.values_list("province", "operator_id").distinct():
        operators.setdefault(province, []).append(operator)
    rows = DocumentRollup.objects.count()
    rng = random.Random(seed)
    cases = [random_filters(rng, span["first"], span["last"], provinces, operators) for _ in range(samples + WARMUP)]
    data_ms: list[float] = []
    page_ms: list[float] = []
    for index, query in enumerate(cases):
        filters = filters_from(query, scope=None)
        started = time.perf_counter()
        data = dashboard_data(filters)
        middle = time.perf_counter()
        dashboard_charts(data, lambda rows, **overrides: "/reports/")
        done = time.perf_counter()
        if index >= WARMUP:
            data_ms.append((middle - started) * 1000)
            page_ms.append((done - started) * 1000)
    print(f"dashboard: {samples} random filter sets over {span['first']} … {span['last']} ({rows:,} rollup rows)")
    for label, values in (("data (dashboard_data)", data_ms), ("data + plotly figures", page_ms)):
        print(
            f"  {label:<24} p50 {statistics.median(values):7.1f} ms   p95 {percentile(values, 0.95):7.1f} ms   "
            f"max {max(values):7.1f} ms"
        )
    ok = percentile(data_ms, 0.95) <= TARGET_P95_MS
    print(f"  target p95 ≤ {TARGET_P95_MS:.0f} ms (data): {'met' if ok else 'MISSED'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("-n", "--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep-rollups", action="store_true", help="skip the rollup rebuild")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = database_url(args.database)

    import django

    django.setup()
    print(f"database {args.database}")
    if not args.keep_rollups:
        refresh_rollups()
    time_dashboard(args.samples, args.seed)


if __name__ == "__main__":
    main()
