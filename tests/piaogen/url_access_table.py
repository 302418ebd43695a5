"""What the access tables are written with: the roles a URL is requested as, and the two common row shapes."""

from __future__ import annotations

from piaogen.models import Role

ANON, NO_ROLE = "anonymous", "no-role"
ROLES = [ANON, NO_ROLE, *Role.values]
# a province user of another province (33) than the objects behind id-taking URLs (32): where the table does not
# say otherwise, they get what the province user gets on lists, and 404 on the other province's objects
OTHER_PROVINCE = "other-province"
STAFF: list[str] = [Role.AGENT, Role.PROVINCE, Role.MANAGER, Role.MAINTAINER]


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def staff_only(*, allowed: list[str], anon: int = 302, denied: int = 403) -> dict[str, int]:
    table = {ANON: anon, NO_ROLE: denied}
    table.update({role: 200 if role in allowed else denied for role in STAFF})
    return table
