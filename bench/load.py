#!/usr/bin/env python3
"""Load test (issue #7 item 5): 50 concurrent console users against gunicorn, loopback only, bounded in time.

    python bench/load.py [--database-url URL] [--users 50] [--duration 120] [--workers N] [--threads N]

Default database: the benchmark dataset `piaogen_bench` (bench/dataset.py: 10 M segments, 2 M documents, 1 M
customers) on the private server. The script
1. creates two load accounts (an agent and a manager) and samples real plates, card numbers, customer ids, name
   fragments and dashboard filters from the database into a JSON file;
2. starts gunicorn with the shipped gunicorn.conf.py (sync workers, 2 × cores + 1; `--workers`/`--threads`
   override) on a free loopback port with production-like settings (DEBUG off);
3. runs locust headless (bench/locustfile.py: users start `--spawn-rate` a second and log in; agents search by
   plate/card/name, open the record a search lands on, and open customer pages; managers open the dashboard with
   random filters) with `--users` users for `--duration` seconds after the ramp-up;
4. prints requests, failures, throughput and p50/p95/p99 per request type, and the targets of product.md §6.

Locust lives in its own virtualenv (var/load-venv, made on first use) so it never enters the test environment.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOAD_VENV = ROOT / "var" / "load-venv"
LOCUST_VERSION = "2.47.0"
PASSWORD = "Piaogen-load-2026"  # noqa: S105  (the load accounts, loopback only)
PG_PORT = os.environ.get("PIAOGEN_PG_PORT", "54329")
TARGETS_MS = {"search plate": 50, "search card": 50, "search name": 150, "dashboard": 200}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=f"postgres://postgres@127.0.0.1:{PG_PORT}/piaogen_bench")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=2, help="users starting per second (each logs in)")
    parser.add_argument("--duration", type=int, default=120, help="seconds of load after the ramp-up")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's, 2 × cores + 1)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (> 1: the gthread worker)")
    return parser.parse_args()


def _environment(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "piaogen.settings",
        "PIAOGEN_ENV": "staging",  # production-like, but the cookies are not Secure-only (plain http on loopback)
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "600",
    }


def _locust() -> Path:
    locust = LOAD_VENV / "bin" / "locust"
    if not locust.exists():
        print(f"installing locust {LOCUST_VERSION} into {LOAD_VENV} …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LOAD_VENV)], check=True)
        subprocess.run(
            [
                str(LOAD_VENV / "bin" / "pip"),
                "install",
                "-q",
                "--disable-pip-version-check",
                f"locust=={LOCUST_VERSION}",
            ],
            check=True,
        )
    return locust


def _samples(database_url: str, path: Path) -> dict[str, object]:
    """Load accounts and real values from the database (run in a child process: Django set up on that URL)."""
    code = f"""
import json, random, django
django.setup()
from django.db import connection
from piaogen.services import staff_upsert
staff_upsert(username="load-agent", role="agent", password={PASSWORD!r})
staff_upsert(username="load-manager", role="manager", password={PASSWORD!r})
def column(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]
def sample(col, table, where="TRUE"):
    # a 1 % page sample on big tables; small ones (a demo database) are read whole
    values = column(f"SELECT {{col}} FROM {{table}} TABLESAMPLE SYSTEM (1) WHERE {{where}} LIMIT 300")
    if len(values) < 50:
        values = column(f"SELECT {{col}} FROM {{table}} WHERE {{where}} ORDER BY random() LIMIT 300")
    return values
random.seed(7)
names = sample("name", "invoicing_customer", "name <> ''")
provinces = column("SELECT DISTINCT province FROM reports_documentrollup LIMIT 40") or ["32", "33"]
lines = column("SELECT DISTINCT business_line FROM reports_documentrollup LIMIT 10") or [""]
filters = []
for _ in range(100):
    f = {{}}
    if random.random() < 0.6: f["province"] = random.choice(provinces)
    if random.random() < 0.4: f["business_line"] = random.choice(lines)
    filters.append(f)
data = {{
    "password": {PASSWORD!r}, "agent": "load-agent", "manager": "load-manager",
    "plates": sample("plate", "tolling_vehicle"),
    "cards": sample("card_no", "tolling_card"),
    "customers": sample("id", "invoicing_customer"),
    "names": [n[: random.choice([2, 3, 4])] for n in names],
    "dashboard_filters": filters,
}}
open({str(path)!r}, "w", encoding="utf-8").write(json.dumps(data, ensure_ascii=False))
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_environment(database_url), check=True)
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    for key in ("plates", "cards", "customers", "names"):
        if not data[key]:
            sys.exit(f"bench/load.py: no {key} in the database — build the dataset first (bench/dataset.py)")
    return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit("bench/load.py: gunicorn did not start")


def _report(stats: Path, seconds: int) -> None:
    rows = list(csv.DictReader(stats.open(encoding="utf-8")))
    print()
    print(f"{'request':<18}{'count':>8}{'fail':>6}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}  target p95")
    for row in rows:
        name = row["Name"]
        target = TARGETS_MS.get(name)
        p95 = float(row["95%"])
        verdict = "" if target is None else f"≤ {target} ms {'met' if p95 <= target else 'MISSED'}"
        print(
            f"{name:<18}{int(row['Request Count']):>8}{int(row['Failure Count']):>6}{float(row['Requests/s']):>8.1f}"
            f"{float(row['50%']):>8.0f}{p95:>8.0f}{float(row['99%']):>8.0f}  {verdict}"
        )
    print(f"\n({seconds} s of load; throughput is the 'Aggregated' row's req/s)")


def main() -> None:
    args = _parse()
    random.seed(1)
    out = ROOT / "var" / "load"
    out.mkdir(parents=True, exist_ok=True)
    samples = out / "samples.json"
    locust = _locust()
    data = _samples(args.database_url, samples)
    print(
        f"samples: {len(data['plates'])} plates, {len(data['cards'])} cards, "  # type: ignore[arg-type]
        f"{len(data['customers'])} customers, {len(data['names'])} names"  # type: ignore[arg-type]
    )
    port = _free_port()
    env = _environment(args.database_url)
    # the shipped gunicorn.conf.py, on a loopback port, without the access log
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_ACCESS_LOG": "false"}
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads > 1:
        env |= {"GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_THREADS": str(args.threads)}
    gunicorn = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "piaogen.wsgi", "--log-level", "warning"], cwd=ROOT, env=env
    )
    try:
        _wait_http(port)
        ramp = int(args.users / args.spawn_rate) + 1
        workers = env.get("WEB_CONCURRENCY", f"{2 * (os.cpu_count() or 1) + 1}")
        print(f"gunicorn on 127.0.0.1:{port} ({workers} workers × {args.threads} threads); "
              f"{args.users} users, ramp {ramp} s, load {args.duration} s", flush=True)  # fmt: skip
        subprocess.run(
            [str(locust), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--users", str(args.users),
             "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.duration + ramp}s",
             "--host", f"http://127.0.0.1:{port}", "--csv", str(out / "stats"), "--only-summary",
             "--loglevel", "WARNING", "--stop-timeout", "5"],
            cwd=ROOT, env={**os.environ, "LOAD_SAMPLES": str(samples)}, check=False,
        )  # fmt: skip
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
    _report(out / "stats_stats.csv", args.duration)


if __name__ == "__main__":
    main()
