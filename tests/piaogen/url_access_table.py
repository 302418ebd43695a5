"""What the access tables are written with: the roles a URL is requested as, and the two common row shapes."""

from __future__ import annotations

from piaogen.models import Role

ANON, NO_ROLE = "anonymous", "no-role"
ROLES = [ANON, NO_ROLE, *Role.values]
STAFF: list[str] = [Role.AGENT, Role.PROVINCE, Role.MANAGER, Role.MAINTAINER]


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def staff_only(*, allowed: list[str], anon: int = 302, denied: int = 403) -> dict[str, int]:
    table = {ANON: anon, NO_ROLE: denied}
    table.update({role: 200 if role in allowed else denied for role in STAFF})
    return table
