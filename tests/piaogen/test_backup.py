"""The backup and restore procedure (docs/operations.md): `bin/backup` then `bin/backup restore` gives back every
row of every table and every stored file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection

from piaogen.audit import audit_record
from piaogen.models import Role, User
from tolling.models import UploadBatch

ROOT = Path(settings.BASE_DIR)


def conninfo(name: str) -> str:
    db = connection.settings_dict
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"


def row_counts(name: str) -> dict[str, int]:
    with psycopg.connect(conninfo(name), autocommit=True) as conn:
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}  # type: ignore[index]  # noqa: S608


@pytest.fixture
def restored_name() -> Iterator[str]:
    name = connection.settings_dict["NAME"] + "_restored"
    yield name
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bin/backup", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_backup_restores_every_row_and_file(
    transactional_db: None, make_staff: Callable[..., User], tmp_path: Path, restored_name: str
) -> None:
    uploader = make_staff(Role.PROVINCE, "32", username="uploader")
    batch = UploadBatch(
        kind="segments", province="32", uploaded_by=uploader, file_name="a.csv", file_size=5, sha256="2" * 64
    )
    batch.file.save("a.csv", ContentFile(b"hello"), save=False)
    batch.save()
    audit_record(actor=uploader, action="upload.create", obj=batch, reason="备份演练")
    source = connection.settings_dict["NAME"]
    env = {"DATABASE_URL": conninfo(source), "MEDIA_ROOT": str(settings.MEDIA_ROOT)}

    made = run("--to", str(tmp_path / "backups"), **env)
    assert made.returncode == 0, made.stderr
    dump = next((tmp_path / "backups").glob("piaogen-*.dump"))

    media_to = tmp_path / "media"
    restored = run("restore", str(dump), "--into", conninfo(restored_name), "--media-to", str(media_to), **env)
    assert restored.returncode == 0, restored.stderr

    counts = row_counts(restored_name)
    assert counts == row_counts(source)
    assert counts["tolling_uploadbatch"] == 1 and counts["piaogen_auditevent"] == 1
    assert (media_to / str(batch.file.name)).read_bytes() == b"hello"

    # the restored audit trail is still append-only
    with psycopg.connect(conninfo(restored_name), autocommit=True) as conn, pytest.raises(psycopg.Error):
        conn.execute("UPDATE piaogen_auditevent SET reason = 'changed'")

    # restoring over a database that has data is refused without --force, and replaces it with --force
    again = run("restore", str(dump), "--into", conninfo(restored_name), "--media-to", str(media_to), **env)
    assert again.returncode != 0 and "not empty" in again.stderr
    forced = run("restore", str(dump), "--into", conninfo(restored_name), "--media-to", str(media_to), "--force")
    assert forced.returncode == 0, forced.stderr
    assert row_counts(restored_name) == counts


def test_a_media_archive_that_reaches_outside_its_folder_is_refused(
    transactional_db: None, tmp_path: Path, restored_name: str
) -> None:
    import io
    import tarfile

    source = connection.settings_dict["NAME"]
    env = {"DATABASE_URL": conninfo(source), "MEDIA_ROOT": str(tmp_path / "no-media")}
    assert run("--to", str(tmp_path), **env).returncode == 0
    dump = next(tmp_path.glob("piaogen-*.dump"))
    media = dump.with_name(dump.name.removesuffix(".dump") + ".media.tar.gz")
    with tarfile.open(media, "w:gz") as archive:
        evil = tarfile.TarInfo("../escaped.txt")
        evil.size = 4
        archive.addfile(evil, io.BytesIO(b"evil"))

    restored = run("restore", str(dump), "--into", conninfo(restored_name), "--media-to", str(tmp_path / "m"), **env)

    assert restored.returncode != 0 and "unsafe member '../escaped.txt'" in restored.stderr
    assert not (tmp_path / "escaped.txt").exists()
