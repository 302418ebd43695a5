"""A maintainer's retry of a failed issuing run (the job monitor's **重试**): the kernel's retry (piaogen/jobs.py)
queues it again, writes the retry to the audit trail, and sends the run's task after commit. Nothing is issued
twice: the run issues only what is still invoiceable, so what the failed attempt committed is not issued again."""

from __future__ import annotations

from django.http import HttpRequest

from invoicing.jobs import RUNS
from invoicing.models import IssueRun
from piaogen.models import User


def issue_run_retry(*, run: IssueRun, user: User, request: HttpRequest | None = None) -> IssueRun:
    """Queue a failed daily or monthly run again and send its task once committed. Idempotent: a run that is not
    failed (a second click finds it queued) is returned as it is, with no audit row and no task."""
    retried = RUNS.retry(job=run, user=user, request=request)
    assert isinstance(retried, IssueRun)
    return retried
