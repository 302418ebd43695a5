"""Segments and top-ups partitioned by month of service_date (ADR 0010): the schema, the maintenance (partitions made
ahead, the default partition emptied, expired partitions archived), loads across partitions through the upload
pipeline, keys that stay unique across dates, and lookups that prune to the date's partition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from ingest_fixtures import csv_bytes, ingest, row, units_create

from piaogen.models import Role, User
from tolling.models import RejectedRow, Segment, TopUp, Trip
from tolling.partitions import (
    PARTITIONED,
    month_start,
    partition_create,
    partition_detach,
    partition_name,
    partitions_maintain,
    partitions_of,
)

pytestmark = pytest.mark.django_db(transaction=True)  # the upload pipeline commits chunks on its own connection
# partition DDL would outlive a transactional test's flush: those tests run in a transaction that is rolled back
in_rolled_back_transaction = pytest.mark.django_db(transaction=False)


@pytest.fixture
def user(make_staff: Callable[..., User]) -> User:
    units_create()
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


def _one(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def _home(table: str, pk: int) -> str:
    """The partition (or archived table) holding row ``pk``."""
    return _one(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])  # noqa: S608


def _held() -> Any:
    """A connection of its own, standing for upload A's chunk: the test writes A's rows in its transaction."""
    import psycopg

    settings = connection.settings_dict
    return psycopg.connect(host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"])


def _stored_uncommitted() -> Any:
    """Upload A's chunk, from what the test stored: its segments and trips taken out, then written again in a
    transaction left open (the caller ends it: ``_race``)."""
    held = _held()
    held.execute("CREATE TEMP TABLE a_trips AS SELECT * FROM tolling_trip")
    held.execute("CREATE TEMP TABLE a_segments AS SELECT * FROM tolling_segment")
    held.execute("DELETE FROM tolling_segment")
    held.execute("DELETE FROM tolling_trip")
    held.commit()
    held.execute("INSERT INTO tolling_trip SELECT * FROM a_trips")
    held.execute("INSERT INTO tolling_segment SELECT * FROM a_segments")
    return held


def _race(held: Any, upload: Callable[[], Any]) -> Any:
    """Run ``upload`` (upload B) in a thread until it waits on a lock, then commit ``held`` (upload A) and return B's
    batch. ``held`` is closed whatever happens: its open transaction would block the test's clean-up."""
    import threading
    import time

    result: dict[str, Any] = {}

    def upload_b() -> None:
        try:
            result["batch"] = upload()
        finally:
            connection.close()

    thread = threading.Thread(target=upload_b)
    try:
        thread.start()
        deadline = time.monotonic() + 60
        with connection.cursor() as cursor:
            waiting = 0
            while not waiting:  # B waits for A
                assert thread.is_alive() and time.monotonic() < deadline, "upload B did not wait for A"
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
                waiting = cursor.fetchone()[0]
                time.sleep(0.05)
        held.commit()  # A commits
    finally:
        held.close()
        thread.join(60)
    return result["batch"]


def _segment_row(day: dt.date, **changes: str) -> dict[str, str]:
    # just after midnight: a row of today is not in the future whenever the suite runs (but in its first minute)
    return row("segments", entry_time=f"{day} 00:00:00", exit_time=f"{day} 00:01:00", **changes)


def _trip(pass_id: str, day: dt.date) -> Segment:
    """A stored segment (and its trip) of ``day``, written as the loader would."""
    segment = Segment.objects.create(
        pass_id=pass_id,
        segment_no=1,
        service_date=day,
        card_no="32011901230000123456",
        card_type=23,
        plate="苏A12345",
        plate_color=0,
        vehicle_class=1,
        toll_unit_id=_one("SELECT id FROM tolling_tollunit ORDER BY id LIMIT 1"),
        province="32",
        entry_time=timezone.make_aware(dt.datetime.combine(day, dt.time(8))),
        exit_time=timezone.make_aware(dt.datetime.combine(day, dt.time(9))),
        entry_station="南京",
        pay_fee=100,
        discount_fee=0,
        fee=100,
    )
    return segment


