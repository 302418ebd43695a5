"""Shared fixtures: one staff user per role, logged-in clients, and Playwright set up for Debian's chromium."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django.test import Client, TransactionTestCase
from django.utils import translation

from piaogen.models import Role, User
from piaogen.services import staff_upsert
from tests.fixtures import PASSWORD, shared
from tests.fixtures.databases import clone_test_database

# fixtures shared across test directories: modules import builders from tests.fixtures, never from a test module
pytest_plugins = ["tests.fixtures.invoicing", "tests.fixtures.support", "tests.fixtures.fuzz"]


# live_server + Playwright's sync API run Django code from an event loop thread
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs more than this process and PostgreSQL, whatever its module says, so that `bin/test --fast`
    (``-m "not browser and not integration and not servers"``) leaves it out: a Playwright browser, a real Celery
    worker, or servers of the test's own (a streaming replica, pgbouncer).

    Under pytest-xdist (`--dist loadfile`: a module stays on one worker), the modules that take long are handed out
    first — those with real workers or servers of their own (the longest: tens of seconds), then browser journeys,
    then transactional tests — and the many short ones fill in after them, so that no worker is left alone with a
    long module at the end (bin/test keeps this order: `--no-loadscope-reorder`)."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
        if "celery_workers" in fixtures:
            item.add_marker(pytest.mark.integration)
        if "replica_port" in fixtures or "pgbouncer_port" in fixtures:
            item.add_marker(pytest.mark.servers)


class _LongModulesFirst:
    @pytest.hookimpl(trylast=True)  # after pytest's own grouping by higher-scoped fixtures, which moves modules
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        rank: dict[Any, int] = {}
        for item in items:
            rank[item.path] = min(rank.get(item.path, 3), _rank(item))
        items.sort(key=lambda item: rank[item.path])  # stable: each module keeps its order


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        config.pluginmanager.register(_LongModulesFirst(), "piaogen-long-modules-first")


def _rank(item: pytest.Item) -> int:
    """0: a real worker or servers of its own, 1: a browser, 2: transactional, 3: the rest."""
    if item.get_closest_marker("integration") or item.get_closest_marker("servers"):
        return 0
    if item.get_closest_marker("browser"):
        return 1
    db = item.get_closest_marker("django_db")
    if (db and db.kwargs.get("transaction")) or "transactional_db" in getattr(item, "fixturenames", ()):
        return 2
    return 3


@pytest.fixture(scope="session")
def django_db_createdb(
    request: pytest.FixtureRequest, django_db_modify_db_settings: None, django_db_use_migrations: bool
) -> bool:
    """The worker's database is a copy of a template migrated once for all workers (tests/fixtures/databases.py),
    made here when missing or on ``--create-db``; pytest-django then keeps it (and Django's migrate finds nothing to
    do)."""
    create = bool(request.config.getvalue("create_db"))
    if not django_db_use_migrations:  # --nomigrations: pytest-django's own way
        return create
    settings_dict = connections["default"].settings_dict
    test_name = settings_dict["TEST"].get("NAME") or f"test_{settings_dict['NAME']}"  # as Django names it
    clone_test_database(settings_dict, test_name, create=create)
    return False


@pytest.fixture
def _shared_worlds(request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any) -> None:
    shared.prepare(request, django_db_blocker)


@pytest.fixture
def _django_db_helper(_shared_worlds: None, _django_db_helper: None) -> None:
    """pytest-django's, after the shared worlds the test asks for are built (tests/fixtures/shared.py): the test's
    transaction is then a savepoint in theirs."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    result = yield
    from pytest_django.plugin import blocking_manager_key

    shared.release(nextitem, item.config.stash[blocking_manager_key])
    return result


_media_folders = itertools.count(1)


