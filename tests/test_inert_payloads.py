"""Hostile names and titles come out inert everywhere they are shown: escaped in HTML pages and e-mails, plain text
in PDFs, and formula-safe (a leading ``'``) in CSV/XLSX exports and error files.

The payloads go in where outsiders put them: a customer's name and buyer title (the customer channels), an
operator's name (a provincial upload), a ticket's subject (an agent typing what a caller said), upload cells.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from invoicing.delivery import delivery_send
from invoicing.issuing import issue_segments
from invoicing.models import Document
from invoicing.pdf import document_pdf_bytes, summary_sheet_pdf_bytes
from invoicing.sheets import summary_sheet_issue
from piaogen.models import Role, User
from piaogen.services import staff_upsert
from reports.models import ReportFrequency, ScheduledReport
from reports.rollups import document_rollup_rebuild_day
from reports.scheduling import last_finished_period, scheduled_report_deliver
from support.models import Ticket, TicketCategory
from support.tickets import ticket_open
from tests.fixtures import PASSWORD, invoicing
from tests.fixtures.invoicing import CARD, segment
from tests.fixtures.shared import shared_world
from tolling.contract import CONTRACT
from tolling.models import Card, Trip, UploadBatch
from tolling.services import upload_create
from tolling.tasks import ingest_batch

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PAYLOADS = [
    SCRIPT,
    IMG,
    '=HYPERLINK("http://evil","x")',
    "+cmd|' /C calc'!A0",
    "@SUM(1)",
    "-1+1",
]
JSON_SCRIPT = re.compile(r'<script[^>]*type="application/json"[^>]*>.*?</script>', re.S)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Markup(HTMLParser):
    """Every element and attribute of a page, and the text of its scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attributes: list[tuple[str, str, str | None]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [(tag, name, value) for name, value in attrs]
        self._in_script = tag == "script" and ("type", "application/json") not in attrs  # json_script: data

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def assert_inert_html(page: str, payload: str, *, shown: bool = True) -> None:
    """No element or handler the payload could have made; the payload itself is shown escaped."""
    markup = _Markup()
    markup.feed(page)
    assert not [a for a in markup.attributes if a[1].startswith("on")], "an event handler attribute"
    assert not [a for a in markup.attributes if a[0] == "img" and a[2] == "x"]
    assert not any("alert(1)" in script for script in markup.scripts)
    if any(c in payload for c in "<>\"'"):  # outside JSON data blocks (json_script escapes < > & there)
        assert payload not in JSON_SCRIPT.sub("", page)
    if shown:
        assert escape(payload) in page


def assert_formula_safe(cell: str, payload: str) -> None:
    assert not cell.startswith(FORMULA_START) or cell.startswith("'"), cell
    if payload.startswith(FORMULA_START):
        assert cell == "'" + payload


# module scope: pytest runs each payload's tests one after another, and each payload's world is built once for them
@pytest.fixture(scope="module", params=PAYLOADS, ids=["script", "img-onerror", "hyperlink", "dde", "at-sum", "minus"])
def payload(request: Any) -> str:
    return str(request.param)


@shared_world(on=invoicing.world)
def hostile(world: dict[str, Any], payload: str) -> dict[str, Any]:
    """The world with the payload as customer name, buyer title, operator name and ticket subject; one issued
    document sold by that operator to that title."""
    world["customer"].name = payload
    world["customer"].save(update_fields=["name"])
    world["title"].name = payload
    world["title"].save(update_fields=["name"])
    world["road"].name = payload
    world["road"].save(update_fields=["name"])
    charge = segment(world, fee=1234)
    (document,) = issue_segments(segment_ids=[charge.pk])
    agent = staff_upsert(username=Role.AGENT, role=Role.AGENT, province="", password=PASSWORD)
    ticket = ticket_open(
        category=TicketCategory.values[0], subject=payload, description=payload, by=agent, customer=world["customer"]
    )
    card = Card.objects.create(card_no=CARD, card_type=23, province="32", holder_name=payload)
    trip = Trip.objects.create(
        pass_id=charge.pass_id,
        card_no=CARD,
        card_type=23,
        plate=charge.plate,
        plate_color=0,
        vehicle_class=1,
        entry_time=charge.entry_time,
        exit_time=charge.exit_time,
        service_date=charge.service_date,
    )
    ScheduledReport.objects.create(name=payload, frequency=ReportFrequency.values[0], province="32", created_by=agent)
    return {**world, "document": document, "segment": charge, "agent": agent, "ticket": ticket, "card": card,
            "trip": trip}  # fmt: skip


# --- pages ---------------------------------------------------------------------------------------------------------


def test_the_document_page_shows_hostile_buyer_and_seller_names_escaped(
    hostile: dict[str, Any], payload: str, client_for: Callable[[User], Client]
) -> None:
    document: Document = hostile["document"]
    assert document.buyer_name == document.seller_name == payload

    response = client_for(hostile["agent"]).get(reverse("document-detail", args=[document.pk]))

    assert response.status_code == 200
    assert_inert_html(response.content.decode(), payload)


@pytest.mark.parametrize(
    "page",
    ["customer-detail", "trip-detail", "card-detail", "ticket-detail", "ticket-list", "search", "search-echo",
     "audit-list"],
)  # fmt: skip
def test_support_pages_show_hostile_names_and_subjects_escaped(
    hostile: dict[str, Any], payload: str, page: str, client_for: Callable[[User], Client]
) -> None:
    client = client_for(hostile["agent"])
    ticket: Ticket = hostile["ticket"]
    urls = {
        "customer-detail": reverse("customer-detail", args=[hostile["customer"].pk]),
        "trip-detail": reverse("trip-detail", args=[hostile["trip"].pk]),
        "card-detail": reverse("card-detail", args=[hostile["card"].pk]),
        "ticket-detail": reverse("ticket-detail", args=[ticket.pk]),
        "ticket-list": reverse("ticket-list"),
        "search": reverse("search") + "?" + f"q={ticket.pk}",
        "search-echo": reverse("search") + "?" + urlencode({"q": payload}),  # the box shows what was typed
        "audit-list": reverse("audit-list"),
    }

    response = client.get(urls[page], follow=True)

    assert response.status_code == 200
    # the customer page masks the customer's name (PII) but shows the buyer title; the others show the subject
    assert_inert_html(response.content.decode(), payload, shown=page not in ("search", "audit-list", "card-detail"))


@pytest.mark.parametrize(
    "page", ["report-documents", "report-tickets", "report-uploads", "report-schedules", "upload-list"]
)
def test_report_and_upload_pages_show_hostile_names_escaped(
    hostile: dict[str, Any],
    payload: str,
    page: str,
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
) -> None:
    uploader = make_staff(Role.PROVINCE, "32", username="jiangsu")
    upload_create(user=uploader, kind="segments", file=io.BytesIO(b"pass_id\n"), file_name=payload)
    day = hostile["document"].service_date if page == "report-documents" else timezone.localdate()

    period = {"start": day.isoformat(), "end": day.isoformat()}

    response = client_for(make_staff(Role.MANAGER)).get(reverse(page), period)

    assert response.status_code == 200
    assert_inert_html(response.content.decode(), payload)


def test_the_dashboard_keeps_hostile_operator_names_inert_in_its_chart_data(
    hostile: dict[str, Any], payload: str, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    day = hostile["document"].service_date
    document_rollup_rebuild_day(day)

    response = client_for(make_staff(Role.MANAGER)).get(
        reverse("report-dashboard"), {"start": day.isoformat(), "end": day.isoformat()}
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert_inert_html(page, payload, shown=False)
    assert "</script><script>" not in page.replace(" ", "")


# --- PDF and e-mail ------------------------------------------------------------------------------------------------


def test_the_document_pdf_prints_hostile_names_as_text(hostile: dict[str, Any], payload: str) -> None:
    pdf = document_pdf_bytes(hostile["document"])

    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()

    squeeze = "".join
    assert squeeze(payload.split()) in squeeze(text.split())  # printed as typed (wrapped lines joined), not markup


def test_the_summary_sheet_pdf_prints_hostile_customer_and_seller_names_as_text(
    hostile: dict[str, Any], payload: str
) -> None:
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=[hostile["segment"].pass_id])

    text = subprocess.run(
        ["pdftotext", "-", "-"], input=summary_sheet_pdf_bytes(sheet), capture_output=True, check=True
    ).stdout.decode()

    assert "".join(payload.split()) in "".join(text.split())


def test_the_document_e_mail_escapes_hostile_names_in_html_and_keeps_them_readable_in_text(
    hostile: dict[str, Any], payload: str
) -> None:
    delivery_send(document=hostile["document"], address="buyer@example.com")

    (message,) = mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    html = message.alternatives[0][0]
    assert isinstance(html, str)
    assert_inert_html(html, payload)
    assert payload in message.body  # text/plain: as typed, nothing to escape
    assert "\n" not in message.subject and "&lt;" not in message.subject


@pytest.mark.parametrize("name", [SCRIPT, IMG, '=HYPERLINK("http://evil","x")'], ids=["script", "img", "hyperlink"])
def test_the_scheduled_report_e_mail_and_pdf_keep_a_hostile_report_name_inert(
    name: str, make_staff: Callable[..., User]
) -> None:
    report = ScheduledReport.objects.create(
        name=name, frequency=ReportFrequency.values[0], province="32", created_by=make_staff(Role.MANAGER)
    )
    start, end = last_finished_period(report.frequency, timezone.localdate())

    delivery = scheduled_report_deliver(report=report, start=start, end=end, to=["staff@example.com"])

    assert delivery is not None and delivery.error == ""
    (message,) = mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    assert name in message.subject and name in message.body  # plain text: readable as typed
    html = message.alternatives[0][0]
    assert isinstance(html, str)
    assert_inert_html(html, name)
    pdf = message.attachments[0][1]
    assert isinstance(pdf, bytes)
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "".join(name.split()) in "".join(text.split())


# --- exports and error files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["documents", "tickets", "uploads"])
def test_report_exports_neutralise_hostile_cells(
    hostile: dict[str, Any],
    payload: str,
    kind: str,
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
) -> None:
    from openpyxl import load_workbook

    uploader = make_staff(Role.PROVINCE, "32", username="jiangsu")
    upload_create(user=uploader, kind="segments", file=io.BytesIO(b"pass_id\n"), file_name=payload)
    day = hostile["document"].service_date if kind == "documents" else timezone.localdate()
    period = {"start": day.isoformat(), "end": day.isoformat()}
    expected = {"documents": 2, "tickets": 1, "uploads": 1}[kind]  # seller and buyer; subject; file name
    client = client_for(make_staff(Role.MANAGER))

    response = client.get(reverse(f"report-{kind}-export", args=["csv"]), period)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))  # type: ignore[attr-defined]
    cells = [cell for row in rows[1:] for cell in row if payload in cell]
    assert len(cells) == expected
    for cell in cells:
        assert_formula_safe(cell, payload)

    response = client.get(reverse(f"report-{kind}-export", args=["xlsx"]), period)
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    written = [c for row in book.worksheets[0].iter_rows(min_row=2) for c in row if payload in str(c.value)]
    assert len(written) == expected
    for xlsx_cell in written:
        assert xlsx_cell.data_type == "s"
        assert_formula_safe(str(xlsx_cell.value), payload)


