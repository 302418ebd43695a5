"""Streaming readers of uploaded files: CSV (UTF-8 with or without BOM, GB18030/GBK) and XLSX, memory flat.

``table_open(file, kind=…)`` checks the file as a whole (size, format, encoding, header) and raises
``FileRefused`` with a translated Chinese message when it cannot be loaded; the returned ``Table`` then yields
``(line_no, cells)`` for every non-blank data row, ``line_no`` as Excel shows it (header = line 1, blank lines
counted but skipped).

Encoding: a prefix decides between UTF-8 and GB18030 (a superset of GBK and GB2312), then the whole file is
checked once with that decoder (a fast streaming pass, which also counts lines for the progress estimate), so
an undecodable byte deep in a file refuses the file before anything is loaded; a UTF-8 guess that fails later is
retried as GB18030. The format is detected by content: a zip (``PK\\x03\\x04``) is read as XLSX, an OLE file
(old ``.xls``) and anything with NUL bytes is refused.

Hostile files are refused by the whole-file checks, in bounded memory and linear time, before anything loads:
a CSV line longer than ``MAX_LINE_BYTES`` (a huge cell, a header of millions of columns), a quoted section that
runs on for more than ``MAX_LINE_BYTES`` (an unclosed quote would swallow the rest of the file), a header of more
than ``MAX_COLUMNS`` columns, and an XLSX whose parts declare more than ``XLSX_MAX_INFLATED`` bytes or inflate
more than ``XLSX_MAX_RATIO`` times (a zip bomb: Python's ``zipfile`` never inflates past the declared size).

Cells: full-width letters, digits and the punctuation used in values (``．－：＿＋`` and the ideographic space)
are folded to half-width while decoding; Chinese punctuation in names is kept. ``cells_clean`` (or
``rows(clean=True)``) also trims and un-neutralises (``'=…`` → ``=…``, as written by the error file); the bulk
ingest path does those two steps in SQL instead.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _

from tolling.contract import CONTRACT, ERROR_FILE_HEADERS, columns_by_header, header_key

BLOCK_SIZE = 1 << 20
PREFIX_SIZE = 1 << 16
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
UTF8_BOM = codecs.BOM_UTF8
MAX_LINE_BYTES = BLOCK_SIZE
"""Longest CSV line, and longest quoted section, accepted (legitimate rows are a few hundred bytes)."""
MAX_COLUMNS = 1000
"""Most header columns accepted (PostgreSQL allows 1,600 columns in the staging table)."""
XLSX_MAX_INFLATED = 4 << 30
"""Most bytes the parts of an XLSX may declare inflated, all parts together."""
XLSX_MAX_RATIO = 200
"""Highest compression ratio of an XLSX part over ``XLSX_RATIO_MIN_PART`` (real sheets stay far below; deflate
allows ~1,000)."""
XLSX_RATIO_MIN_PART = 1 << 20
"""Inflated size from which an XLSX part's compression ratio is checked (small parts compress well legitimately)."""
XLSX_MAX_PARTS = 10_000
"""Most parts (files inside the zip) an XLSX may have."""

csv.field_size_limit(2 * MAX_LINE_BYTES)  # never reached: the whole-file checks bound lines and quoted sections

_FOLD_CHARS = "".join(map(chr, range(0xFF10, 0xFF1A))) + "".join(map(chr, range(0xFF21, 0xFF3B)))
_FOLD_CHARS += "".join(map(chr, range(0xFF41, 0xFF5B))) + "．－：＿＋　"
FOLD_TABLE: dict[int, int] = {ord(c): (0x20 if c == "　" else ord(c) - 0xFEE0) for c in _FOLD_CHARS}
"""Full-width letters, digits and value punctuation → half-width (a subset of ``identifiers.fold_fullwidth``)."""
_FOLD_RE = re.compile(f"[{_FOLD_CHARS}]+")
NEUTRALISED_PREFIXES = ("'=", "'+", "'-", "'@", "'\t", "'\r")  # as the error file writes them


