"""``manage.py issue_invoices [--date YYYY-MM-DD] [--monthly [--month YYYY-MM]] [--chunk N]``: run the daily run
of a business date, or the monthly merge of a month, in this process. A business date whose trips are not
invoiceable yet (date + N days after the real Beijing date) is refused, as is a month in the future."""

from __future__ import annotations

import datetime as dt
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from invoicing.eligibility import beijing_today, trip_cutoff
from invoicing.issuing import (
    DEFAULT_CHUNK,
    issue_run_create_daily,
    issue_run_create_monthly,
    issue_run_execute,
    issue_run_reopen,
    previous_month,
)


def business_date_refusal(day: dt.date) -> str:
    """Why a daily run of business date ``day`` cannot run today ('' when it can): its trips become invoiceable on
    ``day`` + N (the day-7 rule), which must not lie after the real Beijing date."""
    today = beijing_today()
    latest = trip_cutoff(today)
    if day <= latest:
        return ""
    days = settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"]
    if day > today:
        why = f"--date {day.isoformat()} lies in the future (today is {today.isoformat()}, Beijing time)"
    else:
        cutoff = day + dt.timedelta(days=days)
        why = (
            f"--date {day.isoformat()}: its trips become invoiceable on {cutoff.isoformat()} ({days} days later), "
            f"which is after today ({today.isoformat()}, Beijing time)"
        )
    return f"{why}; the latest business date that can be issued today is {latest.isoformat()}"


class Command(BaseCommand):
    help = (
        "Issue documents for everything invoiceable up to a business date (default: today − N days), or with "
        "--monthly the monthly merge of a month (default: the previous month), in-process."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--date", help="business date YYYY-MM-DD (default: today − TRIP_INVOICEABLE_AFTER_DAYS)")
        parser.add_argument("--monthly", action="store_true", help="the monthly merge run instead of the daily run")
        parser.add_argument("--month", help="with --monthly: YYYY-MM (default: the previous calendar month)")
        parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help=f"items per transaction ({DEFAULT_CHUNK})")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["chunk"] < 1:
            raise CommandError("--chunk must be at least 1")
        if options["month"] and not options["monthly"]:
            raise CommandError("--month needs --monthly")
        if options["monthly"]:
            try:
                month = dt.date.fromisoformat(f"{options['month']}-01") if options["month"] else previous_month()
            except ValueError as exc:
                raise CommandError(f"--month must be YYYY-MM: {options['month']}") from exc
            if month > beijing_today():
                raise CommandError(
                    f"--month {month:%Y-%m} lies in the future (today is {beijing_today().isoformat()}, Beijing time)"
                )
            run, _created = issue_run_create_monthly(month=month)
            period = month.strftime("%Y-%m")
        else:
            try:
                day = dt.date.fromisoformat(options["date"]) if options["date"] else trip_cutoff(beijing_today())
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD: {options['date']}") from exc
            refused = business_date_refusal(day)
            if refused:
                raise CommandError(refused)
            run, _created = issue_run_create_daily(business_date=day)
            period = day.isoformat()
        # a finished period can be run again: what became invoiceable since is picked up, nothing twice
        run = issue_run_reopen(run=run)
        before = run.documents_issued
        started = time.perf_counter()
        run = issue_run_execute(run_id=run.pk, chunk_size=options["chunk"])
        seconds = time.perf_counter() - started
        issued = run.documents_issued - before
        rate = issued / seconds if seconds else 0.0
        self.stdout.write(
            f"issue_invoices: run #{run.pk} {run.kind} {run.status} for {period}: {run.items_done:,} items looked at, "
            f"{issued:,} documents in {seconds:.2f} s ({rate:,.0f} documents/s)"
        )
