"""``manage.py seed_demo``: the demo country, its traffic and people, and the demo logins (invoicing/demo.py)."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from invoicing.demo import DemoDataExists, demo_data_exists, demo_logins_create, demo_logins_table, demo_seed_timed


class Command(BaseCommand):
    help = "Seed demo data (all ETC provinces, operators, toll units, cards, customers, trips…) and demo logins."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--segments", type=int, default=20_000, help="trip segments to generate (default 20000)")
        parser.add_argument("--seed", type=int, default=2026, help="random seed: the same seed gives the same data")
        parser.add_argument("--reset", action="store_true", help="wipe the tolling and invoicing tables first")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when toll data is already there")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["segments"] < 1:
            raise CommandError("--segments must be at least 1")
        if options["if_empty"] and not options["reset"] and demo_data_exists():
            demo_logins_create(only_missing=True)
            self.stdout.write("seed_demo: data is already there, nothing seeded (use --reset to start over).")
            return
        try:
            counts, seconds = demo_seed_timed(
                segments=options["segments"], seed=options["seed"], reset=options["reset"]
            )
        except DemoDataExists as exc:
            raise CommandError(
                "toll data or customers already exist: run with --reset to wipe them, or --if-empty to skip"
            ) from exc
        demo_logins_create()
        total = sum(counts.values())
        width = max(len(name) for name in counts)
        self.stdout.write(f"seed_demo: seed {options['seed']}, {options['segments']:,} segments")
        for name, count in counts.items():
            self.stdout.write(f"  {name.ljust(width)}  {count:>10,}")
        self.stdout.write(f"  {'total'.ljust(width)}  {total:>10,}")
        self.stdout.write(
            f"done in {seconds:.1f} s: {counts['segments'] / seconds:,.0f} segments/s, {total / seconds:,.0f} rows/s"
        )
        self.stdout.write("\nDemo logins:\n" + demo_logins_table())
