"""Tolling reads: the upload batches a user may see, their rate, and their error file as a download, for the API,
the console pages and the other apps. Writes are ``tolling.services`` and the ingest pipeline."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponseBase
from django.utils.translation import gettext as _

from piaogen.access import scoped
from piaogen.models import User
from tolling import errorfile
from tolling.models import UploadBatch


def batches_for(user: User) -> QuerySet[UploadBatch]:
    """Upload batches the user may see: their province's, or any for national roles (with the uploader)."""
    return scoped(UploadBatch.objects.select_related("uploaded_by"), user)


def batch_rate(batch: UploadBatch) -> int | None:
    """Rows per second so far (or overall, once finished)."""
    if batch.started_at is None or batch.rows_done == 0:
        return None
    end = batch.finished_at or batch.heartbeat_at or batch.started_at
    seconds = (end - batch.started_at).total_seconds()
    return int(batch.rows_done / seconds) if seconds > 0 else None


def error_file_response(batch: UploadBatch, fmt: str) -> HttpResponseBase:
    """The batch's error file (the rejected rows with their reasons) as a download: CSV as written by the pipeline,
    or XLSX built from it. 404 when the batch rejected nothing."""
    if fmt == "xlsx":
        if not batch.rows_rejected:
            raise Http404(_("该批次没有被拒绝的行。"))
        return FileResponse(
            errorfile.error_file_xlsx(batch),
            as_attachment=True,
            filename=f"errors-{batch.pk}.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    if not batch.error_file:
        raise Http404(_("该批次没有被拒绝的行。"))
    return FileResponse(
        batch.error_file.open("rb"),
        as_attachment=True,
        filename=f"errors-{batch.pk}.csv",
        content_type="text/csv; charset=utf-8",
    )
