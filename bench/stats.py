#!/usr/bin/env python3
"""Query statistics (查询统计, issue #13 item 7, product.md §6): p50/p95 of random filter sets and groupings.

    python bench/dataset.py --scale 0.1 --database piaogen_bench_stats      # a dataset first (1 M segments)
    python bench/stats.py --database piaogen_bench_stats                     # 100 queries per role and range
    python bench/stats.py -n 30 --roles agent --ranges 31                    # quicker
    python bench/stats.py --states 10                                        # also 10 queries by invoice state

Each query is what the page ``/stats/`` computes (``support.stats.statistics``, scoping included) for a random
subject (segments half the time, documents a quarter, the other items the rest), random filters drawn from real
values of the dataset (province, operator, vehicle class, card type, document kind and status, business line, a
real plate or card now and then) and a random grouping by zero to two dimensions other than the invoice state —
as the national agent (``agent``) and a province user (``jiangsu``, 32). The date range ends on the dataset's
``today`` and spans ``--ranges`` days (31 and 366 by default). Beside every query, the drill-down of one of its
cells (``support.stats_rows.drill_page``, first page and its count) is timed: that is the click after the table.

Queries that group or filter by the invoice state run ``invoicing.eligibility``'s ``*_states`` over every
matching item; they are timed apart (``--states N``, default 0), with the number of items they covered, because
their cost grows with the items matched rather than with the groups.

Targets (product.md §6): p95 ≤ 300 ms over a 31-day range, ≤ 1 s over a year, at 10 M segments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

from bench.dataset import DEFAULT_DATABASE, database_url  # noqa: E402

TARGETS_MS = {31: 300.0, 366: 1000.0}
WARMUP = 3
SUBJECTS = ["segments"] * 4 + ["documents"] * 2 + ["topups", "audit_charges", "paper_tickets", "taxi_rides"]
GROUPS = ["day", "month", "province", "operator", "business_line", "vehicle_class", "document_kind"]


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100, help="queries per role and range (default 100)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--database", default=DEFAULT_DATABASE, help=f"default {DEFAULT_DATABASE}")
    parser.add_argument("--roles", default="agent,province", help="agent, province or both (default both)")
    parser.add_argument("--province-user", default="jiangsu", help="the province user (default jiangsu, 32)")
    parser.add_argument("--ranges", default="31,366", help="range lengths in days (default 31,366)")
    parser.add_argument("--states", type=int, default=0, help="queries by invoice state per role (default 0)")
    parser.add_argument(
        "--no-drill", default="", help="subjects whose drill-down is skipped (comma-separated; timed as 0 ms)"
    )
    parser.add_argument("--slowest", type=int, default=1, help="slowest queries listed per role and range (default 1)")
    parser.add_argument(
        "--rollup",
        choices=["keep", "refresh", "none"],
        default="keep",
        help="the segment and document rollups: as they are (default), brought up to every row (timed), or emptied",
    )
    return parser.parse_args()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Pool:
    """Real values to filter on, sampled once from the dataset."""

    provinces: list[str]
    operators: dict[str, list[int]]  # province → operator ids
    plates: list[str]
    cards: list[str]


def _pool(seed: int) -> Pool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT province FROM tolling_tollunit ORDER BY 1")
        provinces = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT province, id FROM tolling_operator ORDER BY 1, 2")
        operators: dict[str, list[int]] = {}
        for province, pk in cursor.fetchall():
            operators.setdefault(province, []).append(pk)
        cursor.execute(
            "SELECT plate, card_no FROM tolling_segment TABLESAMPLE SYSTEM (1) REPEATABLE (%s) LIMIT 500", [seed]
        )
        rows = cursor.fetchall()
    return Pool(provinces, operators, [r[0] for r in rows], [r[1] for r in rows])


def random_params(rng: random.Random, pool: Pool, *, province: str | None, end: dt.date, days: int) -> dict[str, str]:
    subject = rng.choice(SUBJECTS)
    start = end - dt.timedelta(days=days - 1)
    dated = ("issued_start", "issued_end") if subject == "documents" else ("start", "end")
    params = {"subject": subject, dated[0]: start.isoformat(), dated[1]: end.isoformat()}
    where = province or (rng.choice(pool.provinces) if rng.random() < 0.4 else None)
    if where and province is None:
        params["province"] = where
    candidates: list[tuple[str, Any]] = [
        ("vehicle_class", lambda: rng.choice(["1", "2", "11", "12"])),
        ("card_type", lambda: rng.choice(["22", "23"])),
        ("document_kind", lambda: rng.choice(["invoice", "receipt"])),
        ("business_line", lambda: rng.choice(["etc_trip", "etc_topup", "audit", "paper"])),
        ("plate", lambda: rng.choice(pool.plates)),
        ("card", lambda: rng.choice(pool.cards)),
    ]
    if subject == "documents":
        candidates.append(("document_status", lambda: rng.choice(["issued", "reversed", "red"])))
    if where and pool.operators.get(where):
        candidates.append(("operator", lambda: str(rng.choice(pool.operators[where]))))
    for key, make in rng.sample(candidates, rng.choice([0, 0, 1, 1, 2])):
        params[key] = make()
    groups = rng.sample(GROUPS, rng.choice([0, 1, 1, 2, 2]))
    if {"day", "month"} <= set(groups):
        groups.remove("month")
    params["group_by"] = ",".join(groups)
    return params


@dataclass
class Timing:
    label: str
    stats_ms: list[float] = field(default_factory=list)
    drill_ms: list[float] = field(default_factory=list)
    queries: list[tuple[float, float, dict[str, str]]] = field(default_factory=list)  # (stats ms, drill ms, params)
    items: list[int] = field(default_factory=list)
    refused: int = 0


def run_one(
    user: Any, params: dict[str, str], rng: random.Random, timing: Timing | None, no_drill: frozenset[str] = frozenset()
) -> None:
    from support.stats import StatsTooBroad, query_from, statistics
    from support.stats_rows import drill_page

    started = time.perf_counter()
    query = query_from(params, user=user)
    try:
        stats = statistics(user=user, query=query)
    except StatsTooBroad:  # by state over more than STATE_LIMIT items: the page asks to narrow (timed too)
        if timing is not None:
            timing.refused += 1
            timing.stats_ms.append((time.perf_counter() - started) * 1000)
            timing.drill_ms.append(0.0)
            timing.items.append(0)
        return
    took = (time.perf_counter() - started) * 1000
    cell = rng.choice(stats.cells) if stats.cells else None
    started = time.perf_counter()
    if cell is not None and query.subject not in no_drill:
        drill_page(user=user, query=cell.query, page=1)
    drilled = (time.perf_counter() - started) * 1000
    if timing is not None:
        timing.stats_ms.append(took)
        timing.drill_ms.append(drilled)
        timing.items.append(stats.total.get("count", 0))
        timing.queries.append((took, drilled, params))


def _line(role: str, label: str, t: Timing, target: float | None) -> str:
    s, d = t.stats_ms, t.drill_ms
    ok = "" if target is None else ("yes" if _pct(s, 0.95) <= target else "NO")
    rows = f"{_pct([float(i) for i in t.items], 0.5):>10,.0f}"
    refused = f"  ({t.refused} asked to narrow)" if t.refused else ""
    return (
        f"{role:<9}{label:<10}{len(s):>5}{_pct(s, 0.5):>9.1f}{_pct(s, 0.95):>9.1f}{max(s):>9.1f}"
        f"{_pct(d, 0.5):>10.1f}{_pct(d, 0.95):>10.1f}{rows}{'' if target is None else f'{target:>8.0f}'}  {ok}"
        f"{refused}"
    )


def main() -> None:
    args = _parse()
    os.environ["DATABASE_URL"] = database_url(args.database)
    os.environ.setdefault("DEBUG", "false")
    import django

    django.setup()
    from django.db import connection

    from piaogen.models import User

    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM bench.meta WHERE key = 'today'")
        end = dt.date.fromisoformat(cursor.fetchone()[0]) - dt.timedelta(days=1)
        cursor.execute("SELECT count(*) FROM tolling_segment")
        segments = cursor.fetchone()[0]
    users = {"agent": User.objects.get(username="agent"), "province": User.objects.get(username=args.province_user)}
    from support.stats_rollup import DOCUMENTS, SEGMENTS, rollup_refresh, rollup_watermark

    for rollup in (SEGMENTS, DOCUMENTS):
        if args.rollup == "none":
            rollup.model.objects.all().delete()
            rollup.watermark.objects.all().delete()
        elif args.rollup == "refresh":
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT coalesce(max(id), 0) FROM {rollup.source}")
                top = cursor.fetchone()[0]
            started = time.perf_counter()
            rollup_refresh(rollup, top)
            print(f"{rollup.source} rollup refreshed up to id {top:,} in {time.perf_counter() - started:.1f} s")
        rows = rollup.model.objects.count()
        print(f"{rollup.source} rollup: {rows:,} rows up to id {rollup_watermark(rollup):,}")
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    no_drill = frozenset(s.strip() for s in args.no_drill.split(",") if s.strip())
    if no_drill:
        print(f"drill-downs of {', '.join(sorted(no_drill))} not timed (0 ms)")
    ranges = [int(r) for r in args.ranges.split(",") if r.strip()]
    pool = _pool(args.seed)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(
        f"query statistics on {args.database} ({segments:,} segments), {args.n} random queries per role and "
        f"range, ending {end}; load average {load} before the run"
    )
    header = (
        f"{'role':<9}{'range':<10}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'drill p50':>10}{'drill p95':>10}"
        f"{'rows p50':>10}{'target':>8}  ok"
    )
    print(header)
    print("-" * len(header))
    slowest = []
    for role in roles:
        user = users[role]
        province = user.province_scope
        for days in ranges:
            rng = random.Random(f"{args.seed}-{role}-{days}")
            timing = Timing(f"{days} d")
            for i in range(args.n + WARMUP):
                params = random_params(rng, pool, province=province, end=end, days=days)
                run_one(user, params, rng, timing if i >= WARMUP else None, no_drill)
            print(_line(role, timing.label, timing, TARGETS_MS.get(days)))
            slowest.append((role, days, timing.queries))
        if args.states:
            rng = random.Random(f"{args.seed}-{role}-states")
            timing = Timing("state 31 d")
            for _ in range(args.states):
                params = random_params(rng, pool, province=province, end=end, days=31)
                if params["subject"] == "documents":
                    params["subject"] = "segments"
                    params["start"], params["end"] = params.pop("issued_start"), params.pop("issued_end")
                params["group_by"] = ",".join(["state", *params["group_by"].split(",")[:1]]).strip(",")
                run_one(user, params, rng, timing, no_drill)
            print(_line(role, timing.label, timing, None))
            slowest.append((role, 0, timing.queries))
    print(f"\nslowest {args.slowest} per role and range (statistics ms, drill-down ms, parameters):")
    for role, days, queries in slowest:
        for took, drilled, params in sorted(queries, key=lambda q: -max(q[0], q[1]))[: args.slowest]:
            print(f"  {role} {days or 'state'}: {took:.0f} ms, drill {drilled:.0f} ms  {params}")


if __name__ == "__main__":
    main()
