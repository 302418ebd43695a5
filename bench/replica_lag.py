#!/usr/bin/env python3
"""Replica lag as the router sees it, sampled while whatever runs on the primary runs (issue #16 item 1).

    PIAOGEN_REPLICA=1 bin/services start   # prints DATABASE_REPLICA_URL
    .venv/bin/python bench/replica_lag.py [--seconds 60] [--every 0.5]

Prints every 10 s and at the end the replay lag in seconds (the measure of piaogen/routers.py: 0 when everything
received is replayed, else the age of the last replayed commit) and in bytes behind the primary's WAL insert
position: median, p95, max.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from piaogen.routers import LAG_SQL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--every", type=float, default=0.5)
    args = parser.parse_args()
    primary_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:54329/piaogen"
    replica_url = os.environ.get("DATABASE_REPLICA_URL") or "postgres://postgres@127.0.0.1:54339/piaogen"
    seconds: list[float] = []
    behind: list[int] = []
    with (
        psycopg.connect(primary_url, autocommit=True) as primary,
        psycopg.connect(replica_url, autocommit=True) as replica,
    ):
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            (lsn,) = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone() or (None,)
            _, lag = replica.execute(LAG_SQL).fetchone() or (None, None)
            (gap,) = replica.execute("SELECT pg_wal_lsn_diff(%s, pg_last_wal_replay_lsn())", [lsn]).fetchone() or (0,)
            seconds.append(float(lag))
            behind.append(max(0, int(gap)))
            if len(seconds) % max(1, round(10 / args.every)) == 0:  # the trend, every 10 s
                print(
                    f"  t={args.seconds - (deadline - time.monotonic()):5.0f}s lag {seconds[-1]:7.1f}s, "
                    f"{behind[-1] / 2**20:8.1f} MiB behind",
                    flush=True,
                )
            time.sleep(args.every)

    def summary(values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        return f"median {statistics.median(ordered):.2f}, p95 {p95:.2f}, max {ordered[-1]:.2f}"

    print(f"{len(seconds)} samples over {args.seconds:g} s")
    print(f"lag seconds: {summary(seconds)}")
    print(f"bytes behind the primary: {summary([float(b) for b in behind])}")


if __name__ == "__main__":
    main()
