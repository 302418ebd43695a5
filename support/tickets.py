"""Tickets (工单): opened from any record, with a category (domain.md §7), a state, an assignee, an SLA due time
(``PIAOGEN["TICKET_SLA_HOURS"]`` per category), notes and linked records; the list's FilterSet (shared by the page
and ``/api/v1/tickets/``) and saved personal or shared filters.

Who: agents and maintainers open and work tickets; managers read them (a province-bound manager: their province's
only, by ``Ticket.province``, the customer's or the linked record's province); province users have no tickets.

Linked records are named ``(object_type, object_key)``: ``customer`` → customer id, ``card`` → card number,
``trip`` → pass id, ``document`` → document id, ``sheet`` → summary sheet number, ``batch`` → upload batch id.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.customers import CustomerError
from invoicing.models import Customer, Document, SummarySheet
from piaogen.access import scoped
from piaogen.audit import audit_record
from piaogen.identifiers import Province
from piaogen.models import Role, User
from support.models import SavedFilter, Ticket, TicketCategory, TicketLink, TicketNote, TicketStatus
from tolling.models import Card, Trip, UploadBatch

TICKET_WORKERS = (Role.AGENT, Role.MAINTAINER)
TICKET_READERS = (Role.AGENT, Role.MAINTAINER, Role.MANAGER)
OBJECT_TYPES = ("customer", "card", "trip", "document", "sheet", "batch")
DEFAULT_SLA_HOURS = 72
TICKET_PAGE = "tickets"  # SavedFilter.page of the ticket list


def tickets_for(user: User) -> QuerySet[Ticket]:
    """Tickets the user may see: every one for national roles, their province's for a province-bound manager."""
    return scoped(Ticket.objects.all(), user)


def sla_hours(category: str) -> int:
    return int(settings.PIAOGEN.get("TICKET_SLA_HOURS", {}).get(category, DEFAULT_SLA_HOURS))


def due_time(category: str, opened_at: dt.datetime) -> dt.datetime:
    return opened_at + dt.timedelta(hours=sla_hours(category))


def linked_province(object_type: str, object_key: str) -> str:
    """The province of a linked record ('' when unknown): used to scope a ticket that has no customer."""
    key = object_key.strip()
    rows: QuerySet[Any]
    if object_type == "customer" and key.isdigit():
        rows = Customer.objects.filter(pk=int(key))
    elif object_type == "card":
        rows = Card.objects.filter(card_no=key)
    elif object_type == "trip":  # a trip's province: its card's issuing province
        card_no = Trip.objects.filter(pass_id=key).values_list("card_no", flat=True).first()
        return str(card_no or "")[:2]
    elif object_type == "document" and key.isdigit():
        rows = Document.objects.filter(pk=int(key))
    elif object_type == "sheet":
        rows = SummarySheet.objects.filter(number=key)
    elif object_type == "batch" and key.isdigit():
        rows = UploadBatch.objects.filter(pk=int(key))
    else:
        return ""
    return str(rows.values_list("province", flat=True).first() or "")


def _ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "status": ticket.status,
        "assignee": ticket.assignee.get_username() if ticket.assignee else None,
        "category": ticket.category,
    }


@transaction.atomic
def ticket_open(
    *,
    category: str,
    subject: str,
    by: User,
    description: str = "",
    customer: Customer | None = None,
    assignee: User | None = None,
    links: list[tuple[str, str]] | None = None,
    request: HttpRequest | None = None,
) -> Ticket:
    """Open a ticket, due after the category's SLA hours, linked to the records it is about."""
    if category not in TicketCategory.values:
        raise CustomerError(_("工单类别无效"), code="ticket_category_invalid")
    links = [(t, k.strip()) for t, k in (links or []) if t in OBJECT_TYPES and k.strip()]
    if customer is not None and ("customer", str(customer.pk)) not in links:
        links.insert(0, ("customer", str(customer.pk)))
    province = customer.province if customer is not None else ""
    for object_type, object_key in links:
        province = province or linked_province(object_type, object_key)
    now = timezone.now()
    ticket = Ticket.objects.create(
        category=category,
        subject=subject.strip(),
        description=description.strip(),
        customer=customer,
        province=province,
        assignee=assignee,
        created_by=by,
        created_at=now,
        due_at=due_time(category, now),
    )
    for object_type, object_key in links:
        TicketLink.objects.get_or_create(ticket=ticket, object_type=object_type, object_key=object_key)
    audit_record(actor=by, action="ticket.open", obj=ticket, after=_ticket_json(ticket), request=request)
    return ticket


@transaction.atomic
def ticket_update(
    *, ticket: Ticket, status: str, assignee: User | None, by: User, request: HttpRequest | None = None
) -> Ticket:
    """Change state and/or assignee (a no-op when nothing changes); resolving or closing stamps ``closed_at``."""
    locked = Ticket.objects.select_for_update(of=("self",)).select_related("assignee").get(pk=ticket.pk)
    if locked.status == status and locked.assignee_id == (assignee.pk if assignee else None):
        return locked
    before = _ticket_json(locked)
    locked.status, locked.assignee = status, assignee
    locked.closed_at = None if locked.is_open else (locked.closed_at or timezone.now())
    locked.save(update_fields=["status", "assignee", "closed_at"])
    audit_record(
        actor=by, action="ticket.update", obj=locked, before=before, after=_ticket_json(locked), request=request
    )
    return locked


