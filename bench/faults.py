#!/usr/bin/env python3
"""Faults: restart PostgreSQL and Redis and SIGKILL workers during an ingest and an issuing run; then prove that
nothing was lost and nothing doubled (issue #7 item 4, docs/operations.md § Faults and recovery).

    .venv/bin/python bench/faults.py [--rows 300000] [--segments 2000] [--keep] [--strict]

Never touches the shared development servers: it starts its own PostgreSQL 15 cluster and Redis on free ports
under ``/var/tmp/piaogen-faults-*``, migrates a database there, seeds the demo country (``seed_demo --segments
N``: toll units, cards, customers and their buyer titles), and runs real ``celery worker`` processes (queues
``ingest`` and ``issue``) as subprocesses, restarted like a supervisor would after each kill. It stands in for
``celery beat`` by sending the two stalled-work sweeps (``resume_stalled_batches``, ``issue_runs_resume_stalled``)
through the broker every ``--sweep`` seconds, with short staleness settings so recovery takes seconds.

1. **Ingest**: a segments CSV of ``--rows`` rows of province 32 (bench/generate.py; trips at least eight days old)
   plus duplicate and invalid rows is uploaded through ``upload_create`` (as the console does) in small chunks;
   while the worker ingests it, the faults are injected one after the other, each once the batch is seen to make
   progress again after the one before. Compared: file rows = accepted + duplicate + rejected, stored segments =
   distinct valid rows, no duplicate natural key, sum of fees = the file's.
2. **Issuing**: the daily run of province 32 (business date = the day-7 cut-off) through the ``issue_daily`` task,
   with the same faults. Compared: every item eligible before the run is in exactly one live document item of the
   run (and nothing else is), the items' amounts and the documents' gross amounts add up to the items' own
   amounts, each document's gross is the sum of its items, number series are gapless and unique.

Each phase starts with the work queued while no worker is up and Redis restarting (its message lost); then come
six faults (worker SIGKILL, PostgreSQL ``-m fast`` restart, pool SIGKILL, Redis restart, PostgreSQL ``-m
immediate`` restart, worker SIGKILL) at 10–85 % of the work. A worker that exits by itself is restarted (as a
supervisor would). What does not recover by itself is done by hand and listed as a MANUAL STEP.

Prints the faults injected (what, when, at what progress, how long until progress resumed) and the comparisons
(expected vs found); exits 1 on any mismatch or when something did not finish (``--strict``: also after a manual
step). Every process and directory it started is removed at the end, also on Ctrl-C or failure (``--keep`` leaves
the directory, for the logs).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PIAOGEN_PG_BIN", "/usr/lib/postgresql/15/bin"))
PYTHON = sys.executable
PROVINCE = "32"
TAG = "F"  # pass-id prefix of the generated rows
IS_ROOT = os.geteuid() == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {message}", flush=True)


# --- the private servers and workers -------------------------------------------------------------------------------


class Stack:
    """A private PostgreSQL cluster, Redis and Celery workers under one directory; ``close()`` removes all of it."""

    def __init__(self, *, chunk_rows: int, stale_seconds: int) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="piaogen-faults-", dir="/var/tmp"))
        os.chmod(self.home, 0o755)  # noqa: S103 -- the postgres user must traverse it
        self.pg_data = self.home / "pg"
        self.pg_run = self.home / "pg-run"
        self.pg_port = _free_port()
        self.redis_port = _free_port()
        self.redis: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.worker_count = 0
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.pg_port}/piaogen",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "MEDIA_ROOT": str(self.home / "media"),
            "PIAOGEN_QUEUE_PREFIX": "",
            "PIAOGEN_INGEST_CHUNK_ROWS": str(chunk_rows),
            "PIAOGEN_INGEST_STALE_SECONDS": str(stale_seconds),
            "PIAOGEN_ISSUE_STALE_SECONDS": str(stale_seconds),
            "PIAOGEN_DELIVER_AFTER_ISSUE": "false",
            "CONN_MAX_AGE": "0",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "LOG_LEVEL": "INFO",
        }

    # PostgreSQL

    def _pg(self, *args: str, check: bool = True) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if IS_ROOT:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=check, cwd=self.home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def pg_start(self) -> None:
        for path in (self.pg_data, self.pg_run):
            path.mkdir()
            if IS_ROOT:
                pw = pwd.getpwnam("postgres")
                os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(self.pg_data, 0o700)
        self._pg(
            "initdb", "-D", str(self.pg_data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--lc-collate=C",
        )  # fmt: skip
        options = (
            f"-p {self.pg_port} -k {self.pg_run} -c listen_addresses=127.0.0.1 -c max_connections=100"
            " -c shared_buffers=128MB -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg(
            "pg_ctl", "-D", str(self.pg_data), "-l", str(self.pg_run / "postgres.log"), "-o", options, "-w", "start"
        )
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-qc", "CREATE DATABASE piaogen"],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def pg_restart(self, mode: str) -> None:
        """``fast``: clients disconnected, clean shutdown; ``immediate``: like a crash (recovery from WAL)."""
        self._pg("pg_ctl", "-D", str(self.pg_data), "-m", mode, "-w", "restart")
        _wait(lambda: _port_open(self.pg_port), "PostgreSQL")

    def pg_stop(self) -> None:
        if (self.pg_data / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.pg_data), "-m", "immediate", "-w", "stop", check=False)

    # Redis: no persistence, like the project's development and default deployment: a restart loses the queues

    def redis_start(self) -> None:
        (self.home / "redis").mkdir(exist_ok=True)
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.redis = subprocess.Popen(
            [server, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(self.home / "redis"),
             "--save", "", "--appendonly", "no", "--logfile", str(self.home / "redis" / "redis.log")],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        _wait(lambda: _port_open(self.redis_port), "Redis")

    def redis_stop(self) -> None:
        if self.redis is not None and self.redis.poll() is None:
            self.redis.kill()
            self.redis.wait()
        self.redis = None

    def redis_restart(self) -> None:
        self.redis_stop()
        self.redis_start()

    # Celery workers, each in its own process group (the parent and its pool children die together)

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        )
        return done.stdout

    def boot(self, segments: int) -> None:
        """Start the private PostgreSQL and Redis, point this process at them, migrate and seed the demo country
        with ``segments`` segments, then set Django up in this process."""
        _say(f"private servers under {self.home}: PostgreSQL :{self.pg_port}, Redis :{self.redis_port}")
        self.pg_start()
        self.redis_start()
        os.environ.update(self.env)
        self.manage("migrate", "--no-input")
        self.manage("seed_demo", "--segments", str(segments))

    def worker_start(self) -> None:
        self.worker_count += 1
        name = f"faults{self.worker_count}@%h"
        log = (self.home / f"worker-{self.worker_count}.log").open("wb")
        self.workers.append(
            subprocess.Popen(
                [PYTHON, "-m", "celery", "-A", "piaogen", "worker", "-Q", "ingest,issue", "-c", "2", "-n", name,
                 "--without-gossip", "--without-mingle", "-l", "INFO"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )  # fmt: skip
        log.close()

    def _live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def _kill_groups(self) -> None:
        """SIGKILL every worker's process group, also of a worker whose parent exited (its pool may live on)."""
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()

    def worker_kill(self) -> None:
        """SIGKILL every worker process group (a machine or container dying), then start a new worker."""
        self._kill_groups()
        self.worker_start()

    def worker_kill_children(self) -> int:
        """SIGKILL the pool processes only (the OOM killer's choice): the parent sees them lost and forks anew."""
        killed = 0
        for worker in self._live_workers():
            for child in _children(worker.pid):
                os.kill(child, signal.SIGKILL)
                killed += 1
        return killed

    def workers_supervise(self) -> int | None:
        """Like systemd's Restart=always: when no worker is alive, start one. Returns the exit code seen."""
        if self._live_workers() or not self.workers:
            return None
        code = self.workers[-1].returncode
        self.worker_start()
        return code

    def workers_stop(self) -> None:
        self._kill_groups()
        self.workers = []

    def close(self, *, keep: bool) -> None:
        self.workers_stop()
        self.redis_stop()
        self.pg_stop()
        if keep:
            _say(f"kept {self.home}")
        else:
            shutil.rmtree(self.home, ignore_errors=True)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


