"""A statistics query as the URL (or the API) gives it: filters and grouping, parsed leniently, with the province
scope pinned; and the filter bar that shows it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from invoicing.eligibility import (
    beijing_today,
)
from invoicing.models import (
    BusinessLine,
    DocumentKind,
    DocumentStatus,
)
from piaogen.access import scoped
from piaogen.identifiers import CardType, Province, VehicleClass, fold_fullwidth, province_label
from piaogen.models import User
from support.stats.subjects import (
    DEFAULT_DAYS,
    DIMENSIONS,
    MAX_DAYS,
    MAX_GROUPS,
    STATE_GROUP_LABELS,
    STATE_LABELS,
    SUBJECT_CHOICES,
    SUBJECTS,
    Subject,
)
from tolling.models import Operator

# --- the query ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatsQuery:
    """Filters and grouping, as in the URL. ``start``/``end`` is the trip (business) date of an item, the travel
    period of a document; ``issued_start``/``issued_end`` the issue date of a document, of an item's live document.
    Items are always bounded by their trip date, documents by their issue date (the default: the last 31 days)."""

    subject: str = "segments"
    start: dt.date | None = None
    end: dt.date | None = None
    issued_start: dt.date | None = None
    issued_end: dt.date | None = None
    province: str | None = None
    operator: int | None = None
    toll_unit: str | None = None
    business_line: str | None = None
    document_kind: str | None = None
    document_status: str | None = None
    card_type: int | None = None
    vehicle_class: int | None = None
    plate: str | None = None
    card: str | None = None
    customer: int | None = None
    buyer: str | None = None
    batch: int | None = None
    state: str | None = None
    group_by: tuple[str, ...] = ("day",)
    invalid: tuple[str, ...] = field(default=(), compare=False)  # parameters given but not understood (dropped)

    @property
    def spec(self) -> Subject:
        return SUBJECTS[self.subject]

    @property
    def is_documents(self) -> bool:
        return self.subject == "documents"

    @property
    def uses_states(self) -> bool:
        """Counting needs each item's invoice state (computed by ``invoicing.eligibility``)."""
        return not self.is_documents and (self.state is not None or "state" in self.group_by)

    def params(self, **overrides: object) -> dict[str, str]:
        """The query as URL parameters (empty ones left out), with ``overrides`` applied."""
        values: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "invalid"}
        values["group_by"] = ",".join(self.group_by)
        values.update(overrides)
        out: dict[str, str] = {}
        for key, value in values.items():
            if value is None or value == "":
                continue
            out[key] = value.isoformat() if isinstance(value, dt.date) else str(value)
        return out

    def rejected(self) -> list[str]:
        """Labels of the filters given with a value that is not valid (a date, a number, a choice): not applied."""
        return [str(StatsForm.base_fields[name].label or name) for name in self.invalid]

    def ignored(self) -> list[Promise]:
        """Labels of the filters set that do not apply to this subject (they are not applied)."""
        spec = self.spec
        checks = [
            (self.toll_unit, spec.toll_unit, _("收费单元")),
            (self.card_type, spec.card_type, _("卡类型")),
            (self.vehicle_class, spec.vehicle_class, _("收费车型")),
            (self.plate, spec.plate or (self.is_documents or None), _("车牌号")),
            (self.card, spec.card, _("ETC卡号")),
            (self.batch, spec.batch or None, _("上传批次")),
            (self.document_status, self.is_documents or None, _("票据状态")),
            (self.state, (not self.is_documents) or None, _("开票状态及原因")),
        ]
        return [label for value, applies, label in checks if value not in (None, "") and not applies]


