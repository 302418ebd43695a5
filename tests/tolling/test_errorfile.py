"""The error file: original cells in the original order, 行号 and 错误原因, neutralised, CSV with BOM and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from ingest_fixtures import batch_make, csv_bytes, ingest, row, units_create
from openpyxl import load_workbook

from piaogen.models import Role, User
from tolling.contract import CONTRACT
from tolling.errorfile import error_file_rows, error_file_write, error_file_xlsx, neutralise
from tolling.models import RejectedRow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user(make_staff: Callable[..., User]) -> User:
    units_create()
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


def test_cells_that_would_run_as_formulas_are_neutralised() -> None:
    assert [neutralise(c) for c in ["=1+1", "+86", "-1", "@SUM", "苏A1", ""]] == [
        "'=1+1",
        "'+86",
        "'-1",
        "'@SUM",
        "苏A1",
        "",
    ]


def test_the_error_file_is_written_as_csv_with_a_bom_in_the_original_column_order(user: User) -> None:
    header = ["备注", *reversed([c.name for c in CONTRACT["segments"]])]
    bad = row("segments", plate_color="8", pay_fee="-1", fee="=1+1")
    batch = ingest(user, "segments", csv_bytes([{**bad, "备注": "@note"}], header=header))

    raw = batch.error_file.read()
    assert raw.startswith(b"\xef\xbb\xbf") and str(batch.error_file.name).endswith(f"{batch.pk}-errors.csv")
    lines = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"))))
    assert lines[0] == [*header, "行号", "错误原因", "错误代码"]
    assert lines[1][0] == "'@note" and lines[1][1] == "'=1+1" and lines[1][3] == "'-1"
    assert lines[1][-3] == "2"
    assert lines[1][-2].split("；") == [
        "车牌颜色（plate_color）：车牌颜色必须是0、1、2、3、4、5、6、7、9、11或12",
        "应收金额（pay_fee）：金额不能为负数",
        "实收金额（fee）：金额格式不正确：应为以元为单位的数字，如35或35.50",
    ]
    assert lines[1][-1].split(";") == ["plate_color.invalid", "pay_fee.negative", "fee.format"]


def test_a_batch_without_rejected_rows_has_no_error_file(user: User) -> None:
    batch = ingest(user, "segments", csv_bytes([row("segments")]))

    assert not batch.error_file


def test_the_xlsx_error_file_has_the_same_rows_and_no_formulas(user: User) -> None:
    batch = ingest(user, "segments", csv_bytes([row("segments", fee="=1+1"), row("segments", card_type="1")]))

    sheet = load_workbook(error_file_xlsx(batch), read_only=True).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]

    assert rows[0][-3:] == ["行号", "错误原因", "错误代码"]
    assert [r[-3] for r in rows[1:]] == ["2", "3"]
    assert [r[-1] for r in rows[1:]] == ["fee.format", "card_type.invalid"]
    assert rows[1][14] == "'=1+1"


def test_the_error_file_of_an_error_file_does_not_repeat_its_columns(user: User) -> None:
    first = ingest(user, "segments", csv_bytes([row("segments", card_type="1")]))
    second = ingest(user, "segments", first.error_file.read(), name="errors.csv")

    header = next(error_file_rows(second))
    assert header == [*(c.name for c in CONTRACT["segments"]), "行号", "错误原因", "错误代码"]
    assert second.rows_rejected == 1


def test_error_rows_stream_in_line_order_and_accept_cells_keyed_by_header(user: User) -> None:
    batch = batch_make(user, "segments", csv_bytes([row("segments")]))
    RejectedRow.objects.create(batch=batch, line_no=9, cells=["a", "b"], reasons=["x", "y"], codes=["a.b", "c.d"])
    RejectedRow.objects.create(batch=batch, line_no=3, cells={"pass_id": "P1", "fee": "-1"}, reasons=["z"])

    rows = list(error_file_rows(batch))

    assert [r[-3:] for r in rows[1:]] == [["3", "z", ""], ["9", "x；y", "a.b;c.d"]]
    assert rows[1][0] == "P1" and rows[1][14] == "'-1" and rows[2][:3] == ["a", "b", ""]
    error_file_write(batch=batch)
    batch.refresh_from_db()
    assert batch.error_file.read().decode("utf-8-sig").count("\r\n") == 3
