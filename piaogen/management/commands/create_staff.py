from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from piaogen.models import Role
from piaogen.services import api_token_issue, staff_upsert


class Command(BaseCommand):
    help = "Create or update a console user with a role (and a province for province staff)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--province", default="", help="2-digit province code (province staff, or a manager)")
        parser.add_argument("--password", help="set this password (otherwise the account cannot log in by password)")
        parser.add_argument("--api-token", action="store_true", help="issue an API token and print it once")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = staff_upsert(
                username=options["username"],
                role=options["role"],
                province=options["province"],
                password=options["password"],
            )
            self.stdout.write(f"{user.username}: role={user.role} province={user.province or '-'}")
            if options["api_token"]:
                _token, key = api_token_issue(user=user, name=f"{user.username} (create_staff)")
                self.stdout.write(f"API token: {key}")
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
