"""The error file of a batch: its rejected rows with their cells as read (trimmed, folded), 行号, 错误原因, 错误代码.

Columns: the original header cells in the original order (the uploaded file's own 行号/错误原因/错误代码 columns, if
it was an error file itself, are left out), then 行号 (the line in the uploaded file, as Excel shows it), 错误原因
(every reason, joined with "；") and 错误代码 (the reasons' machine-readable codes, joined with ";"). Cells that
start with ``= + - @``, a tab or a carriage return are neutralised with a leading ``'`` so a spreadsheet never
runs them as formulas; the reader strips that ``'`` again when the corrected file comes back.

CSV (UTF-8 with BOM, opens cleanly in Excel) is written to ``batch.error_file`` at the end of processing; XLSX
is generated on demand. Both stream from the database in chunks: memory stays flat for any number of rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import Iterator
from typing import IO

from django.core.files import File
from django.utils.translation import gettext as _

from tolling.contract import ERROR_CODE_HEADER, ERROR_LINE_HEADER, ERROR_REASON_HEADER
from tolling.models import RejectedRow, UploadBatch
from tolling.reading import FileRefused, table_open

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection: tab and CR start formulas too
REASON_SEPARATOR = "；"
CODE_SEPARATOR = ";"


def neutralise(cell: str) -> str:
    """``=1+1`` → ``'=1+1``: a cell a spreadsheet would run as a formula is kept as text."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def _header(batch: UploadBatch) -> list[str]:
    """The uploaded file's header cells (without its own 行号/错误原因 columns)."""
    try:
        with batch.file.open("rb") as source:
            return table_open(source, kind=batch.kind).header
    except (FileRefused, OSError):
        return []


def error_file_rows(batch: UploadBatch) -> Iterator[list[str]]:
    """The rows of the error file, header first, neutralised."""
    header = _header(batch)
    yield [
        *map(neutralise, header),
        *(str(_(name)) for name in (ERROR_LINE_HEADER, ERROR_REASON_HEADER, ERROR_CODE_HEADER)),
    ]
    rejected = (
        RejectedRow.objects.filter(batch=batch).order_by("line_no").values_list("line_no", "cells", "reasons", "codes")
    )
    for line_no, cells, reasons, codes in rejected.iterator(chunk_size=5000):
        if isinstance(cells, dict):  # cells keyed by header
            padded = [str(cells.get(name, "")) for name in header]
        else:
            padded = [str(cell) for cell in cells] + [""] * (len(header) - len(cells))
        yield [
            *map(neutralise, padded),
            str(line_no),
            neutralise(REASON_SEPARATOR.join(reasons)),
            CODE_SEPARATOR.join(codes),
        ]


def error_file_csv(batch: UploadBatch) -> IO[bytes]:
    """The error file as CSV (UTF-8 with BOM), in a rewound temporary file."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 — returned to the caller, who closes it
    out.write(codecs.BOM_UTF8)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")
    for row in error_file_rows(batch):
        writer.writerow(row)
    text.flush()
    text.detach()
    out.seek(0)
    return out


def error_file_write(*, batch: UploadBatch) -> UploadBatch:
    """Write the CSV error file of ``batch`` to ``batch.error_file`` (replacing an older one)."""
    with error_file_csv(batch) as content:
        if batch.error_file:
            batch.error_file.delete(save=False)
        name = f"uploads/{batch.province}/errors/{batch.pk}-errors.csv"
        batch.error_file.save(name, File(content), save=False)
    UploadBatch.objects.filter(pk=batch.pk).update(error_file=batch.error_file.name)
    return batch


def error_file_xlsx(batch: UploadBatch) -> IO[bytes]:
    """The error file as XLSX (openpyxl write-only: streamed), in a rewound temporary file."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(str(_("错误行")))
    for row in error_file_rows(batch):
        sheet.append(row)
    out = tempfile.TemporaryFile()  # noqa: SIM115 — returned to the caller, who closes it
    workbook.save(out)
    out.seek(0)
    return out
