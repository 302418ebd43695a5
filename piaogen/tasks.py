"""Console-wide tasks: the worker heartbeat that health checks and the integration tests use."""

from __future__ import annotations

from celery import shared_task
from django.db import connection
from django.utils import timezone


@shared_task(acks_late=True)
def heartbeat(note: str = "") -> dict[str, str]:
    """Answer from a worker: proves the broker round trip and the worker's database connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), now()")
        database, now = cursor.fetchone()
    return {"note": note, "database": database, "at": now.isoformat(), "worker_time": timezone.now().isoformat()}
