"""Upload batches as a job kind of the kernel (piaogen/jobs.py): claimed by ``batch_claim``, resumed from their
committed chunks when their worker goes silent (``PIAOGEN_INGEST_STALE_SECONDS``), retried by a maintainer."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from piaogen.jobs import JobKind
from tolling.models import UploadBatch

logger = logging.getLogger(__name__)


def upload_enqueue(batch_id: int) -> None:
    """Hand a batch to the workers. If the broker is down the batch stays queued and the stall sweep sends it
    once the broker is back: the upload itself is never lost."""
    from tolling.tasks import ingest_batch  # tasks import the pipeline; keep this module importable without it

    try:
        ingest_batch.delay(batch_id)
    except Exception:  # the broker is unreachable: logged, and the sweep retries
        logger.exception("could not enqueue upload batch %s", batch_id)


UPLOADS = JobKind(
    name="uploads",
    label=_("数据导入批次"),
    model=UploadBatch,
    stale_seconds=lambda: int(settings.PIAOGEN["INGEST_STALE_SECONDS"]),
    enqueue=upload_enqueue,
    audit_action="upload.retry",
    template="tolling/jobs_uploads.html",
    retry_url_name="job-upload-retry",
    requeued_message=_("批次 %(id)s 已重新排队。"),
    not_failed_message=_("批次 %(id)s 不是失败状态，无需重试。"),
    order=10,
    select_related=("uploaded_by",),
)
"""Resumes where it stopped (``takeover``): a chunk's progress and heartbeat commit together, and a chunk whose
conditional progress update finds the batch taken over rolls back (tolling/importing/loader.py)."""
