"""What the operators watch: readiness of the parts the console needs (database, Redis, a Celery worker), the
depth of each Celery queue, and the background jobs that are queued, running or failed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from piaogen import routers
from piaogen.tasks import HEARTBEAT_CACHE_KEY

# beat sends a heartbeat a minute: three missed ones mean no worker is taking work
HEARTBEAT_MAX_AGE = dt.timedelta(minutes=3)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Readiness:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ok else "not ready",
            "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in self.checks},
        }


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return Check("database", False, type(exc).__name__)
    return Check("database", True)


def _redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2)


def _redis() -> Check:
    try:
        _redis_client().ping()
    except Exception as exc:
        return Check("redis", False, type(exc).__name__)
    return Check("redis", True)


def worker_heartbeat() -> dt.datetime | None:
    """When a worker last answered beat's heartbeat task (None: never, or the cache is unreachable)."""
    try:
        beat = cache.get(HEARTBEAT_CACHE_KEY)
    except Exception:
        return None
    return parse_datetime(beat["at"]) if beat else None


def _worker() -> Check:
    at = worker_heartbeat()
    if at is None:
        return Check("worker", False, "no heartbeat")
    age = timezone.now() - at
    return Check("worker", age <= HEARTBEAT_MAX_AGE, f"{int(age.total_seconds())}s ago")


def _replica() -> Check | None:
    """The read replica, when there is one. Never makes the console unready: a replica that is down or lagging
    only sends reads back to the primary, which the detail says."""
    state = routers.replica_state(fresh=True)
    return None if state is None else Check("replica", True, state.detail)


def readiness() -> Readiness:
    checks = [_database(), _redis(), _worker(), _replica()]
    return Readiness([check for check in checks if check is not None])


def queue_depths() -> dict[str, int | None]:
    """Messages waiting in each Celery queue (None when Redis cannot be asked)."""
    prefix = settings.CELERY_QUEUE_PREFIX
    try:
        client = _redis_client()
        return {name.removeprefix(prefix): int(client.llen(name)) for name in settings.CELERY_QUEUE_NAMES}
    except redis.RedisError:
        return dict.fromkeys((name.removeprefix(prefix) for name in settings.CELERY_QUEUE_NAMES), None)
