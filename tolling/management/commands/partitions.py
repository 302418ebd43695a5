import datetime as dt
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from tolling.partitions import PARTITIONED, partitions_maintain, partitions_of


class Command(BaseCommand):
    help = (
        "Maintain the monthly partitions of the fact tables (ADR 0010): make them ahead, move rows out of the "
        "default partition, detach expired ones to the archive schema. --list shows them."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--ahead", type=int, help="months made ahead (default PIAOGEN_PARTITION_AHEAD_MONTHS)")
        parser.add_argument(
            "--retention", type=int, help="months kept before this one (default PIAOGEN_PARTITION_RETENTION_MONTHS)"
        )
        parser.add_argument("--today", type=dt.date.fromisoformat, help="act as on this Beijing date (YYYY-MM-DD)")
        parser.add_argument("--list", action="store_true", help="only list the partitions and their rows")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            with connection.cursor() as cursor:
                for table in PARTITIONED:
                    for partition in partitions_of(cursor, table):
                        cursor.execute(f'SELECT count(*) FROM "{partition.name}"')  # noqa: S608 (catalog names)
                        bound = f"{partition.low} … {partition.high}" if partition.low else "DEFAULT"
                        self.stdout.write(f"{partition.name:<32} {bound:<26} {cursor.fetchone()[0]:>12,} rows")
            return
        done = partitions_maintain(
            today=options["today"] or timezone.localdate(), ahead=options["ahead"], retention=options["retention"]
        )
        for line in done.lines():
            self.stdout.write(line)
