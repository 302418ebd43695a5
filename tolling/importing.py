"""The ingest engine of provincial batch uploads (product.md §4): stream, validate in SQL, load set-based.

``batch_process(batch_id=…)`` claims a batch with a conditional UPDATE (queued, or running with a stale heartbeat:
its worker died), opens the file (``tolling.reading``: the whole-file checks refuse it before anything loads),
and then works in chunks of ``INGEST_CHUNK_ROWS`` data rows. Per chunk, in ONE transaction:

1. the rows are streamed with ``COPY`` into a temporary all-text staging table (cells cleaned by the reader:
   trimmed, full-width folded, un-neutralised; plain CSV records go through as their own text);
2. one set-based ``SELECT`` casts every cell (guarded by cheap shape checks, so a bad cell never raises) and
   builds the array of **every** reason a row is rejected, each naming its column
   (``ETC卡号（card_no）：卡号必须是20位数字``); low-cardinality columns that need a checksum (taxpayer ids) are
   checked in Python once per distinct value with ``piaogen.identifiers``; rejected rows (cells + reasons) are
   stored;
3. when the chunk before it has committed, ``INSERT … SELECT … ON CONFLICT DO NOTHING`` loads the valid rows (first
   occurrence wins); what was not inserted is a duplicate (within the file or against the database); dimension
   rows are upserted set-based (trips, cards, vehicles for segments; operators for the other kinds);
4. the batch's counters and heartbeat are updated (only if ``rows_done`` is still where this run left it: a worker
   that was taken over stops) and the transaction commits.

Chunks alternate between two connections (``INGEST_WORKERS``): while one inserts chunk k, the other COPYs and
checks chunk k+1, and a thread of Python parses chunk k+2. Commits stay in file order, and only one transaction at
a time inserts into the fact tables, so ``rows_done`` always counts a prefix of the file. A worker killed at any
point loses only its open chunks; the retry skips the first ``rows_done`` data rows (the reading order is
deterministic) and goes on: nothing lost, nothing doubled. ``cancel_requested`` is checked before each chunk loads.

Decisions (documented in docs/benchmarks.md and CONTRIBUTING's upload checklist):

- a toll unit that does not exist and one of another province get the same reason (no inference across
  provinces); ``toll_units`` rows must carry the uploader's province and cannot take over another province's code;
- ``topups``: the card number's province (its first two digits) must be the uploader's; the issuer operator is
  looked up or created by taxpayer id in the uploader's province;
- ``taxi_rides``: the company is looked up or created by taxpayer id in the uploader's province; the business
  date is the Beijing date of the end of the ride; ``distance_km`` (at most three decimals) → integer metres;
- ``toll_units``: a row is a duplicate when the unit (name, operator, road nature) and its rate at ``valid_from``
  (default: the Beijing date of processing) are already stored as sent; otherwise it is accepted (created or
  updated). Operators keep the name they were first created with.
"""

# SQL here is assembled from this module's constants and contract names only; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from piaogen import identifiers as ids
from piaogen.money import MAX_YUAN_DIGITS, parse_yuan
from tolling.contract import CONTRACT, Column
from tolling.models import (
    AuditReason,
    CardType,
    PayMethod,
    PlateColor,
    RoadNature,
    UploadBatch,
    UploadKind,
    UploadStatus,
    VehicleClass,
)
from tolling.reading import FileRefused, Table, table_open

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 50_000
STAGING = "ingest_stg"
CHECKED = "ingest_chk"
BAD_VALUES = "ingest_bad"
TIMEZONE = "Asia/Shanghai"

# --- claiming and finishing ----------------------------------------------------------------------------------------


