"""Roles as Django groups with model permissions, kept in step with ROLE_PERMISSIONS after every migrate.

Pages check the role (piaogen.access); the groups give the Django admin and `has_perm` the same picture.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from piaogen.models import Role

# (app_label, codename prefixes or full codenames) per role. "view_*" = every view permission of the app.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    Role.AGENT: [
        ("tolling", "view_*"),
        ("invoicing", "view_*"),
        ("invoicing", "add_buyertitle"),
        ("invoicing", "add_cardbinding"),
        ("invoicing", "change_cardbinding"),
        ("invoicing", "add_delivery"),
        ("support", "view_*"),
        ("support", "add_ticket"),
        ("support", "change_ticket"),
        ("support", "add_ticketnote"),
        ("support", "add_ticketlink"),
        ("support", "add_savedfilter"),
        ("support", "add_piireveal"),
    ],
    Role.PROVINCE: [
        ("tolling", "view_*"),
        ("tolling", "add_uploadbatch"),
        ("tolling", "change_uploadbatch"),
        ("invoicing", "view_document"),
        ("reports", "view_*"),
    ],
    Role.MANAGER: [
        ("tolling", "view_*"),
        ("invoicing", "view_*"),
        ("support", "view_ticket"),
        ("reports", "view_*"),
        ("reports", "add_scheduledreport"),
        ("reports", "change_scheduledreport"),
    ],
    Role.MAINTAINER: [
        *((app, "*") for app in ("piaogen", "tolling", "invoicing", "support", "reports", "auth")),
        ("axes", "view_*"),  # login failures and lockouts
        ("axes", "delete_accessattempt"),  # lifting a lockout
    ],
}


def _permissions_for(role: str) -> list[Permission]:
    query = Q(pk__in=[])
    for app_label, pattern in ROLE_PERMISSIONS[role]:
        if pattern == "*":
            query |= Q(content_type__app_label=app_label)
        elif pattern.endswith("*"):
            query |= Q(content_type__app_label=app_label, codename__startswith=pattern[:-1])
        else:
            query |= Q(content_type__app_label=app_label, codename=pattern)
    return list(Permission.objects.filter(query))


def group_name(role: str) -> str:
    return f"role:{role}"


def sync_role_groups(*, using: str = "default", **kwargs: Any) -> None:
    """post_migrate: one group per role holding exactly its permissions.

    post_migrate reaches piaogen before the apps listed after it have their permissions created, so create every
    app's permissions first (idempotent) — on a fresh database the groups would otherwise come out empty.
    """
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    for role in Role.values:
        group, _ = Group.objects.get_or_create(name=group_name(role))
        group.permissions.set(_permissions_for(role))
