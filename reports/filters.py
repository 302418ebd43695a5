"""The one filter bar of the reports: date range, province, business line, operator, vehicle class, document kind.

It lives in the URL's query string; every chart, drill-down, export and PDF reads it through `filters_for`, which
also pins a province user (or a province-bound manager) to their own province whatever the URL says.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import forms
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.models import BusinessLine, DocumentKind
from piaogen.identifiers import Province, VehicleClass
from piaogen.models import User
from tolling.models import Operator

BEIJING = ZoneInfo("Asia/Shanghai")
DEFAULT_DAYS = 30
MAX_DAYS = 731


def beijing_today() -> dt.date:
    return timezone.localdate(timezone=BEIJING)


def day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Aware datetimes [start 00:00, end+1 00:00) in Beijing time, for filtering timestamps by Beijing day."""
    lower = dt.datetime.combine(start, dt.time.min, tzinfo=BEIJING)
    upper = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=BEIJING)
    return lower, upper


@dataclass(frozen=True)
class ReportFilters:
    start: dt.date
    end: dt.date
    province: str | None = None
    business_line: str | None = None
    operator: int | None = None
    vehicle_class: int | None = None
    document_kind: str | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> ReportFilters:
        """The period of the same length just before this one (for period-over-period change)."""
        return replace(self, start=self.start - dt.timedelta(days=self.days), end=self.start - dt.timedelta(days=1))

    def params(self, **overrides: object) -> dict[str, str]:
        """The filters as query parameters (empty ones left out), with `overrides` applied."""
        values: dict[str, object] = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "province": self.province,
            "business_line": self.business_line,
            "operator": self.operator,
            "vehicle_class": self.vehicle_class,
            "document_kind": self.document_kind,
        }
        values.update(overrides)
        return {key: str(value) for key, value in values.items() if value not in (None, "")}

    def query(self, **overrides: object) -> str:
        return urlencode(self.params(**overrides))


class ReportFilterForm(forms.Form):
    start = forms.DateField(label=_("开始日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("结束日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    province = forms.ChoiceField(label=_("省份"), required=False, choices=[("", _("全部省份")), *Province.choices])
    business_line = forms.ChoiceField(
        label=_("业务线"), required=False, choices=[("", _("全部业务线")), *BusinessLine.choices]
    )
    operator = forms.IntegerField(label=_("销售方"), required=False, min_value=1)
    vehicle_class = forms.TypedChoiceField(
        label=_("收费车型"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("全部车型")), *VehicleClass.choices],
    )
    document_kind = forms.ChoiceField(
        label=_("票据种类"), required=False, choices=[("", _("全部种类")), *DocumentKind.choices]
    )


def filters_from(data: QueryDict | dict[str, str], *, scope: str | None, today: dt.date | None = None) -> ReportFilters:
    """Parse the query string leniently (an invalid value is dropped, not an error) and apply the province scope."""
    today = today or beijing_today()
    form = ReportFilterForm(data)
    form.is_valid()
    clean = form.cleaned_data
    end = clean.get("end") or today
    start = clean.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        start, end = end, start
    start = max(start, end - dt.timedelta(days=MAX_DAYS - 1))
    return ReportFilters(
        start=start,
        end=end,
        province=scope or clean.get("province") or None,
        business_line=clean.get("business_line") or None,
        operator=clean.get("operator") or None,
        vehicle_class=clean.get("vehicle_class") or None,
        document_kind=clean.get("document_kind") or None,
    )


def filters_for(user: User, data: QueryDict | dict[str, str]) -> ReportFilters:
    return filters_from(data, scope=user.province_scope)


def filter_form(filters: ReportFilters, user: User) -> ReportFilterForm:
    """The filter bar pre-filled with what is in force; a province-bound user cannot pick another province."""
    form = ReportFilterForm(initial=filters.params())
    sellers = Operator.objects.order_by("province", "name")
    if filters.province:
        sellers = sellers.filter(province=filters.province)
    form.fields["operator"] = forms.ChoiceField(
        label=_("销售方"),
        required=False,
        choices=[("", _("全部销售方")), *((str(pk), name) for pk, name in sellers.values_list("pk", "name"))],
    )
    if user.province_scope is not None:
        field = form.fields["province"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(user.province_scope, user.get_province_display())]
        field.disabled = True
    return form
