"""Record pages: the customer, trip, card and document pages answer the support questions (domain.md §7) without
SQL — every invoice state with its reason, 应收/优惠/实收, documents with delivery and lineage, summary sheets,
back-charges, the timeline — in a fixed number of queries, masked, for every role, and 404 across provinces.
Also the customer and trip API."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoicing.issuing import document_reissue
from invoicing.models import Customer
from piaogen.models import Role, User
from support.privacy import pii_reveal
from tests.fixtures.invoicing import days_ago
from tests.fixtures.support import make_trip, segments_of


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32")


@pytest.fixture
def beijing_user(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "11")


def page(client: Client, name: str, pk: int, **params: str | int) -> str:
    response = client.get(reverse(name, args=[pk]), params)
    assert response.status_code == 200
    return response.content.decode()


def customer_page(records: dict[str, Any], client: Client, **params: str | int) -> str:
    return page(client, "customer-detail", records["customer"].pk, **params)


# --- customer -------------------------------------------------------------------------------------------------------


def test_the_customer_page_explains_every_segments_invoice_state_with_its_reason(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    body = customer_page(records, client_for(agent))
    waiting = segments_of(records["waiting"])[0]
    assert f"未到可开票日：{waiting.service_date + __import__('datetime').timedelta(days=7)}起可开票" in body
    assert f"已在票据{records['invoice'].number}中" in body  # already invoiced: which document
    assert f"已在票据{records['receipt'].code}{records['receipt'].number}中" in body  # the fiscal receipt
    assert "实收金额为零，不开票" in body
    assert "该笔通行由已开票的充值支付，不能再开票" in body  # the top-up was invoiced
    assert f"可开票（原票据{records['reversed_document'].number}已红冲）" in body  # released by a reversal


def test_the_customer_page_shows_cards_titles_with_history_topups_documents_sheets_and_charges(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    body = customer_page(records, client_for(agent))
    for card in records["cards"].values():
        assert reverse("card-detail", args=[card.pk]) in body
    assert "江苏苏通物流有限公司" in body and "当前生效" in body  # the new title version, in force
    assert "抬头变更只对生效时间之后的通行和充值适用" in body
    assert records["topup"].topup_id in body and "按充值开票" in body  # the top-up's invoice mode
    assert reverse("document-detail", args=[records["invoice"].pk]) in body
    assert "已红冲" in body  # the reversed document's lineage
    assert records["sheet"].number in body
    assert records["charge"].charge_id in body and "车型不符" in body
    assert "¥100.00" in body and "¥50.00" in body  # 实收 of the invoiced trip's segments


def test_the_customer_timeline_merges_the_audit_trail_document_events_and_deliveries(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    body = customer_page(records, client_for(agent))
    timeline = body.split('id="customer-timeline"', 1)[1]
    assert "document.reverse" in timeline or "抬头错误" in timeline  # the reversal, with its reason
    assert records["invoice"].number in timeline  # a document event


def test_the_customer_page_masks_phone_and_id_until_revealed(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(agent)
    body = customer_page(records, client)
    assert "138****0001" in body and "110101********1233" in body
    assert "13800000001" not in body and "110101199003071233" not in body
    pii_reveal(user=agent, customer=records["customer"], reason="客户来电核实身份")
    body = customer_page(records, client)
    assert "13800000001" in body and "110101199003071233" in body


def test_the_customer_page_pages_trips_and_serves_the_list_alone_to_htmx(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    for n in range(12):
        make_trip(records, f"PMORE{n:02d}", ("commercial", 100 + n), days=3, issue=False)
    client = client_for(agent)
    first = customer_page(records, client)
    assert "第 1 / 2 页" in first
    response = client.get(
        reverse("customer-detail", args=[records["customer"].pk]),
        {"trips_page": "2", "part": "trips"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "第 2 / 2 页" in body and "<html" not in body


def test_the_customer_page_makes_the_same_number_of_queries_however_many_trips(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(agent)
    customer_page(records, client)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as before:
        customer_page(records, client)
    for n in range(4):
        make_trip(records, f"PEXTRA{n:02d}", ("commercial", 500), ("loan", 300), days=15)
    with CaptureQueriesContext(connection) as after:
        customer_page(records, client)
    assert len(after.captured_queries) == len(before.captured_queries)
    # top-ups, summary sheets, back-charges, cards and titles are paged (their counts); the in-force titles, and the
    # ids of every binding and title for the timeline, are one query each
    assert len(after.captured_queries) <= 49


# --- trip -------------------------------------------------------------------------------------------------------


def test_the_trip_page_shows_segments_amounts_states_documents_sheet_and_back_charge(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    body = page(client_for(agent), "trip-detail", records["invoiced"].pk)
    assert "应收" in body and "优惠" in body and "实收" in body
    assert "¥150.00" in body  # the trip's total 实收
    assert reverse("document-detail", args=[records["invoice"].pk]) in body
    assert reverse("document-detail", args=[records["receipt"].pk]) in body
    assert records["sheet"].number in body
    assert records["charge"].charge_id in body
    assert reverse("customer-detail", args=[records["customer"].pk]) in body  # who held the card then


def test_the_trip_page_names_the_top_up_that_paid_an_ineligible_trip(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    body = page(client_for(agent), "trip-detail", records["from_topup"].pk)
    assert "该笔通行由已开票的充值支付，不能再开票" in body
    assert f"由充值 {records['topup'].topup_id} 支付" in body


def test_the_trip_page_lists_every_document_that_ever_held_a_segment(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    body = page(client_for(agent), "trip-detail", records["released"].pk)
    assert reverse("document-detail", args=[records["reversed_document"].pk]) in body
    assert "已红冲" in body


def test_the_trip_page_links_the_upload_batch_its_segments_came_in(
    records: dict[str, Any], agent: User, jiangsu: User, client_for: Callable[[User], Client]
) -> None:
    from django.core.files.base import ContentFile

    from tolling.models import Segment, UploadBatch

    batch = UploadBatch(
        kind="segments", province="32", uploaded_by=jiangsu, file_name="a.csv", file_size=1, sha256="0" * 64
    )
    batch.file.save("a.csv", ContentFile(b"x"), save=False)
    batch.save()
    Segment.objects.filter(pass_id=records["invoiced"].pass_id).update(batch=batch)
    body = page(client_for(agent), "trip-detail", records["invoiced"].pk)
    assert reverse("upload-detail", args=[batch.pk]) in body


# --- card -------------------------------------------------------------------------------------------------------


def test_the_card_page_masks_the_holder_and_shows_bindings_topups_and_trips(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    body = page(client_for(agent), "card-detail", records["cards"]["prepaid"].pk)
    assert "张*" in body and "138****0001" in body and "110101********1234" in body
    assert "13800000001" not in body and "110101199003071234" not in body
    assert reverse("customer-detail", args=[records["customer"].pk]) in body
    assert records["topup"].topup_id in body
    assert records["from_topup"].pass_id in body


# --- document ---------------------------------------------------------------------------------------------------


def test_the_document_page_shows_the_lineage_items_to_reissue_and_a_pdf_preview(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    original = records["invoice"]
    new = document_reissue(document=original, title=records["new_title"], reason="抬头错误", by=agent)
    body = page(client_for(agent), "document-detail", new.pk)
    lineage = body.split("document-lineage", 1)[1].split("</section>", 1)[0]
    red = original.reversals.get()
    assert [lineage.index(str(d)) for d in (original, red, new)] == sorted(
        lineage.index(str(d)) for d in (original, red, new)
    )
    assert "红字票据" in lineage and "换开票据" in lineage
    assert f'<iframe class="pdf-preview" src="{reverse("document-pdf", args=[new.pk])}"' in body
    assert reverse("trip-detail", args=[records["invoiced"].pk]) in body  # items → their trip


def test_the_pdf_may_be_framed_by_our_own_pages_only(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(agent).get(reverse("document-pdf", args=[records["invoice"].pk]))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]


# --- access -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.AGENT, Role.MANAGER, Role.MAINTAINER])
def test_national_roles_open_every_record_page(
    records: dict[str, Any], role: str, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    client = client_for(make_staff(role))
    page(client, "customer-detail", records["customer"].pk)
    page(client, "trip-detail", records["beijing_trip"].pk)
    page(client, "card-detail", records["cards"]["beijing"].pk)


def test_a_province_user_sees_their_provinces_records_and_404_for_others(
    records: dict[str, Any], jiangsu: User, beijing_user: User, client_for: Callable[[User], Client]
) -> None:
    stranger = Customer.objects.create(name="李四", phone="13900000009", province="11")
    client = client_for(jiangsu)
    page(client, "customer-detail", records["customer"].pk)
    page(client, "trip-detail", records["invoiced"].pk)
    page(client, "card-detail", records["cards"]["post"].pk)
    for name, pk in (
        ("customer-detail", stranger.pk),
        ("trip-detail", records["beijing_trip"].pk),
        ("card-detail", records["cards"]["beijing"].pk),
    ):
        assert client.get(reverse(name, args=[pk])).status_code == 404
    client = client_for(beijing_user)
    for name, pk in (
        ("trip-detail", records["invoiced"].pk),
        ("card-detail", records["cards"]["post"].pk),
        ("document-detail", records["invoice"].pk),
    ):
        assert client.get(reverse(name, args=[pk])).status_code == 404


def test_a_province_user_sees_only_their_provinces_cards_on_a_customer_page(
    records: dict[str, Any], beijing_user: User, client_for: Callable[[User], Client]
) -> None:
    body = customer_page(records, client_for(beijing_user))  # 张三 has a Beijing card: visible to Beijing
    assert reverse("card-detail", args=[records["cards"]["beijing"].pk]) in body
    assert reverse("card-detail", args=[records["cards"]["post"].pk]) not in body
    assert records["invoiced"].pass_id not in body  # a Jiangsu trip
    assert records["beijing_trip"].pass_id in body


def test_anonymous_users_are_sent_to_the_login_page(records: dict[str, Any], client: Client) -> None:
    response = client.get(reverse("customer-detail", args=[records["customer"].pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


# --- API --------------------------------------------------------------------------------------------------------


def test_the_customer_api_lists_masked_customers_with_filters(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    Customer.objects.create(name="李四", phone="13900000009", province="11")
    client = client_for(agent)
    data = client.get("/api/v1/customers/", {"name": "张三"}).json()
    assert [row["id"] for row in data["results"]] == [records["customer"].pk]
    assert data["results"][0]["phone"] == "138****0001"
    assert data["results"][0]["id_no"] == "110101********1233"
    assert client.get("/api/v1/customers/", {"phone": "13900000009"}).json()["count"] == 1
    detail = client.get(f"/api/v1/customers/{records['customer'].pk}/").json()
    assert detail["phone"] == "138****0001" and len(detail["bindings"]) == 3 and len(detail["titles"]) == 2
    pii_reveal(user=agent, customer=records["customer"], reason="客户来电核实身份")
    assert client.get(f"/api/v1/customers/{records['customer'].pk}/").json()["phone"] == "13800000001"
    assert client.get("/api/v1/customers/", {"name": "张三"}).json()["results"][0]["phone"] == "138****0001"


def test_the_customer_api_is_scoped_to_the_province(
    records: dict[str, Any], jiangsu: User, client_for: Callable[[User], Client]
) -> None:
    stranger = Customer.objects.create(name="李四", phone="13900000009", province="11")
    client = client_for(jiangsu)
    ids = [row["id"] for row in client.get("/api/v1/customers/").json()["results"]]
    assert ids == [records["customer"].pk]
    assert client.get(f"/api/v1/customers/{stranger.pk}/").status_code == 404


def test_the_trip_api_filters_by_card_and_shows_segment_amounts_in_scope(
    records: dict[str, Any], agent: User, beijing_user: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(agent)
    data = client.get("/api/v1/trips/", {"card_no": records["beijing_trip"].card_no}).json()
    assert [row["pass_id"] for row in data["results"]] == [records["beijing_trip"].pass_id]
    detail = client.get(f"/api/v1/trips/{records['invoiced'].pk}/").json()
    assert [(s["pay_fee"], s["discount_fee"], s["fee"]) for s in detail["segments"]] == [
        (10000, 0, 10000),
        (5000, 0, 5000),
    ]
    plate = client.get("/api/v1/trips/", {"plate": "苏a12345", "date_from": days_ago(5).date().isoformat()}).json()
    assert [row["pass_id"] for row in plate["results"]] == [records["waiting"].pass_id]
    beijing = client_for(beijing_user)
    assert [row["pass_id"] for row in beijing.get("/api/v1/trips/").json()["results"]] == [
        records["beijing_trip"].pass_id
    ]
    assert beijing.get(f"/api/v1/trips/{records['invoiced'].pk}/").status_code == 404


# --- record pages keep context ------------------------------------------------------------------------------------


def test_the_customer_page_pages_documents_with_their_count(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    import support.records

    monkeypatch.setattr(support.records, "LIST_LIMIT", 2)
    total = records["customer"].documents.count() if hasattr(records["customer"], "documents") else None
    client = client_for(agent)
    first = customer_page(records, client)
    documents = first.split('id="documents"', 1)[1].split("</section>", 1)[0]
    assert "第 1/" in documents and 'name="documents_page" value="2"' in documents  # the selection form's pager
    if total is not None:
        assert f"共 {total} 条" in documents
    second = customer_page(records, client, documents_page=2)
    assert "第 2/" in second.split('id="documents"', 1)[1]


def test_the_card_page_pages_documents_with_their_count(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    import support.records
    from tolling.models import Card

    monkeypatch.setattr(support.records, "LIST_LIMIT", 1)
    card = Card.objects.get(card_no=records["invoice"].card_no)
    body = page(client_for(agent), "card-detail", card.pk)
    documents = body.split('id="documents"', 1)[1].split("</section>", 1)[0]
    assert "第 1/" in documents and 'name="documents_page" value="2"' in documents


def test_repeated_document_events_are_grouped_on_the_timeline() -> None:
    import datetime as dt

    from support.records import TimelineEntry, grouped

    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    issued = [TimelineEntry(at, "票据事件", f"N{n} · 开具", by="ops", event="开具") for n in range(20)]
    other = TimelineEntry(at, "操作", "绑定")
    rows = grouped([*issued, other, issued[0]])
    assert [row.text for row in rows] == ["开具 20 张票据", "绑定", "N0 · 开具"]
    assert rows[0].names == ("N0", "N1", "N2", "N3", "N4")  # the first documents named


def test_the_customer_timeline_names_a_ticket_and_links_it(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    from support.tickets import ticket_open

    ticket = ticket_open(category="other", subject="咨询发票抬头", customer=records["customer"], by=agent)
    timeline = customer_page(records, client_for(agent)).split('id="customer-timeline"', 1)[1]
    assert f'href="{reverse("ticket-detail", args=[ticket.pk])}">咨询发票抬头' in timeline
    assert f"#{ticket.pk} " not in timeline


def test_the_customer_timeline_pages_with_its_count_of_grouped_lines(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    from support.records import TIMELINE_LIMIT
    from support.tickets import ticket_open

    client = client_for(agent)
    before = client.get(f"/customers/{records['customer'].pk}/").context["record"].timeline.page.paginator.count
    for n in range(TIMELINE_LIMIT + 5):  # tickets are never grouped: one line each
        ticket_open(category="other", subject=f"来电{n:02d}", customer=records["customer"], by=agent)
    response = client.get(f"/customers/{records['customer'].pk}/")
    total = response.context["record"].timeline.page.paginator.count
    assert total >= before + TIMELINE_LIMIT + 5
    first = response.content.decode().split('id="customer-timeline"', 1)[1]
    assert f"data-timeline-count>{total}<" in first
    assert first.count("<li>") == TIMELINE_LIMIT
    assert 'name="timeline_page" value="2"' in first and "来电44" in first
    second = customer_page(records, client, timeline_page=2).split('id="customer-timeline"', 1)[1]
    assert second.count("<li>") == min(total - TIMELINE_LIMIT, TIMELINE_LIMIT)
    assert "来电44" not in second and "来电00" in second
    assert f"共 {total} 条" in second


def test_the_customer_timeline_tells_what_an_action_did_in_words(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    from piaogen.audit import audit_record

    customer = records["customer"]
    audit_record(actor=agent, action="support.request_invoices", obj=customer, reason="客户来电",
                 after={"summary": "已为卡32010000000000000003开具1张票据", "action": 8,
                        "links": [["card", "32010000000000000003"], ["document", "2620"]]})  # fmt: skip
    audit_record(actor=agent, action="buyer_title.add", obj=customer, reason="更正",
                 after={"title": 738_391, "name": "某某公司", "tax_id": "", "one_document": True})  # fmt: skip

    timeline = customer_page(records, client_for(agent)).split('id="customer-timeline"', 1)[1]
    assert "客服：申请开票 · 客户来电 · 已为卡32010000000000000003开具1张票据" in timeline
    assert "新增抬头版本 · 更正 · 姓名/名称：某某公司；仅用于一张换票：是" in timeline
    words = re.sub(r"<time[^>]*>[^<]*</time>", "", timeline)  # timestamps carry digits of their own
    for raw in ("links=", "action=", "[[", "title=", "738391", "one_document"):
        assert raw not in words, raw


def test_every_list_on_the_customer_page_pages_with_a_count_and_keeps_the_other_lists_pages(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    import support.records

    monkeypatch.setattr(support.records, "LIST_LIMIT", 1)
    client = client_for(agent)
    body = customer_page(records, client, trips_page=2, topup="32010000000000000001:T1")
    documents = body.split('id="documents"', 1)[1].split("</section>", 1)[0]
    assert "第 1/" in documents
    # the documents' next page submits the selection form, which holds the trips' page and the carried tick
    assert 'form="select-records" formaction="/customers/' in documents
    assert 'name="documents_page" value="2"' in documents
    assert 'name="trips_at" value="1" form="select-records"' in body  # one page of trips: the last is the first
    assert 'name="topup" value="32010000000000000001:T1" form="select-records"' in body  # ticked or kept hidden
    for anchor, param in (("sheets", "sheets_page"), ("charges", "charges_page")):
        section = body.split(f'id="{anchor}"', 1)[1].split("</section>", 1)[0]
        count = re.search(r'<span class="badge">(\d+)</span>', section)
        assert count, anchor
        if int(count[1]) > 1:
            assert f'name="{param}" value="2"' in section and f"共 {count[1]} 条" in section, anchor
