"""Gapless document number series (domain.md §1, ADR 0002).

A series is one ``NumberSeries`` row. ``number_take`` reserves a block of consecutive numbers with one
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` in the caller's transaction: the row stays locked until that
transaction ends, so numbers are handed out in commit order, and a rollback hands them back. Take numbers late
(after the documents' other work is done), for a whole chunk of documents in one call, and commit soon.

Series keys, one row each, so provinces and channels never wait on one another:

- ``digital:{yy}:{province}:{channel}`` — 数电 invoice numbers, 15-digit sequence;
- ``fiscal:{province}:{yy}`` — fiscal e-receipt numbers of one code, 10 digits;
- ``sheet:{province}:{yyyy}{mm}`` — summary sheet numbers, 8-digit sequence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.transaction import TransactionManagementError
from django.utils.translation import gettext_lazy as _

from invoicing.models import DocumentKind
from piaogen.identifiers import format_digital_invoice_number, format_fiscal_code, format_summary_sheet_number

DIGITAL_SEQ_WIDTH = 15
FISCAL_NUMBER_WIDTH = 10
SHEET_SEQ_WIDTH = 8

# Inserts the series at 1 + count, or adds count to it, unless that would pass the maximum (then no row and no
# change). Either way the row is locked until the caller's transaction ends. Returns the new next_value.
_TAKE_SQL = """
INSERT INTO invoicing_numberseries AS s (key, next_value) VALUES (%(key)s, 1 + %(count)s::bigint)
ON CONFLICT (key) DO UPDATE SET next_value = s.next_value + %(count)s::bigint
WHERE s.next_value + %(count)s::bigint <= %(maximum)s::bigint + 1
RETURNING next_value
"""


class NumberSeriesExhausted(ValidationError):
    """A series has no room left for the numbers asked for."""


def number_take(*, series: str, count: int = 1, maximum: int = 10**18 - 1) -> range:
    """Reserve ``count`` consecutive numbers (from 1) of ``series`` in the caller's transaction.

    One atomic statement, race-free under concurrent workers. The series row stays locked until the caller
    commits or rolls back; a rollback (also of a savepoint) gives the numbers back, which keeps the series
    gapless. Raises ``NumberSeriesExhausted`` (and takes nothing) when a number would pass ``maximum``, and
    ``TransactionManagementError`` outside ``transaction.atomic``: in autocommit the numbers would be spent
    before the documents that carry them exist.
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"count must be a non-negative int: {count!r}")
    if not connection.in_atomic_block:
        raise TransactionManagementError("number_take must run inside the transaction that uses the numbers")
    if count == 0:
        return range(1, 1)
    if count <= maximum:
        with connection.cursor() as cursor:
            cursor.execute(_TAKE_SQL, {"key": series, "count": count, "maximum": maximum})
            row = cursor.fetchone()
        if row is not None:
            end: int = row[0]
            return range(end - count, end)
    raise NumberSeriesExhausted(
        _("号段%(series)s已用尽：无法再分配%(count)s个号码（上限%(maximum)s）"),
        code="number_series_exhausted",
        params={"series": series, "count": count, "maximum": maximum},
    )


def _beijing_date(issued_on: dt.date) -> dt.date:
    # a datetime is a date too, but its year/month would be those of its own time zone: ask for the date
    if isinstance(issued_on, dt.datetime) or not isinstance(issued_on, dt.date):
        raise TypeError(f"issued_on must be a Beijing date, got {type(issued_on).__name__}")
    return issued_on


def digital_invoice_numbers(*, province: str, issued_on: dt.date, channel: int = 1, count: int) -> list[str]:
    """``count`` new 20-digit 数电 invoice numbers: yy + province + channel + 15-digit sequence."""
    year = _beijing_date(issued_on).year
    # checks the arguments before a number is taken; the series maximum keeps every number in the width
    prefix = format_digital_invoice_number(year=year, province=province, channel=channel, seq=0)[:-DIGITAL_SEQ_WIDTH]
    numbers = number_take(
        series=f"digital:{year % 100:02d}:{province}:{channel}", count=count, maximum=10**DIGITAL_SEQ_WIDTH - 1
    )
    return [f"{prefix}{n:0{DIGITAL_SEQ_WIDTH}d}" for n in numbers]


def fiscal_receipt_numbers(*, province: str, issued_on: dt.date, count: int) -> tuple[str, list[str]]:
    """The 8-digit fiscal e-receipt code of the province and year, and ``count`` new 10-digit numbers of it."""
    year = _beijing_date(issued_on).year
    code = format_fiscal_code(province=province, year=year)
    numbers = number_take(
        series=f"fiscal:{province}:{year % 100:02d}", count=count, maximum=10**FISCAL_NUMBER_WIDTH - 1
    )
    return code, [f"{n:0{FISCAL_NUMBER_WIDTH}d}" for n in numbers]


def summary_sheet_numbers(*, province: str, issued_on: dt.date, count: int) -> list[str]:
    """``count`` new 16-digit summary sheet numbers: card issuer's province + YYYY + MM + 8-digit sequence."""
    day = _beijing_date(issued_on)
    prefix = format_summary_sheet_number(province=province, year=day.year, month=day.month, seq=0)[:-SHEET_SEQ_WIDTH]
    numbers = number_take(
        series=f"sheet:{province}:{day.year:04d}{day.month:02d}", count=count, maximum=10**SHEET_SEQ_WIDTH - 1
    )
    return [f"{prefix}{n:0{SHEET_SEQ_WIDTH}d}" for n in numbers]


def document_numbers(
    *, counts: Mapping[tuple[str, str], int], issued_on: dt.date
) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """Numbers for a whole chunk of documents: ``counts`` maps (document kind, province) to how many documents of
    that series; returns (code, numbers) per key, the code '' for 数电 invoices. One block per series, taken in the
    lock order of ADR 0002 — 数电 invoices before fiscal e-receipts, then by province — so two workers never wait on
    each other's series crosswise. Every issuing path (in-memory and set-based) takes its numbers here."""
    digital = DocumentKind.DIGITAL_INVOICE.value
    taken: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for kind, province in sorted(counts, key=lambda key: (key[0] != digital, key[1])):
        count = counts[(kind, province)]
        if kind == digital:
            taken[(kind, province)] = ("", digital_invoice_numbers(province=province, issued_on=issued_on, count=count))
        else:
            taken[(kind, province)] = fiscal_receipt_numbers(province=province, issued_on=issued_on, count=count)
    return taken
