"""Reads that tolerate a little lag go to the streaming replica; everything else stays on the primary.

Which reads: only GET/HEAD requests of views that opt in — the URL names in `REPLICA_VIEWS` (search, record pages,
reports, dashboards, exports and their API twins) or a view decorated with `@replica_reads` — and, inside them,
only business data: users, sessions, tokens and lockouts are always read from the primary (a session ended on
the primary must not live on in a lagging replica). Every write, and every read inside `transaction.atomic`, goes
to the primary whatever the view, and so does every read of a request after it wrote business data.

Read-your-writes: after a user's POST/PUT/PATCH/DELETE the middleware records the primary's WAL position in the
cache (`reads_pin`); that user's replica reads go to the primary until the replica has replayed past it, or for at
most PIAOGEN_READ_YOUR_WRITES_SECONDS (after which the lag limit alone guarantees the write is visible). A replica
that is down, has stopped streaming, or lags more than PIAOGEN_REPLICA_MAX_LAG_SECONDS sends every read back to the
primary; `replica_state()` is what /readyz shows. Without a "replica" database the router does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA = "replica"

# Lag-tolerant read-only pages and API reads, by URL name (the views stay free of routing concerns; a new view can
# also say `@replica_reads`). tests/piaogen/test_routers.py checks each name exists and answers GET only.
REPLICA_VIEWS = frozenset(
    {
        # search and record pages
        "search",
        "customer-detail",
        "card-detail",
        "trip-detail",
        "document-detail",
        # statistics, dashboards, exports
        "report-dashboard",
        "report-documents",
        "report-documents-export",
        "report-uploads",
        "report-uploads-export",
        "report-tickets",
        "report-tickets-export",
        "report-pdf",
        # the API's reads
        "api-document-list",
        "api-document-detail",
        "api-summary-sheet-list",
        "api-summary-sheet-detail",
        "api-customer-list",
        "api-customer-detail",
        "api-trip-list",
        "api-trip-detail",
    }
)

# never read from the replica: who is logged in, with what token, who is locked out
PRIMARY_ONLY_APPS = frozenset({"auth", "sessions", "contenttypes", "admin", "axes"})
PRIMARY_ONLY_MODELS = frozenset({"piaogen.user", "piaogen.apitoken"})

PIN_KEY = "replica-pin:{user_id}"

LAG_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
                 AND EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming' OR status IS NULL)
            THEN 0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 'Infinity')
       END
"""


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


# --- the replica's state --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaState:
    usable: bool
    detail: str
    lag_seconds: float | None = None
    checked_at: float = 0.0  # time.monotonic()


_state: ReplicaState | None = None


def _look_at_replica() -> ReplicaState:
    now = time.monotonic()
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(LAG_SQL)
            in_recovery, lag = cursor.fetchone()
    except Exception as exc:  # whatever the reason, the primary answers instead
        with contextlib.suppress(Exception):
            connections[REPLICA].close()  # a broken connection is opened afresh at the next look
        return ReplicaState(False, f"down ({type(exc).__name__}): reads on the primary", None, now)
    if not in_recovery:
        return ReplicaState(False, "not a standby (promoted?): reads on the primary", None, now)
    lag = float(lag)
    limit = settings.PIAOGEN_REPLICA_MAX_LAG_SECONDS
    if lag > limit:
        return ReplicaState(False, f"lagging {lag:.1f}s > {limit:g}s: reads on the primary", lag, now)
    return ReplicaState(True, f"lag {lag:.1f}s", lag, now)


def replica_state(*, fresh: bool = False) -> ReplicaState | None:
    """The replica's state as this process last saw it (looked at again after PIAOGEN_REPLICA_CHECK_SECONDS);
    None without a replica."""
    global _state
    if not replica_configured():
        return None
    if fresh or _state is None or time.monotonic() - _state.checked_at >= settings.PIAOGEN_REPLICA_CHECK_SECONDS:
        _state = _look_at_replica()
        if not _state.usable:
            logger.warning("replica %s", _state.detail)
    return _state


# --- read-your-writes -----------------------------------------------------------------------------------------------


def reads_pin(*, user_id: int) -> None:
    """After a write by this user: their lag-tolerant reads stay on the primary until the replica has replayed the
    primary's WAL up to here (the insert position: it covers every commit made so far, even not yet flushed ones).
    Services that write for a user outside a request (a task) may call it too."""
    if not replica_configured():
        return
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
        (lsn,) = cursor.fetchone()
    try:
        cache.set(PIN_KEY.format(user_id=user_id), lsn, timeout=settings.PIAOGEN_READ_YOUR_WRITES_SECONDS)
    except Exception:  # the cache is down: reading the pin fails too, and that sends the reads to the primary
        logger.warning("replica: could not record the read-your-writes position of user %s", user_id)


