"""The audit trail viewer: who did what, when, from where, why, before → after; filters and a CSV export.

Who: maintainers and agents, every province (they act on every province; the trail is how they answer "what
happened to this invoice"). Managers and province users get 403: the trail names staff and customers across
provinces, and their work needs neither.

The trail is append-only: ``piaogen_auditevent`` has a trigger that refuses UPDATE and DELETE (piaogen migration
0001). Values that may carry PII (phones, ID numbers in before/after) are masked on the way out (``mask_pii``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import django_filters
from django import forms
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from invoicing.eligibility import BEIJING
from piaogen.identifiers import province_label
from piaogen.models import AUDIT_ACTION_LABELS, AuditEvent, Role, User
from support.models import TicketLink
from support.privacy import mask_pii
from support.ticket_links import linked_records
from tolling.errorfile import neutralise

AUDIT_READERS = (Role.AGENT, Role.MAINTAINER)
EXPORT_CHUNK = 2000


def _action_choices() -> list[tuple[str, Any]]:
    return [("", gettext_lazy("全部操作")), *sorted(AUDIT_ACTION_LABELS.items(), key=lambda pair: str(pair[1]))]


def _object_type_choices() -> list[tuple[str, Any]]:
    return [("", gettext_lazy("全部对象")), *((label, object_type_label(label)) for label in OBJECT_PAGES)]


class AuditFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(method="filter_actor", label=gettext_lazy("操作人"))  # audit_actor_at_idx
    # selects by label; the values stay the codes in the URL (an action prefix such as ``document.`` still works)
    action = django_filters.CharFilter(
        field_name="action", lookup_expr="startswith", label=gettext_lazy("操作"), widget=forms.Select
    )
    object_type = django_filters.CharFilter(label=gettext_lazy("对象类型"), widget=forms.Select)
    object_id = django_filters.CharFilter(label=gettext_lazy("对象标识"))  # audit_object_at_idx with object_type
    date_from = django_filters.DateFilter(field_name="at", lookup_expr="date__gte", label=gettext_lazy("日期起"))
    date_to = django_filters.DateFilter(field_name="at", lookup_expr="date__lte", label=gettext_lazy("日期止"))

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "object_type", "object_id", "date_from", "date_to"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.form.fields["action"].widget.choices = _action_choices()
        self.form.fields["object_type"].widget.choices = _object_type_choices()

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


class Shown(str):
    """A value as the viewer shows it; ``url`` is the page it links to ('' for none)."""

    url = ""


def _shown(text: Any, url: str = "") -> Shown:
    shown = Shown(text)
    shown.url = url
    return shown


# labels of the keys actions write that are not fields of the audited object's model
KEY_LABELS = {
    "action": gettext_lazy("操作结果"),
    "admin": gettext_lazy("管理后台变更"),
    "assignee": gettext_lazy("处理人"),
    "buyer_name": gettext_lazy("购买方名称"),
    "card_no": gettext_lazy("ETC卡号"),
    "cards": gettext_lazy("ETC卡号"),
    "category": gettext_lazy("类别"),
    "choice": gettext_lazy("开票方式"),
    "customer": gettext_lazy("客户"),
    "documents": gettext_lazy("票据"),
    "expires_at": gettext_lazy("到期时间"),
    "file": gettext_lazy("文件"),
    "holder": gettext_lazy("持卡人"),
    "kind": gettext_lazy("类型"),
    "link": gettext_lazy("关联记录"),
    "links": gettext_lazy("关联记录"),
    "name": gettext_lazy("名称"),
    "new": gettext_lazy("新票据"),
    "number": gettext_lazy("号码"),
    "numbers": gettext_lazy("票据号码"),
    "one_document": gettext_lazy("仅用于一张换票"),
    "pass_ids": gettext_lazy("通行标识"),
    "red": gettext_lazy("红字票据"),
    "red_number": gettext_lazy("红字票据号码"),
    "replaced_by": gettext_lazy("由新汇总单替代"),
    "replaces": gettext_lazy("替代的汇总单"),
    "size": gettext_lazy("文件大小（字节）"),
    "status": gettext_lazy("状态"),
    "summary": gettext_lazy("结果"),
    "tax_id": gettext_lazy("纳税人识别号"),
    "title": gettext_lazy("抬头"),
    "titles": gettext_lazy("抬头数"),
    "valid_from": gettext_lazy("生效时间"),
}
HIDDEN_KEYS = {"version", "reveal"}  # internal ids with no page: the rest of the event says what they were
_DOCUMENT_KEYS = {"documents", "red", "new"}
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


class Names:
    """The names of the records a page of events refers to, looked up in bulk: render the page once to learn what
    it refers to (``wanted``), ``resolve``, render again."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, str], Shown] = {}
        self.wanted: set[tuple[str, str]] = set()

    def get(self, kind: str, key: Any) -> Shown:
        """``kind``: a model label (key: its pk) or a ticket link's object type (key: as links store it)."""
        ref = (kind, str(key))
        if ref not in self.known:
            self.wanted.add(ref)
            return _shown(key)
        return self.known[ref]

    def resolve(self, user: User) -> None:
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, key in self.wanted - set(self.known):
            by_kind[kind].append(key)
        for label, keys in by_kind.items():
            if "." in label:
                self.known.update(_model_names(label, keys))
        links = [TicketLink(object_type=kind, object_key=key) for kind, keys in by_kind.items() if "." not in kind
                 for key in keys]  # fmt: skip
        for link, record in zip(links, linked_records(user=user, links=links), strict=True):
            self.known[link.object_type, link.object_key] = _shown(
                f"{object_type_label(LINK_MODELS.get(link.object_type, ''))} {record.label}".strip(), record.url
            )
        self.wanted.clear()