# --- the input file -----------------------------------------------------------------------------------------------


@dataclass
class FileFacts:
    path: Path
    rows: int = 0
    valid_distinct: int = 0
    duplicates: int = 0
    invalid: int = 0
    fee_fen: int = 0  # of the first occurrence of each valid natural key


def _fen(yuan: str) -> int:
    whole, _, cents = yuan.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def file_make(stack: Stack, rows: int, today: dt.date) -> FileFacts:
    """Generated rows (all valid), then every 97th row again (duplicates) and every 131st with a broken card
    number and a new pass id (rejected): the expected counts are known without trusting the pipeline."""
    generated = stack.home / "generated.csv"
    subprocess.run(
        [PYTHON, "bench/generate.py", "--segments", str(rows), "--province", PROVINCE, "--out", str(generated),
         "--today", (today - dt.timedelta(days=8)).isoformat(), "--days", "40", "--tag", TAG, "--workers", "2"],
        cwd=ROOT, env=stack.env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    facts = FileFacts(stack.home / "segments.csv")
    seen: set[tuple[str, str]] = set()
    with generated.open(newline="", encoding="utf-8") as source, facts.path.open("w", newline="") as out:
        reader = csv.reader(source)
        writer = csv.writer(out, lineterminator="\n")
        header = next(reader)
        writer.writerow(header)
        at = {name: i for i, name in enumerate(header)}
        extra: list[list[str]] = []
        for n, row in enumerate(reader):
            writer.writerow(row)
            key = (row[at["pass_id"]], row[at["segment_no"]])
            assert key not in seen, key
            seen.add(key)
            facts.valid_distinct += 1
            facts.fee_fen += _fen(row[at["fee"]])
            if n % 97 == 0:
                extra.append(row)
                facts.duplicates += 1
            if n % 131 == 0:
                bad = list(row)
                bad[at["pass_id"]] = "X" + bad[at["pass_id"]][1:]
                bad[at["card_no"]] = "12345"
                extra.append(bad)
                facts.invalid += 1
        for row in extra:  # interleaved over the last chunks: duplicates against the database and within chunks
            writer.writerow(row)
        facts.rows = facts.valid_distinct + len(extra)
    generated.unlink()
    return facts


# --- faults --------------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    what: str
    at: float  # progress (0–1) at which it is injected
    action: Callable[[], object]
    injected_s: float | None = None
    progress: str = ""
    recovered_s: float | None = None  # seconds from the fault until progress resumed


@dataclass
class Check:
    phase: str
    what: str
    expected: object
    found: object

    @property
    def ok(self) -> bool:
        return self.expected == self.found


@dataclass
class Report:
    faults: list[tuple[str, Fault]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)  # what had to be done by hand: a recovery gap

    def check(self, phase: str, what: str, expected: object, found: object) -> None:
        self.checks.append(Check(phase, what, expected, found))

    def print(self) -> None:
        print("\nFaults injected")
        print(f"  {'phase':<8} {'fault':<52} {'at s':>6} {'progress':>22} {'resumed after s':>16}")
        for phase, f in self.faults:
            at = f"{f.injected_s:6.1f}" if f.injected_s is not None else "     -"
            back = f"{f.recovered_s:16.1f}" if f.recovered_s is not None else "               -"
            print(f"  {phase:<8} {f.what:<52} {at} {f.progress:>22} {back}")
        print("\nComparisons")
        print(f"  {'phase':<8} {'what':<58} {'expected':>16} {'found':>16}")
        for c in self.checks:
            mark = "ok" if c.ok else "MISMATCH"
            print(f"  {c.phase:<8} {c.what:<58} {c.expected!s:>16} {c.found!s:>16}  {mark}")
        for note in self.notes:
            print(f"note: {note}")
        for step in self.manual:
            print(f"MANUAL STEP (not recovered automatically): {step}")


def _faults(stack: Stack) -> list[Fault]:
    return [
        Fault("SIGKILL worker (whole process group), new worker", 0.10, stack.worker_kill),
        Fault("PostgreSQL restart -m fast", 0.25, lambda: stack.pg_restart("fast")),
        Fault("SIGKILL pool processes (parent forks new ones)", 0.40, stack.worker_kill_children),
        Fault("Redis restart (no persistence: queues lost)", 0.55, stack.redis_restart),
        Fault("PostgreSQL restart -m immediate (crash recovery)", 0.70, lambda: stack.pg_restart("immediate")),
        Fault("SIGKILL worker (whole process group), new worker", 0.85, stack.worker_kill),
    ]


def _db(fn: Callable[[], Any], seconds: float = 120) -> Any:
    """``fn()`` with retries while the database is restarting."""
    from django.db import InterfaceError, OperationalError, connections

    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except (OperationalError, InterfaceError):
            connections.close_all()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _sweep() -> None:
    """What celery beat sends every minute (settings.CELERY_BEAT_SCHEDULE), sent here every few seconds."""
    from piaogen.celery import app

    for task in ("tolling.tasks.resume_stalled_batches", "invoicing.tasks.issue_runs_resume_stalled"):
        try:
            app.send_task(task, expires=30)
        except Exception as exc:  # Redis is restarting: the next sweep goes through
            _say(f"sweep not sent ({type(exc).__name__})")


def drive(
    *,
    stack: Stack,
    phase: str,
    report: Report,
    faults: list[Fault],
    progress: Callable[[], tuple[str, int, int]],
    finished: set[str],
    sweep_s: float,
    timeout_s: float,
    on_failed: Callable[[], bool] | None = None,
) -> str:
    """Poll ``progress()`` (status, done, total) until a finished status, injecting each fault once the work is
    at its share and has progressed since the fault before. Returns the last status."""
    started = time.monotonic()
    last_sweep = 0.0
    pending = list(faults)
    current: Fault | None = None
    done_at_fault = -1
    status = ""
    while time.monotonic() - started < timeout_s:
        now = time.monotonic()
        if now - last_sweep >= sweep_s:
            _sweep()
            last_sweep = now
        if (code := stack.workers_supervise()) is not None:
            report.notes.append(
                f"{phase}: the worker exited by itself (code {code}) at {now - started:.1f} s; restarted"
            )
            _say(report.notes[-1])
        status, done, total = _db(progress)
        if current is not None and done > done_at_fault and current.recovered_s is None:
            current.recovered_s = now - started - (current.injected_s or 0)
            _say(f"{phase}: progress again after {current.recovered_s:.1f} s ({done:,}/{total:,})")
        if status in finished:
            if status == "failed" and on_failed is not None and on_failed():
                continue
            break
        if pending and total and done >= pending[0].at * total and (current is None or done > done_at_fault):
            current = pending.pop(0)
            current.injected_s = now - started
            current.progress = f"{done:,}/{total:,} ({done / total:.0%})"
            _say(f"{phase}: {current.what} at {current.progress}")
            current.action()
            report.faults.append((phase, current))
            time.sleep(1)  # a COMMIT sent just before a kill still lands: that is not a recovery
            done_at_fault = _db(progress)[1]
        time.sleep(0.3)
    for fault in pending:  # the work ended (or timed out) before their turn
        fault.progress = "not injected: ended"
        report.faults.append((phase, fault))
    report.notes.append(f"{phase}: {status} after {time.monotonic() - started:.1f} s")
    return status


def lost_message(
    *,
    stack: Stack,
    report: Report,
    phase: str,
    send: Callable[[], object],
    started: Callable[[], bool],
    sweep_s: float,
    wait_s: float,
    by_hand: Callable[[], None] | None = None,
) -> None:
    """The work is queued while no worker is up, and Redis restarts before one comes: its message is lost. Waits
    (sweeping) until ``started()``; after ``wait_s`` calls ``by_hand()`` once, if given."""
    stack.workers_stop()
    send()
    fault = Fault("Redis restart while queued, no worker (message lost)", 0.0, stack.redis_restart)
    fault.injected_s, fault.progress = 0.0, "queued"
    began = time.monotonic()
    stack.redis_restart()
    stack.worker_start()
    report.faults.append((phase, fault))
    _say(f"{phase}: {fault.what}")
    last_sweep = 0.0
    while not _db(started):
        now = time.monotonic()
        if now - began > wait_s:
            if by_hand is None:
                return
            by_hand()
            by_hand = None
        if now - last_sweep >= sweep_s:
            _sweep()
            last_sweep = now
        time.sleep(0.3)
    fault.recovered_s = time.monotonic() - began
    _say(f"{phase}: started after {fault.recovered_s:.1f} s")


# --- phase 1: ingest ------------------------------------------------------------------------------------------------


def ingest(stack: Stack, report: Report, facts: FileFacts, sweep_s: float, timeout_s: float) -> None:
    from django.db import connection

    from piaogen.models import Role, User
    from piaogen.services import staff_upsert
    from tolling.models import RejectedRow, Segment, UploadBatch
    from tolling.services import upload_create

    user = User.objects.filter(username="faults-32").first() or staff_upsert(
        username="faults-32", role=Role.PROVINCE, province=PROVINCE, password=None
    )
    uploaded: list[UploadBatch] = []

    def upload() -> None:
        with facts.path.open("rb") as stream:
            uploaded.append(upload_create(user=user, kind="segments", file=stream, file_name=facts.path.name))

    lost_message(
        stack=stack,
        report=report,
        phase="ingest",
        send=upload,
        started=lambda: UploadBatch.objects.filter(pk=uploaded[0].pk).exclude(status="queued").exists(),
        sweep_s=sweep_s,
        wait_s=timeout_s,
    )
    batch = uploaded[0]
    _say(f"ingest: batch #{batch.pk}, {facts.rows:,} rows")

    def progress() -> tuple[str, int, int]:
        row = UploadBatch.objects.values_list("status", "rows_done").get(pk=batch.pk)
        return row[0], row[1], facts.rows

    failed_once: list[bool] = []

    def on_failed() -> bool:
        """A batch that ended failed is retried once as a maintainer would (upload_retry); reported as such."""
        from tolling.services import upload_retry

        if failed_once:
            return False
        failed_once.append(True)
        message = UploadBatch.objects.values_list("message", flat=True).get(pk=batch.pk)
        report.manual.append(f"ingest: batch ended FAILED ({message[:160]}); retried (upload_retry)")
        upload_retry(batch=UploadBatch.objects.get(pk=batch.pk), user=user)
        return True

    status = drive(
        stack=stack,
        phase="ingest",
        report=report,
        faults=_faults(stack),
        progress=progress,
        finished={"done", "failed", "refused", "cancelled"},
        sweep_s=sweep_s,
        timeout_s=timeout_s,
        on_failed=on_failed,
    )
    batch = _db(lambda: UploadBatch.objects.get(pk=batch.pk))
    report.check("ingest", "batch status", "done", status)
    report.check("ingest", "rows done = rows in the file", facts.rows, batch.rows_done)
    report.check(
        "ingest",
        "accepted + duplicate + rejected",
        facts.rows,
        batch.rows_accepted + batch.rows_duplicate + batch.rows_rejected,
    )
    report.check("ingest", "rows accepted", facts.valid_distinct, batch.rows_accepted)
    report.check("ingest", "rows duplicate", facts.duplicates, batch.rows_duplicate)
    report.check("ingest", "rows rejected", facts.invalid, batch.rows_rejected)
    report.check("ingest", "rejected rows stored", facts.invalid, RejectedRow.objects.filter(batch=batch).count())
    stored = Segment.objects.filter(batch_id=batch.pk)
    report.check("ingest", "segments stored by the batch", facts.valid_distinct, stored.count())
    report.check("ingest", f"segments with pass id {TAG}… (all batches)", facts.valid_distinct,
                 Segment.objects.filter(pass_id__startswith=TAG).count())  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM tolling_segment GROUP BY pass_id, segment_no HAVING count(*) > 1) d"
        )
        report.check("ingest", "natural keys stored twice", 0, cursor.fetchone()[0])
        cursor.execute("SELECT coalesce(sum(fee), 0) FROM tolling_segment WHERE batch_id = %s", [batch.pk])
        report.check("ingest", "sum of fees (fen)", facts.fee_fen, int(cursor.fetchone()[0]))


