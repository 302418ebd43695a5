"""Hostile uploads through the real path (API or page → the ingest task): every one ends as a clean refusal with a
Chinese message, or as row-level rejections — never a server error, a failed batch, a hang or a memory blow-up.

Memory is measured with tracemalloc around the ingest (the test's own copy of the file is allocated before): a
refusal reads at most a few blocks of the file, whatever it claims to contain.
"""

from __future__ import annotations

import io
import os
import re
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_fixtures import UNIT, VALID, csv_bytes, row, units_create, xlsx_bytes
from rest_framework.test import APIClient

from piaogen.models import Role, User
from piaogen.services import api_token_issue
from tolling.contract import CONTRACT
from tolling.errorfile import neutralise
from tolling.importing.chunks import chunks_read
from tolling.models import UploadBatch, UploadStatus
from tolling.reading import MAX_COLUMNS, MAX_LINE_BYTES, XLSX_MAX_RATIO, FileRefused, cell_clean, table_open
from tolling.tasks import ingest_batch

pytestmark = pytest.mark.django_db(transaction=True)

MiB = 1 << 20
CHINESE = re.compile("[\u4e00-\u9fff]")
HEADER = ",".join(c.name for c in CONTRACT["segments"]).encode()
GOOD_ROW = ",".join(VALID["segments"][c.name] for c in CONTRACT["segments"]).encode()


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    units_create()
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


@pytest.fixture
def api(jiangsu: User) -> APIClient:
    _token, key = api_token_issue(user=jiangsu, name="江苏省级系统")
    return APIClient(HTTP_AUTHORIZATION=f"Token {key}")


def upload(api: APIClient, content: bytes, *, name: str = "upload.csv", kind: str = "segments") -> tuple[Any, int]:
    """POST the file as a provincial system does, run the worker's task on it; (batch, peak bytes allocated)."""
    response = api.post(
        "/api/v1/uploads/", {"kind": kind, "file": SimpleUploadedFile(name, content)}, format="multipart"
    )
    assert response.status_code == 202, response.content
    tracemalloc.start()
    try:
        ingest_batch(response.json()["id"])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    detail = api.get(f"/api/v1/uploads/{response.json()['id']}/")
    assert detail.status_code == 200
    return detail.json(), peak


def assert_refused(batch: dict[str, Any], *fragments: str) -> None:
    assert batch["status"] == UploadStatus.REFUSED, batch
    assert CHINESE.search(batch["message"]), batch["message"]
    for fragment in fragments:
        assert fragment in batch["message"]
    assert batch["rows_accepted"] == batch["rows_rejected"] == 0


def rows(count: int) -> bytes:
    return (GOOD_ROW + b"\n") * count


# --- CSV -----------------------------------------------------------------------------------------------------------


def test_an_unclosed_quote_that_would_swallow_the_rest_of_the_file_is_refused_at_its_line(api: APIClient) -> None:
    content = HEADER + b"\n" + rows(1) + b'"G9,1,unclosed\n' + rows(20_000)  # 20,000 rows ≈ 2.6 MB after the quote

    batch, peak = upload(api, content)

    assert_refused(batch, "第3行", "双引号未闭合")
    assert peak < 16 * MiB


def test_a_literal_quote_inside_a_cell_does_not_swallow_the_lines_after_it(api: APIClient) -> None:
    inch = GOOD_ROW.replace(b"\xe5\x8d\x97\xe4\xba\xac", b'5"')  # 南京收费站 → 5"收费站: one quote, mid-cell
    content = HEADER + b"\n" + inch + b"\r\n" + rows(1).replace(b"G320", b"G321")

    batch, _peak = upload(api, content)

    assert batch["status"] == UploadStatus.DONE, batch
    assert (batch["rows_done"], batch["rows_accepted"]) == (2, 2)


def test_an_unclosed_quote_near_the_end_of_a_small_file_ends_as_one_rejected_row(api: APIClient) -> None:
    content = HEADER + b"\n" + rows(1) + b'G322,"1,x\n' + rows(2).replace(b"G320", b"G323")

    batch, _peak = upload(api, content)

    assert batch["status"] == UploadStatus.DONE, batch
    assert (batch["rows_accepted"], batch["rows_rejected"]) == (1, 1)  # the quote swallowed the last two lines


