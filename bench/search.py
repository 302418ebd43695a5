#!/usr/bin/env python3
"""Support search at national scale (issue #5 item 7, product.md §6): p50/p95/max per identifier type and names.

    python bench/dataset.py                              # the dataset first (10 M segments, 1 M customers, 2 M docs)
    python bench/search.py                               # 200 values per type, as the agent and as Jiangsu's user
    python bench/search.py -n 50 --roles agent           # quicker
    python bench/search.py --database piaogen_bench_small --explain     # another dataset; plans of the misses

For every type — plate, card number, 数电 number, legacy code + number, fiscal receipt code + number, summary sheet
number, phone, resident ID, taxpayer id / USCC, pass id, paper ticket number, upload batch id, person and company
names — it samples N real values from the dataset (``TABLESAMPLE … REPEATABLE``: the same values every run; for the
province user only values of the user's province, which is what they look up) and times
``support.search.search(user=…, query=…)``: the function the search page calls, as a logged-in agent (national)
and a province user (``jiangsu``, province 32) would, scoping included. Beside it, the baseline: a bare indexed
``SELECT`` for the same value (the floor any search path has to pay), and the ratio of the two. ``found`` is the
share of values for which the search returned at least one hit; ``sql p50`` the median time a search spent in the
database (all its statements, ``stmts`` of them): the rest is Python (recognising, ORM, building the hits).

Targets (product.md §6): p95 ≤ 50 ms for exact identifiers, ≤ 150 ms for name search. A type that misses its
target is re-run with its slowest value under ``EXPLAIN (ANALYZE, BUFFERS)`` when ``--explain`` is given: the
slowest statement's plan is printed, with any sequential scan flagged.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

from bench.dataset import DEFAULT_DATABASE, database_url  # noqa: E402

EXACT_TARGET_MS = 50.0
NAME_TARGET_MS = 150.0
WARMUP = 5


@dataclass(frozen=True)
class Case:
    """One identifier type: how to sample values (SQL returning the typed text and the baseline's parameters),
    and the baseline: a bare indexed ``SELECT`` for the same value."""

    key: str
    label: str
    sample: str  # %(p)s: the province ('' = all), %(seed)s, %(n)s
    baseline: str
    name: bool = False


# Sampling reads a few percent of a table's pages ({sample:percent}: SYSTEM sampling, repeatable) and keeps N rows
# in a stable order.
CASES: tuple[Case, ...] = (
    Case(
        "plate",
        "车牌号",
        """SELECT v.plate, v.plate FROM tolling_card c {sample:2}
           JOIN tolling_vehicle v ON v.id = c.vehicle_id
           WHERE %(p)s = '' OR c.province = %(p)s ORDER BY md5(c.card_no) LIMIT %(n)s""",
        "SELECT id FROM tolling_vehicle WHERE plate = %s",
    ),
    Case(
        "card",
        "ETC卡号",
        """SELECT card_no, card_no FROM tolling_card {sample:2}
           WHERE %(p)s = '' OR province = %(p)s ORDER BY md5(card_no) LIMIT %(n)s""",
        "SELECT id FROM tolling_card WHERE card_no = %s",
    ),
    Case(
        "digital",
        "数电发票号码",
        """SELECT number, number FROM invoicing_document {sample:1}
           WHERE kind = 'invoice' AND (%(p)s = '' OR province = %(p)s) ORDER BY md5(number) LIMIT %(n)s""",
        "SELECT id FROM invoicing_document WHERE number = %s",
    ),
    Case(
        "legacy",
        "发票代码+号码",
        """SELECT code || ' ' || number, code || number FROM invoicing_document
           {sample:10}
           WHERE kind = 'legacy' AND (%(p)s = '' OR province = %(p)s) ORDER BY md5(code || number) LIMIT %(n)s""",
        "SELECT id FROM invoicing_document WHERE code = left(%s, 12) AND number = substr(%s, 13)",
    ),
    Case(
        "fiscal",
        "财政票据代码+号码",
        """SELECT code || ' ' || number, code || number FROM invoicing_document
           {sample:2}
           WHERE kind = 'receipt' AND (%(p)s = '' OR province = %(p)s) ORDER BY md5(code || number) LIMIT %(n)s""",
        "SELECT id FROM invoicing_document WHERE code = left(%s, 8) AND number = substr(%s, 9)",
    ),
    Case(
        "sheet",
        "汇总单号",
        """SELECT number, number FROM invoicing_summarysheet s {sample:20}
           WHERE %(p)s = '' OR province = %(p)s AND NOT EXISTS (
               SELECT 1 FROM invoicing_summarysheet_documents sd JOIN invoicing_document d ON d.id = sd.document_id
               WHERE sd.summarysheet_id = s.id AND d.province <> %(p)s)
           ORDER BY md5(number) LIMIT %(n)s""",
        "SELECT id FROM invoicing_summarysheet WHERE number = %s",
    ),
    Case(
        "phone",
        "手机号",
        """SELECT phone, phone FROM invoicing_customer {sample:5}
           WHERE %(p)s = '' OR province = %(p)s ORDER BY md5(phone) LIMIT %(n)s""",
        "SELECT id FROM invoicing_customer WHERE phone = %s",
    ),
    Case(
        "resident_id",
        "身份证号",
        """SELECT id_no, id_no FROM invoicing_customer {sample:5}
           WHERE kind = 'person' AND (%(p)s = '' OR province = %(p)s) ORDER BY md5(id_no) LIMIT %(n)s""",
        "SELECT id FROM invoicing_customer WHERE id_no = %s AND id_no <> ''",
    ),
    Case(
        "taxpayer_id",
        "纳税人识别号/统一社会信用代码",
        """SELECT t.tax_id, t.tax_id FROM invoicing_buyertitle t {sample:10}
           JOIN invoicing_customer c ON c.id = t.customer_id
           WHERE t.tax_id <> '' AND (%(p)s = '' OR c.province = %(p)s) ORDER BY md5(t.tax_id) LIMIT %(n)s""",
        "SELECT id FROM invoicing_buyertitle WHERE tax_id = %s AND tax_id <> ''",
    ),
    Case(
        "pass_id",
        "通行标识",
        """SELECT pass_id, pass_id FROM tolling_segment {sample:0.2}
           WHERE %(p)s = '' OR province = %(p)s ORDER BY md5(pass_id) LIMIT %(n)s""",
        "SELECT id FROM tolling_trip WHERE pass_id = %s",
    ),
    Case(
        "paper_ticket",
        "纸质票据号",
        """SELECT ticket_no, ticket_no FROM tolling_paperticket {sample:20}
           WHERE %(p)s = '' OR province = %(p)s ORDER BY md5(ticket_no) LIMIT %(n)s""",
        "SELECT id FROM tolling_paperticket WHERE ticket_no = %s",
    ),
    Case(
        "batch",
        "上传批次号",
        """SELECT id::text, id::text FROM tolling_uploadbatch
           WHERE %(p)s = '' OR province = %(p)s ORDER BY md5(id::text || %(seed)s) LIMIT %(n)s""",
        "SELECT id FROM tolling_uploadbatch WHERE id = %s::bigint",
    ),
    Case(
        "person_name",
        "个人姓名",
        """SELECT name, name FROM invoicing_customer {sample:5}
           WHERE kind = 'person' AND (%(p)s = '' OR province = %(p)s) ORDER BY md5(phone) LIMIT %(n)s""",
        "SELECT id FROM invoicing_customer WHERE name LIKE '%%' || %s || '%%' LIMIT 20",
        name=True,
    ),
    Case(
        "company_name",
        "单位名称(不含有限公司)",
        """SELECT replace(name, '有限公司', ''), replace(name, '有限公司', '') FROM invoicing_customer
           {sample:20}
           WHERE kind = 'company' AND (%(p)s = '' OR province = %(p)s) ORDER BY md5(phone) LIMIT %(n)s""",
        "SELECT id FROM invoicing_customer WHERE name LIKE '%%' || %s || '%%' LIMIT 20",
        name=True,
    ),
)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="values per type (default 200)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default=DEFAULT_DATABASE, help=f"default {DEFAULT_DATABASE}")
    parser.add_argument("--roles", default="agent,province", help="agent, province or both (default both)")
    parser.add_argument("--province-user", default="jiangsu", help="the province user (default jiangsu, 32)")
    parser.add_argument("--types", default="", help="comma-separated type keys (default all)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest value of a miss")
    return parser.parse_args()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Row:
    role: str
    case: Case
    n: int
    found: int
    times: list[float]
    base: list[float]
    sql_ms: list[float]  # per search: the time spent in the database (all its statements)
    statements: list[int]
    slowest: str

    @property
    def target(self) -> float:
        return NAME_TARGET_MS if self.case.name else EXACT_TARGET_MS

    @property
    def ok(self) -> bool:
        return bool(self.times) and _pct(self.times, 0.95) <= self.target


_SAMPLE = re.compile(r"\{sample:([0-9.]+)\}")


def _sample(cursor: Any, case: Case, province: str, n: int, seed: int) -> list[tuple[str, str]]:
    """N (+ warm-up) values: from a repeatable sample of the table's pages, or (small datasets, where the sample
    holds too few) from the whole table."""
    params = {"p": province, "seed": seed, "n": n + WARMUP}
    cursor.execute(_SAMPLE.sub(r"TABLESAMPLE SYSTEM (\1) REPEATABLE (%(seed)s)", case.sample), params)
    rows = cursor.fetchall()
    if len(rows) < n + WARMUP:
        cursor.execute(_SAMPLE.sub("", case.sample), params)
        rows = cursor.fetchall()
    return [(str(a), str(b)) for a, b in rows]


def _baseline_params(case: Case, value: str) -> list[str]:
    return [value] * case.baseline.count("%s")


class _SqlTimer:
    """A database execute wrapper: how many statements a search ran and how long they took."""

    def __init__(self) -> None:
        self.count = 0
        self.ms = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms += (time.perf_counter() - started) * 1000
            self.count += 1


def measure(role: str, user: Any, case: Case, n: int, seed: int) -> Row:
    from django.db import connection

    from support.search import search

    province = user.province_scope or ""
    with connection.cursor() as cursor:
        values = _sample(cursor, case, province, n, seed)
        times: list[float] = []
        base: list[float] = []
        sql_ms: list[float] = []
        statements: list[int] = []
        found = 0
        slowest, worst = "", -1.0
        for i, (query, key) in enumerate(values):
            sql = _SqlTimer()
            with connection.execute_wrapper(sql):
                started = time.perf_counter()
                result = search(user=user, query=query)
                hits = result.total
                took = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            cursor.execute(case.baseline, _baseline_params(case, key))
            cursor.fetchall()
            base_took = (time.perf_counter() - started) * 1000
            if i < WARMUP:  # the first few warm the connection and the caches
                continue
            times.append(took)
            base.append(base_took)
            sql_ms.append(sql.ms)
            statements.append(sql.count)
            found += hits > 0
            if took > worst:
                slowest, worst = query, took
    return Row(role, case, len(times), found, times, base, sql_ms, statements, slowest)


def explain(user: Any, query: str) -> None:
    """The slowest statement of one search, timed again, with its plan."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from support.search import search

    with CaptureQueriesContext(connection) as captured:
        search(user=user, query=query)
    timed = []
    with connection.cursor() as cursor:
        for q in captured.captured_queries:
            started = time.perf_counter()
            cursor.execute(q["sql"])
            timed.append(((time.perf_counter() - started) * 1000, q["sql"]))
        timed.sort(reverse=True)
        print(f"    {len(timed)} statements, slowest {timed[0][0]:.1f} ms:\n      {timed[0][1][:600]}")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + timed[0][1])
        plan = [row[0] for row in cursor.fetchall()]
    for line in plan[:40]:
        flag = "   <-- sequential scan" if "Seq Scan" in line else ""
        print(f"      {line}{flag}")


