"""Ingest tasks (queue `ingest`). Thin: load by id, call the pipeline; safe to run twice."""

from __future__ import annotations

from celery import shared_task

from tolling.importing import batch_process
from tolling.jobs import UPLOADS


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ingest_batch(batch_id: int) -> None:
    batch_process(batch_id=batch_id)


@shared_task
def resume_stalled_batches() -> list[int]:
    """Beat, every minute: re-send batches whose worker died (stale heartbeat) or whose message was lost."""
    return UPLOADS.sweep()
