"""Every console search is logged for the support workload report: the kind recognised, who, when, the scope and the
result count; never the text typed (plates, phones, ID numbers are personal data), and a group's next page is not a
new search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.test import Client
from django.urls import reverse

from piaogen.models import Role, User
from support.models import SearchEvent


def test_a_search_is_logged_with_its_kind_scope_and_result_count_but_not_its_text(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    client_for(agent).get(reverse("search"), {"q": "苏A12345", "all": "1"})

    event = SearchEvent.objects.get()
    assert (event.user, event.kind, event.province, event.opened) == (agent, "plate", "", False)
    assert event.results >= 1
    assert "苏A12345" not in str([getattr(event, f.attname) for f in SearchEvent._meta.fields])


def test_an_exact_hit_that_opens_its_record_is_logged_as_opened(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(agent).get(reverse("search"), {"q": records["invoice"].number})

    assert response.status_code == 302
    event = SearchEvent.objects.get()
    assert event.opened and event.results == 1 and event.kind != "unrecognised"


def test_a_province_users_search_carries_their_province_and_paging_logs_nothing_more(
    records: dict[str, Any], make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    staff = make_staff(Role.PROVINCE, "32", username="js-searcher")
    client = client_for(staff)

    client.get(reverse("search"), {"q": "？？"})
    client.get(reverse("search"), {"q": "苏A12345", "group": "card", "page": "2"})
    client.get(reverse("search"))  # the empty box is no search

    assert list(SearchEvent.objects.values_list("kind", "province")) == [("unrecognised", "32")]
