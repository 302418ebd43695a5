"""`manage.py rollup_reports [--rebuild]`: bring the report rollups up to date now (what beat does every 15 min)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from reports.models import RollupWatermark, UploadLateness
from reports.rollups import ROLLUPS, rollup_refresh


class Command(BaseCommand):
    help = "Refresh the report rollups (documents, uploads, support, traffic) from the watermark on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="forget the watermarks: recompute every day")
        parser.add_argument("--only", choices=sorted(ROLLUPS), help="one rollup only")

    def handle(self, *args: Any, **options: Any) -> None:
        names = [options["only"]] if options["only"] else list(ROLLUPS)
        if options["rebuild"]:
            RollupWatermark.objects.filter(name__in=names).delete()
            if "uploads" in names:  # upload lateness is counted with the uploads rollup, from its own watermarks
                RollupWatermark.objects.filter(name__startswith="lateness.").delete()
                UploadLateness.objects.all().delete()
        for name in names:
            started = time.monotonic()
            result = rollup_refresh(name=name)
            if result.skipped:
                self.stdout.write(f"{name}: another run holds the lock, skipped")
                continue
            span = f" ({result.days[0]} … {result.days[-1]})" if result.days else ""
            self.stdout.write(
                f"{name}: {len(result.days)} day(s) recomputed{span} in {time.monotonic() - started:.2f} s; "
                f"final through {result.final_through}"
            )
