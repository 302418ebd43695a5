"""A maintainer's retry of a failed issuing run (the job monitor's **重试**): ``issue_run_reopen`` queues it again,
the retry is written to the audit trail, and the run's task is sent after commit. Nothing is issued twice: the run
issues only what is still invoiceable, so what the failed attempt committed is not issued again."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.http import HttpRequest

from invoicing.issuing.runs import issue_run_reopen
from invoicing.models import IssueRun, RunKind, RunStatus
from piaogen.audit import audit_record
from piaogen.models import User


def _enqueue(run_id: int) -> None:
    from invoicing.tasks import issue_daily  # the tasks module imports the issuing package

    issue_daily.delay(run_id)


@transaction.atomic
def issue_run_retry(*, run: IssueRun, user: User, request: HttpRequest | None = None) -> IssueRun:
    """Queue a failed daily or monthly run again and send its task once committed. Idempotent: a run that is not
    failed (a second click finds it queued) is returned as it is, with no audit row and no task."""
    locked = IssueRun.objects.select_for_update().get(pk=run.pk)
    if locked.status != RunStatus.FAILED or locked.kind not in (RunKind.DAILY, RunKind.MONTHLY):
        return locked
    before = {"message": locked.message}
    reopened = issue_run_reopen(run=locked)
    audit_record(actor=user, action="issue_run.retry", obj=reopened, before=before, request=request)
    transaction.on_commit(partial(_enqueue, reopened.pk))
    return reopened
