"""Ingest tasks (queue `ingest`). Thin: load by id, call the pipeline; safe to run twice."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from tolling.importing import batch_process
from tolling.models import UploadBatch, UploadStatus
from tolling.partitions import partitions_maintain


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ingest_batch(batch_id: int) -> None:
    batch_process(batch_id=batch_id)


@shared_task
def resume_stalled_batches() -> list[int]:
    """Beat, every minute: re-send batches whose worker died (stale heartbeat) or whose message was lost."""
    stale = timezone.now() - timedelta(seconds=settings.PIAOGEN["INGEST_STALE_SECONDS"])
    ids = list(
        UploadBatch.objects.filter(
            Q(status=UploadStatus.RUNNING, heartbeat_at__lt=stale) | Q(status=UploadStatus.QUEUED, created_at__lt=stale)
        ).values_list("pk", flat=True)[:100]
    )
    for batch_id in ids:
        ingest_batch.delay(batch_id)
    return ids


@shared_task
def partitions_maintain_task() -> list[str]:
    """Beat, daily: partitions made ahead, the default partition emptied, expired partitions archived."""
    return partitions_maintain(today=timezone.localdate()).lines()
