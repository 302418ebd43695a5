"""Partition maintenance of the partitioned fact tables (ADR 0010): one partition per month of ``service_date``.

``partitions_maintain`` (daily, Celery beat ``tolling.tasks.partitions_maintain_task``, or ``manage.py
partitions``) makes the partitions of this month and the next ``PARTITION_AHEAD_MONTHS``, moves rows that
arrived for a month without a partition out of the ``DEFAULT`` partition into their own, and detaches the
partitions that ended more than ``PARTITION_RETENTION_MONTHS`` ago into the ``archive`` schema (still in the
database, readable, no longer scanned; drop or dump them from there). Every step is idempotent: a re-run finds
nothing to do. Each table is done in its own short transaction with a lock timeout, so a maintenance run never
queues the console behind a long report: it gives up and the next run does it.
"""

# SQL is built from the constant table names below and partition names derived from dates
# ruff: noqa: S608
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction

PARTITIONED = ("tolling_segment", "tolling_topup")
"""The tables partitioned by month of ``service_date`` (migration tolling 0007)."""

KEY = "service_date"
ARCHIVE = "archive"
_BOUND = re.compile(r"FOR VALUES FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


def month_start(day: dt.date, months: int = 0) -> dt.date:
    """The first day of ``day``'s month, ``months`` months on (or back)."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month:%Y_%m}"


@dataclass(frozen=True)
class Partition:
    name: str
    low: dt.date | None  # None: the DEFAULT partition
    high: dt.date | None


def partitions_of(cursor, table: str) -> list[Partition]:
    """The partitions attached to ``table``, oldest first, the default one last."""
    cursor.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
        [table],
    )
    found = []
    for name, bound in cursor.fetchall():
        match = _BOUND.search(bound)
        if match:
            found.append(Partition(name, dt.date.fromisoformat(match[1]), dt.date.fromisoformat(match[2])))
        else:
            found.append(Partition(name, None, None))
    return sorted(found, key=lambda p: (p.low is None, p.low or dt.date.min))


@dataclass
class Maintenance:
    """What one run did, per table: partitions made (with rows moved from the default one), partitions detached."""

    created: list[tuple[str, int]] = field(default_factory=list)
    detached: list[str] = field(default_factory=list)
    left_in_default: dict[str, int] = field(default_factory=dict)  # rows of months outside the kept window

    def lines(self) -> list[str]:
        lines = [f"created {name} ({moved} rows moved from the default partition)" for name, moved in self.created]
        lines += [f"detached {name} to schema {ARCHIVE}" for name in self.detached]
        lines += [
            f"{table}_default keeps {rows} rows outside the window" for table, rows in self.left_in_default.items()
        ]
        return lines or ["nothing to do"]


def partition_create(cursor, *, table: str, month: dt.date) -> int:
    """Make ``table``'s partition for ``month``; rows of that month waiting in the default partition move into it.
    Returns the rows moved. Run inside a transaction."""
    name, low, high = partition_name(table, month), month, month_start(month, 1)
    cursor.execute(f"SELECT count(*) FROM {table}_default WHERE {KEY} >= %s AND {KEY} < %s", [low, high])
    waiting = int(cursor.fetchone()[0])
    if not waiting:
        cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ('{low}') TO ('{high}')")
        return 0
    # PostgreSQL refuses a new partition while the default one holds its rows: fill it first, then attach it
    # (ATTACH builds its indexes and checks the default partition no longer holds any of its rows)
    cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    cursor.execute(
        f"WITH moved AS (DELETE FROM {table}_default WHERE {KEY} >= %s AND {KEY} < %s RETURNING *)"
        f" INSERT INTO {name} SELECT * FROM moved",
        [low, high],
    )
    cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ('{low}') TO ('{high}')")
    return waiting


def partition_detach(cursor, *, table: str, name: str) -> str:
    """Detach partition ``name`` of ``table`` and move it to the archive schema (as ``name``, or ``name_2`` … when
    that month was archived before); returns its name there. Run inside a transaction."""
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {ARCHIVE}")
    cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
    # an archived table takes no new rows: it must not hold on to the live table's id sequence
    cursor.execute(f"ALTER TABLE {name} ALTER COLUMN id DROP DEFAULT")
    cursor.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
        [name],
    )
    names = [name] + [row[0] for row in cursor.fetchall()]  # moved with the table, so clashes are possible too
    suffix, n = "", 1
    while any(_exists(cursor, f"{ARCHIVE}.{relation}{suffix}") for relation in names):  # the month archived before
        n += 1
        suffix = f"_{n}"
    for relation in names[1:] if suffix else []:
        cursor.execute(f'ALTER INDEX "{relation}" RENAME TO "{relation}{suffix}"')
    if suffix:
        cursor.execute(f"ALTER TABLE {name} RENAME TO {name}{suffix}")
    cursor.execute(f"ALTER TABLE {name}{suffix} SET SCHEMA {ARCHIVE}")
    return f"{name}{suffix}"


def _exists(cursor, qualified: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [qualified])
    return bool(cursor.fetchone()[0])


def partitions_maintain(
    *,
    today: dt.date,
    ahead: int | None = None,
    retention: int | None = None,
    tables: tuple[str, ...] = PARTITIONED,
    lock_timeout: str = "5s",
) -> Maintenance:
    """Make partitions ahead, empty the default partition into its months' partitions, detach expired ones."""
    ahead = settings.PIAOGEN["PARTITION_AHEAD_MONTHS"] if ahead is None else ahead
    retention = settings.PIAOGEN["PARTITION_RETENTION_MONTHS"] if retention is None else retention
    first_kept, last_made = month_start(today, -retention), month_start(today, ahead)
    done = Maintenance()
    for table in tables:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [lock_timeout])
            existing = partitions_of(cursor, table)
            have = {p.low for p in existing if p.low is not None}
            cursor.execute(f"SELECT DISTINCT date_trunc('month', {KEY})::date FROM {table}_default")
            waiting = {row[0] for row in cursor.fetchall()}
            wanted = {month_start(today, m) for m in range(0, ahead + 1)}
            wanted |= {month for month in waiting if first_kept <= month <= last_made}
            for month in sorted(wanted - have):
                moved = partition_create(cursor, table=table, month=month)
                done.created.append((partition_name(table, month), moved))
            for partition in existing:
                if partition.high is not None and partition.high <= first_kept:
                    done.detached.append(partition_detach(cursor, table=table, name=partition.name))
            outside = {month for month in waiting if not first_kept <= month <= last_made}
            if outside:
                cursor.execute(
                    f"SELECT count(*) FROM {table}_default WHERE {KEY} < %s OR {KEY} >= %s",
                    [first_kept, month_start(last_made, 1)],
                )
                done.left_in_default[table] = int(cursor.fetchone()[0])
    return done
