"""Record pages: customer, trip and card — what happened and why, with the actions and tickets of part B."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from piaogen.access import ALL_ROLES, role_required
from piaogen.identifiers import fold_fullwidth, plate_validator
from piaogen.models import Role, User
from support.record_stats import record_statistics
from support.records import (
    card_for,
    card_record,
    cards_for,
    customer_for,
    customer_record,
    select_key,
    topup_key,
    trip_for,
    trip_record,
    vehicle_record,
)
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


def _page_number(request: HttpRequest, name: str) -> str:
    """A list's page: its own pager's button or link (``<list>_page``), else the page another list's pager carried
    (``<list>_at``, a hidden field of the selection form: _list_pager.html, trip_rows.html), else the first."""
    return request.GET.get(f"{name}_page") or request.GET.get(f"{name}_at") or "1"


def _select_form(user: User, customer: object | None) -> str:
    """The id of the page's one selection form (_record_select.html) when the user may act for the account the page
    shows, else "": the trips' and top-ups' checkboxes belong to it, and so do every list's pagers, which submit it
    so that ticks not yet sent survive paging any list."""
    return "select-records" if customer is not None and user.role in (Role.AGENT, Role.MAINTAINER) else ""


def _selection(request: HttpRequest, rows: Any, topups: Any) -> dict[str, Any]:
    """The trips, segments and top-ups ticked so far (``trip=<card>:<pass id>``, ``segment=<card>:<pass id>#<no>``,
    ``topup=<card>:<top-up id>`` in the query, carried by the pagers, which submit the page's one selection form):
    which are ticked on this page, which are kept as hidden fields for other pages, and how many in all — for the
    trips list and the top-ups list each. The action re-checks every item on the server."""
    trips = list(dict.fromkeys(request.GET.getlist("trip")))
    segments = list(dict.fromkeys(request.GET.getlist("segment")))
    chosen_topups = list(dict.fromkeys(request.GET.getlist("topup")))
    on_trips = {select_key(row.trip) for row in rows}
    on_segments = {select_key(row.trip, seg.item) for row in rows for seg in row.segments}
    on_topups = {topup_key(row.item) for row in topups}
    hidden = [("trip", v) for v in trips if v not in on_trips] + [
        ("segment", v) for v in segments if v not in on_segments
    ]
    hidden_topups = [("topup", v) for v in chosen_topups if v not in on_topups]
    return {
        "trips": set(trips),
        "segments": set(segments),
        "hidden": hidden,
        "count": len(trips) + len(segments),
        "elsewhere": len(hidden),
        "topups": set(chosen_topups),
        "topups_hidden": hidden_topups,
        "topups_count": len(chosen_topups),
        "topups_elsewhere": len(hidden_topups),
    }


@require_GET
@role_required(*ALL_ROLES)
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = _user(request)
    record = customer_record(
        user=user,
        customer=customer_for(user, customer_id),
        trips_page=_page_number(request, "trips"),
        documents_page=_page_number(request, "documents"),
        timeline_page=_page_number(request, "timeline"),
        topups_page=_page_number(request, "topups"),
        sheets_page=_page_number(request, "sheets"),
        charges_page=_page_number(request, "charges"),
        cards_page=_page_number(request, "cards"),
        titles_page=_page_number(request, "titles"),
    )
    _remember(request, "customer", record.customer.pk, record.customer.name)
    return render(
        request,
        _template(request, "customer", request.GET.get("part", "")),
        {
            "record": record,
            "customer": record.customer,
            "selection": _selection(request, record.trip_rows, record.topups),
            "select_form": _select_form(user, record.customer),
            "record_url": reverse("customer-detail", args=[record.customer.pk]),
        },
    )


@require_GET
@role_required(*ALL_ROLES)
def trip_detail(request: HttpRequest, trip_id: int) -> HttpResponse:
    user = _user(request)
    record = trip_record(
        user=user,
        trip=trip_for(user, trip_id),
        documents_page=_page_number(request, "documents"),
        sheets_page=_page_number(request, "sheets"),
        charges_page=_page_number(request, "charges"),
    )
    _remember(request, "trip", record.trip.pk, record.trip.pass_id)
    return render(request, "support/trip.html", {"record": record, "trip": record.trip})


@require_GET
@role_required(*ALL_ROLES)
def card_detail(request: HttpRequest, card_id: int) -> HttpResponse:
    user = _user(request)
    record = card_record(
        user=user,
        card=card_for(user, card_id),
        trips_page=_page_number(request, "trips"),
        documents_page=_page_number(request, "documents"),
        topups_page=_page_number(request, "topups"),
        charges_page=_page_number(request, "charges"),
        bindings_page=_page_number(request, "bindings"),
    )
    _remember(request, "card", record.card.pk, record.card.card_no)
    return render(
        request,
        _template(request, "card", request.GET.get("part", "")),
        {
            "record": record,
            "card": record.card,
            "selection": _selection(request, record.trip_rows, record.topups),
            "select_form": _select_form(user, record.customer),
            "record_url": reverse("card-detail", args=[record.card.pk]),
        },
    )


def _plate(raw: str) -> str:
    plate = fold_fullwidth(raw).strip().upper()
    try:
        plate_validator(plate)
    except ValidationError as error:
        raise Http404 from error
    return plate


@require_GET
@role_required(*ALL_ROLES)
def vehicle_detail(request: HttpRequest, plate: str) -> HttpResponse:
    """A plate's page: its cards and back-charges in the user's scope and its monthly statistics (the fragment
    below)."""
    user = _user(request)
    record = vehicle_record(
        user=user,
        plate=_plate(plate),
        cards_page=_page_number(request, "cards"),
        charges_page=_page_number(request, "charges"),
    )
    return render(
        request,
        "support/vehicle.html",
        {"record": record, "plate": record.plate, "record_url": reverse("vehicle-detail", args=[record.plate])},
    )


@require_GET
@role_required(*ALL_ROLES)
def record_stats(request: HttpRequest) -> HttpResponse:
    """The monthly statistics of a customer, card or plate (loaded into their page): a record the user may not see
    is not found, a plate's figures are the user's province's."""
    user = _user(request)
    if customer := request.GET.get("customer", ""):
        if not customer.isdigit() or len(customer) > 18:  # beyond a bigint: not there
            raise Http404
        record: dict[str, object] = {"customer": customer_for(user, int(customer)).pk}
    elif card := request.GET.get("card", ""):
        if not cards_for(user).filter(card_no=card).exists():
            raise Http404
        record = {"card": card}
    elif plate := request.GET.get("plate", ""):
        record = {"plate": _plate(plate)}
    else:
        raise Http404
    return render(request, "support/_record_stats.html", {"stats": record_statistics(user=user, **record)})
