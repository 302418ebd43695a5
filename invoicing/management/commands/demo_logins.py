"""``manage.py demo_logins``: print the demo logins (make run shows them at every start)."""

from typing import Any

from django.core.management.base import BaseCommand

from invoicing.demo import demo_logins_table


class Command(BaseCommand):
    help = "Print the demo logins, one per role."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Demo logins:\n" + demo_logins_table())
