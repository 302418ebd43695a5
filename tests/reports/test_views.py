"""The dashboard, drill-downs and exports per role: a province user sees only their province everywhere."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from conftest import DAYS, REPORT_QUERY
from django.db import connection
from django.db.models import Sum
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoicing.models import Document
from piaogen.models import AuditEvent, Role, User
from reports.exports import export_job_run
from reports.models import DocumentRollup, ExportJob, ExportStatus, RollupWatermark
from reports.rollups import rollup_refresh


def charts(response: Any) -> dict[str, Any]:
    match = re.search(rb'<script id="dashboard-charts" type="application/json">(.*?)</script>', response.content, re.S)
    assert match is not None
    return {chart["id"]: chart["figure"] for chart in json.loads(match.group(1))}


def streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def csv_rows(response: Any) -> list[list[str]]:
    body = streamed(response)
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def gross(province: str | None = None) -> int:
    docs = Document.objects.all() if province is None else Document.objects.filter(province=province)
    return docs.aggregate(total=Sum("amount_gross"))["total"]


def test_the_manager_dashboard_shows_every_province_with_kpis_and_drillable_charts(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(manager).get(reverse("report-dashboard"), REPORT_QUERY)

    assert response.status_code == 200
    figures = charts(response)
    province_bar = figures["chart-province"]["data"][0]
    assert province_bar["x"] == ["江苏", "浙江"]
    assert sum(province_bar["y"]) * 100 == pytest.approx(gross())
    assert all(url.startswith("/reports/documents/?") for url in province_bar["customdata"])
    assert "province=33" in province_bar["customdata"][1] and "start=2026-11-01" in province_bar["customdata"][1]
    assert set(figures) >= {"chart-daily", "chart-business-line", "chart-operator", "chart-vehicle-class",
                            "chart-document-kind", "chart-uploads", "chart-support"}  # fmt: skip
    kpis = response.context["kpis"]
    assert kpis[2]["value"] == gross() and kpis[0]["value"] == Document.objects.exclude(status="red").count()
    assert b"<script>" not in response.content  # no inline script: the figures are a JSON data block


def test_a_province_user_sees_only_their_province_whatever_the_url_says(
    rolled_up: dict[str, Any], jiangsu_user: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(jiangsu_user)

    response = client.get(reverse("report-dashboard"), {**REPORT_QUERY, "province": "33"})

    figures = charts(response)
    assert figures["chart-province"]["data"][0]["x"] == ["江苏"]
    assert response.context["kpis"][2]["value"] == gross("32")
    assert all("province=32" in url for url in figures["chart-operator"]["data"][0]["customdata"])
    assert sum(figures["chart-support"]["data"][0]["y"]) == 2  # tickets opened in Jiangsu only (Zhejiang has one)

    rows = client.get(reverse("report-documents"), {**REPORT_QUERY, "province": "33"})
    assert rows.status_code == 200
    numbers = {row["cells"][1] for row in rows.context["rows"]}
    assert numbers == {str(d) for d in Document.objects.filter(province="32")}

    exported = csv_rows(
        client.get(reverse("report-documents-export", args=["csv"]), {**REPORT_QUERY, "province": "33"})
    )
    assert len(exported) - 1 == Document.objects.filter(province="32").count()
    assert {row[5] for row in exported[1:]} == {"江苏"}

    uploads = client.get(reverse("report-uploads"), {**REPORT_QUERY, "province": "33"})
    assert len(uploads.context["rows"]) == 2
    tickets = client.get(reverse("report-tickets"), {**REPORT_QUERY, "province": "33"})
    assert [row["cells"][2] for row in tickets.context["rows"]] == ["江苏", "江苏"]


def test_an_agent_may_not_open_the_reports(agent: User, client_for: Callable[[User], Client]) -> None:
    client = client_for(agent)
    for name in ("report-dashboard", "report-documents", "report-pdf", "report-exports"):
        assert client.get(reverse(name)).status_code == 403


def test_a_drill_down_from_a_point_lists_the_rows_behind_it_and_links_each_to_its_record(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(manager)
    figures = charts(client.get(reverse("report-dashboard"), REPORT_QUERY))
    daily = figures["chart-daily"]["data"][0]
    index = daily["x"].index(DAYS[1].isoformat())

    response = client.get(daily["customdata"][index])

    docs = Document.objects.filter(service_date=DAYS[1])
    assert response.status_code == 200
    assert {row["url"] for row in response.context["rows"]} == {reverse("document-detail", args=[d.pk]) for d in docs}
    assert round(daily["y"][index] * 100) == sum(d.amount_gross for d in docs)


def test_the_vehicle_class_drill_down_matches_the_bar(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(manager)
    bar = charts(client.get(reverse("report-dashboard"), REPORT_QUERY))["chart-vehicle-class"]["data"][0]
    index = bar["x"].index("二型货车")

    rows = client.get(bar["customdata"][index]).context["rows"]

    total = sum(round(float(row["cells"][13]) * 100) for row in rows)
    assert len(rows) == 6 and total == round(bar["y"][index] * 100)


def test_the_failed_batches_of_a_province_are_one_click_away(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(manager).get(reverse("report-uploads"), {**REPORT_QUERY, "province": "32", "failed": "1"})

    assert [row["cells"][5] for row in response.context["rows"]] == ["失败"]
    assert response.context["rows"][0]["url"].startswith("/uploads/")


def test_the_csv_export_has_a_bom_and_neutralises_formulas_but_keeps_negative_amounts(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    Document.objects.filter(province="33").update(buyer_name='=HYPERLINK("http://evil")')

    response = client_for(manager).get(reverse("report-documents-export", args=["csv"]), REPORT_QUERY)

    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert rows[0][:2] == ["开票日期", "票据号码"]
    buyers = {row[8] for row in rows[1:]}
    assert '\'=HYPERLINK("http://evil")' in buyers and not any(b.startswith("=") for b in buyers)
    assert any(row[13].startswith("-") for row in rows[1:])  # the red document's amount stays a number
    assert AuditEvent.objects.filter(action="report.export", actor=manager).exists()


def test_the_export_masks_a_persons_taxpayer_id_and_keeps_a_companys(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    """A person's taxpayer id is their resident ID number (piaogen.privacy); a company's code is public."""
    Document.objects.filter(province="33").update(buyer_tax_id="320102199001011232")
    Document.objects.filter(province="32").update(buyer_tax_id="91320100MA1XY0123J")

    body = streamed(client_for(manager).get(reverse("report-documents-export", args=["csv"]), REPORT_QUERY))

    text = body.decode("utf-8-sig")
    assert "320102********1232" in text and "91320100MA1XY0123J" in text
    assert "320102199001011232" not in text


def test_the_xlsx_export_opens_with_openpyxl(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(manager).get(reverse("report-documents-export", args=["xlsx"]), REPORT_QUERY)

    book = openpyxl.load_workbook(io.BytesIO(streamed(response)), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][0] == "开票日期" and len(rows) - 1 == Document.objects.count()


def test_a_large_export_runs_in_the_background_with_progress_and_a_scoped_download(
    rolled_up: dict[str, Any],
    jiangsu_user: User,
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "REPORT_EXPORT_SYNC_ROWS": 3}
    client = client_for(jiangsu_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.get(reverse("report-documents-export", args=["csv"]), {**REPORT_QUERY, "province": "33"})
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("report-export-job", args=[job.pk])
    assert len(callbacks) == 1  # the task is enqueued after commit
    assert (job.status, job.province) == (ExportStatus.QUEUED, "32")

    progress = client.get(reverse("report-export-job", args=[job.pk]), headers={"HX-Request": "true"})
    assert b'hx-trigger="every 2s"' in progress.content and b"<html" not in progress.content  # polled while queued

    export_job_run(job_id=job.pk)  # what the `reports` worker does
    assert export_job_run(job_id=job.pk) is None  # a second delivery of the task does nothing

    job.refresh_from_db()
    expected = Document.objects.filter(province="32").count()
    assert (job.status, job.rows_total, job.rows_done) == (ExportStatus.DONE, expected, expected)
    page = client.get(reverse("report-export-job", args=[job.pk]))
    assert reverse("report-export-download", args=[job.pk]).encode() in page.content
    download = client.get(reverse("report-export-download", args=[job.pk]))
    body = streamed(download)
    assert body.startswith(b"\xef\xbb\xbf") and body.count(b"\n") == expected + 1
    zhejiang = client_for(make_staff(Role.PROVINCE, "33", username="zj"))
    assert zhejiang.get(reverse("report-export-download", args=[job.pk])).status_code == 404
    assert zhejiang.get(reverse("report-export-job", args=[job.pk])).status_code == 404


def test_every_dashboard_figure_is_a_valid_plotly_figure(rolled_up: dict[str, Any]) -> None:
    import plotly.graph_objects as go

    from reports.charts import dashboard_charts
    from reports.dashboard import dashboard_data
    from reports.filters import filters_from

    for chart in dashboard_charts(dashboard_data(filters_from(REPORT_QUERY, scope=None)), lambda rows, **o: "/r/"):
        figure = go.Figure(chart.figure)  # plotly's own validation: raises on an unknown or ill-typed property
        assert len(figure.data) >= 1 and figure.layout.title.text == chart.title


def test_a_manager_bound_to_a_province_is_scoped_like_province_staff(
    rolled_up: dict[str, Any], make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    client = client_for(make_staff(Role.MANAGER, "33", username="zj-manager"))

    response = client.get(reverse("report-dashboard"), REPORT_QUERY)

    assert charts(response)["chart-province"]["data"][0]["x"] == ["浙江"]
    assert response.context["kpis"][2]["value"] == gross("33")
    assert list(response.context["form"].fields["province"].choices) == [("33", "浙江")]


def test_a_maintainer_sees_every_province(
    rolled_up: dict[str, Any], maintainer: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(maintainer).get(reverse("report-dashboard"), REPORT_QUERY)

    assert response.context["kpis"][2]["value"] == gross()


def test_the_reversals_tile_drills_to_the_red_letter_documents(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(manager)
    tile = client.get(reverse("report-dashboard"), REPORT_QUERY).context["kpis"][1]
    assert tile["value"] == 1 and "red=1" in tile["url"]

    rows = client.get(tile["url"]).context["rows"]

    assert [row["url"] for row in rows] == [reverse("document-detail", args=[rolled_up["red"].pk])]
    exported = csv_rows(client.get(reverse("report-documents-export", args=["csv"]), {**REPORT_QUERY, "red": "1"}))
    assert len(exported) == 2 and exported[1][4] == "红字"


def test_support_actions_by_type_drill_to_the_audit_trail_for_those_who_may_read_it(
    rolled_up: dict[str, Any], manager: User, maintainer: User, client_for: Callable[[User], Client]
) -> None:
    rollup_refresh(name="support")  # the audit events of the world were written today (real time)
    query = {"start": "2026-11-01"}  # … up to today
    as_maintainer = charts(client_for(maintainer).get(reverse("report-dashboard"), query))["chart-actions"]
    as_manager = charts(client_for(manager).get(reverse("report-dashboard"), query))["chart-actions"]

    bars = as_maintainer["data"][0]
    assert "document.reverse" not in bars["y"]  # labels, never codes
    index = bars["y"].index("红冲")
    assert bars["x"][index] == AuditEvent.objects.filter(action="document.reverse").count()
    assert bars["customdata"][index].startswith("/audit/?action=document.reverse&date_from=2026-11-01")
    assert set(as_manager["data"][0]["customdata"]) == {""}  # managers do not read the audit trail


def test_the_dashboard_reads_the_rollups_once_until_the_next_refresh(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(manager)
    first = client.get(reverse("report-dashboard"), REPORT_QUERY)
    with CaptureQueriesContext(connection) as queries:
        again = client.get(reverse("report-dashboard"), REPORT_QUERY)
    assert again.context["kpis"] == first.context["kpis"]
    assert not [q for q in queries.captured_queries if "reports_documentrollup" in q["sql"]]  # from the cache

    # the rollup rows change only in a refresh, which ends by saving its watermark: that is a new cache key
    DocumentRollup.objects.filter(province="33").delete()
    assert client.get(reverse("report-dashboard"), REPORT_QUERY).context["kpis"] == first.context["kpis"]
    RollupWatermark.objects.get(name="documents").save()
    after = client.get(reverse("report-dashboard"), REPORT_QUERY)
    assert after.context["kpis"][2]["value"] == gross("32") < first.context["kpis"][2]["value"]


def test_a_province_user_never_gets_a_national_dashboard_from_the_cache(
    rolled_up: dict[str, Any], manager: User, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    client_for(manager).get(reverse("report-dashboard"), REPORT_QUERY)  # the national figures, cached
    jiangsu = make_staff(Role.PROVINCE, province="32")
    response = client_for(jiangsu).get(reverse("report-dashboard"), REPORT_QUERY)
    assert response.context["kpis"][2]["value"] == gross("32")


def test_the_dashboard_works_when_the_cache_does_not(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    unreachable = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with override_settings(CACHES=unreachable):
        response = client_for(manager).get(reverse("report-dashboard"), REPORT_QUERY)
    assert response.status_code == 200
    assert response.context["kpis"][2]["value"] == gross()