class StatsForm(forms.Form):
    """The filter bar; parsed leniently (an invalid value is dropped, not an error)."""

    subject = forms.ChoiceField(label=_("统计对象"), required=False, choices=SUBJECT_CHOICES)
    start = forms.DateField(label=_("通行日期起"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("通行日期止"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    issued_start = forms.DateField(
        label=_("开票日期起"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    issued_end = forms.DateField(label=_("开票日期止"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    province = forms.ChoiceField(label=_("省份"), required=False, choices=[("", _("全部省份")), *Province.choices])
    operator = forms.IntegerField(label=_("路段业主/销售方"), required=False, min_value=1)
    toll_unit = forms.CharField(label=_("收费单元编号"), required=False)
    business_line = forms.ChoiceField(
        label=_("业务线"), required=False, choices=[("", _("全部业务线")), *BusinessLine.choices]
    )
    document_kind = forms.ChoiceField(
        label=_("票据种类"), required=False, choices=[("", _("全部种类")), *DocumentKind.choices]
    )
    document_status = forms.ChoiceField(
        label=_("票据状态"), required=False, choices=[("", _("全部状态")), *DocumentStatus.choices]
    )
    card_type = forms.TypedChoiceField(
        label=_("卡类型"), required=False, coerce=int, empty_value=None, choices=[("", _("全部")), *CardType.choices]
    )
    vehicle_class = forms.TypedChoiceField(
        label=_("收费车型"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("全部车型")), *VehicleClass.choices],
    )
    plate = forms.CharField(label=_("车牌号"), required=False)
    card = forms.CharField(label=_("ETC卡号"), required=False)
    customer = forms.IntegerField(label=_("客户编号"), required=False, min_value=1)
    buyer = forms.CharField(label=_("购买方抬头"), required=False)
    batch = forms.IntegerField(label=_("上传批次"), required=False, min_value=1)
    state = forms.ChoiceField(
        label=_("开票状态及原因"),
        required=False,
        choices=[("", _("全部")), *STATE_GROUP_LABELS.items(), *STATE_LABELS.items()],
    )
    group_by = forms.ChoiceField(label=_("分组"), required=False, choices=[("", _("不分组")), *DIMENSIONS.items()])
    then_by = forms.ChoiceField(label=_("再按"), required=False, choices=[("", _("不分组")), *DIMENSIONS.items()])


def _groups(data: QueryDict | dict[str, str]) -> tuple[str, ...]:
    raw = data.get("group_by")
    parts = [part.strip() for part in (raw or "").split(",")] if raw is not None else ["day"]
    if data.get("then_by"):  # the page's second select
        parts.append(str(data.get("then_by")))
    groups: list[str] = []
    for part in parts:
        if part in DIMENSIONS and part not in groups and len(groups) < MAX_GROUPS:
            if {part, *groups} >= {"day", "month"}:
                continue
            groups.append(part)
    return tuple(groups)


def _text(value: Any) -> str | None:
    text = fold_fullwidth(str(value or "")).strip()
    return text or None


def query_from(data: QueryDict | dict[str, str], *, user: User, today: dt.date | None = None) -> StatsQuery:
    """Parse the URL (or API) parameters, default the date range and pin the user's province."""
    form = StatsForm(data)
    form.is_valid()
    clean = form.cleaned_data
    subject = clean.get("subject") or "segments"
    dates: dict[str, Any] = {key: clean.get(key) for key in ("start", "end", "issued_start", "issued_end")}
    primary = ("issued_start", "issued_end") if subject == "documents" else ("start", "end")
    for low, high in (("start", "end"), ("issued_start", "issued_end")):
        if dates[low] and dates[high] and dates[low] > dates[high]:
            dates[low], dates[high] = dates[high], dates[low]
        if low == primary[0] or dates[low] or dates[high]:
            end = dates[high] or (today or beijing_today())
            start = dates[low] or end - dt.timedelta(days=DEFAULT_DAYS - 1)
            dates[low], dates[high] = max(start, end - dt.timedelta(days=MAX_DAYS - 1)), end
    return StatsQuery(
        subject=subject,
        **dates,
        province=user.province_scope or clean.get("province") or None,
        operator=clean.get("operator") or None,
        toll_unit=(_text(clean.get("toll_unit")) or "").upper() or None,
        business_line=clean.get("business_line") or None,
        document_kind=clean.get("document_kind") or None,
        document_status=clean.get("document_status") or None,
        card_type=clean.get("card_type") or None,
        vehicle_class=clean.get("vehicle_class") or None,
        plate=(_text(clean.get("plate")) or "").upper() or None,
        card=_text(clean.get("card")),
        customer=clean.get("customer") or None,
        buyer=_text(clean.get("buyer")),
        batch=clean.get("batch") or None,
        state=clean.get("state") or None,
        group_by=_groups(data),
        invalid=tuple(name for name in form.errors if name not in ("group_by", "then_by")),
    )


def _operators(user: User) -> QuerySet[Operator]:
    return scoped(Operator.objects.all(), user).order_by("province", "name")


def stats_form(query: StatsQuery, user: User) -> StatsForm:
    """The filter bar pre-filled with the query in force; a province user cannot pick another province."""
    initial = query.params()
    initial["group_by"], initial["then_by"] = ([*list(query.group_by), "", ""])[:2]
    form = StatsForm(initial=initial)
    form.fields["operator"] = forms.ChoiceField(
        label=_("路段业主/销售方"),
        required=False,
        choices=[("", _("全部")), *((str(pk), name) for pk, name in _operators(user).values_list("pk", "name"))],
    )
    if user.province_scope is not None:
        province = form.fields["province"]
        assert isinstance(province, forms.ChoiceField)
        province.choices = [(user.province_scope, province_label(user.province_scope))]
        province.disabled = True
    return form