# --- phase 2: issuing -----------------------------------------------------------------------------------------------


def _eligible(day: dt.date, today: dt.date) -> dict[str, dict[int, int]]:
    """Per item kind, what the daily run of province 32 will issue: id → amount (fen), judged before it starts."""
    from invoicing.eligibility import (
        audit_charge_states,
        invoiceable_audit_charges,
        invoiceable_segments,
        invoiceable_topups,
        segment_states,
        topup_states,
    )
    from invoicing.models import InvoiceCycle, ItemKind

    kinds: list[tuple[str, list[int], Callable[[list[int]], Any]]] = [
        (
            ItemKind.SEGMENT,
            list(
                invoiceable_segments(
                    service_date_to=day, province=PROVINCE, invoice_cycle=InvoiceCycle.PER_TRIP
                ).values_list("id", flat=True)
            ),
            lambda ids: segment_states(segment_ids=ids, today=today),
        ),
        (
            ItemKind.TOPUP,
            list(invoiceable_topups(service_date_to=day, province=PROVINCE).values_list("id", flat=True)),
            lambda ids: topup_states(topup_ids=ids),
        ),
        (
            ItemKind.AUDIT_CHARGE,
            list(invoiceable_audit_charges(service_date_to=day, province=PROVINCE).values_list("id", flat=True)),
            lambda ids: audit_charge_states(charge_ids=ids),
        ),
    ]
    expected: dict[str, dict[int, int]] = {}
    for kind, ids, states in kinds:
        expected[str(kind)] = {}
        for start in range(0, len(ids), 5000):
            for item_id, state in states(ids[start : start + 5000]).items():
                if state.eligible:
                    expected[str(kind)][item_id] = state.amount
    return expected


