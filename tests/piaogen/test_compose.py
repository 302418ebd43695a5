"""docker-compose.yml keeps its shape: every service can be built or pulled, names only services that exist, gets
the settings the console reads, and every Celery queue has its worker service (no Docker engine runs here: a
schema check, plus `docker compose config` where the CLI has the compose plugin)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_TEXT = (ROOT / "piaogen" / "settings.py").read_text()
IMAGE_VARIABLES = re.compile(r"^(POSTGRES_|PG)")  # read by the postgres image, not by the console


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _command(service: dict[str, Any]) -> list[str]:
    return list(service.get("command") or [])


def _workers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s for name, s in _services(compose).items() if _command(s)[:4] == ["celery", "-A", "piaogen", "worker"]
    }


def test_every_service_has_an_image_or_a_build_and_its_build_context_exists(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        assert "image" in service or "build" in service, name
        if isinstance(service.get("build"), str):
            assert (ROOT / service["build"] / "Dockerfile").is_file(), name


def test_depends_on_and_volumes_name_what_exists(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, service in services.items():
        assert set(service.get("depends_on") or []) <= set(services), name
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)


def test_environment_names_only_settings_the_console_reads_and_servers_that_exist(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, service in services.items():
        for variable, value in (service.get("environment") or {}).items():
            if IMAGE_VARIABLES.match(variable):
                continue
            assert f'"{variable}"' in SETTINGS_TEXT, (name, variable)
            if variable.startswith(("DATABASE_", "REDIS_")) and value:  # a server of this file
                assert urlsplit(str(value)).hostname in services, (name, variable, value)


def test_the_app_services_share_one_configuration(compose: dict[str, Any]) -> None:
    app = {name: s for name, s in _services(compose).items() if s.get("image") == "piaogen:latest"}
    keys = {name: set(s["environment"]) for name, s in app.items()}

    assert {"web", "beat", "migrate"} <= set(app)
    assert len({frozenset(k) for k in keys.values()}) == 1, keys


def test_every_queue_has_exactly_one_worker_service(compose: dict[str, Any]) -> None:
    consumed: list[str] = []
    for service in _workers(compose).values():
        command = _command(service)
        consumed += command[command.index("-Q") + 1].split(",")
    queues = [name.removeprefix(settings.CELERY_QUEUE_PREFIX) for name in settings.CELERY_QUEUE_NAMES]

    assert sorted(consumed) == sorted(queues)


def test_pooled_services_go_through_pgbouncer_and_ingest_and_migrations_past_it(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, service in services.items():
        env = service.get("environment") or {}
        if "DATABASE_URL" not in env:
            continue
        host = urlsplit(env["DATABASE_URL"]).hostname
        if name in ("worker-ingest", "migrate"):  # a session temp table; DDL and its locks
            assert (host, env["DATABASE_DIRECT_URL"]) == ("postgres", ""), name
        else:
            assert host == "pgbouncer", name
            assert urlsplit(env["DATABASE_DIRECT_URL"]).hostname == "postgres", name
        assert urlsplit(env["DATABASE_REPLICA_URL"]).hostname == "replica", name


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0,
    reason="no docker compose CLI here",
)
def test_docker_compose_accepts_the_file() -> None:
    subprocess.run(["docker", "compose", "config", "-q"], cwd=ROOT, check=True)
