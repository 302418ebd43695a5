#!/usr/bin/env python3
"""Server connections with many workers, straight to PostgreSQL and through pgbouncer (issue #16 item 2).

    .venv/bin/python bench/pgbouncer_connections.py [--clients 80] [--seconds 10] [--pool 20] [--think-ms 20]

Each client stands for one worker process or web thread holding a persistent connection (Django's CONN_MAX_AGE):
it runs short transactions (`BEGIN; SELECT …; COMMIT`, about what a page or a task step does) with `--think-ms`
of Python work between them. First all clients connect to the primary directly, then through a pgbouncer in
transaction pooling started for the run (bin/services' own code, on a free port, pool of `--pool` server
connections, stopped at the end). Prints, per mode, the peak and final number of server connections the clients
hold (pg_stat_activity, by application name), transactions per second and the p50/p99 transaction latency.

Uses the primary DATABASE_URL names (default: the private one, port 54329); it only reads.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
APP = "piaogen-bench-pool"


def _services() -> Any:
    loader = importlib.machinery.SourceFileLoader("piaogen_bin_services", str(ROOT / "bin" / "services"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_connections(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APP]).fetchone()
        return int(row[0]) if row else 0


def _run(dsn: str, monitor_dsn: str, *, clients: int, seconds: float, think: float) -> dict[str, float]:
    latencies: list[float] = []
    done = threading.Event()
    lock = threading.Lock()
    errors: list[str] = []
    ready = threading.Barrier(clients + 1)

    def client() -> None:
        # prepare_threshold=None: no named prepared statements (what settings.py sets behind pgbouncer)
        with psycopg.connect(dsn, application_name=APP, prepare_threshold=None) as conn:
            ready.wait()
            mine: list[float] = []
            while not done.is_set():
                started = time.perf_counter()
                try:
                    with conn.transaction():
                        conn.execute("SELECT count(*) FROM pg_class WHERE relkind = 'r'").fetchone()
                except psycopg.Error as exc:
                    errors.append(type(exc).__name__)
                    return
                mine.append(time.perf_counter() - started)
                time.sleep(think)
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    peak, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak = max(peak, _server_connections(monitor_dsn))
        time.sleep(0.25)
    final = _server_connections(monitor_dsn)
    done.set()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "peak": peak,
        "final": final,
        "tps": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "errors": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=80)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--pool", type=int, default=20, help="pgbouncer's default_pool_size")
    parser.add_argument("--think-ms", type=float, default=20)
    args = parser.parse_args()

    primary = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:54329/piaogen"
    url = urlsplit(primary)
    services = _services()
    port = _free_port()
    home = Path(tempfile.mkdtemp(prefix="piaogen-pgbouncer-bench-", dir="/var/tmp"))
    os.environ["DATABASE_URL"] = primary  # the primary pgbouncer stands in front of
    services.pgbouncer_start(port=port, home=home, pool_size=args.pool)
    try:
        pooled = services.with_port(primary, port)
        print(
            f"{args.clients} clients, {args.seconds:g} s, {args.think_ms:g} ms between transactions; "
            f"primary {url.hostname}:{url.port}, pgbouncer pool {args.pool} (transaction pooling)"
        )
        print(f"{'mode':<12} {'server conns peak':>17} {'at end':>7} {'tx/s':>8} {'p50 ms':>7} {'p99 ms':>7} errors")
        for mode, dsn in (("direct", primary), ("pgbouncer", pooled)):
            r = _run(dsn, primary, clients=args.clients, seconds=args.seconds, think=args.think_ms / 1000)
            print(
                f"{mode:<12} {r['peak']:>17.0f} {r['final']:>7.0f} {r['tps']:>8.0f} {r['p50_ms']:>7.2f} "
                f"{r['p99_ms']:>7.2f} {r['errors']:>6.0f}"
            )
            time.sleep(1)
    finally:
        services.pgbouncer_stop(home=home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
