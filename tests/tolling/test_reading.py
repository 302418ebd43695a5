"""Streaming readers: encodings, formats, headers, line numbers, cleaning."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from ingest_fixtures import csv_bytes, row, xlsx_bytes

from tolling.contract import CONTRACT
from tolling.reading import FileRefused, Table, cell_clean, fold, table_open, xlsx_cell_text

HEADER = [c.name for c in CONTRACT["segments"]]


def open_bytes(content: bytes, kind: str = "segments") -> Table:
    return table_open(io.BytesIO(content), kind=kind)


def test_it_reads_utf8_rows_with_line_numbers_as_excel_shows_them() -> None:
    table = open_bytes(csv_bytes([row("segments"), row("segments", segment_no="2")]))

    assert (table.format, table.encoding, table.header_line) == ("csv", "utf-8", 1)
    assert [(line, cells[1]) for line, cells in table.rows()] == [(2, "1"), (3, "2")]
    assert table.fields["pass_id"] == 0 and table.fields["fee"] == 14


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_it_detects_the_encoding_of_chinese_headers_and_cells(encoding: str) -> None:
    header = [c.alias for c in CONTRACT["segments"]]
    content = csv_bytes([list(row("segments").values())], header=header, encoding=encoding)

    table = open_bytes(content)

    assert table.encoding == ("gb18030" if encoding == "gbk" else encoding)
    assert table.header[0] == "通行标识" and set(table.fields) == set(HEADER)
    [(_line, cells)] = table.rows()
    assert cells[4] == "苏A12345" and cells[10] == "南京收费站"


def test_a_utf8_guess_from_an_ascii_prefix_falls_back_to_gb18030_for_the_whole_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tolling.reading.PREFIX_SIZE", 32)
    rows = [row("segments", pass_id=f"P{n}") for n in range(20)] + [row("segments", plate="浙B12345")]
    content = csv_bytes(rows, encoding="gb18030")

    table = open_bytes(content)

    assert table.encoding == "gb18030"
    assert list(table.rows())[-1][1][4] == "浙B12345"


def test_an_undecodable_file_is_refused() -> None:
    with pytest.raises(FileRefused, match="无法识别文件编码"):
        open_bytes(b"pass_id\r\n\x80\x80\x80\xff\r\n")


def test_xlsx_is_detected_by_content_and_read_streaming_with_gaps_numbered() -> None:
    content = xlsx_bytes([HEADER, list(row("segments").values()), [], [None] * 3, list(row("segments").values())])

    table = open_bytes(content)

    assert (table.format, table.encoding) == ("xlsx", "xlsx")
    assert [line for line, _cells in table.rows()] == [2, 5]


def test_xlsx_cells_read_as_upload_text() -> None:
    assert xlsx_cell_text(None) == ""
    assert xlsx_cell_text(3) == "3"
    assert xlsx_cell_text(35.5) == "35.5"
    assert xlsx_cell_text(35.0) == "35"
    assert xlsx_cell_text(0.1) == "0.1"
    assert xlsx_cell_text(dt.datetime(2026, 1, 1, 8, 0, 5)) == "2026-01-01 08:00:05"
    assert xlsx_cell_text(dt.date(2026, 1, 1)) == "2026-01-01"
    assert xlsx_cell_text(True) == "TRUE"


def test_headers_match_english_names_and_aliases_case_space_and_width_insensitively() -> None:
    header = ["PASS_ID", " 拆分 序号 ", "ＥＴＣ卡号", *HEADER[3:]]
    table = open_bytes(csv_bytes([row("segments")], header=header))

    assert table.fields["pass_id"] == 0 and table.fields["segment_no"] == 1 and table.fields["card_no"] == 2


def test_missing_required_columns_refuse_the_file_with_the_list() -> None:
    header = [h for h in HEADER if h not in {"fee", "plate"}]

    with pytest.raises(FileRefused) as refused:
        open_bytes(csv_bytes([], header=header))

    assert refused.value.message == "缺少必填列：车牌号（plate）、实收金额（fee）"


def test_unknown_columns_are_listed_and_error_file_columns_dropped_silently() -> None:
    header = ["备注", *HEADER, "行号", "错误原因"]
    table = open_bytes(csv_bytes([["x", *row("segments").values(), "7", "旧原因"]], header=header))

    assert table.ignored == ["备注"]
    assert table.header == ["备注", *HEADER]
    [(_line, cells)] = table.rows()
    assert cells[0] == "x" and cells[1:] == list(row("segments").values())


def test_trailing_unnamed_columns_left_by_excel_are_dropped() -> None:
    content = (",".join(HEADER) + ",,\r\n" + ",".join(row("segments").values()) + ",,\r\n").encode()

    table = open_bytes(content)

    assert table.header == HEADER and table.ignored == []
    assert [len(cells) for _line, cells in table.records()] == [15]


def test_blank_lines_and_comma_only_lines_are_skipped_but_numbered() -> None:
    content = csv_bytes([row("segments"), [], [""] * 15, ["  "], row("segments")])

    assert [line for line, _cells in open_bytes(content).rows()] == [2, 6]
    assert [line for line, _record in open_bytes(content).records()] == [2, 6]


def test_a_quoted_cell_may_span_lines_and_counts_as_one_row() -> None:
    values = list(row("segments").values())
    values[10] = "南京\n收费站"
    content = csv_bytes([values, row("segments")])

    records = list(open_bytes(content).records())

    assert [line for line, _r in records] == [2, 3]
    assert records[0][1][10] == "南京\n收费站"


def test_plain_records_pass_through_as_text_and_others_are_cleaned_cells() -> None:
    plain = list(row("segments").values())
    spaced = [f" {v} " for v in plain]
    neutralised = [*plain[:12], "'-1", *plain[13:]]
    content = csv_bytes([plain, spaced, neutralised])

    records = list(open_bytes(content).records())

    assert records[0] == (2, ",".join(plain))
    assert records[1] == (3, plain)
    assert records[2][1][12] == "-1"


def test_full_width_letters_digits_and_value_punctuation_are_folded_but_chinese_punctuation_kept() -> None:
    assert fold("ＡＢｃ１２３．５０－：＿＋　") == "ABc123.50-:_+ "
    assert fold("江苏（南京），有限公司") == "江苏（南京），有限公司"
    content = csv_bytes([row("segments", pass_id="Ｇ３２", exit_station="无锡（东）")])
    [(_line, record)] = open_bytes(content).records()
    assert isinstance(record, str) and record.startswith("G32,") and "无锡（东）" in record


def test_cells_are_cleaned_trimmed_and_unneutralised() -> None:
    assert cell_clean("  35.50 ") == "35.50"
    assert cell_clean("'=SUM(A1)") == "=SUM(A1)"
    assert cell_clean("'+86") == "+86"
    assert cell_clean("'-1") == "-1"
    assert cell_clean("'@x") == "@x"
    assert cell_clean("'abc") == "'abc"
    assert cell_clean("\u3000苏A12345\u3000") == "苏A12345"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "文件为空"),
        (b"\r\n  \r\n", "文件为空：没有表头和数据"),
        (b"\x00\x01\x02binary", "不是CSV或XLSX文件"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "不支持旧版Excel文件（.xls），请另存为XLSX或CSV后上传"),
        (b"PK\x03\x04not a workbook", "无法读取XLSX文件，请确认文件未损坏且为Excel工作簿（.xlsx）"),
    ],
)
def test_files_that_are_not_tables_are_refused(content: bytes, message: str) -> None:
    with pytest.raises(FileRefused) as refused:
        open_bytes(content)

    assert refused.value.message == message


def test_a_file_over_the_limit_is_refused(settings: object) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "UPLOAD_MAX_BYTES": 10}  # type: ignore[attr-defined]

    with pytest.raises(FileRefused, match="文件过大"):
        open_bytes(csv_bytes([row("segments")]))


def test_the_row_estimate_counts_lines_after_the_header() -> None:
    assert open_bytes(csv_bytes([row("segments")] * 5)).rows_estimate == 5


def test_reading_is_streamed_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tolling.reading.BLOCK_SIZE", 7)
    rows = [row("segments", pass_id=f"P{n}", plate="苏A1234" + str(n % 10)) for n in range(30)]

    records = list(open_bytes(csv_bytes(rows)).records())

    assert len(records) == 30 and records[-1][1] == ",".join(rows[-1].values())
