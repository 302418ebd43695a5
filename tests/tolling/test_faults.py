"""Faults: an ingest that loses its database connection (PostgreSQL restarted under it) is not failed but left
running, so the stalled-batch sweep resumes it after its committed chunks. ``bench/faults.py`` runs the whole drill
against real servers and workers (docs/operations.md § Faults and recovery)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import DataError, OperationalError, connection, connections, transaction
from django.utils import timezone

from piaogen.db import database_fault_is_transient
from piaogen.models import Role, User
from tolling import importing
from tolling.importing import batch_process
from tolling.models import Segment, UploadBatch

sys.path.insert(0, str(Path(__file__).parent / "tolling"))
from ingest_fixtures import batch_make, csv_bytes, row, units_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user(make_staff: Callable[..., User]) -> User:
    units_create()
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


def _cut_own_connection() -> None:
    """What a PostgreSQL restart does to a worker's connection: the server ends it (SQLSTATE 57P01)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


def test_a_batch_whose_connection_is_cut_stays_running_and_resumes_with_nothing_lost_or_doubled(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = batch_make(user, "segments", csv_bytes([row("segments", segment_no=str(n)) for n in range(1, 6)]))
    real = importing.Loader.chunk_load

    def chunk_load(self: importing.Loader, chunk: importing.Chunk, turns: importing.Turns) -> None:
        if chunk.index == 1:  # the first chunk has committed
            turns.wait(1)
            _cut_own_connection()
        real(self, chunk, turns)

    monkeypatch.setattr(importing.Loader, "chunk_load", chunk_load)
    with pytest.raises(OperationalError):
        batch_process(batch_id=batch.pk, chunk_rows=2)

    batch.refresh_from_db()
    assert (batch.status, batch.rows_done, batch.rows_accepted, batch.message) == ("running", 2, 2, "")

    monkeypatch.undo()
    # its worker is gone: once the heartbeat is stale the sweep sends the batch again and a worker claims it
    UploadBatch.objects.filter(pk=batch.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    batch_process(batch_id=batch.pk, chunk_rows=2)
    batch.refresh_from_db()
    assert (batch.status, batch.rows_done, batch.rows_accepted, batch.rows_duplicate) == ("done", 5, 5, 0)
    assert Segment.objects.filter(batch_id=batch.pk).count() == 5


def test_a_lost_connection_counts_as_a_lost_database_but_bad_data_and_timeouts_do_not() -> None:
    side = connections.create_connection("default")
    try:
        with pytest.raises(OperationalError) as cut, side.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    finally:
        side.close()
    with pytest.raises(DataError) as bad, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 / 0")
    with pytest.raises(OperationalError) as slow, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")

    assert database_fault_is_transient(cut.value)
    assert not database_fault_is_transient(bad.value)
    assert not database_fault_is_transient(slow.value)  # 57014 query_canceled: a real failure of the batch