# a ticket link's object type → the model label (for its name in words)
LINK_MODELS = {
    "customer": "invoicing.customer",
    "document": "invoicing.document",
    "card": "tolling.card",
    "trip": "tolling.trip",
    "sheet": "invoicing.summarysheet",
    "batch": "tolling.uploadbatch",
}


def _model_names(label: str, keys: list[str]) -> dict[tuple[str, str], Shown]:
    """Records of one model by pk, each as its number or name (the audit readers see every province)."""
    model = _model(label)
    pks = [int(key) for key in keys if key.isdigit()]
    if model is None or not pks:
        return {}
    page = OBJECT_PAGES.get(label)
    found: dict[tuple[str, str], Shown] = {}
    for obj in model._default_manager.filter(pk__in=pks):
        if label == "support.actionrequest":
            text, url = _("查看"), reverse("action-result", args=[obj.pk])
        else:
            text, url = _object_text(label, obj), (reverse(page, args=[obj.pk]) if page else "")
        found[label, str(obj.pk)] = _shown(text, url)
    return found


def _object_text(label: str, obj: Any) -> str:
    if label == "invoicing.document":
        return f"{obj.get_kind_display()} {obj}"
    if label == "tolling.card":
        return str(obj.card_no)
    if label == "tolling.trip":
        return str(obj.pass_id)
    if label == "tolling.uploadbatch":
        return _("批次 #%(id)s %(file)s") % {"id": obj.pk, "file": obj.file_name}
    if label == "support.ticket":
        return f"#{obj.pk} {obj.subject}"
    return str(getattr(obj, "number", "") or getattr(obj, "name", "") or obj)


def change_items(object_type: str, value: Any, names: Names | None = None) -> list[tuple[str, Shown]]:
    """A before/after value as (label, value) pairs, PII masked: a field's label where the key names a field of
    the object's model (a choice by its label, a related record by its name), the actions' other keys by their
    label (records they name by name or number, with a link); a value that is not a mapping is one pair with no
    label. A list of records is one pair per record (the label on the first)."""
    names = names or Names()
    if value is None:
        return []
    value = mask_pii(value)
    if not isinstance(value, dict):
        return [("", _shown(_text(value)))]
    model = _model(object_type)
    items: list[tuple[str, Shown]] = []
    for key, item in sorted(value.items()):
        if key in HIDDEN_KEYS:
            continue
        label, shown = _pair(model, key, item, names)
        items += [(label if n == 0 else "", one) for n, one in enumerate(shown)]
    return items


def _pair(model: type[Model] | None, key: str, value: Any, names: Names) -> tuple[str, list[Shown]]:
    try:
        field = model._meta.get_field(key) if model is not None else None
    except FieldDoesNotExist:
        field = None
    if field is not None and not getattr(field, "concrete", False):
        field = None  # a reverse relation (``titles`` of a customer): the key means something else
    label = str(getattr(field, "verbose_name", None) or KEY_LABELS.get(key, key))
    if value is None:
        return label, [_shown("—")]
    if key == "links" and isinstance(value, list):
        return label, [names.get(str(kind), k) for kind, k in value if isinstance(kind, str)] or [_shown("—")]
    if key == "link" and isinstance(value, str) and ":" in value:
        kind, k = value.split(":", 1)
        return label, [names.get(kind, k)]
    if key in _DOCUMENT_KEYS and isinstance(value, int | list):
        return label, [names.get("invoicing.document", pk) for pk in (value if isinstance(value, list) else [value])]
    if field is None and key == "customer" and isinstance(value, int):
        return label, [names.get("invoicing.customer", value)]
    if field is None and key == "action" and isinstance(value, int):
        return label, [names.get("support.actionrequest", value)]
    if field is not None and field.is_relation and isinstance(value, int) and field.related_model is not None:
        return label, [names.get(field.related_model._meta.label_lower, value)]
    choices = dict(getattr(field, "flatchoices", None) or []) if field is not None else {}
    if isinstance(value, str | int) and value in choices:
        return label, [_shown(choices[value])]
    return label, [_shown(_text(value))]


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(_("是") if value else _("否"))
    if isinstance(value, str) and _ISO.match(value):
        try:
            return timezone.localtime(dt.datetime.fromisoformat(value), BEIJING).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list):
        return _("、").join(_text(item) for item in value) or "—"
    if isinstance(value, dict):
        return _("；").join(str(KEY_LABELS.get(k, k)) + _("：") + _text(v) for k, v in sorted(value.items()))
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def plain_text(value: Any) -> str:
    """A value of an audit event in words (lists joined, dates in Beijing time), for lines of text."""
    return _text(value)


def event_province(code: str) -> str:
    return province_label(code) if code else "—"


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
