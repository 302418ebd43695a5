"""Exports of every drill-down: CSV (UTF-8 with BOM, formula-injection safe) and XLSX (openpyxl write-only).

Small exports stream straight to the browser; larger ones (over `REPORT_EXPORT_SYNC_ROWS` rows) become an
`ExportJob` run by the `reports` queue, which records progress and leaves a file only its creator (or someone with
the same province scope) can download.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from invoicing.models import Document
from piaogen.db import database_fault_is_transient
from piaogen.identifiers import VehicleClass, province_label
from piaogen.jobs import DONE, FAILED, TakenOver
from piaogen.models import User
from piaogen.money import yuan_str
from piaogen.privacy import Pii, shown
from reports.filters import BEIJING, ReportFilters, filters_from
from reports.jobs import EXPORT_JOBS, export_enqueue
from reports.labels import search_kind_label
from reports.models import ExportJob, ExportKind
from reports.rows import document_rows, narrowing, rows_for, search_rows, ticket_rows, upload_rows
from support.models import SearchEvent, Ticket
from tolling.models import UploadBatch

if TYPE_CHECKING:
    from reports.catalog import ReportData

PROGRESS_EVERY = 2_000  # rows between two progress updates (and heartbeats) of a background export
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not evaluate: text starting like a formula gets a leading apostrophe (OWASP CSV
    injection); numbers, including negative amounts, stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class Yuan(Decimal):
    """An amount in yuan (from integer fen): a number cell in XLSX, ``1234.50`` in CSV."""


def _yuan(fen: int) -> Yuan:
    return Yuan(yuan_str(fen))


def _local(moment: Any) -> dt.datetime | None:
    """A Beijing wall-clock time (naive: spreadsheets have no time zones)."""
    return timezone.localtime(moment, BEIJING).replace(tzinfo=None, microsecond=0) if moment else None


def _tax_id(value: str) -> str:
    return shown(Pii.TAX_ID, value)


def _document_row(doc: Document) -> list[Any]:
    vehicle_class = getattr(doc, "vehicle_class_dim", None)
    return [
        doc.service_date,
        f"{doc.code}{doc.number}",
        doc.get_kind_display(),
        doc.get_business_line_display(),
        doc.get_status_display(),
        province_label(doc.province),
        doc.seller_name,
        doc.seller_tax_id,
        doc.buyer_name,
        _tax_id(doc.buyer_tax_id),
        str(VehicleClass(vehicle_class).label) if vehicle_class else "",
        _yuan(doc.amount_net),
        _yuan(doc.amount_tax),
        _yuan(doc.amount_gross),
    ]


def _upload_row(batch: UploadBatch) -> list[Any]:
    duration = batch.duration
    return [
        batch.pk,
        _local(batch.created_at),
        province_label(batch.province),
        batch.get_kind_display(),
        batch.file_name,
        batch.get_status_display(),
        batch.rows_total,
        batch.rows_accepted,
        batch.rows_duplicate,
        batch.rows_rejected,
        round(duration.total_seconds()) if duration is not None and batch.finished_at else "",
        batch.uploaded_by.get_username(),
    ]


def _ticket_row(ticket: Ticket) -> list[Any]:
    return [
        ticket.pk,
        _local(ticket.created_at),
        province_label(ticket.province),
        ticket.get_category_display(),
        ticket.get_status_display(),
        ticket.subject,
        _local(ticket.due_at),
        _local(ticket.closed_at),
    ]


def _search_row(event: SearchEvent) -> list[Any]:
    return [
        _local(event.at),
        event.user.get_username(),
        province_label(event.province) if event.province else _("全国"),
        search_kind_label(event.kind),
        event.results,
        _("是") if event.opened else _("否"),
    ]


@dataclass(frozen=True)
class ExportSpec:
    kind: str
    headers: Callable[[], list[str]]
    rows: Callable[[ReportFilters], QuerySet[Any]]
    row: Callable[[Any], list[Any]]
    widths: tuple[int, ...] = ()  # XLSX column widths (characters)


EXPORTS: dict[str, ExportSpec] = {
    ExportKind.DOCUMENTS: ExportSpec(
        ExportKind.DOCUMENTS,
        lambda: [
            _("开票日期"),
            _("票据号码"),
            _("票据种类"),
            _("业务线"),
            _("状态"),
            _("省份"),
            _("销售方"),
            _("销售方纳税人识别号"),
            _("购买方"),
            _("购买方纳税人识别号"),
            _("收费车型"),
            _("金额"),
            _("税额"),
            _("价税合计"),
        ],
        document_rows,
        _document_row,
        (12, 24, 14, 12, 8, 8, 30, 22, 24, 22, 12, 14, 14, 14),
    ),
    ExportKind.UPLOADS: ExportSpec(
        ExportKind.UPLOADS,
        lambda: [
            _("批次"),
            _("上传时间"),
            _("省份"),
            _("数据类型"),
            _("文件名"),
            _("状态"),
            _("总行数"),
            _("接收行数"),
            _("重复行数"),
            _("拒绝行数"),
            _("处理时长(秒)"),
            _("上传人"),
        ],
        upload_rows,
        _upload_row,
        (8, 20, 8, 14, 30, 10, 12, 12, 12, 12, 12, 14),
    ),
    ExportKind.TICKETS: ExportSpec(
        ExportKind.TICKETS,
        lambda: [
            _("工单号"),
            _("创建时间"),
            _("省份"),
            _("类别"),
            _("状态"),
            _("主题"),
            _("应完成时间"),
            _("关闭时间"),
        ],
        ticket_rows,
        _ticket_row,
        (8, 20, 8, 18, 10, 36, 20, 20),
    ),
    ExportKind.SEARCHES: ExportSpec(
        ExportKind.SEARCHES,
        lambda: [_("搜索时间"), _("搜索人"), _("省份"), _("搜索类型"), _("结果数"), _("直接打开记录")],
        search_rows,
        _search_row,
        (20, 16, 8, 18, 10, 12),
    ),
}


def export_spec(kind: str, narrow: Mapping[str, str] | None = None) -> ExportSpec:
    """The export of a drill-down, narrowed by the drill link's extra parameters (reports.rows.NARROWS)."""
    spec = EXPORTS[kind]
    if narrow:
        return replace(spec, rows=partial(rows_for, kind, narrow=dict(narrow)))
    return spec


