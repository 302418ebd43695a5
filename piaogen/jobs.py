"""The job kernel: one protocol for every background job row (upload batches, issuing runs, report exports, and
what comes next), and the registry the job monitor reads.

A job row has a ``status`` (``queued`` → ``running`` → ``done`` or ``failed``, plus the kind's own end states), a
``heartbeat_at``, and the time it was queued (``created_at``, or the kind's ``queued_field``). The protocol:

- **Claim** (``JobKind.claim``): one conditional ``UPDATE`` takes a queued job — or, for kinds that resume
  (``takeover=True``), a running one whose heartbeat is older than the kind's stale time (its worker died). Two
  workers never both win; a re-delivered task finds nothing to claim and does nothing.
- **Heartbeat and progress** (``JobKind.beat``): a worker writes its progress together with a new heartbeat, on
  condition that the heartbeat is still the one it wrote last. A worker that was only slow and has been taken over
  finds it changed and stops (``TakenOver``) without finishing the job.
- **Stall sweep** (``JobKind.sweep``, from beat): running jobs with a stale heartbeat and queued jobs whose message
  was lost. Kinds that resume are sent again (their claim takes them over); kinds that restart from zero are queued
  again, at most ``max_attempts`` times (bounded retry), then failed with the kind's message.
- **Retry** (``JobKind.retry``): a maintainer queues a failed job again, audited, its task sent after commit.
  Idempotent: a job that is not failed is left as it is.

Apps describe their kinds with a ``JobKind`` and ``register`` them in ``AppConfig.ready``; the monitor
(``piaogen.views.jobs``) and its retry URLs list whatever is registered, so the base package imports no app.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import DatabaseError, connection, models, transaction
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import Promise

from piaogen.audit import audit_record
from piaogen.models import User

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
OPEN = (QUEUED, RUNNING, FAILED)
"""What the monitor lists: jobs that are waiting, working, or need a maintainer."""


class TakenOver(Exception):
    """Another worker claimed the job (this one's heartbeat went stale): stop without finishing it."""


@dataclass(frozen=True)
class JobKind:
    """One kind of background job: its model, how long a heartbeat stays fresh, how its task is sent, and how the
    monitor shows and retries it. Every field with a default is the common case."""

    name: str
    """The monitor's key (context name, retry URL segment): ``uploads``, ``runs``, ``exports``."""
    label: str | Promise
    model: type[models.Model]
    stale_seconds: Callable[[], int]
    enqueue: Callable[[int], None]
    """Send the job's task (called after commit, or by the sweep)."""
    audit_action: str
    """The audit trail's action for a maintainer's retry (e.g. ``upload.retry``)."""
    template: str
    """The monitor's section for this kind (a table of ``jobs``)."""
    retry_url_name: str
    requeued_message: str | Promise
    not_failed_message: str | Promise
    order: int = 0
    queued_field: str = "created_at"
    """When a queued job was (re)queued: one queued longer than the stale time lost its task message."""
    started_field: str = "started_at"
    """When a running job started: one with no heartbeat yet that started longer ago than the stale time is stale."""
    takeover: bool = True
    """True: a stale running job is claimed again as it is (the job resumes from its progress). False: the sweep
    queues it again from zero, at most ``max_attempts`` times (``attempts`` counts the claims)."""
    max_attempts: Callable[[], int] | None = None
    gave_up_message: Callable[[int], str] | None = None
    """The ``error_field`` of a job the sweep gives up on, given the number of attempts."""
    error_field: str = "message"
    retryable: Q = field(default_factory=Q)
    """Which failed jobs a maintainer may retry (besides being failed)."""
    retry_reset: Callable[[], dict[str, Any]] = dict
    """Fields a retry resets besides status, heartbeat and end time (e.g. the attempt count)."""
    retry_audit_before: tuple[str, ...] = ()
    """Fields the retry's audit row keeps as they were before."""
    select_related: tuple[str, ...] = ()
    sweep_limit: int = 100

    # --- the protocol ---------------------------------------------------------------------------------------------

    def stale_before(self, now: dt.datetime | None = None) -> dt.datetime:
        return (now or timezone.now()) - dt.timedelta(seconds=int(self.stale_seconds()))

    def stale(self, before: dt.datetime) -> Q:
        """Running, with a heartbeat older than ``before`` (or none, and started before it)."""
        return Q(status=RUNNING) & (
            Q(heartbeat_at__lt=before) | Q(heartbeat_at__isnull=True, **{f"{self.started_field}__lt": before})
        )

    def lost(self, before: dt.datetime) -> Q:
        """Queued since before ``before``: the task message went missing (e.g. with Redis)."""
        return Q(status=QUEUED, **{f"{self.queued_field}__lt": before})

    def claim(self, pk: int, *, now: dt.datetime | None = None, **fields: Any) -> dt.datetime | None:
        """Take the job for this worker: queued, or (kinds that take over) running with a stale heartbeat. Sets
        ``fields`` in the same ``UPDATE``. Returns the heartbeat written (``now``), the token of ownership that
        ``beat`` and ``end`` check; None when the job is not ours to run."""
        now = now or timezone.now()
        claimable = Q(status=QUEUED)
        if self.takeover:
            claimable |= self.stale(self.stale_before(now))
        if self.max_attempts is not None:
            fields.setdefault("attempts", F("attempts") + 1)
        taken = self.model._default_manager.filter(claimable, pk=pk).update(status=RUNNING, heartbeat_at=now, **fields)
        return now if taken else None

    def beat(self, pk: int, beat: dt.datetime, **fields: Any) -> dt.datetime:
        """Refresh the heartbeat (with ``fields``, e.g. progress) while this worker still owns the job: conditional
        on the heartbeat it wrote last. Raises ``TakenOver`` when another worker has it now."""
        now = timezone.now()
        if not self.model._default_manager.filter(pk=pk, status=RUNNING, heartbeat_at=beat).update(
            heartbeat_at=now, **fields
        ):
            raise TakenOver
        return now

    @contextmanager
    def beating(self, pk: int, beat: dt.datetime) -> Iterator[Callable[[], dt.datetime]]:
        """Keep the job's heartbeat fresh from a thread of its own (and its own connection) while the block runs a
        step that cannot beat itself — one long statement, e.g. selecting a run's work — so that a slow step is not
        taken for a dead worker. Yields a function giving the heartbeat last written: the token for the next
        ``beat``. If another worker took the job meanwhile, the thread stops, and that next ``beat`` raises
        ``TakenOver``."""
        written = [beat]
        stop = threading.Event()

        def keep() -> None:
            try:
                while not stop.wait(max(int(self.stale_seconds()) / 3, 0.5)):
                    with transaction.atomic(), connection.cursor() as cursor:
                        # never wait long for the row (a test's open transaction may hold it); LOCAL: behind
                        # pgbouncer a session setting would stay on the server connection for other clients
                        cursor.execute("SET LOCAL lock_timeout = '2s'")
                        written.append(self.beat(pk, written[-1]))
            except (TakenOver, DatabaseError):
                pass  # taken over, or the database is away: the block's owner finds out at its next beat
            finally:
                connection.close()

        thread = threading.Thread(target=keep, name=f"{self.name}-{pk}-heartbeat", daemon=True)
        thread.start()
        try:
            yield lambda: written[-1]
        finally:
            stop.set()
            thread.join()

    def end(self, pk: int, beat: dt.datetime, status: str, **fields: Any) -> bool:
        """Finish the job (``done``, ``failed``…) if this worker still owns it; False when it does not."""
        return bool(
            self.model._default_manager.filter(pk=pk, status=RUNNING, heartbeat_at=beat).update(
                status=status, finished_at=timezone.now(), **fields
            )
        )

    def stalled(self) -> list[int]:
        """Ids of jobs to send again: running with a stale heartbeat, or queued with a lost message."""
        before = self.stale_before()
        jobs = self.model._default_manager.filter(self.stale(before) | self.lost(before))
        return list(jobs.order_by("pk").values_list("pk", flat=True)[: self.sweep_limit])

    def sweep(self) -> list[int]:
        """The stall sweep (beat): send the stalled jobs again and return their ids. Safe to overlap with another
        sweep and with the workers: the claim is a conditional UPDATE, so an extra message does nothing."""
        if self.takeover:
            ids = self.stalled()
            for pk in ids:
                self.enqueue(pk)
            return ids
        return self._requeue_stalled()

    @transaction.atomic
    def _requeue_stalled(self) -> list[int]:
        """Kinds that restart from zero: a stale running job is queued again, or failed once its worker died
        ``max_attempts`` times; a queued job whose message was lost is sent again. Rows locked SKIP LOCKED."""
        now = timezone.now()
        before = self.stale_before(now)
        manager = self.model._default_manager
        if self.max_attempts is not None:
            limit = int(self.max_attempts())
            message = self.gave_up_message(limit) if self.gave_up_message else ""
            manager.filter(self.stale(before), attempts__gte=limit).update(
                status=FAILED, finished_at=now, **{self.error_field: message}
            )
        ids = list(
            manager.filter(self.stale(before) | self.lost(before))
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)[: self.sweep_limit]
        )
        manager.filter(pk__in=ids).update(status=QUEUED, heartbeat_at=None, **{self.queued_field: now})
        for pk in ids:
            transaction.on_commit(partial(self.enqueue, pk))
        return ids

    @transaction.atomic
    def retry(self, *, job: models.Model, user: User, request: HttpRequest | None = None) -> models.Model:
        """Queue a failed job again (a maintainer, from the monitor), audited, its task sent once committed.
        Idempotent: a job that is not failed (a second click finds it queued) is returned as it is."""
        manager = self.model._default_manager
        locked = manager.select_for_update().filter(self.retryable, pk=job.pk, status=FAILED).first()
        if locked is None:
            return manager.get(pk=job.pk)
        before = {name: getattr(locked, name) for name in self.retry_audit_before} or None
        manager.filter(pk=job.pk).update(
            status=QUEUED, heartbeat_at=None, finished_at=None, **{self.error_field: ""}, **self.retry_reset()
        )
        locked.refresh_from_db()
        audit_record(actor=user, action=self.audit_action, obj=locked, before=before, request=request)
        transaction.on_commit(partial(self.enqueue, locked.pk))
        return locked

    # --- the monitor ----------------------------------------------------------------------------------------------

    def open_jobs(self, limit: int) -> list[models.Model]:
        """Queued, running and failed jobs, newest first, each marked ``retryable`` for the monitor's button."""
        jobs: QuerySet[Any] = self.model._default_manager.filter(status__in=OPEN).select_related(*self.select_related)
        rows = list(jobs.order_by("-created_at")[:limit])
        retryable = set(
            self.model._default_manager.filter(self.retryable, status=FAILED, pk__in=[j.pk for j in rows]).values_list(
                "pk", flat=True
            )
        )
        for job in rows:
            job.retryable = job.pk in retryable
        return rows


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Make a job kind known to the monitor (from the app's ``AppConfig.ready``). Registering again replaces."""
    _KINDS[kind.name] = kind
    return kind


def kinds() -> list[JobKind]:
    return sorted(_KINDS.values(), key=lambda kind: (kind.order, kind.name))


def kind(name: str) -> JobKind:
    return _KINDS[name]
