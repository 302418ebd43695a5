"""The loader: chunks staged by COPY, checked in SQL and loaded on two connections that take turns."""

# SQL is built from constant table and column names; values are always parameters
# ruff: noqa: S608
from __future__ import annotations

import dataclasses
import datetime as dt
import queue
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from piaogen import identifiers as ids
from tolling.importing.chunks import (
    BAD_VALUES,
    CHECKED,
    STAGING,
    TIMEZONE,
    Chunk,
    logger,
)
from tolling.importing.conflicts import conflicts_reject
from tolling.importing.loads import (
    LOADS,
    RegisteredMeanwhile,
)
from tolling.importing.validation import (
    ROW_CODE_RE,
    column_problem,
    cross_joins,
    cross_rules,
    kind_fields,
)
from tolling.models import (
    UploadBatch,
)
from tolling.reading import Table

if TYPE_CHECKING:
    from tolling.importing.vectorised import Precheck

BEIJING = ZoneInfo(TIMEZONE)
KEY_CHECKS = 3  # tries of a chunk's key check and load when concurrent uploads register its pass ids meanwhile
CLOCK_MARGIN = dt.timedelta(minutes=5)  # rows that end later than this before the chunk are left to the SQL check

# --- loading chunks on two connections ---------------------------------------------------------------------------


class _Stopped(Exception):
    """Another chunk failed or the batch was cancelled: this one rolls back."""


class _Lost(Exception):
    """The batch is no longer ours (taken over by another worker, or ended meanwhile): stop without a trace."""


class _Cancelled(Exception):
    """cancel_requested was found set before this chunk's load: it rolls back and the batch is cancelled."""


class Turns:
    """Chunks commit in file order: chunk i loads into the fact tables once chunk i-1 has committed.

    So ``rows_done`` always counts a prefix of the file (what a resumed run skips), and only one transaction at a
    time inserts into the fact tables (no lock waits between them); the COPY and the checks of the next chunk run
    meanwhile on the other connection: two cores' worth of PostgreSQL.
    """

    def __init__(self) -> None:
        self.next = 0
        self.stopped = False
        self._cond = threading.Condition()

    def wait(self, index: int) -> None:
        with self._cond:
            while self.next != index and not self.stopped:
                self._cond.wait()
            if self.stopped:
                raise _Stopped

    def done(self, index: int) -> None:
        with self._cond:
            self.next = index + 1
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()


def chunks_load(loader: Loader, chunks: Iterator[Chunk], *, workers: int) -> str:
    """Load the chunks on ``workers`` connections (round robin, ordered commits).

    Returns "done", "empty" (no data rows), "cancelled" or "lost" (another worker took the batch over).

    An exception of a chunk (or BaseException: a test's stand-in for SIGKILL) stops the others and is re-raised.
    """
    turns = Turns()
    inboxes: list[queue.Queue[Chunk | None]] = [queue.Queue(maxsize=1) for _ in range(workers)]
    outcomes: queue.Queue[BaseException | str] = queue.Queue()

    def work(inbox: queue.Queue[Chunk | None]) -> None:
        try:
            _staging_create(loader.width)
            while (chunk := inbox.get()) is not None:
                loader.chunk_load(chunk, turns)
        except _Stopped:
            pass
        except _Cancelled:
            outcomes.put("cancelled")
            turns.stop()
        except _Lost:
            outcomes.put("lost")
            turns.stop()
        except BaseException as exc:
            outcomes.put(exc)
            turns.stop()
        finally:
            connection.close()

    def put(inbox: queue.Queue[Chunk | None], item: Chunk | None) -> None:
        while not turns.stopped:
            try:
                inbox.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    threads = [threading.Thread(target=work, args=(inbox,), name=f"ingest-{i}") for i, inbox in enumerate(inboxes)]
    for thread in threads:
        thread.start()
    loaded = 0
    try:
        for chunk in chunks:
            if turns.stopped:
                break
            put(inboxes[chunk.index % workers], chunk)
            loaded += 1
    finally:
        for inbox in inboxes:
            if turns.stopped:
                while not inbox.empty():
                    inbox.get_nowait()
                inbox.put(None)
            else:
                put(inbox, None)
        for thread in threads:
            thread.join()
    if not outcomes.empty():
        outcome = outcomes.get()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome
    return "done" if loaded else "empty"


