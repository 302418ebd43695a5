"""Row codes (issue #19): every reason a rejected row carries comes with a machine-readable code, in the same order,
stored on the row, in the error file and in the rows API; the contract lists them all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from ingest_fixtures import csv_bytes, ingest, row, units_create

from piaogen.models import Role, User
from tolling.importing.validation import ROW_CODE_RE, cross_rules, kind_fields, row_codes
from tolling.models import RejectedRow, UploadKind

pytestmark = pytest.mark.django_db(transaction=True)  # the loader works on connections of its own


@pytest.fixture
def user(make_staff: Callable[..., User]) -> User:
    units_create()
    return make_staff(Role.PROVINCE, "32")


def codes_by_line(batch_id: int) -> dict[int, list[str]]:
    rows = RejectedRow.objects.filter(batch_id=batch_id).values_list("line_no", "reasons", "codes")
    assert all(len(reasons) == len(codes) for _line, reasons, codes in rows)  # one code per reason
    return {line: codes for line, _reasons, codes in rows}


@pytest.mark.django_db
def test_every_rule_of_every_kind_has_a_code_of_the_documented_shape() -> None:
    for kind in UploadKind.values:
        for field in kind_fields(kind):
            assert all(ROW_CODE_RE.fullmatch(f"{field.name}.{code}") for _c, _p, code in field.rules), field.name
        assert all(ROW_CODE_RE.fullmatch(code) for _c, _r, code in cross_rules(kind, "32")), kind
    listed = dict(row_codes())
    assert {"card_no.length", "exit_time.before_entry", "fee.mismatch", "row.conflict", "row.too_many_cells"} <= set(
        listed
    )
    assert "出口时间早于入口时间" in listed["exit_time.before_entry"]


def test_rejected_rows_carry_a_code_for_every_reason(user: User) -> None:
    rows = [
        row("segments", pass_id="A1", card_no="123", exit_time="2026-01-01 07:00:00"),
        row("segments", pass_id="A2", plate_color="8", pay_fee="-1", fee="x"),
        row("segments", pass_id="A3", plate=""),
    ]

    batch = ingest(user, "segments", csv_bytes(rows))

    assert codes_by_line(batch.pk) == {
        2: ["card_no.length", "exit_time.before_entry"],
        3: ["plate_color.invalid", "pay_fee.negative", "fee.format"],
        4: ["plate.required"],
    }


def test_a_changed_re_sent_row_is_a_conflict_by_code(user: User) -> None:
    ingest(user, "segments", csv_bytes([row("segments")]))

    batch = ingest(user, "segments", csv_bytes([row("segments", pay_fee="40.00", fee="38.00", discount_fee="2.00")]))

    assert codes_by_line(batch.pk) == {2: ["row.conflict"]}


def test_toll_unit_rows_carry_cross_column_codes(user: User) -> None:
    bad = row("toll_units", toll_unit="G0015330010010A0", road_nature="2", tax_rate="0.03")

    batch = ingest(user, "toll_units", csv_bytes([bad], kind="toll_units"))

    assert codes_by_line(batch.pk) == {2: ["toll_unit.other_province", "tax_rate.not_allowed"]}


@pytest.mark.django_db
def test_the_integration_guide_lists_every_row_code() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "integration.md").read_text()

    assert [code for code, _example in row_codes() if f"`{code}`" not in guide] == []
