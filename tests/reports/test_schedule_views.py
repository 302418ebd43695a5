"""Saved views and schedules for any template: a manager saves a template with its filters as a named personal or
shared view, schedules it daily, weekly or monthly for the nation or a province, previews, edits, pauses and
resumes it; a test send that would reach nobody says so instead of queueing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from conftest import REPORT_QUERY, TODAY
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.urls import reverse

from piaogen.models import Role, User
from reports.models import DeliveryStatus, ReportDelivery, SavedView, ScheduledReport
from reports.rollups import rollups_refresh_all
from reports.scheduling import (
    last_finished_period,
    report_recipients,
    scheduled_report_deliver,
    scheduled_reports_send_due,
)


def save_view(client: Client, slug: str, name: str, *, shared: bool = False, query: str = "") -> Any:
    data = {"name": name, "query": query, **({"shared": "on"} if shared else {})}
    return client.post(reverse("report-view-save", args=[slug]), data)


def test_a_manager_saves_a_template_with_its_filters_and_opens_it_again(
    manager: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(manager)

    response = save_view(
        client, "provinces", "江苏业务线", query="start=2026-11-01&end=2026-11-30&business_line=etc_trip"
    )

    assert response.status_code == 302
    assert (
        response["Location"] == "/reports/templates/provinces/?start=2026-11-01&end=2026-11-30&business_line=etc_trip"
    )
    view = SavedView.objects.get()
    assert (view.template, view.shared, view.province) == ("provinces", False, "")
    gallery = client.get(reverse("report-templates")).content.decode()
    assert "江苏业务线" in gallery and "/reports/templates/provinces/?start=2026-11-01" in gallery

    save_view(client, "provinces", "江苏业务线", query="business_line=topup")  # the same name overwrites
    assert SavedView.objects.get().query == "business_line=topup"


def test_a_personal_view_is_the_owners_and_a_shared_one_stays_within_its_scope(
    manager: User, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    save_view(client_for(manager), "tax", "全国税额", shared=True)
    save_view(client_for(manager), "tax", "我的税额")
    js_manager = make_staff(Role.MANAGER, "32", username="js-manager")
    save_view(client_for(js_manager), "uploads", "江苏上传", shared=True)

    other = client_for(make_staff(Role.MANAGER, username="manager2")).get(reverse("report-templates"))
    assert "全国税额" in other.content.decode() and "我的税额" not in other.content.decode()
    assert "江苏上传" in other.content.decode()  # a national reader sees every shared view
    zhejiang = client_for(make_staff(Role.PROVINCE, "33", username="zj")).get(reverse("report-templates"))
    assert "全国税额" not in zhejiang.content.decode() and "江苏上传" not in zhejiang.content.decode()
    jiangsu = client_for(make_staff(Role.PROVINCE, "32", username="js")).get(reverse("report-templates"))
    assert "江苏上传" in jiangsu.content.decode()

    mine = SavedView.objects.get(name="我的税额")
    assert client_for(js_manager).post(reverse("report-view-delete", args=[mine.pk])).status_code == 404
    assert client_for(manager).post(reverse("report-view-delete", args=[mine.pk])).status_code == 302
    assert not SavedView.objects.filter(pk=mine.pk).exists()


def test_a_view_is_scheduled_daily_for_the_nation_and_sends_its_template(
    world: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    rollups_refresh_all(today=TODAY)
    client = client_for(manager)
    save_view(client, "business-lines", "业务线日报", query="business_line=etc_trip")
    view = SavedView.objects.get()

    response = client.post(
        reverse("report-schedules"),
        {"name": "业务线日报", "view": view.pk, "frequency": "daily", "province": "", "recipients": "boss@example.cn"},
    )

    assert response.status_code == 302
    report = ScheduledReport.objects.get()
    assert (report.template, report.query, report.province, report.frequency) == (
        "business-lines", "business_line=etc_trip", "", "daily",
    )  # fmt: skip
    assert last_finished_period("daily", TODAY) == (dt.date(2026, 11, 19), dt.date(2026, 11, 19))
    sent = scheduled_reports_send_due(today=TODAY)
    assert [delivery.status for delivery in sent] == [DeliveryStatus.SENT]
    (message,) = mail.outbox
    assert message.to == ["boss@example.cn"] and message.attachments[0][2] == "application/pdf"
    assert message.attachments[0][1].startswith(b"%PDF")


def test_a_schedule_is_previewed_edited_paused_and_resumed(
    world: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(manager)
    report = ScheduledReport.objects.create(name="江苏周报", frequency="weekly", province="32", created_by=manager)

    preview = client.get(reverse("report-schedule-preview", args=[report.pk]))
    assert preview["Content-Type"] == "application/pdf" and preview.content.startswith(b"%PDF")
    assert not ReportDelivery.objects.exists()  # a preview sends nothing

    edit = client.post(
        reverse("report-schedule-edit", args=[report.pk]),
        {"name": "江苏月报", "template": "uploads", "frequency": "monthly", "province": "32", "recipients": "a@b.cn"},
    )
    assert edit.status_code == 302
    report.refresh_from_db()
    assert (report.name, report.template, report.frequency, report.recipients) == (
        "江苏月报", "uploads", "monthly", ["a@b.cn"],
    )  # fmt: skip
    assert client.get(reverse("report-schedule-edit", args=[report.pk])).status_code == 200

    client.post(reverse("report-schedule-pause", args=[report.pk]), {"active": "0"})
    report.refresh_from_db()
    assert not report.active and scheduled_reports_send_due(today=TODAY) == []
    assert "已暂停" in client.get(reverse("report-schedules")).content.decode()
    client.post(reverse("report-schedule-pause", args=[report.pk]), {"active": "1"})
    report.refresh_from_db()
    assert report.active


def test_a_test_send_that_would_reach_nobody_says_so_and_queues_nothing(
    manager: User, client_for: Callable[[User], Client], django_capture_on_commit_callbacks: Any
) -> None:
    report = ScheduledReport.objects.create(name="浙江周报", frequency="weekly", province="33", created_by=manager)
    client = client_for(manager)  # the manager has no e-mail address, nor does anyone in Zhejiang

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("report-schedule-test", args=[report.pk]))

    assert callbacks == []
    assert any("没有收件人" in str(message) for message in get_messages(response.wsgi_request))
    manager.email = "me@example.cn"
    manager.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("report-schedule-test", args=[report.pk]))
    assert len(callbacks) == 1


def test_a_delivery_with_no_recipient_is_logged_as_failed_with_the_reason(world: dict[str, Any], manager: User) -> None:
    report = ScheduledReport.objects.create(name="浙江周报", frequency="weekly", province="33", created_by=manager)

    delivery = scheduled_report_deliver(report=report, start=dt.date(2026, 11, 9), end=dt.date(2026, 11, 15))

    assert delivery is not None and delivery.status == DeliveryStatus.FAILED and "没有收件人" in delivery.error


def test_a_province_manager_schedules_only_their_province(
    make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    js_manager = make_staff(Role.MANAGER, "32", username="js-manager")

    client_for(js_manager).post(
        reverse("report-schedules"),
        {"name": "月报", "template": "monthly", "frequency": "monthly", "province": "33", "recipients": ""},
    )

    assert ScheduledReport.objects.get().province == "32"
    assert REPORT_QUERY  # (the shared test period; schedules bring their own)


def test_the_delivery_log_says_who_receives_it_and_opens_what_was_sent(
    world: dict[str, Any], manager: User, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    rollups_refresh_all(today=TODAY)
    staff = make_staff(Role.PROVINCE, "32", username="js-mail")
    staff.email = "js@example.cn"
    staff.save(update_fields=["email"])
    report = ScheduledReport.objects.create(name="江苏周报", frequency="weekly", province="32", created_by=manager)
    delivery = scheduled_report_deliver(report=report, start=dt.date(2026, 11, 16), end=dt.date(2026, 11, 22))
    assert delivery is not None and delivery.status == DeliveryStatus.SENT

    page = client_for(manager).get(reverse("report-schedules")).content.decode()
    assert "js@example.cn" in page and reverse("report-delivery-pdf", args=[delivery.pk]) in page
    pdf = client_for(staff).get(reverse("report-delivery-pdf", args=[delivery.pk]))
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")  # type: ignore[attr-defined]
    zhejiang = client_for(make_staff(Role.PROVINCE, "33", username="zj-mail"))
    assert zhejiang.get(reverse("report-delivery-pdf", args=[delivery.pk])).status_code == 404


def test_a_national_schedule_reaches_the_national_managers_and_its_addresses(
    manager: User, make_staff: Callable[..., User]
) -> None:
    manager.email = "boss@example.cn"
    manager.save(update_fields=["email"])
    js_manager = make_staff(Role.MANAGER, "32", username="js-manager")
    js_manager.email = "js-boss@example.cn"
    js_manager.save(update_fields=["email"])
    report = ScheduledReport.objects.create(
        name="全国月报", frequency="monthly", province="", recipients=["cfo@example.cn"], created_by=manager
    )

    assert report_recipients(report) == ["boss@example.cn", "cfo@example.cn"]


def test_the_delivery_log_pages_with_its_count_instead_of_stopping_at_twenty(
    world: dict[str, Any], manager: User, client_for: Callable[[User], Client], django_assert_max_num_queries: Any
) -> None:
    """A weekly report sends 52 times a year: its log shows the newest 20 with the count, and pages to the rest."""
    report = ScheduledReport.objects.create(name="江苏周报", frequency="weekly", province="32", created_by=manager)
    other = ScheduledReport.objects.create(name="浙江周报", frequency="weekly", province="33", created_by=manager)
    monday = dt.date(2026, 11, 23)
    for week in range(25):
        start = monday - dt.timedelta(weeks=week)
        ReportDelivery.objects.create(
            report=report, period_start=start, period_end=start + dt.timedelta(days=6), recipients=["js@example.cn"],
            status=DeliveryStatus.SENT, sent_at=dt.datetime(2026, 11, 30, 7, tzinfo=dt.UTC) - dt.timedelta(weeks=week),
        )  # fmt: skip
    client = client_for(manager)
    client.get(reverse("report-schedules"))  # the session and the user, read once

    with django_assert_max_num_queries(12):  # 25 deliveries: the log's first page and count come with the list
        first = client.get(reverse("report-schedules")).content.decode()
    second = client.get(reverse("report-schedules"), {f"deliveries_{report.pk}": 2}).content.decode()

    log = first.split(f'id="schedule-{report.pk}"', 1)[1].split("</section>", 1)[0]
    assert log.count("<tr>") - 1 == 20 and "第 1/2 页，共 25 条" in log  # the header row and 20 deliveries
    assert f'href="?deliveries_{report.pk}=2#schedule-{report.pk}"' in log
    assert "2026-11-23 — 2026-11-29" in log and "2026-06-22 — 2026-06-28" not in log
    rest = second.split(f'id="schedule-{report.pk}"', 1)[1].split("</section>", 1)[0]
    assert rest.count("<tr>") - 1 == 5 and "第 2/2 页，共 25 条" in rest
    assert "2026-06-08 — 2026-06-14" in rest  # the oldest
    untouched = second.split(f'id="schedule-{other.pk}"', 1)[1].split("</section>", 1)[0]
    assert "尚未发送" in untouched and "页" not in untouched
