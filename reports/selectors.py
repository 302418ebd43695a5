"""Reports reads shared by the pages, the API and the scheduled reports: who reads reports, a template's filter
bar, and the link from every figure to the rows behind it (a number = the count of the rows its link opens)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import QueryDict
from django.urls import NoReverseMatch, reverse

from piaogen.models import Role, User
from reports.catalog import ReportTemplate, previous_month
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


def template_filters(template: ReportTemplate, user: User, data: QueryDict | dict[str, str]) -> ReportFilters:
    """The filter bar for a template: a monthly template without dates shows the last full month."""
    params = {key: str(data.get(key)) for key in data}
    if template.default_period == "month" and not params.get("start") and not params.get("end"):
        start, end = previous_month(beijing_today())
        params.update(start=start.isoformat(), end=end.isoformat())
    return filters_for(user, params)
