"""Idle sessions expire without a database write on every request.

Django slides a session's expiry only when the session is saved; `SESSION_SAVE_EVERY_REQUEST` saves it on every
request (an `UPDATE` of `django_session` in its own transaction, three statements per page view). This
middleware saves a signed-in session at most once per `SESSION_REFRESH_SECONDS` instead: the idle limit
(`SESSION_COOKIE_AGE`) then holds to within that many seconds, and most page views write nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

REFRESHED = "_piaogen_refreshed"  # epoch seconds of the last save that slid the expiry


class SessionRefreshMiddleware:
    """Listed after SessionMiddleware and AuthenticationMiddleware: marks a signed-in user's session modified
    (so SessionMiddleware saves it and slides its expiry) when the last refresh is older than the interval."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = request.session
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not session.is_empty():
            now = int(time.time())
            if now - int(session.get(REFRESHED, 0)) >= settings.SESSION_REFRESH_SECONDS:
                session[REFRESHED] = now
        return response
