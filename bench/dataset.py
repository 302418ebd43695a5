#!/usr/bin/env python3
"""Build the national-scale benchmark dataset (issues #5 and #6): 10 M segments, 1 M customers, 2 M documents.

    python bench/dataset.py                      # build piaogen_bench at full scale (≈ 10 M segments), or resume
    python bench/dataset.py --scale 0.01         # a quick small version (100 k segments, 10 k customers)
    python bench/dataset.py --rebuild            # drop the database and start over
    python bench/dataset.py --database NAME      # another database on the same cluster (default piaogen_bench)
    nohup python bench/dataset.py > var/bench-dataset.log 2>&1 &      # the full build, in the background

    # after someone added a migration (new indexes for search or reports): bring the dataset up to date
    python bench/dataset.py                      # = `manage.py migrate` against it, then ANALYZE when anything ran
    DATABASE_URL=postgres://postgres@127.0.0.1:54329/piaogen_bench python manage.py migrate   # the same, by hand,
    psql -h 127.0.0.1 -p 54329 -U postgres piaogen_bench -c ANALYZE                          # then ANALYZE

The database is created on the cluster of ``DATABASE_URL`` (the private one of ``bin/services`` by default) and
migrated with ``manage.py migrate``; everything then happens in phases, each one transaction, recorded in the
``bench`` schema (``bench.phase``, ``bench.meta``): a re-run skips what is done, so an interrupted build resumes
at the phase it was in and a complete one does nothing but migrate. ``--scale`` and ``--seed`` are fixed when a
build starts (a re-run with others refuses; ``--rebuild`` starts over). The same seed, scale and ``--today``
give the same rows and ids.

What is in it (full scale; everything scales with ``--scale``):

- country: the demo's 29 ETC provinces, their road operators, card issuers, toll units and VAT rates
  (tolling/demo.py), the demo logins and an uploader login per province;
- people (invoicing/demo.py's generator, COPY): 1 M customers — persons with Chinese names, resident ids and
  phones, companies with ``…有限公司`` names and USCC — about 2.3 M cards with their vehicles and holder data,
  bindings, title versions with taxpayer ids;
- traffic (the demo's trip generator in worker processes, COPY): 10 M segments in ≈ 4 M trips over the 30 days
  before ``--today``;
- facts (set-based SQL): top-ups of prepaid cards, audit back-charges on real trips, paper tickets, upload batches;
- documents (set-based SQL from the facts, amounts and tax as the issuing engine splits them): per-trip invoices
  for prepaid cards, merged ones for post-pay cards (weekly; monthly for companies on the monthly cycle),
  fiscal receipts on loan roads, some legacy (code + number) invoices, one invoice per top-up for the cards that
  chose top-up invoicing (their trips are not invoiced), back-charge and paper-ticket invoices, red-letter
  reversals and reissues; one line per document
  and one live item per invoiced thing; summary sheets (some void and replaced) with their documents;
  deliveries (sent, failed, pending); number series moved past the numbers used;
- support: tickets with notes and linked cards.

Loading drops the unique constraints, secondary indexes and foreign keys of the table being filled and restores
them from their own catalog definitions (``pg_get_indexdef``/``pg_get_constraintdef``) in the same transaction:
the schema at the end is exactly the migrated one, which the run checks (every index, constraint and column default
against the catalog as it was after ``migrate``). The last phase runs ``VACUUM ANALYZE``.

Measured (docs/benchmarks.md § Datasets): full scale in ≈ 23 min on the shared 2-core machine, 8.6 GB;
``--scale 0.01`` in ≈ 10 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

DEFAULT_DATABASE = "piaogen_bench"
FULL_SEGMENTS = 10_000_000
FULL_CUSTOMERS = 1_000_000
TRIP_DAYS = 30
CHUNK = 50_000
TAG = "N"  # pass ids of the dataset's trips start with N + chunk number
PHASES = ("country", "people", "traffic", "facts", "documents", "support", "finish")

ITEM_TOLL = "*经营租赁*通行费"
ITEM_FISCAL = "车辆通行费"
ITEM_TOPUP = "*预付卡销售*ETC充值"

_JOB: dict[str, Any] = {}  # set in the parent before the generating processes fork


# --- arguments and the database ----------------------------------------------------------------------------------


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 10 M segments, 1 M customers (default 1)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--today", type=dt.date.fromisoformat, help="YYYY-MM-DD (Beijing), default today")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help=f"database name (default {DEFAULT_DATABASE})")
    parser.add_argument("--rebuild", action="store_true", help="drop the database and build it again")
    parser.add_argument("--workers", type=int, default=2, help="processes generating trips (default 2)")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10:
        parser.error("--scale must be in (0, 10]")
    if args.database in ("piaogen", "postgres", "template0", "template1") or args.database.startswith("test_"):
        parser.error(f"refusing to build into {args.database!r}: use a database of its own")
    return args


def database_url(name: str) -> str:
    """``DATABASE_URL`` (or the settings' default) with its database name replaced by ``name``."""
    base = urlsplit(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:54329/piaogen")
    return urlunsplit((base.scheme, base.netloc, "/" + name, base.query, base.fragment))


def ensure_database(name: str, *, rebuild: bool) -> bool:
    """Create the database (dropping it first with ``rebuild``); True when it was created."""
    import psycopg

    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if exists and rebuild:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
        return not exists


# --- bookkeeping -------------------------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


@contextmanager
def step(name: str, cursor: Any = None, table: str | None = None) -> Iterator[None]:
    """Time a step and print it (with the table's row count when one is named)."""
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    rows = ""
    if cursor is not None and table is not None:
        cursor.execute(f"SELECT count(*) FROM {table}")
        count = cursor.fetchone()[0]
        rows = f"  {count:>12,} rows  {count / max(seconds, 1e-6):>10,.0f} rows/s"
    _say(f"  {name:<44} {seconds:>8.1f} s{rows}")


def _count(cursor: Any, table: str) -> None:
    cursor.execute(f"SELECT count(*) FROM {table}")
    _say(f"    {table:<42} {cursor.fetchone()[0]:>21,} rows")


def _bench_schema(cursor: Any) -> None:
    cursor.execute("CREATE SCHEMA IF NOT EXISTS bench")
    cursor.execute("CREATE TABLE IF NOT EXISTS bench.meta (key text PRIMARY KEY, value text NOT NULL)")
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS bench.phase (name text PRIMARY KEY, seconds float8 NOT NULL, "
        "finished_at timestamptz NOT NULL DEFAULT now())"
    )


def _meta(cursor: Any, args: argparse.Namespace, today: dt.date) -> dict[str, str]:
    """The build's parameters, fixed by the first run: a re-run with other ones refuses."""
    wanted = {"scale": repr(args.scale), "seed": str(args.seed)}
    cursor.execute("SELECT key, value FROM bench.meta")
    stored = dict(cursor.fetchall())
    if not stored:
        stored = {**wanted, "today": today.isoformat()}
        for key, value in stored.items():
            cursor.execute("INSERT INTO bench.meta VALUES (%s, %s)", [key, value])
        return stored
    for key, value in wanted.items():
        if stored.get(key) != value:
            sys.exit(f"the dataset in this database was built with --{key} {stored.get(key)}: use --rebuild")
    if args.today is not None and args.today.isoformat() != stored["today"]:
        sys.exit(f"the dataset in this database was built with --today {stored['today']}: use --rebuild")
    return stored


# --- dropping and restoring indexes while a table is filled ------------------------------------------------------


def drop_indexes(cursor: Any, tables: list[str]) -> list[str]:
    """Drop the unique constraints, foreign keys and secondary indexes of ``tables`` (primary keys and checks
    stay); returns the statements that restore them exactly, from the catalog's own definitions."""
    restore_first: list[str] = []
    restore_fks: list[str] = []
    for table in tables:
        cursor.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('u', 'f', 'x') ORDER BY contype DESC, conname",
            [table],
        )
        for name, contype, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            statement = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
            (restore_fks if contype == "f" else restore_first).append(statement)
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')) "
            "ORDER BY c.relname",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
            # a partitioned table's index reads ON ONLY: restored as such it would reach no partition (ADR 0010)
            restore_first.append(definition.replace(" ON ONLY ", " ON "))
    return restore_first + restore_fks


def restore_indexes(cursor: Any, statements: list[str]) -> None:
    started = time.perf_counter()
    for statement in statements:
        cursor.execute(statement)
    _say(f"  {'indexes and constraints (' + str(len(statements)) + ')':<44} {time.perf_counter() - started:>8.1f} s")


@contextmanager
def indexes_dropped(cursor: Any, tables: list[str]) -> Iterator[None]:
    statements = drop_indexes(cursor, tables)
    with model_defaults(cursor, tables):
        yield
    restore_indexes(cursor, statements)


@contextmanager
def model_defaults(cursor: Any, tables: list[str]) -> Iterator[None]:
    """While ``tables`` are filled, give NOT NULL columns that have no database default the model field's default
    (columns added by later migrations, which the generators do not know), and take it away again afterwards."""
    from django.apps import apps
    from psycopg import sql

    fields: dict[tuple[str, str], Any] = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.db_table in tables:
            for model_field in model._meta.concrete_fields:
                if model_field.has_default() and model_field.column:
                    fields[(model._meta.db_table, model_field.column)] = model_field
    cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = ANY(%s) AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
        [tables],
    )
    added = []
    for table, column in cursor.fetchall():
        field = fields.get((table, column))
        if field is None:
            continue
        value = field.get_default()
        literal = sql.Literal(json.dumps(value) if isinstance(value, dict | list) else value)
        cursor.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                sql.Identifier(table), sql.Identifier(column), literal
            )
        )
        added.append((table, column))
    yield
    for table, column in added:
        cursor.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT").format(sql.Identifier(table), sql.Identifier(column))
        )