def main() -> None:
    args = _parse()
    os.environ["DATABASE_URL"] = database_url(args.database)
    os.environ.setdefault("DEBUG", "false")  # no query log growing over thousands of searches

    import django

    django.setup()
    from piaogen.models import User

    users = {"agent": User.objects.get(username="agent"), "province": User.objects.get(username=args.province_user)}
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    wanted = {t.strip() for t in args.types.split(",") if t.strip()}
    cases = [c for c in CASES if not wanted or c.key in wanted]
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"support search on {args.database}, {args.n} values per type, load average {load} before the run")
    header = (
        f"{'role':<9}{'type':<14}{'n':>5}{'found':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'sql p50':>9}"
        f"{'stmts':>6}{'base p50':>10}{'base p95':>10}{'×p50':>7}{'×p95':>7}{'target':>8}  ok"
    )
    print(header)
    print("-" * len(header))
    rows: list[Row] = []
    for role in roles:
        user = users[role]
        for case in cases:
            row = measure(role, user, case, args.n, args.seed)
            rows.append(row)
            if not row.times:
                print(f"{role:<9}{case.key:<14} no values in the dataset")
                continue
            p50, p95, b50, b95 = (
                statistics.median(row.times),
                _pct(row.times, 0.95),
                statistics.median(row.base),
                _pct(row.base, 0.95),
            )
            print(
                f"{role:<9}{case.key:<14}{row.n:>5}{100 * row.found / row.n:>6.0f}%{p50:>9.1f}{p95:>9.1f}"
                f"{max(row.times):>9.1f}{statistics.median(row.sql_ms):>9.1f}{statistics.median(row.statements):>6.0f}"
                f"{b50:>10.2f}{b95:>10.2f}{p50 / max(b50, 1e-3):>7.0f}"
                f"{p95 / max(b95, 1e-3):>7.0f}{row.target:>8.0f}  {'yes' if row.ok else 'MISSED'}",
                flush=True,
            )
    missed = [r for r in rows if r.times and not r.ok]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} within target" + (":" if missed else ""))
    for row in missed:
        print(f"  missed: {row.role} {row.case.key} (slowest value {row.slowest!r})")
        if args.explain:
            explain(users[row.role], row.slowest)


if __name__ == "__main__":
    main()
