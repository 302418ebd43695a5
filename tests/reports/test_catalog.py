"""Report templates (reports/catalog.py): every template renders for every reader, every count adds up to the rows
its link opens under any filters, a province user sees only their province, labels are words, never codes."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import plotly.graph_objects as go
import pytest
from conftest import DAYS, REPORT_QUERY, TODAY
from django.db.models import Sum
from django.test import Client
from django.urls import reverse

from invoicing.models import BusinessLine, Delivery, Document, DocumentKind
from piaogen.identifiers import VehicleClass
from piaogen.models import Role, User
from reports.catalog import REGISTRY, Drill, ReportData, Tile
from reports.charts import template_charts
from reports.filters import ReportFilters, filters_from
from reports.rollups import rollups_refresh_changed
from reports.rows import narrowing, rows_for
from tolling.models import Operator

SLUGS = sorted(REGISTRY)
CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")  # upload.create, etc_trip, not_received…


def charts(response: Any) -> dict[str, Any]:
    match = re.search(rb'<script id="dashboard-charts" type="application/json">(.*?)</script>', response.content, re.S)
    assert match is not None
    return {chart["id"]: chart["figure"] for chart in json.loads(match.group(1))}


def streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def drilled_rows(filters: ReportFilters, drill: Drill) -> Any:
    """The rows the drill link opens, the way its page reads the URL (filters, then narrowing)."""
    kind, overrides = drill
    params = filters.params(**overrides)
    return rows_for(kind, filters_from(params, scope=None), narrowing(kind, params))


def counted(data: ReportData) -> Iterator[tuple[str, int | float, Drill]]:
    """Every count on a template with the drill behind it: tiles, chart points and table cells."""
    for tile in data.tiles:
        if tile.unit == "count" and tile.drill and tile.drill[0] != "actions":
            yield f"tile {tile.key}", tile.value, tile.drill
    for figure in data.figures:
        if figure.unit == "count":
            for series in figure.series:
                for point in series.points:
                    if point.drill and point.drill[0] not in ("actions", "upload"):
                        yield f"{figure.id} {series.name} {point.label}", point.value, point.drill
    for table in data.tables:
        for row in table.rows:
            for index, drill in row.drills.items():
                if table.columns[index].unit == "count" and drill[0] not in ("actions", "upload"):
                    yield f"{table.id} {row.cells[0]} {table.columns[index].label}", row.cells[index], drill


def random_filters(rng: random.Random) -> ReportFilters:
    start = DAYS[0] - dt.timedelta(days=rng.randint(0, 20))
    end = rng.choice([*DAYS, TODAY])
    return ReportFilters(
        start=min(start, end),
        end=end,
        province=rng.choice([None, None, "32", "33"]),
        business_line=rng.choice([None, None, BusinessLine.ETC_TRIP]),
        operator=rng.choice([None, None, *Operator.objects.values_list("pk", flat=True)]),
        vehicle_class=rng.choice([None, None, VehicleClass.values[0]]),
        document_kind=rng.choice([None, None, *DocumentKind.values]),
    )


def test_every_count_equals_the_rows_its_link_opens_under_random_filters(rolled_up: dict[str, Any]) -> None:
    rng = random.Random(14)
    checked = 0
    for _ in range(12):
        filters = random_filters(rng)
        for slug in SLUGS:
            data = REGISTRY[slug].build(filters)
            for where, value, drill in counted(data):
                assert drilled_rows(filters, drill).count() == value, f"{slug} {where} under {filters}"
                checked += 1
    assert checked > 300


def test_money_tiles_equal_the_sums_of_their_rows(rolled_up: dict[str, Any]) -> None:
    rng = random.Random(7)
    for _ in range(8):
        filters = random_filters(rng)
        tiles: dict[str, Tile] = {tile.key: tile for tile in REGISTRY["monthly"].build(filters).tiles}
        for key in ("amount_gross", "amount_tax"):
            tile = tiles[key]
            assert tile.drill is not None
            total = drilled_rows(filters, tile.drill).aggregate(total=Sum(key))["total"] or 0
            assert total == tile.value


def test_the_documents_tile_counts_blue_documents_and_its_list_shows_exactly_those(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(manager)
    page = client.get(reverse("report-template", args=["monthly"]), REPORT_QUERY)
    tile = next(tile for tile in page.context["tiles"] if tile["key"] == "documents")

    rows = client.get(tile["url"])

    blue = Document.objects.exclude(status="red").count()
    assert tile["value"] == f"{blue:,}" and rows.context["page"].paginator.count == blue


@pytest.mark.parametrize("slug", SLUGS)
def test_each_template_renders_tiles_valid_charts_tables_and_the_time_of_its_data(
    slug: str, rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(manager).get(reverse("report-template", args=[slug]), REPORT_QUERY)

    assert response.status_code == 200
    assert response.context["tiles"] and response.context["tables"]
    assert "数据截至" in response.content.decode()
    figures = charts(response)
    assert figures
    for figure in figures.values():
        go.Figure(figure)  # plotly's own validation
        for trace in figure["data"]:
            labels = [*(trace.get("x") or []), *(trace.get("y") or []), trace.get("name", "")]
            codes = [label for label in labels if isinstance(label, str) and CODE.match(label)]
            assert codes == [], f"{slug}: codes shown as labels: {codes}"
    text = response.content.decode()
    for code in ("etc_trip", "not_received", "upload.create", "document.reverse", "segments"):
        assert f">{code}<" not in text


def test_the_gallery_lists_every_template_with_its_question(
    manager: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(manager).get(reverse("report-templates"))

    text = response.content.decode()
    for template in REGISTRY.values():
        assert reverse("report-template", args=[template.slug]) in text and str(template.question) in text
    assert text.count('class="template-thumb"') == len(REGISTRY)


def test_an_unknown_template_is_not_found(manager: User, client_for: Callable[[User], Client]) -> None:
    assert client_for(manager).get(reverse("report-template", args=["nope"])).status_code == 404


def test_a_monthly_template_opens_on_the_last_full_month(manager: User, client_for: Callable[[User], Client]) -> None:
    filters = client_for(manager).get(reverse("report-template", args=["provinces"])).context["filters"]

    assert filters.start.day == 1 and (filters.end + dt.timedelta(days=1)).day == 1 and filters.days >= 28


@pytest.mark.parametrize("slug", SLUGS)
def test_a_province_user_sees_only_their_province_in_tiles_charts_tables_and_the_workbook(
    slug: str, rolled_up: dict[str, Any], jiangsu_user: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(jiangsu_user)
    query = {**REPORT_QUERY, "province": "33"}

    page = client.get(reverse("report-template", args=[slug]), query)

    assert page.context["filters"].province == "32"
    assert "浙江" not in page.content.decode()
    expected = REGISTRY[slug].build(filters_from(REPORT_QUERY, scope="32"))
    assert [tile["value"] for tile in page.context["tiles"]] == [
        tile["value"] for tile in client.get(reverse("report-template", args=[slug]), REPORT_QUERY).context["tiles"]
    ]
    assert len(page.context["tiles"]) == len(expected.tiles)
    urls = [url for figure in charts(page).values() for trace in figure["data"] for url in trace["customdata"]]
    assert all("province=32" in url for url in urls if url.startswith("/reports/"))
    workbook = client.get(reverse("report-template-xlsx", args=[slug]), query)
    book = openpyxl.load_workbook(io.BytesIO(streamed(workbook)))
    cells = [str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for cell in row]
    assert not [cell for cell in cells if "浙江" in cell]


def test_plotly_gets_names_as_text_never_as_markup(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    Operator.objects.filter(province="33", name__contains="高速").update(name="<b>浙江</b>高速")

    figures = charts(client_for(manager).get(reverse("report-template", args=["tax"]), REPORT_QUERY))

    labels = figures["chart-sellers"]["data"][0]["y"]
    assert "&lt;b&gt;浙江&lt;/b&gt;高速" in labels and not any("<b>" in label for label in labels)


def test_the_template_workbook_has_typed_figures_frozen_headers_and_widths(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(manager).get(reverse("report-template-xlsx", args=["monthly"]), REPORT_QUERY)

    book = openpyxl.load_workbook(io.BytesIO(streamed(response)))
    tiles = book.worksheets[0]
    assert tiles.freeze_panes == "A2" and tiles.column_dimensions["A"].width == 24
    values = {row[0].value: row[1] for row in tiles.iter_rows(min_row=2)}
    gross = Document.objects.aggregate(total=Sum("amount_gross"))["total"]
    assert values["价税合计"].value == pytest.approx(gross / 100) and values["价税合计"].number_format == "#,##0.00"
    assert values["开票张数"].value == Document.objects.exclude(status="red").count()
    lines = next(sheet for sheet in book.worksheets if sheet.title == "按业务线")
    header = [cell.value for cell in next(lines.iter_rows(max_row=1))]
    assert header[:3] == ["业务线", "开票张数", "红冲张数"]
    first = next(lines.iter_rows(min_row=2, max_row=2))
    assert isinstance(first[3].value, float) and first[3].number_format == "#,##0.00"


def test_the_drill_down_workbook_has_numbers_and_dates_excel_can_sum(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(manager).get(reverse("report-documents-export", args=["xlsx"]), REPORT_QUERY)

    sheet = openpyxl.load_workbook(io.BytesIO(streamed(response))).active
    assert sheet.freeze_panes == "A2" and sheet.column_dimensions["B"].width == 24
    rows = list(sheet.iter_rows(min_row=2))
    assert all(isinstance(row[0].value, dt.datetime) and row[0].number_format == "yyyy-mm-dd" for row in rows)
    gross = Document.objects.aggregate(total=Sum("amount_gross"))["total"]
    assert round(sum(row[13].value for row in rows) * 100) == gross
    assert all(row[13].number_format == "#,##0.00" for row in rows)


def test_the_template_pdf_is_a4_with_vector_charts_and_the_template_figures(
    rolled_up: dict[str, Any], jiangsu_user: User, client_for: Callable[[User], Client], tmp_path: Path
) -> None:
    response = client_for(jiangsu_user).get(reverse("report-template-pdf", args=["provinces"]), REPORT_QUERY)

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    path = tmp_path / "t.pdf"
    path.write_bytes(response.content)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    images = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    assert "A4" in info and len(images.strip().splitlines()) == 2
    assert "省份对比" in text and "各省价税合计" in text and "江苏" in text and "浙江" not in text
    assert "数据截至" in text


def test_the_template_charts_of_an_empty_period_say_so(rolled_up: dict[str, Any]) -> None:
    filters = ReportFilters(start=dt.date(2020, 1, 1), end=dt.date(2020, 1, 31))
    for slug in SLUGS:
        for chart in template_charts(REGISTRY[slug].build(filters), lambda rows, **o: ""):
            go.Figure(chart.figure)


def test_a_province_manager_is_scoped_on_templates_too(
    rolled_up: dict[str, Any], make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    client = client_for(make_staff(Role.MANAGER, "33", username="zj-manager"))

    page = client.get(reverse("report-template", args=["provinces"]), REPORT_QUERY)

    assert [row[1]["text"] for row in page.context["tables"][0]["rows"]] == ["浙江"]


def test_the_monthly_report_counts_deliveries_by_status_within_the_scope(rolled_up: dict[str, Any]) -> None:
    documents = rolled_up["documents"]
    jiangsu = [doc for doc in documents if doc.province == "32"]
    zhejiang = [doc for doc in documents if doc.province == "33"]
    Delivery.objects.bulk_create(
        [Delivery(document=doc, address="a@example.cn", status="sent") for doc in jiangsu[:3]]
        + [Delivery(document=jiangsu[3], address="a@example.cn", status="failed")]
        + [Delivery(document=doc, address="b@example.cn", status="sent") for doc in zhejiang[:2]]
    )
    rollups_refresh_changed(today=TODAY)  # the freshness poll sees the new deliveries (the delivery rollup)

    national = REGISTRY["monthly"].build(filters_from(REPORT_QUERY, scope=None))
    scoped = REGISTRY["monthly"].build(filters_from(REPORT_QUERY, scope="32"))

    def counts(data: ReportData) -> dict[str, int]:
        table = next(table for table in data.tables if table.id == "deliveries")
        return {row.cells[0]: row.cells[1] for row in table.rows}

    assert counts(national) == {"待发送": 0, "已发送": 5, "发送失败": 1}
    assert counts(scoped) == {"待发送": 0, "已发送": 3, "发送失败": 1}


def test_the_dashboard_shows_labels_never_codes(
    rolled_up: dict[str, Any], maintainer: User, client_for: Callable[[User], Client]
) -> None:
    figures = charts(client_for(maintainer).get(reverse("report-dashboard"), {"start": "2026-11-01"}))

    for figure in figures.values():
        for trace in figure["data"]:
            labels = [*(trace.get("x") or []), *(trace.get("y") or []), trace.get("name", "")]
            assert [label for label in labels if isinstance(label, str) and CODE.match(label)] == []
