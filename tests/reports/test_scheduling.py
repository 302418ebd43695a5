"""Scheduled reports: the last whole week or month (Beijing calendar), e-mailed once to the province's staff with the
PDF attached, logged; "send a test now" goes to the requester and is logged as a test."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from conftest import TODAY
from django.core import mail
from django.test import Client
from django.urls import reverse

from piaogen.models import Role, User
from reports.models import DeliveryStatus, ReportDelivery, ScheduledReport
from reports.rollups import rollups_refresh_all
from reports.scheduling import last_finished_period, scheduled_report_send_test, scheduled_reports_send_due


def test_periods_are_the_last_whole_week_and_month() -> None:
    assert last_finished_period("weekly", dt.date(2026, 11, 26)) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    assert last_finished_period("weekly", dt.date(2026, 11, 23)) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    assert last_finished_period("monthly", dt.date(2026, 12, 1)) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert last_finished_period("monthly", dt.date(2026, 1, 15)) == (dt.date(2025, 12, 1), dt.date(2025, 12, 31))


def _staff(
    make_staff: Callable[..., User], username: str, province: str, email: str, role: str = Role.PROVINCE
) -> User:
    user = make_staff(role, province, username=username)
    user.email = email
    user.save(update_fields=["email"])
    return user


def test_a_monthly_report_goes_once_to_the_provinces_staff_with_the_pdf(
    world: dict[str, Any], manager: User, make_staff: Callable[..., User]
) -> None:
    rollups_refresh_all(today=TODAY)
    _staff(make_staff, "js1", "32", "js1@example.cn")
    _staff(make_staff, "js2", "32", "js2@example.cn")
    _staff(make_staff, "zj1", "33", "zj1@example.cn")
    report = ScheduledReport.objects.create(name="江苏月报", frequency="monthly", province="32", created_by=manager)

    sent = scheduled_reports_send_due(today=dt.date(2026, 12, 1))
    again = scheduled_reports_send_due(today=dt.date(2026, 12, 1))

    assert len(sent) == 1 and again == []
    (message,) = mail.outbox
    assert sorted(message.to) == ["js1@example.cn", "js2@example.cn"]
    assert "江苏月报" in message.subject
    (name, content, mimetype) = message.attachments[0]
    assert name == "report-32-20261101-20261130.pdf" and mimetype == "application/pdf" and content.startswith(b"%PDF")
    delivery = ReportDelivery.objects.get(report=report)
    assert (delivery.status, delivery.period_start, delivery.is_test) == (
        DeliveryStatus.SENT,
        dt.date(2026, 11, 1),
        False,
    )
    assert delivery.pdf.name and delivery.pdf.name.endswith(".pdf")


def test_a_report_without_recipients_is_logged_as_failed(manager: User) -> None:
    ScheduledReport.objects.create(name="浙江周报", frequency="weekly", province="33", created_by=manager)

    (delivery,) = scheduled_reports_send_due(today=dt.date(2026, 11, 23))

    assert delivery.status == DeliveryStatus.FAILED and "没有收件人" in delivery.error
    assert mail.outbox == []


def test_send_a_test_now_goes_to_the_requester_and_is_logged_as_a_test(
    world: dict[str, Any], make_staff: Callable[..., User], client_for: Callable[[User], Client],
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    boss = _staff(make_staff, "boss", "", "boss@example.cn", role=Role.MANAGER)
    report = ScheduledReport.objects.create(name="江苏周报", frequency="weekly", province="32", created_by=boss)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(boss).post(reverse("report-schedule-test", args=[report.pk]))
    assert response.status_code == 302 and len(callbacks) == 1
    scheduled_report_send_test(report=report, by=boss)  # what the queued task does
    scheduled_report_send_test(report=report, by=boss)  # tests may be sent any number of times

    assert [m.to for m in mail.outbox] == [["boss@example.cn"], ["boss@example.cn"]]
    assert "【测试】" in mail.outbox[0].subject
    assert ReportDelivery.objects.filter(report=report, is_test=True, status=DeliveryStatus.SENT).count() == 2
    log = client_for(boss).get(reverse("report-schedules"))
    assert "boss@example.cn" in log.content.decode()


def test_a_province_user_sees_only_their_provinces_schedules_and_cannot_send(
    manager: User, jiangsu_user: User, client_for: Callable[[User], Client]
) -> None:
    mine = ScheduledReport.objects.create(name="江苏周报", frequency="weekly", province="32", created_by=manager)
    other = ScheduledReport.objects.create(name="浙江周报", frequency="weekly", province="33", created_by=manager)
    client = client_for(jiangsu_user)

    page = client.get(reverse("report-schedules")).content.decode()

    assert mine.name in page and other.name not in page
    assert client.post(reverse("report-schedule-test", args=[mine.pk])).status_code == 403


def test_a_manager_creates_a_schedule_from_the_page(manager: User, client_for: Callable[[User], Client]) -> None:
    response = client_for(manager).post(
        reverse("report-schedules"),
        {"name": "江苏月报", "frequency": "monthly", "province": "32", "recipients": "a@example.cn， b@example.cn"},
    )

    assert response.status_code == 302
    report = ScheduledReport.objects.get()
    assert (report.province, report.recipients, report.created_by) == ("32", ["a@example.cn", "b@example.cn"], manager)
