"""Exports of every drill-down: CSV (UTF-8 with BOM, formula-injection safe) and XLSX (openpyxl write-only).

Small exports stream straight to the browser; larger ones (over `REPORT_EXPORT_SYNC_ROWS` rows) become an
`ExportJob` run by the `reports` queue, which records progress and leaves a file only its creator (or someone with
the same province scope) can download.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from invoicing.models import Document
from piaogen.identifiers import PROVINCE_NAMES, VehicleClass, is_resident_id, mask_id_number
from piaogen.models import User
from piaogen.money import yuan_str
from reports.filters import BEIJING, ReportFilters, filters_from
from reports.models import ExportJob, ExportKind, ExportStatus
from reports.rows import document_rows, ticket_rows, upload_rows
from support.models import Ticket
from tolling.models import UploadBatch

PROGRESS_EVERY = 2_000
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


def _local(moment: Any) -> str:
    return timezone.localtime(moment, BEIJING).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _tax_id(value: str) -> str:
    return mask_id_number(value) if value and is_resident_id(value) else value


def _document_row(doc: Document) -> list[Any]:
    vehicle_class = getattr(doc, "vehicle_class_dim", None)
    return [
        doc.service_date.isoformat(),
        f"{doc.code}{doc.number}",
        doc.get_kind_display(),
        doc.get_business_line_display(),
        doc.get_status_display(),
        PROVINCE_NAMES.get(doc.province, doc.province),
        doc.seller_name,
        doc.seller_tax_id,
        doc.buyer_name,
        _tax_id(doc.buyer_tax_id),
        str(VehicleClass(vehicle_class).label) if vehicle_class else "",
        yuan_str(doc.amount_net),
        yuan_str(doc.amount_tax),
        yuan_str(doc.amount_gross),
    ]


def _upload_row(batch: UploadBatch) -> list[Any]:
    duration = batch.duration
    return [
        batch.pk,
        _local(batch.created_at),
        PROVINCE_NAMES.get(batch.province, batch.province),
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
        PROVINCE_NAMES.get(ticket.province, ticket.province),
        ticket.get_category_display(),
        ticket.get_status_display(),
        ticket.subject,
        _local(ticket.due_at),
        _local(ticket.closed_at),
    ]


@dataclass(frozen=True)
class ExportSpec:
    kind: str
    headers: Callable[[], list[str]]
    rows: Callable[[ReportFilters], QuerySet[Any]]
    row: Callable[[Any], list[Any]]


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
    ),
}


NARROW_PARAMS: dict[str, str] = {ExportKind.UPLOADS: "failed", ExportKind.DOCUMENTS: "red"}
"""The query parameter (`=1`) that narrows a drill-down: failed and refused batches; red-letter documents."""


def export_spec(kind: str, *, narrow: bool = False) -> ExportSpec:
    """The export of a drill-down, narrowed (see NARROW_PARAMS) when asked."""
    spec = EXPORTS[kind]
    if narrow and kind == ExportKind.UPLOADS:
        return replace(spec, rows=partial(upload_rows, failed_only=True))
    if narrow and kind == ExportKind.DOCUMENTS:
        return replace(spec, rows=partial(document_rows, red_only=True))
    return spec


def _rows(spec: ExportSpec, filters: ReportFilters) -> Iterator[list[Any]]:
    queryset = spec.rows(filters)
    for obj in queryset.iterator(chunk_size=PROGRESS_EVERY):
        yield [safe_cell(value) for value in spec.row(obj)]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_chunks(spec: ExportSpec, filters: ReportFilters) -> Iterator[bytes]:
    """The CSV as a stream of UTF-8 chunks, the first one opening with the BOM Excel needs to read UTF-8."""
    writer = csv.writer(_Echo())
    yield ("\ufeff" + writer.writerow(spec.headers())).encode()
    buffer: list[str] = []
    for row in _rows(spec, filters):
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
    for row in _rows(spec, filters):
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
    sheet = workbook.create_sheet(title=spec.kind)
    sheet.append(spec.headers())
    count = 0
    for row in _rows(spec, filters):
        sheet.append(row)
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
    from reports.tasks import export_job_run_task

    query_string = urlencode({key: value for key, value in query.items() if key != "page"})
    job = ExportJob.objects.create(
        kind=kind, fmt=fmt, query=query_string[:1000], province=user.province or "", created_by=user
    )
    transaction.on_commit(partial(export_job_run_task.delay, job.pk))
    return job


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Run a queued export: claimed by a conditional UPDATE, so a re-delivered task does nothing."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportStatus.QUEUED).update(status=ExportStatus.RUNNING)
    if not claimed:
        return None
    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    params = dict(parse_qsl(job.query))
    spec = export_spec(job.kind, narrow=params.get(NARROW_PARAMS.get(job.kind, ""), "") == "1")
    # the scope recorded at creation bounds the rows whatever the query string says
    today = timezone.localdate(job.created_at, BEIJING)
    filters = filters_from(params, scope=job.province or None, today=today)
    job.rows_total = spec.rows(filters).count()
    job.save(update_fields=["rows_total"])

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job_id).update(rows_done=done)

    try:
        with tempfile.TemporaryFile() as handle:
            if job.fmt == "csv":
                done = csv_write(spec, filters, handle, progress)
            else:
                done = xlsx_write(spec, filters, handle, progress)
            handle.seek(0)
            job.file.save(f"exports/{job.pk}/{export_filename(job.kind, filters, job.fmt)}", File(handle), save=False)
        job.rows_done = done
        job.status = ExportStatus.DONE
    except Exception as error:
        job.status = ExportStatus.FAILED
        job.error = str(error)[:2000]
    job.finished_at = timezone.now()
    job.save(update_fields=["file", "rows_done", "status", "error", "finished_at"])
    return job


def exports_for(user: User) -> QuerySet[ExportJob]:
    """Export jobs a user may see: those made under a scope theirs covers (their province's; any for national
    users). The file holds only rows of that scope."""
    jobs = ExportJob.objects.select_related("created_by")
    if user.province_scope is not None:
        return jobs.filter(province=user.province_scope)
    return jobs
