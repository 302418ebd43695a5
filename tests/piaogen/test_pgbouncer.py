"""Behind pgbouncer in transaction pooling: the settings that make Django and psycopg safe there, checked against a
real pgbouncer (bin/services' own code) with a pool of ONE server connection, so every client shares it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections

from piaogen.db import session_connection
from piaogen.models import Role, User
from piaogen.routers import PRIMARY
from tests.fixtures.scaleout import bin_services, free_port

ROOT = Path(__file__).resolve().parents[2]
POOLED = "pooled"


@pytest.fixture(scope="module")
def pgbouncer_port() -> Iterator[int]:
    services = bin_services()
    if not (shutil.which("pgbouncer") or Path("/usr/sbin/pgbouncer").exists()):
        pytest.skip("pgbouncer is not installed (bin/bootstrap installs it)")
    port = free_port()
    home = services.pg_home() / f"pgbouncer-test-{port}"
    services.pgbouncer_start(port=port, home=home, pool_size=1)
    try:
        yield port
    finally:
        services.pgbouncer_stop(home=home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def pooled_alias(pgbouncer_port: int, django_db_setup: None) -> Iterator[None]:
    """The test database through pgbouncer, with what settings.py sets when DATABASE_DIRECT_URL says so."""
    settings.DATABASES[POOLED] = {
        **connections[PRIMARY].settings_dict,
        "PORT": pgbouncer_port,
        "CONN_MAX_AGE": 60,
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "OPTIONS": {"prepare_threshold": None},
        "TEST": {"MIRROR": PRIMARY},
    }
    try:
        yield
    finally:
        connections[POOLED].close()
        del connections[POOLED]
        del settings.DATABASES[POOLED]


def _pooled_dsn(port: int) -> str:
    return f"host=127.0.0.1 port={port} user=postgres dbname={connections[PRIMARY].settings_dict['NAME']}"


def test_settings_behind_pgbouncer_turn_off_prepared_statements_and_server_side_cursors() -> None:
    script = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps({k: settings.DATABASES[k] for k in ('default', 'direct')}, default=str))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "piaogen.settings",
        "DATABASE_URL": "postgres://piaogen@pgbouncer:6432/piaogen",
        "DATABASE_DIRECT_URL": "postgres://piaogen@primary:5432/piaogen",
    }
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    databases = json.loads(out.stdout)

    assert databases["default"]["HOST"] == "pgbouncer"
    assert databases["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert databases["default"]["OPTIONS"]["prepare_threshold"] is None
    assert (databases["direct"]["HOST"], databases["direct"]["TEST"]["MIRROR"]) == ("primary", "default")


def test_psycopgs_default_prepared_statements_break_when_two_clients_share_a_server_connection(
    pgbouncer_port: int, django_db_setup: None
) -> None:
    """Why prepare_threshold=None: psycopg prepares a query it has run five times, under a name the next client on
    the same server connection also uses."""
    dsn = _pooled_dsn(pgbouncer_port)
    with (
        psycopg.connect(dsn, autocommit=True) as one,
        psycopg.connect(dsn, autocommit=True) as two,
        pytest.raises(psycopg.Error, match="prepared statement"),
    ):
        for _ in range(10):
            for conn in (one, two):
                conn.execute("SELECT %s::int + 1", [1]).fetchone()


@pytest.mark.django_db(transaction=True, databases=[PRIMARY, POOLED])
def test_django_clients_sharing_one_server_connection_read_iterate_and_keep_their_time_zone(
    pooled_alias: None, pgbouncer_port: int, make_staff: Any
) -> None:
    names = {make_staff(role).username for role in (Role.AGENT, Role.MANAGER, Role.MAINTAINER)}
    failures: list[BaseException] = []
    seen: list[tuple[int, set[str], str]] = []

    def client() -> None:
        try:
            for _ in range(20):  # far past psycopg's prepare threshold of 5
                users = User.objects.using(POOLED).order_by("pk")
                streamed = {user.username for user in users.iterator(chunk_size=1)}  # a WITH HOLD cursor if allowed
                with connections[POOLED].cursor() as cursor:
                    cursor.execute("SELECT current_setting('TimeZone')")
                    (zone,) = cursor.fetchone()
                seen.append((users.count(), streamed, zone))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections[POOLED].close()

    # another client of the same pool changes the server connection's time zone for its session
    with psycopg.connect(_pooled_dsn(pgbouncer_port), autocommit=True) as other:
        other.execute("SET TIME ZONE 'Asia/Tokyo'")
        threads = [threading.Thread(target=client) for _ in range(3)]
        for thread in threads:
            thread.start()
        for _ in range(20):
            other.execute("SELECT 1")
        for thread in threads:
            thread.join()
        (other_zone,) = other.execute("SELECT current_setting('TimeZone')").fetchone() or ("",)

    assert failures == []
    assert len(seen) == 60
    assert {(count, frozenset(streamed), zone) for count, streamed, zone in seen} == {(3, frozenset(names), "UTC")}
    assert other_zone == "Asia/Tokyo"  # pgbouncer gives each client its own session parameters back


def test_session_level_locks_go_past_the_pooler_when_there_is_one(django_db_setup: None) -> None:
    assert session_connection() is connection
    settings.DATABASES["direct"] = {**connections[PRIMARY].settings_dict, "TEST": {"MIRROR": PRIMARY}}
    try:
        assert session_connection() is connections["direct"]  # the rollup refresh lock (reports/rollups.py)
    finally:
        del connections["direct"]
        del settings.DATABASES["direct"]
