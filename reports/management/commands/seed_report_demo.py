"""`manage.py seed_report_demo [--if-empty]`: the demo's upload history, support tickets and searches, so every report
template opens on figures (reports/demo.py). Run after `seed_demo`; bin/run does."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from reports.demo import demo_activity_exists, demo_activity_seed


class Command(BaseCommand):
    help = "Add demo upload batches (through the real ingest), support tickets and searches for the report templates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="skip when any batch, ticket or search exists")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and demo_activity_exists():
            self.stdout.write("seed_report_demo: activity is already there, nothing added.")
            return
        started = time.monotonic()
        counts = demo_activity_seed(seed=options["seed"])
        summary = ", ".join(f"{count} {name}" for name, count in counts.items())
        self.stdout.write(f"seed_report_demo: {summary} in {time.monotonic() - started:.1f} s")
