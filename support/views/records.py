"""Record pages: customer, trip and card — what happened and why, with the actions and tickets of part B."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from piaogen.access import ALL_ROLES, role_required
from piaogen.models import Role, User
from support.records import card_for, card_record, customer_for, customer_record, trip_for, trip_record
from support.workspace import remember_record


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _remember(request: HttpRequest, kind: str, pk: int, label: str) -> None:
    """An agent's opened records, for their workspace's "resume" list."""
    if _user(request).role == Role.AGENT and not request.headers.get("HX-Request"):
        remember_record(request.session, kind=kind, pk=pk, label=label)


def _template(request: HttpRequest, page: str, part: str) -> str:
    """htmx requests for the trips list get the list alone (paging without reloading the page)."""
    return (
        f"support/{page}_trips.html"
        if request.headers.get("HX-Request") and part == "trips"
        else f"support/{page}.html"
    )


@require_GET
@role_required(*ALL_ROLES)
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = _user(request)
    record = customer_record(
        user=user,
        customer=customer_for(user, customer_id),
        trips_page=request.GET.get("trips_page", 1),
        documents_page=request.GET.get("documents_page", 1),
    )
    _remember(request, "customer", record.customer.pk, record.customer.name)
    return render(
        request,
        _template(request, "customer", request.GET.get("part", "")),
        {"record": record, "customer": record.customer},
    )


@require_GET
@role_required(*ALL_ROLES)
def trip_detail(request: HttpRequest, trip_id: int) -> HttpResponse:
    user = _user(request)
    record = trip_record(user=user, trip=trip_for(user, trip_id))
    _remember(request, "trip", record.trip.pk, record.trip.pass_id)
    return render(request, "support/trip.html", {"record": record, "trip": record.trip})


@require_GET
@role_required(*ALL_ROLES)
def card_detail(request: HttpRequest, card_id: int) -> HttpResponse:
    user = _user(request)
    record = card_record(
        user=user,
        card=card_for(user, card_id),
        trips_page=request.GET.get("trips_page", 1),
        documents_page=request.GET.get("documents_page", 1),
    )
    _remember(request, "card", record.card.pk, record.card.card_no)
    return render(
        request, _template(request, "card", request.GET.get("part", "")), {"record": record, "card": record.card}
    )
