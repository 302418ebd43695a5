"""What each role's home page shows beyond the base template: apps register a context builder per role in their
``AppConfig.ready`` (support: the agent's workspace), so the base package's home view imports no app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from piaogen.models import User

HomeContext = Callable[[HttpRequest, User], dict[str, Any]]

_BUILDERS: dict[str, HomeContext] = {}


def register(role: str, builder: HomeContext) -> None:
    """``builder(request, user)`` returns the context of ``role``'s home page (``piaogen/home_<role>.html``)."""
    _BUILDERS[role] = builder


def home_context(request: HttpRequest, user: User) -> dict[str, Any]:
    builder = _BUILDERS.get(user.role)
    return builder(request, user) if builder is not None else {}
