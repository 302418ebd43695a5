#!/usr/bin/env python3
"""Ingest benchmark (product.md §6): N segment rows from CSV, our pipeline against a bare COPY and bulk_create.

    python bench/ingest.py --rows 1000000 [--province 32] [--bulk-rows N] [--chunk-rows 50000] [--workers 2]

In one process and one database (the development one; run ``manage.py seed_demo`` first):

(a) a bare ``COPY`` of the file into an unlogged, unindexed all-text table: the limit;
(a′) the database's own share, the ceiling of any pipeline on this schema and machine: the same rows, typed and
    de-duplicated in SQL beforehand (untimed), inserted by ``INSERT … SELECT`` into the indexed, partitioned segment
    table and the trip registry over the pipeline's N connections at once (no parsing, checking or duplicate search);
(b) our pipeline end to end: the UploadBatch is created with the file (stored, hashed), then ``batch_process``
    runs in a separate worker process (its peak RSS is the worker's memory), and the committed rows are counted;
(c) a Django ``bulk_create(batch_size=5000, ignore_conflicts=True)`` import after csv parsing and type conversion
    of the same N rows into the same indexed table (by default; ``--bulk-rows`` times fewer and extrapolates to N,
    and the output says so: at 10 M rows bulk_create alone takes most of an hour).

The CSV comes from bench/generate.py (one province's toll units, so every row is in scope), generated if missing.
Everything inserted is deleted afterwards. Prints rows/s, ratios, the targets, and where the pipeline's time went.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.files import File  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from piaogen.models import Role, User  # noqa: E402
from piaogen.money import parse_yuan  # noqa: E402
from piaogen.services import staff_upsert  # noqa: E402
from tolling.contract import CONTRACT  # noqa: E402
from tolling.importing import batch_process  # noqa: E402
from tolling.models import Card, RejectedRow, Segment, TollUnit, UploadBatch, Vehicle  # noqa: E402

TARGET_ROWS_PER_S = 100_000
TARGET_VS_COPY = 10.0
TARGET_VS_BULK = 20.0
BEIJING = dt.timezone(dt.timedelta(hours=8))
BULK_MARK = -1  # batch_id of the rows the bulk_create baseline inserts (no FK on batch: ADR 0001)
CEILING_MARK = -2  # batch_id of the rows the ceiling (a′) inserts


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--province", default="32")
    parser.add_argument("--file", type=Path, help="CSV to load (default bench/data/segments-<province>-<rows>.csv)")
    parser.add_argument("--bulk-rows", type=int, default=0, help="rows for bulk_create (default 0: all N)")
    parser.add_argument("--chunk-rows", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None, help="load connections (setting INGEST_WORKERS)")
    parser.add_argument("--skip-bulk", action="store_true", help="time only (a) and (b)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # internal: process this batch id
    return parser.parse_args()


def _label(rows: int) -> str:
    return f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"{rows // 1000}k" if rows % 1000 == 0 else str(rows)


def _file(args: argparse.Namespace) -> Path:
    path: Path = args.file or ROOT / "bench" / "data" / f"segments-{args.province}-{_label(args.rows)}.csv"
    if not path.exists():
        print(f"generating {path} …", flush=True)
        subprocess.run(
            [
                *(sys.executable, str(ROOT / "bench" / "generate.py"), "--segments", str(args.rows)),
                *("--province", args.province, "--out", str(path)),
            ],
            check=True,
        )
    return path


def _rate(rows: int, seconds: float) -> str:
    return f"{rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s"


# --- (a) bare COPY -------------------------------------------------------------------------------------------------


def bare_copy(path: Path) -> tuple[int, float]:
    columns = ", ".join(f"{c.name} text" for c in CONTRACT["segments"])
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_ingest_copy")
        cursor.execute(f"CREATE UNLOGGED TABLE bench_ingest_copy ({columns})")
        started = time.perf_counter()
        with open(path, "rb") as source, cursor.copy("COPY bench_ingest_copy FROM STDIN (FORMAT csv, HEADER)") as copy:
            while block := source.read(1 << 20):
                copy.write(block)
        seconds = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_ingest_copy")
        rows = cursor.fetchone()[0]
    return rows, seconds


# --- (a′) the database's share: typed rows into the indexed tables over N connections --------------------------------

SEGMENT_COLUMNS = (
    "pass_id, segment_no, service_date, card_no, card_type, plate, plate_color, vehicle_class, province, entry_time, "
    "exit_time, entry_station, exit_station, pay_fee, discount_fee, fee, toll_unit_id, batch_id"
)
TRIP_COLUMNS = "pass_id, card_no, card_type, plate, plate_color, vehicle_class, entry_time, exit_time, service_date"


def _typed(connections: int) -> None:
    """Untimed: the bare COPY's text rows typed as the pipeline would type them, one row per natural key, each pass
    id's segments and trip in the same share of the N connections; pass ids already in the database left out."""
    beijing = "AT TIME ZONE 'Asia/Shanghai'"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_ingest_typed, bench_ingest_trips")
        cursor.execute(
            f"""
            CREATE UNLOGGED TABLE bench_ingest_typed AS
            SELECT DISTINCT ON (c.pass_id, c.segment_no::smallint, (c.exit_time::timestamp)::date)
                c.pass_id, c.segment_no::smallint AS segment_no, (c.exit_time::timestamp)::date AS service_date,
                c.card_no, c.card_type::smallint AS card_type, c.plate, c.plate_color::smallint AS plate_color,
                c.vehicle_class::smallint AS vehicle_class, u.province, c.entry_time::timestamp {beijing} AS entry_time,
                c.exit_time::timestamp {beijing} AS exit_time, c.entry_station, c.exit_station,
                round(c.pay_fee::numeric * 100)::bigint AS pay_fee,
                round(c.discount_fee::numeric * 100)::bigint AS discount_fee,
                round(c.fee::numeric * 100)::bigint AS fee,
                u.id AS toll_unit_id, {CEILING_MARK}::bigint AS batch_id,
                abs(hashtext(c.pass_id)) %% %s AS share
            FROM bench_ingest_copy c JOIN tolling_tollunit u ON u.code = c.toll_unit
            WHERE NOT EXISTS (SELECT 1 FROM tolling_trip t WHERE t.pass_id = c.pass_id)
            """,
            [connections],
        )
        cursor.execute(
            f"""
            CREATE UNLOGGED TABLE bench_ingest_trips AS
            SELECT DISTINCT ON (pass_id) {TRIP_COLUMNS}, share
            FROM (
                SELECT pass_id, card_no, card_type, plate, plate_color, vehicle_class, share,
                    min(entry_time) OVER w AS entry_time, max(exit_time) OVER w AS exit_time,
                    max(service_date) OVER w AS service_date
                FROM bench_ingest_typed WINDOW w AS (PARTITION BY pass_id)
            ) s
            ORDER BY pass_id
            """
        )


