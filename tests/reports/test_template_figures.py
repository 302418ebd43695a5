"""Figures of the templates beyond the rollups' sums: 上传健康度's lateness of data (rows counted per finished batch by
the days between their service date and the upload; median, P90, late batches equal to their list; never a batch
counted twice or early), 客服工作量与SLA's top search types, 省份对比's ratios to traffic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from conftest import DAYS, REPORT_QUERY, TODAY, _segment, at
from django.db.models import Sum
from django.test import Client
from django.urls import reverse

from invoicing.models import Document
from piaogen.models import Role, User
from reports.catalog import REGISTRY
from reports.catalog.base import histogram_percentile
from reports.filters import ReportFilters
from reports.models import UploadLateness
from reports.rollups import rollups_refresh_all, rollups_refresh_changed, upload_lateness_catch_up
from reports.rows import upload_rows
from tolling.models import Segment, UploadBatch

PERIOD = ReportFilters(start=dt.date(2026, 11, 1), end=TODAY)


def _batch(uploader: User, *, status: str, province: str = "32") -> UploadBatch:
    return UploadBatch.objects.create(
        kind="segments", province=province, uploaded_by=uploader, file_name=f"{status}.csv", file_size=10,
        sha256=f"{UploadBatch.objects.count():064d}", status=status, created_at=at(DAYS[2], 9),
    )  # fmt: skip


def test_the_percentile_is_the_nearest_rank_of_the_rows() -> None:
    assert histogram_percentile({}, 0.5) is None
    assert histogram_percentile({1: 1, 2: 1, 30: 1}, 0.5) == 2
    assert histogram_percentile({0: 90, 12: 10}, 0.9) == 0
    assert histogram_percentile({0: 89, 12: 11}, 0.9) == 12


def test_each_finished_batch_is_counted_once_by_days_between_service_date_and_upload(world: dict[str, Any]) -> None:
    rollups_refresh_all(today=TODAY)

    late = dict(UploadLateness.objects.values_list("late_days").annotate(n=Sum("rows")).order_by())
    # Jiangsu's trips of 7, 8 and 9 November came in the batch of 17 November: 10, 9 and 8 days late
    assert late == {10: 3, 9: 3, 8: 3}
    assert Segment.objects.filter(province="32").count() == 9

    upload_lateness_catch_up()  # nothing new: nothing counted again
    assert UploadLateness.objects.aggregate(n=Sum("rows"))["n"] == 9


def test_a_running_batch_is_counted_when_it_finishes_and_holds_the_watermark_meanwhile(
    world: dict[str, Any], make_staff: Callable[..., User]
) -> None:
    rollups_refresh_all(today=TODAY)
    uploader = make_staff(Role.PROVINCE, "33", username="uploader33")
    running = _batch(uploader, status="running", province="33")
    for day in (dt.date(2026, 11, 7), dt.date(2026, 11, 16), dt.date(2026, 11, 19)):  # rows of the running upload
        segment = _segment(world["33"]["commercial"], card_no="33010000000000000999", exit_time=at(day), fee=100,
                           vehicle_class=1)  # fmt: skip
        Segment.objects.filter(pk=segment.pk).update(batch=running)

    rollups_refresh_changed(today=TODAY)
    assert not UploadLateness.objects.filter(batch_id=running.pk).exists()

    UploadBatch.objects.filter(pk=running.pk).update(status="done", finished_at=at(DAYS[2], 10))
    upload_lateness_catch_up()

    rows = dict(UploadLateness.objects.filter(batch_id=running.pk).values_list("late_days", "rows"))
    assert rows == {12: 1, 3: 1, 0: 1}  # trips of 7, 16 and 19 November uploaded on 19 November


def test_the_uploads_template_shows_median_p90_share_and_late_batches_equal_to_their_list(
    world: dict[str, Any],
) -> None:
    rollups_refresh_all(today=TODAY)

    data = REGISTRY["uploads"].build(PERIOD)
    tiles = {tile.key: tile for tile in data.tiles}
    assert tiles["late_median"].value == 9 and tiles["late_p90"].value == 10
    assert tiles["late_share"].value == 1.0  # every row came after day 7
    assert tiles["late_batches"].value == upload_rows(PERIOD, late_only=True).count() == 1
    table = next(table for table in data.tables if table.id == "lateness")
    assert [row.cells[:4] for row in table.rows] == [["江苏", 9, 9, 10]]
    assert table.rows[0].drills[5] == ("uploads", {"province": "32", "late": 1})


def test_the_late_batches_list_is_scoped_and_says_what_it_lists(
    world: dict[str, Any], client_for: Callable[[User], Client], make_staff: Callable[..., User]
) -> None:
    rollups_refresh_all(today=TODAY)
    zhejiang = make_staff(Role.PROVINCE, "33", username="zj-late")
    jiangsu = make_staff(Role.PROVINCE, "32", username="js-late")
    query = {**REPORT_QUERY, "late": "1"}

    mine = client_for(jiangsu).get(reverse("report-uploads"), query)
    theirs = client_for(zhejiang).get(reverse("report-uploads"), query)

    assert "含迟到数据的批次" in mine.content.decode() and "done.csv" in mine.content.decode()
    assert "done.csv" not in theirs.content.decode()


def test_the_support_template_shows_the_top_search_types_each_equal_to_its_list(
    world: dict[str, Any], client_for: Callable[[User], Client], manager: User
) -> None:
    rollups_refresh_all(today=TODAY)

    data = REGISTRY["support"].build(PERIOD)
    table = next(table for table in data.tables if table.id == "searches")
    assert [row.cells for row in table.rows] == [["车牌号", 2], ["ETC卡号", 1]]
    assert {tile.key: tile.value for tile in data.tiles}["searches"] == 3
    listed = client_for(manager).get(reverse("report-searches"), {**REPORT_QUERY, "search_kind": "plate"})
    assert listed.content.decode().count("车牌号") >= 2 and "uploader32" in listed.content.decode()


def test_the_province_comparison_has_per_trip_ratios_in_a_sortable_table(
    world: dict[str, Any], client_for: Callable[[User], Client], manager: User
) -> None:
    rollups_refresh_all(today=TODAY)
    filters = ReportFilters(start=dt.date(2026, 11, 1), end=TODAY)

    data = REGISTRY["provinces"].build(filters)

    ratios = next(table for table in data.tables if table.id == "ratios")
    by_province = {row.cells[0]: row.cells for row in ratios.rows}
    # each province made 9 segments (7-9 November, none rolled up yet: read raw above the watermark)
    assert by_province["江苏"][1] == 9 and by_province["浙江"][1] == 9
    jiangsu_documents = Document.objects.filter(province="32").exclude(status="red").count()
    assert by_province["江苏"][3] == round(jiangsu_documents * 1000 / 9, 2)
    assert by_province["江苏"][5] == round(2 * 10_000 / 9, 2)  # two Jiangsu tickets
    assert ratios.sortable
    page = client_for(manager).get(reverse("report-template", args=["provinces"]), REPORT_QUERY).content.decode()
    assert "data-sortable" in page and "每千次通行开票张数" in page and 'data-sort-column="3"' in page