def batch_claim(*, batch_id: int) -> UploadBatch | None:
    """Take the batch for this worker: queued, or running with a stale heartbeat. None when not ours to run."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.PIAOGEN["INGEST_STALE_SECONDS"])
    claimable = Q(status=UploadStatus.QUEUED) | Q(status=UploadStatus.RUNNING) & (
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale)
    )
    claimed = UploadBatch.objects.filter(claimable, pk=batch_id).update(status=UploadStatus.RUNNING, heartbeat_at=now)
    if not claimed:
        return None
    UploadBatch.objects.filter(pk=batch_id, started_at__isnull=True).update(started_at=now)
    return UploadBatch.objects.get(pk=batch_id)


def _batch_end(batch: UploadBatch, status: str, message: str, **fields: Any) -> None:
    UploadBatch.objects.filter(pk=batch.pk).update(
        status=status, message=message, finished_at=timezone.now(), heartbeat_at=timezone.now(), **fields
    )


def _same_file_message(batch: UploadBatch) -> str:
    earlier = (
        UploadBatch.objects.filter(
            province=batch.province, kind=batch.kind, sha256=batch.sha256, status=UploadStatus.DONE
        )
        .exclude(pk=batch.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if earlier is None:
        return ""
    return _("与批次 #%(batch)s 文件相同，未新增数据") % {"batch": earlier}


def batch_process(*, batch_id: int, chunk_rows: int | None = None, timings: dict[str, float] | None = None) -> None:
    """Ingest an upload batch end to end (see the module docstring). Re-running a finished batch does nothing.

    ``timings``, when given, receives the seconds spent per phase (summed over chunks and connections).
    """
    batch = batch_claim(batch_id=batch_id)
    if batch is None:
        return
    size = chunk_rows or settings.PIAOGEN.get("INGEST_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)
    with translation.override(settings.LANGUAGE_CODE):
        try:
            _batch_run(batch, size, timings if timings is not None else {})
        except Exception as exc:
            logger.exception("upload batch %s failed", batch.pk)
            _batch_end(batch, UploadStatus.FAILED, _("处理失败：%(error)s") % {"error": f"{type(exc).__name__}: {exc}"})


def _batch_run(batch: UploadBatch, chunk_rows: int, timings: dict[str, float]) -> None:
    from tolling.errorfile import error_file_write

    try:
        source = batch.file.open("rb")
    except OSError:
        _batch_end(batch, UploadStatus.REFUSED, _("原始文件不存在"))
        return
    with source:
        try:
            table = table_open(source, kind=batch.kind)
        except FileRefused as refused:
            _batch_end(batch, UploadStatus.REFUSED, refused.message)
            return
        warnings = []
        if table.ignored:
            warnings.append(_("已忽略未知列：%(columns)s") % {"columns": "、".join(table.ignored)})
        UploadBatch.objects.filter(pk=batch.pk).update(
            encoding=table.encoding, rows_total=max(table.rows_estimate, batch.rows_done)
        )
        loader = Loader(batch, table, timings)
        chunks = _prefetch(_chunks(table, skip=batch.rows_done, size=chunk_rows))
        try:
            outcome = _chunks_load(loader, chunks, workers=settings.PIAOGEN.get("INGEST_WORKERS", 2))
        finally:
            chunks.close()
        if outcome == "cancelled":
            _batch_cancel(batch)
            return
        if outcome == "lost":
            logger.warning("upload batch %s was taken over by another worker", batch.pk)
            return
        if outcome == "empty" and batch.rows_done == 0:
            _batch_end(batch, UploadStatus.REFUSED, _("文件只有表头，没有数据行"))
            return
    batch.refresh_from_db()
    if batch.rows_rejected:
        error_file_write(batch=batch)
    if batch.rows_accepted == 0 and (same := _same_file_message(batch)):
        warnings.append(same)
    _batch_end(batch, UploadStatus.DONE, "\n".join(warnings), rows_total=batch.rows_done)


def _batch_cancel(batch: UploadBatch) -> None:
    from tolling.errorfile import error_file_write

    batch.refresh_from_db()
    if batch.rows_rejected:
        error_file_write(batch=batch)
    message = _("已取消：取消前已处理%(done)s行，其中接收%(accepted)s行") % {
        "done": batch.rows_done,
        "accepted": batch.rows_accepted,
    }
    _batch_end(batch, UploadStatus.CANCELLED, message)


# --- reading into chunks -------------------------------------------------------------------------------------------


@dataclass
class Chunk:
    index: int  # 0, 1, 2… in this run: chunks commit in this order
    data: bytes  # UTF-8 CSV for COPY: line_no, ncells, cells…
    rows: int
    done_before: int  # data rows of the file before this chunk: the batch's rows_done when it commits


def _chunks(table: Table, *, skip: int, size: int) -> Iterator[Chunk]:
    """The data rows after the first ``skip``, as COPY-ready UTF-8 CSV of ``size`` rows each.

    A plain record goes through as its own text behind its line number; others are re-written by csv.writer.
    """
    width = len(table.header)
    records = itertools.islice(table.records(), skip, None)
    done = skip
    slow = io.StringIO()
    writer = csv.writer(slow, lineterminator="\n")
    for index in itertools.count():
        parts: list[str] = []
        add = parts.append
        for line_no, record in itertools.islice(records, size):
            if type(record) is str:
                add(f"{line_no},{width},{record}\n")
            else:
                writer.writerow((line_no, len(record), *record[:width]))
                add(slow.getvalue())
                slow.seek(0)
                slow.truncate()
        if not parts:
            return
        yield Chunk(index, "".join(parts).encode(), len(parts), done)
        done += len(parts)


_T = TypeVar("_T")


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


def _prefetch(items: Iterator[_T], depth: int = 1) -> Generator[_T, None, None]:
    """Run ``items`` in a thread, ``depth`` ahead: Python parses while PostgreSQL loads."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:
            put(_Failure(exc))

    worker = threading.Thread(target=run, name="ingest-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


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


def _chunks_load(loader: Loader, chunks: Iterator[Chunk], *, workers: int) -> str:
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


# --- validation as SQL ---------------------------------------------------------------------------------------------


def _message(validator: Callable[..., object], bad: object, **kwargs: Any) -> str:
    """The (translated) message a validator of piaogen gives for ``bad``: one source of truth for wording."""
    try:
        validator(bad, **kwargs)
    except ValidationError as exc:
        return str(exc.messages[0])
    raise AssertionError(f"{validator.__name__} accepted {bad!r}")


def _ints(values: Any) -> str:
    return ", ".join(str(int(v)) for v in values)


def _texts(values: Any) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _sql_regex(pattern: str) -> str:
    """A Python fullmatch pattern of piaogen.identifiers as an anchored SQL regex literal."""
    assert "'" not in pattern
    return f"'^(?:{pattern})$'"


# PostgreSQL's regex engine is slow on bounded repetition ({1,40}: ~10 µs a row) and fast on plain classes with
# "+" (~0.3 µs): shapes are checked as "class+ and a length", the common time format by LIKE first.
TIME_RE = (
    "'^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9]"
    "(:[0-5][0-9]([.][0-9]{1,6})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$'"
)
_OFFSET_RE = "'(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'"
DATE_RE = "'^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'"


def _shape_sql(f: str, pattern: str) -> str:
    """``f`` matches a ``[class]{n}`` / ``[class]{a,b}`` pattern of piaogen.identifiers, written the fast way."""
    match = re.fullmatch(r"(\[[^\]]+\])\{(\d+)(?:,(\d+))?\}", pattern)
    assert match is not None, pattern
    low, high = int(match[2]), int(match[3] or match[2])
    length = f"char_length({f}) = {low}" if low == high else f"char_length({f}) BETWEEN {low} AND {high}"
    return f"({f} ~ '^{match[1]}+$' AND {length})"


def _day_exists_sql(f: str) -> str:
    """The day of a well-formed ``YYYY-MM-DD…`` text exists in its month (so the cast cannot raise)."""
    return (
        f"(substr({f}, 9, 2) COLLATE \"C\" <= '28' OR substr({f}, 9, 2)::int <= extract(day FROM"
        f" make_date(substr({f}, 1, 4)::int, substr({f}, 6, 2)::int, 1) + interval '1 month' - interval '1 day'))"
    )


def _time_sql(f: str) -> str:
    """``f`` as timestamptz (Beijing when it has no offset), or NULL when it is not a valid time.

    Range comparisons say COLLATE "C": under the cluster's C.UTF-8 locale they would go through strcoll (4× slower).
    """
    canonical = (
        f"{f} LIKE '____-__-__ __:__:__' AND {f} ~ '^[0-9]+-[0-9]+-[0-9]+ [0-9]+:[0-9]+:[0-9]+$'"
        f" AND left({f}, 2) IN ('19', '20')"
        f" AND substr({f}, 6, 2) COLLATE \"C\" BETWEEN '01' AND '12'"
        f" AND substr({f}, 9, 2) COLLATE \"C\" BETWEEN '01' AND '31' AND substr({f}, 12, 2) COLLATE \"C\" <= '23'"
        f" AND substr({f}, 15, 2) COLLATE \"C\" <= '59' AND substr({f}, 18, 2) COLLATE \"C\" <= '59'"
    )
    with_offset = f"CASE WHEN {f} ~ {_OFFSET_RE} THEN {f} ELSE {f} || '+08' END"
    return (
        f"CASE WHEN {canonical} AND {_day_exists_sql(f)} THEN ({f} || '+08')::timestamptz"
        f" WHEN {f} ~ {TIME_RE} AND {_day_exists_sql(f)} THEN ({with_offset})::timestamptz END"
    )


def _yuan(f: str) -> str:
    return f"ltrim({f}, '¥￥')"


def _money_sql(f: str) -> str:
    m = _yuan(f)
    return (
        f"CASE WHEN {f} ~ '^[0-9]+[.][0-9][0-9]$' AND length({f}) <= {MAX_YUAN_DIGITS + 3}"
        f" THEN replace({f}, '.', '')::bigint"  # the usual 35.50: an int8 cast, no numeric
        f" WHEN {m} ~ '^[0-9]+([.][0-9][0-9]?)?$' AND length(split_part({m}, '.', 1)) <= {MAX_YUAN_DIGITS}"
        f" THEN round({m}::numeric * 100)::bigint END"
    )


@dataclass
class Field:
    """One column as SQL: its typed value (from the cleaned text ``f_<name>``) and its rules."""

    column: Column
    typed: str  # SQL over {f}; "{f}" for text kept as is
    rules: list[tuple[str, str]]  # (SQL condition over {f} and {v}, problem)
    taxpayer: bool = False  # checked in Python per distinct value

    @property
    def name(self) -> str:
        return self.column.name

    def value_sql(self, f: str) -> str:
        """The typed value of cleaned text ``f``: NULL when any rule fails, so a valid row is cheap to recognise."""
        typed = self.typed.replace("{f}", f)
        if not self.rules or all("{v}" in condition for condition, _problem in self.rules):
            return typed  # NULL on failure by construction
        assert not any("{v}" in condition for condition, _problem in self.rules), self.name
        failing = " OR ".join(f"({condition.replace('{f}', f)})" for condition, _problem in self.rules)
        return f"CASE WHEN NOT ({failing}) THEN {typed} END"


def _problem(column: Column, problem: str) -> str:
    return _("%(column)s：%(problem)s") % {"column": column.label, "problem": problem}


def _text(column: Column, max_length: int, *, upper: bool = False) -> Field:
    typed = "upper({f})" if upper else "{f}"
    too_long = _("不能超过%(n)s个字符") % {"n": max_length}
    return Field(column, typed, [("char_length({f}) > " + str(max_length), too_long)])


def _pattern(column: Column, pattern: str, problem: str, *, upper: bool = False) -> Field:
    typed = "upper({f})" if upper else "{f}"
    return Field(column, typed, [(f"NOT {_shape_sql(typed, pattern)}", problem)])


def _code(column: Column, allowed: Any, problem: str) -> Field:
    return Field(
        column,
        f"CASE WHEN {{f}} IN ({_texts(allowed)}) THEN {{f}}::int WHEN {{f}} ~ '^[0-9]+$' AND length({{f}}) <= 3"
        f" AND {{f}}::int IN ({_ints(allowed)}) THEN {{f}}::int END",
        [("{v} IS NULL", problem)],
    )


def _choice(column: Column, choices: Any) -> Field:
    """A text code (``CLASS``) or its Chinese label (``车型不符``)."""
    whens = " ".join(
        f"WHEN upper({{f}}) = '{value}' OR {{f}} = '{label}' THEN '{value}'" for value, label in choices.choices
    )
    codes = "、".join(f"{value}（{label}）" for value, label in choices.choices)
    return Field(column, f"CASE {whens} END", [("{v} IS NULL", _("必须是%(codes)s之一") % {"codes": codes})])


def _card(column: Column) -> Field:
    return Field(
        column,
        "{f}",
        [
            (f"NOT {_shape_sql('{f}', ids._CARD_RE.pattern)}", _message(ids.validate_card_number, "x")),
            (
                f"{_shape_sql('{f}', ids._CARD_RE.pattern)} AND left({{f}}, 2) NOT IN ({_texts(ids.PROVINCE_NAMES)})",
                _message(ids.validate_card_number, "0" * 20),
            ),
        ],
    )


def _plate(column: Column) -> Field:
    chars = _sql_regex(ids._PLATE_CHARS_RE.pattern)
    return Field(
        column,
        "upper({f})",
        [
            (f"char_length({{f}}) > {ids.PLATE_MAX_LENGTH}", _message(ids.validate_plate, "京" * 11)),
            ("position(' ' IN {f}) > 0", _message(ids.validate_plate, "京A 1234")),
            (f"upper({{f}}) !~ {chars} AND position(' ' IN {{f}}) = 0", _message(ids.validate_plate, "京A#1234")),
        ],
    )


def _money(column: Column, *, positive: bool) -> Field:
    y = _yuan("{f}")
    neg = "{f} ~ '^(-[¥￥]?|[¥￥]-)[0-9]+([.][0-9]+)?$'"
    decimals = f"{y} ~ '^[0-9]+[.][0-9][0-9][0-9]+$'"
    large = f"{y} ~ '^[0-9]+([.][0-9]+)?$' AND length(split_part({y}, '.', 1)) > {MAX_YUAN_DIGITS}"
    zero = f"{y} ~ '^0+([.]0+)?$'" if positive else "false"
    rules = [
        ("{v} IS NULL AND " + neg, _message(parse_yuan, "-1")),
        ("{v} IS NULL AND " + decimals, _message(parse_yuan, "1.234")),
        ("{v} IS NULL AND " + large, _message(parse_yuan, "1" * 16)),
        ("{v} IS NULL AND " + zero, _message(parse_yuan, "0", allow_zero=False)),
        (f"{{v}} IS NULL AND NOT ({neg} OR {decimals} OR {large} OR {zero})", _message(parse_yuan, "abc")),
    ]
    typed = f"NULLIF({_money_sql('{f}')}, 0)" if positive else _money_sql("{f}")
    return Field(column, typed, rules)


def _time(column: Column) -> Field:
    problem = _("时间格式不正确：应为YYYY-MM-DD HH:MM:SS或ISO 8601，且须为有效日期时间")
    return Field(column, _time_sql("{f}"), [("{v} IS NULL", problem)])


def _taxpayer(column: Column) -> Field:
    return Field(column, "upper({f})", [], taxpayer=True)


def _fields(kind: str) -> list[Field]:
    """The per-column rules of ``kind``."""
    c = {col.name: col for col in CONTRACT[kind]}
    plate_color = _message(ids.validate_plate_color, "8")
    vehicle_class = _message(ids.validate_vehicle_class, "5")
    toll_unit = _message(ids.validate_toll_unit, "x")
    pass_id = _message(ids.validate_pass_id, "!")
    id64 = _("最多64个字符，且不能包含空格")
    natural_key = "position(' ' IN {f}) > 0 OR char_length({f}) > 64"
    common: dict[str, Callable[[Column], Field]] = {
        "pass_id": lambda col: _pattern(col, ids._PASS_ID_RE.pattern, pass_id),
        "card_no": _card,
        "plate": _plate,
        "taxi_plate": _plate,
        "plate_color": lambda col: _code(col, PlateColor.values, plate_color),
        "vehicle_class": lambda col: _code(col, VehicleClass.values, vehicle_class),
        "toll_unit": lambda col: _pattern(col, ids._TOLL_UNIT_RE.pattern, toll_unit, upper=True),
        "card_type": lambda col: _code(col, CardType.values, _message(ids.validate_card_type, "1")),
        "entry_station": lambda col: _text(col, 100),
        "exit_station": lambda col: _text(col, 100),
        "name": lambda col: _text(col, 200),
        "operator_name": lambda col: _text(col, 200),
        "issuer_name": lambda col: _text(col, 200),
        "company_name": lambda col: _text(col, 200),
        "channel": lambda col: _text(col, 32),
        "operator_tax_id": _taxpayer,
        "issuer_tax_id": _taxpayer,
        "company_tax_id": _taxpayer,
        "reason": lambda col: _choice(col, AuditReason),
        "pay_method": lambda col: _choice(col, PayMethod),
        "province": lambda col: Field(
            col,
            "{f}",
            [(f"{{f}} NOT IN ({_texts(ids.PROVINCE_NAMES)})", _message(ids.validate_province_code, "x"))],
        ),
        "road_nature": lambda col: _code(col, RoadNature.values, _("必须是1（经营性）或2（还贷）")),
        "tax_rate": lambda col: Field(
            col,
            "CASE WHEN {f} ~ '^0?[.]0[359]0*$' THEN {f}::numeric(4,3) END",
            [("{v} IS NULL", _("必须是0.03、0.05或0.09"))],
        ),
        "valid_from": lambda col: Field(
            col,
            f"CASE WHEN {{f}} ~ {DATE_RE} AND {_day_exists_sql('{f}')} THEN {{f}}::date END",
            [("{v} IS NULL", _("日期格式不正确：应为YYYY-MM-DD"))],
        ),
        "segment_no": lambda col: Field(
            col,
            "CASE WHEN {f} ~ '^[0-9]+$' AND length({f}) <= 5 AND {f}::int BETWEEN 1 AND 32767 THEN {f}::int END",
            [("{v} IS NULL", _("必须是1到32767之间的整数"))],
        ),
        "distance_km": lambda col: Field(
            col,
            "CASE WHEN {f} ~ '^[0-9]+([.][0-9][0-9]?[0-9]?)?$' AND length(split_part({f}, '.', 1)) <= 6"
            " THEN round({f}::numeric * 1000)::int END",
            [("{v} IS NULL", _("必须是不小于0的数字，最多三位小数"))],
        ),
    }
    for name in ("topup_id", "charge_id", "ticket_no", "ride_id"):
        common[name] = lambda col: Field(col, "{f}", [(natural_key, id64)])
    for name in ("entry_time", "exit_time", "topped_up_at", "paid_at", "start_time", "end_time"):
        common[name] = _time
    money_positive = kind != UploadKind.SEGMENTS
    for name in ("pay_fee", "discount_fee", "fee", "amount"):
        common[name] = lambda col: _money(col, positive=money_positive)
    return [common[name](col) for name, col in c.items()]


def _cross_rules(kind: str, province: str) -> list[tuple[str, str]]:
    """Rules across columns and against the database (toll units, province scope), as (SQL, reason)."""
    c = {col.name: col for col in CONTRACT[kind]}
    rules: list[tuple[str, str]] = []
    if "toll_unit" in c and kind != UploadKind.TOLL_UNITS:
        rules.append(
            (
                f"{_shape_sql('t.v_toll_unit', ids._TOLL_UNIT_RE.pattern)}"
                f" AND (tu.id IS NULL OR tu.province <> '{province}')",
                _problem(c["toll_unit"], _("收费单元不存在或不属于本省")),
            )
        )
    future = _("不能晚于当前时间")
    if kind == UploadKind.SEGMENTS:
        rules += [
            ("t.v_exit_time < t.v_entry_time", _problem(c["exit_time"], _("出口时间早于入口时间"))),
            ("t.v_exit_time > now()", _problem(c["exit_time"], future)),
            (
                "t.v_fee <> t.v_pay_fee - t.v_discount_fee",
                _problem(c["fee"], _("实收金额必须等于应收金额减优惠金额")),
            ),
        ]
    elif kind == UploadKind.TOPUPS:
        rules += [
            ("t.v_topped_up_at > now()", _problem(c["topped_up_at"], future)),
            (
                f"{_shape_sql('t.v_card_no', ids._CARD_RE.pattern)} AND left(t.v_card_no, 2) <> '{province}'",
                _problem(
                    c["card_no"], _("卡号的发行省份（前两位）必须是本省（%(province)s）") % {"province": province}
                ),
            ),
        ]
    elif kind == UploadKind.AUDIT_CHARGES:
        rules.append(("t.v_paid_at > now()", _problem(c["paid_at"], future)))
    elif kind == UploadKind.PAPER_TICKETS:
        rules.append(("t.v_exit_time > now()", _problem(c["exit_time"], future)))
    elif kind == UploadKind.TAXI_RIDES:
        rules += [
            ("t.v_end_time < t.v_start_time", _problem(c["end_time"], _("下车时间早于上车时间"))),
            ("t.v_end_time > now()", _problem(c["end_time"], future)),
        ]
    elif kind == UploadKind.TOLL_UNITS:
        rules += [
            (
                f"t.v_province IN ({_texts(ids.PROVINCE_NAMES)}) AND t.v_province <> '{province}'",
                _problem(c["province"], _("必须是上传者所在省份（%(province)s）") % {"province": province}),
            ),
            (
                f"tu.id IS NOT NULL AND tu.province <> '{province}'",
                _problem(c["toll_unit"], _("该收费单元编号已被其他省份使用")),
            ),
            (
                "t.v_road_nature = 1 AND t.f_tax_rate IS NULL",
                _problem(c["tax_rate"], _("经营性路段必须填写税率")),
            ),
            (
                "t.v_road_nature = 2 AND t.f_tax_rate IS NOT NULL",
                _problem(c["tax_rate"], _("还贷路段不填税率")),
            ),
        ]
    return rules


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
        self.fields = [f for f in _fields(self.kind) if f.name in table.fields or not f.column.required]
        self.check_sql, self.check_params = self._check_sql()
        self.timings = timings  # seconds per phase, all chunks of this run

    def _cell(self, name: str) -> str:
        """The cleaned cell of a field (the reader trimmed, folded and un-neutralised it; empty is NULL)."""
        position = self.table.fields.get(name)
        return "NULL::text" if position is None else f"s.c{position}"

    def _check_sql(self) -> tuple[str, list[str]]:
        cleaned = ", ".join(f"{self._cell(f.name)} AS f_{f.name}" for f in self.fields)
        typed = ", ".join(f"{f.value_sql('c.f_' + f.name)} AS v_{f.name}" for f in self.fields)
        # (condition, SQL expression of the reason with one %s, its parameter)
        reasons: list[tuple[str, str, str]] = [
            (
                f"t.ncells > {self.width}",
                "format(%s::text, t.ncells)",
                _("该行有%(cells)s列，多于表头的%(width)s列") % {"cells": "%s", "width": self.width},
            )
        ]
        joins = []
        valid = [f"t.ncells <= {self.width}"]  # true for a row without any reason: cheap, checked first
        for field in self.fields:
            f, v = f"t.f_{field.name}", f"t.v_{field.name}"
            valid.append(f"{v} IS NOT NULL" if field.column.required else f"({f} IS NULL OR {v} IS NOT NULL)")
            if field.column.required:
                reasons.append((f"{f} IS NULL", "%s::text", _problem(field.column, _("不能为空"))))
            for condition, problem in field.rules:
                condition = condition.replace("{f}", f).replace("{v}", v)
                reasons.append((f"{f} IS NOT NULL AND ({condition})", "%s::text", _problem(field.column, problem)))
            if field.taxpayer:
                alias = f"bad_{field.name}"
                joins.append(f"LEFT JOIN {BAD_VALUES} {alias} ON {alias}.value = {v}")
                reasons.append(
                    (f"{alias}.message IS NOT NULL", f"%s::text || {alias}.message", _problem(field.column, ""))
                )
                valid.append(f"{alias}.message IS NULL")
        for condition, reason in _cross_rules(self.kind, self.province):
            reasons.append((condition, "%s::text", reason))
            valid.append(f"NOT coalesce({condition}, false)")
        if any(f.name == "toll_unit" for f in self.fields):
            joins.append("LEFT JOIN tolling_tollunit tu ON tu.code = t.v_toll_unit")
            extra = ", tu.id AS toll_unit_id, tu.province AS toll_unit_province"
        else:
            extra = ""
        whens = [f"CASE WHEN {condition} THEN {expression} END" for condition, expression, _param in reasons]
        params = [param for _condition, _expression, param in reasons]
        sql = (
            f"CREATE TEMP TABLE {CHECKED} ON COMMIT DROP AS"
            f" SELECT t.*{extra}, CASE WHEN {' AND '.join(valid)} THEN '{{}}'::text[]"
            f" ELSE array_remove(ARRAY[{', '.join(whens)}]::text[], NULL) END AS reasons"
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

    def chunk_load(self, chunk: Chunk, turns: Turns) -> None:
        """Load one chunk and record its counts, in one transaction; its fact inserts wait for its turn."""
        clock = _Clock(self.timings)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")  # compiling the wide checking expressions costs more than it saves
            with cursor.copy(f"COPY {STAGING} FROM STDIN (FORMAT csv)") as copy:
                copy.write(chunk.data)
            clock.lap("copy")
            self._taxpayers_check(cursor)
            cursor.execute(self.check_sql, self.check_params)
            clock.lap("check")
            cells = ", ".join(f"coalesce(s.c{i}, '')" for i in range(self.width))
            cursor.execute(
                f"INSERT INTO tolling_rejectedrow (batch_id, line_no, cells, reasons)"
                f" SELECT %s, k.line_no, to_jsonb(ARRAY[{cells}]::text[]),"
                f" to_jsonb(k.reasons) FROM {CHECKED} k JOIN {STAGING} s USING (line_no)"
                f" WHERE cardinality(k.reasons) > 0 ON CONFLICT (batch_id, line_no) DO NOTHING",
                [self.batch.pk],
            )
            rejected = cursor.rowcount
            cursor.execute(f"SELECT count(*) FROM {CHECKED} WHERE cardinality(reasons) = 0")
            valid = cursor.fetchone()[0]
            clock.lap("reject")
            turns.wait(chunk.index)
            clock.lap("wait")
            cursor.execute("SELECT cancel_requested FROM tolling_uploadbatch WHERE id = %s", [self.batch.pk])
            if cursor.fetchone()[0]:
                raise _Cancelled
            accepted = LOADS[self.kind](cursor, self.batch)
            clock.lap("insert")
            cursor.execute(
                "UPDATE tolling_uploadbatch SET rows_done = rows_done + %s, rows_accepted = rows_accepted + %s,"
                " rows_duplicate = rows_duplicate + %s, rows_rejected = rows_rejected + %s,"
                " rows_total = greatest(rows_total, rows_done + %s), heartbeat_at = now()"
                " WHERE id = %s AND rows_done = %s AND status = 'running'",
                [chunk.rows, accepted, valid - accepted, rejected, chunk.rows, self.batch.pk, chunk.done_before],
            )
            if cursor.rowcount != 1:  # another worker took the batch over (we looked dead): it goes on, we stop
                raise _Lost
            cursor.execute(f"TRUNCATE {STAGING}")
        turns.done(chunk.index)
        clock.lap("commit")
        logger.info(
            "batch %s: %s rows (%s accepted, %s rejected); %s",
            self.batch.pk,
            chunk.rows,
            accepted,
            rejected,
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


# --- per-kind loads: INSERT … SELECT … ON CONFLICT DO NOTHING; each returns the rows accepted ----------------------


def _valid(operator_kind: str = "", tax_id: str = "") -> str:
    """FROM the checked rows without a reason, optionally joined to their operator (``o``)."""
    join = f" JOIN tolling_operator o ON o.kind = '{operator_kind}' AND o.tax_id = k.{tax_id}" if operator_kind else ""
    return f"FROM {CHECKED} k{join} WHERE cardinality(k.reasons) = 0"


def _beijing_date(expression: str) -> str:
    return f"({expression} AT TIME ZONE '{TIMEZONE}')::date"


def segments_load(cursor: Any, batch: UploadBatch) -> int:
    """Segments (first occurrence of a natural key wins), then trips (widened), vehicles and cards they name."""
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO tolling_segment (pass_id, segment_no, service_date, card_no, card_type, plate, plate_color,
                vehicle_class, toll_unit_id, province, entry_time, exit_time, entry_station, exit_station, pay_fee,
                discount_fee, fee, batch_id)
            SELECT k.v_pass_id, k.v_segment_no, {_beijing_date("k.v_exit_time")}, k.v_card_no, k.v_card_type,
                k.v_plate, k.v_plate_color, k.v_vehicle_class, k.toll_unit_id, k.toll_unit_province, k.v_entry_time,
                k.v_exit_time, k.v_entry_station, coalesce(k.v_exit_station, ''), k.v_pay_fee, k.v_discount_fee,
                k.v_fee, %(batch)s
            {_valid()} ORDER BY k.line_no
            ON CONFLICT (pass_id, segment_no) DO NOTHING
            RETURNING pass_id, card_no, card_type, plate, plate_color, vehicle_class, entry_time, exit_time,
                service_date
        ), trips AS (  -- COLLATE "C": min() and sorts by memcmp, not the cluster's strcoll
            INSERT INTO tolling_trip AS trip (pass_id, card_no, card_type, plate, plate_color, vehicle_class,
                entry_time, exit_time, service_date)
            SELECT pass_id, min(card_no COLLATE "C"), min(card_type), min(plate COLLATE "C"), min(plate_color),
                min(vehicle_class), min(entry_time), max(exit_time), min(service_date)
            FROM ins GROUP BY pass_id
            ON CONFLICT (pass_id) DO UPDATE SET entry_time = least(trip.entry_time, excluded.entry_time),
                exit_time = greatest(trip.exit_time, excluded.exit_time)
            WHERE excluded.entry_time < trip.entry_time OR excluded.exit_time > trip.exit_time
        ), new_vehicles AS (
            INSERT INTO tolling_vehicle (plate, plate_color, vehicle_class)
            SELECT plate, plate_color, min(vehicle_class) FROM ins GROUP BY plate, plate_color
            ON CONFLICT (plate, plate_color) DO NOTHING
            RETURNING id, plate, plate_color
        ), new_cards AS (
            SELECT DISTINCT ON (i.card_no COLLATE "C") i.card_no, i.card_type, i.plate, i.plate_color FROM ins i
            WHERE NOT EXISTS (SELECT 1 FROM tolling_card c WHERE c.card_no = i.card_no)
            ORDER BY i.card_no COLLATE "C"
        ), cards AS (
            INSERT INTO tolling_card (card_no, card_type, province, vehicle_id, holder_name, holder_id_type,
                holder_id_no, holder_phone, created_at)
            SELECT n.card_no, n.card_type, left(n.card_no, 2), coalesce(nv.id, v.id), '', '', '', '', now()
            FROM new_cards n
            LEFT JOIN new_vehicles nv ON nv.plate = n.plate AND nv.plate_color = n.plate_color
            LEFT JOIN tolling_vehicle v ON v.plate = n.plate AND v.plate_color = n.plate_color
            ON CONFLICT (card_no) DO NOTHING
        )
        SELECT count(*) FROM ins
        """,
        {"batch": batch.pk},
    )
    return int(cursor.fetchone()[0])


def _operators_upsert(cursor: Any, batch: UploadBatch, kind: str, tax_id: str, name: str) -> None:
    """Create the operators the valid rows name (by kind and taxpayer id), in the uploader's province."""
    cursor.execute(
        f"INSERT INTO tolling_operator (kind, tax_id, name, province, created_at)"
        f" SELECT DISTINCT ON (k.{tax_id}) %(kind)s, k.{tax_id}, k.{name}, %(province)s, now()"
        f" {_valid()} ORDER BY k.{tax_id}, k.line_no ON CONFLICT (kind, tax_id) DO NOTHING",
        {"kind": kind, "province": batch.province},
    )


def _count(cursor: Any) -> int:
    return int(cursor.fetchone()[0])


def topups_load(cursor: Any, batch: UploadBatch) -> int:
    """Top-ups, with their issuer operator looked up or created."""
    _operators_upsert(cursor, batch, "issuer", "v_issuer_tax_id", "v_issuer_name")
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO tolling_topup (topup_id, service_date, card_no, amount, topped_up_at, issuer_id, province,
                channel, batch_id)
            SELECT k.v_topup_id, {_beijing_date("k.v_topped_up_at")}, k.v_card_no, k.v_amount, k.v_topped_up_at,
                o.id, %(province)s, coalesce(k.v_channel, ''), %(batch)s
            {_valid("issuer", "v_issuer_tax_id")}
            ORDER BY k.line_no
            ON CONFLICT (topup_id) DO NOTHING RETURNING 1
        ) SELECT count(*) FROM ins
        """,
        {"province": batch.province, "batch": batch.pk},
    )
    return _count(cursor)


def audit_charges_load(cursor: Any, batch: UploadBatch) -> int:
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO tolling_auditcharge (charge_id, service_date, pass_id, card_no, plate, plate_color,
                toll_unit_id, province, reason, amount, paid_at, batch_id)
            SELECT k.v_charge_id, {_beijing_date("k.v_paid_at")}, coalesce(k.v_pass_id, ''), coalesce(k.v_card_no, ''),
                k.v_plate, k.v_plate_color, k.toll_unit_id, k.toll_unit_province, k.v_reason, k.v_amount, k.v_paid_at,
                %(batch)s
            {_valid()} ORDER BY k.line_no
            ON CONFLICT (charge_id) DO NOTHING RETURNING 1
        ) SELECT count(*) FROM ins
        """,
        {"batch": batch.pk},
    )
    return _count(cursor)


