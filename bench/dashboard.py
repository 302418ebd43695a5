#!/usr/bin/env python3
"""Dashboard and report templates at national scale (issue #6 item 8, issue #14 item 8, product.md §6): rollup
refresh time, p50/p95 of the dashboard data and of every report template's figures for random filter combinations,
and the incremental refresh after a 1 M-row upload.

    python bench/dataset.py                                  # the dataset first (10 M segments, 2 M documents)
    python bench/dashboard.py                                # rebuild the rollups, then 300 random filter sets
    python bench/dashboard.py --database piaogen_bench_small -n 100
    python bench/dashboard.py --keep-rollups                 # time the filters only (rollups already built)
    python bench/dashboard.py --keep-rollups --templates 60  # and 60 random filter sets per report template
    python bench/dashboard.py --upload-refresh piaogen_scratch_upload   # 1 M-row upload, then the fresh poll

1. **Rollup refresh**: the watermarks are dropped and `reports.rollups.rollup_refresh` rebuilds every day of the
   three rollups, as beat would on a fresh install. For the document rollup each day is timed on its own and set
   against the number of segments its documents cover: the figure asked for is the refresh time of one day of 1 M
   segments (the busiest day's time, scaled linearly to 1 M when the day has fewer).
2. **Dashboard data**: N random filter sets (seeded: the same sets every run) — a date range of 1–30 days inside the
   data, and each of province, business line, operator (of that province), vehicle class and document kind set
   with some probability — each timed through `reports.dashboard.dashboard_data` (the service the page calls:
   KPIs with the previous period, every breakdown, upload health, support workload) and through
   `reports.charts.dashboard_charts` on top (the plotly figures the page embeds). p50/p95/max are printed.

3. **Report templates** (`--templates N`): N random filter sets per template (the same generator), each timed
   through what `GET /api/v1/reports/<template>/` does: the template's data function and `reports.api.figures_json`
   (tiles, chart points and table cells with their drill URLs).
4. **Refresh after an upload** (`--upload-refresh DATABASE`): in a scratch database of its own (dropped, created,
   migrated and seeded with the demo each run; never the benchmark dataset) a 1 M-row segment file
   (bench/generate.py, one province) is uploaded and ingested by the real pipeline, then the freshness poll
   `reports.rollups.rollups_refresh_changed` — what beat runs every 20 s — is timed: the upload day of the upload
   rollup, the lateness of the 1 M new rows, the support day of the upload's audit event.

Targets (product.md §6, issue #14): p95 ≤ 200 ms for the dashboard and every template with any filter; the rollups
fresh within 10 s of a 1 M-row upload's commit.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

from bench.dataset import DEFAULT_DATABASE, database_url  # noqa: E402

TARGET_P95_MS = 200.0
TARGET_REFRESH_S = 10.0
WARMUP = 5


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def refresh_rollups() -> None:
    from django.db import connection

    from reports.models import RollupWatermark, UploadLateness
    from reports.rollups import ROLLUPS, rollup_refresh
    from support.stats_rollup import segment_rollup_refresh

    RollupWatermark.objects.all().delete()
    UploadLateness.objects.all().delete()
    # the statistics' segment rollup (support/stats_rollup.py) holds the traffic the province comparison divides by;
    # beat keeps it current in production: bring it up to date first, as on a running system
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM tolling_segment")
        top = cursor.fetchone()[0]
    started = time.perf_counter()
    segment_rollup_refresh(upto=top)
    print(f"segment rollup (query statistics) up to segment {top:,}: {time.perf_counter() - started:.1f} s")
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


def rollup_values() -> tuple[dict[str, Any], list[str], dict[str, list[int]]] | None:
    """The document rollup's first and last day, its provinces and each province's operators (what random filters
    are drawn from); None when the rollup is empty."""
    from django.db.models import Max, Min

    from reports.models import DocumentRollup

    span = DocumentRollup.objects.aggregate(first=Min("day"), last=Max("day"))
    if span["first"] is None:
        return None
    provinces = sorted(set(DocumentRollup.objects.values_list("province", flat=True).distinct()))
    operators: dict[str, list[int]] = {}
    for province, operator in DocumentRollup.objects.values_list("province", "operator_id").distinct():
        operators.setdefault(province, []).append(operator)
    return span, provinces, operators


def time_dashboard(samples: int, seed: int) -> bool:
    from reports.charts import dashboard_charts
    from reports.dashboard import dashboard_data
    from reports.filters import filters_from
    from reports.models import DocumentRollup

    found = rollup_values()
    if found is None:
        print("no rollup rows: run without --keep-rollups first")
        return False
    span, provinces, operators = found
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


def time_templates(samples: int, seed: int) -> bool:
    from piaogen.models import Role, User
    from reports.api import figures_json
    from reports.catalog import REGISTRY
    from reports.filters import filters_from
    from reports.views import drill_url

    found = rollup_values()
    if found is None:
        print("no rollup rows: run without --keep-rollups first")
        return False
    span, provinces, operators = found
    reader = User.objects.filter(role=Role.MANAGER, province="").first() or User(role=Role.MANAGER)
    print(f"report templates: {samples} random filter sets each (data function + API JSON)")
    ok = True
    for slug, template in REGISTRY.items():
        rng = random.Random(f"{seed}:{slug}")
        cases = [random_filters(rng, span["first"], span["last"], provinces, operators)
                 for _ in range(samples + WARMUP)]  # fmt: skip
        timings: list[float] = []
        for index, query in enumerate(cases):
            filters = filters_from(query, scope=None)
            started = time.perf_counter()
            figures_json(template.build(filters), drill_url(filters, reader))
            if index >= WARMUP:
                timings.append((time.perf_counter() - started) * 1000)
        p95 = percentile(timings, 0.95)
        ok = ok and p95 <= TARGET_P95_MS
        print(
            f"  {slug:<16} p50 {statistics.median(timings):7.1f} ms   p95 {p95:7.1f} ms   max {max(timings):7.1f} ms"
            f"   {'met' if p95 <= TARGET_P95_MS else 'MISSED'}"
        )
    print(f"  target p95 ≤ {TARGET_P95_MS:.0f} ms per template: {'met' if ok else 'MISSED'}")
    return ok


def upload_refresh(database: str, rows: int, province: str) -> bool:
    """In a scratch database: upload and ingest `rows` segments, then time the freshness poll (see the docstring)."""
    import subprocess

    from django.core.management import call_command
    from django.db import connection

    from bench.dataset import ensure_database
    from invoicing.demo import demo_data_exists, demo_seed
    from reports.models import RollupWatermark, UploadLateness
    from reports.rollups import CHANGED, rollup_refresh, rollups_refresh_all, rollups_refresh_changed
    from tolling.importing import batch_process

    if database == DEFAULT_DATABASE:
        sys.exit("--upload-refresh writes: give it a scratch database, never the benchmark dataset")
    ensure_database(database, rebuild=True)  # from scratch each run: the file's rows would be duplicates next time
    call_command("migrate", interactive=False, verbosity=0)
    if not demo_data_exists():
        demo_seed(segments=20_000)
    rollups_refresh_all()  # the state before the upload: every rollup current
    rollups_refresh_changed()
    path = ROOT / "bench" / "data" / f"refresh-{province}-{rows}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "generate.py"), "--segments", str(rows), "--province", province,
             "--days", "20", "--tag", "R", "--out", str(path)],
            check=True, env={**os.environ, "DATABASE_URL": database_url(database)},
        )  # fmt: skip
    from bench.ingest import batch_upload

    batch, _ = batch_upload(path, province)
    started = time.perf_counter()
    batch_process(batch_id=batch.pk)
    ingest_s = time.perf_counter() - started
    batch.refresh_from_db()
    print(f"upload: batch #{batch.pk} {batch.status}, {batch.rows_accepted:,} rows accepted in {ingest_s:.1f} s")
    connection.close()
    # what rollups_refresh_changed does (the poll), one rollup at a time to say where the time goes
    took = 0.0
    for name, changed in CHANGED.items():
        started = time.perf_counter()
        watermark = RollupWatermark.objects.get(name=name)
        result = rollup_refresh(name=name, only_changed=True) if changed(watermark) else None
        seconds = time.perf_counter() - started
        took += seconds
        print(f"  {name:<10} {len(result.days) if result else 0:>3} day(s) rebuilt in {seconds:6.2f} s")
    late = UploadLateness.objects.filter(batch_id=batch.pk)
    counted = sum(late.values_list("rows", flat=True))
    print(f"  upload lateness: {counted:,} rows of batch #{batch.pk} counted in {late.count()} day buckets")
    ok = took <= TARGET_REFRESH_S and counted == batch.rows_accepted
    print(f"refresh after the upload (the freshness poll, rollups_refresh_changed): {took:.2f} s; "
          f"target ≤ {TARGET_REFRESH_S:.0f} s: {'met' if ok else 'MISSED'}")  # fmt: skip
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("-n", "--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep-rollups", action="store_true", help="skip the rollup rebuild")
    parser.add_argument("--templates", type=int, default=0, metavar="N", help="N random filter sets per template")
    parser.add_argument("--no-dashboard", action="store_true", help="skip the dashboard timings")
    parser.add_argument("--upload-refresh", metavar="DATABASE", help="scratch database for the 1 M-row upload")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of that upload (default 1 M)")
    parser.add_argument("--province", default="32", help="province of that upload (default 32)")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = database_url(args.upload_refresh or args.database)

    import django

    django.setup()
    if args.upload_refresh:
        print(f"database {args.upload_refresh} (scratch)")
        upload_refresh(args.upload_refresh, args.rows, args.province)
        return
    print(f"database {args.database}")
    if not args.keep_rollups:
        refresh_rollups()
    if not args.no_dashboard:
        time_dashboard(args.samples, args.seed)
    if args.templates:
        time_templates(args.templates, args.seed)


if __name__ == "__main__":
    main()
