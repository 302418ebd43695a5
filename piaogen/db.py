"""Telling a passing database fault from a real failure of the work.

Long jobs (upload batches, issuing runs) are resumable: a fault that is not the job's fault leaves the job running
with a stale heartbeat, and the stall sweeps hand it to another worker; any other error marks it failed for a
person to look at (docs/operations.md § Faults and recovery).
"""

from __future__ import annotations

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

# SQLSTATE classes: 08 connection exception; 57P operator intervention (shutdown, crash of another backend);
# 40001 serialization failure and 40P01 deadlock: the transaction lost a race and may simply be run again
TRANSIENT_SQLSTATES = ("08", "57P", "40001", "40P01")


def database_fault_is_transient(exc: BaseException) -> bool:
    """The connection broke (no SQLSTATE, class 08 or 57P) or the transaction lost a race (40001, 40P01)."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(TRANSIENT_SQLSTATES)


def session_connection() -> BaseDatabaseWrapper:
    """The connection for session-level state (advisory locks held across transactions): the primary past
    pgbouncer when DATABASE_URL goes through it in transaction pooling (the "direct" alias), else the usual one."""
    return connections["direct"] if "direct" in settings.DATABASES else connection