def indexed_ceiling(connections: int) -> tuple[int, float]:
    """(a′): the typed rows inserted into tolling_segment and tolling_trip, one share per connection, all at once;
    then deleted."""
    from concurrent.futures import ThreadPoolExecutor

    _typed(connections)

    def share(number: int) -> None:
        try:
            with connection.cursor() as cursor:  # a thread's own connection (Django's are per thread)
                cursor.execute(
                    f"INSERT INTO tolling_segment ({SEGMENT_COLUMNS}) "
                    f"SELECT {SEGMENT_COLUMNS} FROM bench_ingest_typed WHERE share = %s",
                    [number],
                )
                cursor.execute(
                    f"INSERT INTO tolling_trip ({TRIP_COLUMNS}) SELECT {TRIP_COLUMNS} FROM bench_ingest_trips "
                    "WHERE share = %s",
                    [number],
                )
        finally:
            connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(share, range(connections)))
    seconds = time.perf_counter() - started
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tolling_segment WHERE batch_id = %s", [CEILING_MARK])
        rows = cursor.fetchone()[0]
        cursor.execute("DELETE FROM tolling_trip WHERE pass_id IN (SELECT pass_id FROM bench_ingest_trips)")
        cursor.execute("DELETE FROM tolling_segment WHERE batch_id = %s", [CEILING_MARK])
        cursor.execute("DROP TABLE bench_ingest_typed, bench_ingest_trips")
    return rows, seconds


# --- (b) our pipeline ----------------------------------------------------------------------------------------------