# --- phases ------------------------------------------------------------------------------------------------------


class Build:
    """One build: its parameters and the phases that fill the database."""

    def __init__(self, *, scale: float, seed: int, today: dt.date, workers: int) -> None:
        self.scale = scale
        self.seed = seed
        self.today = today
        self.workers = max(1, workers)
        self.segments = max(1_000, round(FULL_SEGMENTS * scale))
        self.customers = max(100, round(FULL_CUSTOMERS * scale))
        self.t = f"DATE '{today.isoformat()}'"  # today (Beijing) as SQL
        self.midnight = f"TIMESTAMPTZ '{today.isoformat()} 00:00:00+08'"  # today's Beijing midnight as SQL

    # -- helpers --

    def hash_function(self, cursor: Any) -> None:
        """``bench.h(text, n)``: a seeded, deterministic number in [0, n) for a text (set-based "random")."""
        cursor.execute(
            "CREATE OR REPLACE FUNCTION bench.h(t text, n bigint) RETURNS bigint LANGUAGE sql IMMUTABLE "
            f"PARALLEL SAFE AS $$ SELECT (hashtextextended(t, {int(self.seed)}) & 9223372036854775807) % n $$"
        )

    # -- country --

    def country(self, cursor: Any) -> None:
        from invoicing.demo import demo_logins_create
        from piaogen.identifiers import ETC_PROVINCES
        from piaogen.models import Role
        from piaogen.services import staff_upsert
        from tolling.demo import build_country

        with step("operators, toll units, rates"):
            build_country(random.Random(f"{self.seed}:country"), self.today)
        with step("logins (demo + an uploader per province)"):
            demo_logins_create()
            for province in sorted(ETC_PROVINCES):
                staff_upsert(username=f"bench-upload-{province}", role=Role.PROVINCE, province=province)

    # -- people --

    def people(self, cursor: Any) -> None:
        from invoicing.demo import _build_people
        from tolling.demo import Country
        from tolling.models import Operator, OperatorKind

        issuers = {o.province: o for o in Operator.objects.filter(kind=OperatorKind.CARD_ISSUER).order_by("id")}
        country = Country(operators={}, issuers=issuers, units={}, taxis=[])
        tables = ["invoicing_customer", "tolling_vehicle", "tolling_card", "invoicing_cardbinding"]
        tables.append("invoicing_buyertitle")
        with indexes_dropped(cursor, tables):
            with step("customers, vehicles, cards, bindings, titles"):
                rng = random.Random(f"{self.seed}:people")
                _build_people(rng, cursor, country, self.customers, self.today)
            cursor.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_name = 'invoicing_customer' "
                "AND column_name = 'invoice_cycle'"
            )
            if cursor.fetchone():  # companies mostly take one merged invoice a month
                cursor.execute(
                    "UPDATE invoicing_customer SET invoice_cycle = 'monthly' "
                    "WHERE kind = 'company' AND bench.h(phone || ':cycle', 10) < 7"
                )
            for table in tables:
                _count(cursor, table)

    # -- traffic --

    def traffic(self, connection: Any) -> None:
        from django.db import connections, transaction

        from tolling.demo import (
            SEGMENT_COPY_COLUMNS,
            TRIP_COPY_COLUMNS,
            copy_text,
            stored_cards,
            stored_units_by_province,
        )

        started = time.perf_counter()
        _JOB.update(
            seed=self.seed,
            units=stored_units_by_province(),
            cards=stored_cards(),
            segments=self.segments,
            today=self.today,
        )
        _say(f"  {'cards and toll units read':<44} {time.perf_counter() - started:>8.1f} s")
        connections.close_all()  # the workers fork: no database socket may be shared with them
        chunks = list(range(-(-self.segments // CHUNK)))
        pool = multiprocessing.get_context("fork").Pool(self.workers, initializer=gc.disable)
        try:
            with transaction.atomic(), connection.cursor() as wrapper:
                cursor = wrapper.cursor
                with indexes_dropped(cursor, ["tolling_segment", "tolling_trip"]):
                    with step("segments and trips (generate + COPY)"):
                        pending = [pool.apply_async(_copy_chunk, (k,)) for k in chunks[: self.workers + 2]]
                        following = iter(chunks[self.workers + 2 :])
                        segments = trips = 0
                        while pending:
                            seg_text, trip_text, n, t = pending.pop(0).get()
                            nxt = next(following, None)
                            if nxt is not None:
                                pending.append(pool.apply_async(_copy_chunk, (nxt,)))
                            copy_text(cursor, "tolling_segment", SEGMENT_COPY_COLUMNS, seg_text)
                            copy_text(cursor, "tolling_trip", TRIP_COPY_COLUMNS, trip_text)
                            segments, trips = segments + n, trips + t
                    _say(f"  {'':<44} {segments:>21,} segments, {trips:,} trips")
                self._record(cursor, "traffic", started)
        finally:
            pool.terminate()
            pool.join()

    # -- facts --

    def facts(self, cursor: Any) -> None:
        tables = ["tolling_topup", "tolling_auditcharge", "tolling_paperticket", "tolling_uploadbatch"]
        with indexes_dropped(cursor, tables):
            self._facts(cursor)

    def _facts(self, cursor: Any) -> None:
        small = max(10, self.segments // 100)
        with step("tolling_topup", cursor, "tolling_topup"):
            cursor.execute(
                f"""
                INSERT INTO tolling_topup (topup_id, service_date, card_no, amount, topped_up_at, issuer_id, province,
                                           channel)
                SELECT 'TU' || province || to_char(at AT TIME ZONE 'Asia/Shanghai', 'YYMMDD')
                       || lpad((row_number() OVER (ORDER BY card_no, k))::text, 8, '0'),
                       (at AT TIME ZONE 'Asia/Shanghai')::date, card_no, amount, at, issuer_id, province, channel
                FROM (
                    SELECT c.card_no, c.province, c.issuer_id, g.k,
                           {self.midnight} - interval '90 days'
                           + bench.h(c.card_no || ':tu-at:' || g.k, 90 * 86400) * interval '1 second' AS at,
                           (ARRAY[100, 200, 200, 300, 500, 500, 500, 800, 1000, 1000, 1500, 2000])
                           [1 + bench.h(c.card_no || ':tu-amount:' || g.k, 12)] * 100 AS amount,
                           (ARRAY['APP', '微信小程序', '支付宝', '服务网点', '银行代充', '自助终端'])
                           [1 + bench.h(c.card_no || ':tu-channel:' || g.k, 6)] AS channel
                    FROM tolling_card c
                    CROSS JOIN LATERAL generate_series(1, 1 + bench.h(c.card_no || ':tu-n', 2)::int) AS g(k)
                    WHERE c.card_type = 22 AND c.issuer_id IS NOT NULL
                ) t
                ORDER BY card_no, k
                """
            )
        with step("tolling_auditcharge", cursor, "tolling_auditcharge"):
            cursor.execute(
                f"""
                INSERT INTO tolling_auditcharge (charge_id, service_date, pass_id, card_no, plate, plate_color,
                                                 toll_unit_id, province, reason, amount, paid_at)
                SELECT 'AC' || province || to_char(paid AT TIME ZONE 'Asia/Shanghai', 'YYMMDD')
                       || lpad((row_number() OVER (ORDER BY id))::text, 7, '0'),
                       (paid AT TIME ZONE 'Asia/Shanghai')::date, pass_id, card_no, plate, plate_color, toll_unit_id,
                       province, reason, amount, paid
                FROM (
                    SELECT s.id, s.pass_id, s.card_no, s.plate, s.plate_color, s.toll_unit_id, s.province,
                           (ARRAY['CLASS', 'ROUTE', 'EXEMPTION', 'NO_EXIT', 'OTHER'])
                           [1 + bench.h(s.pass_id || ':ac-reason', 5)] AS reason,
                           500 + bench.h(s.pass_id || ':ac-amount', 29500) AS amount,
                           least(s.exit_time + (1 + bench.h(s.pass_id || ':ac-days', 20)) * interval '1 day',
                                 {self.midnight} - (1 + bench.h(s.pass_id || ':ac-s', 3600)) * interval '1 second')
                               AS paid
                    FROM tolling_segment s
                    WHERE bench.h(s.pass_id || ':' || s.segment_no || ':ac', 100) = 0
                ) a
                ORDER BY id
                """
            )
        with step("tolling_paperticket", cursor, "tolling_paperticket"):
            cursor.execute(
                f"""
                INSERT INTO tolling_paperticket (ticket_no, service_date, toll_unit_id, province, plate, plate_color,
                                                 vehicle_class, exit_time, amount, pay_method)
                SELECT u.province || to_char(x.exit_at AT TIME ZONE 'Asia/Shanghai', 'YYMMDD')
                       || lpad(x.i::text, 8, '0'),
                       (x.exit_at AT TIME ZONE 'Asia/Shanghai')::date, u.id, u.province, v.plate, v.plate_color,
                       coalesce(v.vehicle_class, 1), x.exit_at,
                       100 * (5 + bench.h(x.i || ':pt-yuan', 120)),
                       CASE WHEN bench.h(x.i || ':pt-pay', 3) = 0 THEN 'CASH' ELSE 'MOBILE' END
                FROM (
                    SELECT i, {self.midnight} - (1 + bench.h(i || ':pt-at', {TRIP_DAYS} * 86400)) * interval '1 second'
                               AS exit_at,
                           bench.h(i || ':pt-unit', (SELECT count(*) FROM tolling_tollunit)) AS unit_no,
                           1 + bench.h(i || ':pt-vehicle', (SELECT max(id) FROM tolling_vehicle)) AS vehicle_id
                    FROM generate_series(1, {small}) AS i
                ) x
                JOIN (SELECT id, province, row_number() OVER (ORDER BY id) - 1 AS unit_no FROM tolling_tollunit) u
                  USING (unit_no)
                JOIN tolling_vehicle v ON v.id = x.vehicle_id
                ORDER BY x.i
                """
            )
        with step("tolling_uploadbatch", cursor, "tolling_uploadbatch"):
            cursor.execute(
                f"""
                INSERT INTO tolling_uploadbatch (kind, province, uploaded_by_id, file, file_name, file_size, sha256,
                                                 encoding, status, message, rows_total, rows_done, rows_accepted,
                                                 rows_duplicate, rows_rejected, error_file, cancel_requested,
                                                 heartbeat_at, created_at, started_at, finished_at)
                SELECT kind, province, uid, 'uploads/' || province || '/' || to_char(at, 'YYYY/MM') || '/'
                       || left(sha, 16) || '-' || name, name, total * 160 + 150, sha,
                       CASE WHEN bench.h(sha, 4) = 0 THEN 'gb18030' ELSE 'utf-8' END,
                       status, CASE WHEN status = 'failed' THEN '数据库连接中断，已处理的块已提交' ELSE '' END,
                       total, CASE WHEN status = 'failed' THEN total / 2 ELSE total END,
                       CASE WHEN status = 'failed' THEN total / 2 - least(rejected, total / 2)
                            ELSE total - rejected - duplicate END,
                       CASE WHEN status = 'failed' THEN 0 ELSE duplicate END,
                       CASE WHEN status = 'failed' THEN least(rejected, total / 2) ELSE rejected END,
                       CASE WHEN rejected > 0 THEN 'errors/' || left(sha, 16) || '.csv' ELSE '' END, false,
                       at + total * interval '30 microseconds', at, at + interval '2 seconds',
                       at + interval '2 seconds' + total * interval '30 microseconds'
                FROM (
                    SELECT kind, province, uid, at, status,
                           kind || '-' || province || '-' || to_char(at, 'YYYYMMDD') || '.csv' AS name,
                           encode(sha256(convert_to(kind || province || at::text, 'UTF8')), 'hex') AS sha,
                           total,
                           CASE WHEN bench.h(province || at::text || 'rej', 5) = 0
                                THEN bench.h(province || at::text || 'nrej', 1 + total / 100) ELSE 0 END AS rejected,
                           CASE WHEN bench.h(province || at::text || 'dup', 8) = 0
                                THEN bench.h(province || at::text || 'ndup', 1 + total / 20) ELSE 0 END AS duplicate
                    FROM (
                        SELECT k.kind, p.province, d,
                               (SELECT id FROM piaogen_user WHERE username = 'bench-upload-' || p.province) AS uid,
                               {self.midnight} - d * interval '1 day'
                               + (3600 + bench.h(k.kind || p.province || d, 7200)) * interval '1 second' AS at,
                               CASE WHEN bench.h(k.kind || p.province || d || 'st', 60) = 0 THEN 'failed'
                                    ELSE 'done' END AS status,
                               CASE k.kind WHEN 'segments' THEN {self.segments} / {TRIP_DAYS} / 29
                                           ELSE {self.segments} / 10 / 90 / 29 END
                               * (50 + bench.h(k.kind || p.province || d || 'n', 100)) / 100 + 1 AS total
                        FROM (VALUES ('segments'), ('topups')) AS k(kind)
                        CROSS JOIN (SELECT DISTINCT province FROM tolling_tollunit) p
                        CROSS JOIN generate_series(1, {TRIP_DAYS}) AS d
                    ) b
                ) x
                ORDER BY at, kind, province
                """
            )

    # -- documents --

    def documents(self, cursor: Any) -> None:
        t, midnight = self.t, self.midnight
        w = "bench"
        for table in ("w_rate", "w_topup_card", "w_seg", "w_doc", "w_item", "w_num", "w_title", "w_sheet"):
            cursor.execute(f"DROP TABLE IF EXISTS {w}.{table}")
        with step("work: rates by date, top-up invoicing cards"):
            cursor.execute(
                f"""
                CREATE UNLOGGED TABLE {w}.w_rate AS
                SELECT toll_unit_id, tax_rate, valid_from,
                       coalesce(lead(valid_from) OVER (PARTITION BY toll_unit_id ORDER BY valid_from),
                                DATE '9999-12-31') AS valid_to
                FROM tolling_tollunitrate
                """
            )
            # a quarter of the prepaid cards invoice their top-ups: their trips are ineligible (domain.md §4.3)
            cursor.execute(
                f"CREATE UNLOGGED TABLE {w}.w_topup_card AS SELECT card_no FROM tolling_card "
                "WHERE card_type = 22 AND bench.h(card_no || ':topup-invoicing', 4) = 0"
            )
            cursor.execute(f"CREATE UNIQUE INDEX ON {w}.w_topup_card (card_no)")
        with step("work: invoiced segments", cursor, f"{w}.w_seg"):
            # invoiceable (fee > 0, 7 days after the trip) segments of bound cards whose holders ask for invoices
            # (half of them); prepaid cards: a document per trip and seller; post-pay cards: merged per ISO week
            # and seller, or per month for the companies on the monthly cycle (as invoicing/demo.py's UPDATE)
            cursor.execute(
                f"""
                CREATE UNLOGGED TABLE {w}.w_seg AS
                SELECT dense_rank() OVER (ORDER BY s.kind, s.card_no, s.operator_id, s.tax_rate, s.grp) AS n, s.*
                FROM (
                    SELECT s.id, s.service_date, s.card_no, s.card_type, s.plate, s.vehicle_class, s.fee,
                           s.exit_time, u.operator_id, u.province, r.tax_rate, b.customer_id,
                           CASE WHEN u.road_nature = 2 THEN 'receipt'
                                WHEN bench.h(s.card_no || ':legacy', 25) = 0 THEN 'legacy'
                                ELSE 'invoice' END AS kind,
                           CASE WHEN s.card_type = 22 THEN s.pass_id
                                WHEN c.kind = 'company' AND bench.h(c.phone || ':cycle', 10) < 7
                                THEN to_char(s.service_date, 'YYYY-MM')
                                ELSE to_char(s.service_date, 'IYYY-"W"IW') END AS grp
                    FROM tolling_segment s
                    JOIN tolling_tollunit u ON u.id = s.toll_unit_id
                    JOIN invoicing_cardbinding b ON b.card_no = s.card_no AND b.unbound_at IS NULL
                    JOIN invoicing_customer c ON c.id = b.customer_id
                    LEFT JOIN {w}.w_rate r ON r.toll_unit_id = s.toll_unit_id
                         AND s.service_date >= r.valid_from AND s.service_date < r.valid_to
                    WHERE s.fee > 0 AND s.service_date <= {t} - 7
                      AND NOT EXISTS (SELECT 1 FROM {w}.w_topup_card c WHERE c.card_no = s.card_no)
                      AND bench.h(s.card_no || ':asks', 100) < 50
                ) s
                """
            )
        with step("work: documents and items (trips)", cursor, f"{w}.w_doc"):
            cursor.execute(
                f"""
                CREATE UNLOGGED TABLE {w}.w_doc AS
                SELECT n, kind, 'etc_trip'::text AS business_line, 'issued'::text AS status, operator_id AS seller_id,
                       province, customer_id, card_no, tax_rate, sum(fee) AS gross, min(service_date) AS d0,
                       max(service_date) AS d1, bool_or(card_type = 23) AND count(*) > 1 AS is_merged,
                       min(exit_time) AS at,
                       (least(max(service_date) + 7, {t} - 1) + time '02:00')::timestamp AT TIME ZONE 'Asia/Shanghai'
                       + bench.h(n || ':issued', 7200) * interval '1 second' AS issued_at,
                       min(plate) AS plate,
                       CASE WHEN min(vehicle_class) < 10 THEN '客车' WHEN min(vehicle_class) < 20 THEN '货车'
                            ELSE '专项作业车' END AS vehicle_type,
                       CASE WHEN kind = 'receipt' THEN '{ITEM_FISCAL}' ELSE '{ITEM_TOLL}' END AS item_name,
                       NULL::bigint AS original_n, NULL::bigint AS replaces_n
                FROM {w}.w_seg
                GROUP BY n, kind, operator_id, province, customer_id, card_no, tax_rate
                """
            )
            cursor.execute(
                f"""
                CREATE UNLOGGED TABLE {w}.w_item AS
                SELECT n, 'segment'::text AS item_kind, id AS item_id, service_date, card_no, fee AS amount
                FROM {w}.w_seg
                """
            )
        with step("work: top-up, back-charge, paper-ticket documents", cursor, f"{w}.w_doc"):
            cursor.execute(
                f"""
                CREATE TEMP TABLE w_other ON COMMIT DROP AS
                SELECT (SELECT max(n) FROM {w}.w_doc) + row_number() OVER (ORDER BY line, item_id) AS n, x.*
                FROM (
                    SELECT 'etc_topup' AS line, 'topup' AS item_kind, t.id AS item_id, 'invoice' AS kind,
                           t.issuer_id AS seller_id, t.province, b.customer_id, t.card_no, NULL::numeric AS tax_rate,
                           t.amount, t.service_date, t.topped_up_at AS at,
                           t.topped_up_at + (600 + bench.h(t.topup_id, 3000)) * interval '1 second' AS issued_at,
                           v.plate, '' AS vehicle_type, '{ITEM_TOPUP}' AS item_name
                    FROM tolling_topup t
                    JOIN {w}.w_topup_card USING (card_no)
                    JOIN invoicing_cardbinding b ON b.card_no = t.card_no AND b.unbound_at IS NULL
                    JOIN tolling_card c ON c.card_no = t.card_no
                    LEFT JOIN tolling_vehicle v ON v.id = c.vehicle_id
                    UNION ALL
                    SELECT 'audit', 'audit', a.id, CASE WHEN u.road_nature = 2 THEN 'receipt' ELSE 'invoice' END,
                           u.operator_id, a.province, b.customer_id, a.card_no, r.tax_rate, a.amount, a.service_date,
                           a.paid_at, least(a.paid_at + interval '1 day', {midnight} - interval '1 minute'), a.plate,
                           '', CASE WHEN u.road_nature = 2 THEN '{ITEM_FISCAL}' ELSE '{ITEM_TOLL}' END
                    FROM tolling_auditcharge a
                    JOIN tolling_tollunit u ON u.id = a.toll_unit_id
                    JOIN invoicing_cardbinding b ON b.card_no = a.card_no AND b.unbound_at IS NULL
                    LEFT JOIN {w}.w_rate r ON r.toll_unit_id = a.toll_unit_id
                         AND a.service_date >= r.valid_from AND a.service_date < r.valid_to
                    WHERE bench.h(a.charge_id || ':inv', 10) < 6
                    UNION ALL
                    SELECT 'paper', 'paper', p.id, CASE WHEN u.road_nature = 2 THEN 'receipt' ELSE 'invoice' END,
                           u.operator_id, p.province, c.id, '', r.tax_rate, p.amount, p.service_date, p.exit_time,
                           least(p.exit_time + interval '3 days', {midnight} - interval '1 minute'), p.plate, '',
                           CASE WHEN u.road_nature = 2 THEN '{ITEM_FISCAL}' ELSE '{ITEM_TOLL}' END
                    FROM tolling_paperticket p
                    JOIN tolling_tollunit u ON u.id = p.toll_unit_id
                    JOIN invoicing_customer c
                      ON c.id = 1 + bench.h(p.ticket_no || ':claimant', (SELECT max(id) FROM invoicing_customer))
                    LEFT JOIN {w}.w_rate r ON r.toll_unit_id = p.toll_unit_id
                         AND p.service_date >= r.valid_from AND p.service_date < r.valid_to
                    WHERE bench.h(p.ticket_no || ':claimed', 10) < 3
                ) x
                """
            )
            cursor.execute(
                f"""
                INSERT INTO {w}.w_doc
                SELECT n, kind, line, 'issued', seller_id, province, customer_id, card_no, tax_rate, amount,
                       service_date, service_date, false, at, issued_at, plate,
                       CASE WHEN vehicle_type = '' AND line <> 'etc_topup' THEN '客车' ELSE vehicle_type END,
                       item_name, NULL, NULL
                FROM w_other
                """
            )
            cursor.execute(
                f"INSERT INTO {w}.w_item SELECT n, item_kind, item_id, service_date, card_no, amount FROM w_other"
            )
        with step("work: reversals and reissues", cursor, f"{w}.w_doc"):
            # 1 % of the trip invoices were reversed (红冲); 70 % of those reissued (换票) with the title in force then
            cursor.execute(
                f"""
                CREATE TEMP TABLE w_rev ON COMMIT DROP AS
                SELECT d.n, (SELECT max(n) FROM {w}.w_doc) + 2 * row_number() OVER (ORDER BY d.n) - 1 AS red_n,
                       least(d.issued_at + (1 + bench.h(d.n || ':rev-days', 20)) * interval '1 day',
                             {midnight} - interval '10 minutes') AS red_at,
                       bench.h(d.n || ':reissue', 10) < 7 AS reissued
                FROM {w}.w_doc d
                WHERE d.business_line = 'etc_trip' AND d.kind = 'invoice' AND bench.h(d.n || ':reverse', 100) = 0
                """
            )
            cursor.execute(f"UPDATE {w}.w_doc d SET status = 'reversed' FROM w_rev r WHERE d.n = r.n")
            cursor.execute(
                f"""
                INSERT INTO {w}.w_doc
                SELECT r.red_n, d.kind, d.business_line, 'red', d.seller_id, d.province, d.customer_id, d.card_no,
                       d.tax_rate, -d.gross, d.d0, d.d1, d.is_merged, d.at, r.red_at, d.plate, d.vehicle_type,
                       d.item_name, d.n, NULL
                FROM w_rev r JOIN {w}.w_doc d ON d.n = r.n
                UNION ALL
                SELECT r.red_n + 1, d.kind, d.business_line, 'issued', d.seller_id, d.province, d.customer_id,
                       d.card_no, d.tax_rate, d.gross, d.d0, d.d1, d.is_merged, r.red_at,
                       r.red_at + interval '1 minute', d.plate, d.vehicle_type, d.item_name, NULL, d.n
                FROM w_rev r JOIN {w}.w_doc d ON d.n = r.n
                WHERE r.reissued
                """
            )
            cursor.execute(
                f"""
                INSERT INTO {w}.w_item
                SELECT r.red_n + 1, i.item_kind, i.item_id, i.service_date, i.card_no, i.amount
                FROM w_rev r JOIN {w}.w_item i ON i.n = r.n
                WHERE r.reissued
                """
            )
        with step("work: titles in force, numbers", cursor, f"{w}.w_num"):
            # the title in force at the transaction time: the card's own title, else the account's default
            # (a reissue takes the one in force when it was asked for: a corrected title)
            cursor.execute(
                f"""
                CREATE UNLOGGED TABLE {w}.w_title AS
                SELECT d.n, t.id AS title_id, t.name, t.tax_id, t.email
                FROM {w}.w_doc d
                LEFT JOIN LATERAL (
                    SELECT t.id, t.name, t.tax_id, t.email FROM invoicing_buyertitle t
                    WHERE t.customer_id = d.customer_id AND t.card_no IN ('', d.card_no) AND t.valid_from <= d.at
                    ORDER BY t.card_no = '', t.valid_from DESC LIMIT 1
                ) t ON true
                WHERE d.status <> 'red' AND d.customer_id IS NOT NULL
                """
            )
            cursor.execute(
                f"INSERT INTO {w}.w_title SELECT d.n, t.title_id, t.name, t.tax_id, t.email "
                f"FROM {w}.w_doc d JOIN {w}.w_title t ON t.n = d.original_n WHERE d.status = 'red'"
            )
            cursor.execute(f"CREATE UNIQUE INDEX ON {w}.w_title (n)")
            # numbers as the issuing engine formats them (domain.md §1, invoicing/numbering.py), in issue order
            cursor.execute(
                f"""
                CREATE UNLOGGED TABLE {w}.w_num AS
                SELECT n, kind, province, yy, mm,
                       CASE kind WHEN 'invoice' THEN 'digital:' || yy || ':' || province || ':1'
                                 WHEN 'receipt' THEN 'fiscal:' || province || ':' || yy
                                 ELSE 'legacy:' || province || ':' || yy || mm END AS series,
                       CASE kind WHEN 'invoice' THEN ''
                                 WHEN 'receipt' THEN province || '0299' || yy
                                 ELSE '0' || province || '00' || yy || '0' || mm || '12' END AS code,
                       CASE kind WHEN 'invoice' THEN yy || province || '1' || lpad(seq::text, 15, '0')
                                 WHEN 'receipt' THEN lpad(seq::text, 10, '0')
                                 ELSE lpad(seq::text, 8, '0') END AS number,
                       seq
                FROM (
                    SELECT n, kind, province, yy, mm,
                           row_number() OVER (PARTITION BY kind, province, yy, CASE WHEN kind = 'legacy' THEN mm END
                                              ORDER BY issued_at, n) AS seq
                    FROM (
                        SELECT n, kind, province, issued_at,
                               to_char(issued_at AT TIME ZONE 'Asia/Shanghai', 'YY') AS yy,
                               to_char(issued_at AT TIME ZONE 'Asia/Shanghai', 'MM') AS mm
                        FROM {w}.w_doc
                    ) d
                ) d
                """
            )
            cursor.execute(f"CREATE UNIQUE INDEX ON {w}.w_num (n)")

        doc_tables = [
            "invoicing_document",
            "invoicing_documentline",
            "invoicing_documentitem",
            "invoicing_summarysheet",
            "invoicing_summarysheet_documents",
            "invoicing_delivery",
        ]
        with indexes_dropped(cursor, doc_tables):
            with step("invoicing_document", cursor, "invoicing_document"):
                cursor.execute(
                    f"""
                    INSERT INTO invoicing_document (
                        id, kind, business_line, status, code, number, issued_at, service_date, province, seller_id,
                        seller_name, seller_tax_id, customer_id, title_id, buyer_name, buyer_tax_id, card_no, tax_rate,
                        amount_net, amount_tax, amount_gross, period_start, period_end, is_merged, original_id,
                        replaces_id, remarks, pdf)
                    SELECT d.n, d.kind, d.business_line, d.status, num.code, num.number, d.issued_at,
                           (d.issued_at AT TIME ZONE 'Asia/Shanghai')::date, d.province, d.seller_id, o.name,
                           o.tax_id, d.customer_id, t.title_id, coalesce(t.name, c.name, '个人'),
                           coalesce(t.tax_id, ''), d.card_no, d.tax_rate, d.net, d.gross - d.net, d.gross, d.d0,
                           d.d1, d.is_merged, d.original_n, d.replaces_n,
                           CASE WHEN d.status = 'red' THEN '对应正数发票：' || orig.code || orig.number
                                WHEN d.business_line = 'etc_trip' AND d.is_merged THEN '月度合并开票'
                                ELSE '' END, ''
                    FROM (
                        SELECT d.*, sign(d.gross) * CASE WHEN d.tax_rate IS NULL THEN abs(d.gross)
                                   ELSE round(abs(d.gross) / (1 + d.tax_rate))::bigint END AS net
                        FROM {w}.w_doc d
                    ) d
                    JOIN {w}.w_num num ON num.n = d.n
                    JOIN tolling_operator o ON o.id = d.seller_id
                    LEFT JOIN {w}.w_title t ON t.n = d.n
                    LEFT JOIN invoicing_customer c ON c.id = d.customer_id
                    LEFT JOIN {w}.w_num orig ON orig.n = d.original_n
                    ORDER BY d.n
                    """
                )
            with step("invoicing_documentline", cursor, "invoicing_documentline"):
                cursor.execute(
                    f"""
                    INSERT INTO invoicing_documentline (id, document_id, line_no, item_name, plate, vehicle_type,
                                                        date_from, date_to, tax_rate, amount_net, amount_tax,
                                                        amount_gross, service_date, card_no)
                    SELECT d.id, d.id, 1, w.item_name, coalesce(w.plate, ''), w.vehicle_type, d.period_start,
                           d.period_end, d.tax_rate, d.amount_net, d.amount_tax, d.amount_gross, d.service_date,
                           d.card_no
                    FROM invoicing_document d JOIN {w}.w_doc w ON w.n = d.id
                    ORDER BY d.id
                    """
                )
            with step("invoicing_documentitem", cursor, "invoicing_documentitem"):
                cursor.execute(
                    f"""
                    INSERT INTO invoicing_documentitem (document_id, line_id, item_kind, item_id, service_date,
                                                        card_no, amount, live)
                    SELECT i.n, i.n, i.item_kind, i.item_id, i.service_date, coalesce(i.card_no, ''), i.amount,
                           d.status = 'issued'
                    FROM {w}.w_item i JOIN {w}.w_doc d ON d.n = i.n
                    ORDER BY i.n, i.item_kind, i.item_id
                    """
                )
            self._sheets(cursor)
            with step("invoicing_delivery", cursor, "invoicing_delivery"):
                cursor.execute(
                    f"""
                    INSERT INTO invoicing_delivery (document_id, sheet_id, address, status, attempts, last_error,
                                                    created_at, sent_at)
                    SELECT document_id, sheet_id, address, status,
                           CASE status WHEN 'sent' THEN 1 WHEN 'failed' THEN 3 ELSE 0 END,
                           CASE WHEN status = 'failed' THEN '550 5.1.1 邮箱不存在或已停用' ELSE '' END,
                           at + interval '1 minute',
                           CASE WHEN status = 'sent' THEN at + interval '2 minutes' END
                    FROM (
                        SELECT d.id AS document_id, NULL::bigint AS sheet_id, t.email AS address, d.issued_at AS at,
                               CASE WHEN bench.h(d.id || ':dl', 100) < 95 THEN 'sent'
                                    WHEN bench.h(d.id || ':dl', 100) < 98 THEN 'failed' ELSE 'pending' END AS status
                        FROM invoicing_document d JOIN {w}.w_title t ON t.n = d.id
                        WHERE d.status <> 'red' AND t.email <> ''
                        UNION ALL
                        SELECT NULL, s.id, c.email, s.issued_at,
                               CASE WHEN bench.h(s.number || ':dl', 100) < 97 THEN 'sent' ELSE 'failed' END
                        FROM invoicing_summarysheet s JOIN invoicing_customer c ON c.id = s.customer_id
                        WHERE c.email <> '' AND bench.h(s.number || ':mail', 2) = 0
                    ) x
                    ORDER BY at, document_id, sheet_id
                    """
                )
        with step("number series past the numbers used", cursor, "invoicing_numberseries"):
            cursor.execute(
                f"""
                INSERT INTO invoicing_numberseries (key, next_value)
                SELECT series, max(seq) + 1 FROM {w}.w_num WHERE kind <> 'legacy' GROUP BY series
                UNION ALL
                SELECT 'sheet:' || province || ':' || to_char(issued_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMM'),
                       max(right(number, 8)::bigint) + 1
                FROM invoicing_summarysheet GROUP BY 1
                ON CONFLICT (key) DO UPDATE SET next_value = greatest(invoicing_numberseries.next_value,
                                                                      excluded.next_value)
                """
            )
        for table in ("w_rate", "w_topup_card", "w_seg", "w_doc", "w_item", "w_num", "w_title", "w_sheet"):
            cursor.execute(f"DROP TABLE IF EXISTS {w}.{table}")

    def _sheets(self, cursor: Any) -> None:
        """Summary sheets for one card-week in twenty of the trip documents' card-weeks; 5 % void and replaced."""
        w = "bench"
        with step("invoicing_summarysheet", cursor, "invoicing_summarysheet"):
            cursor.execute(
                f"""
                CREATE UNLOGGED TABLE {w}.w_sheet AS
                SELECT row_number() OVER (ORDER BY issued_at, card_no, wk) AS n, x.*
                FROM (
                    SELECT i.card_no, to_char(i.service_date, 'IYYY-IW') AS wk, min(d.customer_id) AS customer_id,
                           array_agg(DISTINCT s.pass_id ORDER BY s.pass_id) AS pass_ids,
                           array_agg(DISTINCT d.id ORDER BY d.id) AS documents, sum(i.amount) AS gross,
                           max(d.issued_at) + interval '1 hour' AS issued_at
                    FROM invoicing_documentitem i
                    JOIN invoicing_document d ON d.id = i.document_id
                    JOIN tolling_segment s ON s.id = i.item_id
                    WHERE i.item_kind = 'segment' AND i.live AND d.business_line = 'etc_trip'
                      AND bench.h(i.card_no || ':sheet', 20) = 0
                    GROUP BY i.card_no, to_char(i.service_date, 'IYYY-IW')
                ) x
                """
            )
            # a void sheet's replacement: the same content, issued a day later (at most, before today)
            cursor.execute(
                f"""
                INSERT INTO {w}.w_sheet
                SELECT (SELECT max(n) FROM {w}.w_sheet) + row_number() OVER (ORDER BY n), card_no, wk, customer_id,
                       pass_ids, documents, gross,
                       least(issued_at + interval '1 day', {self.midnight} - interval '1 minute')
                FROM {w}.w_sheet WHERE bench.h(n || ':void', 20) = 0
                """
            )
            cursor.execute(
                f"""
                INSERT INTO invoicing_summarysheet (id, number, province, status, customer_id, card_no, pass_ids,
                                                    amount_gross, issued_at, service_date, replaced_by_id, pdf)
                SELECT s.n, left(s.card_no, 2) || to_char(s.issued_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMM')
                       || lpad((row_number() OVER (PARTITION BY left(s.card_no, 2),
                                to_char(s.issued_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMM')
                                ORDER BY s.issued_at, s.n))::text, 8, '0'),
                       left(s.card_no, 2), CASE WHEN r.n IS NULL THEN 'valid' ELSE 'void' END, s.customer_id,
                       s.card_no, s.pass_ids, s.gross, s.issued_at, (s.issued_at AT TIME ZONE 'Asia/Shanghai')::date,
                       r.n, ''
                FROM {w}.w_sheet s
                LEFT JOIN {w}.w_sheet r ON r.card_no = s.card_no AND r.wk = s.wk AND r.n > s.n
                ORDER BY s.n
                """
            )
        with step("invoicing_summarysheet_documents", cursor, "invoicing_summarysheet_documents"):
            cursor.execute(
                f"""
                INSERT INTO invoicing_summarysheet_documents (summarysheet_id, document_id)
                SELECT s.n, unnest(s.documents) FROM {w}.w_sheet s ORDER BY 1, 2
                """
            )

    # -- support --

    def support(self, cursor: Any) -> None:
        with indexes_dropped(cursor, ["support_ticket", "support_ticketnote", "support_ticketlink"]):
            self._support(cursor)

    def _support(self, cursor: Any) -> None:
        tickets = max(20, self.customers // 50)
        with step("support_ticket", cursor, "support_ticket"):
            cursor.execute(
                f"""
                INSERT INTO support_ticket (category, status, subject, description, customer_id, province,
                                            assignee_id, created_by_id, created_at, due_at, closed_at)
                SELECT category, status, subject, '客户来电：' || subject, c.id, c.province,
                       CASE WHEN status = 'open' THEN NULL ELSE agent END, agent, at, at + interval '48 hours',
                       CASE WHEN status IN ('resolved', 'closed')
                            THEN at + (1 + bench.h(i || ':tk-close', 40)) * interval '1 hour' END
                FROM (
                    SELECT i, (ARRAY['trip_not_found', 'several_invoices', 'wrong_title', 'wrong_vehicle',
                                     'wrong_kind', 'already_invoiced', 'not_received', 'card_binding',
                                     'amount_dispute', 'audit_charge', 'other'])[1 + bench.h(i || ':tk-cat', 11)]
                               AS category,
                           (ARRAY['open', 'in_progress', 'waiting', 'resolved', 'resolved', 'closed', 'closed',
                                  'closed'])[1 + bench.h(i || ':tk-status', 8)] AS status,
                           (ARRAY['找不到通行记录', '一次通行收到多张发票', '发票抬头错误', '车牌或车型错误',
                                  '充值/消费开票选择错误', '提示已开票', '未收到发票', '绑卡/换卡', '金额有疑问',
                                  '稽核补费疑问', '其他问题'])[1 + bench.h(i || ':tk-cat', 11)] AS subject,
                           1 + bench.h(i || ':tk-customer', (SELECT max(id) FROM invoicing_customer)) AS customer_id,
                           {self.midnight} - (1 + bench.h(i || ':tk-at', {TRIP_DAYS} * 86400)) * interval '1 second'
                               AS at,
                           (SELECT id FROM piaogen_user WHERE username = 'agent') AS agent
                    FROM generate_series(1, {tickets}) AS i
                ) x
                JOIN invoicing_customer c ON c.id = x.customer_id
                ORDER BY i
                """
            )
        with step("support_ticketnote", cursor, "support_ticketnote"):
            cursor.execute(
                """
                INSERT INTO support_ticketnote (ticket_id, author_id, body, created_at)
                SELECT t.id, t.created_by_id,
                       (ARRAY['已核实通行记录', '已告知客户开票规则', '已重发发票邮件', '等待客户提供证件信息',
                              '已提交发行方核实车辆信息'])[1 + bench.h(t.id || ':note' || k, 5)],
                       t.created_at + k * interval '20 minutes'
                FROM support_ticket t CROSS JOIN LATERAL generate_series(1, 1 + bench.h(t.id || ':notes', 3)::int) k
                ORDER BY t.id, k
                """
            )
        with step("support_ticketlink", cursor, "support_ticketlink"):
            cursor.execute(
                """
                INSERT INTO support_ticketlink (ticket_id, object_type, object_key)
                SELECT t.id, 'card', b.card_no
                FROM support_ticket t
                JOIN LATERAL (SELECT card_no FROM invoicing_cardbinding b WHERE b.customer_id = t.customer_id
                              ORDER BY b.id LIMIT 1) b ON true
                ORDER BY t.id
                """
            )

    # -- finish --

    def finish(self, cursor: Any) -> None:
        with step("sequences past the ids used"):
            cursor.execute(
                "SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
                "JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = 'public' "
                "AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND (a.attidentity <> '' "
                "OR pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL) ORDER BY 1"
            )
            for table, column in cursor.fetchall():
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max({column}), 0) + 1, false) "
                    f"FROM {table}",
                    [table, column],
                )

    def _record(self, cursor: Any, name: str, started: float) -> None:
        cursor.execute("INSERT INTO bench.phase (name, seconds) VALUES (%s, %s)", [name, time.perf_counter() - started])


def _copy_chunk(k: int) -> tuple[str, str, int, int]:
    """In a worker process: chunk ``k`` of the trips as COPY text (the demo generator, its own seeded RNG)."""
    from tolling.demo import trip_chunks, trips_copy_text

    job = _JOB
    trips = next(
        trip_chunks(
            seed=job["seed"],
            units_by_province=job["units"],
            cards=job["cards"],
            segments=job["segments"],
            today=job["today"],
            days=TRIP_DAYS,
            tag=TAG,
            chunk_segments=CHUNK,
            chunks=[k],
            route_cache=job.setdefault("routes", {}),
        )
    )
    segments, trip_text, n = trips_copy_text(trips)
    return segments, trip_text, n, len(trips)


# --- the run -----------------------------------------------------------------------------------------------------


SCHEMA_SQL = """
SELECT 'index ' || c.relname || ': ' || pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relnamespace = 'public'::regnamespace
UNION ALL
SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ': ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
       || coalesce(column_default, '')
FROM information_schema.columns WHERE table_schema = 'public'
ORDER BY 1
"""


def schema_fingerprint(cursor: Any) -> list[str]:
    """Every index, constraint and column default of the public schema, as the catalog defines them."""
    cursor.execute(SCHEMA_SQL)
    return [row[0] for row in cursor.fetchall()]


def _pending_migrations() -> int:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def vacuum_analyze(tables: list[str] | None = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if tables is None:
            cursor.execute("VACUUM (ANALYZE)")
        else:
            for table in tables:
                cursor.execute(f"VACUUM (ANALYZE) {table}")


def run(args: argparse.Namespace) -> dict[str, float]:
    """Create/migrate the database and run the phases not done yet; returns the seconds of each phase run."""
    created = ensure_database(args.database, rebuild=args.rebuild)
    os.environ["DATABASE_URL"] = database_url(args.database)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections, transaction

    from tolling.demo import beijing_today

    _say(f"database {args.database} ({'created' if created else 'exists'})")
    pending = _pending_migrations()
    if pending:
        with step(f"manage.py migrate ({pending} migrations)"):
            call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        _bench_schema(cursor)
        meta = _meta(cursor, args, args.today or beijing_today())
        migrated = schema_fingerprint(cursor)
        cursor.execute("SELECT name FROM bench.phase")
        done = {row[0] for row in cursor.fetchall()}
    build = Build(
        scale=float(meta["scale"]),
        seed=int(meta["seed"]),
        today=dt.date.fromisoformat(meta["today"]),
        workers=args.workers,
    )
    todo = [p for p in PHASES if p not in done]
    if not todo:
        if pending:
            with step("ANALYZE (after the migrations)"), connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        _say(f"dataset present ({build.segments:,} segments, built for {meta['today']}): nothing to do")
        return {}
    _say(
        f"building {build.segments:,} segments, {build.customers:,} customers (scale {build.scale}, seed "
        f"{build.seed}, today {build.today}); phases to run: {', '.join(todo)}"
    )
    timings: dict[str, float] = {}
    total = time.perf_counter()
    with connection.cursor() as cursor:
        build.hash_function(cursor)
    for name in todo:
        started = time.perf_counter()
        _say(f"phase {name}")
        if name == "traffic":
            build.traffic(connection)
        elif name == "finish":
            with transaction.atomic(), connection.cursor() as cursor:
                build.finish(cursor)
            with step("VACUUM ANALYZE"):
                vacuum_analyze()
            with connection.cursor() as cursor:
                build._record(cursor, name, started)
        else:
            phase: Callable[[Any], None] = getattr(build, name)
            with transaction.atomic(), connection.cursor() as wrapper:
                phase(wrapper.cursor)
                build._record(wrapper.cursor, name, started)
        timings[name] = time.perf_counter() - started
        _say(f"phase {name} done in {timings[name]:.1f} s")
        connections.close_all()
    _say(f"done in {time.perf_counter() - total:.1f} s: " + json.dumps({k: round(v, 1) for k, v in timings.items()}))
    with connection.cursor() as cursor:
        now = schema_fingerprint(cursor)
        if now != migrated:
            changed = sorted(set(now) ^ set(migrated))
            sys.exit("the schema differs from the migrated one:\n  " + "\n  ".join(changed[:20]))
        _say(f"schema: {len(now)} indexes, constraints and columns, identical to the migrated schema")
        cursor.execute(
            "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE schemaname = 'public' AND n_live_tup > 0 "
            "ORDER BY n_live_tup DESC"
        )
        for table, rows in cursor.fetchall():
            _say(f"  {table:<44} {rows:>12,} rows")
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        _say(f"  database size {cursor.fetchone()[0]}")
    return timings


def main(argv: list[str] | None = None) -> None:
    run(_parse(argv))


if __name__ == "__main__":
    main()
