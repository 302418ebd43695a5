#!/usr/bin/env python3
"""Generate segment datasets for the benchmarks (ingest, issuing, search, dashboard).

    python bench/generate.py --segments 1000000 --out bench/data/segments-1m.csv [--encoding utf-8|gb18030]
    python bench/generate.py --segments 1000000 --province 32 --out bench/data/segments-32-1m.csv
    python bench/generate.py --segments 10000000 --load          # COPY straight into tolling_segment + tolling_trip
    python bench/generate.py --delete                            # remove what --load put there (pass ids B…)

Rows use the toll units already in the database (run ``manage.py seed_demo`` first) and, unless ``--cards N``
asks for generated ones, its cards. They come from the demo's trip generator (tolling/demo.py), in chunks of
50,000 segments made in parallel worker processes: the output depends on the seed and the day, not on
``--workers``. The CSV is the ``segments`` upload contract (product.md §4), streamed to disk chunk by chunk.
``--province`` keeps every segment on that province's toll units: an upload is accepted only for the uploader's
own units, so the ingest benchmark needs a single-province file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import multiprocessing
import os
import random
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, connections, transaction  # noqa: E402

from tolling.demo import (  # noqa: E402
    SEGMENT_COPY_COLUMNS,
    SEGMENT_CSV_HEADER,
    TRIP_COPY_COLUMNS,
    CardRef,
    Route,
    UnitRef,
    beijing_today,
    copy_text,
    make_cards,
    stored_cards,
    stored_units_by_province,
    trip_chunks,
    trips_copy_text,
    trips_csv_text,
)

CHUNK = 50_000

# Set in the parent before the worker processes fork, so the (large) card list is never pickled.
_JOB: dict[str, Any] = {}
_ROUTES: dict[int, list[Route]] = {}


def _chunk_trips(k: int) -> list[Any]:
    return next(
        trip_chunks(
            seed=_JOB["seed"],
            units_by_province=_JOB["units"],
            cards=_JOB["cards"],
            segments=_JOB["segments"],
            today=_JOB["today"],
            days=_JOB["days"],
            tag=_JOB["tag"],
            chunk_segments=CHUNK,
            chunks=[k],
            route_cache=_ROUTES,
        )
    )


def _csv_chunk(k: int) -> bytes:
    return trips_csv_text(_chunk_trips(k)).encode(_JOB["encoding"])


def _copy_chunk(k: int) -> tuple[str, str, int, int]:
    trips = _chunk_trips(k)
    segments, trip_text, n = trips_copy_text(trips)
    return segments, trip_text, n, len(trips)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, help="CSV file to write (default bench/data/segments-<n>.csv)")
    parser.add_argument("--encoding", choices=("utf-8", "gb18030"), default="utf-8")
    parser.add_argument("--load", action="store_true", help="COPY into tolling_segment and tolling_trip instead")
    parser.add_argument("--delete", action="store_true", help="delete loaded rows whose pass id starts with --tag")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--province", help="only this province's toll units (2-digit code)")
    parser.add_argument("--cards", type=int, default=0, help="generate N cards instead of using the stored ones")
    parser.add_argument("--days", type=int, default=60, help="trips exit in the N days before today (Beijing)")
    parser.add_argument("--today", type=dt.date.fromisoformat, help="YYYY-MM-DD, default today in Beijing")
    parser.add_argument("--tag", default="B", help="pass-id prefix, to tell bench rows apart (default B)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="generating processes")
    parser.add_argument("--connections", type=int, default=2, help="parallel COPY connections for --load")
    return parser.parse_args()


def _setup(args: argparse.Namespace) -> None:
    units: dict[str, list[UnitRef]] = stored_units_by_province([args.province] if args.province else None)
    if not units:
        sys.exit(
            "no toll units in the database"
            + (f" for province {args.province}" if args.province else "")
            + ": run `manage.py seed_demo` first"
        )
    cards: list[CardRef]
    if args.cards:
        rng = random.Random(f"{args.seed}:cards")
        cards = make_cards(rng, args.cards, provinces=sorted(units))
    else:
        cards = stored_cards()
        if not cards:
            sys.exit("no cards in the database: run `manage.py seed_demo` first, or pass --cards N")
    _JOB.update(
        seed=args.seed,
        units=units,
        cards=cards,
        segments=args.segments,
        today=args.today or beijing_today(),
        days=args.days,
        tag=args.tag,
        encoding=args.encoding,
    )
    connections.close_all()  # the workers fork: no shared database socket


def _worker_init() -> None:
    gc.disable()  # millions of short-lived tuples and no reference cycles: the cyclic GC only costs time


def _pool(args: argparse.Namespace) -> Any:
    return multiprocessing.get_context("fork").Pool(max(1, args.workers), initializer=_worker_init)


def write_csv(args: argparse.Namespace) -> None:
    out: Path = args.out or ROOT / "bench" / "data" / f"segments-{args.segments}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    chunks = range(-(-args.segments // CHUNK))
    started = time.perf_counter()
    rows = 0
    with out.open("wb") as f, _pool(args) as pool:
        f.write(SEGMENT_CSV_HEADER.encode(args.encoding))
        for data in pool.imap(_csv_chunk, chunks):
            f.write(data)
        rows = args.segments
    seconds = time.perf_counter() - started
    size = out.stat().st_size
    print(
        f"wrote {rows:,} segment rows to {out} ({size / 1e6:,.1f} MB, {args.encoding}) in {seconds:.2f} s: "
        f"{rows / seconds:,.0f} rows/s, {size / 1e6 / seconds:,.1f} MB/s ({args.workers} workers)"
    )


def _copy_into(texts: tuple[str, str, int, int]) -> tuple[int, int]:
    """COPY one chunk on this thread's own connection, committed on its own (autocommit)."""
    seg_text, trip_text, n, t = texts
    with connection.cursor() as wrapper:
        copy_text(wrapper.cursor, "tolling_segment", SEGMENT_COPY_COLUMNS, seg_text)
        copy_text(wrapper.cursor, "tolling_trip", TRIP_COPY_COLUMNS, trip_text)
    return n, t