class FileRefused(Exception):
    """The file as a whole cannot be loaded; ``message`` says why (translated)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def fold(text: str) -> str:
    """Fold full-width letters, digits and value punctuation of ``text`` to half-width."""
    if text.isascii():
        return text
    return _FOLD_RE.sub(lambda m: m.group().translate(FOLD_TABLE), text)


def cell_clean(text: str) -> str:
    """A cell as the contract reads it: folded, trimmed, un-neutralised."""
    text = fold(text).strip()
    if text.startswith(NEUTRALISED_PREFIXES):
        text = text[1:]
    return text


@dataclass
class Table:
    """An opened upload: its header, how headers map to fields, and a row iterator."""

    kind: str
    format: str  # "csv" or "xlsx"
    encoding: str  # "utf-8", "utf-8-sig", "gb18030" or "xlsx"
    header: list[str]  # the original header cells that are kept (error-file columns dropped), in file order
    fields: dict[str, int]  # field name → index into ``header`` (and into every row's cells)
    ignored: list[str]  # unknown headers, ignored with a warning
    rows_estimate: int  # data rows, estimated from the line count (exact for files without blank lines)
    header_line: int
    _source: IO[bytes] = field(repr=False)
    _keep: list[int] | None = field(repr=False, default=None)  # file positions of kept columns (None: all)
    _raw_width: int = field(repr=False, default=0)  # cells in the file's header row

    def rows(self, *, clean: bool = False) -> Iterator[tuple[int, list[str]]]:
        """``(line_no, cells)`` of every non-blank data row, cells aligned with ``header`` (padded with "").

        Rows longer than the header keep their extra non-empty cells at the end (the caller reports them).
        """
        width = len(self.header)
        keep, raw_width = self._keep, self._raw_width
        for line_no, row in self._records():
            if line_no <= self.header_line:
                continue
            if not any(row) or not "".join(row).strip():
                continue
            if keep is not None:
                row = [row[i] if i < len(row) else "" for i in keep] + row[raw_width:]
            row = _fit(row, width)
            if clean:
                row = [cell_clean(c) for c in row]
            yield line_no, row

    def records(self) -> Iterator[tuple[int, str | list[str]]]:
        """For COPY: every non-blank data row as ``(line_no, text)`` when it is a plain CSV record that needs no
        work (no quotes, nothing to trim or un-neutralise, as many cells as the header), else ``(line_no, cells)``
        cleaned and aligned with ``header`` (longer rows keep their extra cells at the end)."""
        if self.format != "csv" or self._keep is not None:
            yield from self.rows(clean=True)
            return
        commas = len(self.header) - 1
        lines = _text_lines(self._source, self.encoding)
        line_no = 0
        for line in lines:
            line_no += 1
            if line_no <= self.header_line:
                continue
            if '"' not in line and "'" not in line and "\t" not in line and " ," not in line and ", " not in line:
                record = line.rstrip("\r\n")
                if record[:1] != " " and record[-1:] != " " and record.count(",") == commas:
                    if record.strip(","):  # else a blank line
                        yield line_no, record
                    continue
            # the csv reader takes further lines only while a quoted cell goes on (bounded by the whole-file
            # checks); a quote inside an unquoted cell is a literal, as in the other readers
            cells = next(csv.reader(itertools.chain((line,), lines), strict=False), [])
            if not any(cells) or not "".join(cells).strip():
                continue
            yield line_no, [cell_clean(c) for c in _fit(cells, commas + 1)]

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        if self.format == "xlsx":
            return _xlsx_records(self._source)
        return _csv_records(self._source, self.encoding)


def _fit(cells: list[str], width: int) -> list[str]:
    """Cells padded to ``width``; empty cells beyond it dropped (Excel leaves them), others kept for a reason."""
    if len(cells) < width:
        return cells + [""] * (width - len(cells))
    if len(cells) > width and not any(c.strip() for c in cells[width:]):
        return cells[:width]
    return cells


# --- CSV -----------------------------------------------------------------------------------------------------------


# Byte sequences that may start a character to fold, per encoding: UTF-8 EF BC/EF BD (U+FF00–U+FF7F) and E3 80 80
# (U+3000). A block without them is not searched (the regex scan of every block would cost seconds per GB).
_UTF8_FOLD_BYTES = (b"\xef\xbc", b"\xef\xbd", b"\xe3\x80\x80")
_FOLD_BYTES = {"utf-8": _UTF8_FOLD_BYTES, "utf-8-sig": _UTF8_FOLD_BYTES}


def _text_lines(source: IO[bytes], encoding: str) -> Iterator[str]:
    """Decoded, folded lines (endings kept) of a binary file, block by block."""
    source.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    markers = _FOLD_BYTES.get(encoding)
    carry = ""
    while True:
        raw = source.read(BLOCK_SIZE)
        text = carry + decoder.decode(raw, final=not raw)
        if markers is None or any(marker in raw for marker in markers):
            text = fold(text)
        if "\x00" in text:
            text = text.replace("\x00", "")
        cut = text.rfind("\n") + 1
        carry = text[cut:]
        if cut:
            yield from io.StringIO(text[:cut], newline="")
        if not raw:
            break
    if carry:
        yield carry


def _csv_records(source: IO[bytes], encoding: str) -> Iterator[tuple[int, list[str]]]:
    records = enumerate(csv.reader(_text_lines(source, encoding), strict=False), start=1)
    line_no = 0
    try:
        for line_no, row in records:
            yield line_no, row
    except csv.Error as exc:  # e.g. lone CR line endings (not RFC 4180): a clean refusal
        raise FileRefused(_("第%(line)s行无法按CSV读取，请检查换行符和双引号") % {"line": line_no + 1}) from exc


def _line_too_long(line: int) -> FileRefused:
    return FileRefused(
        _("第%(line)s行超过%(limit)s字节（单元格或表头过大），无法读取")
        % {"line": line, "limit": f"{MAX_LINE_BYTES:,}"}
    )


def _check_decodes(source: IO[bytes], encoding: str) -> int | None:
    """The number of line feeds if the whole file decodes with ``encoding``, else None.

    The same pass refuses a line, or a quoted section, longer than ``MAX_LINE_BYTES`` (FileRefused). A line or
    section inside one block is shorter than the block, so only those crossing blocks are measured: a few
    ``find``/``count`` calls per block. Quotes are paired by count, as the upload reader's fast path pairs them:
    conservative, since a literal quote inside an unquoted cell counts too (a file with one such quote and more
    than ``MAX_LINE_BYTES`` after it, without another quote, is refused with that quote's line number).
    """
    source.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 0
    offset = 0  # of the block in the file
    line_start = 0  # offset of the current line
    quote_open: tuple[int, int] | None = None  # (offset, line) of an open quote
    try:
        while raw := source.read(BLOCK_SIZE):
            decoder.decode(raw)
            end = offset + len(raw)
            if quotes := raw.count(b'"'):
                if quote_open is not None and offset + raw.find(b'"') - quote_open[0] > MAX_LINE_BYTES:
                    raise _quote_runaway(quote_open[1])
                if (quote_open is not None) != bool(quotes % 2):  # open after this block: at its last quote
                    last = raw.rfind(b'"')
                    quote_open = (offset + last, lines + raw.count(b"\n", 0, last) + 1)
                else:
                    quote_open = None
            if quote_open is not None and end - quote_open[0] > MAX_LINE_BYTES:
                raise _quote_runaway(quote_open[1])
            first = raw.find(b"\n")
            if first >= 0:
                if offset + first - line_start > MAX_LINE_BYTES:
                    raise _line_too_long(lines + 1)
                lines += raw.count(b"\n")
                line_start = offset + raw.rfind(b"\n") + 1
            if end - line_start > MAX_LINE_BYTES:
                raise _line_too_long(lines + 1)
            offset = end
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return lines


def _quote_runaway(line: int) -> FileRefused:
    return FileRefused(
        _("第%(line)s行的双引号未闭合，或引号内的内容超过%(limit)s字节，无法读取")
        % {"line": line, "limit": f"{MAX_LINE_BYTES:,}"}
    )


def _detect_encoding(source: IO[bytes], prefix: bytes) -> tuple[str, int]:
    """(encoding, line feeds) of a CSV file, or FileRefused."""
    if prefix.startswith(UTF8_BOM):
        candidates = ["utf-8-sig"]
    else:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(prefix, final=False)
            candidates = ["utf-8", "gb18030"]
        except UnicodeDecodeError:
            candidates = ["gb18030"]
    for encoding in candidates:
        lines = _check_decodes(source, encoding)
        if lines is not None:
            return encoding, lines
    raise FileRefused(_("无法识别文件编码：CSV文件须为UTF-8（可带BOM）或GB18030/GBK编码"))


# --- XLSX ----------------------------------------------------------------------------------------------------------


def xlsx_cell_text(value: Any) -> str:
    """An XLSX cell value as upload text: numbers without exponent or float noise, times as YYYY-MM-DD HH:MM:SS."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    return str(value)


def _xlsx_check(source: IO[bytes]) -> None:
    """Refuse a zip bomb by what its parts declare, before any part is inflated; then inflate every part once,
    streaming and discarding, so a part that lies about its size (or is corrupt) is refused now rather than after
    some of its rows were loaded.

    ``zipfile`` stops inflating a part at its declared size (and then fails its CRC), so the declared sizes bound
    what reading can ever inflate; parts openpyxl parses whole (shared strings, styles) are bounded by them too.
    """
    source.seek(0)
    try:
        with zipfile.ZipFile(source) as archive:
            parts = archive.infolist()
            _xlsx_sizes_check(parts)
            for part in parts:
                with archive.open(part) as stream:
                    while stream.read(BLOCK_SIZE):
                        pass
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
        raise FileRefused(_("无法读取XLSX文件，请确认文件未损坏且为Excel工作簿（.xlsx）")) from exc
    finally:
        source.seek(0)


def _xlsx_sizes_check(parts: list[zipfile.ZipInfo]) -> None:
    inflated = sum(part.file_size for part in parts)
    bomb = len(parts) > XLSX_MAX_PARTS or inflated > XLSX_MAX_INFLATED
    bomb = bomb or any(
        part.file_size > XLSX_RATIO_MIN_PART and part.file_size > XLSX_MAX_RATIO * max(part.compress_size, 1)
        for part in parts
    )
    if bomb:
        raise FileRefused(
            _("XLSX文件解压后异常庞大（声明%(size)s字节），疑似压缩炸弹，已拒绝") % {"size": f"{inflated:,}"}
        )


def _xlsx_open(source: IO[bytes]) -> Any:
    from openpyxl import load_workbook

    source.seek(0)
    try:
        workbook = load_workbook(source, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
    except Exception as exc:  # openpyxl raises many kinds of errors on a broken file
        raise FileRefused(_("无法读取XLSX文件，请确认文件未损坏且为Excel工作簿（.xlsx）")) from exc
    return workbook, sheet


def _xlsx_records(source: IO[bytes]) -> Iterator[tuple[int, list[str]]]:
    """Rows of the first sheet; openpyxl's read-only reader yields empty rows for gaps, so numbering holds."""
    workbook, sheet = _xlsx_open(source)
    line_no = 0
    try:
        for line_no, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line_no, [fold(xlsx_cell_text(value)) for value in row]
    except (zipfile.BadZipFile, SyntaxError, ValueError, KeyError, EOFError) as exc:
        # a part that lies about its size fails its CRC; broken XML (ParseError is a SyntaxError)
        raise FileRefused(_("XLSX文件第%(line)s行之后已损坏，无法读取") % {"line": line_no}) from exc
    finally:
        workbook.close()


# --- opening -------------------------------------------------------------------------------------------------------


def _file_size(source: IO[bytes]) -> int:
    source.seek(0, io.SEEK_END)
    size = source.tell()
    source.seek(0)
    return size


def table_open(source: IO[bytes], *, kind: str) -> Table:
    """Open an upload for ``kind``: check size, format, encoding and header; FileRefused when it cannot load."""
    size = _file_size(source)
    limit = settings.PIAOGEN["UPLOAD_MAX_BYTES"]
    if size > limit:
        raise FileRefused(
            _("文件过大：%(size)s字节，超过上限%(limit)s字节") % {"size": f"{size:,}", "limit": f"{limit:,}"}
        )
    if size == 0:
        raise FileRefused(_("文件为空"))
    prefix = source.read(PREFIX_SIZE)
    source.seek(0)
    if prefix.startswith(OLE_MAGIC):
        raise FileRefused(_("不支持旧版Excel文件（.xls），请另存为XLSX或CSV后上传"))
    if prefix.startswith(ZIP_MAGIC):
        _xlsx_check(source)
        workbook, sheet = _xlsx_open(source)
        estimate = (sheet.max_row or 0) if isinstance(sheet.max_row, int) else 0
        workbook.close()
        fmt, encoding = "xlsx", "xlsx"
        lines = estimate
    else:
        if b"\x00" in prefix:
            raise FileRefused(_("不是CSV或XLSX文件"))
        encoding, lines = _detect_encoding(source, prefix)
        fmt = "csv"
    table = Table(
        kind=kind,
        format=fmt,
        encoding=encoding,
        header=[],
        fields={},
        ignored=[],
        rows_estimate=0,
        header_line=0,
        _source=source,
    )
    _header_read(table)
    table.rows_estimate = max(0, lines - table.header_line)  # exact when no blank lines and a final line feed
    return table


def _header_read(table: Table) -> None:
    """Find the header (first non-blank row), map it to fields; FileRefused if empty or columns are missing."""
    records = table._records()
    try:
        for line_no, row in records:
            if any(c.strip() for c in row):
                table.header_line = line_no
                raw_header = row
                break
        else:
            raise FileRefused(_("文件为空：没有表头和数据"))
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()
    width = len(raw_header)
    while width and not raw_header[width - 1].strip():  # empty cells after the last header (Excel pads rows)
        width -= 1
    if width > MAX_COLUMNS:
        raise FileRefused(_("表头有%(count)s列，超过上限%(limit)s列") % {"count": f"{width:,}", "limit": MAX_COLUMNS})
    known = columns_by_header(table.kind)
    error_columns = {header_key(h) for h in ERROR_FILE_HEADERS}
    keep: list[int] = []
    fields: dict[str, int] = {}
    duplicated: list[str] = []
    header: list[str] = []
    for position, cell in enumerate(raw_header):
        text = cell.strip()
        key = header_key(text)
        if key in error_columns:
            continue
        keep.append(position)
        header.append(text)
        col = known.get(key)
        if col is None:
            if text:
                table.ignored.append(text)
        elif col.name in fields:
            duplicated.append(text)
        else:
            fields[col.name] = len(header) - 1
    # trailing columns without a header are dropped (Excel leaves them behind)
    while header and not header[-1] and len(header) - 1 not in fields.values():
        header.pop()
        keep.pop()
    if duplicated:
        raise FileRefused(_("表头有重复的列：%(columns)s") % {"columns": "、".join(duplicated)})
    missing = [c.label for c in CONTRACT[table.kind] if c.required and c.name not in fields]
    if missing:
        raise FileRefused(_("缺少必填列：%(columns)s") % {"columns": "、".join(missing)})
    table.header = header
    table.fields = fields
    table._raw_width = len(raw_header)
    table._keep = None if keep == list(range(len(raw_header))) else keep
