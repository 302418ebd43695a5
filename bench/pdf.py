#!/usr/bin/env python3
"""Benchmark the PDF documents (invoicing/pdf.py) against product.md §6: ≤ 100 ms median, ≤ 150 KB each.

    python bench/pdf.py [--runs 50] [--out /tmp/piaogen-pdf] [--sheet-trips 10]

Renders a 数电 toll invoice (3 lines), a fiscal e-receipt and a summary sheet (10 trips; ``--sheet-trips 40`` for
one that runs onto numbered pages) ``--runs`` times each after one warm-up render, from unsaved in-memory model
instances: nothing is written to the database. Prints the median and p95 render time and the size of each document;
``--out`` also writes the three PDFs there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

import django  # noqa: E402

django.setup()
logging.getLogger("weasyprint").setLevel(logging.WARNING)  # one INFO line per render step otherwise

from invoicing.models import (  # noqa: E402
    BusinessLine,
    Document,
    DocumentKind,
    DocumentLine,
    SummarySheet,
)
from invoicing.pdf import SheetDocument, SheetTrip, document_pdf_bytes, summary_sheet_pdf_bytes  # noqa: E402
from invoicing.tax import split_gross  # noqa: E402
from piaogen.identifiers import uscc_check_char  # noqa: E402
from tolling.models import Operator, OperatorKind  # noqa: E402

TZ = dt.timezone(dt.timedelta(hours=8))
TARGET_MEDIAN_MS = 100
TARGET_KB = 150


def _uscc(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def sample_invoice() -> tuple[Document, list[DocumentLine]]:
    """An unsaved 数电 toll invoice at 3 % with three lines (two plates, one merged date range)."""
    rate = Decimal("0.03")
    seller = Operator(kind=OperatorKind.ROAD_OPERATOR, name="江苏示例高速公路股份有限公司", province="32")
    seller.tax_id = _uscc("91320000MA1BENCH0")
    grosses = [(23276, "苏A12345", "客车", dt.date(2026, 11, 2), dt.date(2026, 11, 2))]
    grosses += [(4560, "苏A12345", "客车", dt.date(2026, 11, 5), dt.date(2026, 11, 9))]
    grosses += [(35, "苏E6D789", "货车", dt.date(2026, 11, 8), dt.date(2026, 11, 8))]
    lines = []
    for line_no, (gross, plate, vehicle_type, day_from, day_to) in enumerate(grosses, start=1):
        net, tax = split_gross(gross, rate)
        lines.append(
            DocumentLine(
                line_no=line_no,
                item_name="*经营租赁*通行费",
                plate=plate,
                vehicle_type=vehicle_type,
                date_from=day_from,
                date_to=day_to,
                tax_rate=rate,
                amount_net=net,
                amount_tax=tax,
                amount_gross=gross,
            )
        )
    document = Document(
        kind=DocumentKind.DIGITAL_INVOICE,
        business_line=BusinessLine.ETC_TRIP,
        number="26321000000000012345",
        issued_at=dt.datetime(2026, 11, 16, 10, 30, tzinfo=TZ),
        service_date=dt.date(2026, 11, 16),
        province="32",
        seller=seller,
        seller_name=seller.name,
        seller_tax_id=seller.tax_id,
        buyer_name="南京示例物流有限公司",
        buyer_tax_id=_uscc("91320100MA1BUYER0"),
        card_no="32011234567890123456",
        tax_rate=rate,
        amount_net=sum(line.amount_net for line in lines),
        amount_tax=sum(line.amount_tax for line in lines),
        amount_gross=sum(line.amount_gross for line in lines),
        period_start=dt.date(2026, 11, 2),
        period_end=dt.date(2026, 11, 9),
    )
    return document, lines


def sample_receipt() -> tuple[Document, list[DocumentLine]]:
    """An unsaved fiscal e-receipt of a government-loan road with one line."""
    seller = Operator(kind=OperatorKind.ROAD_OPERATOR, name="示例市公路管理处", province="32")
    seller.tax_id = _uscc("12320000MB1BENCH0")
    line = DocumentLine(
        line_no=1,
        item_name="车辆通行费",
        plate="苏A12345",
        vehicle_type="客车",
        date_from=dt.date(2026, 11, 2),
        date_to=dt.date(2026, 11, 2),
        tax_rate=None,
        amount_net=1500,
        amount_tax=0,
        amount_gross=1500,
    )
    document = Document(
        kind=DocumentKind.FISCAL_RECEIPT,
        business_line=BusinessLine.ETC_TRIP,
        code="32029926",
        number="0000001234",
        issued_at=dt.datetime(2026, 11, 16, 10, 30, tzinfo=TZ),
        service_date=dt.date(2026, 11, 16),
        province="32",
        seller=seller,
        seller_name=seller.name,
        seller_tax_id=seller.tax_id,
        buyer_name="张三",
        card_no="32011234567890123456",
        tax_rate=None,
        amount_net=1500,
        amount_tax=0,
        amount_gross=1500,
    )
    return document, [line]


def sample_sheet(trip_count: int = 10) -> tuple[SummarySheet, list[SheetTrip]]:
    """An unsaved summary sheet of ``trip_count`` trips, each held by an invoice and most by a fiscal receipt."""
    trips = []
    for index in range(trip_count):
        entry = dt.datetime(2026, 11, 2 + index % 20, 8, 5, tzinfo=TZ)
        documents = [
            SheetDocument(
                kind_label="数电发票",
                code="",
                number=f"2632100000000001{index:04d}",
                seller_name="江苏示例高速公路股份有限公司",
                tax_rate="3%",
                amount=4560 + index * 135,
            )
        ]
        if index % 3:
            documents.append(
                SheetDocument(
                    kind_label="财政电子票据",
                    code="32029926",
                    number=f"000000{index:04d}",
                    seller_name="示例市公路管理处",
                    tax_rate="—",
                    amount=1500,
                )
            )
        trips.append(
            SheetTrip(
                pass_id=f"013201261102080500{index:04d}",
                plate="苏A12345",
                entry_station="南京东站",
                exit_station="无锡东站",
                entry_time=entry,
                exit_time=entry + dt.timedelta(hours=1, minutes=42),
                documents=documents,
            )
        )
    sheet = SummarySheet(
        number="3220261100000042",
        province="32",
        card_no="32011234567890123456",
        pass_ids=[trip.pass_id for trip in trips],
        amount_gross=sum(trip.amount for trip in trips),
        issued_at=dt.datetime(2026, 11, 25, 9, 0, tzinfo=TZ),
        service_date=dt.date(2026, 11, 25),
    )
    return sheet, trips


def measure(render: Callable[[], bytes], runs: int) -> tuple[float, float, float, int, bytes]:
    """Median and p95 wall milliseconds, median CPU milliseconds of this process (what a render costs when the
    machine is shared: wall time then includes waiting for a core) over ``runs`` renders after one warm-up, and
    the size in bytes."""
    pdf = render()
    timings = []
    cpu = []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        pdf = render()
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return statistics.median(timings), p95, statistics.median(cpu), len(pdf), pdf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", type=Path, help="also write the three PDFs to this folder")
    parser.add_argument("--sheet-trips", type=int, default=10, help="trips on the summary sheet (default 10)")
    args = parser.parse_args()

    invoice, invoice_lines = sample_invoice()
    receipt, receipt_lines = sample_receipt()
    sheet, trips = sample_sheet(args.sheet_trips)
    cases: list[tuple[str, Callable[[], bytes]]] = [
        ("invoice (3 lines)", lambda: document_pdf_bytes(invoice, lines=invoice_lines)),
        ("fiscal receipt", lambda: document_pdf_bytes(receipt, lines=receipt_lines)),
        (f"summary sheet ({len(trips)} trips)", lambda: summary_sheet_pdf_bytes(sheet, trips=trips)),
    ]
    print(f"load average {os.getloadavg()[0]:.2f}; {args.runs} renders each after one warm-up")
    targets = f"target ≤ {TARGET_MEDIAN_MS} ms, ≤ {TARGET_KB} KB"
    print(f"{'document':<26} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>8} {'size KB':>8}  {targets}")
    for name, render in cases:
        median, p95, cpu, size, pdf = measure(render, args.runs)
        verdict = "ok" if median <= TARGET_MEDIAN_MS and size <= TARGET_KB * 1024 else "MISSED"
        print(f"{name:<26} {median:>10.1f} {p95:>8.1f} {cpu:>8.1f} {size / 1024:>8.1f}  {verdict}")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / (name.split(" ")[0] + ".pdf")).write_bytes(pdf)


if __name__ == "__main__":
    main()
