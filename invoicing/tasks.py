"""Issuing tasks (queue ``issue``) and PDF rendering (queue ``pdf``, by the ``render_*`` route; the automatic
``deliver_documents`` after issuing is sent to ``pdf`` explicitly, as sending renders the PDF). Thin: load by id,
call a service; safe to run twice (runs are claimed by a conditional UPDATE, PDFs are rendered once, a document is
delivered automatically once)."""

from __future__ import annotations

from functools import partial

from celery import shared_task
from django.db import transaction

from invoicing.delivery import deliveries_ensure, delivery_attempt, delivery_ensure
from invoicing.eligibility import beijing_today, trip_cutoff
from invoicing.issuing import (
    issue_run_create_daily,
    issue_run_create_monthly,
    issue_run_execute,
    previous_month,
)
from invoicing.jobs import RUNS
from invoicing.models import Delivery, Document, RunStatus, SummarySheet


@shared_task(acks_late=True, reject_on_worker_lost=True)
def issue_daily(run_id: int) -> None:
    """Run an issuing run (daily or monthly, by its kind): claimed, so a second delivery of the task is a no-op."""
    issue_run_execute(run_id=run_id)


@shared_task
def issue_run_start_daily() -> int:
    """Beat, once a day: the run for business date today − N days (the day-7 rule), enqueued after commit."""
    with transaction.atomic():
        run, created = issue_run_create_daily(business_date=trip_cutoff(beijing_today()))
        if created or run.status == RunStatus.QUEUED:
            transaction.on_commit(partial(issue_daily.delay, run.pk))
    return run.pk


@shared_task
def issue_run_start_monthly() -> int:
    """Beat, once a month (``PIAOGEN_MONTHLY_MERGE_DAY``): the monthly merge of the previous calendar month
    (Beijing), enqueued after commit; one run per month, so a second beat finds it."""
    with transaction.atomic():
        run, created = issue_run_create_monthly(month=previous_month(beijing_today()))
        if created or run.status == RunStatus.QUEUED:
            transaction.on_commit(partial(issue_daily.delay, run.pk))
    return run.pk


@shared_task(acks_late=True, reject_on_worker_lost=True)
def render_document_pdf(document_id: int) -> None:
    from invoicing.pdf import document_pdf_ensure  # weasyprint loads only on the pdf workers

    document_pdf_ensure(document=Document.objects.get(pk=document_id))


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_document(document_id: int) -> None:
    """E-mail a newly issued document once (nothing when it has a delivery already or no address)."""
    delivery_ensure(document=Document.objects.get(pk=document_id))


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_documents(document_ids: list[int]) -> None:
    """E-mail newly issued documents once each (queued by issuing on queue ``pdf``, after commit)."""
    deliveries_ensure(document_ids=document_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_sheet(sheet_id: int) -> None:
    delivery_ensure(sheet=SummarySheet.objects.get(pk=sheet_id))


@shared_task(acks_late=True, reject_on_worker_lost=True)
def delivery_retry(delivery_id: int) -> None:
    """The next attempt of a failed delivery (scheduled with backoff); a claimed or finished one is left alone."""
    delivery_attempt(delivery=Delivery.objects.get(pk=delivery_id))


@shared_task
def issue_runs_resume_stalled() -> list[int]:
    """Beat, every minute: queue again the runs whose worker died (running, heartbeat stale)."""
    return RUNS.sweep()
