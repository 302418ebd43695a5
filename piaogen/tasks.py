"""Console-wide tasks: the worker heartbeat that health checks and the integration tests use."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from piaogen.requestid import current_request_id

HEARTBEAT_CACHE_KEY = "worker-heartbeat"


@shared_task(acks_late=True)
def heartbeat(note: str = "") -> dict[str, str]:
    """Answer from a worker: proves the broker round trip and the worker's database connection.

    Beat sends one a minute; the last answer is kept in the cache for health and job-monitor pages.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        (database,) = cursor.fetchone()
    beat = {"note": note, "database": database, "at": timezone.now().isoformat(), "request_id": current_request_id()}
    cache.set(HEARTBEAT_CACHE_KEY, beat, timeout=None)
    return beat


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_callback(delivery_id: int) -> None:
    """One attempt to POST a callback (claimed: a second delivery of the task sends nothing)."""
    from piaogen.callbacks import callback_attempt
    from piaogen.models import CallbackDelivery

    callback_attempt(delivery=CallbackDelivery.objects.select_related("token").get(pk=delivery_id))


@shared_task
def callbacks_resume_stalled() -> int:
    """Beat, every five minutes: overdue callback attempts handed to the workers again."""
    from piaogen.callbacks import callbacks_resume_stalled as resume

    return resume()


@shared_task
def idempotent_requests_expire() -> int:
    """Beat, daily: old Idempotency-Key answers forgotten."""
    from piaogen.idempotency import idempotent_requests_expire as expire

    return expire()
