"""``manage.py issue_invoices [--date YYYY-MM-DD] [--chunk N]``: run a daily issuing run in this process."""

from __future__ import annotations

import datetime as dt
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from invoicing.eligibility import beijing_today, trip_cutoff
from invoicing.issuing import DEFAULT_CHUNK, issue_run_create_daily, issue_run_daily
from invoicing.models import IssueRun, RunKind, RunStatus


class Command(BaseCommand):
    help = "Issue documents for everything invoiceable up to a business date (default: today − N days), in-process."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--date", help="business date YYYY-MM-DD (default: today − TRIP_INVOICEABLE_AFTER_DAYS)")
        parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help=f"items per transaction ({DEFAULT_CHUNK})")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            business_date = dt.date.fromisoformat(options["date"]) if options["date"] else trip_cutoff(beijing_today())
        except ValueError as exc:
            raise CommandError(f"--date must be YYYY-MM-DD: {options['date']}") from exc
        if options["chunk"] < 1:
            raise CommandError("--chunk must be at least 1")
        run, _created = issue_run_create_daily(business_date=business_date)
        if run.status in (RunStatus.DONE, RunStatus.FAILED):
            # a finished day can be run again: what became invoiceable since is picked up, nothing twice
            run = IssueRun.objects.create(kind=RunKind.DAILY, business_date=business_date, params={"manual": True})
        started = time.perf_counter()
        run = issue_run_daily(run_id=run.pk, chunk_size=options["chunk"])
        seconds = time.perf_counter() - started
        rate = run.documents_issued / seconds if seconds else 0.0
        self.stdout.write(
            f"issue_invoices: run #{run.pk} {run.status} for {business_date}: {run.items_done:,} items looked at, "
            f"{run.documents_issued:,} documents in {seconds:.2f} s ({rate:,.0f} documents/s)"
        )
