"""Segments and top-ups become tables range-partitioned by ``service_date``, one partition per month (ADR 0010).

Hand-written SQL (scale-notes rule 9), Django's state kept in step: Django still sees ``id`` as the primary key;
the database's primary key is ``(id, service_date)`` and every unique key gains ``service_date`` (PostgreSQL
refuses a unique key on a partitioned table without the partition key). ``id`` keeps its numbers: PostgreSQL 15
has no identity columns on partitioned tables, so it takes its values from a sequence owned by the column, started
after the identity's last value.

An existing database is converted in place, one table at a time in this migration's transaction: a partitioned
table is made beside the old one with a partition for every month that has rows and for the months of the
retention window ahead and behind (``tolling.partitions``), the rows are copied (``INSERT … SELECT``, indexes
built after the copy), the old table dropped and the new one renamed; then the keys, foreign keys, checks and
indexes are put back from the old table's own catalog definitions. Each step's time is printed (the 10 M-row
figure is in ADR 0010). A ``DEFAULT`` partition takes rows of a month that has no partition yet
(``manage.py partitions`` moves them into their own partition when it makes it).

JIT compilation is turned off for the database: a plan over every partition of a table compiles one function per
partition and expression (1,325 for the daily issuing run's eligibility query: 50 s of JIT for a 10 s query,
ADR 0010). ``settings.py`` asks the same of every direct connection, for a database restored from a dump.
"""

# SQL is built from the constant table names below and catalog names; there are no values from outside
# ruff: noqa: S608
import datetime as dt
import time

from django.db import migrations, models

# table → its unique constraints (name → columns without the partition key)
TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "tolling_segment": {"segment_natural_key": ("pass_id", "segment_no")},
    "tolling_topup": {"topup_id_province_uniq": ("topup_id", "province")},
}
KEY = "service_date"
WINDOW_BEHIND, WINDOW_AHEAD = 36, 3  # months, as settings.PIAOGEN_PARTITION_RETENTION_MONTHS / _AHEAD_MONTHS


def _say(verbosity: int, text: str) -> None:
    if verbosity:
        print(f"\n    {text}", end="", flush=True)


def _month(day: dt.date, months: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _definitions(cursor, table: str) -> tuple[list[str], list[str]]:
    """The old table's foreign keys (as ADD CONSTRAINT clauses) and secondary indexes (as CREATE INDEX), by name."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'"
        " ORDER BY conname",
        [table],
    )
    foreign = [f'ADD CONSTRAINT "{name}" {definition}' for name, definition in cursor.fetchall()]
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k"
        " WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')) ORDER BY c.relname",
        [table],
    )
    # a partitioned table's own index reads ON ONLY: rebuilt, it must reach every partition
    indexes = [definition.replace(" ON ONLY ", " ON ") for (definition,) in cursor.fetchall()]
    return foreign, indexes


def _last_id(cursor, table: str) -> int:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    (sequence,) = cursor.fetchone()
    cursor.execute(f"SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence}")
    (last,) = cursor.fetchone()
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
    return max(last, cursor.fetchone()[0])


def _rebuild(cursor, table: str, uniques: dict[str, tuple[str, ...]], partitioned: bool, verbosity: int) -> None:
    started = time.perf_counter()
    foreign, indexes = _definitions(cursor, table)
    last = _last_id(cursor, table)
    new = f"{table}__rebuilt"
    cursor.execute(
        f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        + (f" PARTITION BY RANGE ({KEY})" if partitioned else "")
    )
    cursor.execute(f"ALTER TABLE {new} ALTER COLUMN id DROP DEFAULT")  # the sequence goes with the old table
    if partitioned:
        cursor.execute("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date")
        today = cursor.fetchone()[0]
        cursor.execute(f"SELECT DISTINCT date_trunc('month', {KEY})::date FROM {table}")
        months = {row[0] for row in cursor.fetchall()}
        months |= {_month(today, m) for m in range(-WINDOW_BEHIND, WINDOW_AHEAD + 1)}
        for month in sorted(months):
            cursor.execute(
                f"CREATE TABLE {table}_p{month:%Y_%m} PARTITION OF {new}"
                f" FOR VALUES FROM ('{month}') TO ('{_month(month, 1)}')"
            )
        cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {new} DEFAULT")
        _say(verbosity, f"{table}: {len(months)} monthly partitions and a default one")
    cursor.execute(f"INSERT INTO {new} SELECT * FROM {table}")
    rows = cursor.rowcount
    copied = time.perf_counter()
    _say(verbosity, f"{table}: {rows:,} rows copied in {copied - started:.1f} s")
    cursor.execute(f"DROP TABLE {table}")
    if partitioned:  # partitions made above are named after the table already; the default one too
        cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
        cursor.execute(f"CREATE SEQUENCE {table}_id_seq AS bigint START {last + 1} OWNED BY {table}.id")
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq')")
        primary = f"id, {KEY}"
    else:
        cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (START {last + 1})")
        primary = "id"
    cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ({primary})')
    for name, columns in uniques.items():
        keys = ", ".join(columns + ((KEY,) if partitioned else ()))
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" UNIQUE ({keys})')
    for statement in indexes:
        cursor.execute(statement)
    for clause in foreign:
        cursor.execute(f"ALTER TABLE {table} {clause}")
    cursor.execute(f"ANALYZE {table}")
    _say(verbosity, f"{table}: keys and indexes in {time.perf_counter() - copied:.1f} s")


def _partition(apps, schema_editor) -> None:
    verbosity = 0 if schema_editor.connection.settings_dict["NAME"].startswith("test_") else 1
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA IF NOT EXISTS archive")  # where detached partitions go
        for table, uniques in TABLES.items():
            _rebuild(cursor, table, uniques, partitioned=True, verbosity=verbosity)


def _unpartition(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        for table, uniques in TABLES.items():
            _rebuild(cursor, table, uniques, partitioned=False, verbosity=1)


class Migration(migrations.Migration):
    dependencies = [
        ("tolling", "0006_vehicle_plate_prefix_idx"),
    ]

    operations = [
        migrations.RunSQL(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = off', current_database()); END $$",
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET jit', current_database()); END $$",
            elidable=False,
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_partition, _unpartition, elidable=False)],
            state_operations=[
                migrations.RemoveConstraint(model_name="segment", name="segment_natural_key"),
                migrations.AddConstraint(
                    model_name="segment",
                    constraint=models.UniqueConstraint(
                        fields=("pass_id", "segment_no", "service_date"), name="segment_natural_key"
                    ),
                ),
                migrations.RemoveConstraint(model_name="topup", name="topup_id_province_uniq"),
                migrations.AddConstraint(
                    model_name="topup",
                    constraint=models.UniqueConstraint(
                        fields=("topup_id", "province", "service_date"), name="topup_id_province_uniq"
                    ),
                ),
            ],
        ),
    ]
