"""Ingest tasks (queue `ingest`). Thin: load by id, call the pipeline; safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from tolling.importing import batch_process
from tolling.jobs import UPLOADS
from tolling.partitions import partitions_maintain


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ingest_batch(batch_id: int) -> None:
    batch_process(batch_id=batch_id)


@shared_task
def resume_stalled_batches() -> list[int]:
    """Beat, every minute: re-send batches whose worker died (stale heartbeat) or whose message was lost."""
    return UPLOADS.sweep()


@shared_task
def partitions_maintain_task() -> list[str]:
    """Beat, daily: partitions made ahead, the default partition emptied, expired partitions archived."""
    return partitions_maintain(today=timezone.localdate()).lines()
