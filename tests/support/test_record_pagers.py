"""Every list on a record page pages without losing the ticks: for a user who may act, each pager (documents, summary
sheets, back-charges, timeline, top-ups, trips) is a button of the page's one selection form, so the ticks not yet
sent go along; every list's page rides along as its ``<list>_at`` field. Readers keep plain links."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from piaogen.models import User
from support.tickets import ticket_open
from tests.fixtures.invoicing import CARD
from tests.fixtures.support import make_trip

pytestmark = pytest.mark.django_db


def section(body: str, anchor: str) -> str:
    return body.split(f'id="{anchor}"', 1)[1].split("</section>", 1)[0]


def pager_buttons(html: str, param: str) -> list[str]:
    """The (value, formaction) of each pager button of ``param`` that submits the selection form."""
    return re.findall(
        rf'<button type="submit" class="pager-link" form="select-records" formaction="([^"]+)" name="{param}" '
        rf'value="(\d+)">',
        html,
    )


@pytest.fixture
def short_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    import support.records

    monkeypatch.setattr(support.records, "LIST_LIMIT", 1)
    monkeypatch.setattr(support.records, "TIMELINE_LIMIT", 1)


def test_every_list_pager_on_the_customer_page_submits_the_selection_form(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], short_lists: None
) -> None:
    customer = records["customer"]
    ticket_open(category="other", subject="来电一", customer=customer, by=agent)
    ticket_open(category="other", subject="来电二", customer=customer, by=agent)
    body = client_for(agent).get(f"/customers/{customer.pk}/").content.decode()
    url = f"/customers/{customer.pk}/"
    assert pager_buttons(section(body, "documents"), "documents_page") == [(f"{url}#documents", "2")]
    timeline = body.split('id="customer-timeline"', 1)[1]
    assert pager_buttons(timeline, "timeline_page") == [(f"{url}#customer-timeline", "2")]
    for anchor, param in (("topups", "topups_page"), ("sheets", "sheets_page"), ("charges", "charges_page")):
        html = section(body, anchor)
        count = int(re.search(r'<span class="badge">(\d+)</span>', html)[1])  # type: ignore[index]
        assert pager_buttons(html, param) == ([(f"{url}#{anchor}", "2")] if count > 1 else []), anchor
    for param in ("documents_page", "timeline_page", "topups_page", "sheets_page", "charges_page"):
        assert f"{param}=2" not in body  # no link that would drop the ticks made and not yet sent


def test_a_page_opened_by_a_pager_keeps_the_ticks_and_every_other_lists_page(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], short_lists: None
) -> None:
    customer = records["customer"]
    for n in range(10):  # two pages of trips
        make_trip(records, f"PPAGER{n:02d}", ("commercial", 100 + n), days=15, issue=False)
    ticked = f"{CARD}:{records['invoiced'].pass_id}"
    # the documents' next page, submitted with a tick of the trips' second page and the trips' page
    query: dict[str, str | int] = {"documents_page": 2, "trips_at": 2, "trip": ticked, "timeline_at": 2}
    body = client_for(agent).get(f"/customers/{customer.pk}/", query).content.decode()
    assert "第 2/" in section(body, "documents")
    assert 'name="documents_at" value="2" form="select-records"' in body  # kept for the other pagers
    assert 'name="trips_at" value="2" form="select-records"' in body
    assert 'name="timeline_at" value="2" form="select-records"' in body
    trips = body.split('id="customer-trips"', 1)[1].split("</section>", 1)[0]
    assert "第 2 / " in trips
    on_page = f'name="trip" value="{ticked}" form="select-records" checked' in trips
    kept = f'type="hidden" name="trip" value="{ticked}" form="select-records"' in trips
    assert on_page != kept  # ticked where it shows, else carried as a hidden field
    assert "已选 1 项" in trips


def test_paging_the_trips_keeps_the_documents_page(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], short_lists: None
) -> None:
    customer = records["customer"]
    for n in range(10):  # two pages of trips
        make_trip(records, f"PPAGER{n:02d}", ("commercial", 100 + n), days=15, issue=False)
    response = client_for(agent).get(f"/customers/{customer.pk}/", {"trips_page": 2, "documents_at": 2})
    assert response.context["record"].documents_page.number == 2
    assert response.context["record"].trips.number == 2


def test_the_card_pages_pagers_submit_the_form_when_the_card_is_bound(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], short_lists: None
) -> None:
    card = records["cards"]["post"]
    body = client_for(agent).get(f"/cards/{card.pk}/").content.decode()
    assert pager_buttons(section(body, "documents"), "documents_page") == [(f"/cards/{card.pk}/#documents", "2")]


def test_readers_page_with_links_that_keep_the_query(
    records: dict[str, Any], manager: User, client_for: Callable[[User], Client], short_lists: None
) -> None:
    customer = records["customer"]
    body = client_for(manager).get(f"/customers/{customer.pk}/", {"trips_page": 2}).content.decode()
    documents = section(body, "documents")
    assert "select-records" not in body
    assert re.search(r'<a href="\?[^"]*trips_page=2[^"]*documents_page=2[^"]*#documents">', documents)


def test_the_customer_pages_its_cards_and_titles_with_counts_and_lists_the_trips_of_every_bound_card(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet's cards are not cut at a page: the cards and titles list page with their counts, and the trips,
    top-ups and back-charges are those of every card the customer had bound, whatever page of cards is shown."""
    import support.records
    from invoicing.models import BuyerTitle, CardBinding
    from support.records import customer_record

    customer = records["customer"]
    whole = customer_record(user=agent, customer=customer)
    monkeypatch.setattr(support.records, "LIST_LIMIT", 1)
    url = f"/customers/{customer.pk}/"
    client = client_for(agent)
    body = client.get(url).content.decode()

    cards = section(body, "customer-cards")
    bound = CardBinding.objects.filter(customer=customer).count()
    assert bound == len(whole.bindings) > 1
    assert f'<span class="badge">{bound}</span>' in cards and f"共 {bound} 条" in cards
    assert pager_buttons(cards, "cards_page") == [(f"{url}#customer-cards", "2")]
    assert cards.count('href="/cards/') == 1
    last = section(client.get(url, {"cards_page": bound}).content.decode(), "customer-cards")
    assert cards.split('href="/cards/')[1][:8] != last.split('href="/cards/')[1][:8]  # another card

    paged = customer_record(user=agent, customer=customer)
    assert paged.trips.paginator.count == whole.trips.paginator.count > 0
    assert paged.topups_page.paginator.count == whole.topups_page.paginator.count > 0
    assert paged.charges_page.paginator.count == whole.charges_page.paginator.count > 0

    titles = BuyerTitle.objects.filter(customer=customer).count()
    assert titles > 1
    pages = [
        section(client.get(url, {"titles_page": n}).content.decode(), "customer-titles") for n in range(1, titles + 1)
    ]
    assert f"共 {titles} 条" in pages[0]
    # the title in force is marked on whichever page it falls, once per card (and the account's default)
    in_force = sum(page.count("当前生效") for page in pages)
    assert in_force == sum(row.in_force for row in whole.titles) > 0


