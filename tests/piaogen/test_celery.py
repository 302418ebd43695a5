"""A real Celery worker process takes tasks from this run's queues and reads the test database."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from piaogen.celery import app
from piaogen.tasks import HEARTBEAT_CACHE_KEY, heartbeat


def test_the_celery_app_has_one_queue_per_kind_of_work_and_safe_defaults() -> None:
    names = {q.name.removeprefix(settings.CELERY_QUEUE_PREFIX) for q in settings.CELERY_TASK_QUEUES}
    assert names == {"default", "ingest", "issue", "pdf", "reports"}
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert app.conf.task_time_limit < app.conf.broker_transport_options["visibility_timeout"]


def test_tasks_are_routed_to_their_queue() -> None:
    prefix = settings.CELERY_QUEUE_PREFIX
    router = app.amqp.router
    assert router.route({}, "tolling.tasks.ingest_batch")["queue"].name == prefix + "ingest"
    assert router.route({}, "invoicing.tasks.render_pdf")["queue"].name == prefix + "pdf"
    assert router.route({}, "invoicing.tasks.issue_run")["queue"].name == prefix + "issue"
    assert router.route({}, "reports.tasks.rollup")["queue"].name == prefix + "reports"


@pytest.mark.integration
def test_a_real_worker_runs_a_task_against_the_test_database_and_records_its_heartbeat(
    celery_worker_process: Any,
) -> None:
    result = heartbeat.delay("hello").get(timeout=60)

    assert result["note"] == "hello"
    assert result["database"] == connection.settings_dict["NAME"]
    assert cache.get(HEARTBEAT_CACHE_KEY) == result  # what health pages read
    assert celery_worker_process.poll() is None
