"""The vectorised check (polars) certifies only rows the SQL check finds valid, typed exactly as the SQL types them;
every other row goes to the SQL check, so reasons, codes and the error file are the SQL's."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from ingest_fixtures import OTHER_UNIT, UNIT, UNIT_LOAN, batch_make, csv_bytes, ingest, row, units_create

from piaogen.models import Role, User
from tolling.importing.chunks import CHECKED, chunks_read
from tolling.importing.loader import BEIJING, Loader, _staging_create
from tolling.models import RejectedRow, Segment, Trip, UploadBatch
from tolling.reading import table_open

pytestmark = pytest.mark.django_db(transaction=True)


def _settings() -> dict[str, Any]:
    return dict(settings.PIAOGEN)


@pytest.fixture(autouse=True)
def vectorised() -> Iterator[None]:
    with override_settings(PIAOGEN={**_settings(), "INGEST_VECTORISED": True}):
        yield


@pytest.fixture
def user(make_staff: Callable[..., User]) -> User:
    units_create()
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


def _rows() -> list[dict[str, str] | list[str]]:
    """Canonical rows and rows in every shape near a rule's edge, valid and not."""
    later = (dt.datetime.now(BEIJING) + dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    variants: list[dict[str, str]] = [
        {},
        {"segment_no": "2", "toll_unit": UNIT_LOAN},
        {"segment_no": "3", "exit_station": ""},
        {"segment_no": "32767", "pass_id": "A" * 40},
        {"segment_no": "4", "pass_id": "A" * 41},
        {"segment_no": "0"},
        {"segment_no": "32768"},
        {"segment_no": "05"},
        {"segment_no": "6", "plate": "苏a12345"},
        {"segment_no": "7", "plate": "苏A 12345"},
        {"segment_no": "8", "plate": "苏A123456789"},
        {"segment_no": "9", "plate": "苏A#1234"},
        {"segment_no": "10", "card_type": "022"},
        {"segment_no": "11", "card_type": "24"},
        {"segment_no": "12", "plate_color": "8"},
        {"segment_no": "13", "vehicle_class": "016"},
        {"segment_no": "14", "toll_unit": OTHER_UNIT},
        {"segment_no": "15", "toll_unit": "G0015320010010099"},
        {"segment_no": "16", "toll_unit": UNIT.lower()},
        {"segment_no": "17", "card_no": "00011901230000123456"},
        {"segment_no": "18", "card_no": "3201190123000012345"},
        {"segment_no": "19", "entry_time": "2026-01-01T08:00:00+08:00"},
        {"segment_no": "20", "exit_time": "2026-01-01 09:10:00Z"},
        {"segment_no": "21", "entry_time": "2026-02-29 08:00:00", "exit_time": "2026-02-29 09:00:00"},
        {"segment_no": "22", "entry_time": "2024-02-29 08:00:00", "exit_time": "2024-02-29 09:00:00"},
        {"segment_no": "23", "exit_time": "2026-01-01 07:59:59"},
        {"segment_no": "24", "exit_time": later},
        {"segment_no": "25", "entry_time": "2026-01-01 8:00:00"},
        {"segment_no": "26", "entry_time": "2026-01-01 24:00:00"},
        {"segment_no": "27", "pay_fee": "¥35.50"},
        {"segment_no": "28", "pay_fee": "35.5", "fee": "33.72"},
        {"segment_no": "29", "pay_fee": "35", "discount_fee": "0", "fee": "35"},
        {"segment_no": "30", "pay_fee": "0.00", "discount_fee": "0.00", "fee": "0.00"},
        {"segment_no": "31", "fee": "33.71"},
        {"segment_no": "32", "pay_fee": "-35.50"},
        {"segment_no": "33", "pay_fee": "1234567890123456.00"},
        {"segment_no": "34", "entry_station": "站" * 100, "exit_station": "站" * 100},
        {"segment_no": "35", "entry_station": "站" * 101},
        {"segment_no": "36", "entry_station": ""},
        {"segment_no": "37", "entry_station": '南京,"东"站'},
        {"segment_no": "38", "exit_station": " 无锡 "},
        {"segment_no": "1"},  # the key of the first row again: a duplicate in the file
        {"segment_no": "39", "card_no": "32011901230000654321"},  # the pass id with another card
    ]
    rows: list[dict[str, str] | list[str]] = [row("segments", **v) for v in variants]
    rows.append([*row("segments", segment_no="40").values(), "extra"])
    rows.append(list(row("segments", segment_no="41").values())[:-3])
    return rows


def _checked(cursor: Any) -> dict[int, tuple[Any, ...]]:
    cursor.execute(f"SELECT * FROM {CHECKED} ORDER BY line_no")  # noqa: S608 — a constant name
    return {r[0]: tuple(r) for r in cursor.fetchall()}


def test_certified_rows_are_typed_as_the_sql_types_them_and_the_others_get_the_sqls_reasons(user: User) -> None:
    content = csv_bytes(_rows())
    batch = batch_make(user, "segments", content)
    table = table_open(io.BytesIO(content), kind="segments")
    chunk = next(chunks_read(table, skip=0, size=1000))
    loader = Loader(batch, table, {})
    assert loader.precheck is not None
    now = dt.datetime.now(BEIJING).replace(tzinfo=None)
    by_sql: dict[int, tuple[Any, ...]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        _staging_create(loader.width)
        with cursor.copy("COPY ingest_stg FROM STDIN (FORMAT csv)") as copy:
            copy.write(chunk.data)
        cursor.execute(loader.check_sql, loader.check_params)
        by_sql = _checked(cursor)
        cursor.execute(f"DROP TABLE {CHECKED}")
        loader._check(cursor, chunk, now)
        mixed = _checked(cursor)
        cursor.execute("SELECT code, id FROM tolling_tollunit WHERE province = '32'")
        split = loader.precheck.split(chunk.data, dict(cursor.fetchall()), now)
    assert split is not None
    _certain, doubtful, certified = split
    assert mixed == by_sql  # every row: the same typed values, reasons and codes
    valid = {line for line, r in by_sql.items() if not r[-2]}
    assert set(doubtful) >= set(by_sql) - valid  # a row with a reason is never certified
    assert certified == len(set(by_sql) - set(doubtful)) >= 10  # the canonical ones are; ¥35.50, 苏a12345 … not
    assert 2 not in doubtful and 10 in doubtful


def test_an_upload_gives_the_same_rows_counts_and_error_file_with_and_without_the_vectorised_check(
    user: User,
) -> None:
    content = csv_bytes(_rows())
    results = []
    for vectorised in (False, True):
        with override_settings(PIAOGEN={**_settings(), "INGEST_VECTORISED": vectorised}):
            batch = ingest(user, "segments", content, chunk_rows=7)
        results.append(
            (
                (batch.rows_total, batch.rows_accepted, batch.rows_duplicate, batch.rows_rejected),
                list(RejectedRow.objects.filter(batch=batch).order_by("line_no").values_list("line_no", "reasons")),
                batch.error_file.read() if batch.error_file else b"",
                sorted(Segment.objects.filter(batch_id=batch.pk).values_list("pass_id", "segment_no", "fee")),
            )
        )
        if not vectorised:  # the second upload loads the same rows anew
            Segment.objects.filter(batch_id=batch.pk).delete()
            Trip.objects.all().delete()
    assert results[0] == results[1]
    assert results[1][0][1] > 10 and results[1][0][3] > 10


def test_a_chunk_polars_cannot_read_is_checked_wholly_in_sql(user: User) -> None:
    content = csv_bytes([row("segments")])
    table = table_open(io.BytesIO(content), kind="segments")
    loader = Loader(UploadBatch(kind="segments", province="32"), table, {})
    assert loader.precheck is not None
    assert loader.precheck.split(b'2,15,"unterminated\n', {}, dt.datetime.now()) is None