def load(args: argparse.Namespace) -> None:
    """COPY chunks as the workers make them, on ``--connections`` connections at once (each chunk commits on its
    own: a failed run leaves whole chunks behind, which ``--delete`` removes)."""
    chunks = range(-(-args.segments // CHUNK))
    started = time.perf_counter()
    segments = trips = 0
    with _pool(args) as pool, ThreadPoolExecutor(max(1, args.connections)) as copiers:
        pending: list[Future[tuple[int, int]]] = []
        for texts in pool.imap(_copy_chunk, chunks):
            pending.append(copiers.submit(_copy_into, texts))
            while len(pending) > args.connections:  # bound memory: at most a few chunks in flight
                n, t = pending.pop(0).result()
                segments, trips = segments + n, trips + t
        for future in pending:
            n, t = future.result()
            segments, trips = segments + n, trips + t
    seconds = time.perf_counter() - started
    connections.close_all()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tolling_segment")
        cursor.execute("ANALYZE tolling_trip")
    print(
        f"loaded {segments:,} segments and {trips:,} trips in {seconds:.2f} s: {segments / seconds:,.0f} segments/s, "
        f"{(segments + trips) / seconds:,.0f} rows/s ({args.workers} generating processes, "
        f"{args.connections} COPY connections)"
    )


def delete(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        pattern = args.tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        cursor.execute("DELETE FROM tolling_segment WHERE pass_id LIKE %s", [pattern])
        segments = cursor.rowcount
        cursor.execute("DELETE FROM tolling_trip WHERE pass_id LIKE %s", [pattern])
        trips = cursor.rowcount
    print(
        f"deleted {segments:,} segments and {trips:,} trips with pass ids {args.tag}…"
        f" in {time.perf_counter() - started:.1f} s"
    )


def main() -> None:
    args = _parse()
    if args.delete:
        delete(args)
        return
    if args.segments < 1:
        sys.exit("--segments must be at least 1")
    _setup(args)
    if args.load:
        load(args)
    else:
        write_csv(args)


if __name__ == "__main__":
    main()
