#!/usr/bin/env python3
"""Issuing benchmark (product.md §6: ≥ 10,000 documents/s): a daily run over N invoiceable segments.

    DATABASE_URL=postgres://postgres@127.0.0.1:54329/piaogen_bench python bench/issue.py --segments 100000 --reset
    DATABASE_URL=… python bench/issue.py --keep --workers 2     # same data again: drop the documents, reissue

Seeds the demo country with ``--segments`` segments (``demo_seed``, wiping the tolling and invoicing tables: use a
scratch database, ``--reset`` is required when data exists), then runs ``issue_run_daily`` in this process over
everything invoiceable (business date = the seed day, eligibility "today" a week later) with ``--chunk`` items per
transaction. Prints the time to select the work, documents/s, segments/s and items per document.

``--profile FILE`` runs the (single-process) run under cProfile, saves the stats to FILE and prints the top
functions. With one worker the run also prints the CPU seconds it cost, this process's and its PostgreSQL
backend's (read from ``/proc``; the server runs on this machine): CPU per document moves far less than the wall
time when other jobs share the cores, so A/B comparisons read it first.

``--workers N`` splits the day into one run per province (``issue_runs_create_daily``: separate number series) and
lets N forked processes claim them, as N Celery workers on queue ``issue`` would. ``--keep`` skips the seed and
deletes only the issuing tables' rows (documents, lines, items, events, runs, number series), for repeat runs.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import multiprocessing
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")
# no automatic e-mail of the bench documents: the tasks would reach the development workers and database
os.environ.setdefault("PIAOGEN_DELIVER_AFTER_ISSUE", "false")

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402

from invoicing.demo import demo_data_exists, demo_seed_timed  # noqa: E402
from invoicing.eligibility import invoiceable_segments, invoiceable_topups, jit_off  # noqa: E402
from invoicing.issuing import DEFAULT_CHUNK, issue_run_daily, issue_runs_create_daily  # noqa: E402
from invoicing.models import DocumentItem, InvoiceCycle, IssueRun, RunKind  # noqa: E402

TARGET_DOCUMENTS_PER_S = 10_000


ISSUING_TABLES = (
    "invoicing_documentevent, invoicing_documentitem, invoicing_documentline, invoicing_delivery, "
    "invoicing_summarysheet_documents, invoicing_summarysheet, invoicing_document, invoicing_issuerun, "
    "invoicing_numberseries"
)


def _backend_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the PostgreSQL backend ``pid`` so far (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _work(run_ids: list[int], chunk: int) -> tuple[float, float]:
    """One worker process: take whichever runs are still unclaimed (the claim is a conditional UPDATE). Returns
    the CPU seconds spent by this process and by its database backend."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        server = -_backend_cpu_s(pid)
    except OSError:  # the server is elsewhere
        server = float("nan")
    own = -time.process_time()
    for run_id in run_ids:
        issue_run_daily(run_id=run_id, chunk_size=chunk)
    own += time.process_time()
    try:
        server += _backend_cpu_s(pid)
    except OSError:
        server = float("nan")
    connection.close()
    return own, server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    parser.add_argument("--workers", type=int, default=1, help="processes; > 1: one run per province")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reset", action="store_true", help="wipe the tolling and invoicing tables and seed anew")
    parser.add_argument("--keep", action="store_true", help="keep the seeded data, delete only issued documents")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the (single-process) run, stats to FILE")
    args = parser.parse_args()
    day = dt.date(2026, 11, 20)
    if args.keep:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {ISSUING_TABLES}")
    else:
        if demo_data_exists() and not args.reset:
            sys.exit("data exists: pass --reset (on a scratch database) to wipe and seed it, or --keep")
        counts, seconds = demo_seed_timed(segments=args.segments, seed=args.seed, reset=True, today=day)
        print(f"seeded {counts.get('tolling_segment', args.segments):,} segments in {seconds:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tolling_segment, tolling_topup, invoicing_documentitem")

    started = time.perf_counter()
    with jit_off():  # as the runs select their work
        segments = invoiceable_segments(service_date_to=day, invoice_cycle=InvoiceCycle.PER_TRIP).count()
        topups = invoiceable_topups(service_date_to=day).count()
        select_s = time.perf_counter() - started
        monthly = invoiceable_segments(service_date_to=day, invoice_cycle=InvoiceCycle.MONTHLY).count()
    print(
        f"invoiceable by the daily run: {segments:,} segments, {topups:,} top-ups (counted in {select_s:.2f} s); "
        f"{monthly:,} segments of monthly customers left to the monthly merge"
    )

    if args.workers > 1:
        runs = issue_runs_create_daily(business_date=day)
    else:
        runs = [IssueRun.objects.create(kind=RunKind.DAILY, business_date=day)]
    run_ids = [run.pk for run in runs]
    connections.close_all()  # the children open their own
    started = time.perf_counter()
    cpu: tuple[float, float] | None = None
    if args.workers > 1:
        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=_work, args=(run_ids[i:] + run_ids[:i], args.chunk)) for i in range(args.workers)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
    elif args.profile:
        profiler = cProfile.Profile()
        cpu = profiler.runcall(_work, run_ids, args.chunk)
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(30)
    else:
        cpu = _work(run_ids, args.chunk)
    wall = time.perf_counter() - started
    done = IssueRun.objects.filter(pk__in=run_ids)
    statuses = sorted({run.status for run in done})
    docs = sum(run.documents_issued for run in done)
    items = DocumentItem.objects.filter(document__run__in=run_ids).count()
    print(
        f"{len(run_ids)} run(s) {'/'.join(statuses)}: {docs:,} documents, {items:,} items in {wall:.2f} s "
        f"(chunk {args.chunk}, {args.workers} worker(s))"
    )
    print(f"  {docs / wall:,.0f} documents/s  (target ≥ {TARGET_DOCUMENTS_PER_S:,})")
    print(f"  {items / wall:,.0f} items/s, {items / max(docs, 1):.2f} items per document")
    if cpu is not None:
        own, server = cpu
        per_k = 1000 / max(docs, 1)
        print(
            f"  CPU: this process {own:.2f} s, its PostgreSQL backend {server:.2f} s "
            f"({own * per_k * 1000:.0f} + {server * per_k * 1000:.0f} ms per 1,000 documents)"
        )


if __name__ == "__main__":
    main()
