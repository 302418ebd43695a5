"""Summary sheets and province scope: a province-bound user sees every sheet that binds a document of their
province, whichever province issued the card, and of it only their province's documents and trips; a sheet with
nothing of theirs is never seen; the PDF (every document, every seller) only when the sheet is wholly theirs.
National roles see everything."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from invoicing.models import Document, SummarySheet
from invoicing.selectors import sheets_for
from invoicing.sheets import summary_sheet_issue
from piaogen.models import Role, User
from tests.fixtures import invoicing
from tests.fixtures.invoicing import CARD, OTHER_CARD, trip
from tests.fixtures.shared import shared_world

SHEETS = "/api/v1/summary-sheets/"


def documents_of(sheet: SummarySheet, province: str) -> list[int]:
    return sorted(sheet.documents.filter(province=province).values_list("pk", flat=True))


@shared_world(on=invoicing.world)
def sheets(world: dict[str, Any]) -> dict[str, SummarySheet]:
    """``jiangsu``: a Jiangsu card's trip on Jiangsu roads only; ``crossing``: a Jiangsu card's trip through
    Jiangsu and Beijing; ``beijing_only``: a Jiangsu card's trip on Beijing roads only (its sheet is numbered in
    Jiangsu, the card issuer's province, yet binds nothing sold in Jiangsu); ``two_trips``: one sheet over a
    Jiangsu-only and a Beijing-only trip; ``beijing_card``: a Beijing card's trip in Jiangsu."""
    trip(world, "PJS", ("commercial", 10000), ("loan", 2500))
    trip(world, "PX", ("commercial", 1000), ("capital", 800))
    trip(world, "PBJ", ("capital", 600))
    trip(world, "PJS2", ("commercial", 700))
    trip(world, "PBJ2", ("capital", 900))
    trip(world, "PBC", ("commercial", 1500), card_no=OTHER_CARD)
    return {
        "jiangsu": summary_sheet_issue(card_no=CARD, pass_ids=["PJS"]),
        "crossing": summary_sheet_issue(card_no=CARD, pass_ids=["PX"]),
        "beijing_only": summary_sheet_issue(card_no=CARD, pass_ids=["PBJ"]),
        "two_trips": summary_sheet_issue(card_no=CARD, pass_ids=["PJS2", "PBJ2"]),
        "beijing_card": summary_sheet_issue(card_no=OTHER_CARD, pass_ids=["PBC"]),
    }


@pytest.fixture
def api(make_staff: Callable[..., User]) -> Callable[..., APIClient]:
    def make(role: str, province: str = "") -> APIClient:
        client = APIClient()
        client.force_authenticate(make_staff(role, province))
        return client

    return make


def listed(client: APIClient) -> dict[int, dict[str, Any]]:
    return {row["id"]: row for row in client.get(SHEETS).json()["results"]}


def test_the_sheet_numbers_follow_the_card_issuer_whatever_roads_the_trip_took(sheets: dict[str, SummarySheet]) -> None:
    assert {name: sheet.province for name, sheet in sheets.items()} == {
        "jiangsu": "32", "crossing": "32", "beijing_only": "32", "two_trips": "32", "beijing_card": "11"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("province", "expected"),
    [
        ("32", {"jiangsu", "crossing", "two_trips", "beijing_card"}),
        ("11", {"crossing", "beijing_only", "two_trips"}),
        ("33", set()),
    ],
)
@pytest.mark.parametrize("role", [Role.PROVINCE, Role.MANAGER])
def test_a_province_bound_user_sees_the_sheets_binding_a_document_of_their_province(
    sheets: dict[str, SummarySheet],
    make_staff: Callable[..., User],
    api: Callable[..., APIClient],
    role: str,
    province: str,
    expected: set[str],
) -> None:
    user = make_staff(role, province)
    wanted = {sheets[name].pk for name in expected}
    assert set(sheets_for(user).values_list("pk", flat=True)) == wanted
    assert set(listed(api(role, province))) == wanted


@pytest.mark.parametrize("role", [Role.AGENT, Role.MANAGER, Role.MAINTAINER])
def test_national_roles_see_every_sheet_whole(
    sheets: dict[str, SummarySheet], api: Callable[..., APIClient], role: str
) -> None:
    client = api(role)
    rows = listed(client)
    assert set(rows) == {sheet.pk for sheet in sheets.values()}
    crossing = sheets["crossing"]
    assert sorted(rows[crossing.pk]["documents"]) == sorted(crossing.documents.values_list("pk", flat=True))
    assert rows[sheets["two_trips"].pk]["pass_ids"] == ["PJS2", "PBJ2"]
    assert client.get(f"{SHEETS}{crossing.pk}/pdf/").status_code == 200


def test_a_sheet_with_nothing_of_the_province_is_a_404_to_it_even_on_its_own_cards(
    sheets: dict[str, SummarySheet], api: Callable[..., APIClient]
) -> None:
    jiangsu = api(Role.PROVINCE, "32")
    hidden = sheets["beijing_only"]
    assert jiangsu.get(f"{SHEETS}{hidden.pk}/").status_code == 404
    assert jiangsu.get(f"{SHEETS}{hidden.pk}/pdf/").status_code == 404
    assert api(Role.PROVINCE, "11").get(f"{SHEETS}{sheets['jiangsu'].pk}/").status_code == 404


