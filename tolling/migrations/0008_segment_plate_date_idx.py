"""``segment_plate_date_idx``: a plate's segments by date (statistics and record pages filtered by a plate, issue #13
item 7, ADR 0006 addendum). Without it a plate's statistics read every segment of the range (2–3 s at 10 M).

Built the way a partitioned table allows without stopping ingest (scale-notes rule 9): the index is made on the
parent only (``ON ONLY``: empty and invalid), each partition's index is built ``CONCURRENTLY`` (writes go on) and
attached; when every partition's is attached the parent's becomes valid, and partitions made later
(``manage.py partitions``) get it from the parent. Not atomic: a migration interrupted half-way is run again and
builds what is missing (``IF NOT EXISTS``; an invalid leftover of an interrupted concurrent build is dropped
first). Each partition's time is printed (the 10 M figure is in docs/benchmarks.md § Query statistics).
"""

# SQL is built from the constant names below and catalog names; there are no values from outside
# ruff: noqa: S608
import time

from django.db import migrations, models

TABLE, INDEX, COLUMNS = "tolling_segment", "segment_plate_date_idx", "plate, service_date"


def _say(verbosity: int, text: str) -> None:
    if verbosity:
        print(f"\n    {text}", end="", flush=True)


def _create(apps, schema_editor) -> None:
    verbosity = 0 if schema_editor.connection.settings_dict["NAME"].startswith("test_") else 1
    started = time.perf_counter()
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON ONLY {TABLE} ({COLUMNS})")
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [TABLE],
        )
        partitions = [row[0] for row in cursor.fetchall()]
        for partition in partitions:
            name = f"{partition}_plate_service_date_idx"[
                :63
            ]  # the name PostgreSQL gives it (pg_dump, bench/dataset.py)
            cursor.execute(
                "SELECT x.indisvalid FROM pg_class c JOIN pg_index x ON x.indexrelid = c.oid WHERE c.relname = %s",
                [name],
            )
            found = cursor.fetchone()
            if found is not None and not found[0]:  # an interrupted concurrent build leaves an invalid index
                cursor.execute(f'DROP INDEX CONCURRENTLY "{name}"')
            begun = time.perf_counter()
            cursor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON {partition} ({COLUMNS})')
            cursor.execute(
                "SELECT 1 FROM pg_inherits WHERE inhparent = %s::regclass AND inhrelid = %s::regclass",
                [INDEX, name],
            )
            if cursor.fetchone() is None:
                cursor.execute(f'ALTER INDEX {INDEX} ATTACH PARTITION "{name}"')
            if time.perf_counter() - begun > 1:
                _say(verbosity, f"{name}: {time.perf_counter() - begun:.1f} s")
    _say(verbosity, f"{INDEX} on {len(partitions)} partitions in {time.perf_counter() - started:.1f} s")


def _drop(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")  # the partitions' indexes go with it


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("tolling", "0007_partition_segments_and_topups"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(_create, _drop, elidable=False),
            ],
            state_operations=[
                migrations.AddIndex(
                    model_name="segment",
                    index=models.Index(fields=["plate", "service_date"], name="segment_plate_date_idx"),
                ),
            ],
        ),
    ]
