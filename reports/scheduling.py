"""Scheduled reports and saved views. A schedule sends, daily (yesterday), weekly (Monday–Sunday) or monthly, the
management report or any report template (with a saved view's filters) for the nation or one province, e-mailed to
that province's staff and named addresses, with a delivery log. Periods are Beijing calendar periods; Celery beat
runs `scheduled_reports_send_due` every morning (Beijing time), which sends each active report's last finished
period once (a unique constraint on the delivery row is the claim: a second run, or a second worker, finds the
period taken and does nothing). A saved view is a template with its filters under a name.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext

from piaogen.audit import audit_record
from piaogen.identifiers import PROVINCE_NAMES
from piaogen.models import Role, User
from reports.catalog import template_for
from reports.filters import ReportFilters, beijing_today, filters_from
from reports.models import DeliveryStatus, ReportDelivery, ReportFrequency, SavedView, ScheduledReport
from reports.pdf import filter_labels, report_pdf_bytes, template_pdf_bytes
from reports.rollups import rollups_as_of


def last_finished_period(frequency: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """Yesterday, or the last whole week (Monday–Sunday) or calendar month before `today`."""
    if frequency == ReportFrequency.DAILY:
        yesterday = today - dt.timedelta(days=1)
        return yesterday, yesterday
    if frequency == ReportFrequency.WEEKLY:
        end = today - dt.timedelta(days=today.weekday() + 1)
        return end - dt.timedelta(days=6), end
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end


def clean_query(query: str) -> str:
    """A report's filters as kept with a view or schedule: the filter bar's fields only, no dates (a view and a
    schedule bring their own period) and no province (the scope does)."""
    kept = [(key, value) for key, value in parse_qsl(query) if key in VIEW_FIELDS and value]
    return urlencode(kept)[:1000]


VIEW_FIELDS = ("business_line", "operator", "vehicle_class", "document_kind", "start", "end", "province")
SCHEDULE_FIELDS = ("business_line", "operator", "vehicle_class", "document_kind")


@transaction.atomic
def scheduled_report_create(
    *,
    by: User,
    name: str,
    frequency: str,
    province: str,
    recipients: list[str],
    template: str = "",
    query: str = "",
) -> ScheduledReport:
    query = urlencode([(k, v) for k, v in parse_qsl(query) if k in SCHEDULE_FIELDS])
    report = ScheduledReport.objects.create(
        name=name, frequency=frequency, province=province, recipients=recipients, created_by=by, template=template,
        query=query,
    )  # fmt: skip
    audit_record(actor=by, action="report.schedule_create", obj=report)
    return report


@transaction.atomic
def scheduled_report_update(
    *, report: ScheduledReport, by: User, name: str, frequency: str, province: str, recipients: list[str],
    template: str = "", query: str | None = None,
) -> ScheduledReport:  # fmt: skip
    before = {"name": report.name, "frequency": report.frequency, "province": report.province,
              "recipients": report.recipients, "template": report.template, "query": report.query}  # fmt: skip
    report.name, report.frequency, report.province = name, frequency, province
    report.recipients, report.template = recipients, template
    if query is not None:
        report.query = urlencode([(k, v) for k, v in parse_qsl(query) if k in SCHEDULE_FIELDS])
    report.save()
    audit_record(actor=by, action="report.schedule_update", obj=report, before=before)
    return report


@transaction.atomic
def scheduled_report_pause(*, report: ScheduledReport, by: User, active: bool) -> ScheduledReport:
    """Pause (active=False) or resume a schedule; idempotent."""
    if report.active != active:
        report.active = active
        report.save(update_fields=["active"])
        audit_record(actor=by, action="report.schedule_pause" if not active else "report.schedule_resume", obj=report)
    return report


def schedule_filters(report: ScheduledReport, start: dt.date, end: dt.date) -> ReportFilters:
    params = dict(parse_qsl(report.query))
    params.update(start=start.isoformat(), end=end.isoformat())
    return filters_from(params, scope=report.province or None)


def scheduled_report_pdf(report: ScheduledReport, start: dt.date, end: dt.date) -> bytes:
    """The PDF a schedule sends for a period: its template's, or the management report."""
    filters = schedule_filters(report, start, end)
    label = f"{report.name}（{report.get_frequency_display()}）"
    template = template_for(report.template) if report.template else None
    if template is not None:
        return template_pdf_bytes(template, filters, user_label=label, as_of=rollups_as_of())
    return report_pdf_bytes(filters, user_label=label)


def report_recipients(report: ScheduledReport) -> list[str]:
    """The users of the report's scope with an e-mail address — a province's active staff, or for a national report
    the national managers — plus the addresses named on the report."""
    if report.province:
        users = User.objects.filter(is_active=True, role=Role.PROVINCE, province=report.province)
    else:
        users = User.objects.filter(is_active=True, role=Role.MANAGER, province="")
    staff = users.exclude(email="").order_by("email").values_list("email", flat=True)
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
    filters = schedule_filters(report, start, end)
    try:
        if not recipients:
            raise ValueError(gettext("没有收件人：该省工作人员均未填写邮箱，报表也未指定其他收件人。"))
        pdf = scheduled_report_pdf(report, start, end)
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
    return scheduled_report_deliver(report=report, start=start, end=end, is_test=True, to=test_recipients(report, by))


def test_recipients(report: ScheduledReport, by: User) -> list[str]:
    """Who a test send reaches: the requesting user, or the report's recipients when they have no address."""
    return [by.email] if by.email else report_recipients(report)


# --- saved views ---------------------------------------------------------------------------------------------------


@transaction.atomic
def saved_view_save(*, owner: User, name: str, template: str, query: str, shared: bool) -> SavedView:
    """Save (or overwrite, by name) the owner's view of a template with the filters in the query string."""
    view, _ = SavedView.objects.update_or_create(
        owner=owner,
        name=name,
        defaults={"template": template, "query": clean_query(query), "shared": shared,
                  "province": owner.province_scope or ""},
    )  # fmt: skip
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView) -> None:
    view.delete()


def saved_views_for(user: User) -> QuerySet[SavedView]:
    """The user's own views and the shared views of their scope (a national reader sees every shared view)."""
    shared = Q(shared=True)
    if user.province_scope is not None:
        shared &= Q(province=user.province_scope)
    return SavedView.objects.filter(Q(owner=user) | shared).select_related("owner").order_by("name", "pk")