def _uploader(province: str) -> User:
    user = User.objects.filter(username=f"bench-{province}").first()
    return user or staff_upsert(username=f"bench-{province}", role=Role.PROVINCE, province=province, password=None)


def batch_upload(path: Path, province: str) -> tuple[UploadBatch, float]:
    """What the upload call does: hash and store the file, create the batch."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    batch = UploadBatch(
        kind="segments",
        province=province,
        uploaded_by=_uploader(province),
        file_name=path.name,
        file_size=path.stat().st_size,
        sha256=digest.hexdigest(),
    )
    with open(path, "rb") as source:
        batch.file.save(path.name, File(source), save=False)
    batch.save()
    return batch, time.perf_counter() - started


def worker_run(batch_id: int, chunk_rows: int | None) -> None:
    """In the worker process: process the batch, print the phase timings as JSON."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    batch_process(batch_id=batch_id, chunk_rows=chunk_rows, timings=timings)
    timings["total"] = time.perf_counter() - started
    print(json.dumps(timings))


def pipeline(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    batch, upload_s = batch_upload(path, args.province)
    command = [sys.executable, __file__, "--worker", str(batch.pk)]
    if args.chunk_rows:
        command += ["--chunk-rows", str(args.chunk_rows)]
    env = {**os.environ, **({"PIAOGEN_INGEST_WORKERS": str(args.workers)} if args.workers else {})}
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    assert child.stdout is not None
    output = child.stdout.read().decode()
    if status:
        sys.exit(f"the worker failed ({status}): {output}")
    timings = json.loads(output.strip().splitlines()[-1])
    batch.refresh_from_db()
    committed = Segment.objects.filter(batch_id=batch.pk).count()
    return {
        "batch": batch,
        "upload_s": upload_s,
        "process_s": seconds,
        "committed": committed,
        "maxrss_mb": usage.ru_maxrss / 1024,
        "timings": timings,
    }


def pipeline_cleanup(batch: UploadBatch, cards_before: int, vehicles_before: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM tolling_trip WHERE pass_id IN (SELECT pass_id FROM tolling_segment WHERE batch_id = %s)",
            [batch.pk],
        )
        cursor.execute("DELETE FROM tolling_segment WHERE batch_id = %s", [batch.pk])
    Card.objects.filter(pk__gt=cards_before).delete()
    Vehicle.objects.filter(pk__gt=vehicles_before).delete()
    RejectedRow.objects.filter(batch=batch).delete()
    if batch.error_file:
        batch.error_file.delete(save=False)
    batch.file.delete(save=False)
    batch.delete()


# --- (c) Django bulk_create ----------------------------------------------------------------------------------------


def _time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=BEIJING)


def bulk_create(path: Path, limit: int) -> tuple[int, float]:
    """Parse and convert in Python, then bulk_create(batch_size=5000, ignore_conflicts=True)."""
    units = {code: (pk, province) for pk, code, province in TollUnit.objects.values_list("pk", "code", "province")}
    started = time.perf_counter()
    rows = 0
    with open(path, encoding="utf-8-sig", newline="") as source:
        reader = csv.DictReader(source)
        batch: list[Segment] = []
        for record in reader:
            if limit and rows >= limit:
                break
            unit_id, province = units[record["toll_unit"]]
            exit_time = _time(record["exit_time"])
            batch.append(
                Segment(
                    pass_id=record["pass_id"],
                    segment_no=int(record["segment_no"]),
                    service_date=exit_time.astimezone(BEIJING).date(),
                    card_no=record["card_no"],
                    card_type=int(record["card_type"]),
                    plate=record["plate"],
                    plate_color=int(record["plate_color"]),
                    vehicle_class=int(record["vehicle_class"]),
                    toll_unit_id=unit_id,
                    province=province,
                    entry_time=_time(record["entry_time"]),
                    exit_time=exit_time,
                    entry_station=record["entry_station"],
                    exit_station=record["exit_station"],
                    pay_fee=parse_yuan(record["pay_fee"]),
                    discount_fee=parse_yuan(record["discount_fee"]),
                    fee=parse_yuan(record["fee"]),
                    batch_id=BULK_MARK,
                )
            )
            rows += 1
            if len(batch) == 5000:
                Segment.objects.bulk_create(batch, batch_size=5000, ignore_conflicts=True)
                batch = []
        if batch:
            Segment.objects.bulk_create(batch, batch_size=5000, ignore_conflicts=True)
    seconds = time.perf_counter() - started
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM tolling_segment WHERE batch_id = %s", [BULK_MARK])
    return rows, seconds


