"""Ticket pages (list with filters and saved filters, open, detail with state/assignee/notes/links), the tickets
fragment record pages load, and the read-only tickets API (``/api/v1/tickets/``)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework import mixins, serializers, viewsets

from invoicing.models import Customer
from piaogen.access import role_required, scoped
from piaogen.errors import page_message
from piaogen.models import User
from piaogen.privacy import REVEALED_CUSTOMERS, Pii, PiiField
from support import forms
from support.models import SavedFilter, Ticket, TicketNote
from support.privacy import ActiveReveals, customer_phone, revealed_customer_ids
from support.ticket_links import link_candidates, linked_records
from support.tickets import (
    TICKET_READERS,
    TICKET_WORKERS,
    TicketFilter,
    record_tickets,
    saved_filter_save,
    saved_filters_for,
    ticket_link_add,
    ticket_note_add,
    ticket_open,
    ticket_update,
    tickets_for,
)

PAGE_SIZE = 50


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _phones(user: User, tickets: list[Ticket]) -> dict[int, str]:
    """Each ticket's customer phone as the user may see it (masked unless revealed)."""
    shown = revealed_customer_ids(user=user, customer_ids=[t.customer_id for t in tickets if t.customer_id])
    return {
        t.pk: customer_phone(user=user, customer=t.customer, revealed=t.customer_id in shown)
        for t in tickets
        if t.customer is not None
    }


@require_GET
@role_required(*TICKET_READERS)
def ticket_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    queryset = tickets_for(user).select_related("assignee", "customer").order_by("due_at", "id")
    query = request.GET.copy()
    query.pop("page", None)
    # no filter: the open queue, and the form says so (是否关闭: 未关闭); an invalid filter shows its errors over the
    # open queue
    filterset = TicketFilter(query or QueryDict("open=true"), queryset=queryset, request=request)
    tickets = filterset.qs if filterset.is_bound and filterset.is_valid() else queryset.open()  # type: ignore[attr-defined]
    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    context = {
        "filter": filterset,
        "page": page,
        "tickets": rows,
        "phones": _phones(user, rows),
        "saved_filters": saved_filters_for(user),
        "save_form": forms.SavedFilterForm(initial={"query": query.urlencode()}),
        "query": query.urlencode(),
        "can_work": user.has_role(*TICKET_WORKERS),
    }
    return render(request, "support/ticket_list.html", context)


@require_POST
@role_required(*TICKET_READERS)
def saved_filter_create(request: HttpRequest) -> HttpResponse:
    form = forms.SavedFilterForm(request.POST)
    if form.is_valid():
        saved = saved_filter_save(
            owner=_user(request),
            name=form.cleaned_data["name"],
            query=form.cleaned_data["query"],
            shared=form.cleaned_data["shared"],
        )
        messages.success(request, _("已保存筛选：%(name)s") % {"name": saved.name})
        return redirect(f"{reverse('ticket-list')}?{saved.query}")
    messages.error(request, _("筛选未保存：请填写名称"))
    return redirect("ticket-list")


