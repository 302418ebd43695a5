"""Words for the codes reports group by: a chart, a table, a PDF or an API answer shows these, never the code
(`upload.create`, `etc_trip`, `0.09`). An unknown code reads as 其他 (other) rather than as itself."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from invoicing.models import BusinessLine, DocumentKind
from piaogen.identifiers import VehicleClass, province_label
from piaogen.models import AUDIT_ACTION_LABELS
from support.models import TicketCategory
from support.recognise import KIND_LABELS
from tolling.models import UploadKind


def _choice(choices: Sequence[tuple[Any, Any]], key: object) -> str:
    label = dict(choices).get(key)
    return str(label) if label is not None else _("其他")


def business_line_label(key: str) -> str:
    return _choice(BusinessLine.choices, key)


def document_kind_label(key: str) -> str:
    return _choice(DocumentKind.choices, key)


def vehicle_class_label(key: int | None) -> str:
    return _choice(VehicleClass.choices, key) if key is not None else _("不适用")


SEARCH_KINDS = (*KIND_LABELS, "unrecognised")  # support.search.UNRECOGNISED


def search_kind_label(key: str) -> str:
    if key == "unrecognised":
        return _("未识别")
    return _choice(list(KIND_LABELS.items()), key)


def upload_kind_label(key: str) -> str:
    return _choice(UploadKind.choices, key)


def ticket_category_label(key: str) -> str:
    return _choice(TicketCategory.choices, key)


def action_label(key: str) -> str:
    label = AUDIT_ACTION_LABELS.get(key)
    return str(label) if label is not None else _("其他操作")


def sla_label(key: str) -> str:
    return {"met": _("按时完成"), "overdue": _("超时"), "open": _("处理中（未到期）")}.get(key, _("其他"))


def tax_rate_key(rate: Decimal | None) -> str:
    """The drill parameter of a rate: ``0.09``, ``0``, or ``none`` for documents without one."""
    if rate is None:
        return "none"
    return "0" if rate == 0 else f"{rate.normalize():f}"


def tax_rate_label(key: str) -> str:
    if key == "none":
        return _("无税率（财政票据）")
    try:
        rate = Decimal(key)
    except InvalidOperation:
        return _("其他")
    if rate == 0:
        return _("不征税/免税")
    return f"{rate * 100:g}%"


def province_name(key: str) -> str:
    return province_label(key) if key else _("全国")


def narrow_labels(kind: str, narrowed: dict[str, str]) -> list[str]:
    """The drill link's narrowing in words, for the drill-down page's heading."""
    labels = []
    for param, value in narrowed.items():
        if param == "failed":
            labels.append(_("失败批次"))
        elif param == "search_kind":
            labels.append(search_kind_label(value))
        elif param == "late":
            labels.append(_("含迟到数据的批次"))
        elif param == "red":
            labels.append(_("红字票据"))
        elif param == "blue":
            labels.append(_("蓝字票据"))
        elif param == "reissued":
            labels.append(_("换票"))
        elif param == "tax_rate":
            labels.append(tax_rate_label(value))
        elif param == "kind":
            labels.append(upload_kind_label(value))
        elif param == "category":
            labels.append(ticket_category_label(value))
        elif param == "sla":
            labels.append(sla_label(value))
    return labels