@transaction.atomic
def ticket_note_add(*, ticket: Ticket, body: str, by: User) -> TicketNote:
    body = body.strip()
    if not body:
        raise CustomerError(_("备注不能为空"), code="note_empty")
    return TicketNote.objects.create(ticket=ticket, author=by, body=body)


@transaction.atomic
def ticket_link_add(*, ticket: Ticket, object_type: str, object_key: str, by: User) -> TicketLink:
    numeric = object_type in ("customer", "document", "batch")
    if object_type not in OBJECT_TYPES or not object_key.strip() or (numeric and not object_key.strip().isdigit()):
        raise CustomerError(_("关联对象无效"), code="link_invalid")
    link, created = TicketLink.objects.get_or_create(
        ticket=ticket, object_type=object_type, object_key=object_key.strip()
    )
    if created:
        audit_record(actor=by, action="ticket.link", obj=ticket, after={"link": f"{object_type}:{link.object_key}"})
    return link


def record_tickets(
    *, user: User, object_type: str, object_key: str, customer_id: int | None = None
) -> QuerySet[Ticket]:
    """Tickets linked to a record (and, for a customer, opened on it), newest first."""
    linked = TicketLink.objects.filter(ticket=OuterRef("pk"), object_type=object_type, object_key=object_key)
    match = Q(Exists(linked))
    if customer_id is not None:
        match |= Q(customer_id=customer_id)
    return tickets_for(user).filter(match).select_related("assignee").order_by("-created_at")


# --- saved filters ------------------------------------------------------------------------------------------------


def saved_filters_for(user: User, page: str = TICKET_PAGE) -> QuerySet[SavedFilter]:
    """The user's own filters and the ones others shared, for one list page."""
    return (
        SavedFilter.objects.filter(Q(owner=user) | Q(shared=True), page=page)
        .select_related("owner")
        .order_by("-shared", "name")
    )


@transaction.atomic
def saved_filter_save(*, owner: User, name: str, query: str, shared: bool, page: str = TICKET_PAGE) -> SavedFilter:
    """Save (or overwrite, by name) one of the owner's filters for a list page."""
    saved, _created = SavedFilter.objects.update_or_create(
        owner=owner, page=page, name=name.strip(), defaults={"query": query.lstrip("?")[:1000], "shared": shared}
    )
    return saved


# --- the list's filters (page and API) ----------------------------------------------------------------------------


class TicketFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="subject", lookup_expr="icontains", label=_("主题包含"))
    status = django_filters.MultipleChoiceFilter(choices=TicketStatus.choices, label=_("状态"))
    category = django_filters.ChoiceFilter(choices=TicketCategory.choices, label=_("类别"), empty_label=_("全部类别"))
    # the values stay in the URL as before (me / none / a username; true / false): saved filters keep working
    assignee = django_filters.CharFilter(
        method="filter_assignee", label=_("处理人"), widget=forms.Select
    )  # ticket_assignee_idx
    open = django_filters.BooleanFilter(
        method="filter_open",
        label=_("是否关闭"),
        widget=forms.Select(choices=[("", _("全部")), ("true", _("未关闭")), ("false", _("已关闭"))]),
    )
    overdue = django_filters.BooleanFilter(
        method="filter_overdue",
        label=_("超时"),
        widget=forms.Select(choices=[("", _("全部")), ("true", _("仅超时"))]),
    )  # ticket_status_due_idx
    customer = django_filters.NumberFilter(field_name="customer_id", label=_("客户"))  # ticket_customer_idx
    province = django_filters.ChoiceFilter(choices=Province.choices, label=_("省份"), empty_label=_("全部省份"))
    object_type = django_filters.CharFilter(method="filter_linked", label=_("关联对象类型"))
    object_key = django_filters.CharFilter(method="filter_linked", label=_("关联对象标识"))  # ticket_link_object_idx
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte", label=_("创建日期起"))
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label=_("创建日期止"))

    class Meta:
        model = Ticket
        fields = ["q", "status", "category", "assignee", "open", "overdue", "customer", "province"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        workers = User.objects.filter(is_active=True, role__in=TICKET_WORKERS).order_by("username")[:200]
        choices: list[tuple[str, Any]] = [("", _("全部处理人")), ("me", _("我自己")), ("none", _("未分配"))]
        choices += [(user.username, user.get_full_name() or user.username) for user in workers]
        self.form.fields["assignee"].widget.choices = choices

    def filter_assignee(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        """``me`` (the requesting user), ``none`` (unassigned), or a username."""
        if value == "me":
            user = getattr(self.request, "user", None)
            return queryset.filter(assignee_id=getattr(user, "pk", None))
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee__username=value)

    def filter_open(self, queryset: QuerySet[Ticket], name: str, value: bool | None) -> QuerySet[Ticket]:
        if value is None:
            return queryset
        return queryset.open() if value else queryset.filter(status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED])  # type: ignore[attr-defined]

    def filter_overdue(self, queryset: QuerySet[Ticket], name: str, value: bool | None) -> QuerySet[Ticket]:
        if not value:
            return queryset
        return queryset.overdue()  # type: ignore[attr-defined]

    def filter_linked(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        object_type, object_key = self.data.get("object_type"), self.data.get("object_key")
        if name == "object_key" or not object_type or not object_key:
            return queryset  # applied once, when both are given
        linked = TicketLink.objects.filter(ticket=OuterRef("pk"), object_type=object_type, object_key=object_key)
        return queryset.filter(Exists(linked))
