"""The Django admin, the maintainers' tool: every model's pages answer, facts and documents stay read-only, other
roles are sent to the admin login, tokens show their key once, and big tables are never scanned or fully counted."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from invoicing.models import (
    BuyerTitle,
    CardBinding,
    CardPrepaidChoice,
    Customer,
    Delivery,
    Document,
    DocumentEvent,
    DocumentItem,
    DocumentLine,
    IssueRun,
    NumberSeries,
    SummarySheet,
)
from piaogen.audit import audit_record
from piaogen.models import ApiToken, AuditEvent, CallbackDelivery, IdempotentRequest, Role, User
from piaogen.services import staff_upsert
from reports.models import (
    DeliveryRollup,
    DocumentRollup,
    ExportJob,
    ReportDelivery,
    RollupWatermark,
    SavedView,
    ScheduledReport,
    SupportRollup,
    TrafficRollup,
    UploadLateness,
    UploadRollup,
)
from support.models import ActionRequest, PiiReveal, SavedFilter, SearchEvent, Ticket, TicketLink, TicketNote
from support.stats_rollup import (
    DocumentStatsRollup,
    DocumentStatsRollupWatermark,
    SegmentRollup,
    SegmentRollupWatermark,
)
from tests.fixtures import PASSWORD
from tests.fixtures.shared import shared_world
from tolling.models import (
    AuditCharge,
    Card,
    Correction,
    Operator,
    PaperTicket,
    RejectedRow,
    Segment,
    TaxiRide,
    TollUnit,
    TollUnitRate,
    TopUp,
    Trip,
    UploadBatch,
    Vehicle,
)

# the project's models and the auth groups; django-axes' lockout records have their own test below
REGISTERED: list[type[Model]] = sorted(
    (model for model in admin.site._registry if model._meta.app_label != "axes"), key=lambda model: model._meta.label
)

# Viewed only: no add, change or delete for anyone.
READ_ONLY: set[type[Model]] = {
    Trip, Segment, TopUp, AuditCharge, PaperTicket, TaxiRide, UploadBatch, RejectedRow, Correction,
    CardBinding, CardPrepaidChoice, BuyerTitle, Document, DocumentLine, DocumentItem, SummarySheet, NumberSeries,
    DocumentEvent, Delivery, IssueRun, TicketNote, PiiReveal, DocumentRollup, UploadRollup, SupportRollup,
    TrafficRollup, DeliveryRollup, UploadLateness, SearchEvent, ReportDelivery, AuditEvent, ActionRequest, ExportJob,
    SegmentRollup, SegmentRollupWatermark, DocumentStatsRollup, DocumentStatsRollupWatermark, CallbackDelivery,
    IdempotentRequest,
}  # fmt: skip
# Changeable, but rows are only created elsewhere.
NO_ADD: set[type[Model]] = READ_ONLY | {RollupWatermark}


def label(model: type[Model]) -> str:
    return model._meta.label


def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def maintainer_client(maintainer: User, client_for: Callable[[User], Client]) -> Client:
    return client_for(maintainer)


@shared_world
def samples() -> dict[type[Model], Model]:
    """One row of every registered model, linked the way real data is."""
    maintainer = staff_upsert(username=f"{Role.MAINTAINER}", role=Role.MAINTAINER, province="", password=PASSWORD)
    province_user = staff_upsert(username=f"{Role.PROVINCE}32", role=Role.PROVINCE, province="32", password=PASSWORD)
    now = timezone.now()
    today = timezone.localdate()
    road = Operator.objects.create(kind="road", tax_id="91320000134752200W", name="江苏交通控股", province="32")
    issuer = Operator.objects.create(kind="issuer", tax_id="91320000MA1MXXXX01", name="江苏通行宝", province="32")
    taxi = Operator.objects.create(
        kind="taxi", tax_id="91320100MA1TAXI001", name="南京出租", province="32", tax_rate=Decimal("0.030")
    )
    unit = TollUnit.objects.create(code="G0015320010010A1", name="沪宁高速南京段", province="32", operator=road,
                                   road_nature=1)  # fmt: skip
    rate = TollUnitRate.objects.create(toll_unit=unit, tax_rate=Decimal("0.030"), valid_from=dt.date(2024, 1, 1))
    vehicle = Vehicle.objects.create(plate="苏A12345", plate_color=0, vehicle_class=1)
    card_no = "32010000000000000001"
    card = Card.objects.create(card_no=card_no, card_type=23, province="32", issuer=issuer, vehicle=vehicle,
                               holder_name="张三", holder_phone="13812345678")  # fmt: skip
    batch = UploadBatch.objects.create(kind="segments", province="32", uploaded_by=province_user,
                                       file="uploads/32/2026/01/abc-segments.csv", file_name="segments.csv",
                                       file_size=120, sha256="a" * 64)  # fmt: skip
    trip = Trip.objects.create(pass_id="P20260101000001", card_no=card_no, card_type=23, plate="苏A12345",
                               plate_color=0, vehicle_class=1, entry_time=now, exit_time=now,
                               service_date=today)  # fmt: skip
    segment = Segment.objects.create(
        pass_id=trip.pass_id, segment_no=1, service_date=today, card_no=card_no, card_type=23, plate="苏A12345",
        plate_color=0, vehicle_class=1, toll_unit=unit, province="32", entry_time=now, exit_time=now,
        entry_station="南京东", exit_station="南京西", pay_fee=3550, discount_fee=0, fee=3550, batch=batch,
    )  # fmt: skip
    topup = TopUp.objects.create(topup_id="T20260101000001", service_date=today, card_no=card_no, amount=10000,
                                 topped_up_at=now, issuer=issuer, province="32", batch=batch)  # fmt: skip
    charge = AuditCharge.objects.create(charge_id="A20260101000001", service_date=today, pass_id=trip.pass_id,
                                        card_no=card_no, plate="苏A12345", plate_color=0, toll_unit=unit,
                                        province="32", reason="CLASS", amount=1200, paid_at=now)  # fmt: skip
    paper = PaperTicket.objects.create(ticket_no="PT20260101000001", service_date=today, toll_unit=unit,
                                       province="32", plate="苏A54321", plate_color=0, vehicle_class=1,
                                       exit_time=now, amount=2000, pay_method="CASH")  # fmt: skip
    ride = TaxiRide.objects.create(ride_id="R20260101000001", service_date=today, company=taxi, province="32",
                                   taxi_plate="苏AT1234", start_time=now, end_time=now, distance_m=5200,
                                   amount=3000)  # fmt: skip
    rejected = RejectedRow.objects.create(batch=batch, line_no=3, cells={"pass_id": ""}, reasons=["通行标识为空"])
    correction = Correction.objects.create(batch=batch, item_kind="segment", item_id=segment.pk, line_no=2,
                                           before={"fee": 3372}, after={"fee": 3800})  # fmt: skip
    customer = Customer.objects.create(name="张三", phone="13812345678", email="zhang@example.com", province="32")
    binding = CardBinding.objects.create(customer=customer, card_no=card_no)
    title = BuyerTitle.objects.create(customer=customer, kind="person", name="张三", valid_from=now)
    choice = CardPrepaidChoice.objects.create(card_no=card_no, choice="topup", customer=customer)
    run = IssueRun.objects.create(kind="daily", business_date=today)
    document = Document.objects.create(
        kind="invoice", business_line="etc_trip", number="26322000000000000001", service_date=today, province="32",
        seller=road, seller_name=road.name, seller_tax_id=road.tax_id, customer=customer, title=title,
        buyer_name="张三", card_no=card_no, tax_rate=Decimal("0.030"), amount_net=3447, amount_tax=103,
        amount_gross=3550, run=run,
    )  # fmt: skip
    line = DocumentLine.objects.create(document=document, line_no=1, item_name="*经营租赁*通行费", plate="苏A12345",
                                       amount_net=3447, amount_tax=103, amount_gross=3550)  # fmt: skip
    item = DocumentItem.objects.create(document=document, line=line, item_kind="segment", item_id=segment.pk,
                                       service_date=today, card_no=card_no, amount=3550)  # fmt: skip
    sheet = SummarySheet.objects.create(number="3226010100000001", province="32", customer=customer,
                                        card_no=card_no, pass_ids=[trip.pass_id], amount_gross=3550,
                                        service_date=today)  # fmt: skip
    sheet.documents.add(document)
    series = NumberSeries.objects.create(key="invoice:2026:32:0", next_value=2)
    event = DocumentEvent.objects.create(document=document, kind="issued")
    delivery = Delivery.objects.create(document=document, address="zhang@example.com")
    ticket = Ticket.objects.create(category="other", subject="未收到发票", customer=customer, province="32",
                                   created_by=maintainer, due_at=now + dt.timedelta(days=2))  # fmt: skip
    note = TicketNote.objects.create(ticket=ticket, author=maintainer, body="已重新发送")
    link = TicketLink.objects.create(ticket=ticket, object_type="document", object_key=document.number)
    saved = SavedFilter.objects.create(owner=maintainer, page="documents", name="已开具", query="status=issued")
    reveal = PiiReveal.objects.create(user=maintainer, customer=customer, reason="客户来电核实",
                                      expires_at=now + dt.timedelta(minutes=15))  # fmt: skip
    document_rollup = DocumentRollup.objects.create(day=today, province="32", business_line="etc_trip",
                                                    operator_id=road.pk, vehicle_class=1, document_kind="invoice",
                                                    documents=1, amount_gross=3550, amount_tax=103)  # fmt: skip
    upload_rollup = UploadRollup.objects.create(day=today, province="32", kind="segments", batches=1)
    support_rollup = SupportRollup.objects.create(day=today, province="32", tickets_opened=1)
    traffic_rollup = TrafficRollup.objects.create(day=today, province="32", operator_id=road.pk, vehicle_class=1,
                                                  segments=1, fee=3550)  # fmt: skip
    delivery_rollup = DeliveryRollup.objects.create(day=today, province="32", status="sent", deliveries=1)
    lateness = UploadLateness.objects.create(batch_id=batch.pk, day=today, province="32", kind="segments",
                                             late_days=2, rows=1)  # fmt: skip
    search = SearchEvent.objects.create(user=maintainer, kind="plate", results=1)
    watermark = RollupWatermark.objects.create(name="documents", final_through=today)
    report = ScheduledReport.objects.create(name="江苏月报", frequency="monthly", province="32",
                                            recipients=["js@example.com"], created_by=maintainer)  # fmt: skip
    report_delivery = ReportDelivery.objects.create(report=report, period_start=dt.date(2026, 1, 1),
                                                    period_end=dt.date(2026, 1, 31), recipients=["js@example.com"],
                                                    status="sent")  # fmt: skip
    saved_view = SavedView.objects.create(owner=maintainer, name="江苏税额", template="tax", query="province=32")
    token, _key = ApiToken.issue(user=province_user, name="江苏省级系统")
    callback = CallbackDelivery.objects.create(token=token, event="upload.finished", object_id=batch.pk,
                                               url="https://example.org/hook")  # fmt: skip
    answer = IdempotentRequest.objects.create(user=province_user, token=token, key="k1", fingerprint="0" * 64,
                                              status_code=202, body={"id": batch.pk})  # fmt: skip
    audit = audit_record(actor=maintainer, action="document.resend", obj=document, reason="客户来电")
    action = ActionRequest.objects.create(key=uuid.uuid4(), kind="resend", user=maintainer, object_type="document",
                                          object_id=str(document.pk), province="32", reason="客户来电")  # fmt: skip
    export = ExportJob.objects.create(kind="documents", fmt="csv", query="province=32", province="32",
                                      created_by=maintainer)  # fmt: skip
    segment_rollup = SegmentRollup.objects.create(service_date=today, province="32", toll_unit=unit, vehicle_class=1,
                                                  card_type=23, segments=1, pay_fee=3550, discount_fee=0,
                                                  fee=3550)  # fmt: skip
    segment_watermark = SegmentRollupWatermark.objects.create(max_id=segment.pk, candidate_id=segment.pk)
    document_stats = DocumentStatsRollup.objects.create(service_date=today, province="32", seller=document.seller,
                                                        business_line=document.business_line, kind=document.kind,
                                                        status=document.status, documents=1,
                                                        amount_net=document.amount_net,
                                                        amount_tax=document.amount_tax,
                                                        amount_gross=document.amount_gross)  # fmt: skip
    document_watermark = DocumentStatsRollupWatermark.objects.create(max_id=document.pk, candidate_id=document.pk)
    rows: list[Model] = [
        road, unit, rate, vehicle, card, batch, trip, segment, topup, charge, paper, ride, rejected, correction,
        customer, binding, choice, title, run, document, line, item, sheet, series, event, delivery, ticket, note,
        link, saved, reveal, document_rollup, upload_rollup, support_rollup, watermark, report, report_delivery,
        saved_view, token, audit, action, export, segment_rollup, segment_watermark, traffic_rollup, delivery_rollup,
        lateness, search, document_stats, document_watermark,
        maintainer,
        Group.objects.get(name=f"role:{Role.MAINTAINER}"), callback, answer,
    ]  # fmt: skip
    return {type(row): row for row in rows}


# --- every model --------------------------------------------------------------------------------------------------


def test_every_model_of_the_project_is_registered() -> None:
    from django.apps import apps

    ours = [m for m in apps.get_models() if m._meta.app_label in {"piaogen", "tolling", "invoicing", "support",
                                                                   "reports"}]  # fmt: skip
    assert [label(m) for m in ours if m not in admin.site._registry] == []


@pytest.mark.parametrize("model", REGISTERED, ids=label)
def test_maintainers_get_the_list_and_a_change_page_of_every_model(
    model: type[Model], samples: dict[type[Model], Model], maintainer_client: Client
) -> None:
    listing = maintainer_client.get(admin_url(model, "changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count >= 1
    row = samples[model]
    assert maintainer_client.get(admin_url(model, "change", row.pk)).status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=label)
def test_maintainers_get_the_add_page_only_where_adding_is_allowed(
    model: type[Model], maintainer_client: Client
) -> None:
    status = maintainer_client.get(admin_url(model, "add")).status_code
    assert status == (403 if model in NO_ADD else 200)


@pytest.mark.parametrize("model", [model for model in REGISTERED if model in READ_ONLY], ids=label)
def test_read_only_models_refuse_changes_and_deletion(
    model: type[Model], samples: dict[type[Model], Model], maintainer_client: Client
) -> None:
    row = samples[model]
    change = maintainer_client.get(admin_url(model, "change", row.pk))
    assert 'name="_save"' not in change.content.decode()
    assert maintainer_client.post(admin_url(model, "change", row.pk), {}).status_code == 403
    assert maintainer_client.get(admin_url(model, "delete", row.pk)).status_code == 403
    assert maintainer_client.post(admin_url(model, "add"), {}).status_code == 403


@pytest.mark.parametrize("role", ["agent", "province_user", "manager"])
def test_other_roles_are_sent_to_the_admin_login(
    role: str, request: pytest.FixtureRequest, client_for: Callable[[User], Client]
) -> None:
    client = client_for(request.getfixturevalue(role))
    for url in [reverse("admin:index"), *(admin_url(model, "changelist") for model in REGISTERED)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url


# --- API tokens ---------------------------------------------------------------------------------------------------


def test_creating_a_token_shows_its_key_once_and_stores_only_the_hash(
    province_user: User, maintainer_client: Client
) -> None:
    response = maintainer_client.post(
        admin_url(ApiToken, "add"), {"user": province_user.pk, "name": "江苏省级系统"}, follow=True
    )
    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    keys = [key for message in shown for key in re.findall(r"pg_[A-Za-z0-9_-]{20,}", message)]
    assert len(keys) == 1
    key = keys[0]
    assert response.content.decode().count(key) == 1

    token = ApiToken.objects.get(name="江苏省级系统")
    assert token.user == province_user
    assert token.key_hash == ApiToken.hash_key(key)
    assert token.prefix == key[:8]
    assert key not in {token.key_hash, token.prefix, token.name}

    again = maintainer_client.get(admin_url(ApiToken, "change", token.pk)).content.decode()
    assert key not in again
    assert token.key_hash not in again
    assert token.key_hash not in maintainer_client.get(admin_url(ApiToken, "changelist")).content.decode()


def test_a_token_is_only_issued_to_a_provincial_account(agent: User, maintainer_client: Client) -> None:
    response = maintainer_client.post(admin_url(ApiToken, "add"), {"user": agent.pk, "name": "客服"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["user"]
    assert not ApiToken.objects.filter(name="客服").exists()


def test_the_revoke_action_sets_revoked_at_and_is_audited(province_user: User, maintainer_client: Client) -> None:
    token, _key = ApiToken.issue(user=province_user, name="江苏省级系统")
    earlier, _ = ApiToken.issue(user=province_user, name="旧令牌")
    revoked_before = timezone.now() - dt.timedelta(days=3)
    ApiToken.objects.filter(pk=earlier.pk).update(revoked_at=revoked_before)

    response = maintainer_client.post(
        admin_url(ApiToken, "changelist"), {"action": "revoke", "_selected_action": [token.pk, earlier.pk]}
    )

    assert response.status_code == 302
    token.refresh_from_db()
    earlier.refresh_from_db()
    assert token.revoked_at is not None
    assert earlier.revoked_at == revoked_before  # an old revocation keeps its time
    assert ApiToken.objects.active().filter(pk=token.pk).exists() is False
    assert list(AuditEvent.objects.filter(action="api_token.revoke").values_list("object_id", flat=True)) == [
        str(token.pk)
    ]


def test_tokens_cannot_be_deleted(province_user: User, maintainer_client: Client) -> None:
    token, _key = ApiToken.issue(user=province_user, name="江苏省级系统")
    assert maintainer_client.get(admin_url(ApiToken, "delete", token.pk)).status_code == 403


# --- audit trail --------------------------------------------------------------------------------------------------


def test_the_audit_event_page_cannot_save_changes(maintainer: User, maintainer_client: Client) -> None:
    event = audit_record(actor=maintainer, action="document.resend", object_type="document", object_id="1",
                         reason="客户来电")  # fmt: skip
    url = admin_url(AuditEvent, "change", event.pk)

    page = maintainer_client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert maintainer_client.post(url, {"action": "tampered", "reason": "改写"}).status_code == 403

    event.refresh_from_db()
    assert (event.action, event.reason) == ("document.resend", "客户来电")


def test_the_audit_trail_is_searched_by_exact_actor_and_object(maintainer: User, maintainer_client: Client) -> None:
    audit_record(actor=maintainer, action="document.resend", object_type="document", object_id="42")
    audit_record(actor=maintainer, action="document.resend", object_type="document", object_id="420")

    found = maintainer_client.get(admin_url(AuditEvent, "changelist"), {"q": "42"}).context["cl"].result_list
    assert [event.object_id for event in found] == ["42"]
    by_actor = maintainer_client.get(admin_url(AuditEvent, "changelist"), {"q": maintainer.username})
    assert by_actor.context["cl"].result_count == 2


def test_admin_writes_are_recorded_in_the_audit_trail(
    samples: dict[type[Model], Model], maintainer_client: Client
) -> None:
    operator = samples[Operator]
    assert isinstance(operator, Operator)
    response = maintainer_client.post(
        admin_url(Operator, "change", operator.pk),
        {"kind": operator.kind, "tax_id": operator.tax_id, "name": "江苏交通控股有限公司", "province": "32",
         "tax_rate": ""},
    )  # fmt: skip
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.change", object_type="tolling.operator")
    assert event.object_id == str(operator.pk)
    assert event.actor_name == "maintainer"


# --- big tables ---------------------------------------------------------------------------------------------------


def test_fact_search_is_an_exact_match_on_the_key(samples: dict[type[Model], Model], maintainer_client: Client) -> None:
    url = admin_url(Segment, "changelist")
    card_no = "32010000000000000001"
    assert maintainer_client.get(url, {"q": card_no}).context["cl"].result_count == 1
    assert maintainer_client.get(url, {"q": "P20260101000001"}).context["cl"].result_count == 1
    full_width = card_no.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})  # as pasted from a document
    assert maintainer_client.get(url, {"q": full_width}).context["cl"].result_count == 1
    assert maintainer_client.get(url, {"q": card_no[:10]}).context["cl"].result_count == 0
    assert maintainer_client.get(url, {"q": "p20260101000001"}).context["cl"].result_count == 0


def test_a_search_term_that_is_not_a_number_finds_nothing_in_a_numeric_key(
    samples: dict[type[Model], Model], maintainer_client: Client
) -> None:
    batch = samples[UploadBatch]
    url = admin_url(UploadBatch, "changelist")
    assert maintainer_client.get(url, {"q": "abc"}).context["cl"].result_count == 0
    assert maintainer_client.get(url, {"q": "9" * 30}).context["cl"].result_count == 0
    assert maintainer_client.get(url, {"q": str(batch.pk)}).context["cl"].result_count == 1


def test_document_items_are_found_by_item_id_or_document_id(
    samples: dict[type[Model], Model], maintainer_client: Client
) -> None:
    url = admin_url(DocumentItem, "changelist")
    segment, document = samples[Segment], samples[Document]
    assert maintainer_client.get(url, {"q": str(segment.pk)}).context["cl"].result_count == 1
    assert maintainer_client.get(url, {"q": str(document.pk)}).context["cl"].result_count == 1
    assert maintainer_client.get(url, {"q": "abc"}).context["cl"].result_count == 0


def test_fact_lists_never_count_or_sort_the_whole_table(
    samples: dict[type[Model], Model], maintainer_client: Client
) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = maintainer_client.get(admin_url(Segment, "changelist"), {"o": "3"})
    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"] and "tolling_segment" in q["sql"]]
    assert counts
    assert all("LIMIT" in sql for sql in counts), counts
    listing = [q["sql"] for q in queries if q["sql"].startswith('SELECT "tolling_segment"."id"')]
    assert all('ORDER BY "tolling_segment"."id" DESC' in sql for sql in listing), listing


def test_money_is_shown_in_yuan(samples: dict[type[Model], Model], maintainer_client: Client) -> None:
    page = maintainer_client.get(admin_url(Segment, "changelist")).content.decode()
    assert "¥35.50" in page
    document = samples[Document]
    detail = maintainer_client.get(admin_url(Document, "change", document.pk)).content.decode()
    assert "¥34.47" in detail  # the line inline
    assert "¥1.03" in detail


def test_phone_numbers_are_masked_in_lists(samples: dict[type[Model], Model], maintainer_client: Client) -> None:
    page = maintainer_client.get(admin_url(Customer, "changelist")).content.decode()
    assert "138****5678" in page
    assert "13812345678" not in page


# --- staff users --------------------------------------------------------------------------------------------------


def user_add_data(**extra: str) -> dict[str, str]:
    return {"username": "li.si", "usable_password": "true", "password1": "Piaogen-admin-2026",
            "password2": "Piaogen-admin-2026", **extra}  # fmt: skip


def test_a_user_created_in_the_admin_gets_the_group_and_access_of_its_role(maintainer_client: Client) -> None:
    response = maintainer_client.post(admin_url(User, "add"), user_add_data(role="maintainer", province=""))
    assert response.status_code == 302
    user = User.objects.get(username="li.si")
    assert (user.role, user.is_staff) == ("maintainer", True)
    assert [g.name for g in user.groups.all()] == ["role:maintainer"]


def test_a_province_user_needs_a_province(maintainer_client: Client) -> None:
    response = maintainer_client.post(admin_url(User, "add"), user_add_data(role="province", province=""))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["province"]
    assert not User.objects.filter(username="li.si").exists()


def test_users_are_listed_and_filtered_by_role_and_province(
    agent: User, province_user: User, maintainer_client: Client
) -> None:
    found = maintainer_client.get(admin_url(User, "changelist"), {"role__exact": "province", "province__exact": "32"})
    assert [u.username for u in found.context["cl"].result_list] == [province_user.username]


# --- tickets ------------------------------------------------------------------------------------------------------


def test_a_note_added_on_the_ticket_page_is_signed_by_the_maintainer(
    samples: dict[type[Model], Model], maintainer: User, maintainer_client: Client
) -> None:
    ticket = samples[Ticket]
    assert isinstance(ticket, Ticket)
    link = samples[TicketLink]
    data = {
        "category": ticket.category, "status": "in_progress", "subject": ticket.subject, "description": "",
        "customer": str(ticket.customer_id), "province": "32", "assignee": "",
        "due_at_0": "2026-12-31", "due_at_1": "18:00:00", "closed_at_0": "", "closed_at_1": "",
        "notes-TOTAL_FORMS": "2", "notes-INITIAL_FORMS": "1", "notes-MIN_NUM_FORMS": "0", "notes-MAX_NUM_FORMS": "1000",
        "notes-0-id": str(samples[TicketNote].pk), "notes-0-ticket": str(ticket.pk),
        "notes-1-body": "已电话联系客户", "notes-1-ticket": str(ticket.pk),
        "links-TOTAL_FORMS": "1", "links-INITIAL_FORMS": "1", "links-MIN_NUM_FORMS": "0", "links-MAX_NUM_FORMS": "1000",
        "links-0-id": str(link.pk), "links-0-ticket": str(ticket.pk), "links-0-object_type": "document",
        "links-0-object_key": "26322000000000000001",
    }  # fmt: skip
    response = maintainer_client.post(admin_url(Ticket, "change", ticket.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    notes = list(ticket.notes.order_by("created_at").values_list("body", "author"))
    assert notes == [("已重新发送", maintainer.pk), ("已电话联系客户", maintainer.pk)]


def test_maintainers_see_login_lockouts_in_the_admin(maintainer_client: Client) -> None:
    from axes.models import AccessAttempt

    AccessAttempt.objects.create(username="wang", ip_address="10.0.0.1", failures_since_start=5)
    listing = maintainer_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200
    assert "wang" in listing.content.decode()