def _series_gaps() -> tuple[int, int, int]:
    """(series, numbers handed out, numbers missing or repeated) over the digital and fiscal series."""
    from collections import Counter

    from invoicing.models import Document, NumberSeries

    taken: Counter[tuple[str, int]] = Counter()
    for kind, code, number in Document.objects.values_list("kind", "code", "number").iterator(chunk_size=20_000):
        if kind == "invoice":
            taken[(f"digital:{number[:2]}:{number[2:4]}:{number[4]}", int(number[5:]))] += 1
        elif kind == "receipt":
            taken[(f"fiscal:{code[:2]}:{code[-2:]}", int(number))] += 1
    series = NumberSeries.objects.filter(key__regex=r"^(digital|fiscal):")
    handed = bad = 0
    for s in series:
        wanted = set(range(1, s.next_value))
        handed += len(wanted)
        found = {n for (key, n) in taken if key == s.key}
        bad += len(wanted ^ found) + sum(c - 1 for (key, _n), c in taken.items() if key == s.key)
    return series.count(), handed, bad


def issuing(stack: Stack, report: Report, chunk: int, stale_s: float, sweep_s: float, timeout_s: float) -> None:
    from invoicing.eligibility import beijing_today, trip_cutoff
    from invoicing.issuing import issue_run_create_daily, issue_run_reopen
    from invoicing.models import IssueRun
    from piaogen.celery import app

    today = beijing_today()
    day = trip_cutoff(today)
    started = time.monotonic()
    expected = _eligible(day, today)
    counts = {kind: len(ids) for kind, ids in expected.items()}
    _say(f"issuing: eligible before the run {counts} (judged in {time.monotonic() - started:.1f} s)")
    run, _created = issue_run_create_daily(
        business_date=day, province=PROVINCE, params={"today": today.isoformat(), "chunk_size": chunk}
    )

    def resend() -> None:
        report.manual.append(
            "issuing: the queued run whose task message was lost was not sent again by the sweep"
            " (issue_runs_stalled takes running runs only); issue_daily sent again by hand"
        )
        _say(report.manual[-1])
        app.send_task("invoicing.tasks.issue_daily", args=[run.pk])

    lost_message(
        stack=stack,
        report=report,
        phase="issuing",
        send=lambda: app.send_task("invoicing.tasks.issue_daily", args=[run.pk]),
        started=lambda: IssueRun.objects.filter(pk=run.pk).exclude(status="queued").exists(),
        sweep_s=sweep_s,
        wait_s=stale_s + 3 * sweep_s + 10,
        by_hand=resend,
    )

    def progress() -> tuple[str, int, int]:
        row = IssueRun.objects.values_list("status", "items_done", "items_total").get(pk=run.pk)
        return row[0], row[1], row[2] or sum(counts.values())

    reopened: list[bool] = []

    def on_failed() -> bool:
        """H1 is adding the take-over of failed runs; until then a failed run is reopened by hand and sent again."""
        if len(reopened) >= 3:
            return False
        reopened.append(True)
        message = IssueRun.objects.values_list("message", flat=True).get(pk=run.pk)
        report.manual.append(f"issuing: run ended FAILED ({message[:160]}); reopened and sent again")
        issue_run_reopen(run=IssueRun.objects.get(pk=run.pk))
        app.send_task("invoicing.tasks.issue_daily", args=[run.pk])
        return True

    status = drive(
        stack=stack,
        phase="issuing",
        report=report,
        faults=_faults(stack),
        progress=progress,
        finished={"done", "failed"},
        sweep_s=sweep_s,
        timeout_s=timeout_s,
        on_failed=on_failed,
    )
    report.check("issuing", "run status", "done", status)
    from django.db import connection

    with connection.cursor() as cursor:  # fresh statistics: the run wrote ~250 k rows; without them the checks'
        cursor.execute("ANALYZE")  # joins are planned for empty tables and take minutes
    issuing_check(report, "issuing", run.pk, expected)
    issuing_check_all(report, "issuing")