def paper_tickets_load(cursor: Any, batch: UploadBatch) -> int:
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO tolling_paperticket (ticket_no, service_date, toll_unit_id, province, plate, plate_color,
                vehicle_class, exit_time, amount, pay_method, batch_id)
            SELECT k.v_ticket_no, {_beijing_date("k.v_exit_time")}, k.toll_unit_id, k.toll_unit_province, k.v_plate,
                k.v_plate_color, k.v_vehicle_class, k.v_exit_time, k.v_amount, k.v_pay_method, %(batch)s
            {_valid()} ORDER BY k.line_no
            ON CONFLICT (ticket_no) DO NOTHING RETURNING 1
        ) SELECT count(*) FROM ins
        """,
        {"batch": batch.pk},
    )
    return _count(cursor)


def taxi_rides_load(cursor: Any, batch: UploadBatch) -> int:
    """Taxi rides, with their company operator looked up or created."""
    _operators_upsert(cursor, batch, "taxi", "v_company_tax_id", "v_company_name")
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO tolling_taxiride (ride_id, service_date, company_id, province, taxi_plate, start_time,
                end_time, distance_m, amount, batch_id)
            SELECT k.v_ride_id, {_beijing_date("k.v_end_time")}, o.id, %(province)s, k.v_taxi_plate, k.v_start_time,
                k.v_end_time, k.v_distance_km, k.v_amount, %(batch)s
            {_valid("taxi", "v_company_tax_id")}
            ORDER BY k.line_no
            ON CONFLICT (ride_id) DO NOTHING RETURNING 1
        ) SELECT count(*) FROM ins
        """,
        {"province": batch.province, "batch": batch.pk},
    )
    return _count(cursor)