def test_a_10_mb_cell_is_refused_without_reading_it_into_memory(api: APIClient) -> None:
    content = HEADER + b"\n" + b"G1,1," + b"A" * 10_000_000 + b"," + rows(1)

    batch, peak = upload(api, content)

    assert_refused(batch, "第2行", f"{MAX_LINE_BYTES:,}")
    assert peak < 16 * MiB


def test_a_10_mb_quoted_cell_spanning_many_lines_is_refused(api: APIClient) -> None:
    content = HEADER + b"\n" + b'G1,1,"' + (b"A" * 99 + b"\n") * 100_000 + b'",' + rows(1)

    batch, peak = upload(api, content)

    assert_refused(batch, "第2行", "双引号未闭合")
    assert peak < 16 * MiB


def test_a_header_of_10_million_columns_is_refused(api: APIClient) -> None:
    content = HEADER + b"," * 10_000_000 + b"\n" + rows(1)

    batch, peak = upload(api, content)

    assert_refused(batch, "第1行", "表头")
    assert peak < 16 * MiB


def test_a_header_wider_than_the_staging_table_allows_is_refused_with_the_count(api: APIClient) -> None:
    wide = HEADER + b"".join(b",extra%d" % i for i in range(MAX_COLUMNS + 500))

    batch, _peak = upload(api, wide + b"\n" + rows(1))

    assert_refused(batch, f"{len(CONTRACT['segments']) + MAX_COLUMNS + 500:,}列", f"上限{MAX_COLUMNS}列")


@pytest.mark.parametrize("rows_count", [100, 20_000], ids=["small", "over-a-block"])
def test_a_file_with_old_mac_line_endings_is_refused_cleanly(rows_count: int) -> None:
    """Lone CRs are not in the contract (RFC 4180: CRLF or LF); such a file was a server error before."""
    content = HEADER + b"\r" + b"".join(GOOD_ROW.replace(b"G320", b"G%07d" % i) + b"\r" for i in range(rows_count))

    with pytest.raises(FileRefused) as refused:
        table_open(io.BytesIO(content), kind="segments")

    assert "第1行" in refused.value.message


def test_a_line_of_10_million_characters_is_refused_at_its_line(api: APIClient) -> None:
    content = HEADER + b"\n" + rows(2) + b"x" * 10_000_000 + b"\n" + rows(1)

    batch, peak = upload(api, content)

    assert_refused(batch, "第4行")
    assert peak < 16 * MiB


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(os.urandom(256 * 1024), id="random-bytes"),
        pytest.param(b"\x7fELF\x02\x01\x01\x00" + os.urandom(4096), id="an-executable"),
        pytest.param(HEADER + b"\n\x00\x00\x00" + rows(1), id="nul-bytes-near-the-start"),
    ],
)
def test_binary_data_is_refused_as_not_a_table(api: APIClient, content: bytes) -> None:
    batch, _peak = upload(api, content)

    assert batch["status"] == UploadStatus.REFUSED
    assert batch["message"] in ("不是CSV或XLSX文件", "无法识别文件编码：CSV文件须为UTF-8（可带BOM）或GB18030/GBK编码")


def test_nul_bytes_deep_in_a_file_are_dropped_and_the_rows_judged_one_by_one(api: APIClient) -> None:
    filler = b"".join(
        csv_bytes([row("segments", pass_id=f"P{i}")]).split(b"\r\n", 1)[1] for i in range(700)
    )  # > 64 KiB: the NULs are beyond the sniffed prefix
    content = HEADER + b"\n" + filler + b"P9\x00\x00,1,\x00" + b"\n"

    batch, _peak = upload(api, content)

    assert batch["status"] == UploadStatus.DONE, batch
    assert batch["rows_accepted"] == 700
    assert batch["rows_rejected"] == 1


def test_a_file_mixing_utf8_and_gbk_lines_is_refused_with_the_encodings_it_accepts(api: APIClient) -> None:
    utf8 = csv_bytes([row("segments", entry_station="南京收费站")])
    gbk_row = csv_bytes([row("segments", pass_id="G2", entry_station="无锡收费站")], encoding="gbk").split(b"\r\n", 1)
    content = utf8 + gbk_row[1]

    batch, _peak = upload(api, content)

    assert_refused(batch, "UTF-8", "GB18030")


