"""Shared fixtures: one staff user per role, logged-in clients, and Playwright set up for Debian's chromium."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from piaogen.models import Role, User
from piaogen.services import staff_upsert

# fixtures shared across test directories: modules import builders from tests.fixtures, never from a test module
pytest_plugins = ["tests.fixtures.invoicing", "tests.fixtures.support"]

PASSWORD = "Piaogen-test-2026"

# live_server + Playwright's sync API run Django code from an event loop thread
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _fast_settings(settings: Any, tmp_path: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # a request in English leaves its language active in the thread (LocaleMiddleware): every test starts in Chinese
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def make_staff(db: None) -> Callable[..., User]:
    def make(role: str, province: str = "", username: str | None = None) -> User:
        name = username or f"{role}{province}"
        return staff_upsert(username=name, role=role, province=province, password=PASSWORD)

    return make


@pytest.fixture
def agent(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.AGENT)


@pytest.fixture
def province_user(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32")  # 江苏


@pytest.fixture
def manager(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.MANAGER)


@pytest.fixture
def maintainer(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.MAINTAINER)


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


# Playwright: Debian's chromium, never a downloaded browser (platform-notes.md).
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture
def celery_workers(transactional_db: None) -> Any:
    """Start real `celery worker` processes on this run's queues, connected to the test database:
    `start(**env)` returns the Popen (extra env, e.g. PIAOGEN_INGEST_CHUNK_ROWS="1000"). Tests that use it see
    committed data only (transactional_db). Every worker started is stopped afterwards.
    """
    import subprocess
    import sys
    import time
    from pathlib import Path

    from django.conf import settings
    from django.db import connection

    from piaogen.celery import app

    db = connection.settings_dict
    root = Path(__file__).resolve().parent.parent
    started: list[subprocess.Popen[bytes]] = []
    app.control.purge()

    def start(**extra_env: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "PIAOGEN_QUEUE_PREFIX": settings.CELERY_QUEUE_PREFIX,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            **extra_env,
        }
        name = f"test-{os.getpid()}-{len(started)}@%h"
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "piaogen", "worker", "--pool", "solo", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-Q", ",".join(settings.CELERY_QUEUE_NAMES),
             "--hostname", name, "--loglevel", "WARNING"],
            cwd=root, env=env,
        )  # fmt: skip
        started.append(worker)
        deadline = time.monotonic() + 60
        prefix = name.split("@")[0]
        while not any(host.startswith(prefix) for reply in app.control.ping(timeout=0.5) or [] for host in reply):
            if worker.poll() is not None or time.monotonic() > deadline:
                worker.kill()
                pytest.fail("the Celery worker did not start")
        return worker

    yield start
    for worker in started:
        worker.terminate()
    for worker in started:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.fixture
def celery_worker_process(celery_workers: Any) -> Any:
    """One real worker process (see `celery_workers`)."""
    return celery_workers()
