"""Writes on upload batches: creating one from a file (web, API, command alike), cancelling one.

Processing itself is `tolling.importing.batch_process`, run by the `ingest_batch` task.
"""

from __future__ import annotations

import hashlib
import logging
from functools import partial
from typing import IO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from piaogen.audit import audit_record
from piaogen.callbacks import callbacks_fire
from piaogen.identifiers import PROVINCE_NAMES
from piaogen.models import Role, User
from tolling.jobs import UPLOADS, upload_enqueue
from tolling.models import UploadBatch, UploadKind, UploadMode, UploadStatus

HASH_CHUNK = 1024 * 1024
logger = logging.getLogger(__name__)


def _sha256_and_size(stream: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    stream.seek(0)
    while chunk := stream.read(HASH_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


def upload_province_for(user: User, province: str | None = None) -> str:
    """The province an upload by `user` belongs to: their own, or (maintainers, the command line) the one named."""
    if user.province_scope is not None:
        if province and province != user.province_scope:
            raise PermissionDenied(_("只能上传本省数据。"))
        return user.province_scope
    if not province or province not in PROVINCE_NAMES:
        raise ValidationError(_("请指定有效的省份代码。"))
    return province


@transaction.atomic
def upload_create(
    *,
    user: User,
    kind: str,
    file: IO[bytes],
    file_name: str,
    province: str | None = None,
    request: HttpRequest | None = None,
    mode: str = UploadMode.APPEND,
) -> UploadBatch:
    """Store an uploaded file as a queued batch and hand it to a worker once committed. Returns at once.
    ``mode=correct``: rows whose key is stored with other values replace the stored rows not yet invoiced
    (``tolling.importing.conflicts``)."""
    if kind not in UploadKind.values:
        raise ValidationError(_("未知的数据类型：%(kind)s") % {"kind": kind})
    if mode not in UploadMode.values:
        raise ValidationError(_("未知的上传方式：%(mode)s") % {"mode": mode})
    province = upload_province_for(user, province)
    sha256, size = _sha256_and_size(file)
    limit = settings.PIAOGEN["UPLOAD_MAX_BYTES"]
    if size > limit:
        raise ValidationError(
            _("文件过大（%(size)s），上限为 %(limit)s。请拆分后分批上传。")
            % {"size": filesizeformat(size), "limit": filesizeformat(limit)},
            code="too_large",
        )
    batch = UploadBatch(
        kind=kind,
        province=province,
        uploaded_by=user,
        file_name=file_name[:255],
        file_size=size,
        sha256=sha256,
        status=UploadStatus.QUEUED,
        mode=mode,
    )
    batch.file.save(file_name, File(file), save=False)
    batch.save()
    audit_record(
        actor=user,
        action="upload.create",
        obj=batch,
        after={"kind": kind, "file": file_name, "size": size},
        request=request,
    )
    transaction.on_commit(partial(upload_enqueue, batch.pk))
    return batch


@transaction.atomic
def upload_cancel(*, batch: UploadBatch, user: User, request: HttpRequest | None = None) -> UploadBatch:
    """Stop a batch: a queued one is cancelled at once, a running one after its current chunk. Idempotent."""
    batch = UploadBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status == UploadStatus.QUEUED:
        batch.status = UploadStatus.CANCELLED
        batch.finished_at = timezone.now()
        batch.message = _("已在开始处理前取消。")
        batch.save(update_fields=["status", "finished_at", "message"])
        upload_notify_end(batch_id=batch.pk)
    elif batch.status == UploadStatus.RUNNING and not batch.cancel_requested:
        batch.cancel_requested = True
        batch.save(update_fields=["cancel_requested"])
    else:
        return batch
    audit_record(actor=user, action="upload.cancel", obj=batch, request=request)
    return batch


def upload_retry(*, batch: UploadBatch, user: User, request: HttpRequest | None = None) -> UploadBatch:
    """Queue a failed batch again (a maintainer, after fixing what failed; the kernel's retry, piaogen/jobs.py).
    The pipeline picks it up where its committed chunks end, and rows already in are duplicates: nothing doubles.
    Idempotent."""
    UPLOADS.retry(job=batch, user=user, request=request)
    batch.refresh_from_db()
    return batch


def upload_can_write(user: User, batch: UploadBatch) -> bool:
    """Uploading and cancelling are for the batch's own province staff (and maintainers)."""
    if user.has_role(Role.MAINTAINER):
        return True
    return user.has_role(Role.PROVINCE) and user.province_scope == batch.province


UPLOAD_FINISHED = "upload.finished"
"""The callback event of a batch that ended (done, failed, refused or cancelled): piaogen.callbacks."""


def upload_notify_end(*, batch_id: int) -> int:
    """The batch ended: notify the API tokens that asked (their callback URLs), after commit."""
    batch = UploadBatch.objects.get(pk=batch_id)
    fields = ("id", "kind", "province", "status", "message", "rows_total", "rows_accepted", "rows_duplicate")
    payload = {
        "batch": {
            **{name: getattr(batch, name) for name in fields},
            "rows_rejected": batch.rows_rejected,
            "rows_conflict": batch.rows_conflict,
            "rows_corrected": batch.rows_corrected,
            "finished_at": batch.finished_at,
        },
        "links": {
            "batch": reverse("api-upload-detail", args=[batch.pk]),
            "errors": reverse("api-upload-errors", args=[batch.pk]) if batch.rows_rejected else None,
        },
    }
    return callbacks_fire(event=UPLOAD_FINISHED, object_id=batch.pk, payload=payload)
