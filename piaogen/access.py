"""Who may see what: role checks for views and the API, and the province scope every query goes through."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase
from rest_framework.permissions import BasePermission

from piaogen.models import Role, User

if TYPE_CHECKING:  # rest_framework.views imports the permission settings: no runtime import here
    from rest_framework.request import Request
    from rest_framework.views import APIView

ALL_ROLES = tuple(Role.values)

ViewFunc = Callable[..., HttpResponseBase]
M = TypeVar("M", bound=Model)


def role_required(*roles: str) -> Callable[[ViewFunc], ViewFunc]:
    """Login required (redirect to the login page), then one of `roles` (403 otherwise)."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not isinstance(user, User) or not user.has_role(*roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = roles  # type: ignore[attr-defined]  # read by the URL × role test
        return wrapper

    return decorator


def scoped(queryset: QuerySet[M], user: User, field: str = "province") -> QuerySet[M]:
    """Bound a queryset to the user's province when they have one; everyone else sees every province."""
    province = user.province_scope
    return queryset if province is None else queryset.filter(**{field: province})


class HasConsoleRole(BasePermission):
    """API default: an authenticated, active user with a console role; views may narrow with `allowed_roles`."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        roles = getattr(view, "allowed_roles", ALL_ROLES)
        return isinstance(user, User) and user.has_role(*roles)
