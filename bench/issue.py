#!/usr/bin/env python3
"""Issuing benchmark (product.md §6: ≥ 10,000 documents/s): a daily run over N invoiceable segments.

    DATABASE_URL=postgres://postgres@127.0.0.1:54329/piaogen_bench python bench/issue.py --segments 100000 --reset

Seeds the demo country with ``--segments`` segments (``demo_seed``, wiping the tolling and invoicing tables: use a
scratch database, ``--reset`` is required when data exists), then runs ``issue_run_daily`` in this process over
everything invoiceable (business date = the seed day, eligibility "today" a week later) with ``--chunk`` items per
transaction. Prints the time to select the work, documents/s, segments/s and items per document.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from invoicing.demo import demo_data_exists, demo_seed_timed  # noqa: E402
from invoicing.eligibility import invoiceable_segments, invoiceable_topups  # noqa: E402
from invoicing.issuing import issue_run_daily  # noqa: E402
from invoicing.models import DocumentItem, IssueRun, RunKind  # noqa: E402

TARGET_DOCUMENTS_PER_S = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reset", action="store_true", help="wipe the tolling and invoicing tables and seed anew")
    args = parser.parse_args()
    if demo_data_exists() and not args.reset:
        sys.exit("data exists: pass --reset (on a scratch database) to wipe and seed it")
    day = dt.date(2026, 11, 20)
    counts, seconds = demo_seed_timed(segments=args.segments, seed=args.seed, reset=True, today=day)
    print(f"seeded {counts.get('tolling_segment', args.segments):,} segments in {seconds:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tolling_segment, tolling_topup, invoicing_documentitem")

    started = time.perf_counter()
    segments = invoiceable_segments(service_date_to=day).count()
    topups = invoiceable_topups(service_date_to=day).count()
    select_s = time.perf_counter() - started
    print(f"invoiceable: {segments:,} segments, {topups:,} top-ups (counted in {select_s:.2f} s)")

    run = IssueRun.objects.create(kind=RunKind.DAILY, business_date=day)
    started = time.perf_counter()
    run = issue_run_daily(run_id=run.pk, chunk_size=args.chunk)
    wall = time.perf_counter() - started
    items = DocumentItem.objects.filter(document__run=run).count()
    docs = run.documents_issued
    print(f"run #{run.pk} {run.status}: {docs:,} documents, {items:,} items in {wall:.2f} s (chunk {args.chunk})")
    print(f"  {docs / wall:,.0f} documents/s  (target ≥ {TARGET_DOCUMENTS_PER_S:,})")
    print(f"  {items / wall:,.0f} items/s, {items / max(docs, 1):.2f} items per document")


if __name__ == "__main__":
    main()
