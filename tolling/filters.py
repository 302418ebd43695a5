"""List filters shared by the HTML pages and the API."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from tolling.models import UploadBatch, UploadKind, UploadStatus


class UploadBatchFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=UploadStatus.choices, label=_("状态"))
    kind = django_filters.ChoiceFilter(choices=UploadKind.choices, label=_("数据类型"))
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte", label=_("上传日期起"))
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label=_("上传日期止"))

    class Meta:
        model = UploadBatch
        fields = ["status", "kind", "created_from", "created_to"]