def csv_value(value: Any) -> Any:
    """A typed cell as CSV text: yuan with two decimals, dates ISO, times `YYYY-MM-DD HH:MM:SS`."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
PERCENT_FORMAT = "0.0%"


class Ratio(float):
    """A share or rate (0.25 = 25 %): a percentage cell in XLSX."""


class Fen(int):
    """An amount in integer fen in a report table: yuan with two decimals in XLSX and on pages."""


def xlsx_cell(sheet: Any, value: Any) -> Any:
    """A typed cell for a write-only sheet: amounts, dates and times as numbers with a display format."""
    if isinstance(value, Fen):
        value = _yuan(value)
    if isinstance(value, Decimal | dt.date | Ratio):
        cell = WriteOnlyCell(sheet, value=float(value) if isinstance(value, Decimal) else value)
        if isinstance(value, Decimal):
            cell.number_format = MONEY_FORMAT
        elif isinstance(value, Ratio):
            cell.number_format = PERCENT_FORMAT
        else:
            cell.number_format = DATETIME_FORMAT if isinstance(value, dt.datetime) else DATE_FORMAT
        return cell
    return value


def xlsx_sheet(workbook: Any, title: str, headers: list[str], widths: tuple[int, ...] = ()) -> Any:
    """A write-only sheet with a bold frozen header row and column widths."""
    sheet = workbook.create_sheet(title=re.sub(r"[\\*?:/\[\]]", "-", title)[:31])
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths or [max(10, 2 * len(str(h)) + 2) for h in headers], start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    header_cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=header)
        cell.font = Font(bold=True)
        header_cells.append(cell)
    sheet.append(header_cells)
    return sheet


def _rows(spec: ExportSpec, filters: ReportFilters) -> Iterator[list[Any]]:
    queryset = spec.rows(filters)
    for obj in queryset.iterator(chunk_size=PROGRESS_EVERY):
        yield [safe_cell(value) for value in spec.row(obj)]


def _csv_rows(spec: ExportSpec, filters: ReportFilters) -> Iterator[list[Any]]:
    for row in _rows(spec, filters):
        yield [csv_value(value) for value in row]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_chunks(spec: ExportSpec, filters: ReportFilters) -> Iterator[bytes]:
    """The CSV as a stream of UTF-8 chunks, the first one opening with the BOM Excel needs to read UTF-8."""
    writer = csv.writer(_Echo())
    yield ("\ufeff" + writer.writerow(spec.headers())).encode()
    buffer: list[str] = []
    for row in _csv_rows(spec, filters):
        buffer.append(writer.writerow(row))
        if len(buffer) >= 500:
            yield "".join(buffer).encode()
            buffer = []
    if buffer:
        yield "".join(buffer).encode()


def csv_write(spec: ExportSpec, filters: ReportFilters, target: Any, progress: Callable[[int], None]) -> int:
    """Write the CSV (BOM first) into the binary file `target`, reporting progress; returns the row count."""
    text = io.TextIOWrapper(target, encoding="utf-8", newline="")
    text.write("\ufeff")
    writer = csv.writer(text)
    writer.writerow(spec.headers())
    count = 0
    for row in _csv_rows(spec, filters):
        writer.writerow(row)
        count += 1
        if count % PROGRESS_EVERY == 0:
            progress(count)
    text.flush()
    text.detach()  # leave `target` open for the caller
    return count


def xlsx_write(
    spec: ExportSpec, filters: ReportFilters, target: Any, progress: Callable[[int], None] | None = None
) -> int:
    """Write the XLSX (write-only workbook: constant memory) into the binary file `target`; returns the row count."""
    workbook = Workbook(write_only=True)
    sheet = xlsx_sheet(workbook, spec.kind, spec.headers(), spec.widths)
    count = 0
    for row in _rows(spec, filters):
        sheet.append([xlsx_cell(sheet, value) for value in row])
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    workbook.save(target)
    return count


def export_filename(kind: str, filters: ReportFilters, fmt: str) -> str:
    return f"{kind}-{filters.province or 'all'}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.{fmt}"


def sync_limit() -> int:
    return int(settings.PIAOGEN.get("REPORT_EXPORT_SYNC_ROWS", 20_000))


# --- background exports --------------------------------------------------------------------------------------------


@transaction.atomic
def export_job_create(*, user: User, kind: str, fmt: str, query: QueryDict | dict[str, str]) -> ExportJob:
    """Record an export to run in the background (the filters kept as the query string) and enqueue it."""
    query_string = urlencode({key: value for key, value in query.items() if key != "page"})
    job = ExportJob.objects.create(
        kind=kind, fmt=fmt, query=query_string[:1000], province=user.province or "", created_by=user
    )
    transaction.on_commit(partial(export_enqueue, job.pk))
    return job


def _discard_leftovers(job: ExportJob) -> None:
    """Delete what earlier attempts of the job left in its folder (a file whose upload to storage a crash cut
    short): nobody can download it (the job's `file` is set only when it is done), but it should not linger. Each
    attempt stores under a folder of its own (`exports/<job>/<attempt>/`), so this never touches a later one's."""
    storage = job.file.storage
    folder = f"exports/{job.pk}"
    try:
        attempts, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        storage.delete(f"{folder}/{name}")
    for attempt in attempts:
        if attempt != str(job.attempts):
            for name in storage.listdir(f"{folder}/{attempt}")[1]:
                storage.delete(f"{folder}/{attempt}/{name}")
            storage.delete(f"{folder}/{attempt}")


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Run a queued export: claimed by a conditional UPDATE, so a re-delivered task does nothing.

    Crash-safe by restarting from zero: every attempt writes the whole file into an anonymous temporary file (it
    vanishes with a killed process), stores it in its attempt's folder only once complete, and marks the job done
    in the same conditional UPDATE that proves it still owns the job. So no half file is ever served and no row is
    doubled; a crashed attempt costs its own work only. The heartbeat is refreshed every `PROGRESS_EVERY` rows;
    `export_jobs_requeue_stalled` queues a job whose heartbeat went stale again (a bounded number of times).
    A passing database fault leaves the job running for that sweep; any other error fails it.
    """
    claimed = EXPORT_JOBS.claim(job_id, rows_done=0, error="")  # counts the attempt
    if claimed is None:
        return None
    beat = claimed
    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    try:
        _discard_leftovers(job)
        params = dict(parse_qsl(job.query))
        spec = export_spec(job.kind, narrowing(job.kind, params))
        # the scope recorded at creation bounds the rows whatever the query string says
        today = timezone.localdate(job.created_at, BEIJING)
        filters = filters_from(params, scope=job.province or None, today=today)
        beat = EXPORT_JOBS.beat(job_id, beat, rows_total=spec.rows(filters).count())

        def progress(done: int) -> None:
            nonlocal beat
            beat = EXPORT_JOBS.beat(job_id, beat, rows_done=done)

        with tempfile.TemporaryFile() as handle:
            if job.fmt == "csv":
                done = csv_write(spec, filters, handle, progress)
            else:
                done = xlsx_write(spec, filters, handle, progress)
            handle.seek(0)
            beat = EXPORT_JOBS.beat(job_id, beat, rows_done=done)
            name = f"exports/{job.pk}/{job.attempts}/{export_filename(job.kind, filters, job.fmt)}"
            job.file.save(name, File(handle), save=False)
        if not EXPORT_JOBS.end(job_id, beat, DONE, file=job.file.name, rows_done=done):
            job.file.delete(save=False)  # taken over while the file was being stored: the new owner stores its own
            raise TakenOver
    except TakenOver:
        return ExportJob.objects.get(pk=job_id)
    except Exception as error:
        if database_fault_is_transient(error):  # not the export's fault: it stays running and is taken over
            raise
        EXPORT_JOBS.end(job_id, beat, FAILED, error=(_("导出失败：%(error)s") % {"error": error})[:2000])
    job.refresh_from_db()
    return job


def export_jobs_requeue_stalled() -> list[int]:
    """The stall sweep (beat): queue again the export jobs whose worker died — running with a heartbeat older than
    `PIAOGEN["EXPORT_STALE_SECONDS"]` — and send again the queued ones whose message was lost (queued that long
    ago); returns their ids. A running job whose worker died `EXPORT_MAX_ATTEMPTS` times is failed instead, with a
    message its creator reads on the export's page (the kernel's bounded retry, piaogen/jobs.py)."""
    return EXPORT_JOBS.sweep()


def export_job_retry(*, job: ExportJob, user: User, request: HttpRequest | None = None) -> ExportJob:
    """Queue a failed export again (a maintainer, from the job monitor), with a fresh count of attempts; it is
    written again from the start. Idempotent: a job that is not failed is left as it is."""
    retried = EXPORT_JOBS.retry(job=job, user=user, request=request)
    assert isinstance(retried, ExportJob)
    job.refresh_from_db()
    return job


def exports_for(user: User) -> QuerySet[ExportJob]:
    """Export jobs a user may see: those made under a scope theirs covers (their province's; any for national
    users). The file holds only rows of that scope."""
    jobs = ExportJob.objects.select_related("created_by")
    if user.province_scope is not None:
        return jobs.filter(province=user.province_scope)
    return jobs


# --- report templates: the figures as a workbook -------------------------------------------------------------------


def template_xlsx_write(data: ReportData, target: Any) -> None:
    """A template's figures (reports/catalog.py) as a workbook: the KPI tiles, every table, and every chart's
    points, each on a sheet with a frozen header, typed cells (amounts in yuan, ratios as percentages) and widths."""
    workbook = Workbook(write_only=True)
    tiles = xlsx_sheet(workbook, _("关键指标"), [_("指标"), _("本期"), _("上期"), _("环比")], (24, 18, 18, 10))
    for tile in data.tiles:
        wrap: Callable[[Any], Any] = {"money": Fen, "ratio": Ratio}.get(tile.unit, int)
        previous = wrap(tile.previous) if tile.previous is not None and tile.unit != "ratio" else None
        change = tile.change
        tiles.append(
            [
                tile.label,
                xlsx_cell(tiles, wrap(tile.value)),
                xlsx_cell(tiles, previous),
                xlsx_cell(tiles, Ratio(change) if change is not None else None),
            ]
        )
    for table in data.tables:
        widths = tuple(28 if column.unit == "text" else 16 for column in table.columns)
        sheet = xlsx_sheet(workbook, table.title, [column.label for column in table.columns], widths)
        for row in table.rows:
            sheet.append([xlsx_cell(sheet, safe_cell(value)) for value in row.cells])
    for figure in data.figures:
        sheet = xlsx_sheet(workbook, figure.title, [_("系列"), _("类别"), _("数值")], (20, 28, 18))
        wrap = {"money": Fen, "ratio": Ratio}.get(figure.unit, lambda value: value)
        for series in figure.series:
            for point in series.points:
                sheet.append([series.name, safe_cell(point.label), xlsx_cell(sheet, wrap(point.value))])
    workbook.save(target)