@require_POST
@role_required(*TICKET_READERS)
def saved_filter_delete(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(SavedFilter, pk=pk, owner=_user(request))  # only one's own filters
    saved.delete()
    messages.success(request, _("已删除筛选：%(name)s") % {"name": saved.name})
    return redirect("ticket-list")


def _customer(user: User, raw: Any) -> Customer | None:
    if raw in (None, ""):
        return None
    if not str(raw).isdigit():
        raise Http404
    return get_object_or_404(scoped(Customer.objects.all(), user), pk=int(raw))


@require_http_methods(["GET", "POST"])
@role_required(*TICKET_WORKERS)
def ticket_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.method == "POST":
        form = forms.TicketForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            links = [(data["object_type"], data["object_key"])] if data.get("object_type") else []
            try:
                ticket = ticket_open(
                    category=data["category"],
                    subject=data["subject"],
                    description=data["description"],
                    customer=_customer(user, data.get("customer")),
                    assignee=data.get("assignee"),
                    links=links,
                    by=user,
                    request=request,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("已创建工单 #%(id)s") % {"id": ticket.pk})
                return redirect("ticket-detail", ticket.pk)
    else:
        initial: dict[str, Any] = {
            k: request.GET[k] for k in ("customer", "object_type", "object_key", "category") if k in request.GET
        }
        initial.setdefault("assignee", user.pk)
        form = forms.TicketForm(initial=initial)
    customer = _customer(user, form["customer"].value())
    return render(request, "support/ticket_form.html", {"form": form, "customer": customer})


def _ticket_for(user: User, pk: int) -> Ticket:
    notes = Prefetch("notes", queryset=TicketNote.objects.select_related("author").order_by("created_at", "id"))
    queryset: QuerySet[Ticket] = tickets_for(user).select_related("assignee", "customer", "created_by")
    return get_object_or_404(queryset.prefetch_related(notes, "links"), pk=pk)


@require_http_methods(["GET", "POST"])
@role_required(*TICKET_READERS)
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    ticket = _ticket_for(user, pk)
    update_form = forms.TicketUpdateForm(initial={"status": ticket.status, "assignee": ticket.assignee_id})
    note_form, link_form = forms.TicketNoteForm(), forms.TicketLinkForm()
    link_query = request.GET.get("link_q", "").strip()[:100]  # the record to link, searched for
    can_work = user.has_role(*TICKET_WORKERS)
    if request.method == "POST":
        if not user.has_role(*TICKET_WORKERS):
            raise PermissionDenied
        which = request.POST.get("form")
        try:
            if which == "update":
                update_form = forms.TicketUpdateForm(request.POST)
                if update_form.is_valid():
                    ticket_update(
                        ticket=ticket,
                        status=update_form.cleaned_data["status"],
                        assignee=update_form.cleaned_data["assignee"],
                        by=user,
                        request=request,
                    )
                    return redirect("ticket-detail", ticket.pk)
            elif which == "note":
                note_form = forms.TicketNoteForm(request.POST)
                if note_form.is_valid():
                    ticket_note_add(ticket=ticket, body=note_form.cleaned_data["body"], by=user)
                    return redirect("ticket-detail", ticket.pk)
            elif which == "link":
                link_form = forms.TicketLinkForm(request.POST)
                if link_form.is_valid():
                    ticket_link_add(ticket=ticket, by=user, **link_form.cleaned_data)
                    return redirect("ticket-detail", ticket.pk)
        except ValidationError as error:
            messages.error(request, page_message(error))
    context = {
        "ticket": ticket,
        "phone": customer_phone(user=user, customer=ticket.customer) if ticket.customer else "",
        "update_form": update_form,
        "note_form": note_form,
        "link_form": link_form,
        "can_work": user.has_role(*TICKET_WORKERS),
        "links": linked_records(user=user, links=list(ticket.links.all())),
        "link_query": link_query,
        "candidates": link_candidates(user=user, query=link_query) if link_query and can_work else [],
    }
    return render(request, "support/ticket_detail.html", context)


RECORD_TICKETS = 20  # a record page shows its newest tickets; the ticket list shows them all


@require_GET
@role_required(*TICKET_READERS)
def ticket_record_fragment(request: HttpRequest) -> HttpResponse:
    """The tickets of one record (loaded into record pages by htmx): ``object_type``, ``object_key``, and
    ``customer`` for a customer page (tickets opened on the customer count too)."""
    user = _user(request)
    object_type, object_key = request.GET.get("object_type", ""), request.GET.get("object_key", "")
    customer = _customer(user, request.GET.get("customer"))
    found = record_tickets(
        user=user, object_type=object_type, object_key=object_key, customer_id=customer.pk if customer else None
    )
    tickets = list(found[:RECORD_TICKETS])
    context = {
        "tickets": tickets,
        "count": found.count() if len(tickets) == RECORD_TICKETS else len(tickets),  # the newest shown, all counted
        "customer": customer,
        "object_type": object_type,
        "object_key": object_key,
        "can_work": user.has_role(*TICKET_WORKERS),
    }
    return render(request, "support/ticket_record_fragment.html", context)


# --- API ----------------------------------------------------------------------------------------------------------


class TicketSerializer(serializers.ModelSerializer[Ticket]):
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)  # type: ignore[var-annotated]
    customer_name = serializers.SerializerMethodField()
    customer_phone = PiiField(Pii.PHONE, source="customer.phone")
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)
    links = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id",
            "category",
            "status",
            "subject",
            "description",
            "customer",
            "customer_name",
            "customer_phone",
            "province",
            "assignee",
            "created_at",
            "due_at",
            "closed_at",
            "overdue",
            "links",
        ]
        read_only_fields = fields

    def get_customer_name(self, ticket: Ticket) -> str:
        return ticket.customer.name if ticket.customer else ""

    def get_links(self, ticket: Ticket) -> list[str]:
        return [f"{link.object_type}:{link.object_key}" for link in ticket.links.all()]


class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Ticket]):
    """Tickets (工单), with the same filters as the console list. Agents, maintainers and managers read
    (a province-bound manager: their province's tickets only)."""

    queryset = Ticket.objects.none()
    serializer_class = TicketSerializer
    filterset_class = TicketFilter
    allowed_roles = TICKET_READERS

    def get_queryset(self) -> QuerySet[Ticket]:
        user = self.request.user
        assert isinstance(user, User)
        return tickets_for(user).select_related("assignee", "customer").prefetch_related("links").order_by("-id")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), REVEALED_CUSTOMERS: ActiveReveals(self.request.user)}
