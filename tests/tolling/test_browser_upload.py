"""Journey J1 in a real browser: a province user uploads a GB18030 file, follows it, fixes the rejected rows
from the error file, and uploads that file again — with a real Celery worker doing the ingest."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from piaogen.models import Role, User
from tests.fixtures.tolling import HEADER, UNIT, segment_rows
from tolling.models import Operator, OperatorKind, Segment, TollUnit

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "Piaogen-test-2026"  # what make_staff gives (tests/conftest.py)


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    operator = Operator.objects.create(kind=OperatorKind.ROAD_OPERATOR, tax_id="91320000134762764C",
                                       name="江苏交通控股有限公司", province="32")  # fmt: skip
    TollUnit.objects.create(code=UNIT, name="沪宁高速南京段", province="32", operator=operator, road_nature=1)
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


def test_a_province_user_uploads_follows_and_fixes_a_batch(
    page: Page, live_server: Any, jiangsu: User, celery_workers: Any, tmp_path: Path
) -> None:
    celery_workers()
    bad = (  # a 19-digit card number: rejected, then fixed in the error file
        f"P900000001,1,3201000000000000001,23,苏A00001,0,1,{UNIT},2026-11-01 08:00:00,2026-11-01 09:00:00,"
        "南京东,,35.00,0,35.00\n"
    )
    upload = tmp_path / "江苏-通行明细.csv"
    upload.write_bytes((HEADER + segment_rows(500) + bad).encode("gb18030"))

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill("jiangsu")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("navigation").get_by_role("link", name="数据上传").click()
    page.get_by_label("数据类型").select_option("segments")
    page.locator("input[type=file]").set_input_files(upload)
    page.get_by_role("button", name="上传并处理").click()

    progress = page.locator("#batch-progress")
    expect(progress.locator("[data-status]")).to_have_text("已完成", timeout=60_000)
    expect(progress.locator("[data-figure=rows_accepted]")).to_have_text("500")
    expect(progress.locator("[data-figure=rows_rejected]")).to_have_text("1")
    expect(page.get_by_text("卡号")).to_be_visible()  # the reason names the column

    with page.expect_download() as download:
        page.get_by_role("link", name="下载错误文件（CSV）").click()
    error_file = tmp_path / "errors.csv"
    download.value.save_as(error_file)
    rows = list(csv.reader(io.StringIO(error_file.read_text("utf-8-sig"))))
    assert rows[0][-3:] == ["行号", "错误原因", "错误代码"] and len(rows) == 2
    header = rows[0]
    rows[1][header.index("card_no")] = "32010000000000000001"  # the fix, as the user would make it in Excel
    with error_file.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows(rows)

    page.goto(f"{live_server.url}/uploads/")
    page.get_by_label("数据类型").select_option("segments")
    page.locator("input[type=file]").set_input_files(error_file)
    page.get_by_role("button", name="上传并处理").click()

    expect(progress.locator("[data-status]")).to_have_text("已完成", timeout=60_000)
    expect(progress.locator("[data-figure=rows_accepted]")).to_have_text("1")
    expect(progress.locator("[data-figure=rows_rejected]")).to_have_text("0")
    assert Segment.objects.count() == 501