@pytest.fixture(autouse=True)
def _fast_settings(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # a media folder of the test's own, made only when it stores a file (a tmp_path per test left ~1,900 folders
    # for pytest to delete at the end of a later run: seconds)
    settings.MEDIA_ROOT = str(tmp_path_factory.getbasetemp() / "media" / str(next(_media_folders)))
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


# --- transactional tests: after each, empty the tables it wrote --------------------------------------------------
# Django ends a transactional test (`transaction=True`, `transactional_db`, `live_server`) with `flush`: TRUNCATE of
# every table, then post_migrate rebuilds content types, permissions and the role groups — half a second or more per
# test, most of a transactional module's time. The same end state comes cheaper: TRUNCATE only the tables that hold
# rows or pages (pages left by rolled-back inserts too, so that the planner sees the same empty tables as after a
# flush), and keep the post-migrate tables when they still hold exactly what the last full flush left. Anything else
# (the first test of a process, a test that changed a permission or a group) gets Django's full flush.

POST_MIGRATE_TABLES = ("django_content_type", "auth_permission", "auth_group", "auth_group_permissions")
_after_flush: dict[str, str] = {}  # database alias -> POST_MIGRATE_TABLES' fingerprint after this process's last flush
_django_fixture_teardown = TransactionTestCase._fixture_teardown  # type: ignore[attr-defined]


def _post_migrate_fingerprint(cursor: Any) -> str:
    rows = " UNION ALL ".join(
        f"SELECT '{table}' || t::text AS r FROM {table} t"  # noqa: S608 (our table names)
        for table in POST_MIGRATE_TABLES
    )
    cursor.execute(f"SELECT md5(string_agg(r, ',' ORDER BY r)) FROM ({rows}) rows")  # noqa: S608
    return str(cursor.fetchone()[0])


def _flush(alias: str) -> None:
    call_command("flush", verbosity=0, interactive=False, database=alias, reset_sequences=False)
    with connections[alias].cursor() as cursor:
        _after_flush[alias] = _post_migrate_fingerprint(cursor)


def _truncate_used_tables(alias: str) -> bool:
    """TRUNCATE the tables with rows or pages (but the post-migrate ones, when unchanged since the last full flush);
    False when a full flush is needed instead."""
    if alias not in _after_flush:
        return False
    connection = connections[alias]
    tables = [
        table
        for table in connection.introspection.django_table_names(only_existing=True, include_views=False)
        if table not in POST_MIGRATE_TABLES
    ]
    with connection.cursor() as cursor:
        if _post_migrate_fingerprint(cursor) != _after_flush[alias]:
            return False
        # a partitioned table (segments, top-ups: 41 monthly partitions each) is checked and emptied partition by
        # partition: TRUNCATE of the parent recreates every partition and its indexes (~0.4 s), of the few with rows
        # a few ms (nothing refers to a partitioned table, so no key needs the parent in the statement)
        cursor.execute(
            "SELECT parent.relname, leaf.relid::text FROM pg_class parent, pg_partition_tree(parent.oid) leaf"
            " WHERE parent.relkind = 'p' AND leaf.isleaf AND parent.relname = ANY(%s)",
            [tables],
        )
        leaves: dict[str, list[str]] = {}
        for parent, leaf in cursor.fetchall():
            leaves.setdefault(parent, []).append(leaf)
        names = [name for table in tables for name in leaves.get(table, [connection.ops.quote_name(table)])]
        # a row takes a page of its table's main fork, and TRUNCATE leaves none: the size alone tells (a stat() each;
        # an EXISTS per table as well cost ~5–20 ms a test to plan)
        used = ", ".join(f"pg_relation_size('{name}') > 0" for name in names)
        cursor.execute(f"SELECT ARRAY[{used}]")
        tables = [name for name, is_used in zip(names, cursor.fetchone()[0], strict=True) if is_used]
        # a table many others refer to (users: 28 tables; operators: every top-up partition) is emptied with
        # DELETE: TRUNCATE … CASCADE would recreate all of those, empty or not (~0.1–0.4 s a test); the ones with
        # rows are in ``tables`` and go first, the keys are checked at commit. It keeps a page of dead rows (the
        # planner estimates it as an empty table until autovacuum runs; the plan tests ANALYZE their own rows).
        hubs = _hubs(alias, cursor)
        emptied = [name for name in tables if name not in hubs]
        with transaction.atomic(using=alias):
            if emptied:  # CASCADE: tables that refer to them, empty or not, as flush empties them too
                cursor.execute(f"TRUNCATE {', '.join(emptied)} CASCADE")
            for name in tables:
                if name in hubs:
                    cursor.execute(f"DELETE FROM {name}")  # noqa: S608 (our table names)
    return True


_hub_tables: dict[str, set[str]] = {}  # database alias -> quoted names of the tables TRUNCATE … CASCADE is dear for


def _hubs(alias: str, cursor: Any) -> set[str]:
    """The tables that more than ten tables or partitions refer to, directly or through others."""
    if alias not in _hub_tables:
        cursor.execute(
            "WITH RECURSIVE refs(root, tbl) AS (SELECT c.oid, c.oid FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
            " UNION SELECT refs.root, k.conrelid FROM refs JOIN pg_constraint k ON k.confrelid = refs.tbl"
            " AND k.contype = 'f')"
            " SELECT c.relname FROM refs JOIN pg_class c ON c.oid = refs.root GROUP BY c.relname HAVING count(*) > 10"
        )
        _hub_tables[alias] = {connections[alias].ops.quote_name(name) for (name,) in cursor.fetchall()}
    return _hub_tables[alias]


def _fixture_teardown(self: TransactionTestCase) -> None:
    if self.available_apps is not None or self.serialized_rollback:
        _django_fixture_teardown(self)
        return
    for alias in self._databases_names(include_mirrors=False):  # type: ignore[attr-defined]
        if not _truncate_used_tables(alias):
            _flush(alias)


TransactionTestCase._fixture_teardown = _fixture_teardown  # type: ignore[attr-defined]
