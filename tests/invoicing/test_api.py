"""Invoicing API: document list/detail/PDF with filters and province isolation, the invoice-request, reverse,
reissue, delivery and summary-sheet commands with their role rules, domain errors as 400/409, double submits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from rest_framework.test import APIClient

from invoicing.issuing import issue_segments
from invoicing.models import (
    BuyerTitle,
    Customer,
    Delivery,
    Document,
    DocumentItem,
    DocumentStatus,
    SheetStatus,
    SummarySheet,
)
from piaogen.models import Role, User
from tests.fixtures import invoicing
from tests.fixtures.invoicing import CARD, OTHER_CARD, days_ago, segment, trip
from tests.fixtures.shared import shared_world

DOCUMENTS = "/api/v1/documents/"
REQUESTS = "/api/v1/invoice-requests/"
SHEETS = "/api/v1/summary-sheets/"


@pytest.fixture
def api(make_staff: Callable[..., User]) -> Callable[..., APIClient]:
    def make(role: str, province: str = "") -> APIClient:
        client = APIClient()
        client.force_authenticate(make_staff(role, province))
        return client

    return make


@shared_world(on=invoicing.world)
def documents(world: dict[str, Any]) -> dict[str, Document]:
    """One document sold in Jiangsu (32) and one sold in Beijing (11)."""
    (jiangsu,) = issue_segments(segment_ids=[segment(world, fee=10000).pk])
    (beijing,) = issue_segments(segment_ids=[segment(world, fee=800, unit="capital", card_no=OTHER_CARD).pk])
    return {"32": jiangsu, "11": beijing}


def ids(response: Any) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


# --- reading ------------------------------------------------------------------------------------------------------


def test_national_roles_list_every_province(api: Callable[..., APIClient], documents: dict[str, Document]) -> None:
    for role in (Role.AGENT, Role.MANAGER, Role.MAINTAINER):
        assert ids(api(role).get(DOCUMENTS)) == {documents["32"].pk, documents["11"].pk}


def test_a_province_user_lists_and_reads_only_their_provinces_documents(
    api: Callable[..., APIClient], documents: dict[str, Document]
) -> None:
    client = api(Role.PROVINCE, "32")

    assert ids(client.get(DOCUMENTS)) == {documents["32"].pk}
    assert ids(client.get(DOCUMENTS, {"province": "11"})) == set()
    assert client.get(f"{DOCUMENTS}{documents['11'].pk}/").status_code == 404
    assert client.get(f"{DOCUMENTS}{documents['11'].pk}/pdf/").status_code == 404
    assert client.get(f"{DOCUMENTS}{documents['32'].pk}/").status_code == 200


def test_a_province_bound_manager_is_bounded_too(api: Callable[..., APIClient], documents: dict[str, Document]) -> None:
    assert ids(api(Role.MANAGER, "11").get(DOCUMENTS)) == {documents["11"].pk}


def test_the_list_filters(api: Callable[..., APIClient], documents: dict[str, Document]) -> None:
    client = api(Role.AGENT)
    jiangsu = documents["32"]
    today = jiangsu.service_date.isoformat()

    assert ids(client.get(DOCUMENTS, {"number": jiangsu.number})) == {jiangsu.pk}
    assert ids(client.get(DOCUMENTS, {"province": "11"})) == {documents["11"].pk}
    assert ids(client.get(DOCUMENTS, {"card_no": OTHER_CARD})) == {documents["11"].pk}
    assert ids(client.get(DOCUMENTS, {"kind": "invoice", "status": "issued", "business_line": "etc_trip"})) == {
        jiangsu.pk,
        documents["11"].pk,
    }
    assert ids(client.get(DOCUMENTS, {"issued_from": today, "issued_to": today})) == {jiangsu.pk, documents["11"].pk}
    assert ids(client.get(DOCUMENTS, {"issued_to": "2000-01-01"})) == set()
    assert len(ids(client.get(DOCUMENTS, {"customer": str(jiangsu.customer_id)}))) == 2
    assert client.get(DOCUMENTS, {"status": "nonsense"}).status_code == 400


def test_the_detail_has_lines_and_the_pdf_downloads(
    api: Callable[..., APIClient], documents: dict[str, Document]
) -> None:
    client = api(Role.MANAGER)
    document = documents["32"]

    body = client.get(f"{DOCUMENTS}{document.pk}/").json()
    pdf = client.get(f"{DOCUMENTS}{document.pk}/pdf/")

    assert (body["number"], body["amount_gross"], body["lines"][0]["item_name"]) == (
        document.number,
        10000,
        "*经营租赁*通行费",
    )
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.getvalue().startswith(b"%PDF")
    assert Document.objects.get(pk=document.pk).pdf.name  # rendered on first need and cached


# --- invoice requests ---------------------------------------------------------------------------------------------


def test_an_invoice_request_issues_the_eligible_items(api: Callable[..., APIClient], world: dict[str, Any]) -> None:
    seg = segment(world, fee=10000)

    response = api(Role.AGENT).post(REQUESTS, {"items": [{"kind": "segment", "id": seg.pk}]}, format="json")

    assert response.status_code == 201, response.json()
    (document,) = response.json()["documents"]
    assert response.json()["rejected"] == []
    assert DocumentItem.objects.get(item_id=seg.pk, live=True).document_id == document["id"]


def test_requesting_the_same_items_twice_answers_409_and_issues_nothing_more(
    api: Callable[..., APIClient], world: dict[str, Any]
) -> None:
    client = api(Role.AGENT)
    seg = segment(world, fee=10000)
    body = {"items": [{"kind": "segment", "id": seg.pk}]}

    first = client.post(REQUESTS, body, format="json")
    second = client.post(REQUESTS, body, format="json")

    assert (first.status_code, second.status_code) == (201, 409)
    number = first.json()["documents"][0]["number"]
    (rejection,) = second.json()["rejected"]
    assert (rejection["reason"], rejection["id"]) == ("in_document", seg.pk)
    assert number in rejection["message"]
    assert second.json()["code"] == "nothing_eligible"
    assert Document.objects.count() == 1


def test_a_request_issues_what_it_can_and_gives_the_reason_for_the_rest(
    api: Callable[..., APIClient], world: dict[str, Any]
) -> None:
    ready = segment(world, fee=10000)
    recent = segment(world, fee=500, days=1)  # day-7 rule
    free = segment(world, fee=0)

    response = api(Role.MAINTAINER).post(
        REQUESTS,
        {"items": [{"kind": "segment", "id": s.pk} for s in (ready, recent, free)] + [{"kind": "topup", "id": 999}]},
        format="json",
    )

    assert response.status_code == 201
    assert len(response.json()["documents"]) == 1
    reasons = {(r["kind"], r["id"]): r["reason"] for r in response.json()["rejected"]}
    assert reasons == {
        ("segment", recent.pk): "not_yet",
        ("segment", free.pk): "zero_fee",
        ("topup", 999): "not_found",
    }


def test_a_request_by_card_and_trips_issues_the_trips_segments(
    api: Callable[..., APIClient], world: dict[str, Any]
) -> None:
    segment(world, fee=10000, pass_id="PA", segment_no=1)
    segment(world, fee=2500, unit="loan", pass_id="PA", segment_no=2)

    response = api(Role.AGENT).post(REQUESTS, {"card_no": CARD, "pass_ids": ["PA", "PZ"]}, format="json")

    assert response.status_code == 201
    assert sorted(d["kind"] for d in response.json()["documents"]) == ["invoice", "receipt"]
    assert response.json()["rejected"] == [
        {"kind": "trip", "id": None, "pass_id": "PZ", "reason": "not_found", "message": "该卡没有这次通行"}
    ]


def test_a_request_needs_items_or_a_card_with_trips(api: Callable[..., APIClient], db: None) -> None:
    client = api(Role.AGENT)

    assert client.post(REQUESTS, {}, format="json").status_code == 400
    assert client.post(REQUESTS, {"pass_ids": ["PA"]}, format="json").status_code == 400


@pytest.mark.parametrize(("role", "province"), [(Role.MANAGER, ""), (Role.PROVINCE, "32")])
def test_readers_cannot_request_reverse_reissue_deliver_or_issue_sheets(
    api: Callable[..., APIClient], documents: dict[str, Document], role: str, province: str
) -> None:
    client = api(role, province)
    pk = documents["32"].pk
    for url in (REQUESTS, f"{DOCUMENTS}{pk}/reverse/", f"{DOCUMENTS}{pk}/reissue/", f"{DOCUMENTS}{pk}/deliveries/"):
        assert client.post(url, {"reason": "x"}, format="json").status_code == 403, url
    assert client.post(SHEETS, {"card_no": CARD, "pass_ids": ["PA"]}, format="json").status_code == 403
    assert Document.objects.filter(status=DocumentStatus.ISSUED).count() == 2


def test_anonymous_callers_are_told_to_authenticate(documents: dict[str, Document]) -> None:
    assert APIClient().post(f"{DOCUMENTS}{documents['32'].pk}/reverse/", {"reason": "x"}).status_code == 401


# --- reverse and reissue ------------------------------------------------------------------------------------------


def test_reversing_twice_answers_409_and_issues_one_red_document(
    api: Callable[..., APIClient], documents: dict[str, Document]
) -> None:
    client = api(Role.AGENT)
    url = f"{DOCUMENTS}{documents['32'].pk}/reverse/"

    first = client.post(url, {"reason": "客户申请退费"}, format="json")
    second = client.post(url, {"reason": "客户申请退费"}, format="json")

    assert first.status_code == 201
    assert (first.json()["status"], first.json()["amount_gross"]) == ("red", -10000)
    assert second.status_code == 409
    assert second.json()["code"] == "already_reversed" and "已红冲" in second.json()["detail"]
    assert Document.objects.filter(status=DocumentStatus.RED).count() == 1


def test_a_reversal_needs_a_reason(api: Callable[..., APIClient], documents: dict[str, Document]) -> None:
    response = api(Role.AGENT).post(f"{DOCUMENTS}{documents['32'].pk}/reverse/", {"reason": ""}, format="json")

    assert response.status_code == 400
    assert Document.objects.get(pk=documents["32"].pk).status == DocumentStatus.ISSUED


def test_reversing_through_the_api_replaces_the_trips_summary_sheet(
    api: Callable[..., APIClient], world: dict[str, Any]
) -> None:
    trip(world, "PA", ("commercial", 10000), ("loan", 2500))
    client = api(Role.AGENT)
    sheet = client.post(SHEETS, {"card_no": CARD, "pass_ids": ["PA"]}, format="json").json()
    receipt = Document.objects.get(kind="receipt")

    assert client.post(f"{DOCUMENTS}{receipt.pk}/reverse/", {"reason": "重复"}, format="json").status_code == 201

    old = SummarySheet.objects.get(pk=sheet["id"])
    assert old.status == SheetStatus.VOID and old.replaced_by is not None
    assert old.replaced_by.amount_gross == 10000


def test_a_reissue_with_a_corrected_title(api: Callable[..., APIClient], documents: dict[str, Document]) -> None:
    world_customer = documents["32"].customer
    assert world_customer is not None
    company = BuyerTitle.objects.create(
        customer=world_customer,
        kind="company",
        name="苏州某某物流有限公司",
        tax_id="91320500MA1XXXXX0X",
        valid_from=days_ago(1),
    )
    client = api(Role.AGENT)
    url = f"{DOCUMENTS}{documents['32'].pk}/reissue/"

    response = client.post(url, {"title": company.pk, "reason": "抬头错误"}, format="json")
    again = client.post(url, {"title": company.pk, "reason": "抬头错误"}, format="json")

    assert response.status_code == 201
    assert (response.json()["buyer_name"], response.json()["replaces"]) == ("苏州某某物流有限公司", documents["32"].pk)
    assert again.status_code == 409
    assert Document.objects.filter(replaces=documents["32"]).count() == 1


def test_a_reissue_to_another_customers_title_is_a_400(
    api: Callable[..., APIClient], documents: dict[str, Document]
) -> None:
    stranger = Customer.objects.create(name="李四", phone="13900000002")
    title = BuyerTitle.objects.create(customer=stranger, kind="person", name="李四", valid_from=days_ago(1))

    response = api(Role.AGENT).post(
        f"{DOCUMENTS}{documents['32'].pk}/reissue/", {"title": title.pk, "reason": "抬头错误"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "新抬头不属于该票据的客户", "code": "foreign_title"}
    assert Document.objects.get(pk=documents["32"].pk).status == DocumentStatus.ISSUED


# --- deliveries and sheets ----------------------------------------------------------------------------------------


def test_resending_a_document_by_email_twice_sends_once(
    api: Callable[..., APIClient], documents: dict[str, Document]
) -> None:
    client = api(Role.AGENT)
    url = f"{DOCUMENTS}{documents['32'].pk}/deliveries/"

    first = client.post(url, {"address": "fin@example.com"}, format="json")
    second = client.post(url, {"address": "fin@example.com"}, format="json")

    assert first.status_code == 201
    assert (first.json()["status"], first.json()["address"]) == ("sent", "f**@example.com")  # masked: piaogen.privacy
    assert second.json()["id"] == first.json()["id"]
    assert Delivery.objects.count() == 1 and len(mail.outbox) == 1
    assert client.post(url, {"address": "not-an-address"}, format="json").status_code == 400


def test_a_summary_sheet_is_issued_once_and_downloads(api: Callable[..., APIClient], world: dict[str, Any]) -> None:
    trip(world, "PA", ("commercial", 10000), ("loan", 2500))
    client = api(Role.AGENT)

    first = client.post(SHEETS, {"card_no": CARD, "pass_ids": ["PA"]}, format="json")
    second = client.post(SHEETS, {"card_no": CARD, "pass_ids": ["PA"]}, format="json")
    pdf = api(Role.PROVINCE, "32").get(f"{SHEETS}{first.json()['id']}/pdf/")

    assert first.status_code == 201 and first.json()["amount_gross"] == 12500
    assert second.json()["id"] == first.json()["id"]
    assert SummarySheet.objects.count() == 1
    assert pdf.status_code == 200 and pdf.getvalue().startswith(b"%PDF")


def test_a_sheet_for_a_trip_without_documents_is_a_409(api: Callable[..., APIClient], world: dict[str, Any]) -> None:
    segment(world, fee=500, pass_id="PN", days=1)

    response = api(Role.AGENT).post(SHEETS, {"card_no": CARD, "pass_ids": ["PN"]}, format="json")

    assert response.status_code == 409 and response.json()["code"] == "sheet_trip_not_invoiced"


def test_a_province_user_sees_a_sheet_crossing_provinces_but_not_the_other_provinces_part(
    api: Callable[..., APIClient], world: dict[str, Any]
) -> None:
    """Full per-role coverage: tests/invoicing/test_gaps_sheet_scope.py."""
    trip(world, "PA", ("commercial", 10000))
    trip(world, "PB", ("commercial", 1000), ("capital", 800))  # a Jiangsu card through Beijing
    agent = api(Role.AGENT)
    own = agent.post(SHEETS, {"card_no": CARD, "pass_ids": ["PA"]}, format="json").json()
    mixed = agent.post(SHEETS, {"card_no": CARD, "pass_ids": ["PB"]}, format="json").json()
    jiangsu = api(Role.PROVINCE, "32")

    assert ids(jiangsu.get(SHEETS)) == {own["id"], mixed["id"]}
    assert len(jiangsu.get(f"{SHEETS}{mixed['id']}/").json()["documents"]) == 1  # the Jiangsu one only
    assert jiangsu.get(f"{SHEETS}{mixed['id']}/pdf/").status_code == 403  # the PDF lists Beijing's document
    assert ids(api(Role.PROVINCE, "11").get(SHEETS)) == {mixed["id"]}  # a Jiangsu card, through Beijing
    assert ids(agent.get(SHEETS)) == {own["id"], mixed["id"]}


# --- console page -------------------------------------------------------------------------------------------------


def test_the_console_document_page_shows_the_document_and_hides_other_provinces(
    make_staff: Callable[..., User], client_for: Callable[[User], Any], documents: dict[str, Document]
) -> None:
    client = client_for(make_staff(Role.PROVINCE, "32"))

    page = client.get(f"/documents/{documents['32'].pk}/")

    assert page.status_code == 200
    assert documents["32"].number in page.content.decode() and "下载 PDF" in page.content.decode()
    assert client.get(f"/documents/{documents['11'].pk}/").status_code == 404
    assert client.get(f"/documents/{documents['11'].pk}/pdf/").status_code == 404