# --- main ----------------------------------------------------------------------------------------------------------


def main() -> None:
    args = _parse()
    if args.worker:
        worker_run(args.worker, args.chunk_rows)
        return
    if not TollUnit.objects.filter(province=args.province).exists():
        sys.exit(f"no toll units for province {args.province}: run `manage.py seed_demo` first")
    path = _file(args)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {path} ({size_mb:.1f} MB), {os.cpu_count()} cores", flush=True)

    copy_rows, copy_s = bare_copy(path)
    print(f"(a) bare COPY into an unlogged all-text table: {_rate(copy_rows, copy_s)}", flush=True)

    cards_before = Card.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    vehicles_before = Vehicle.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    ours = pipeline(path, args)
    batch: UploadBatch = ours["batch"]
    end_to_end = ours["upload_s"] + ours["process_s"]
    print(
        f"(b) our pipeline: batch #{batch.pk} {batch.status}, {batch.rows_accepted:,} accepted, "
        f"{batch.rows_duplicate:,} duplicate, {batch.rows_rejected:,} rejected; {ours['committed']:,} rows committed",
        flush=True,
    )
    print(f"    upload (hash + store the file): {ours['upload_s']:.1f} s")
    print(f"    processing (batch_process): {_rate(copy_rows, ours['process_s'])}")
    print(f"    end to end (upload call to committed rows): {_rate(copy_rows, end_to_end)}")
    print(f"    worker peak memory (ru_maxrss): {ours['maxrss_mb']:.0f} MB")
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in ours["timings"].items() if k != "total")
    print(f"    time per phase, summed over both connections: {phases}")
    pipeline_cleanup(batch, cards_before, vehicles_before)
    # after the pipeline, so that (b) meets the tables as it always did (not a million deleted rows' dead tuples)
    connections = args.workers or settings.PIAOGEN["INGEST_WORKERS"]
    ceiling_rows, ceiling_s = indexed_ceiling(connections)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_ingest_copy")
    print(
        f"(a′) typed rows INSERT … SELECT into the indexed segment table and the trip registry over {connections} "
        f"connections (the database's share, no parsing or checks): {_rate(ceiling_rows, ceiling_s)}",
        flush=True,
    )
    ours_rate = copy_rows / ours["process_s"]
    vs_copy = ours["process_s"] / copy_s
    ceiling_share = (
        f"the database's share (a′) alone takes {ceiling_s / copy_s:.1f}× the bare COPY time and is "
        f"{ceiling_s / ours['process_s']:.0%} of ours"
    )
    if args.skip_bulk:
        print(f"\nours {ours_rate:,.0f} rows/s; {vs_copy:.1f}× the bare COPY time; {ceiling_share}")
        return

    bulk_rows, bulk_s = bulk_create(path, args.bulk_rows)
    bulk_rate = bulk_rows / bulk_s
    vs_bulk = ours_rate / bulk_rate
    extrapolated = bulk_rows < copy_rows
    note = f" (timed on {bulk_rows:,} rows, extrapolated to {copy_rows:,})" if extrapolated else ""
    print(f"(c) Django bulk_create(batch_size=5000, ignore_conflicts=True): {_rate(bulk_rows, bulk_s)}{note}")

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print()
    print(
        f"ours {ours_rate:,.0f} rows/s (target ≥ {TARGET_ROWS_PER_S:,}: {verdict(ours_rate >= TARGET_ROWS_PER_S)}); "
        f"{vs_copy:.1f}× the bare COPY time (target ≤ {TARGET_VS_COPY:.0f}×: {verdict(vs_copy <= TARGET_VS_COPY)}); "
        f"{vs_bulk:.1f}× bulk_create (target ≥ {TARGET_VS_BULK:.0f}×: {verdict(vs_bulk >= TARGET_VS_BULK)})"
    )
    print(ceiling_share)


if __name__ == "__main__":
    main()
