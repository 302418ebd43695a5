"""Acting from a record page without typing ids: trips and top-ups ticked on the customer or card page open the
invoice request or the summary sheet pre-filled; what the action cannot take is explained item by item, in words."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from invoicing.models import DocumentItem, SummarySheet
from piaogen.models import User
from tests.fixtures.invoicing import CARD, OTHER_CARD, PREPAID, topup
from tests.fixtures.support import make_trip
from tolling.models import Segment, TopUp

pytestmark = pytest.mark.django_db

REASON = "客户来电要求"


def test_the_customer_and_card_pages_let_an_agent_tick_trips_and_top_ups(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    customer = client.get(f"/customers/{records['customer'].pk}/").content.decode()
    assert f'name="trip" value="{CARD}:PINVOICED01" form="select-records"' in customer
    assert re.search(rf'name="topup" value="{PREPAID}:[^"]+" form="select-records"', customer)
    assert f'formaction="/actions/customers/{records["customer"].pk}/sheet/"' in customer
    card = client.get(f"/cards/{records['cards']['post'].pk}/").content.decode()
    assert f'name="trip" value="{CARD}:PINVOICED01" form="select-records"' in card
    # the next page of trips (htmx) keeps its checkboxes
    paged = client.get(f"/customers/{records['customer'].pk}/", {"part": "trips"}, HTTP_HX_REQUEST="true")
    assert 'form="select-records"' in paged.content.decode()


def test_readers_get_no_checkboxes(
    manager: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    page = client_for(manager).get(f"/customers/{records['customer'].pk}/").content.decode()
    assert 'name="trip"' not in page and "select-records" not in page


def test_ticked_trips_pre_fill_the_request_and_other_cards_are_explained(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    url = f"/actions/customers/{records['customer'].pk}/invoices/"
    ticked = [f"{CARD}:PRELEASED01", f"{CARD}:PZERO01", f"{OTHER_CARD}:PBEIJING01"]
    response = client.get(url, {"what": "trips", "trip": ticked, "topup": f"{PREPAID}:T1"})
    form = response.context["form"]
    assert form.initial["card_no"] == CARD
    assert form.initial["keys"].split("\n") == ["PRELEASED01", "PZERO01"]
    notes = " ".join(response.context["notes"])
    assert f"通行PBEIJING01：属于卡{OTHER_CARD}" in notes and "充值T1：本次按通行开票" in notes
    # the preview names each refused segment by its trip, in words
    preview = client.post(url, {"card_no": CARD, "what": "trips", "keys": "PRELEASED01\nPZERO01", "reason": REASON,
                                "key": str(uuid.uuid4()), "step": "preview"})  # fmt: skip
    text = preview.content.decode()
    assert "通行PZERO01第1段：实收金额为零，不开票" in text
    assert "segment:" not in text


def test_ticked_top_ups_pre_fill_a_top_up_request(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    topup = records["topup"]
    response = client_for(agent).get(
        f"/actions/customers/{records['customer'].pk}/invoices/",
        {"what": "topups", "topup": f"{PREPAID}:{topup.topup_id}", "trip": f"{CARD}:PZERO01"},
    )
    form = response.context["form"]
    assert (form.initial["what"], form.initial["card_no"], form.initial["keys"]) == ("topups", PREPAID, topup.topup_id)
    assert "通行PZERO01：本次按充值开票，未列入" in response.context["notes"]


def test_a_summary_sheet_of_ticked_trips_binds_the_invoiced_ones_and_says_why_not_the_others(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    url = f"/actions/customers/{records['customer'].pk}/sheet/"
    response = client.get(url, {"what": "trips", "trip": [f"{CARD}:PINVOICED01", f"{CARD}:PZERO01"]})
    assert response.context["form"].initial["keys"] == "PINVOICED01\nPZERO01"
    data = {"card_no": CARD, "keys": "PINVOICED01\nPZERO01\nPNOSUCH", "reason": REASON, "key": str(uuid.uuid4())}
    text = client.post(url, {**data, "step": "preview"}).content.decode()
    assert "通行PZERO01：尚无已开具的票据，不能汇总（实收金额为零，不开票）" in text
    assert "通行PNOSUCH：该卡没有这次通行" in text
    client.post(url, {**data, "step": "confirm"})
    assert SummarySheet.objects.filter(card_no=CARD, pass_ids=["PINVOICED01"]).exists()
    # nothing that can be bound: a form error naming each trip
    refused = client.post(url, {**data, "keys": "PZERO01", "key": str(uuid.uuid4()), "step": "preview"})
    assert "所选通行都不能汇总：通行PZERO01：尚无已开具的票据" in refused.content.decode()


def _page_of(client: Client, url: str, params: dict[str, Any]) -> str:
    return client.get(url, params).content.decode()


def test_ticks_survive_paging_and_single_segments_become_their_own_request(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    """The pager submits the selection form: what was ticked on one page is carried (hidden, counted) to the next
    and ticked again on coming back; segments are ticked one by one and the request issues exactly those."""
    for n in range(12):
        make_trip(records, f"PSEL{n:02d}", ("commercial", 1000 + n), ("loan", 500 + n), days=15, issue=False)
    client = client_for(agent)
    url = f"/customers/{records['customer'].pk}/"
    first = _page_of(client, url, {})
    assert 'name="trips_page" value="2"' in first and 'form="select-records"' in first
    on_first = sorted(set(re.findall(rf'name="segment" value="({CARD}:PSEL\d\d#\d)"', first)))
    assert on_first, "page 1 offers the new trips' segments"
    picked_first = on_first[0]
    # page 2, reached by the pager with one segment ticked on page 1 (htmx and plain submit read the same query)
    second = _page_of(client, url, {"trips_page": 2, "segment": picked_first, "what": "trips"})
    assert f'<input type="hidden" name="segment" value="{picked_first}" form="select-records">' in second
    assert "已选 1 项（其中 1 项在其他页）" in second
    on_second = sorted(set(re.findall(rf'name="segment" value="({CARD}:PSEL\d\d#\d)"', second)) - set(on_first))
    assert on_second, "page 2 offers other segments"
    picked_second = on_second[-1]
    # back to page 1 with both: the first is ticked again, the second kept hidden
    back = _page_of(client, url, {"trips_page": 1, "segment": [picked_first, picked_second]})
    assert f'name="segment" value="{picked_first}" form="select-records" checked' in back
    assert f'<input type="hidden" name="segment" value="{picked_second}" form="select-records">' in back
    assert "已选 2 项（其中 1 项在其他页）" in back
    # the request opened with both segments names each as <pass id>#<no>
    action = f"/actions/customers/{records['customer'].pk}/invoices/"
    form = client.get(action, {"what": "trips", "segment": [picked_first, picked_second]}).context["form"]
    keys = [k.split(":", 1)[1] for k in (picked_first, picked_second)]
    assert form.initial["card_no"] == CARD and form.initial["keys"].split("\n") == keys
    data = {"card_no": CARD, "what": "trips", "keys": "\n".join(keys), "reason": REASON, "key": str(uuid.uuid4())}
    assert client.post(action, {**data, "step": "preview"}).status_code == 200
    done = client.post(action, {**data, "step": "confirm"})
    assert done.status_code == 302, re.sub(r"<[^>]+>|\s+", " ", done.content.decode())[-3000:]
    wanted = set()
    for key in keys:
        pass_id, no = key.split("#")
        wanted.add(Segment.objects.get(card_no=CARD, pass_id=pass_id, segment_no=int(no)).pk)
    sel_ids = set(Segment.objects.filter(pass_id__startswith="PSEL").values_list("pk", flat=True))
    issued = set(DocumentItem.objects.filter(item_kind="segment", item_id__in=sel_ids, live=True).values_list(
        "item_id", flat=True))  # fmt: skip
    assert issued == wanted


def test_an_unknown_segment_is_refused_in_words(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    make_trip(records, "PSEG01", ("commercial", 1000), ("loan", 500), days=3, issue=False)
    action = f"/actions/customers/{records['customer'].pk}/invoices/"
    data = {"card_no": CARD, "what": "trips", "keys": "PSEG01#2\nPSEG01#7", "reason": REASON,
            "key": str(uuid.uuid4()), "step": "preview"}  # fmt: skip
    text = client_for(agent).post(action, data).content.decode()
    assert "通行PSEG01第7段" in text and "该卡没有这一段通行" in text


def test_top_ups_page_with_a_count_and_their_ticks_survive_paging_either_list_without_javascript(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any], world: dict[str, Any]
) -> None:
    """Both lists' pagers submit the page's one selection form (plain GET, no htmx): the top-ups ticked on one page
    of top-ups are carried to the next, and paging the trips keeps the top-ups' ticks and page (and back)."""
    for n in range(25):  # two pages of top-ups
        topup(world, amount=1000 + n)
    for n in range(12):  # two pages of trips
        make_trip(records, f"PTU{n:02d}", ("commercial", 1000 + n), days=15, issue=False)
    client = client_for(agent)
    url = f"/customers/{records['customer'].pk}/"
    first = _page_of(client, url, {})
    total = TopUp.objects.filter(card_no=PREPAID).count()
    assert total > 20
    assert f"第 1/2 页，共 {total} 条" in first and 'name="topups_page" value="2"' in first
    ticked = re.findall(rf'name="topup" value="({PREPAID}:[^"]+)" form="select-records"', first)
    assert len(ticked) == 20
    # the top-ups' pager, with one top-up ticked on page 1 and the trips on their page 2
    second = _page_of(client, url, {"topups_page": 2, "topup": ticked[0], "trips_at": 2})
    assert f'<input type="hidden" name="topup" value="{ticked[0]}" form="select-records">' in second
    assert "已选 1 笔充值（其中 1 笔在其他页）" in second
    assert "第 2 / 2 页" in second  # the trips stayed on their page
    assert f"第 2/2 页，共 {total} 条" in second
    # the trips' pager, with a top-up ticked: the top-ups stay on their page 2 and the tick stays
    paged = _page_of(client, url, {"trips_page": 1, "topups_at": 2, "topup": ticked[0]})
    assert f"第 2/2 页，共 {total} 条" in paged and "已选 1 笔充值（其中 1 笔在其他页）" in paged
    back = _page_of(client, url, {"topups_page": 1, "trips_at": 1, "topup": ticked[0]})
    assert f'name="topup" value="{ticked[0]}" form="select-records" checked' in back
    assert "已选 1 笔充值" in back and "其中 1 笔在其他页" not in back
    # the button says which action: the top-ups' button sends what=topups
    assert 'form="select-records" name="what" value="topups"' in back
    form = client.get(
        f"/actions/customers/{records['customer'].pk}/invoices/", {"what": "topups", "topup": ticked[0]}
    ).context["form"]
    assert (form.initial["what"], form.initial["keys"]) == ("topups", ticked[0].split(":", 1)[1])
