"""The access table rows for the support app's URLs (merged into `test_url_access.EXPECTED`), and the objects of
province 32 behind its id-taking URLs (created with the same id as the upload batch, document and sheet)."""

from __future__ import annotations

from url_access_table import ANON, NO_ROLE, OTHER_PROVINCE, STAFF, everyone, staff_only

from piaogen.models import Role, User

# url name → role → expected status for a GET
EXPECTED: dict[str, dict[str, int]] = {
    # search and record pages (part A): every role reads; province users find and open their province's only
    "search": staff_only(allowed=STAFF),
    "customer-detail": staff_only(allowed=STAFF),
    "trip-detail": staff_only(allowed=STAFF),
    "card-detail": staff_only(allowed=STAFF),
    # a plate's page: any province's staff (its cards and figures are narrowed to their province)
    "vehicle-detail": {**staff_only(allowed=STAFF), OTHER_PROVINCE: 200},
    # a record's monthly statistics: names a customer, card or plate (?customer=…); without one, not found
    "record-stats": {ANON: 302, NO_ROLE: 403, **dict.fromkeys(STAFF, 404)},
    "api-customer-list": staff_only(allowed=STAFF, anon=401),
    "api-customer-detail": staff_only(allowed=STAFF, anon=401),
    "api-trip-list": staff_only(allowed=STAFF, anon=401),
    "api-trip-detail": staff_only(allowed=STAFF, anon=401),
    # actions (part B): agents and maintainers act (GET is the form); managers and province users get 403
    "action-result": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-document-resend": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-document-reverse": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-document-reissue": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-customer-invoices": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-customer-sheet": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-customer-bind": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-customer-title": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-customer-claim": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-card-unbind": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-card-prepaid-choice": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-customer-binding-backdate": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "action-customer-title-backdate": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "api-action-card-bind": {**staff_only(allowed=[], anon=401), Role.AGENT: 405, Role.MAINTAINER: 405},  # POST
    "api-action-card-unbind": {**staff_only(allowed=[], anon=401), Role.AGENT: 405, Role.MAINTAINER: 405},  # POST
    "api-action-card-prepaid-choice": {**staff_only(allowed=[], anon=401), Role.AGENT: 405, Role.MAINTAINER: 405},
    "api-action-binding-backdate": {**staff_only(allowed=[], anon=401), Role.AGENT: 405, Role.MAINTAINER: 405},
    "api-action-title-backdate": {**staff_only(allowed=[], anon=401), Role.AGENT: 405, Role.MAINTAINER: 405},
    "api-action-title-add": {**staff_only(allowed=[], anon=401), Role.AGENT: 405, Role.MAINTAINER: 405},  # POST
    # tickets (part B): agents and maintainers work them, managers read them, province users have none
    "ticket-list": staff_only(allowed=[Role.AGENT, Role.MAINTAINER, Role.MANAGER]),
    "ticket-create": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "ticket-record": staff_only(allowed=[Role.AGENT, Role.MAINTAINER, Role.MANAGER]),
    "ticket-detail": staff_only(allowed=[Role.AGENT, Role.MAINTAINER, Role.MANAGER]),
    "ticket-filter-create": everyone(405),  # POST only
    "ticket-filter-delete": everyone(405),  # POST only
    "api-ticket-list": staff_only(allowed=[Role.AGENT, Role.MAINTAINER, Role.MANAGER], anon=401),
    "api-ticket-detail": staff_only(allowed=[Role.AGENT, Role.MAINTAINER, Role.MANAGER], anon=401),
    # PII reveal and the audit trail (part B): agents and maintainers
    "pii-reveal": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "audit-list": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
    "audit-export": staff_only(allowed=[Role.AGENT, Role.MAINTAINER]),
}


def create_objects(pk: int, uploader: User) -> None:
    """Objects of province 32 with id `pk` for this app's id-taking URLs."""
    _create_record_objects(pk)
    _create_action_objects(pk, uploader)


def _create_action_objects(pk: int, uploader: User) -> None:
    """Actions and tickets (part B): a Jiangsu ticket and a confirmed action request with id `pk` (the customer,
    card and document with that id exist already)."""
    import uuid

    from django.utils import timezone

    from support.models import ActionRequest, Ticket

    Ticket.objects.create(
        id=pk, category="other", subject="咨询", customer_id=pk, province="32", created_by=uploader,
        due_at=timezone.now(),
    )  # fmt: skip
    ActionRequest.objects.create(
        id=pk, key=uuid.uuid4(), kind="reverse", user=uploader, object_type="document", object_id=str(pk),
        province="32", reason="测试", result={"summary": "ok", "documents": [], "links": []},
    )  # fmt: skip


def _create_record_objects(pk: int) -> None:
    """Search and record pages: a Jiangsu customer, a card issued in Jiangsu, a trip with a Jiangsu segment."""
    import datetime as dt

    from invoicing.models import Customer
    from tolling.models import Card, Operator, OperatorKind, RoadNature, Segment, TollUnit, Trip

    # get_or_create: the actions' rows (part B) may have made the customer and card with this id already
    Customer.objects.get_or_create(id=pk, defaults={"name": "张三", "phone": "13800000077", "province": "32"})
    Card.objects.get_or_create(id=pk, defaults={"card_no": "32010000000000000077", "card_type": 23, "province": "32"})
    operator = Operator.objects.create(
        kind=OperatorKind.ROAD_OPERATOR, tax_id="91320000000000009X", name="江苏交通控股", province="32"
    )
    unit = TollUnit.objects.create(
        code="G0002320010010A0", name="宁沪", province="32", operator=operator, road_nature=RoadNature.LOAN
    )
    exit_time = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    common = {"pass_id": "PACCESS01", "card_no": "32010000000000000077", "card_type": 23, "plate": "苏A12345"}
    Trip.objects.create(
        id=pk, **common, plate_color=0, vehicle_class=1, entry_time=exit_time, exit_time=exit_time,
        service_date=exit_time.date(),
    )  # fmt: skip
    Segment.objects.create(
        **common, segment_no=1, service_date=exit_time.date(), plate_color=0, vehicle_class=1, toll_unit=unit,
        province="32", entry_time=exit_time, exit_time=exit_time, entry_station="南京", pay_fee=100, discount_fee=0,
        fee=100,
    )  # fmt: skip
