"""The access table rows for the reports app's URLs (merged into `test_url_access.EXPECTED`), and the objects of
province 32 behind its id-taking URLs (created with the same id as the upload batch, document and sheet)."""

from __future__ import annotations

import datetime as dt

from django.core.files.base import ContentFile
from url_access_table import ANON, NO_ROLE, STAFF, everyone, staff_only  # noqa: F401  (the rows use them)

from piaogen.models import Role, User
from reports.models import ExportJob, ExportStatus, ReportDelivery, ScheduledReport

# who reads reports: province staff (their province only), managers and maintainers; agents do not
READERS = [Role.PROVINCE, Role.MANAGER, Role.MAINTAINER]

# url name → role → expected status for a GET
EXPECTED: dict[str, dict[str, int]] = {
    "report-dashboard": staff_only(allowed=READERS),
    "report-documents": staff_only(allowed=READERS),
    "report-documents-export": staff_only(allowed=READERS),
    "report-uploads": staff_only(allowed=READERS),
    "report-uploads-export": staff_only(allowed=READERS),
    "report-tickets": staff_only(allowed=READERS),
    "report-tickets-export": staff_only(allowed=READERS),
    "report-searches": staff_only(allowed=READERS),
    "report-searches-export": staff_only(allowed=READERS),
    "report-pdf": staff_only(allowed=READERS),
    "report-exports": staff_only(allowed=READERS),
    # an export job made under province 32's scope: its province's staff and national readers see it
    "report-export-job": staff_only(allowed=READERS),
    "report-export-download": staff_only(allowed=READERS),
    "report-schedules": staff_only(allowed=READERS),
    # report templates: the gallery, each template's page, PDF and workbook (province staff: their province)
    "report-templates": staff_only(allowed=READERS),
    "report-template": staff_only(allowed=READERS),
    "report-template-pdf": staff_only(allowed=READERS),
    "report-template-xlsx": staff_only(allowed=READERS),
    "api-report-list": staff_only(allowed=READERS, anon=401),
    "api-report-detail": staff_only(allowed=READERS, anon=401),
    # POST only: managers and maintainers send a test (GET 405), everyone else is refused first
    "report-schedule-test": {**staff_only(allowed=[]), Role.MANAGER: 405, Role.MAINTAINER: 405},
    "report-schedule-pause": {**staff_only(allowed=[]), Role.MANAGER: 405, Role.MAINTAINER: 405},
    # editing a schedule: managers and maintainers; the preview (the PDF it would send): every reader of its scope
    "report-schedule-edit": staff_only(allowed=[Role.MANAGER, Role.MAINTAINER]),
    "report-schedule-preview": staff_only(allowed=READERS),
    "report-delivery-pdf": staff_only(allowed=READERS),  # a delivery of province 32's schedule
    # saved views: POST only, for every reader (GET 405); deleting finds only the user's own views
    "report-view-save": {**staff_only(allowed=[]), **dict.fromkeys(READERS, 405)},
    "report-view-delete": {**staff_only(allowed=[]), **dict.fromkeys(READERS, 405)},
}


def create_objects(pk: int, uploader: User) -> None:
    """Objects of province 32 with id `pk` for this app's id-taking URLs: a finished export job with its file and a
    scheduled report."""
    job = ExportJob(
        id=pk, kind="documents", fmt="csv", province="32", created_by=uploader, status=ExportStatus.DONE, rows_done=1
    )
    job.file.save(f"exports/{pk}/documents.csv", ContentFile("\ufeff开票日期\n".encode()), save=False)
    job.save()
    report = ScheduledReport.objects.create(
        id=pk, name="江苏周报", frequency="weekly", province="32", created_by=uploader
    )
    delivery = ReportDelivery(
        id=pk, report=report, period_start=dt.date(2026, 11, 9), period_end=dt.date(2026, 11, 15), recipients=["a@b.cn"]
    )
    delivery.pdf.save(f"reports/{pk}/{pk}.pdf", ContentFile(b"%PDF-1.7"), save=False)
    delivery.save()
