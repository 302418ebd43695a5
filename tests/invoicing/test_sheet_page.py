"""Summary sheets get their own page (issue #12 item 6): number, status, trips, documents and why their totals
differ from the sheet's, the PDF, resend, and the void/replaced lineage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core import mail
from django.test import Client
from django.urls import reverse

from invoicing.issuing import document_reverse, issue_segments
from invoicing.models import Delivery, SheetStatus, SummarySheet
from invoicing.sheets import summary_sheet_issue, summary_sheet_totals
from piaogen.models import User
from tests.fixtures.invoicing import CARD
from tests.fixtures.support import make_trip
from tolling.models import Segment


def two_trips_in_one_document(world: dict[str, Any]) -> tuple[SummarySheet, Any]:
    """Two trips of the card on one day and one road: one document holds both; the sheet covers the first."""
    first = make_trip(world, "PSHEET01", ("commercial", 3000), issue=False)
    second = make_trip(world, "PSHEET02", ("commercial", 2000), issue=False)
    ids = Segment.objects.filter(pass_id__in=[first.pass_id, second.pass_id]).values_list("pk", flat=True)
    (document,) = issue_segments(segment_ids=list(ids))
    return summary_sheet_issue(card_no=CARD, pass_ids=[first.pass_id]), document


def test_the_page_explains_why_the_documents_total_differs_from_the_sheets(
    world: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    sheet, document = two_trips_in_one_document(world)

    totals = summary_sheet_totals(sheet=sheet, documents=[document])
    page = client_for(agent).get(reverse("sheet-detail", args=[sheet.pk])).content.decode()

    assert (totals.sheet_total, totals.documents_total, totals.on_sheet_total, totals.elsewhere_total) == (
        3000, 5000, 3000, 2000,
    )  # fmt: skip
    assert sheet.number in page and "PSHEET01" in page and str(document) in page
    assert "票据合计多出的 ¥20.00 属于本汇总单以外的通行" in page
    assert reverse("sheet-pdf", args=[sheet.pk]) in page


def test_a_voided_sheet_links_the_sheet_that_replaced_it(
    world: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    make_trip(world, "PSHEET03", ("commercial", 3000), ("loan", 1000))
    old = summary_sheet_issue(card_no=CARD, pass_ids=["PSHEET03"])
    receipt = old.documents.get(kind="receipt")
    document_reverse(document=receipt, reason="重复", by=None)  # voids the sheet and issues its replacement
    old.refresh_from_db()
    new = old.replaced_by
    assert new is not None

    page = client_for(agent).get(reverse("sheet-detail", args=[old.pk])).content.decode()

    assert old.status == SheetStatus.VOID and new.status == SheetStatus.VALID
    assert reverse("sheet-detail", args=[new.pk]) in page and "已被替换" in page
    assert "张票据生成汇总单后已红冲" in page


def test_the_pdf_downloads(world: dict[str, Any], agent: User, client_for: Callable[[User], Client]) -> None:
    make_trip(world, "PSHEET04", ("commercial", 3000))
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PSHEET04"])

    response = client_for(agent).get(reverse("sheet-pdf", args=[sheet.pk]))

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"


def test_an_agent_resends_the_sheet_and_a_manager_cannot(
    world: dict[str, Any], agent: User, manager: User, client_for: Callable[[User], Client]
) -> None:
    make_trip(world, "PSHEET05", ("commercial", 3000))
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PSHEET05"])
    mail.outbox.clear()
    url = reverse("sheet-resend", args=[sheet.pk])

    sent = client_for(agent).post(url, {"address": "fleet@example.com"})
    refused = client_for(manager).post(url, {"address": "fleet@example.com"})

    assert sent.status_code == 302 and sent["Location"] == reverse("sheet-detail", args=[sheet.pk])
    assert refused.status_code == 403
    (delivery,) = Delivery.objects.filter(sheet=sheet)
    assert delivery.address == "fleet@example.com" and len(mail.outbox) == 1
    page = client_for(agent).get(reverse("sheet-detail", args=[sheet.pk])).content.decode()
    assert "f****@example.com" in page


def test_a_document_page_links_its_sheet(
    world: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    make_trip(world, "PSHEET06", ("commercial", 3000))
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=["PSHEET06"])
    document = sheet.documents.get()

    page = client_for(agent).get(reverse("document-detail", args=[document.pk])).content.decode()

    assert reverse("sheet-detail", args=[sheet.pk]) in page


def test_a_long_sheet_pages_its_documents_and_trips_and_totals_them_all(
    world: dict[str, Any], agent: User, client_for: Callable[[User], Client], monkeypatch: Any
) -> None:
    """A fleet card's month is hundreds of trips: the sheet's lists page with their counts, and the totals count
    every document, not the page's."""
    import invoicing.views

    trips = [make_trip(world, f"PLONG0{n}", ("commercial", 3000 + n), ("loan", 1000)) for n in range(2)]
    sheet = summary_sheet_issue(card_no=CARD, pass_ids=[trip.pass_id for trip in trips])
    monkeypatch.setattr(invoicing.views, "ITEM_LIMIT", 1)
    client = client_for(agent)
    url = reverse("sheet-detail", args=[sheet.pk])

    first = client.get(url).content.decode()
    last = client.get(url, {"documents_page": 4, "trips_page": 2}).content.decode()

    documents = first.split('id="sheet-documents"', 1)[1].split("</section>", 1)[0]
    assert '<span class="badge">4</span>' in documents and "第 1/4 页，共 4 条" in documents
    assert 'href="?documents_page=2#sheet-documents"' in documents
    assert documents.count('href="/documents/') == 1
    totals = first.split('id="sheet-totals"', 1)[1].split("</section>", 1)[0]
    assert "¥80.01" in totals  # 30.00 + 30.01 + 10.00 + 10.00: every document, not the page's one
    assert "票据合计与汇总单合计一致" in totals
    trips_part = last.split('id="sheet-trips"', 1)[1].split("</section>", 1)[0]
    assert "第 2/2 页，共 2 条" in trips_part and trips_part.count('href="/trips/') == 1
    assert "第 4/4 页，共 4 条" in last.split('id="sheet-documents"', 1)[1].split("</section>", 1)[0]
    assert 'href="?documents_page=4&amp;trips_page=1#sheet-trips"' in trips_part  # the documents' page kept


