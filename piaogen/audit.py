"""Writing the audit trail. Every action an agent or maintainer takes goes through `audit_record`."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.http import HttpRequest

from piaogen.models import AuditEvent, User
from piaogen.requestid import current_request_id


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    province: str = "",
    reason: str = "",
    before: Any = None,
    after: Any = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        province = province or str(getattr(obj, "province", "") or "")
    ip = request.META.get("REMOTE_ADDR") if request is not None else None
    request_id = current_request_id()
    event = AuditEvent(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        province=province,
        reason=reason,
        ip=ip,
        request_id=request_id[:64],
        before=before,
        after=after,
    )
    event.save()
    return event
