"""Audit actions and document events are stored as codes and shown as words: every code the code base writes has
a translated label, so no page shows `document.reverse` or `sheet_bound` to an agent."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from invoicing.models import EVENT_LABELS, DocumentEvent
from piaogen.models import AUDIT_ACTION_LABELS, AuditEvent
from support.models import ActionKind

SOURCES = [
    path
    for app in ("piaogen", "tolling", "invoicing", "support", "reports")
    for path in (Path(settings.BASE_DIR) / app).rglob("*.py")
    if "migrations" not in path.parts
]


def literals(pattern: str) -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        found.update(re.findall(pattern, path.read_text(encoding="utf-8")))
    return found


def test_every_audit_action_written_has_a_label() -> None:
    actions = literals(r'\baction="([a-z_]+\.[a-z_]+)"') | literals(r'"(admin\.[a-z]+)"')
    actions |= {f"support.{kind}" for kind in ActionKind.values}
    assert len(actions) > 15
    assert sorted(actions - set(AUDIT_ACTION_LABELS)) == []


def test_every_document_event_written_has_a_label() -> None:
    kinds = literals(r'\bkind="([a-z_]+)"') & {"sheet_bound", "sheet_voided", "reversed", "reissued", "pdf_rendered"}
    kinds |= literals(r'\bevent: str = "([a-z_]+)"') | literals(r'\bevent="([a-z_]+)"')
    kinds |= {prefix + kind for prefix in ("", "sheet_") for kind in literals(r'_event\(delivery, "([a-z_]+)"')}
    assert {"issued", "issued_red", "delivered", "sheet_delivered"} <= kinds
    assert sorted(kinds - set(EVENT_LABELS)) == []


def test_labels_are_shown_and_unknown_codes_show_as_they_are() -> None:
    assert AuditEvent(action="document.reverse").action_label == "红冲"
    assert AuditEvent(action="something.new").action_label == "something.new"
    assert DocumentEvent(kind="sheet_bound").label == "并入汇总单"
    assert DocumentEvent(kind="brand_new").label == "brand_new"