def _caught_up_with(user_id: int) -> bool:
    """The replica has replayed this user's last write (or there is none within the bounded time)."""
    try:
        lsn = cache.get(PIN_KEY.format(user_id=user_id))
    except Exception:
        return False  # cannot tell: the primary is always right
    if lsn is None:
        return True
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
            return bool(cursor.fetchone()[0])
    except Exception:
        return False


# --- routing ---------------------------------------------------------------------------------------------------------


class _Reads:
    """The database lag-tolerant reads of one request (or block) use, chosen at the first such read: by then DRF
    has authenticated the user, and requests that read nothing routable never look at the replica."""

    def __init__(self, user_id: Callable[[], int | None]) -> None:
        self._user_id = user_id
        self._alias: str | None = None

    def alias(self) -> str:
        if self._alias is None:
            self._alias = self._choose()
        return self._alias

    def wrote(self) -> None:
        """The request wrote: it reads the rest on the primary, where its write is."""
        self._alias = PRIMARY

    def _choose(self) -> str:
        state = replica_state()
        if state is None or not state.usable:
            return PRIMARY
        user_id = self._user_id()
        if user_id is not None and not _caught_up_with(user_id):
            return PRIMARY
        return REPLICA


_reads: ContextVar[_Reads | None] = ContextVar("piaogen_replica_reads", default=None)


def _lag_tolerant(model: type[Model]) -> bool:
    meta = model._meta
    return meta.app_label not in PRIMARY_ONLY_APPS and meta.label_lower not in PRIMARY_ONLY_MODELS


class ReplicaRouter:
    """Writes and reads inside a transaction on the primary; reads in a replica block (below) where chosen."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        if not replica_configured():
            return None
        reads = _reads.get()
        if reads is None or connections[PRIMARY].in_atomic_block or not _lag_tolerant(model):
            return PRIMARY
        return reads.alias()

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        if not replica_configured():
            return None
        reads = _reads.get()
        if reads is not None and _lag_tolerant(model):  # not a session or last-login save
            reads.wrote()
        return PRIMARY

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        return True if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA, None} else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db != PRIMARY else None


@contextlib.contextmanager
def replica_block(*, user_id: int | None = None) -> Iterator[None]:
    """Lag-tolerant reads inside the block may use the replica (a report or export task; `user_id`: on behalf of
    whom, for read-your-writes)."""
    token = _reads.set(_Reads(lambda: user_id))
    try:
        yield
    finally:
        _reads.reset(token)


def replica_reads(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Mark a read-only view whose GETs tolerate replica lag (the middleware does the rest)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
        return view(*args, **kwargs)

    wrapper.replica_reads = True  # type: ignore[attr-defined]
    return wrapper


def _request_user_id(request: HttpRequest) -> Callable[[], int | None]:
    def user_id() -> int | None:
        user = getattr(request, "user", None)
        return user.pk if user is not None and user.is_authenticated else None

    return user_id


class ReplicaReadsMiddleware:
    """Opens a replica block around opted-in GET views (and the streaming of their response), and pins a user's
    reads to the primary after each of their writes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        reads = getattr(request, "_replica_reads", None)
        if reads is not None:
            _reads.set(None)
            if response.streaming:  # a CSV export reads while it streams
                response.streaming_content = _streaming_within(reads, response.streaming_content)  # type: ignore[attr-defined]
        if request.method not in ("GET", "HEAD", "OPTIONS") and replica_configured():
            user_id = _request_user_id(request)()
            if user_id is not None:
                reads_pin(user_id=user_id)
        return response

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if not replica_configured() or request.method not in ("GET", "HEAD"):
            return None
        match = request.resolver_match
        if getattr(view, "replica_reads", False) or (match is not None and match.url_name in REPLICA_VIEWS):
            reads = _Reads(_request_user_id(request))
            request._replica_reads = reads  # type: ignore[attr-defined]
            _reads.set(reads)
        return None


def _streaming_within(reads: _Reads, content: Iterator[bytes]) -> Iterator[bytes]:
    # set and restore rather than a token: the server may close the generator from another context
    previous = _reads.get()
    _reads.set(reads)
    try:
        yield from content
    finally:
        _reads.set(previous)
