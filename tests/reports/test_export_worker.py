"""A large export with a real Celery worker on the `reports` queue: the view queues it, the worker writes the file
and records progress, the creator downloads it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import REPORT_QUERY
from django.test import Client
from django.urls import reverse

from invoicing.models import Document
from piaogen.models import User
from reports.models import ExportJob, ExportStatus

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_runs_a_large_export_and_its_creator_downloads_it(
    world: dict[str, Any],
    jiangsu_user: User,
    client_for: Callable[[User], Client],
    celery_worker_process: Any,
    settings: Any,
) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "REPORT_EXPORT_SYNC_ROWS": 1}
    client = client_for(jiangsu_user)

    response = client.get(reverse("report-documents-export", args=["xlsx"]), REPORT_QUERY)

    job = ExportJob.objects.get()
    assert response["Location"] == reverse("report-export-job", args=[job.pk])
    deadline = time.monotonic() + 60
    while job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING) and time.monotonic() < deadline:
        time.sleep(0.2)
        job.refresh_from_db()
    assert job.status == ExportStatus.DONE, job.error
    assert job.rows_done == job.rows_total == Document.objects.filter(province="32").count()
    download: Any = client.get(reverse("report-export-download", args=[job.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content)[:2] == b"PK"  # a zip: XLSX
