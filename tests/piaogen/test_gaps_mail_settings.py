"""The development mailbox: ``EMAIL_URL=filemail:///abs/path`` writes to that absolute folder (django-environ alone
drops the leading "/", which put dev mail under ``./work/main/var/mail`` relative to wherever the process ran),
a relative ``filemail://var/mail`` lands under the repository, and the default is ``<repo>/var/mail``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from piaogen.settings import BASE_DIR, email_config

FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


def test_an_absolute_filemail_path_stays_absolute() -> None:
    config = email_config("filemail:///srv/piaogen/var/mail")
    assert (config["EMAIL_BACKEND"], config["EMAIL_FILE_PATH"]) == (FILE_BACKEND, "/srv/piaogen/var/mail")
    assert email_config("filemail:////srv/mail")["EMAIL_FILE_PATH"] == "/srv/mail"  # the old workaround still works


def test_a_relative_filemail_path_lands_under_the_repository() -> None:
    assert email_config("filemail://var/mail")["EMAIL_FILE_PATH"] == str(BASE_DIR / "var" / "mail")
    assert email_config("filemail://")["EMAIL_FILE_PATH"] == str(BASE_DIR / "var" / "mail")
    assert email_config("filemail://var/mail", base_dir=Path("/opt/app"))["EMAIL_FILE_PATH"] == "/opt/app/var/mail"


def test_other_backends_are_read_as_django_environ_reads_them() -> None:
    smtp = email_config("smtp+tls://user:secret@smtp.example.com:587")
    assert (smtp["EMAIL_HOST"], smtp["EMAIL_PORT"], smtp["EMAIL_USE_TLS"]) == ("smtp.example.com", 587, True)
    assert (smtp["EMAIL_HOST_USER"], smtp["EMAIL_HOST_PASSWORD"], smtp["EMAIL_FILE_PATH"]) == ("user", "secret", "")
    assert email_config("consolemail://")["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def read_mail_settings(tmp_path: Path, **env: str) -> list[str]:
    """EMAIL_BACKEND and EMAIL_FILE_PATH as a fresh process started in ``tmp_path`` reads them from the environment."""
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND); print(s.EMAIL_FILE_PATH)"
    )
    environment = {k: v for k, v in os.environ.items() if k != "EMAIL_URL"}
    environment.update(DJANGO_SETTINGS_MODULE="piaogen.settings", PYTHONPATH=str(BASE_DIR), **env)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=environment, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_the_settings_put_dev_mail_in_the_repositorys_var_mail_whatever_the_working_folder(tmp_path: Path) -> None:
    assert read_mail_settings(tmp_path) == [FILE_BACKEND, str(BASE_DIR / "var" / "mail")]
    mailbox = tmp_path / "mailbox"
    assert read_mail_settings(tmp_path, EMAIL_URL=f"filemail://{mailbox}") == [FILE_BACKEND, str(mailbox)]
