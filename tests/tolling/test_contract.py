"""The upload contract as data, and the template files: they describe every column and upload back cleanly."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from ingest_fixtures import ingest, units_create
from openpyxl import load_workbook

from piaogen.models import Role, User
from tolling.contract import CONTRACT, column, columns_by_header, header_key, template_csv, template_xlsx
from tolling.models import UploadKind

KINDS = list(UploadKind.values)


def test_every_upload_kind_has_its_contract_with_unique_names_and_aliases() -> None:
    assert set(CONTRACT) == set(KINDS)
    for kind in KINDS:
        names = [c.name for c in CONTRACT[kind]]
        assert len(names) == len(set(names))
        assert len(columns_by_header(kind)) >= len(names) * 2  # every column has a Chinese alias
        for col in CONTRACT[kind]:
            assert col.description and col.alias and not col.alias.isascii()


def test_columns_are_found_by_name_and_labelled_with_alias_and_name() -> None:
    assert column("segments", "card_no").label == "ETC卡号（card_no）"
    with pytest.raises(KeyError):
        column("segments", "nope")


def test_header_keys_ignore_case_spaces_and_width() -> None:
    assert header_key(" Pass_ID ") == header_key("ｐａｓｓ＿ｉｄ") == "pass_id"
    assert header_key("里程（公里）") == header_key("里程(公里)")


@pytest.mark.parametrize("kind", KINDS)
def test_the_csv_template_has_a_bom_chinese_headers_and_a_sample_row(kind: str) -> None:
    content = template_csv(kind)

    assert content.startswith(b"\xef\xbb\xbf")
    header, sample, *rest = content[3:].decode("utf-8").splitlines()
    assert header.split(",") == [c.alias for c in CONTRACT[kind]]
    assert len(sample.split(",")) == len(CONTRACT[kind]) and rest == []


@pytest.mark.parametrize("kind", KINDS)
def test_the_xlsx_template_has_text_cells_and_a_sheet_describing_every_column(kind: str) -> None:
    workbook = load_workbook(io.BytesIO(template_xlsx(kind)))
    data, notes = workbook.worksheets

    assert [c.value for c in data[1]] == [c.alias for c in CONTRACT[kind]]
    assert all(c.number_format == "@" for c in data[2])
    assert notes.title == "说明"
    described = [r[1] for r in notes.iter_rows(min_row=2, values_only=True)]
    assert described == [c.name for c in CONTRACT[kind]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_template_uploads_back_cleanly(make_staff: Callable[..., User], kind: str, fmt: str) -> None:
    units_create()
    user = make_staff(Role.PROVINCE, "32", username="jiangsu")
    content = template_csv(kind) if fmt == "csv" else template_xlsx(kind)

    batch = ingest(user, kind, content, name=f"template.{fmt}")

    assert (batch.status, batch.rows_accepted, batch.rows_rejected, batch.message) == ("done", 1, 0, "")
