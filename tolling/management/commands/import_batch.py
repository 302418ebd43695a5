import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from piaogen.models import User
from tolling.importing import batch_process
from tolling.models import UploadBatch, UploadKind, UploadMode, UploadStatus
from tolling.services import upload_create

CLI_USERNAME = "cli-import"


class Command(BaseCommand):
    help = "Upload a toll data file for a province, process it (in this process), and print the counts."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--province", required=True, help="2-digit province code")
        parser.add_argument("--kind", required=True, choices=UploadKind.values)
        parser.add_argument(
            "--mode",
            choices=UploadMode.values,
            default=UploadMode.APPEND,
            help="correct: rows whose key is stored with other values replace the rows not yet invoiced",
        )
        parser.add_argument("--user", help="record the batch as uploaded by this console user (default: cli-import)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no such user: {options['user']}")
        else:  # an account that cannot log in, so the history says the batch came from the command line
            user, created = User.objects.get_or_create(username=CLI_USERNAME)
            if created:
                user.set_unusable_password()
                user.save()
        started = time.monotonic()
        try:
            with path.open("rb") as stream:
                batch = upload_create(
                    user=user,
                    kind=options["kind"],
                    file=stream,
                    file_name=path.name,
                    province=options["province"],
                    mode=options["mode"],
                )
        except (ValidationError, PermissionDenied) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise CommandError("; ".join(messages)) from exc
        # Process here; if a worker took the batch first, wait for it to finish instead.
        batch_process(batch_id=batch.pk)
        batch = UploadBatch.objects.get(pk=batch.pk)
        while batch.status in (UploadStatus.QUEUED, UploadStatus.RUNNING):
            time.sleep(0.5)
            batch.refresh_from_db()
        seconds = time.monotonic() - started
        self.stdout.write(
            f"batch #{batch.pk} {batch.kind} province={batch.province} status={batch.status} "
            f"rows={batch.rows_total} accepted={batch.rows_accepted} duplicate={batch.rows_duplicate} "
            f"rejected={batch.rows_rejected} conflict={batch.rows_conflict} corrected={batch.rows_corrected} "
            f"seconds={seconds:.1f}"
        )
        if batch.message:
            self.stdout.write(batch.message)
        if batch.rows_rejected:
            self.stdout.write(f"error file: {batch.error_file.path}")
        if batch.status != UploadStatus.DONE:
            raise CommandError(f"batch #{batch.pk} ended {batch.status}")
