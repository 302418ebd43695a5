"""Access hardening: login throttling and lockout, session expiry, password rules, security headers and the
Content-Security-Policy, and a production configuration that `check --deploy` has nothing to say about."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from piaogen.models import Role, User

PASSWORD = "Piaogen-test-2026"  # tests/conftest.py's make_staff password
BASE_DIR = Path(settings.BASE_DIR)


def log_in(client: Client, username: str, password: str, ip: str = "10.0.0.1") -> int:
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip).status_code


def test_five_wrong_passwords_lock_that_user_out_from_that_address(make_staff: Callable[..., User]) -> None:
    make_staff(Role.AGENT, username="wang")
    client = Client()
    assert [log_in(client, "wang", "wrong") for _ in range(4)] == [200] * 4  # the form again, with an error
    response = client.post(reverse("login"), {"username": "wang", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 429
    assert "登录已暂停" in response.content.decode()

    # even the right password is refused while locked out…
    assert log_in(client, "wang", PASSWORD) == 429
    # …but the same user from another address, and another user from the same address, still get in
    assert log_in(Client(), "wang", PASSWORD, ip="10.0.0.2") == 302
    make_staff(Role.AGENT, username="li")
    assert log_in(Client(), "li", PASSWORD) == 302


def test_a_successful_login_resets_the_failure_count(make_staff: Callable[..., User]) -> None:
    make_staff(Role.AGENT, username="wang")
    for _ in range(4):
        assert log_in(Client(), "wang", "wrong") == 200
    assert log_in(Client(), "wang", PASSWORD) == 302
    for _ in range(4):
        assert log_in(Client(), "wang", "wrong") == 200
    assert log_in(Client(), "wang", PASSWORD) == 302  # 8 failures in all, never 5 in a row


def test_the_lockout_is_lifted_after_the_cool_off(make_staff: Callable[..., User]) -> None:
    from axes.models import AccessAttempt

    make_staff(Role.AGENT, username="wang")
    for _ in range(5):
        log_in(Client(), "wang", "wrong")
    assert log_in(Client(), "wang", PASSWORD) == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1))
    assert log_in(Client(), "wang", PASSWORD) == 302


def test_an_expired_session_is_sent_back_to_the_login_page(make_staff: Callable[..., User]) -> None:
    make_staff(Role.AGENT, username="wang")
    client = Client()
    assert log_in(client, "wang", PASSWORD) == 302
    assert client.get(reverse("home")).status_code == 200
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_page_views_slide_the_idle_expiry_at_most_once_a_minute(make_staff: Callable[..., User]) -> None:
    make_staff(Role.AGENT, username="wang")
    client = Client()
    log_in(client, "wang", PASSWORD)
    client.get(reverse("home"))  # the first signed-in view refreshes the session
    session = Session.objects.get()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert client.get(reverse("home")).status_code == 200
    assert not [q for q in queries.captured_queries if q["sql"].startswith('UPDATE "django_session"')]
    assert Session.objects.get().expire_date == session.expire_date  # nothing written within the minute

    Session.objects.update(expire_date=timezone.now() + dt.timedelta(minutes=5))  # as if idle for hours…
    with override_settings(SESSION_REFRESH_SECONDS=0):  # …and the minute is over
        assert client.get(reverse("home")).status_code == 200
    slid = Session.objects.get().expire_date - timezone.now()
    assert slid > dt.timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)  # a full working day from now again


def test_an_anonymous_visit_creates_no_session(db: None) -> None:
    Client().get(reverse("login"))
    assert not Session.objects.exists()


def test_the_session_cookie_ends_with_the_browser_and_is_http_only(make_staff: Callable[..., User]) -> None:
    make_staff(Role.AGENT, username="wang")
    client = Client()
    log_in(client, "wang", PASSWORD)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["expires"] == "" and cookie["max-age"] == ""  # a browser-session cookie
    assert cookie["samesite"] == "Lax"
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600  # and the server forgets it after a working day


def test_staff_passwords_must_follow_the_password_rules(db: None) -> None:
    for weak in ["short1", "12345678901", "password123"]:
        with pytest.raises(CommandError):
            call_command("create_staff", "zhao", "--role", "agent", "--password", weak)
    assert not User.objects.filter(username="zhao").exists()
    call_command("create_staff", "zhao", "--role", "agent", "--password", "Piaogen-strong-2026")
    assert User.objects.get(username="zhao").check_password("Piaogen-strong-2026")


def test_every_page_carries_a_content_security_policy_without_inline_scripts(
    make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    for url in [reverse("login"), reverse("home")]:
        response = client_for(make_staff(Role.AGENT)).get(url)
        policy = response.headers["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["script-src"] == "'self'"
        assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in policy
        assert directives["frame-ancestors"] == "'none'"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_login_form_is_csrf_protected(make_staff: Callable[..., User]) -> None:
    make_staff(Role.AGENT, username="wang")
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "wang", "password": PASSWORD})
    assert response.status_code == 403


def test_a_production_configuration_passes_the_deployment_checks() -> None:
    env = {
        **{key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"},  # playwright's
        "PIAOGEN_ENV": "production",
        "SECRET_KEY": "a-production-secret-of-fifty-characters-or-more-0123456789-abcdefgh",
        "ALLOWED_HOSTS": "piaogen.example",
        "DEBUG": "false",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
