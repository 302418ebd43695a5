"""The search page's state filter offers the states of what the typed text can find, in Chinese — a document's for an
invoice number, an upload batch's for a batch id, none for a plate — and a state filter shows only records that have
that state, so the count is the rows shown."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from invoicing.issuing import document_reverse
from invoicing.models import Document, DocumentStatus
from piaogen.models import User
from support.filters import SearchForm
from support.search import Group, SearchFilters, search
from tests.fixtures.support import make_trip

pytestmark = pytest.mark.django_db


def offered(query: str, **data: str) -> list[Any]:
    return list(SearchForm({"q": query, **data}).fields["state"].choices)  # type: ignore[attr-defined]


def test_an_invoice_number_offers_the_documents_states_only() -> None:
    assert offered("25320000000000012345") == [("", "全部状态"), ("issued", "已开具"), ("reversed", "已红冲"),
                                               ("red", "红字")]  # fmt: skip


def test_a_batch_id_offers_the_upload_states_and_a_summary_sheet_number_the_sheets(records: dict[str, Any]) -> None:
    labels = [str(label) for _value, label in offered("#12")[1:]]
    assert labels == ["排队中", "处理中", "已完成", "失败", "已取消", "已拒收"]
    assert [str(label) for _value, label in offered(records["sheet"].number)[1:]] == ["有效", "已作废"]


def test_a_number_that_reads_as_a_document_or_a_batch_offers_both_under_their_names() -> None:
    groups = offered("12345678")[1:]
    assert [str(name) for name, _choices in groups] == ["票据", "上传批次"]


def test_a_plate_or_a_name_has_no_state_to_filter(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    form = SearchForm({"q": "苏A12345"})
    assert not form.state_applies
    page = client_for(agent).get("/search/", {"q": "张三", "all": "1"}).content.decode()
    assert 'name="state"' not in page


def test_a_state_of_another_kind_is_dropped_and_said_so(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    form = SearchForm({"q": records["invoice"].number, "state": "done"})  # a batch's state, left in the URL
    assert form.is_valid() and form.state_ignored and form.search_filters().state == ""
    page = client_for(agent).get("/search/", {"q": "苏A12345", "state": "issued", "all": "1"}).content.decode()
    assert "所选状态不适用于这次搜索能找到的记录，已忽略" in page
    assert 'id="group-card"' in page  # the plate's records are shown, unfiltered


def test_a_state_filter_shows_only_records_with_that_state_and_counts_them(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    make_trip(records, "PTAX0001", ("commercial", 1000), days=8)  # under 江苏苏通物流's title (from day 10)
    make_trip(records, "PTAX0002", ("commercial", 2000), days=8)
    tax_id = records["new_title"].tax_id
    held = list(Document.objects.filter(buyer_tax_id=tax_id).order_by("pk"))
    assert len(held) == 2
    document_reverse(document=held[0], reason="抬头错误", by=None)

    plain = search(user=agent, query=tax_id)
    assert {group.key for group in plain.groups} == {Group.CUSTOMER, Group.DOCUMENT}
    issued = search(user=agent, query=tax_id, filters=SearchFilters(state=DocumentStatus.ISSUED))
    assert [group.key for group in issued.groups] == [Group.DOCUMENT]  # the customer has no state to match
    assert issued.total == len(issued.groups[0].hits) == 1  # the live one
    assert issued.groups[0].hits[0].pk == held[1].pk

    page = client_for(agent).get("/search/", {"q": tax_id, "state": "reversed"}).content.decode()
    assert "共 1 条结果" in page
    rows = re.findall(r'<span class="pill">([^<]+)</span></td>', page)
    assert rows == ["已红冲"]
    select = page.split('name="state"', 1)[1].split("</select>", 1)[0]
    assert "已开具" in select and "有效" not in select and "排队中" not in select
