#!/usr/bin/env python3
"""Several worker hosts on one machine, one killed mid-work: nothing lost, nothing doubled (issue #16 item 3).

    .venv/bin/python bench/worker_hosts.py [--uploads 3] [--rows 100000] [--segments 2000] [--keep]

Builds on bench/faults.py (its private PostgreSQL and Redis under /var/tmp, its generated upload files with known
counts, its issuing checks). Instead of one worker it starts five "hosts": Celery worker processes with their own
HOSTNAME and node name, each consuming its group's queues the way docker-compose.yml's worker services do —
`ingest-1`, `ingest-2` (queue ingest), `issue-1`, `issue-2` (issue, default), `documents-1` (pdf, reports).

1. **Ingest**: ``--uploads`` files of province 32 (``--rows`` generated rows each, plus duplicates and invalid
   rows) are uploaded at once; the two ingest hosts share them. The first host seen between 15 % and 60 % of a
   batch is SIGKILLed (its whole process group: a machine gone) and stays dead; the stall sweep hands its batch to
   the other host. Per batch: rows done, accepted + duplicate + rejected, segments stored, fees; overall: no
   natural key stored twice.
2. **Issuing**: bench/faults.py's issuing phase (the run queued while no worker is up and Redis restarts, then
   the daily run of province 32), with one fault: at 30 % the issue host that took the run is SIGKILLed and stays
   dead. Checks: every eligible item in exactly one live document, amounts, gapless numbers.

Prints which host took what, the faults and the comparisons; exits 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import faults
from faults import PYTHON, ROOT, Fault, FileFacts, Report, Stack, _db, _say, _sweep, file_make

HOSTS = {
    "ingest-1": "ingest",
    "ingest-2": "ingest",
    "issue-1": "issue,default",
    "issue-2": "issue,default",
    "documents-1": "pdf,reports",
}


class Hosts(Stack):
    """faults.Stack with a worker process per simulated host; a killed host stays dead."""

    def __init__(self, *, chunk_rows: int, stale_seconds: int) -> None:
        super().__init__(chunk_rows=chunk_rows, stale_seconds=stale_seconds)
        self.hosts: dict[str, subprocess.Popen[bytes]] = {}
        self.dead: set[str] = set()

    def log(self, host: str) -> Path:
        return self.home / f"host-{host}.log"

    def host_start(self, host: str) -> None:
        queues = HOSTS[host]
        with self.log(host).open("ab") as log:
            worker = subprocess.Popen(
                [PYTHON, "-m", "celery", "-A", "piaogen", "worker", "-Q", queues, "-c", "1",
                 "-n", f"{queues.split(',')[0]}@{host}", "--without-gossip", "--without-mingle", "-l", "INFO"],
                cwd=ROOT, env={**self.env, "HOSTNAME": host}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.hosts[host] = worker
        self.workers.append(worker)

    def host_kill(self, host: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.hosts[host].pid, signal.SIGKILL)
        self.hosts[host].wait()
        self.dead.add(host)

    def running(self) -> dict[tuple[str, int], str]:
        """(task name, first argument) → the host running it now, as the workers say (Celery remote control)."""
        from piaogen.celery import app

        found: dict[tuple[str, int], str] = {}
        with contextlib.suppress(Exception):
            for node, tasks in (app.control.inspect(timeout=1.0).active() or {}).items():
                for task in tasks:
                    if task.get("args"):
                        found[(task["name"], int(task["args"][0]))] = node.split("@", 1)[1]
        return found

    def last_received(self, task: str) -> str | None:
        """The live host whose log shows the latest "Task <task>[…] received" (a busy prefork worker may not answer
        remote control in time; its log always says what it took)."""
        latest: tuple[str, str] | None = None
        for host, worker in self.hosts.items():
            if worker.poll() is not None or not self.log(host).exists():
                continue
            for line in self.log(host).read_text(errors="replace").splitlines():
                if f"Task {task}[" in line and line.endswith("received"):
                    stamp = line[1 : line.index("]")] if line.startswith("[") else ""
                    latest = max(latest or (stamp, host), (stamp, host))
        return latest[1] if latest else None

    # faults.py's phases call these: "workers" are all live hosts

    def worker_start(self) -> None:
        for host in HOSTS:
            if host not in self.dead and (host not in self.hosts or self.hosts[host].poll() is not None):
                self.host_start(host)

    def workers_supervise(self) -> int | None:
        return None  # a dead host stays dead; the other host of its group carries on

    def workers_stop(self) -> None:
        super().workers_stop()
        self.hosts = {}


def ingest(
    stack: Hosts,
    report: Report,
    files: list[FileFacts],
    sweep_s: float,
    timeout_s: float,
    *,
    provinces: list[str] | None = None,
    kill: bool = True,
) -> float:
    """Upload ``files`` (each by a user of its province in ``provinces``, default faults.PROVINCE) at once, SIGKILL
    the ingest host in the middle of one batch when ``kill``, wait for every batch to end and check each against
    its file. Returns the seconds until every batch ended."""
    from django.db import connection

    from piaogen.models import Role, User
    from piaogen.services import staff_upsert
    from tolling.models import Segment, UploadBatch
    from tolling.services import upload_create

    batches: list[tuple[int, FileFacts]] = []
    for n, facts in enumerate(files):
        province = provinces[n] if provinces else faults.PROVINCE
        username = f"hosts-{province}"
        user = User.objects.filter(username=username).first() or staff_upsert(
            username=username, role=Role.PROVINCE, province=province, password=None
        )
        with facts.path.open("rb") as stream:
            batch = upload_create(user=user, kind="segments", file=stream, file_name=facts.path.name)
        batches.append((batch.pk, facts))
    total = sum(f.rows for f in files)
    _say(f"ingest: batches {[pk for pk, _ in batches]}, {total:,} rows in all")
    started = time.monotonic()
    ids = [pk for pk, _ in batches]
    taken: dict[int, list[str]] = {pk: [] for pk in ids}  # the hosts seen running each batch, in order
    killed: Fault | None = None
    last_sweep = 0.0
    while time.monotonic() - started < timeout_s:
        rows = dict(_db(lambda: list(UploadBatch.objects.filter(pk__in=ids).values_list("pk", "rows_done"))))
        statuses = set(_db(lambda: list(UploadBatch.objects.filter(pk__in=ids).values_list("status", flat=True))))
        if statuses <= {"done", "failed", "refused", "cancelled"}:
            break
        for (task, pk), host in stack.running().items():
            if task == "tolling.tasks.ingest_batch" and pk in taken and taken[pk][-1:] != [host]:
                taken[pk].append(host)
                _say(f"ingest: batch #{pk} running on {host}")
                if killed is not None and killed.recovered_s is None and len(taken[pk]) > 1:
                    killed.recovered_s = time.monotonic() - started - (killed.injected_s or 0)
        done = sum(rows.values())
        victims = [  # a batch a host is in the middle of
            (pk, hosts[-1])
            for pk, hosts in taken.items()
            if hosts and 0.15 <= rows.get(pk, 0) / _rows(batches, pk) <= 0.6
        ]
        if kill and killed is None and victims:
            pk, host = victims[0]
            share = rows[pk] / _rows(batches, pk)
            killed = Fault(f"SIGKILL host {host} (batch #{pk} at {share:.0%}), stays dead", share, lambda: None)
            killed.injected_s = time.monotonic() - started
            killed.progress = f"{done:,}/{total:,} ({done / total:.0%})"
            stack.host_kill(host)
            _say(f"ingest: {killed.what} at {killed.progress}")
            report.faults.append(("ingest", killed))
        if time.monotonic() - last_sweep >= sweep_s:
            _sweep()
            last_sweep = time.monotonic()
        time.sleep(0.5)
    took = time.monotonic() - started
    report.notes.append(f"ingest: all batches ended after {took:.1f} s")
    for pk, facts in batches:
        batch = _db(lambda pk=pk: UploadBatch.objects.get(pk=pk))
        phase = f"#{pk}"
        report.check(phase, "batch status", "done", batch.status)
        report.check(phase, "rows done = rows in the file", facts.rows, batch.rows_done)
        report.check(phase, "rows accepted", facts.valid_distinct, batch.rows_accepted)
        report.check(phase, "rows duplicate", facts.duplicates, batch.rows_duplicate)
        report.check(phase, "rows rejected", facts.invalid, batch.rows_rejected)
        report.check(phase, "segments stored by the batch", facts.valid_distinct,
                     Segment.objects.filter(batch_id=pk).count())  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(sum(fee), 0) FROM tolling_segment WHERE batch_id = %s", [pk])
            report.check(phase, "sum of fees (fen)", facts.fee_fen, int(cursor.fetchone()[0]))
        report.notes.append(f"batch #{pk}: ran on {' then '.join(taken[pk]) or '?'}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM tolling_segment GROUP BY pass_id, segment_no HAVING count(*) > 1) d"
        )
        report.check("ingest", "natural keys stored twice", 0, cursor.fetchone()[0])
    return took


def _rows(batches: list[tuple[int, FileFacts]], pk: int) -> int:
    return next(facts.rows for bpk, facts in batches if bpk == pk)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000, help="generated segment rows per upload")
    parser.add_argument("--segments", type=int, default=2000, help="demo segments seeded with the country")
    parser.add_argument("--chunk-rows", type=int, default=2000)
    parser.add_argument("--issue-chunk", type=int, default=500)
    parser.add_argument("--stale", type=int, default=10, help="seconds without heartbeat before a takeover")
    parser.add_argument("--sweep", type=float, default=3, help="seconds between stalled-work sweeps")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    stack = Hosts(chunk_rows=args.chunk_rows, stale_seconds=args.stale)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = Report()
    started = time.monotonic()
    try:
        stack.boot(args.segments)
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")
        import django

        django.setup()
        from invoicing.eligibility import beijing_today

        files = []
        for n in range(args.uploads):
            faults.TAG = "HIJKLMNOPQ"[n]  # distinct pass ids per file
            facts = file_make(stack, args.rows, beijing_today())
            facts.path = facts.path.rename(stack.home / f"segments-{n}.csv")
            files.append(facts)
        stack.worker_start()
        ingest(stack, report, files, args.sweep, args.timeout)
        for host in list(stack.dead):  # the ingest host was a machine that died: issuing starts on the others
            _say(f"{host} stays dead")
        faults._faults = lambda s: [
            Fault("SIGKILL the issue host that took the run, stays dead", 0.3, lambda: _kill_issue_host(stack))
        ]
        faults.issuing(stack, report, args.issue_chunk, args.stale, args.sweep, args.timeout)
    except KeyboardInterrupt:
        report.check("all", "finished", True, False)
    except Exception as exc:
        traceback.print_exc()
        report.notes.append(f"stopped by {type(exc).__name__}: {exc}")
        report.check("all", "finished", True, False)
    finally:
        if "django" in sys.modules and getattr(sys.modules["django"], "apps", None) is not None:
            from django.db import connections

            connections.close_all()
        stack.close(keep=args.keep)
    report.print()
    failed = [c for c in report.checks if not c.ok]
    took = time.monotonic() - started
    print(f"\n{len(report.checks) - len(failed)}/{len(report.checks)} comparisons ok in {took:.0f} s")
    return 1 if failed or not report.checks else 0


def _kill_issue_host(stack: Hosts) -> None:
    from invoicing.models import IssueRun

    run = IssueRun.objects.order_by("-pk").first()
    hosts = [h for (task, pk), h in stack.running().items() if run is not None and pk == run.pk and "issue" in task]
    host = hosts[0] if hosts else stack.last_received("invoicing.tasks.issue_daily")
    if host is None:
        _say("issuing: no host is seen running the run: nothing killed")
        return
    _say(f"issuing: killing {host}, which runs the run")
    stack.host_kill(host)


if __name__ == "__main__":
    sys.exit(main())
