"""The benchmark dataset builder (bench/dataset.py) at its smallest scale: one build in a database of its own (a
copy of the migrated test template)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.dataset import database_url
from piaogen.identifiers import (
    is_fiscal_code,
    is_legacy_code,
    is_summary_sheet_number,
    validate_digital_invoice_number,
)
from tests.fixtures.databases import migrated_database

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "piaogen_bench_h5test"


def _build(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dataset.py"), "--scale", "0.0001", "--database", DATABASE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def built(django_db_setup: None) -> Iterator[tuple[str, Any]]:
    # the database starts as a copy of the migrated test template: the builder finds no migration to run (a
    # migration of its own cost ~10 s); it builds into it as into a database it created
    migrated_database(DATABASE)
    output = _build("--today", "2026-11-26")
    with psycopg.connect(database_url(DATABASE)) as conn:
        yield output, conn
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def _one(conn: Any, sql: str) -> Any:
    row = conn.execute(sql).fetchone()
    return row[0]


def test_the_build_runs_every_phase_and_restores_the_migrated_schema(built: tuple[str, Any]) -> None:
    output, conn = built
    for phase in ("country", "people", "traffic", "facts", "documents", "support", "finish"):
        assert f"phase {phase} done" in output
    assert "identical to the migrated schema" in output
    assert _one(conn, "SELECT count(*) FROM bench.phase") == 7


def test_a_second_run_with_the_dataset_present_does_nothing(built: tuple[str, Any]) -> None:
    _output, conn = built
    before = _one(conn, "SELECT count(*) FROM invoicing_document")
    again = _build()
    assert "nothing to do" in again
    assert _one(conn, "SELECT count(*) FROM invoicing_document") == before


def test_a_run_with_another_scale_refuses_without_rebuild(built: tuple[str, Any]) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dataset.py"), "--scale", "0.0002", "--database", DATABASE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode != 0
    assert "--rebuild" in done.stderr


def test_every_table_the_benchmarks_read_has_rows(built: tuple[str, Any]) -> None:
    _output, conn = built
    assert _one(conn, "SELECT count(*) FROM tolling_segment") == 1000
    for table in (
        "tolling_trip",
        "tolling_card",
        "tolling_vehicle",
        "tolling_topup",
        "tolling_auditcharge",
        "tolling_paperticket",
        "tolling_uploadbatch",
        "invoicing_customer",
        "invoicing_cardbinding",
        "invoicing_buyertitle",
        "invoicing_document",
        "invoicing_documentline",
        "invoicing_documentitem",
        "invoicing_summarysheet",
        "invoicing_summarysheet_documents",
        "invoicing_delivery",
        "support_ticket",
    ):
        assert _one(conn, f"SELECT count(*) FROM {table}") > 0, table  # noqa: S608 — constant names


def test_documents_add_up_and_each_item_is_live_at_most_once(built: tuple[str, Any]) -> None:
    _output, conn = built
    # document = its lines; a live document's lines = its items; one live item per segment, top-up…
    assert not _one(
        conn,
        "SELECT count(*) FROM invoicing_document d JOIN (SELECT document_id, sum(amount_gross) g, sum(amount_tax) t "
        "FROM invoicing_documentline GROUP BY 1) l ON l.document_id = d.id "
        "WHERE l.g <> d.amount_gross OR l.t <> d.amount_tax",
    )
    assert not _one(
        conn,
        "SELECT count(*) FROM invoicing_documentline l JOIN (SELECT line_id, sum(amount) a FROM invoicing_documentitem "
        "GROUP BY 1) i ON i.line_id = l.id WHERE i.a <> l.amount_gross",
    )
    assert not _one(
        conn,
        "SELECT count(*) FROM (SELECT item_kind, item_id FROM invoicing_documentitem WHERE live "
        "GROUP BY 1, 2 HAVING count(*) > 1) x",
    )
    assert not _one(
        conn,
        "SELECT count(*) FROM invoicing_documentitem i LEFT JOIN tolling_segment s ON s.id = i.item_id "
        "WHERE i.item_kind = 'segment' AND (s.id IS NULL OR s.fee <> i.amount OR s.card_no <> i.card_no)",
    )
    # every reversed document has its red document, and its items are no longer live
    assert not _one(
        conn,
        "SELECT count(*) FROM invoicing_document o WHERE o.status = 'reversed' AND (NOT EXISTS "
        "(SELECT 1 FROM invoicing_document r WHERE r.original_id = o.id AND r.status = 'red' "
        "AND r.amount_gross = -o.amount_gross) OR EXISTS (SELECT 1 FROM invoicing_documentitem i "
        "WHERE i.document_id = o.id AND i.live))",
    )


def test_numbers_have_the_official_formats_and_the_series_continue_after_them(built: tuple[str, Any]) -> None:
    _output, conn = built
    rows = conn.execute("SELECT kind, code, number FROM invoicing_document").fetchall()
    for kind, code, number in rows:
        if kind == "invoice":
            assert code == "" and validate_digital_invoice_number(number) == number
        elif kind == "legacy":
            assert is_legacy_code(code) and len(number) == 8 and number.isdigit()
        else:
            assert is_fiscal_code(code) and len(number) == 10 and number.isdigit()
    assert all(is_summary_sheet_number(n) for (n,) in conn.execute("SELECT number FROM invoicing_summarysheet"))
    series = dict(conn.execute("SELECT key, next_value FROM invoicing_numberseries").fetchall())
    for kind, province, code, number in conn.execute(
        "SELECT kind, province, code, number FROM invoicing_document WHERE kind IN ('invoice', 'receipt')"
    ):
        key = f"digital:{number[:2]}:{province}:1" if kind == "invoice" else f"fiscal:{province}:{code[-2:]}"
        seq = int(number[5:]) if kind == "invoice" else int(number)
        assert series[key] > seq
