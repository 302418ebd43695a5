"""The search page: one box that finds anything; an exact unique hit opens its record, the rest are grouped."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from piaogen.access import ALL_ROLES, role_required
from piaogen.models import User
from support.filters import SearchForm
from support.recognise import MIN_PLATE_PREFIX, Kind, recognise, short_plate_prefix
from support.search import NAME_SUBSTRING, search, search_event_record


@require_GET
@role_required(*ALL_ROLES)
def search_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    form = SearchForm(request.GET, user=user)
    filters = form.search_filters()
    query = form.cleaned_data.get("q", "") if form.is_valid() else ""
    group, page = request.GET.get("group", ""), request.GET.get("page", "1")
    page_no = int(page) if page.isdigit() and 0 < int(page) < 10_000 else 1
    result = search(user=user, query=query, filters=filters, group=group, page=page_no) if query.strip() else None
    # an exact identifier with one answer opens the record, unless the agent asked for the list (filters, ?all=1)
    listed = "all" in request.GET or "page" in request.GET
    opened = result is not None and result.target is not None and not filters.active and not listed
    if result is not None and not group and page_no == 1:  # a new search, not a group's next page
        search_event_record(user=user, result=result, opened=opened)
    if opened:
        assert result is not None and result.target is not None
        return HttpResponseRedirect(result.target.url)
    params = request.GET.copy()  # the query and filters, for a group's pager
    for key in ("group", "page"):
        params.pop(key, None)
    # a plate: its page (cards and monthly statistics) one click away
    plate = next((r.value[0] for r in recognise(query) if r.kind == Kind.PLATE), "") if result is not None else ""
    return render(
        request,
        "support/search.html",
        {
            "form": form,
            "result": result,
            "query": query,
            "params": params.urlencode(),
            "plate": plate,
            "short_plate": result is not None and short_plate_prefix(query),
            # a name of two characters is found by its start only (support.search.name_match): say so
            "short_name": result is not None
            and any(r.kind == Kind.NAME and len(r.value.replace(" ", "")) < NAME_SUBSTRING for r in recognise(query)),
            "min_plate_prefix": MIN_PLATE_PREFIX,
        },
    )
