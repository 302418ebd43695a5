"""The masking layer (``piaogen.privacy``): one rule for every kind of personal data, and walks over every template
variable and every serializer field that fail when one holds personal data without going through the layer.

The rendered channels (pages, API, exports, audit CSV, previews, action results) are checked end to end with real
data in tests/support/test_privacy_channels.py; logs in tests/piaogen/test_logs.py."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.template import Template, engines
from django.template.base import FilterExpression, Node, Variable, VariableNode
from django.template.defaulttags import WithNode
from django.template.loader_tags import IncludeNode
from django.templatetags.i18n import BlockTranslateNode
from rest_framework import serializers

from piaogen.privacy import (
    PII_FIELDS,
    PII_KEYS,
    MaskedDictField,
    MaskedJSONField,
    Pii,
    PiiField,
    Revealed,
    is_personal_tax_id,
    mask_json,
    mask_text,
    shown,
)
from piaogen.templatetags.console import pii

ROOT = Path(settings.BASE_DIR)
APPS = ("piaogen", "invoicing", "support", "reports", "tolling")

# what is printed on a legal document, or e-mailed to its buyer, is printed as issued (the buyer's own data)
LEGAL_TEMPLATES = ("invoicing/pdf/", "emails/")

# input-only serializers: they read a request body and are never rendered in a response
INPUT_SERIALIZERS = {
    "support.views.actions._HolderSerializer",
    "support.views.actions.CardBindSerializer",
    "support.views.actions.TitleAddSerializer",
    "invoicing.api.DeliveryRequestSerializer",
    "invoicing.api.NewTitleSerializer",  # a claim's new title (request body only)
    "invoicing.api.InvoiceRequestSerializer",
}


# --- the rule -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        (Pii.PHONE, "13912345678", "139****5678"),
        (Pii.ID_NO, "110101199003071234", "110101********1234"),
        (Pii.TAX_ID, "110101199003071234", "110101********1234"),  # a person's: their resident ID
        (Pii.TAX_ID, "91320100MA1XY0123J", "91320100MA1XY0123J"),  # a company's code is public
        (Pii.EMAIL, "zhangsan@example.com", "z*******@example.com"),
        (Pii.ADDRESS, "南京市中山路1号 02584561234", "南京市中山路1号 025****1234"),
        (Pii.ACCOUNT, "招商银行 6225880112345678", "*****************5678"),
        (Pii.NAME, "张三丰", "张**"),
    ],
)
def test_each_kind_is_masked_by_its_rule_and_masking_twice_changes_nothing(kind: Pii, value: str, masked: str) -> None:
    assert shown(kind, value) == masked
    assert shown(kind, masked) == masked


def test_a_revealed_value_is_shown_as_it_is_and_nothing_else_is() -> None:
    assert shown(Pii.PHONE, Revealed("13912345678")) == "13912345678"
    assert shown(Pii.PHONE, None) == shown(Pii.PHONE, "") == ""
    assert pii("13912345678", "phone") == "139****5678"


def test_a_personal_taxpayer_id_is_told_from_a_company_code_by_its_shape() -> None:
    assert is_personal_tax_id("32010219900101123X")
    assert not is_personal_tax_id("91320100MA1XY0123J")
    assert not is_personal_tax_id("320102199013011234")  # no 13th month: not a birth date


def test_mask_json_masks_every_personal_key_at_any_depth_and_leaves_the_rest() -> None:
    value = {
        "documents": [{"buyer_tax_id": "110101199003071234", "buyer_name": "张三", "amount_gross": 100}],
        "delivery": {"address": "zhangsan@example.com"},
        "title": {"tax_id": "91320100MA1XY0123J"},
    }

    assert mask_json(value) == {
        "documents": [{"buyer_tax_id": "110101********1234", "buyer_name": "张三", "amount_gross": 100}],
        "delivery": {"address": "z*******@example.com"},
        "title": {"tax_id": "91320100MA1XY0123J"},
    }


# --- templates ------------------------------------------------------------------------------------------------------


def _templates() -> Iterator[tuple[str, Template]]:
    engine = engines["django"].engine  # type: ignore[attr-defined]
    base = ROOT / "templates"
    for path in sorted(base.rglob("*")):
        name = path.relative_to(base).as_posix()
        if path.suffix not in (".html", ".txt") or name.startswith(LEGAL_TEMPLATES):
            continue
        yield name, Template(path.read_text(encoding="utf-8"), engine=engine, name=name)


def _expressions(node: Node) -> Iterator[FilterExpression]:
    """Every expression a node prints or names (aliases through with, include and blocktranslate count too)."""
    if isinstance(node, VariableNode):
        yield node.filter_expression
    if isinstance(node, BlockTranslateNode | WithNode | IncludeNode):
        yield from node.extra_context.values()


def _personal_name(expression: FilterExpression) -> str | None:
    var = expression.var
    if not isinstance(var, Variable) or not var.lookups:
        return None
    name = var.lookups[-1]
    return name if name in PII_KEYS else None


def test_every_template_variable_holding_personal_data_goes_through_the_pii_filter() -> None:
    unmasked = []
    checked = 0
    for name, template in _templates():
        for node in template.nodelist.get_nodes_by_type(Node):
            for expression in _expressions(node):
                if _personal_name(expression) is None:
                    continue
                checked += 1
                if not any(func is pii for func, _args in expression.filters):
                    unmasked.append(f"{name}: {expression.token}")

    assert checked >= 10  # the walk reaches the pages that show personal data
    assert unmasked == []


# --- serializers ----------------------------------------------------------------------------------------------------


def _import_everything() -> None:
    for app in APPS:
        package = importlib.import_module(app)
        for module in pkgutil.walk_packages(package.__path__, f"{app}."):
            if ".migrations" not in module.name and ".management" not in module.name:
                importlib.import_module(module.name)


def _serializer_classes() -> Iterator[type[serializers.BaseSerializer[Any]]]:
    _import_everything()
    seen: set[type[Any]] = set()
    stack: list[type[Any]] = [serializers.BaseSerializer]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
                if sub.__module__.split(".")[0] in APPS:
                    yield sub


def _fields(serializer: serializers.BaseSerializer[Any], path: str) -> Iterator[tuple[str, Any, Any]]:
    """(path, field, model) for every field of the serializer, nested serializers walked into."""
    if isinstance(serializer, serializers.ListSerializer):
        yield from _fields(serializer.child, path)  # type: ignore[arg-type]
        return
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    for name, field in serializer.fields.items():  # type: ignore[attr-defined]
        if isinstance(field, serializers.BaseSerializer):
            yield from _fields(field, f"{path}.{name}")
        else:
            yield f"{path}.{name}", field, model


def _holds_personal_data(name: str, field: Any, model: Any) -> bool:
    source = field.source or name
    if model is not None and source.split(".")[0] in PII_FIELDS.get(model._meta.label_lower, {}):
        return True
    return name in PII_KEYS or source.split(".")[-1] in PII_KEYS


def test_every_serializer_field_holding_personal_data_is_masked() -> None:
    unmasked = []
    checked = 0
    for cls in _serializer_classes():
        label = f"{cls.__module__}.{cls.__qualname__}"
        if label in INPUT_SERIALIZERS or (issubclass(cls, serializers.ModelSerializer) and not hasattr(cls, "Meta")):
            continue  # an input, or an abstract base
        for path, field, model in _fields(cls(), label):
            if field.write_only:
                continue
            if isinstance(field, serializers.JSONField | serializers.DictField):
                if not isinstance(field, MaskedJSONField | MaskedDictField):
                    unmasked.append(f"{path} (free JSON)")
                continue
            if _holds_personal_data(path.rsplit(".", 1)[-1], field, model):
                checked += 1
                if not isinstance(field, PiiField):
                    unmasked.append(path)

    assert checked >= 8  # customers, titles, documents, deliveries, tickets
    assert unmasked == []


# --- nothing masks on its own ---------------------------------------------------------------------------------------


def test_only_the_masking_layer_calls_the_mask_functions() -> None:
    """``piaogen.identifiers.mask_*`` are the layer's primitives: code elsewhere masks through ``piaogen.privacy``,
    so the rule (and a reveal) cannot be bypassed by calling a primitive directly."""
    callers = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if path.match("piaogen/privacy.py") or path.match("piaogen/identifiers.py"):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == "piaogen.identifiers":
                    names = [alias.name for alias in node.names if alias.name.startswith("mask_")]
                    if names:
                        callers.append(f"{path.relative_to(ROOT)}: {', '.join(names)}")

    assert callers == []


def test_mask_text_masks_every_phone_id_number_and_address_in_free_text() -> None:
    text = "550 <zhangsan@example.com> 13912345678 110101199003071234 card 32010000000000000003"

    assert mask_text(text) == "550 <z*******@example.com> 139****5678 110101********1234 card 32010000000000000003"
