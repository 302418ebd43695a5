"""Filters shared by the support pages and the API: the search page's narrowing form, and the customer and trip
list filters of `/api/v1/customers/` and `/api/v1/trips/` (each filter says which index serves it)."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from invoicing.models import BusinessLine, Customer, CustomerKind, DocumentStatus, SheetStatus
from piaogen.identifiers import Province, fold_fullwidth
from piaogen.models import User
from support.search import GROUP_LABELS, Group, SearchFilters, state_groups
from tolling.models import Trip, UploadStatus

STATES = {
    Group.DOCUMENT: DocumentStatus.choices,
    Group.SHEET: SheetStatus.choices,
    Group.BATCH: UploadStatus.choices,
}
"""The states of each record type that has one (``support.search.STATE_READINGS``), as their Chinese labels."""


def state_choices(groups: list[str]) -> list[Any]:
    """The state filter's options for a search that can find ``groups``: one type's states as they are, several
    types' each under the type's name (an 8-digit number is a document number or a batch id)."""
    if len(groups) == 1:
        return [("", _("全部状态")), *STATES[groups[0]]]
    return [("", _("全部状态")), *((GROUP_LABELS[group], STATES[group]) for group in groups)]


class SearchForm(forms.Form):
    """The search box and the filters that narrow its grouped results (all in the URL)."""

    q = forms.CharField(label=_("搜索"), max_length=200, required=False)
    province = forms.ChoiceField(label=_("省份"), choices=[("", _("全部省份")), *Province.choices], required=False)
    date_from = forms.DateField(label=_("日期起"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("日期止"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    business_line = forms.ChoiceField(
        label=_("业务线"), choices=[("", _("全部业务线")), *BusinessLine.choices], required=False
    )
    state = forms.ChoiceField(label=_("状态"), choices=[], required=False)

    def __init__(self, *args: Any, user: User | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        province = user.province_scope if user is not None else None
        if province:  # a province user searches their province only: the select offers nothing else
            label = dict(Province.choices).get(province, province)
            self.fields["province"].choices = [("", label)]  # type: ignore[attr-defined]
        # the state filter offers the states of what the text can find (none: no filter), and a state of another
        # type (kept in the URL from an earlier search) is dropped and said so, not applied to records without it
        groups = state_groups(str(self.data.get("q", "")))
        self.state_applies = bool(groups)
        state = self.fields["state"]
        assert isinstance(state, forms.ChoiceField)
        state.choices = state_choices(groups) if groups else [("", _("全部状态"))]
        offered = {value for group in groups for value, _label in STATES[group]}
        self.state_ignored = bool(self.data.get("state")) and self.data.get("state") not in offered
        if self.state_ignored:
            data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
            data.pop("state")
            self.data = data

    def search_filters(self) -> SearchFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return SearchFilters(
            province=data.get("province") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            business_line=data.get("business_line") or "",
            state=data.get("state") or "",
        )


class CustomerFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(method="filter_name", label=_("姓名/名称"))  # customer_name_trgm
    phone = django_filters.CharFilter(label=_("手机号"))  # unique index on phone
    id_no = django_filters.CharFilter(label=_("证件号码"))  # customer_id_no_idx
    kind = django_filters.ChoiceFilter(choices=CustomerKind.choices, label=_("类型"))
    province = django_filters.ChoiceFilter(choices=Province.choices, label=_("所属省份"))
    card_no = django_filters.CharFilter(method="filter_card_no", label=_("ETC卡号"))  # card_binding_card_idx

    class Meta:
        model = Customer
        fields = ["name", "phone", "id_no", "kind", "province", "card_no"]

    def filter_name(self, queryset: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        value = fold_fullwidth(value).strip()
        return (
            queryset.filter(name__icontains=value) if len(value) >= 3 else queryset.filter(name__trigram_similar=value)
        )

    def filter_card_no(self, queryset: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        """The customer holding the card now. A province user asks only about their province's cards: another
        province's card answers nothing, as a card that does not exist (it would tell them whose card it is)."""
        card_no = value.strip()
        user = getattr(self.request, "user", None)
        province = user.province_scope if isinstance(user, User) else None
        if province is not None and not card_no.startswith(province):
            return queryset.none()
        return queryset.filter(bindings__card_no=card_no, bindings__unbound_at__isnull=True)


class TripFilter(django_filters.FilterSet):
    pass_id = django_filters.CharFilter(label=_("通行标识"))  # trip_pass_id_uniq
    card_no = django_filters.CharFilter(label=_("ETC卡号"))  # trip_card_date_idx
    plate = django_filters.CharFilter(method="filter_plate", label=_("车牌号"))  # via the vehicle's cards
    date_from = django_filters.DateFilter(field_name="service_date", lookup_expr="gte", label=_("业务日期起"))
    date_to = django_filters.DateFilter(field_name="service_date", lookup_expr="lte", label=_("业务日期止"))

    class Meta:
        model = Trip
        fields = ["pass_id", "card_no", "plate", "date_from", "date_to"]

    def filter_plate(self, queryset: QuerySet[Trip], name: str, value: str) -> QuerySet[Trip]:
        from tolling.models import Card

        plate = fold_fullwidth(value).strip().upper()
        cards = Card.objects.filter(vehicle__plate=plate).values("card_no")  # vehicle_plate_color_uniq
        return queryset.filter(Q(card_no__in=cards), plate=plate)
