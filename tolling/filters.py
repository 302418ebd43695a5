"""List filters shared by the HTML pages and the API."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from tolling.models import UploadBatch, UploadKind, UploadStatus

SINCE_BOUNDS = (dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 12, 30, tzinfo=dt.UTC))


def since_utc(value: dt.datetime) -> dt.datetime:
    """An ``updated_since`` moment in UTC, within bounds PostgreSQL and the Beijing date both take (a year 407
    would carry a local-mean-time offset PostgreSQL refuses)."""
    return min(max(value.astimezone(dt.UTC), SINCE_BOUNDS[0]), SINCE_BOUNDS[1])


class UploadBatchFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=UploadStatus.choices, label=_("状态"))
    kind = django_filters.ChoiceFilter(choices=UploadKind.choices, label=_("数据类型"))
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte", label=_("上传日期起"))
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label=_("上传日期止"))
    updated_since = django_filters.IsoDateTimeFilter(method="filter_updated_since", label=_("此后有变化"))

    class Meta:
        model = UploadBatch
        fields = ["status", "kind", "created_from", "created_to", "updated_since"]

    def filter_updated_since(
        self, queryset: QuerySet[UploadBatch], name: str, value: dt.datetime
    ) -> QuerySet[UploadBatch]:
        """Batches created, progressing or ended at or after ``value`` (every write of the pipeline moves the
        heartbeat; cancelling a queued batch sets ``finished_at``)."""
        since = since_utc(value)
        return queryset.filter(Q(created_at__gte=since) | Q(heartbeat_at__gte=since) | Q(finished_at__gte=since))