# --- the schema ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", PARTITIONED)
def test_the_table_is_partitioned_by_month_with_partitions_ahead_and_a_default_one(table: str) -> None:
    assert _one("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = %s::regclass", [table]) == "r"
    with connection.cursor() as cursor:
        partitions = partitions_of(cursor, table)
    months = {p.low for p in partitions}
    this_month = month_start(timezone.localdate())
    assert {month_start(this_month, m) for m in range(-36, 4)} <= months
    assert all(p.high == month_start(p.low, 1) for p in partitions if p.low)
    assert partitions[-1].name == f"{table}_default" and partitions[-1].low is None
    # every unique key carries the partition key; Django still sees id alone as the primary key
    keys = _one(
        "SELECT array_agg(pg_get_constraintdef(oid) ORDER BY conname) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
        [table],
    )
    assert keys and all("service_date" in key for key in keys), keys
    assert "PRIMARY KEY (id, service_date)" in keys


@in_rolled_back_transaction
def test_ids_keep_counting_from_the_sequence_and_a_row_is_found_by_its_id(user: User) -> None:
    first = _trip("G1", timezone.localdate())
    second = _trip("G2", timezone.localdate() - dt.timedelta(days=40))

    assert second.pk == first.pk + 1
    assert Segment.objects.get(pk=second.pk).pass_id == "G2"


# --- maintenance ---------------------------------------------------------------------------------------------------


@in_rolled_back_transaction
def test_maintenance_makes_partitions_ahead_and_a_second_run_does_nothing() -> None:
    today = dt.date(2031, 5, 20)

    done = partitions_maintain(today=today, ahead=2, retention=120)

    assert done.created == [
        (partition_name(table, month), 0) for table in PARTITIONED for month in month_start_range(today, 3)
    ]
    assert not done.detached
    assert partitions_maintain(today=today, ahead=2, retention=120).lines() == ["nothing to do"]


def month_start_range(today: dt.date, count: int) -> list[dt.date]:
    return [month_start(today, m) for m in range(count)]


@in_rolled_back_transaction
def test_a_row_of_a_month_without_a_partition_waits_in_the_default_one_and_moves_when_its_month_is_made(
    user: User,
) -> None:
    day = dt.date(2019, 3, 5)
    segment = _trip("G2019", day)
    assert _home("tolling_segment", segment.pk) == "tolling_segment_default"

    # months outside the window are reported, not made (they would be archived at once)
    done = partitions_maintain(today=timezone.localdate())
    assert done.left_in_default == {"tolling_segment": 1}
    assert not any("2019" in name for name, _moved in done.created)

    done = partitions_maintain(today=dt.date(2019, 3, 20), ahead=1, retention=200)

    assert ("tolling_segment_p2019_03", 1) in done.created and ("tolling_segment_p2019_04", 0) in done.created
    assert _home("tolling_segment", segment.pk) == "tolling_segment_p2019_03"
    assert _one("SELECT count(*) FROM tolling_segment_default") == 0
    moved = Segment.objects.get(pk=segment.pk)
    assert (moved.pass_id, moved.service_date, moved.fee) == ("G2019", day, 100)
    # the moved partition has the parent's indexes and keys
    assert _one("SELECT count(*) FROM pg_indexes WHERE tablename = 'tolling_segment_p2019_03'") == 5
    with pytest.raises(IntegrityError, match="pass_id, segment_no, service_date"), transaction.atomic():
        _trip("G2019", day)


@in_rolled_back_transaction
def test_partitions_past_the_retention_are_detached_into_the_archive_schema(user: User) -> None:
    today = timezone.localdate()
    old_day = month_start(today, -6)
    old = _trip("GOLD", old_day)
    recent = _trip("GNEW", today)

    done = partitions_maintain(today=today, retention=3)

    assert partition_name("tolling_segment", old_day) in done.detached
    assert partition_name("tolling_segment", month_start(today, -3)) not in done.detached
    assert list(Segment.objects.values_list("pk", flat=True)) == [recent.pk]
    archived = partition_name("tolling_segment", old_day)
    assert _one(f"SELECT pass_id FROM archive.{archived} WHERE id = %s", [old.pk]) == "GOLD"  # noqa: S608
    assert partitions_maintain(today=today, retention=3).detached == []
    # the archived table no longer depends on the live table's id sequence
    assert (
        _one(
            "SELECT count(*) FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'archive'"
        )
        == 0
    )


