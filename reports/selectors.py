"""Reports reads shared by the pages, the API and the scheduled reports: who reads reports, a template's filter
bar, and the link from every figure to the rows behind it (a number = the count of the rows its link opens)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from piaogen.models import Role, User
from reports.catalog import ReportTemplate, default_month, previous_month
from reports.filters import ReportFilters, beijing_today, filters_for

REPORT_ROLES = (Role.PROVINCE, Role.MANAGER, Role.MAINTAINER)
SCHEDULERS = (Role.MANAGER, Role.MAINTAINER)
"""Who reads reports (province staff their province's), and who schedules them."""

AUDIT_READERS = (Role.AGENT, Role.MAINTAINER)  # who opens the audit trail (support/audit.py)


def drill_url(filters: ReportFilters, user: User) -> Callable[..., str]:
    paths: dict[str, str] = {}  # a dashboard links ≈ 160 points to a handful of lists: reverse each list once

    def url(rows: str, **overrides: object) -> str:
        if rows == "actions":  # the audit trail: national, for its readers only
            if not user.has_role(*AUDIT_READERS) or user.province_scope is not None:
                return ""
            query = urlencode({"action": overrides.get("action", ""), "date_from": filters.start.isoformat(),
                               "date_to": filters.end.isoformat()})  # fmt: skip
            try:
                return f"{reverse('audit-list')}?{query}"
            except NoReverseMatch:
                return ""
        if rows == "upload":  # one batch's page
            return reverse("upload-detail", args=[overrides["pk"]])
        if rows not in paths:
            paths[rows] = reverse(f"report-{rows}")
        return f"{paths[rows]}?{filters.query(**overrides)}"

    return url


def template_period(
    template: ReportTemplate, user: User, data: QueryDict | dict[str, str]
) -> tuple[ReportFilters, str]:
    """The filter bar for a template, and what the page says about a period it chose: without dates a monthly
    template shows the last full month (or, when that month has no documents, the month so far: `default_month`),
    the others the last 30 days."""
    params = {key: str(data.get(key)) for key in data}
    if params.get("start") or params.get("end"):
        return filters_for(user, params), ""
    if template.default_period != "month":
        filters = filters_for(user, params)
        return filters, _("未选日期，显示最近 %(days)d 天（%(start)s 至 %(end)s）。") % {
            "days": filters.days, "start": filters.start, "end": filters.end}  # fmt: skip
    today = beijing_today()
    province = user.province_scope or params.get("province") or None
    start, end, so_far = default_month(today, province)
    params.update(start=start.isoformat(), end=end.isoformat())
    if so_far:
        last_start, last_end = previous_month(today)
        note = _("上个月（%(last_start)s 至 %(last_end)s）还没有开票数据，显示本月至今（%(start)s 至 %(end)s）。") % {
            "last_start": last_start, "last_end": last_end, "start": start, "end": end}  # fmt: skip
    else:
        note = _("未选日期，显示上个月（%(start)s 至 %(end)s）的完整数据。") % {"start": start, "end": end}
    return filters_for(user, params), note


def template_filters(template: ReportTemplate, user: User, data: QueryDict | dict[str, str]) -> ReportFilters:
    """The filter bar for a template (``template_period`` without the note)."""
    return template_period(template, user, data)[0]