# --- the loader ----------------------------------------------------------------------------------------------------


class Loader:
    """Loads one batch's chunks: builds the staging table and the checking SQL once, then runs them per chunk."""

    def __init__(self, batch: UploadBatch, table: Table, timings: dict[str, float]) -> None:
        self.batch = batch
        self.table = table
        self.kind = batch.kind
        self.province = batch.province
        assert self.province in ids.PROVINCE_NAMES
        self.width = len(table.header)
        self.fields = [f for f in kind_fields(self.kind) if f.name in table.fields or not f.column.required]
        self.check_sql, self.check_params = self._check_sql()
        # rows certainly valid are recognised and typed in the worker (polars); the SQL checks the others
        self.precheck: Precheck | None = None
        if settings.PIAOGEN.get("INGEST_VECTORISED", False):
            # imported only with the lever on: polars alone adds ≈ 37 MB to the worker
            from tolling.importing.vectorised import Precheck, supported

            if supported(self.kind, table):
                self.precheck = Precheck(table, self.province)
        self.check_some_sql = self.check_sql.replace(
            f"FROM {STAGING} s OFFSET 0", f"FROM {STAGING} s WHERE s.line_no = ANY(%s::int[]) OFFSET 0"
        )
        self.timings = timings  # seconds per phase, all chunks of this run

    def _cell(self, name: str) -> str:
        """The cleaned cell of a field (the reader trimmed, folded and un-neutralised it; empty is NULL)."""
        position = self.table.fields.get(name)
        return "NULL::text" if position is None else f"s.c{position}"

    def _check_sql(self) -> tuple[str, list[str]]:
        cleaned = ", ".join(f"{self._cell(f.name)} AS f_{f.name}" for f in self.fields)
        typed = ", ".join(f"{f.value_sql('c.f_' + f.name)} AS v_{f.name}" for f in self.fields)
        # (condition, SQL expression of the reason with one %s, its parameter, the row code)
        reasons: list[tuple[str, str, str, str]] = [
            (
                f"t.ncells > {self.width}",
                "format(%s::text, t.ncells)",
                _("该行有%(cells)s列，多于表头的%(width)s列") % {"cells": "%s", "width": self.width},
                "row.too_many_cells",
            )
        ]
        joins = []
        valid = [f"t.ncells <= {self.width}"]  # true for a row without any reason: cheap, checked first
        for field in self.fields:
            f, v = f"t.f_{field.name}", f"t.v_{field.name}"
            valid.append(f"{v} IS NOT NULL" if field.column.required else f"({f} IS NULL OR {v} IS NOT NULL)")
            if field.column.required:
                reasons.append(
                    (f"{f} IS NULL", "%s::text", column_problem(field.column, _("不能为空")), f"{field.name}.required")
                )
            for condition, problem, code in field.rules:
                condition = condition.replace("{f}", f).replace("{v}", v)
                reasons.append(
                    (
                        f"{f} IS NOT NULL AND ({condition})",
                        "%s::text",
                        column_problem(field.column, problem),
                        f"{field.name}.{code}",
                    )
                )
            if field.taxpayer:
                alias = f"bad_{field.name}"
                joins.append(f"LEFT JOIN {BAD_VALUES} {alias} ON {alias}.value = {v}")
                reasons.append(
                    (
                        f"{alias}.message IS NOT NULL",
                        f"%s::text || {alias}.message",
                        column_problem(field.column, ""),
                        f"{field.name}.taxpayer_id",
                    )
                )
                valid.append(f"{alias}.message IS NULL")
        for condition, reason, code in cross_rules(self.kind, self.province):
            reasons.append((condition, "%s::text", reason, code))
            valid.append(f"NOT coalesce({condition}, false)")
        joins += cross_joins(self.kind)
        if any(f.name == "toll_unit" for f in self.fields):
            joins.append("LEFT JOIN tolling_tollunit tu ON tu.code = t.v_toll_unit")
            extra = ", tu.id AS toll_unit_id, tu.province AS toll_unit_province"
        else:
            extra = ""
        typed_columns = ", ".join(f"t.v_{f.name}" for f in self.fields)  # the cleaned texts stay behind
        whens = [f"CASE WHEN {condition} THEN {expression} END" for condition, expression, _param, _code in reasons]
        params = [param for _condition, _expression, param, _code in reasons]
        assert all(ROW_CODE_RE.fullmatch(code) for *_rest, code in reasons)  # inlined as SQL literals
        code_whens = [f"CASE WHEN {condition} THEN '{code}' END" for condition, _expression, _param, code in reasons]
        sql = (
            f"CREATE TEMP TABLE {CHECKED} ON COMMIT DROP AS"
            f" SELECT t.line_no, {typed_columns}{extra}, CASE WHEN {' AND '.join(valid)} THEN '{{}}'::text[]"
            f" ELSE array_remove(ARRAY[{', '.join(whens)}]::text[], NULL) END AS reasons,"
            f" CASE WHEN {' AND '.join(valid)} THEN '{{}}'::text[]"
            f" ELSE array_remove(ARRAY[{', '.join(code_whens)}]::text[], NULL) END AS codes"
            f" FROM (SELECT c.*, {typed} FROM (SELECT s.line_no, s.ncells, {cleaned} FROM {STAGING} s OFFSET 0) c"
            f" OFFSET 0) t {' '.join(joins)}"
        )
        return sql, params

    def _taxpayers_check(self, cursor: Any) -> None:
        """Check taxpayer ids once per distinct value in Python (checksums); bad ones go to a temp table."""
        fields = [f for f in self.fields if f.taxpayer]
        if not fields:
            return
        bad: dict[str, str] = {}
        for field in fields:
            cursor.execute(f"SELECT DISTINCT upper({self._cell(field.name)}) FROM {STAGING} s")
            for (value,) in cursor.fetchall():
                if value is None or value in bad:
                    continue
                try:
                    ids.validate_taxpayer_id(value)
                except ValidationError as exc:
                    bad[value] = str(exc.messages[0])
        cursor.execute(f"CREATE TEMP TABLE {BAD_VALUES} (value text PRIMARY KEY, message text) ON COMMIT DROP")
        if bad:
            with cursor.copy(f"COPY {BAD_VALUES} (value, message) FROM STDIN") as copy:
                for row in bad.items():
                    copy.write_row(row)

    def _check(self, cursor: Any, chunk: Chunk, now: dt.datetime) -> None:
        """Build the checked table of the staged chunk: the certain rows typed by polars (``vectorised``), the
        others (or all, without polars) by the SQL check, which gives every reason."""
        split = None
        if self.precheck is not None:
            cursor.execute("SELECT code, id FROM tolling_tollunit WHERE province = %s", [self.province])
            split = self.precheck.split(chunk.data, dict(cursor.fetchall()), now)
        if split is None:
            cursor.execute(self.check_sql, self.check_params)
            return
        certain, doubtful, _count = split
        cursor.execute(self.check_some_sql, [*self.check_params, doubtful])
        from tolling.importing.vectorised import CHECKED_COLUMNS  # loaded with the lever (``__init__``)

        with cursor.copy(f"COPY {CHECKED} ({', '.join(CHECKED_COLUMNS)}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(certain)

    def _rejected_store(self, cursor: Any, *, lines: list[int] | None = None) -> int:
        """Store the checked rows with reasons (or just ``lines`` of them) with their cells: the error file."""
        cells = ", ".join(f"coalesce(s.c{i}, '')" for i in range(self.width))
        only = "" if lines is None else " AND k.line_no = ANY(%s)"
        cursor.execute(
            f"INSERT INTO tolling_rejectedrow (batch_id, line_no, cells, reasons, codes)"
            f" SELECT %s, k.line_no, to_jsonb(ARRAY[{cells}]::text[]),"
            f" to_jsonb(k.reasons), to_jsonb(k.codes) FROM {CHECKED} k JOIN {STAGING} s USING (line_no)"
            f" WHERE cardinality(k.reasons) > 0{only} ON CONFLICT (batch_id, line_no) DO NOTHING",
            [self.batch.pk] if lines is None else [self.batch.pk, lines],
        )
        return int(cursor.rowcount)

    def chunk_load(self, chunk: Chunk, turns: Turns) -> None:
        """Load one chunk and record its counts, in one transaction; its fact inserts wait for its turn."""
        clock = _Clock(self.timings)
        # no later than the transaction's now(), even with the database server's clock a little behind the worker's
        now = (dt.datetime.now(BEIJING) - CLOCK_MARGIN).replace(tzinfo=None)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")  # compiling the wide checking expressions costs more than it saves
            with cursor.copy(f"COPY {STAGING} FROM STDIN (FORMAT csv)") as copy:
                copy.write(chunk.data)
            clock.lap("copy")
            self._taxpayers_check(cursor)
            self._check(cursor, chunk, now)
            clock.lap("check")
            rejected = self._rejected_store(cursor)
            cursor.execute(f"SELECT count(*) FROM {CHECKED} WHERE cardinality(reasons) = 0")
            valid = cursor.fetchone()[0]
            clock.lap("reject")
            turns.wait(chunk.index)
            clock.lap("wait")
            cursor.execute("SELECT cancel_requested FROM tolling_uploadbatch WHERE id = %s", [self.batch.pk])
            if cursor.fetchone()[0]:
                raise _Cancelled
            # in the turn: every earlier chunk has committed, so a key taken earlier in the file is seen
            for attempt in range(1, KEY_CHECKS + 1):
                try:
                    with transaction.atomic():  # a savepoint: the key check and the load are tried again together
                        outcome = conflicts_reject(cursor, self.batch)
                        if attempt == KEY_CHECKS:
                            outcome = dataclasses.replace(outcome, probed=False)  # the arbitrated way, whatever comes
                        conflicts, corrected = outcome.rejected, outcome.corrected
                        if conflicts:
                            self._rejected_store(cursor, lines=conflicts)
                        clock.lap("conflicts")
                        accepted = LOADS[self.kind](cursor, self.batch, outcome)
                        clock.lap("insert")
                    break
                except RegisteredMeanwhile:  # a concurrent upload registered one of our pass ids: check again
                    logger.info("batch %s: pass ids registered meanwhile, keys checked again", self.batch.pk)
            duplicate = valid - len(conflicts) - len(corrected) - accepted
            cursor.execute(
                "UPDATE tolling_uploadbatch SET rows_done = rows_done + %s, rows_accepted = rows_accepted + %s,"
                " rows_duplicate = rows_duplicate + %s, rows_rejected = rows_rejected + %s,"
                " rows_conflict = rows_conflict + %s, rows_corrected = rows_corrected + %s,"
                " rows_total = greatest(rows_total, rows_done + %s), heartbeat_at = now()"
                " WHERE id = %s AND rows_done = %s AND status = 'running'",
                [
                    chunk.rows,
                    accepted,
                    duplicate,
                    rejected + len(conflicts),
                    len(conflicts),
                    len(corrected),
                    chunk.rows,
                    self.batch.pk,
                    chunk.done_before,
                ],
            )
            if cursor.rowcount != 1:  # another worker took the batch over (we looked dead): it goes on, we stop
                raise _Lost
            cursor.execute(f"TRUNCATE {STAGING}")
        turns.done(chunk.index)
        clock.lap("commit")
        logger.info(
            "batch %s: %s rows (%s accepted, %s rejected, %s conflicts); %s",
            self.batch.pk,
            chunk.rows,
            accepted,
            rejected,
            len(conflicts),
            ", ".join(f"{phase} {seconds:.2f}s" for phase, seconds in self.timings.items()),
        )


class _Clock:
    """Adds the time since the last lap to ``timings[phase]`` (where a chunk's time goes, for the benchmark)."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self.last
        self.last = now


def _staging_create(width: int) -> None:
    columns = ", ".join(f"c{i} text" for i in range(width))
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
        cursor.execute(f"CREATE TEMP TABLE {STAGING} (line_no int, ncells int{', ' if columns else ''}{columns})")
