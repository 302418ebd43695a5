"""List filters shared by the HTML pages and the API."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.models import BusinessLine, Document, DocumentKind, DocumentStatus
from piaogen.identifiers import Province
from tolling.filters import since_utc


class DocumentFilter(django_filters.FilterSet):
    number = django_filters.CharFilter(label=_("票据号码"))  # document_number_idx
    code = django_filters.CharFilter(label=_("票据代码"))
    kind = django_filters.ChoiceFilter(choices=DocumentKind.choices, label=_("票据种类"))
    status = django_filters.ChoiceFilter(choices=DocumentStatus.choices, label=_("状态"))
    business_line = django_filters.ChoiceFilter(choices=BusinessLine.choices, label=_("业务线"))
    card_no = django_filters.CharFilter(label=_("ETC卡号"))  # document_card_date_idx
    customer = django_filters.NumberFilter(field_name="customer_id", label=_("客户"))  # document_customer_idx
    province = django_filters.ChoiceFilter(choices=Province.choices, label=_("省份"))  # document_province_date_idx
    # service_date is the Beijing date of issued_at (开票日期)
    issued_from = django_filters.DateFilter(field_name="service_date", lookup_expr="gte", label=_("开票日期起"))
    issued_to = django_filters.DateFilter(field_name="service_date", lookup_expr="lte", label=_("开票日期止"))
    updated_since = django_filters.IsoDateTimeFilter(method="filter_updated_since", label=_("此后有变化"))

    def filter_updated_since(self, queryset: QuerySet[Document], name: str, value: dt.datetime) -> QuerySet[Document]:
        """Documents issued at or after ``value``, or reversed since (a document changes only by its red-letter
        document, whose ``original`` it is: document_original_idx)."""
        since = since_utc(value)
        since_date = timezone.localdate(since)
        red = Document.objects.filter(original=OuterRef("pk"), issued_at__gte=since, service_date__gte=since_date)
        return queryset.filter(Q(service_date__gte=since_date, issued_at__gte=since) | Exists(red))

    class Meta:
        model = Document
        fields = [
            "number",
            "code",
            "kind",
            "status",
            "business_line",
            "card_no",
            "customer",
            "province",
            "issued_from",
            "issued_to",
            "updated_since",
        ]
