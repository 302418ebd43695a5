#!/usr/bin/env python3
"""Daily or monthly partitions for the fact tables? A small measured experiment (issue #15 item 1, ADR 0010).

    .venv/bin/python bench/partitions.py [--rows 600000] [--years 3] [--database piaogen_part_exp]

Builds two copies of a segment-like table in a scratch database (dropped and made anew, never an app database):
range-partitioned by ``service_date`` per day and per month over ``--years`` years, with the keys the real table
has (primary key ``(id, service_date)``, unique ``(pass_id, segment_no, service_date)``, btree
``(card_no, service_date)``), the same ``--rows`` rows in each. Then, for each layout, the median planning and
execution time of the lookups the console makes (a card's segments in a day / a month / without a date; a pass id
with and without its date), the time to load one day's rows, and the index bytes per row, from which it prints
the index size of one partition at the national volume (100 M segments a day).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time

import psycopg

START = dt.date(2024, 1, 1)
NATIONAL_ROWS_PER_DAY = 100_000_000


def _months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    bounds = []
    day = start
    while day < end:
        following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        bounds.append((day, following))
        day = following
    return bounds


def _build(conn: psycopg.Connection, name: str, layout: str, days: int, rows: int) -> float:
    end = START + dt.timedelta(days=days)
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
        cur.execute(
            f"CREATE TABLE {name} (id bigint NOT NULL, service_date date NOT NULL, pass_id varchar(40) NOT NULL,"
            " segment_no smallint NOT NULL, card_no varchar(20) NOT NULL, fee bigint NOT NULL)"
            " PARTITION BY RANGE (service_date)"
        )
        if layout == "daily":
            bounds = [(START + dt.timedelta(days=i), START + dt.timedelta(days=i + 1)) for i in range(days)]
        else:
            bounds = _months(START, end)
        for low, high in bounds:
            cur.execute(
                f"CREATE TABLE {name}_p{low:%Y%m%d} PARTITION OF {name} FOR VALUES FROM ('{low}') TO ('{high}')"
            )
        cur.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id, service_date)")
        cur.execute(f"ALTER TABLE {name} ADD UNIQUE (pass_id, segment_no, service_date)")
        cur.execute(f"CREATE INDEX ON {name} (card_no, service_date)")
        started = time.perf_counter()
        cur.execute(
            f"INSERT INTO {name} SELECT g, %(start)s::date + (g %% %(days)s)::int, 'P' || g, 1,"
            " lpad((g %% 50000)::text, 20, '3'), 100 FROM generate_series(1, %(rows)s) g",
            {"start": START, "days": days, "rows": rows},
        )
        load_seconds = time.perf_counter() - started
        cur.execute(f"ANALYZE {name}")
    conn.commit()
    return load_seconds


def _timed(conn: psycopg.Connection, sql: str, repeat: int) -> tuple[float, float]:
    plans, runs = [], []
    with conn.cursor() as cur:
        for _ in range(repeat):
            cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            (result,) = cur.fetchone() or (None,)
            result = result if isinstance(result, list) else json.loads(result)
            plans.append(result[0]["Planning Time"])
            runs.append(result[0]["Execution Time"])
    return statistics.median(plans), statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database", default="piaogen_part_exp")
    parser.add_argument("--dsn", default="host=127.0.0.1 port=54329 user=postgres")
    args = parser.parse_args()
    if args.database in {"piaogen", "piaogen_bench"} or not args.database.endswith("_exp"):
        raise SystemExit("a scratch database only (its name ends in _exp)")
    with psycopg.connect(f"{args.dsn} dbname=postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {args.database}")
        admin.execute(f"CREATE DATABASE {args.database}")
    days = 365 * args.years + 1
    mid = START + dt.timedelta(days=days // 2)
    card = "3" * 16 + "1234"
    queries = {
        "card, one day": f"SELECT * FROM {{t}} WHERE card_no = '{card}' AND service_date = '{mid}'",
        "card, one month": f"SELECT * FROM {{t}} WHERE card_no = '{card}' AND service_date >= '{mid.replace(day=1)}'"
        f" AND service_date < '{mid.replace(day=1) + dt.timedelta(days=31)}'",
        "card, last 365 days": f"SELECT * FROM {{t}} WHERE card_no = '{card}'"
        f" AND service_date >= '{START + dt.timedelta(days=days - 365)}'",
        "card, no date": f"SELECT * FROM {{t}} WHERE card_no = '{card}'",
        "pass id + date": f"SELECT * FROM {{t}} WHERE pass_id = 'P4242'"
        f" AND service_date = '{START}'::date + 4242 % {days}",
        "pass id, no date": "SELECT * FROM {t} WHERE pass_id = 'P4242'",
    }
    with psycopg.connect(f"{args.dsn} dbname={args.database}") as conn:
        print(f"{args.rows:,} rows over {days} days; median of {args.repeat}; times in ms (planning / execution)")
        for layout in ("monthly", "daily"):
            table = f"seg_{layout}"
            load = _build(conn, table, layout, days, args.rows)
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*), sum(pg_indexes_size(c.oid)), sum(pg_table_size(c.oid)) FROM pg_inherits i"
                    " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
                    [table],
                )
                partitions, index_bytes, table_bytes = cur.fetchone() or (0, 0, 0)
            per_row = float(index_bytes) / args.rows
            table_bytes = float(table_bytes)
            span = NATIONAL_ROWS_PER_DAY * (1 if layout == "daily" else 30.4) / 1e9
            print(
                f"\n{layout}: {partitions} partitions, load {args.rows / load:,.0f} rows/s, "
                f"index {per_row:.0f} B/row, heap {table_bytes / args.rows:.0f} B/row → one partition at "
                f"{NATIONAL_ROWS_PER_DAY / 1e6:.0f} M rows/day: indexes {per_row * span:,.0f} GB, "
                f"heap {table_bytes / args.rows * span:,.0f} GB"
            )
            for label, sql in queries.items():
                planning, execution = _timed(conn, sql.format(t=table), args.repeat)
                print(f"  {label:<22} {planning:8.2f} / {execution:8.2f}")
    with psycopg.connect(f"{args.dsn} dbname=postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {args.database}")


if __name__ == "__main__":
    main()