def test_a_documents_items_page_with_their_count(
    world: dict[str, Any], agent: User, client_for: Callable[[User], Client], monkeypatch: Any
) -> None:
    """A document holding a month of one road's segments lists them all, a page at a time, with the count."""
    import invoicing.views
    from invoicing.models import Document

    make_trip(world, "PITEMS01", ("commercial", 1200), ("commercial", 800))  # one road: one document, two items
    document = (
        Document.objects.filter(items__item_id__in=Segment.objects.filter(pass_id="PITEMS01").values("pk"))
        .distinct()
        .get()
    )
    monkeypatch.setattr(invoicing.views, "ITEM_LIMIT", 1)
    client = client_for(agent)
    url = reverse("document-detail", args=[document.pk])

    pages = [client.get(url, {"items_page": n}).content.decode() for n in (1, 2)]

    items = [page.split('id="document-items"', 1)[1].split("</section>", 1)[0] for page in pages]
    assert all('<span class="badge">2</span>' in part and "共 2 条" in part for part in items)
    assert ["PITEMS01 #1" in part for part in items] == [True, False]
    assert "PITEMS01 #2" in items[1] and 'href="?items_page=2#document-items"' in items[0]
    lines = pages[0].split('id="document-lines"', 1)[1].split("</section>", 1)[0]
    assert '<span class="badge">1</span>' in lines and "pager" not in lines  # one plate, one line: no pager
