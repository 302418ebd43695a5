"""Scheduled reports: weekly (Monday–Sunday) and monthly PDFs per province, e-mailed to that province's staff, with a
delivery log. Periods are Beijing calendar periods; Celery beat runs `scheduled_reports_send_due` every morning
(Beijing time), which sends each active report's last finished period once (a unique constraint on the delivery
row is the claim: a second run, or a second worker, finds the period taken and does nothing).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext

from piaogen.audit import audit_record
from piaogen.identifiers import PROVINCE_NAMES
from piaogen.models import Role, User
from reports.filters import ReportFilters, beijing_today
from reports.models import DeliveryStatus, ReportDelivery, ReportFrequency, ScheduledReport
from reports.pdf import filter_labels, report_pdf_bytes


def last_finished_period(frequency: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The last whole week (Monday–Sunday) or calendar month before `today`."""
    if frequency == ReportFrequency.WEEKLY:
        end = today - dt.timedelta(days=today.weekday() + 1)
        return end - dt.timedelta(days=6), end
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end


@transaction.atomic
def scheduled_report_create(
    *, by: User, name: str, frequency: str, province: str, recipients: list[str]
) -> ScheduledReport:
    report = ScheduledReport.objects.create(
        name=name, frequency=frequency, province=province, recipients=recipients, created_by=by
    )
    audit_record(actor=by, action="report.schedule_create", obj=report)
    return report


def report_recipients(report: ScheduledReport) -> list[str]:
    """The province's active staff with an e-mail address, plus the addresses named on the report."""
    staff: list[str] = []
    if report.province:
        staff = list(
            User.objects.filter(is_active=True, role=Role.PROVINCE, province=report.province)
            .exclude(email="")
            .order_by("email")
            .values_list("email", flat=True)
        )
    return sorted(set(staff) | set(report.recipients))


def scheduled_report_deliver(
    *, report: ScheduledReport, start: dt.date, end: dt.date, is_test: bool = False, to: list[str] | None = None
) -> ReportDelivery | None:
    """Render and send one period of a report, logging the delivery. A scheduled (non-test) period is sent at most
    once: returns None when it was already claimed."""
    recipients = to if to is not None else report_recipients(report)
    try:
        with transaction.atomic():
            delivery = ReportDelivery.objects.create(
                report=report, period_start=start, period_end=end, recipients=recipients, is_test=is_test
            )
    except IntegrityError:
        return None
    filters = ReportFilters(start=start, end=end, province=report.province or None)
    try:
        if not recipients:
            raise ValueError(gettext("没有收件人：该省工作人员均未填写邮箱，报表也未指定其他收件人。"))
        pdf = report_pdf_bytes(filters, user_label=f"{report.name}（{report.get_frequency_display()}）")
        with translation.override("zh-hans"):
            context = {
                "report": report,
                "province": PROVINCE_NAMES.get(report.province, "") if report.province else "",
                "filters": filter_labels(filters),
                "is_test": is_test,
            }
            subject = render_to_string("emails/report-subject.txt", context).strip()
            body = render_to_string("emails/report-body.txt", context)
            html = render_to_string("emails/report-body.html", context)
        message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
        message.attach_alternative(html, "text/html")
        filename = f"report-{report.province or 'all'}-{start:%Y%m%d}-{end:%Y%m%d}.pdf"
        message.attach(filename, pdf, "application/pdf")
        message.send()
        delivery.pdf.save(f"reports/{report.pk}/{delivery.pk}-{filename}", ContentFile(pdf), save=False)
        delivery.status = DeliveryStatus.SENT
    except Exception as error:
        delivery.status = DeliveryStatus.FAILED
        delivery.error = str(error)[:2000]
    delivery.sent_at = timezone.now()
    delivery.save(update_fields=["pdf", "status", "error", "sent_at"])
    return delivery


def scheduled_reports_send_due(*, today: dt.date | None = None) -> list[ReportDelivery]:
    """Send every active report's last finished period that has not been sent yet."""
    today = today or beijing_today()
    sent = []
    for report in ScheduledReport.objects.filter(active=True).order_by("pk"):
        start, end = last_finished_period(report.frequency, today)
        if ReportDelivery.objects.filter(report=report, period_start=start, period_end=end, is_test=False).exists():
            continue
        delivery = scheduled_report_deliver(report=report, start=start, end=end)
        if delivery is not None:
            sent.append(delivery)
    return sent


def scheduled_report_send_test(*, report: ScheduledReport, by: User) -> ReportDelivery | None:
    """ "Send a test now": the last finished period, to the requesting user's address (or the report's recipients
    when they have none), logged as a test delivery."""
    start, end = last_finished_period(report.frequency, beijing_today())
    to = [by.email] if by.email else None
    return scheduled_report_deliver(report=report, start=start, end=end, is_test=True, to=to)