def test_of_a_crossing_sheet_each_province_reads_only_its_own_documents_and_trips(
    sheets: dict[str, SummarySheet], api: Callable[..., APIClient]
) -> None:
    crossing, two_trips = sheets["crossing"], sheets["two_trips"]
    for province in ("32", "11"):
        client = api(Role.PROVINCE, province)
        row = client.get(f"{SHEETS}{crossing.pk}/").json()
        assert sorted(row["documents"]) == documents_of(crossing, province)
        assert len(row["documents"]) == 1
        assert row["pass_ids"] == ["PX"]  # the trip has a segment in both provinces
        assert row["amount_gross"] == {"32": 1000, "11": 800}[province]  # their documents' part, not the 1800
        both = client.get(f"{SHEETS}{two_trips.pk}/").json()
        assert both["documents"] == documents_of(two_trips, province)
        assert both["pass_ids"] == {"32": ["PJS2"], "11": ["PBJ2"]}[province]


def test_the_pdf_of_a_sheet_listing_another_provinces_document_is_refused_to_a_province_user(
    sheets: dict[str, SummarySheet], api: Callable[..., APIClient]
) -> None:
    jiangsu = api(Role.PROVINCE, "32")
    refused = jiangsu.get(f"{SHEETS}{sheets['crossing'].pk}/pdf/")
    assert refused.status_code == 403
    assert "其他省份" in refused.json()["detail"]
    assert api(Role.PROVINCE, "11").get(f"{SHEETS}{sheets['two_trips'].pk}/pdf/").status_code == 403
    whole = jiangsu.get(f"{SHEETS}{sheets['jiangsu'].pk}/pdf/")
    assert whole.status_code == 200 and whole.getvalue().startswith(b"%PDF")
    assert jiangsu.get(f"{SHEETS}{sheets['beijing_card'].pk}/pdf/").status_code == 200  # all sold in Jiangsu


def test_the_console_document_page_lists_the_crossing_sheet_of_a_provinces_document(
    sheets: dict[str, SummarySheet], make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    crossing = sheets["crossing"]
    ours = Document.objects.get(pk=documents_of(crossing, "32")[0])
    page = client_for(make_staff(Role.PROVINCE, "32")).get(f"/documents/{ours.pk}/")
    assert page.status_code == 200
    assert crossing.number in page.content.decode()


def test_listing_sheets_takes_a_fixed_number_of_queries(
    sheets: dict[str, SummarySheet], api: Callable[..., APIClient], django_assert_max_num_queries: Any
) -> None:
    client = api(Role.PROVINCE, "32")
    with django_assert_max_num_queries(8):
        assert len(listed(client)) == 4


def test_a_province_user_sees_only_their_documents_total_of_a_crossing_sheet_and_national_roles_the_whole(
    sheets: dict[str, SummarySheet],
    api: Callable[..., APIClient],
    world: dict[str, Any],
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
) -> None:
    """Issue #18: the whole total of a sheet over two provinces' documents let each infer the other's share."""
    crossing = sheets["crossing"]  # 10.00 sold in Jiangsu + 8.00 in Beijing
    SummarySheet.objects.filter(pk__in=[s.pk for s in sheets.values()]).update(customer=world["customer"])
    beijing = make_staff(Role.PROVINCE, "11", username="beijing-page")

    listed_total = listed(api(Role.PROVINCE, "11"))[crossing.pk]["amount_gross"]
    national = api(Role.MANAGER).get(f"{SHEETS}{crossing.pk}/").json()["amount_gross"]
    response = client_for(beijing).get(f"/customers/{world['customer'].pk}/")
    assert response.status_code == 200, response
    page = response.content.decode()

    assert (listed_total, national) == (800, 1800)
    assert crossing.number in page and "¥18.00" not in page and "¥8.00" in page


def test_a_province_user_counts_only_their_own_trips_of_a_sheet_on_pages(
    sheets: dict[str, SummarySheet], world: dict[str, Any], make_staff: Callable[..., User], agent: User,
    client_for: Callable[[User], Client],
) -> None:  # fmt: skip
    """The sheet over a Jiangsu-only and a Beijing-only trip: Beijing counts one trip, an agent two."""
    two_trips = sheets["two_trips"]
    SummarySheet.objects.filter(pk=two_trips.pk).update(customer=world["customer"])
    beijing = client_for(make_staff(Role.PROVINCE, "11", username="beijing-count"))

    def counted(client: Client) -> str:
        page = client.get(f"/customers/{world['customer'].pk}/").content.decode()
        row = re.search(
            rf"<tr><td>(?:<a [^>]*>)?{two_trips.number}(?:</a>)?</td><td>\d+</td><td class=\"num\">(\d+)</td>", page
        )
        assert row is not None
        return row.group(1)

    found = beijing.get("/search/", {"q": two_trips.number, "all": "1"}).content.decode()

    assert (counted(beijing), counted(client_for(agent))) == ("1", "2")
    assert "1 次通行" in found and "2 次通行" not in found