def toll_units_load(cursor: Any, batch: UploadBatch) -> int:
    """Toll units (created or updated) and their rates; a row that changes nothing is a duplicate."""
    _operators_upsert(cursor, batch, "road", "v_operator_tax_id", "v_operator_name")
    today = timezone.localdate()
    cursor.execute(
        f"""
        CREATE TEMP TABLE ingest_units ON COMMIT DROP AS
        SELECT DISTINCT ON (k.v_toll_unit) k.v_toll_unit AS code, k.v_name AS name, k.v_road_nature AS road_nature,
            k.v_tax_rate AS tax_rate, coalesce(k.v_valid_from, %(today)s) AS valid_from, o.id AS operator_id
        {_valid("road", "v_operator_tax_id")}
        ORDER BY k.v_toll_unit, k.line_no
        """,
        {"today": today},
    )
    cursor.execute(
        """
        INSERT INTO tolling_tollunit AS tu (code, name, province, operator_id, road_nature, created_at)
        SELECT code, name, %(province)s, operator_id, road_nature, now() FROM ingest_units
        ON CONFLICT (code) DO UPDATE SET name = excluded.name, operator_id = excluded.operator_id,
            road_nature = excluded.road_nature
        WHERE tu.province = excluded.province
            AND (tu.name, tu.operator_id, tu.road_nature) IS DISTINCT FROM
                (excluded.name, excluded.operator_id, excluded.road_nature)
        RETURNING code
        """,
        {"province": batch.province},
    )
    changed = {row[0] for row in cursor.fetchall()}
    cursor.execute(
        """
        INSERT INTO tolling_tollunitrate AS r (toll_unit_id, tax_rate, valid_from)
        SELECT tu.id, u.tax_rate, u.valid_from FROM ingest_units u JOIN tolling_tollunit tu ON tu.code = u.code
        WHERE u.tax_rate IS NOT NULL
        ON CONFLICT (toll_unit_id, valid_from) DO UPDATE SET tax_rate = excluded.tax_rate
        WHERE r.tax_rate <> excluded.tax_rate
        RETURNING (SELECT code FROM tolling_tollunit WHERE id = r.toll_unit_id)
        """
    )
    changed |= {row[0] for row in cursor.fetchall()}
    return len(changed)


LOADS: dict[str, Callable[[Any, UploadBatch], int]] = {
    UploadKind.TOLL_UNITS: toll_units_load,
    UploadKind.SEGMENTS: segments_load,
    UploadKind.TOPUPS: topups_load,
    UploadKind.AUDIT_CHARGES: audit_charges_load,
    UploadKind.PAPER_TICKETS: paper_tickets_load,
    UploadKind.TAXI_RIDES: taxi_rides_load,
}
"""The set-based load of each upload kind: (cursor, batch) → rows accepted; run after the checks."""
