#!/usr/bin/env python3
"""A scaled national day on the scale-out set-up, on one machine (issue #16 item 4).

    .venv/bin/python bench/national_day.py [--provinces 31] [--rows 10000] [--agents 4] [--managers 2]
    .venv/bin/python bench/national_day.py --peak 1.66 --month-end --kill --stale 20   # month-end peak, hosts die

On bench/worker_hosts.py's five worker hosts (private PostgreSQL and Redis from bench/faults.py) plus a streaming
replica of that PostgreSQL (bin/services' own code) that the console reads from (DATABASE_REPLICA_URL):

1. **Uploads**: ``--provinces`` provinces (demo country, sorted codes) each upload a generated file of ``--rows``
   segments (× ``--peak``) at the same moment; the two ingest hosts work through them.
2. **Issuing**: the daily run of every one of those provinces is queued at once (with ``--month-end`` also the
   monthly merge of the previous month, as on day 1 of a month); the two issue hosts work through them.

During both stages ``--agents`` threads search by card number and open document pages, and ``--managers`` threads
open the dashboard, through the whole Django stack in this process (middleware, router, replica), as signed-in
users. A sampler records the replica's lag (as the router measures it) and the ingest and issue queue depths every
second. With ``--kill`` one ingest host is SIGKILLed in the middle of a batch and one issue host while it runs a
run; both stay dead and the other host of their group takes over (after ``--stale`` seconds without heartbeat).

Prints per stage: wall time, rows or items per second, page latencies (p50/p95), replica lag and queue depths,
then the comparisons (bench/faults.py's): every batch against its file (rows, accepted, duplicates, rejected,
segments stored, sum of fees), no natural key twice, every daily run's live items exactly the items judged
eligible before it, balanced documents, no item in two live documents, every number handed out once. Exits 1 if
a stage did not finish or a comparison failed.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import logging
import os
import signal
import statistics
import sys
import threading
import time
import traceback
from collections import defaultdict
from typing import Any

import faults
import psycopg
import worker_hosts
from faults import ROOT, Report, _say, _sweep, file_make
from worker_hosts import Hosts


def _bin_services() -> Any:
    loader = importlib.machinery.SourceFileLoader("piaogen_bin_services", str(ROOT / "bin" / "services"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class Readers:
    """Agents and managers clicking through pages while a stage runs; latencies per stage and page."""

    def __init__(self, agents: int, managers: int) -> None:
        self.agents, self.managers = agents, managers
        self.stage = "setup"
        self.stop = threading.Event()
        self.latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def _timed(self, client: Any, page: str, url: str) -> None:
        started = time.perf_counter()
        try:
            status = client.get(url).status_code
        except Exception:
            status = 599
        took = time.perf_counter() - started
        with self.lock:
            if status < 400:  # a search with one match redirects to its record
                self.latencies[(self.stage, page)].append(took)
            else:
                self.errors[(self.stage, page)] += 1

    def _agent(self, n: int) -> None:
        from django.db import connections
        from django.test import Client
        from django.urls import reverse

        from invoicing.models import Document
        from piaogen.models import Role
        from piaogen.services import staff_upsert
        from tolling.models import Card

        client = Client()
        client.force_login(staff_upsert(username=f"day-agent{n}", role=Role.AGENT, province="", password=None))
        cards = list(Card.objects.order_by("?").values_list("card_no", flat=True)[:50])
        seen: list[tuple[float, int]] = []  # (when, newest document id then): open documents 5 s old, not newer
        i = 0
        while not self.stop.is_set():
            self._timed(client, "search", f"{reverse('search')}?q={cards[i % len(cards)]}")
            newest = Document.objects.order_by("-pk").values_list("pk", flat=True).first()  # on the primary
            seen.append((time.monotonic(), newest or 0))
            old = [pk for at, pk in seen if at < time.monotonic() - 5 and pk]
            if old:
                self._timed(client, "document page", reverse("document-detail", args=[old[-1] - (i % 50)]))
            i += 1
        connections.close_all()

    def _manager(self, n: int) -> None:
        from django.db import connections
        from django.test import Client
        from django.urls import reverse

        from piaogen.models import Role
        from piaogen.services import staff_upsert

        client = Client()
        client.force_login(staff_upsert(username=f"day-manager{n}", role=Role.MANAGER, province="", password=None))
        while not self.stop.is_set():
            self._timed(client, "dashboard", reverse("report-dashboard"))
        connections.close_all()

    def start(self) -> None:
        for n in range(self.agents):
            self.threads.append(threading.Thread(target=self._agent, args=[n], daemon=True))
        for n in range(self.managers):
            self.threads.append(threading.Thread(target=self._manager, args=[n], daemon=True))
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


class Sampler(threading.Thread):
    """Replica lag and queue depths, every second, per stage."""

    def __init__(self, replica_dsn: str, readers: Readers) -> None:
        super().__init__(daemon=True)
        self.replica_dsn, self.readers = replica_dsn, readers
        self.lag: dict[str, list[float]] = defaultdict(list)
        self.queues: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.stop = threading.Event()

    def run(self) -> None:
        from piaogen.ops import queue_depths
        from piaogen.routers import LAG_SQL

        with psycopg.connect(self.replica_dsn, autocommit=True) as replica:
            while not self.stop.is_set():
                stage = self.readers.stage
                row = replica.execute(LAG_SQL).fetchone()
                if row is not None:
                    self.lag[stage].append(float(row[1]))
                for name, depth in queue_depths().items():
                    self.queues[stage][name] = max(self.queues[stage][name], depth or 0)
                time.sleep(1)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provinces", type=int, default=31)
    parser.add_argument("--rows", type=int, default=10_000, help="generated segment rows per province")
    parser.add_argument("--segments", type=int, default=2000, help="demo segments seeded with the country")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--managers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--peak", type=float, default=1.0, help="rows per province × this (peak day: 53/32 ≈ 1.66)")
    parser.add_argument("--month-end", action="store_true", help="the monthly merge runs with the daily runs")
    parser.add_argument("--kill", action="store_true", help="SIGKILL one ingest host and one issue host mid-work")
    parser.add_argument("--stale", type=int, default=60, help="seconds without heartbeat before a takeover")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    logging.getLogger("django.request").setLevel(logging.ERROR)  # a 404 is counted, not printed
    stack = Hosts(chunk_rows=5000, stale_seconds=args.stale)
    services = _bin_services()
    replica_port = faults._free_port()
    replica_data = stack.home / "replica"
    stack.env["DATABASE_REPLICA_URL"] = f"postgres://postgres@127.0.0.1:{replica_port}/piaogen"
    stack.env["PIAOGEN_REPLICA_CHECK_SECONDS"] = "1"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    readers = Readers(args.agents, args.managers)
    results: list[str] = []
    report = Report()
    ok = True
    try:
        stack.boot(args.segments)
        services.replica_start(port=replica_port, data=replica_data)
        _say(f"replica on :{replica_port}")
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")
        import django

        django.setup()
        from django.conf import settings
        from django.db import connection
        from django.db.models import Sum

        from invoicing.eligibility import beijing_today, trip_cutoff
        from invoicing.issuing import issue_run_create_daily, issue_run_create_monthly, previous_month
        from invoicing.models import IssueRun
        from piaogen.celery import app
        from piaogen.identifiers import ETC_PROVINCES
        from tolling.models import UploadBatch

        settings.ALLOWED_HOSTS = ["*"]
        provinces = sorted(ETC_PROVINCES)[: args.provinces]
        today = beijing_today()
        files = {}
        for province in provinces:
            faults.PROVINCE, faults.TAG = province, f"N{province}"
            facts = file_make(stack, round(args.rows * args.peak), today)
            facts.path = facts.path.rename(stack.home / f"segments-{province}.csv")
            files[province] = facts
        _say(f"files: {len(files)} provinces, {sum(f.rows for f in files.values()):,} rows")
        stack.worker_start()
        sampler = Sampler(f"host=127.0.0.1 port={replica_port} user=postgres dbname=piaogen", readers)
        sampler.start()
        readers.start()

        # stage 1: every province uploads at once (one ingest host killed in the middle of a batch with --kill)
        readers.stage = "uploads"
        took = worker_hosts.ingest(
            stack, report, list(files.values()), sweep_s=3, timeout_s=args.timeout,
            provinces=list(files), kill=args.kill,
        )  # fmt: skip
        batches = UploadBatch.objects.filter(uploaded_by__username__in=[f"hosts-{p}" for p in files])
        rows = sum(batches.values_list("rows_done", flat=True))
        accepted = sum(batches.values_list("rows_accepted", flat=True))
        done = batches.filter(status="done").count()
        expected = sum(f.valid_distinct for f in files.values())
        ok &= done == len(files) and accepted == expected
        results.append(
            f"uploads  {len(files)} batches, {done} done in {took:.0f} s: {rows:,} rows, "
            f"{rows / took:,.0f} rows/s; accepted {accepted:,} (expected {expected:,})"
        )
        _say(results[-1])

        # stage 2: the daily run of every province at once (+ the monthly merge with --month-end; one issue host
        # killed while it runs a run with --kill)
        readers.stage = "issuing"
        day = trip_cutoff(today)
        judged = time.monotonic()
        eligible = {}
        for province in provinces:
            faults.PROVINCE = province
            eligible[province] = faults._eligible(day, today)
        _say(f"issuing: eligible items judged in {time.monotonic() - judged:.0f} s")
        started = time.monotonic()
        run_ids: dict[str, int] = {}
        for province in provinces:
            run, _created = issue_run_create_daily(
                business_date=day, province=province, params={"today": today.isoformat(), "chunk_size": 2000}
            )
            run_ids[province] = run.pk
            app.send_task("invoicing.tasks.issue_daily", args=[run.pk])
        if args.month_end:
            run, _created = issue_run_create_monthly(month=previous_month(today))
            run_ids["monthly"] = run.pk
            app.send_task("invoicing.tasks.issue_daily", args=[run.pk])
        runs = IssueRun.objects.filter(pk__in=run_ids.values())
        killed = not args.kill
        while runs.exclude(status__in=["done", "failed"]).exists():
            if time.monotonic() - started > args.timeout:
                break
            progress = runs.aggregate(done=Sum("items_done"), total=Sum("items_total"))
            if not killed and progress["total"] and progress["done"] >= 0.3 * progress["total"]:
                unfinished = set(runs.exclude(status="done").values_list("pk", flat=True))
                busy = [(pk, h) for (task, pk), h in stack.running().items() if "issue" in task and pk in unfinished]
                if busy:
                    pk, host = busy[0]
                    report.notes.append(
                        f"issuing: SIGKILL {host} (running run #{pk}) at {progress['done']:,}/{progress['total']:,} "
                        f"items, {time.monotonic() - started:.0f} s in; it stays dead"
                    )
                    _say(report.notes[-1])
                    stack.host_kill(host)
                    killed = True
            _sweep()
            time.sleep(2)
        took = time.monotonic() - started
        items = sum(runs.values_list("items_done", flat=True))
        documents = sum(runs.values_list("documents_issued", flat=True))
        done = runs.filter(status="done").count()
        ok &= done == len(run_ids)
        results.append(
            f"issuing  {len(run_ids)} runs, {done} done in {took:.0f} s: {items:,} items, {items / took:,.0f} items/s, "
            f"{documents:,} documents"
        )
        _say(results[-1])
        readers.stage = "after"
        readers.finish()
        sampler.stop.set()
        sampler.join(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        for province, run_id in run_ids.items():
            report.check(f"run {province}", "run status", "done", runs.get(pk=run_id).status)
            if province in eligible:
                faults.issuing_check(report, f"run {province}", run_id, eligible[province])
        faults.issuing_check_all(report, "issuing")

        print("\nStages")
        for line in results:
            print(f"  {line}")
        print("\nPages (served through the router; replica when its lag is under the limit)")
        print(f"  {'stage':<9} {'page':<14} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}")
        for (stage, page), values in sorted(readers.latencies.items()):
            if stage not in ("uploads", "issuing"):
                continue
            print(
                f"  {stage:<9} {page:<14} {len(values):>6} {1000 * statistics.median(values):>8.0f} "
                f"{1000 * _pct(values, 0.95):>8.0f} {readers.errors[(stage, page)]:>7}"
            )
        print("\nReplica lag (s) and queue depths (max)")
        for stage in ("uploads", "issuing"):
            lag = sampler.lag.get(stage, [])
            queues = ", ".join(f"{k} {v}" for k, v in sampler.queues[stage].items() if v)
            print(
                f"  {stage:<9} lag median {statistics.median(lag) if lag else float('nan'):.2f}, "
                f"p95 {_pct(lag, 0.95):.2f}, max {max(lag, default=float('nan')):.2f}; queues: {queues or 'empty'}"
            )
    except Exception as exc:
        traceback.print_exc()
        print(f"stopped by {type(exc).__name__}: {exc}")
        ok = False
    finally:
        readers.finish()
        if "django" in sys.modules and getattr(sys.modules["django"], "apps", None) is not None:
            from django.db import connections

            connections.close_all()
        services.replica_stop(port=replica_port, data=replica_data)
        stack.close(keep=args.keep)
    report.print()
    failed = [c for c in report.checks if not c.ok]
    print(f"\n{len(report.checks) - len(failed)}/{len(report.checks)} comparisons ok")
    return 0 if ok and report.checks and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