def test_the_card_pages_its_bindings_with_a_count_and_names_the_holder_in_force_on_every_page(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], short_lists: None
) -> None:
    """A card passed from holder to holder is not cut at a page of its binding history: the list pages with its
    count, and the page's head names the holder in force whichever page of the history is shown."""
    from invoicing.models import CardBinding
    from tests.factories import CardBindingFactory, CustomerFactory

    card = records["cards"]["post"]
    current = CardBinding.objects.get(card_no=card.card_no, unbound_at__isnull=True)
    for n, name in enumerate(("李四", "王五"), start=1):  # two earlier holders, the older further back
        start = current.bound_at - dt.timedelta(days=100 * n)
        CardBindingFactory.create(
            customer=CustomerFactory.create(name=name),
            card_no=card.card_no,
            bound_at=start,
            unbound_at=start + dt.timedelta(days=50),
        )
    url = f"/cards/{card.pk}/"
    client = client_for(agent)

    bodies = [client.get(url, {"bindings_page": n}).content.decode() for n in (1, 2, 3)]

    lists = [section(body, "card-bindings") for body in bodies]
    assert all('<span class="badge">3</span>' in html and "共 3 条" in html for html in lists)
    assert [re.findall(r'href="/customers/\d+/">([^<]+)</a>', html) for html in lists] == [["张三"], ["李四"], ["王五"]]
    assert pager_buttons(lists[0], "bindings_page") == [(f"{url}#card-bindings", "2")]
    holder = f'当前绑定 <a href="/customers/{current.customer_id}/">张三</a>'
    assert all(holder in body for body in bodies)


def test_a_back_charge_of_a_vehicle_without_a_card_is_found_and_listed_on_the_vehicles_page(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], short_lists: None
) -> None:
    """A back-charge names a vehicle always and a card only when known: one recorded without a card, on a vehicle
    with no card at all, is reached from the search through the vehicle's page, which lists and pages the plate's
    back-charges with their count."""
    from tests.fixtures.invoicing import days_ago
    from tolling.models import AuditCharge, AuditReason

    for n in (1, 2):
        AuditCharge.objects.create(
            charge_id=f"ACNOCARD{n}",
            service_date=dt.date.today(),
            plate="苏E77777",
            plate_color=0,
            toll_unit=records["charge"].toll_unit,
            province="32",
            reason=AuditReason.CLASS,
            amount=800 + n,
            paid_at=days_ago(n),
        )
    client = client_for(agent)
    url = "/vehicles/%E8%8B%8FE77777/"
    found = client.get("/search/", {"q": "ACNOCARD1"})  # the one hit: straight to its page
    assert found.status_code == 302 and found["Location"] == url

    pages = [section(client.get(url, {"charges_page": n}).content.decode(), "charges") for n in (1, 2)]

    assert all('<span class="badge">2</span>' in html and "共 2 条" in html for html in pages)
    assert ["ACNOCARD1" in html for html in pages] == [True, False]  # the newest first
    assert "ACNOCARD2" in pages[1] and "¥8.02" in pages[1]
    assert 'href="?charges_page=2#charges"' in pages[0]  # nobody to act for: a plain link
    cards = section(client.get("/vehicles/苏A12345/").content.decode(), "vehicle-cards")  # three cards, one a page
    assert '<span class="badge">3</span>' in cards and "共 3 条" in cards and cards.count('href="/cards/') == 1