def test_the_console_page_refuses_a_hostile_file_the_same_way(jiangsu: User, client_for: Any) -> None:
    client = client_for(jiangsu)
    content = HEADER + b"," * 10_000_000 + b"\n"

    response = client.post("/uploads/new/", {"kind": "segments", "file": SimpleUploadedFile("宽表头.csv", content)})
    assert response.status_code == 302
    batch = UploadBatch.objects.get()
    ingest_batch(batch.pk)

    page = client.get(response["Location"])
    batch.refresh_from_db()
    assert batch.status == UploadStatus.REFUSED
    assert page.status_code == 200
    assert "第1行超过" in page.content.decode()


_PIECES = [
    b",",
    b'"',
    b"\n",
    b"\r\n",
    b"\x00",
    b"'=",
    b"=1+1",
    b" ",
    b"\t",
    b"G1",
    b"35.50",
    b"\xe8\x8b\x8f",
    b"\xcb\xd5",
    b"\xff",
]


@given(
    st.one_of(
        st.binary(max_size=2048),
        st.lists(st.sampled_from(_PIECES), max_size=400).map(lambda parts: HEADER + b"\n" + b"".join(parts)),
    )
)
@settings(max_examples=300, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_reader_refuses_cleanly_or_reads_rows_whatever_the_bytes(content: bytes) -> None:
    try:
        table = table_open(io.BytesIO(content), kind="segments")
        chunks = list(chunks_read(table, skip=0, size=50))
    except FileRefused as refused:
        assert CHINESE.search(refused.message)
    else:
        assert all(chunk.rows > 0 and chunk.data.decode() for chunk in chunks)


def test_formula_neutralising_covers_tab_and_carriage_return_and_round_trips() -> None:
    for cell in ("=1+1", "+1", "-1+1", "@SUM(1)", "\t=1", "\r=1"):
        assert neutralise(cell) == "'" + cell
    assert neutralise("苏A12345") == "苏A12345"
    assert cell_clean(neutralise("=HYPERLINK(1)")) == "=HYPERLINK(1)"


# --- XLSX ----------------------------------------------------------------------------------------------------------


def _deflate(data: bytes, *, final: bool) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


def _zip(parts: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of already deflated parts: (name, raw deflate data, declared inflated size, CRC-32)."""
    out, central = io.BytesIO(), []
    for name, data, size, crc in parts:
        offset, encoded = out.tell(), name.encode()
        out.write(struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0))
        out.write(encoded + data)
        entry = (b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0, 0, 0, 0, 0, offset)
        central.append(struct.pack("<4s6H3I5H2I", *entry) + encoded)
    start = out.tell()
    out.write(b"".join(central))
    out.write(struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(parts), len(parts), out.tell() - start, start, 0))
    return out.getvalue()


def xlsx_bomb(inflated: int, *, declared: int | None = None) -> bytes:
    """A real XLSX whose sheet inflates to ``inflated`` bytes (a sheet of whitespace: valid XML a reader would churn
    through); built in milliseconds by repeating one full-flushed deflate block of 16 MiB of zeros-like filler.
    ``declared``: the size the zip claims for the sheet (a bomb that lies)."""
    template = zipfile.ZipFile(io.BytesIO(xlsx_bytes([[c.name for c in CONTRACT["segments"]]])))
    parts = []
    for name in template.namelist():
        data = template.read(name)
        if name != "xl/worksheets/sheet1.xml":
            parts.append((name, _deflate(data, final=True), len(data), zlib.crc32(data)))
            continue
        head = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        tail = b"</sheetData></worksheet>"
        block = b" " * (16 * MiB)
        count = (inflated - len(head) - len(tail)) // len(block)
        crc = zlib.crc32(head)
        for _ in range(count):
            crc = zlib.crc32(block, crc)
        crc = zlib.crc32(tail, crc)
        stream = _deflate(head, final=False) + _deflate(block, final=False) * count + _deflate(tail, final=True)
        size = len(head) + count * len(block) + len(tail)
        parts.append((name, stream, size if declared is None else declared, crc))
    return _zip(parts)


def test_an_xlsx_zip_bomb_is_refused_by_its_declared_size_without_inflating_it(api: APIClient) -> None:
    bomb = xlsx_bomb(2 << 30)  # 2 GiB of sheet in a ~2 MB file
    assert len(bomb) < 4 * MiB
    assert zipfile.ZipFile(io.BytesIO(bomb)).getinfo("xl/worksheets/sheet1.xml").file_size > XLSX_MAX_RATIO * len(bomb)

    batch, peak = upload(api, bomb, name="炸弹.xlsx")

    assert_refused(batch, "压缩炸弹")
    assert peak < 16 * MiB


def test_an_xlsx_that_lies_about_its_inflated_size_is_refused_once_its_part_runs_past_it(api: APIClient) -> None:
    liar = xlsx_bomb(256 * MiB, declared=64 * 1024)

    batch, peak = upload(api, liar, name="说谎.xlsx")

    assert_refused(batch, "XLSX")
    assert peak < 16 * MiB


def test_an_xlsx_declaring_the_widest_sheet_excel_allows_is_read_by_its_real_cells() -> None:
    names = [c.name for c in CONTRACT["segments"]]
    book = zipfile.ZipFile(io.BytesIO(xlsx_bytes([names, [VALID["segments"][n] for n in names]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as wide:
        for name in book.namelist():
            data = book.read(name)
            if name == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="A1:XFD1048576"/>', data)
            wide.writestr(name, data)

    table = table_open(io.BytesIO(out.getvalue()), kind="segments")

    assert len(table.header) == len(names)
    assert [len(cells) for _line, cells in table.rows()] == [len(names)]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"PK\x03\x04" + os.urandom(64 * 1024), id="a-zip-signature-then-garbage"),
        pytest.param(b"PK\x03\x04" + b"\x00" * 26, id="a-truncated-zip"),
        pytest.param(_zip([("hello.txt", _deflate(b"hi", final=True), 2, zlib.crc32(b"hi"))]), id="a-zip-not-a-book"),
    ],
)
def test_an_xlsx_that_is_not_a_workbook_is_refused(api: APIClient, content: bytes) -> None:
    batch, _peak = upload(api, content, name="坏的.xlsx")

    assert_refused(batch, "XLSX")


def test_an_xlsx_with_a_huge_cell_ends_as_a_row_rejection(api: APIClient) -> None:
    names = [c.name for c in CONTRACT["segments"]]
    huge = row("segments", plate="苏" + "A" * 2_000_000)
    content = xlsx_bytes(
        [names, [huge[n] for n in names], [row("segments", pass_id="G2", toll_unit=UNIT)[n] for n in names]]
    )

    batch, _peak = upload(api, content, name="大单元格.xlsx")

    assert batch["status"] == UploadStatus.DONE, batch
    assert (batch["rows_accepted"], batch["rows_rejected"]) == (1, 1)


# --- a real worker -------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_real_worker_refuses_a_run_of_hostile_files_and_then_ingests_a_good_one(
    api: APIClient, celery_worker_process: Any
) -> None:
    hostile = [
        ("炸弹.xlsx", xlsx_bomb(2 << 30)),
        ("宽表头.csv", HEADER + b"," * 10_000_000 + b"\n" + rows(1)),
        ("引号.csv", HEADER + b"\n" + b'"G9,1,x\n' + rows(20_000)),
        ("二进制.csv", os.urandom(512 * 1024)),
    ]
    ids = []
    for name, content in [*hostile, ("好的.csv", HEADER + b"\n" + rows(1))]:
        response = api.post(
            "/api/v1/uploads/", {"kind": "segments", "file": SimpleUploadedFile(name, content)}, format="multipart"
        )
        assert response.status_code == 202
        ids.append(response.json()["id"])

    ended = [_wait_until_finished(batch_id) for batch_id in ids]

    assert [b.status for b in ended] == [UploadStatus.REFUSED] * len(hostile) + [UploadStatus.DONE]
    assert all(CHINESE.search(b.message) for b in ended[:-1])
    assert ended[-1].rows_accepted == 1
    assert celery_worker_process.poll() is None  # the worker is still alive
    status = Path(f"/proc/{celery_worker_process.pid}/status").read_text()
    peak_kib = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    print(f"worker peak RSS after the hostile files: {peak_kib // 1024} MiB")
    assert peak_kib < 512 * 1024, f"the worker's peak RSS was {peak_kib // 1024} MiB"  # 2 GiB bomb: never inflated


def _wait_until_finished(batch_id: int, seconds: float = 180) -> UploadBatch:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = UploadBatch.objects.get(pk=batch_id)
        if batch.status not in (UploadStatus.QUEUED, UploadStatus.RUNNING):
            return batch
        time.sleep(0.1)
    pytest.fail(f"batch {batch_id} is still {batch.status} after {seconds} s")