def issuing_check(report: Report, phase: str, run_id: int, expected: dict[str, dict[int, int]]) -> None:
    """The run's live items are exactly the items judged eligible before it (``_eligible``), amounts and documents
    balanced."""
    from django.db.models import F, Sum

    from invoicing.models import Document, DocumentItem, IssueRun

    run = _db(lambda: IssueRun.objects.get(pk=run_id))
    items = DocumentItem.objects.filter(live=True, document__run=run)
    for kind, wanted in expected.items():
        found = dict(items.filter(item_kind=kind).values_list("item_id", "amount"))
        count = items.filter(item_kind=kind).count()
        report.check(phase, f"{kind}: live items of the run", len(wanted), count)
        report.check(phase, f"{kind}: eligible items not issued", 0, len(wanted.keys() - found.keys()))
        report.check(phase, f"{kind}: issued items not eligible before", 0, len(found.keys() - wanted.keys()))
        report.check(phase, f"{kind}: sum of item amounts (fen)", sum(wanted.values()), sum(found.values()))
    documents = Document.objects.filter(run=run)
    gross = documents.aggregate(s=Sum("amount_gross"))["s"] or 0
    report.check(phase, "sum of document gross (fen)", sum(sum(w.values()) for w in expected.values()), gross)
    report.check(phase, "documents = run.documents_issued", run.documents_issued, documents.count())
    unbalanced = (
        documents.annotate(items_sum=Sum("items__amount", default=0)).exclude(amount_gross=F("items_sum")).count()
    )
    report.check(phase, "documents whose gross ≠ sum of their items", 0, unbalanced)
    report.check(phase, "documents without items", 0, documents.filter(items__isnull=True).count())