@in_rolled_back_transaction
def test_a_month_archived_twice_is_kept_under_a_second_name() -> None:
    month = month_start(timezone.localdate(), -30)
    name = partition_name("tolling_segment", month)
    with connection.cursor() as cursor:
        assert partition_detach(cursor, table="tolling_segment", name=name) == name
        partition_create(cursor, table="tolling_segment", month=month)  # the month again (a re-converted table)
        assert partition_detach(cursor, table="tolling_segment", name=name) == f"{name}_2"
    assert _one("SELECT count(*) FROM pg_tables WHERE schemaname = 'archive' AND tablename LIKE %s", [name + "%"]) == 2


@in_rolled_back_transaction
def test_the_command_maintains_and_lists_the_partitions(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("partitions", "--today", "2032-01-15", "--ahead", "0", "--retention", "200")
    assert "created tolling_segment_p2032_01 (0 rows moved from the default partition)" in capsys.readouterr().out

    call_command("partitions", "--list")
    assert "tolling_topup_p2032_01" in capsys.readouterr().out


@in_rolled_back_transaction
def test_the_maintenance_runs_daily_from_celery_beat(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["maintain-partitions"]
    assert entry["task"] == "tolling.tasks.partitions_maintain_task"
    from tolling.tasks import partitions_maintain_task

    assert all(isinstance(line, str) for line in partitions_maintain_task.run())


# --- loads through the upload pipeline ------------------------------------------------------------------------------


def test_one_upload_spanning_several_months_lands_each_row_in_its_months_partition(user: User) -> None:
    today = timezone.localdate()
    days = [month_start(today, -2) + dt.timedelta(days=3), month_start(today, -1) + dt.timedelta(days=9), today]
    rows = [
        _segment_row(day, pass_id=f"G32010120261125080001{n}", card_no=f"3201190123000012345{n}", plate=f"苏A1234{n}")
        for n, day in enumerate(days)
    ]
    rows.append(_segment_row(dt.date(2020, 2, 2), pass_id="G32010120200202080001", card_no="32011901230000123459"))

    batch = ingest(user, "segments", csv_bytes(rows), chunk_rows=2)

    assert (batch.status, batch.rows_accepted, batch.rows_rejected) == ("done", 4, 0)
    homes = {s.service_date: _home("tolling_segment", s.pk) for s in Segment.objects.all()}
    assert homes == {
        **{day: partition_name("tolling_segment", month_start(day)) for day in days},
        dt.date(2020, 2, 2): "tolling_segment_default",  # no partition that far back: kept, not refused
    }
    assert Trip.objects.count() == 4


def test_a_segment_key_sent_again_with_another_date_is_a_conflict_not_a_second_row(user: User) -> None:
    today = timezone.localdate()
    ingest(user, "segments", csv_bytes([_segment_row(month_start(today, -1))]))

    again = ingest(user, "segments", csv_bytes([_segment_row(today)]))  # same pass id and segment number

    assert (again.rows_accepted, again.rows_duplicate, again.rows_rejected, again.rows_conflict) == (0, 0, 1, 1)
    [reasons] = RejectedRow.objects.filter(batch=again).values_list("reasons", flat=True)
    assert reasons[0].startswith("冲突") and "出口时间" in reasons[0]
    assert Segment.objects.count() == 1 and Segment.objects.get().service_date == month_start(today, -1)


def test_two_uploads_racing_with_one_passage_on_two_dates_store_it_once(user: User) -> None:
    """ADR 0010 decision 3's race: upload A has stored the passage but not committed when upload B, with the same
    key on another date, checks its keys (and finds nothing); B's insert then waits on the trip's unique pass id,
    and when A commits, B checks its keys again and rejects the row as a conflict instead of storing it twice."""
    today = timezone.localdate()
    first = ingest(user, "segments", csv_bytes([_segment_row(month_start(today, -1))]))
    assert first.rows_accepted == 1
    held = _stored_uncommitted()

    # B's insert waits on the trip's unique pass id
    again = _race(held, lambda: ingest(user, "segments", csv_bytes([_segment_row(today)])))

    assert (again.status, again.rows_accepted, again.rows_rejected, again.rows_conflict) == ("done", 0, 1, 1)
    [reasons] = RejectedRow.objects.filter(batch=again).values_list("reasons", flat=True)
    assert reasons[0].startswith("冲突") and "出口时间" in reasons[0]
    assert Segment.objects.count() == 1 and Segment.objects.get().service_date == month_start(today, -1)


def test_two_uploads_racing_with_a_passage_sent_twice_in_a_chunk_on_two_dates_store_it_once(user: User) -> None:
    """The same race when upload B's file sends the passage twice (the same row again): its first row goes the
    fresh way too, waits on the trip's unique pass id, and B then rejects both rows as conflicts."""
    today = timezone.localdate()
    first = ingest(user, "segments", csv_bytes([_segment_row(month_start(today, -1))]))
    assert first.rows_accepted == 1
    held = _stored_uncommitted()

    again = _race(held, lambda: ingest(user, "segments", csv_bytes([_segment_row(today), _segment_row(today)])))

    assert (again.status, again.rows_accepted, again.rows_conflict, again.rows_duplicate) == ("done", 0, 2, 0)
    assert Segment.objects.count() == 1 and Segment.objects.get().service_date == month_start(today, -1)


def test_two_uploads_racing_with_a_registered_passages_segment_on_two_dates_store_it_once(user: User) -> None:
    """The same race for a passage already registered (its first segment stored earlier): upload A has stored its
    second segment (its trip locked, as the key check locks it) but not committed when upload B sends that segment on
    another date. B's key check waits on the trip A holds, and when A commits, B sees A's segment and rejects the
    row as a conflict instead of storing the segment twice."""
    today = timezone.localdate()
    earlier = month_start(today, -1)
    first = ingest(user, "segments", csv_bytes([_segment_row(earlier)]))
    assert first.rows_accepted == 1
    pass_id = Segment.objects.get().pass_id
    held = _held()  # upload A's chunk, in a transaction left open: the trip locked, its second segment stored
    held.execute("SELECT 1 FROM tolling_trip WHERE pass_id = %s FOR NO KEY UPDATE", [pass_id])  # conflicts_reject's
    held.execute(
        "INSERT INTO tolling_segment (pass_id, segment_no, service_date, card_no, card_type, plate, plate_color,"
        " vehicle_class, toll_unit_id, province, entry_time, exit_time, entry_station, exit_station, pay_fee,"
        " discount_fee, fee, batch_id) SELECT pass_id, 2, service_date, card_no, card_type, plate, plate_color,"
        " vehicle_class, toll_unit_id, province, entry_time, exit_time, entry_station, exit_station, pay_fee,"
        " discount_fee, fee, batch_id FROM tolling_segment WHERE pass_id = %s",
        [pass_id],
    )

    # B's key check waits on the trip
    again = _race(held, lambda: ingest(user, "segments", csv_bytes([_segment_row(today, segment_no="2")])))

    assert (again.status, again.rows_accepted, again.rows_rejected, again.rows_conflict) == ("done", 0, 1, 1)
    [reasons] = RejectedRow.objects.filter(batch=again).values_list("reasons", flat=True)
    assert reasons[0].startswith("冲突") and "出口时间" in reasons[0]
    assert list(Segment.objects.order_by("segment_no").values_list("segment_no", "service_date")) == [
        (1, earlier),
        (2, earlier),
    ]


def test_a_segment_key_twice_in_one_file_with_two_dates_keeps_the_first(user: User) -> None:
    today = timezone.localdate()
    rows = [_segment_row(month_start(today, -1)), _segment_row(today)]

    batch = ingest(user, "segments", csv_bytes(rows))

    assert (batch.rows_accepted, batch.rows_conflict) == (1, 1)
    assert Segment.objects.get().service_date == month_start(today, -1)


def test_a_topup_key_sent_again_with_another_date_is_a_conflict(user: User) -> None:
    today = timezone.localdate()
    first = row("topups", topped_up_at=f"{month_start(today, -1)} 10:00:00")
    batch = ingest(user, "topups", csv_bytes([first], kind="topups"))
    again = ingest(user, "topups", csv_bytes([row("topups", topped_up_at=f"{today} 00:01:00")], kind="topups"))

    assert batch.rows_accepted == 1
    assert (again.rows_accepted, again.rows_conflict) == (0, 1)
    assert TopUp.objects.count() == 1


# --- lookups -------------------------------------------------------------------------------------------------------


def test_two_uploads_racing_with_one_topup_on_two_dates_store_it_once(user: User) -> None:
    """Top-ups have no registry to wait on: upload A has stored a top-up but not committed when upload B sends it
    on another date; B's key check waits for A's chunk (one province's chunks check and load one at a time) and
    then rejects the row as a conflict instead of storing the top-up twice."""
    from tolling.importing.conflicts import keys_lock

    today = timezone.localdate()
    first = ingest(
        user, "topups", csv_bytes([row("topups", topped_up_at=f"{month_start(today, -1)} 10:00:00")], kind="topups")
    )
    assert first.rows_accepted == 1
    held = _held()  # upload A's chunk: its row taken out, then written again in a transaction left open, as loaded
    held.execute("CREATE TEMP TABLE a_topups AS SELECT * FROM tolling_topup")
    held.execute("DELETE FROM tolling_topup")
    held.commit()
    keys_lock(held.cursor(), "tolling_topup", first.province)
    held.execute("INSERT INTO tolling_topup SELECT * FROM a_topups")
    later = row("topups", topped_up_at=f"{today} 00:01:00")

    # B's key check waits for A's chunk
    again = _race(held, lambda: ingest(user, "topups", csv_bytes([later], kind="topups")))

    assert (again.status, again.rows_accepted, again.rows_conflict) == ("done", 0, 1)
    assert TopUp.objects.count() == 1 and TopUp.objects.get().service_date == month_start(today, -1)


def _plan(sql: str, params: list[Any]) -> str:
    with connection.cursor() as cursor:
        # the test tables are tiny: forbid the sequential scan so the plan shows whether an index can serve
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(line for (line,) in cursor.fetchall())


def _scanned(plan: str) -> set[str]:
    """The tables a plan reads (``… on <table> <alias>``); a bitmap index scan names its index there, and the
    bitmap heap scan above it the table."""
    return {
        line.split(" on ")[1].split()[0]
        for line in plan.splitlines()
        if " on " in line and "Bitmap Index Scan" not in line
    }


@in_rolled_back_transaction
def test_lookups_by_card_and_pass_id_use_an_index_and_prune_to_the_dates_partition() -> None:
    day = timezone.localdate()
    home = partition_name("tolling_segment", month_start(day))
    card = "32011901230000123456"

    by_card = _plan("SELECT * FROM tolling_segment WHERE card_no = %s AND service_date = %s", [card, day])
    assert _scanned(by_card) == {home} and "Index" in by_card and "Seq Scan" not in by_card, by_card

    by_pass = _plan("SELECT * FROM tolling_segment WHERE pass_id = %s AND service_date = %s", ["G1", day])
    assert _scanned(by_pass) == {home} and "Index" in by_pass and "Seq Scan" not in by_pass, by_pass

    window = _plan(
        "SELECT * FROM tolling_segment WHERE card_no = %s AND service_date >= %s AND service_date < %s",
        [card, month_start(day, -1), month_start(day, 1)],
    )
    assert _scanned(window) == {home, partition_name("tolling_segment", month_start(day, -1))}, window
    assert "Seq Scan" not in window

    # a pass id without its date (the trip registry knows it) still reads each partition through its index
    undated = _plan("SELECT * FROM tolling_segment WHERE pass_id = %s", ["G1"])
    assert len(_scanned(undated)) > 36 and "Seq Scan" not in undated, undated

    topups = _plan("SELECT * FROM tolling_topup WHERE card_no = %s AND service_date = %s", [card, day])
    home_topups = partition_name("tolling_topup", month_start(day))
    assert _scanned(topups) == {home_topups} and "Seq Scan" not in topups, topups
