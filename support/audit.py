"""The audit trail viewer: who did what, when, from where, why, before → after; filters and a CSV export.

Who: maintainers and agents, every province (they act on every province; the trail is how they answer "what
happened to this invoice"). Managers and province users get 403: the trail names staff and customers across
provinces, and their work needs neither.

The trail is append-only: ``piaogen_auditevent`` has a trigger that refuses UPDATE and DELETE (piaogen migration
0001). Values that may carry PII (phones, ID numbers in before/after) are masked on the way out (``mask_pii``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

import django_filters
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from invoicing.eligibility import BEIJING
from piaogen.models import AuditEvent, Role
from support.privacy import mask_pii
from tolling.errorfile import neutralise

AUDIT_READERS = (Role.AGENT, Role.MAINTAINER)
EXPORT_CHUNK = 2000


class AuditFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(method="filter_actor", label=gettext_lazy("操作人"))  # audit_actor_at_idx
    action = django_filters.CharFilter(field_name="action", lookup_expr="startswith", label=gettext_lazy("操作"))
    object_type = django_filters.CharFilter(label=gettext_lazy("对象类型"))
    object_id = django_filters.CharFilter(label=gettext_lazy("对象标识"))  # audit_object_at_idx with object_type
    date_from = django_filters.DateFilter(field_name="at", lookup_expr="date__gte", label=gettext_lazy("日期起"))
    date_to = django_filters.DateFilter(field_name="at", lookup_expr="date__lte", label=gettext_lazy("日期止"))

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "object_type", "object_id", "date_from", "date_to"]

    def filter_actor(self, queryset: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        """A username (through the actor index), or ``system`` for what workers and tasks did."""
        if value == "system":
            return queryset.filter(actor__isnull=True)
        return queryset.filter(actor__username=value)


def audit_events() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-at", "-id")


# The page of an audited object, by its model label (``object_type``); a type without one shows no link.
OBJECT_PAGES = {
    "invoicing.customer": "customer-detail",
    "invoicing.document": "document-detail",
    "invoicing.summarysheet": "sheet-detail",
    "tolling.card": "card-detail",
    "tolling.trip": "trip-detail",
    "tolling.uploadbatch": "upload-detail",
    "support.ticket": "ticket-detail",
}


def _model(object_type: str) -> type[Model] | None:
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


def object_type_label(object_type: str) -> str:
    """The translated model name of an ``app.model`` label; an unknown type shows as it is."""
    model = _model(object_type)
    return str(model._meta.verbose_name) if model is not None else object_type


def object_url(object_type: str, object_id: str) -> str:
    """The page of the object where one exists, else ''."""
    name = OBJECT_PAGES.get(object_type)
    if name is None or not object_id.isdigit():
        return ""
    try:
        return reverse(name, args=[int(object_id)])
    except NoReverseMatch:
        return ""


def change_items(object_type: str, value: Any) -> list[tuple[str, str]]:
    """A before/after value as (label, text) pairs, PII masked: a field's label where the key names a field of
    the object's model, the key itself otherwise; a value that is not a mapping is one pair with no label."""
    if value is None:
        return []
    value = mask_pii(value)
    if not isinstance(value, dict):
        return [("", _text(value))]
    model = _model(object_type)
    return [_pair(model, key, item) for key, item in sorted(value.items())]


def _pair(model: type[Model] | None, key: str, value: Any) -> tuple[str, str]:
    """The field's label and, for a field with choices, the value's label."""
    try:
        field = model._meta.get_field(key) if model is not None else None
    except FieldDoesNotExist:
        field = None
    if field is None:
        return key, _text(value)
    choices = dict(getattr(field, "flatchoices", None) or [])
    shown = str(choices[value]) if isinstance(value, str | int) and value in choices else _text(value)
    return str(getattr(field, "verbose_name", key)), shown


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str | int | float | bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(mask_pii(value), ensure_ascii=False, sort_keys=True)


def event_row(event: AuditEvent) -> list[str]:
    """One CSV row: Beijing time, PII masked, every cell neutralised against spreadsheet formulas."""
    cells = [
        timezone.localtime(event.at, BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        event.actor_name,
        event.action,
        event.object_type,
        event.object_id,
        event.province,
        event.reason,
        event.ip or "",
        _json(event.before),
        _json(event.after),
    ]
    return [neutralise(str(cell)) for cell in cells]


class _Echo:
    def write(self, value: str) -> str:
        return value


def audit_csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """The export as CSV text lines: UTF-8 BOM, a Chinese header, then the events in chunks (flat memory)."""
    writer = csv.writer(_Echo())
    header = [_("时间（北京时间）"), _("操作人"), _("操作"), _("对象类型"), _("对象标识"), _("省份"), _("原因"),
              _("来源地址"), _("变更前"), _("变更后")]  # fmt: skip
    yield "\ufeff" + writer.writerow(header)
    for event in events.iterator(chunk_size=EXPORT_CHUNK):
        yield writer.writerow(event_row(event))
