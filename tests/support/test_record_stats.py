"""The record pages' monthly statistics (support/record_stats.py): every figure is the row count of the list its link
opens, for an agent and for a province user (who sees their province's rows only); outcomes and reasons in words."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from piaogen.models import User
from tests.fixtures.invoicing import CARD, OTHER_CARD
from tolling.models import Segment

pytestmark = pytest.mark.django_db

FIGURE = re.compile(r'<a href="([^"]+)" data-figure data-count="(\d+)">')
ROWS_TOTAL = re.compile(r'data-rows-total="(\d+)"')
TAGS = re.compile(r"<[^>]+>")


def _figures(client: Client, query: dict[str, str]) -> list[tuple[str, int]]:
    response = client.get("/records/stats/", query)
    assert response.status_code == 200
    return [(html.unescape(url), int(count)) for url, count in FIGURE.findall(response.content.decode())]


def _drill_total(client: Client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200
    found = ROWS_TOTAL.search(response.content.decode())
    assert found is not None, url
    return int(found.group(1))


def _records(records: dict[str, Any]) -> list[dict[str, str]]:
    return [{"customer": str(records["customer"].pk)}, {"card": CARD}, {"plate": "苏A12345"}]


def test_every_figure_of_a_record_is_the_row_count_of_its_link_for_an_agent(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    for record in _records(records):
        figures = _figures(client, record)
        assert figures, record
        assert sum(count for _, count in figures) > 0
        for url, count in figures:
            assert url.startswith("/stats/rows/?")
            assert _drill_total(client, url) == count, (record, url)
    # the customer's table counts every segment of its cards, Beijing's too, and every outcome
    text = TAGS.sub(" ", client.get("/records/stats/", {"customer": records["customer"].pk}).content.decode())
    for words in ("已在票据中", "未到可开票日", "实收金额为零，不开票", "该笔通行由已开票的充值支付，不能再开票",
                  "原票据已红冲，可重新开票", "价税合计", "税额"):  # fmt: skip
        assert words in text, words
    assert "topup_invoiced" not in text and "in_document" not in text


def test_a_province_user_sees_and_counts_only_their_province(
    province_user: User, agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(province_user)
    for record in _records(records):
        figures = _figures(client, record)
        for url, count in figures:
            assert "province=32" in url
            assert _drill_total(client, url) == count, (record, url)
            assert "PBEIJING01" not in client.get(url).content.decode()
    customer = {"customer": str(records["customer"].pk)}
    jiangsu = Segment.objects.filter(province="32", pass_id__startswith="P").count()
    everyone = Segment.objects.filter(pass_id__startswith="P").count()

    def month_segments(viewer: Client) -> int:
        figures = _figures(viewer, customer)
        return sum(count for url, count in figures if "state=" not in url and "subject=segments" in url)

    assert month_segments(client) == jiangsu < everyone
    assert month_segments(client_for(agent)) == everyone
    # another province's card is not there for them; an unknown customer neither
    assert client.get("/records/stats/", {"card": OTHER_CARD}).status_code == 404
    assert client.get("/records/stats/", {"customer": "999999"}).status_code == 404
    assert client.get("/records/stats/", {"customer": "9" * 30}).status_code == 404


def test_the_pages_load_their_statistics_and_link_the_plate(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    card = records["cards"]["post"]
    for page in (f"/customers/{records['customer'].pk}/", f"/cards/{card.pk}/", "/vehicles/苏A12345/"):
        body = client.get(page).content.decode()
        assert 'hx-get="/records/stats/?' in body, page
        assert re.search(r'href="/stats/\?[^"]*group_by=month%2Cstate[^"]*" data-stats-link', body), page
    assert "/vehicles/%E8%8B%8FA12345/" in client.get(f"/cards/{card.pk}/").content.decode()
    vehicle = client.get("/vehicles/苏A12345/").content.decode()
    assert CARD in vehicle and OTHER_CARD in vehicle
    assert client.get("/vehicles/not a plate!/").status_code == 404


def test_a_plate_search_links_the_plates_page(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    page = client_for(agent).get("/search/", {"q": "苏A12345", "all": "1"}).content.decode()
    assert 'href="/vehicles/%E8%8B%8FA12345/" data-vehicle-link' in page


def test_the_fragment_makes_a_bounded_number_of_queries(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(agent)
    client.get("/records/stats/", {"customer": records["customer"].pk})  # sessions, content types warmed
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/records/stats/", {"customer": records["customer"].pk})
    assert response.status_code == 200
    assert len(captured.captured_queries) <= 14, [q["sql"][:120] for q in captured.captured_queries]
