"""Claiming, processing, finishing and cancelling an upload batch."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from piaogen.db import database_fault_is_transient
from tolling.importing.chunks import (
    DEFAULT_CHUNK_ROWS,
    chunks_read,
    large_buffers_mapped,
    logger,
    prefetch,
)
from tolling.importing.loader import (
    Loader,
    chunks_load,
)
from tolling.jobs import UPLOADS
from tolling.models import (
    UploadBatch,
    UploadStatus,
)
from tolling.reading import FileRefused, table_open

# --- claiming and finishing ----------------------------------------------------------------------------------------


def batch_claim(*, batch_id: int) -> UploadBatch | None:
    """Take the batch for this worker: queued, or running with a stale heartbeat. None when not ours to run."""
    now = UPLOADS.claim(batch_id)  # the kernel's claim (piaogen/jobs.py); progress and heartbeat: loader.py
    if now is None:
        return None
    UploadBatch.objects.filter(pk=batch_id, started_at__isnull=True).update(started_at=now)
    return UploadBatch.objects.get(pk=batch_id)


def _batch_end(batch: UploadBatch, status: str, message: str, **fields: Any) -> None:
    from tolling.services import upload_notify_end

    UploadBatch.objects.filter(pk=batch.pk).update(
        status=status, message=message, finished_at=timezone.now(), heartbeat_at=timezone.now(), **fields
    )
    upload_notify_end(batch_id=batch.pk)  # the callbacks API tokens asked for


def _same_file_message(batch: UploadBatch) -> str:
    earlier = (
        UploadBatch.objects.filter(
            province=batch.province, kind=batch.kind, sha256=batch.sha256, status=UploadStatus.DONE
        )
        .exclude(pk=batch.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if earlier is None:
        return ""
    return _("与批次 #%(batch)s 文件相同，未新增数据") % {"batch": earlier}


def batch_process(*, batch_id: int, chunk_rows: int | None = None, timings: dict[str, float] | None = None) -> None:
    """Ingest an upload batch end to end (see the module docstring). Re-running a finished batch does nothing.

    ``timings``, when given, receives the seconds spent per phase (summed over chunks and connections).
    """
    batch = batch_claim(batch_id=batch_id)
    if batch is None:
        return
    size = chunk_rows or settings.PIAOGEN.get("INGEST_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)
    large_buffers_mapped()
    with translation.override(settings.LANGUAGE_CODE):
        try:
            _batch_run(batch, size, timings if timings is not None else {})
        except Exception as exc:
            if database_fault_is_transient(exc):  # not the batch's fault: it stays running, the sweep resumes it
                logger.warning("upload batch %s: passing database fault; left to the stalled-batch sweep", batch.pk)
                raise
            logger.exception("upload batch %s failed", batch.pk)
            _batch_end(batch, UploadStatus.FAILED, _("处理失败：%(error)s") % {"error": f"{type(exc).__name__}: {exc}"})


def _batch_run(batch: UploadBatch, chunk_rows: int, timings: dict[str, float]) -> None:
    from tolling.errorfile import error_file_write

    try:
        source = batch.file.open("rb")
    except OSError:
        _batch_end(batch, UploadStatus.REFUSED, _("原始文件不存在"))
        return
    with source:
        try:
            table = table_open(source, kind=batch.kind)
        except FileRefused as refused:
            _batch_end(batch, UploadStatus.REFUSED, refused.message)
            return
        warnings = []
        if table.ignored:
            warnings.append(_("已忽略未知列：%(columns)s") % {"columns": "、".join(table.ignored)})
        UploadBatch.objects.filter(pk=batch.pk).update(
            encoding=table.encoding, rows_total=max(table.rows_estimate, batch.rows_done)
        )
        loader = Loader(batch, table, timings)
        chunks = prefetch(chunks_read(table, skip=batch.rows_done, size=chunk_rows))
        try:
            outcome = chunks_load(loader, chunks, workers=settings.PIAOGEN["INGEST_WORKERS"])
        finally:
            chunks.close()
        if outcome == "cancelled":
            _batch_cancel(batch)
            return
        if outcome == "lost":
            logger.warning("upload batch %s was taken over by another worker", batch.pk)
            return
        if outcome == "empty" and batch.rows_done == 0:
            _batch_end(batch, UploadStatus.REFUSED, _("文件只有表头，没有数据行"))
            return
    batch.refresh_from_db()
    if batch.rows_rejected:
        error_file_write(batch=batch)
    if batch.rows_accepted == 0 and (same := _same_file_message(batch)):
        warnings.append(same)
    _batch_end(batch, UploadStatus.DONE, "\n".join(warnings), rows_total=batch.rows_done)


def _batch_cancel(batch: UploadBatch) -> None:
    from tolling.errorfile import error_file_write

    batch.refresh_from_db()
    if batch.rows_rejected:
        error_file_write(batch=batch)
    message = _("已取消：取消前已处理%(done)s行，其中接收%(accepted)s行") % {
        "done": batch.rows_done,
        "accepted": batch.rows_accepted,
    }
    _batch_end(batch, UploadStatus.CANCELLED, message)