def issuing_check_all(report: Report, phase: str) -> None:
    """Over the whole database: no item in two live documents, every number handed out exactly once."""
    from django.db.models import Count

    from invoicing.models import Document, DocumentItem

    all_ids = DocumentItem.objects.filter(live=True).values("item_kind", "item_id")
    twice = all_ids.annotate(n=Count("id")).filter(n__gt=1).count()
    report.check(phase, "items in more than one live document", 0, twice)
    series, handed, bad = _series_gaps()
    report.check(phase, f"numbers of {series} series: missing or repeated", 0, bad)
    report.check(phase, "numbers handed out = documents", handed, Document.objects.count())


# --- main -----------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000, help="generated segment rows in the upload")
    parser.add_argument("--segments", type=int, default=2000, help="demo segments seeded with the country")
    parser.add_argument("--chunk-rows", type=int, default=5000, help="ingest rows per committed chunk")
    parser.add_argument("--issue-chunk", type=int, default=2000, help="issuing items per committed chunk")
    parser.add_argument("--stale", type=int, default=10, help="seconds without heartbeat before a takeover")
    parser.add_argument("--sweep", type=float, default=5, help="seconds between stalled-work sweeps")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per phase before giving up")
    parser.add_argument("--keep", action="store_true", help="keep the directory (logs) at the end")
    parser.add_argument("--strict", action="store_true", help="exit 1 also when a manual step was needed")
    args = parser.parse_args()

    stack = Stack(chunk_rows=args.chunk_rows, stale_seconds=args.stale)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up like Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    report = Report()
    started = time.monotonic()
    try:
        stack.boot(args.segments)
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")
        import django

        django.setup()
        from invoicing.eligibility import beijing_today

        facts = file_make(stack, args.rows, beijing_today())
        _say(
            f"file: {facts.rows:,} rows ({facts.valid_distinct:,} valid, {facts.duplicates:,} duplicates,"
            f" {facts.invalid:,} invalid), ¥{facts.fee_fen / 100:,.2f}"
        )
        stack.worker_start()
        ingest(stack, report, facts, args.sweep, args.timeout)
        issuing(stack, report, args.issue_chunk, args.stale, args.sweep, args.timeout)
    except KeyboardInterrupt:
        report.notes.append("interrupted")
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
    ok = len(report.checks) - len(failed)
    print(f"\n{ok}/{len(report.checks)} comparisons ok in {time.monotonic() - started:.0f} s")
    return 1 if failed or not report.checks or (args.strict and report.manual) else 0


if __name__ == "__main__":
    sys.exit(main())
