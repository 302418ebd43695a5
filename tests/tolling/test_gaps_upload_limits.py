"""The upload limits are documented for province staff: the upload page's help shows the numbers the reader enforces
(read from tolling.reading's constants and the size setting), and the README's table says the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.humanize.templatetags.humanize import intcomma
from django.template.defaultfilters import filesizeformat
from django.utils import translation

from piaogen.models import Role, User
from tolling import reading
from tolling.contract import upload_limits

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


def shown(value: int, *, size: bool = False) -> str:
    with translation.override("zh-hans"):
        return str(filesizeformat(value) if size else intcomma(value))


def test_the_limits_are_the_readers_constants_and_the_size_setting(settings: Any) -> None:
    limits = upload_limits()
    assert (limits.line_bytes, limits.columns, limits.xlsx_parts) == (
        reading.MAX_LINE_BYTES, reading.MAX_COLUMNS, reading.XLSX_MAX_PARTS
    )  # fmt: skip
    assert (limits.xlsx_inflated_bytes, limits.xlsx_ratio, limits.xlsx_ratio_min_part) == (
        reading.XLSX_MAX_INFLATED, reading.XLSX_MAX_RATIO, reading.XLSX_RATIO_MIN_PART
    )  # fmt: skip
    assert limits.max_bytes == settings.PIAOGEN["UPLOAD_MAX_BYTES"]


def test_the_upload_page_shows_every_limit_to_province_staff(jiangsu: User, client_for: Any) -> None:
    page = client_for(jiangsu).get("/uploads/").content.decode()
    limits = upload_limits()
    assert "文件要求与上限" in page
    for text in (
        shown(limits.max_bytes, size=True),
        shown(limits.max_bytes),
        shown(limits.line_bytes, size=True),
        shown(limits.line_bytes),
        f"表头不超过 {shown(limits.columns)} 列",
        shown(limits.xlsx_inflated_bytes, size=True),
        f"内部文件不超过 {shown(limits.xlsx_parts)} 个",
        f"压缩比不超过 {limits.xlsx_ratio} 倍",
        ".xls",
    ):
        assert text in page, text


def test_the_page_follows_the_size_setting_rather_than_a_copy_of_it(
    jiangsu: User, client_for: Any, settings: Any
) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "UPLOAD_MAX_BYTES": 300 * 1024 * 1024}
    page = client_for(jiangsu).get("/uploads/").content.decode()
    assert f"（{shown(300 * 1024 * 1024)} 字节）" in page


def test_national_readers_get_no_upload_form_and_so_no_upload_help(
    make_staff: Callable[..., User], client_for: Any
) -> None:
    page = client_for(make_staff(Role.MANAGER)).get("/uploads/").content.decode()
    assert "文件要求与上限" not in page


def test_the_readme_states_the_same_numbers() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Upload limits**") :]
    for value in (reading.MAX_LINE_BYTES, reading.XLSX_MAX_INFLATED, reading.XLSX_RATIO_MIN_PART):
        assert f"({value:,} bytes)" in section, value
    assert f"| {reading.MAX_COLUMNS:,} | `MAX_COLUMNS` |" in section
    assert f"| {reading.XLSX_MAX_RATIO} | `XLSX_MAX_RATIO`" in section
    assert f"| {reading.XLSX_MAX_PARTS:,} | `XLSX_MAX_PARTS` |" in section
    assert f"({2 << 30:,} bytes) | setting `PIAOGEN_UPLOAD_MAX_BYTES`" in section  # the setting's default