def test_the_audit_trail_export_neutralises_hostile_cells(
    hostile: dict[str, Any], payload: str, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    response = client_for(make_staff(Role.MAINTAINER)).get(reverse("audit-export"))

    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    for row in csv.reader(io.StringIO(body)):
        for cell in row:
            assert not cell.startswith(FORMULA_START) or cell.startswith("'"), cell


@pytest.mark.django_db(transaction=True)
def test_upload_pages_and_error_files_keep_hostile_cells_inert(
    payload: str, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    from openpyxl import load_workbook

    user = make_staff(Role.PROVINCE, "32", username="jiangsu")
    client = client_for(user)
    names = [c.name for c in CONTRACT["segments"]]
    content = io.StringIO()
    writer = csv.writer(content)
    writer.writerow([*names, payload])  # an unknown column: ignored, named in the batch's message
    writer.writerow([payload] * len(names))  # every cell hostile: the row is rejected with every reason
    upload = SimpleUploadedFile(f"{payload}.csv", content.getvalue().encode())

    response = client.post(reverse("upload-create"), {"kind": "segments", "file": upload})
    assert response.status_code == 302
    batch = UploadBatch.objects.get()
    ingest_batch(batch.pk)
    batch.refresh_from_db()
    assert (batch.status, batch.rows_rejected) == ("done", 1)

    assert payload in batch.message
    assert_inert_html(client.get(reverse("upload-detail", args=[batch.pk])).content.decode(), payload)
    # the file name (Django keeps its last path component only)
    assert_inert_html(client.get(reverse("upload-list")).content.decode(), payload, shown=False)
    UploadBatch.objects.filter(pk=batch.pk).update(status="failed")  # the job monitor lists failed batches
    jobs = client_for(make_staff(Role.MAINTAINER)).get(reverse("jobs"))
    assert_inert_html(jobs.content.decode(), payload, shown=False)

    error_csv = client.get(reverse("upload-errors", args=[batch.pk, "csv"]))
    rows = list(csv.reader(io.StringIO(b"".join(error_csv.streaming_content).decode("utf-8-sig"))))  # type: ignore[attr-defined]
    assert len(rows) == 2
    for cell in rows[1][: len(names)]:
        assert_formula_safe(cell, payload)
    assert_formula_safe(rows[1][-1], "")  # the reasons quote the cells too

    error_xlsx = client.get(reverse("upload-errors", args=[batch.pk, "xlsx"]))
    book = load_workbook(io.BytesIO(b"".join(error_xlsx.streaming_content)))  # type: ignore[attr-defined]
    cells = next(book.worksheets[0].iter_rows(min_row=2, max_row=2))
    for cell in cells[: len(names)]:
        assert cell.data_type == "s"  # a string, never a formula
        assert_formula_safe(str(cell.value), payload)
