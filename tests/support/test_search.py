"""The support search box: every identifier type is recognised and found through its index, exact unique hits
open the record, the rest are grouped with counts and filters, province users find only their province, and
phone numbers are never shown in full."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from invoicing.models import BusinessLine, Document, DocumentKind, DocumentStatus
from piaogen.models import Role, User
from support.search import Group, Kind, SearchFilters, recognise, search
from tests.fixtures.invoicing import CARD, OTHER_CARD
from tolling.models import PaperTicket, PayMethod, TopUp, UploadBatch

# --- reading the text (no database) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("京A12345", Kind.PLATE, ("京A12345", None)),
        ("京a12345", Kind.PLATE, ("京A12345", None)),  # lower case
        ("京Ａ１２３４５", Kind.PLATE, ("京A12345", None)),  # full-width
        ("京A12345_1", Kind.PLATE, ("京A12345", 1)),
        ("京A12345 黄", Kind.PLATE, ("京A12345", 1)),  # colour word after
        ("蓝京A12345", Kind.PLATE, ("京A12345", 0)),  # colour word before
        ("黑F07957", Kind.PLATE, ("黑F07957", None)),  # 黑 is a province here, not a colour
        ("粤BD12345", Kind.PLATE, ("粤BD12345", None)),  # new-energy, small car
        ("沪A12345F", Kind.PLATE, ("沪A12345F", None)),  # new-energy, large vehicle
        ("32010000000000000001", Kind.CARD, "32010000000000000001"),
        ("26321000000000000001", Kind.DIGITAL_INVOICE, "26321000000000000001"),
        ("032002600112 12345678", Kind.LEGACY_INVOICE, ("032002600112", "12345678")),
        ("03200260011212345678", Kind.LEGACY_INVOICE, ("032002600112", "12345678")),  # without the space
        ("32029926 0000000001", Kind.FISCAL_RECEIPT, ("32029926", "0000000001")),
        ("320299260000000001", Kind.FISCAL_RECEIPT, ("32029926", "0000000001")),
        ("3220261100000001", Kind.SUMMARY_SHEET, "3220261100000001"),
        ("138 0000 0001", Kind.PHONE, "13800000001"),
        ("110101199003071233", Kind.RESIDENT_ID, "110101199003071233"),
        ("91110000600037341l", Kind.TAXPAYER_ID, "91110000600037341L"),  # USCC, lower-case check char
        ("P00032012611010000001", Kind.PASS_ID, "P00032012611010000001"),
        ("ZP20261120001", Kind.PAPER_TICKET, "ZP20261120001"),
        ("#42", Kind.BATCH, 42),
        ("批次 42", Kind.BATCH, 42),
        ("42", Kind.BATCH, 42),
        ("江苏宁沪", Kind.NAME, "江苏宁沪"),
    ],
)
def test_it_recognises_what_was_typed(text: str, kind: str, value: Any) -> None:
    assert (kind, value) in [(reading.kind, reading.value) for reading in recognise(text)]


def test_twenty_digits_are_looked_up_as_a_card_and_as_a_digital_invoice_number() -> None:
    kinds = [reading.kind for reading in recognise("32010000000000000001")]
    assert kinds[:2] == [Kind.CARD, Kind.DIGITAL_INVOICE]


def test_a_plate_is_not_also_searched_as_a_name() -> None:
    assert [reading.kind for reading in recognise("京A12345")] == [Kind.PLATE]


def test_a_latin_word_is_read_as_a_name_and_as_a_free_format_key() -> None:
    kinds = [reading.kind for reading in recognise("Sinopec")]
    assert Kind.NAME in kinds and Kind.PASS_ID in kinds


def test_empty_text_reads_as_nothing() -> None:
    assert recognise("   ") == []


# --- finding ------------------------------------------------------------------------------------------------------


def groups(result: Any) -> dict[str, list[int]]:
    return {group.key: [hit.pk for hit in group.hits] for group in result.groups}


@pytest.fixture
def jiangsu(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "32")


@pytest.fixture
def beijing_user(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PROVINCE, "11")


def test_a_plate_in_any_case_and_width_opens_its_customer(records: dict[str, Any], agent: User) -> None:
    for text in ("苏A12345", "苏a12345", "苏Ａ１２３４５_0", "蓝苏A12345"):
        result = search(user=agent, query=text)
        assert result.recognised == [Kind.PLATE]
        assert groups(result)[Group.CUSTOMER] == [records["customer"].pk]
        assert len(groups(result)[Group.CARD]) == 3
        assert groups(result)[Group.AUDIT_CHARGE] == [records["charge"].pk]
        assert result.target is not None and result.target.url == reverse(
            "customer-detail", args=[records["customer"].pk]
        )


def test_a_plate_in_another_colour_finds_nothing(records: dict[str, Any], agent: User) -> None:
    assert search(user=agent, query="苏A12345_1").groups == []


def test_a_card_number_opens_the_card(records: dict[str, Any], agent: User) -> None:
    result = search(user=agent, query=CARD)
    assert groups(result) == {Group.CARD: [records["cards"]["post"].pk]}
    assert result.target is not None and result.target.url == reverse("card-detail", args=[records["cards"]["post"].pk])


def test_a_digital_invoice_number_opens_the_document(records: dict[str, Any], agent: User) -> None:
    invoice = records["invoice"]
    result = search(user=agent, query=invoice.number)
    assert groups(result) == {Group.DOCUMENT: [invoice.pk]}
    assert result.target is not None and result.target.url == reverse("document-detail", args=[invoice.pk])


def test_a_fiscal_receipt_code_and_number_with_or_without_a_space(records: dict[str, Any], agent: User) -> None:
    receipt = records["receipt"]
    for text in (f"{receipt.code} {receipt.number}", f"{receipt.code}{receipt.number}"):
        result = search(user=agent, query=text)
        assert Kind.FISCAL_RECEIPT in result.recognised
        assert groups(result)[Group.DOCUMENT] == [receipt.pk]


def test_a_legacy_code_and_number_with_or_without_a_space(records: dict[str, Any], agent: User) -> None:
    legacy = Document.objects.create(
        kind=DocumentKind.LEGACY_INVOICE,
        business_line=BusinessLine.ETC_TRIP,
        code="032002600112",
        number="12345678",
        service_date=dt.date(2026, 1, 5),
        province="32",
        seller=records["road"],
        seller_name="苏高速",
        seller_tax_id="91320000000000001X",
        buyer_name="张三",
        amount_net=100,
        amount_tax=0,
        amount_gross=100,
    )
    for text in ("032002600112 12345678", "03200260011212345678", "０３２００２６００１１２ １２３４５６７８"):
        assert groups(search(user=agent, query=text)) == {Group.DOCUMENT: [legacy.pk]}
    assert groups(search(user=agent, query="12345678")) == {Group.DOCUMENT: [legacy.pk]}  # the number alone


def test_a_summary_sheet_number_opens_the_sheet_page(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    result = search(user=agent, query=records["sheet"].number)
    assert groups(result) == {Group.SHEET: [records["sheet"].pk]}
    assert result.groups[0].hits[0].url == reverse("sheet-detail", args=[records["sheet"].pk])
    response = client_for(agent).get(reverse("search"), {"q": records["sheet"].number})
    assert response.status_code == 302 and response["Location"] == reverse("sheet-detail", args=[records["sheet"].pk])


def test_a_phone_finds_the_account_and_the_cards_recorded_with_it(records: dict[str, Any], agent: User) -> None:
    result = search(user=agent, query="138 0000 0001")
    assert groups(result)[Group.CUSTOMER] == [records["customer"].pk]
    assert len(groups(result)[Group.CARD]) == 3
    assert result.target is not None and result.target.group == Group.CUSTOMER  # every card is theirs


def test_a_resident_id_finds_the_account(records: dict[str, Any], agent: User) -> None:
    result = search(user=agent, query="110101199003071233")
    assert Kind.RESIDENT_ID in result.recognised
    assert groups(result)[Group.CUSTOMER] == [records["customer"].pk]


def test_a_taxpayer_id_finds_the_titles_owner(records: dict[str, Any], agent: User) -> None:
    result = search(user=agent, query="91320100ma1xy0123j")
    assert Kind.TAXPAYER_ID in result.recognised
    assert groups(result)[Group.CUSTOMER] == [records["customer"].pk]


def test_a_pass_id_opens_the_trip(records: dict[str, Any], agent: User) -> None:
    trip = records["waiting"]
    result = search(user=agent, query=trip.pass_id)
    assert groups(result) == {Group.TRIP: [trip.pk]}
    assert result.target is not None and result.target.url == reverse("trip-detail", args=[trip.pk])


def test_a_pass_id_also_lists_the_back_charges_of_that_trip(records: dict[str, Any], agent: User) -> None:
    result = search(user=agent, query=records["invoiced"].pass_id)
    assert groups(result) == {Group.TRIP: [records["invoiced"].pk], Group.AUDIT_CHARGE: [records["charge"].pk]}
    assert result.target is None  # two records: the list is shown


def test_a_paper_ticket_number_finds_the_ticket(records: dict[str, Any], agent: User) -> None:
    ticket = PaperTicket.objects.create(
        ticket_no="ZP20261120001",
        service_date=dt.date(2026, 11, 20),
        toll_unit=records["commercial"],
        province="32",
        plate="苏A12345",
        plate_color=0,
        vehicle_class=1,
        exit_time=dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC),
        amount=2500,
        pay_method=PayMethod.CASH,
    )
    assert groups(search(user=agent, query="zp20261120001")) == {Group.PAPER_TICKET: [ticket.pk]}


def test_a_top_up_flow_number_finds_the_top_up(records: dict[str, Any], agent: User) -> None:
    topup: TopUp = records["topup"]
    result = search(user=agent, query=topup.topup_id)
    assert groups(result)[Group.TOPUP] == [topup.pk]


def test_an_upload_batch_id_opens_the_batch(records: dict[str, Any], agent: User, jiangsu: User) -> None:
    batch = UploadBatch(
        kind="segments", province="32", uploaded_by=jiangsu, file_name="a.csv", file_size=1, sha256="0" * 64
    )
    batch.file.save("a.csv", ContentFile(b"x"), save=False)
    batch.save()
    for text in (f"#{batch.pk}", f"批次{batch.pk}", str(batch.pk)):
        result = search(user=agent, query=text)
        assert groups(result)[Group.BATCH] == [batch.pk]
    assert search(user=agent, query=f"#{batch.pk}").target is not None


def test_names_are_found_fuzzily_by_customer_name_and_buyer_title(records: dict[str, Any], agent: User) -> None:
    by_name = search(user=agent, query="张三")
    assert Kind.NAME in by_name.recognised
    assert groups(by_name)[Group.CUSTOMER] == [records["customer"].pk]
    assert by_name.target is None  # a fuzzy match never opens a record by itself
    by_title = search(user=agent, query="苏通物流")
    assert groups(by_title)[Group.CUSTOMER] == [records["customer"].pk]
    assert "江苏苏通物流有限公司" in by_title.groups[0].hits[0].detail


def test_results_are_grouped_by_type_with_counts(records: dict[str, Any], agent: User) -> None:
    result = search(user=agent, query="苏A12345")
    assert [group.key for group in result.groups] == [Group.CUSTOMER, Group.CARD, Group.AUDIT_CHARGE]
    assert [group.count for group in result.groups] == [1, 3, 1]
    assert result.total == 5


def test_filters_narrow_the_documents_by_state_business_line_and_date(records: dict[str, Any], agent: User) -> None:
    held = records["reversed_document"]
    assert groups(search(user=agent, query=held.number)) == {Group.DOCUMENT: [held.pk]}
    assert search(user=agent, query=held.number, filters=SearchFilters(state=DocumentStatus.ISSUED)).groups == []
    assert search(user=agent, query=held.number, filters=SearchFilters(business_line=BusinessLine.TAXI)).groups == []
    tomorrow = held.service_date + dt.timedelta(days=1)
    assert search(user=agent, query=held.number, filters=SearchFilters(date_from=tomorrow)).groups == []
    narrowed = search(
        user=agent, query=held.number, filters=SearchFilters(province="32", state=DocumentStatus.REVERSED)
    )
    assert groups(narrowed) == {Group.DOCUMENT: [held.pk]}


def test_a_province_user_finds_only_their_provinces_records(
    records: dict[str, Any], jiangsu: User, beijing_user: User
) -> None:
    assert groups(search(user=jiangsu, query=CARD)) == {Group.CARD: [records["cards"]["post"].pk]}
    assert search(user=jiangsu, query=OTHER_CARD).groups == []  # a Beijing card
    assert search(user=jiangsu, query=records["beijing_trip"].pass_id).groups == []
    assert search(user=beijing_user, query=records["waiting"].pass_id).groups == []
    assert groups(search(user=beijing_user, query=records["beijing_trip"].pass_id)) == {
        Group.TRIP: [records["beijing_trip"].pk]
    }
    assert search(user=beijing_user, query=records["invoice"].number).groups == []  # sold in Jiangsu
    plate = search(user=beijing_user, query="苏A12345")
    assert groups(plate).get(Group.CARD) == [records["cards"]["beijing"].pk]
    assert Group.AUDIT_CHARGE not in groups(plate)  # the back-charge is Jiangsu's


# --- the page -------------------------------------------------------------------------------------------------------


def test_the_page_opens_an_exact_unique_hit_directly(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(agent).get(reverse("search"), {"q": records["invoice"].number})
    assert response.status_code == 302
    assert response["Location"] == reverse("document-detail", args=[records["invoice"].pk])


def test_the_page_lists_groups_with_counts_and_masks_phones(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(agent).get(reverse("search"), {"q": "苏A12345", "all": "1"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="#group-customer"' in body and 'href="#group-card"' in body
    assert reverse("customer-detail", args=[records["customer"].pk]) in body
    assert "138****0001" in body
    assert "13800000001" not in body


def test_the_page_applies_filters_from_the_url_and_never_redirects_then(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client]
) -> None:
    number = records["invoice"].number
    response = client_for(agent).get(reverse("search"), {"q": number, "state": "reversed"})
    assert response.status_code == 200
    assert 'id="group-document"' not in response.content.decode()
    assert "没有找到匹配的记录" in response.content.decode()


def test_the_page_without_a_query_explains_what_can_be_searched(
    agent: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(agent).get(reverse("search"))
    assert response.status_code == 200
    assert "汇总单号" in response.content.decode()


def test_the_search_box_on_every_page_posts_to_the_search_page(
    agent: User, client_for: Callable[[User], Client]
) -> None:
    body = client_for(agent).get(reverse("home")).content.decode()
    assert f'action="{reverse("search")}"' in body


def test_an_exact_search_makes_a_fixed_handful_of_queries(records: dict[str, Any], agent: User) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # a plate: customers, cards, back-charges (+ the charge's trip link); a pass id: probe, trip, charge, link
    for text, most in ((CARD, 3), ("苏A12345", 4), ("13800000001", 3), (records["invoiced"].pass_id, 4)):
        with CaptureQueriesContext(connection) as queries:
            assert search(user=agent, query=text).groups
        assert len(queries.captured_queries) <= most, text


# --- telling the truth --------------------------------------------------------------------------------------------


def test_punctuation_alone_is_not_read_as_a_name() -> None:
    assert recognise("@@##!!") == []
    assert recognise("张三!") != []  # a name with a stray mark still is


def test_a_mark_at_either_end_of_a_name_is_dropped_and_a_stray_mark_inside_makes_it_garbage() -> None:
    # the rule (support.recognise.name_text): marks at the ends are typos, marks inside a name are the few that
    # company and person names hold; anything else inside is not a name
    assert [(r.kind, r.value) for r in recognise("！张三!")] == [(Kind.NAME, "张三")]
    assert recognise("zzz!!garbage") == []
    assert recognise("abc@def") == []
    for name in ("南京某某（集团）有限公司", "A&B Co.", "St. John's", "中国石化-江苏", "阿卜杜·热合曼"):
        assert [r.kind for r in recognise(name)][-1:] == [Kind.NAME], name


def test_the_page_says_garbage_was_not_recognised(agent: User, client_for: Callable[[User], Client]) -> None:
    for garbage in ("@@##!!", "zzz!!garbage"):
        body = client_for(agent).get(reverse("search"), {"q": garbage}).content.decode()
        assert "无法识别输入的内容" in body, garbage
    body = client_for(agent).get(reverse("search"), {"q": "张三!"}).content.decode()
    assert "无法识别输入的内容" not in body


def test_a_province_user_is_offered_their_province_only(
    jiangsu: User, agent: User, client_for: Callable[[User], Client]
) -> None:
    province = client_for(jiangsu).get(reverse("search"), {"q": "不存在的单位名称"}).content.decode()
    national = client_for(agent).get(reverse("search"), {"q": "不存在的单位名称"}).content.decode()
    assert '<option value="" selected>江苏</option>' in province and "北京</option>" not in province
    assert "全部省份" in national and "北京</option>" in national


def test_the_province_scope_hint_is_shown_to_province_users_only(
    records: dict[str, Any], agent: User, jiangsu: User, client_for: Callable[[User], Client]
) -> None:
    nothing = {"q": "不存在的单位名称"}
    national = client_for(agent).get(reverse("search"), nothing).content.decode()
    province = client_for(jiangsu).get(reverse("search"), nothing).content.decode()
    assert "没有找到匹配的记录。" in national and "本省" not in national
    assert "您只能查到本省的记录。" in province


def test_the_start_of_a_plate_from_four_characters_is_read_as_a_plate_prefix() -> None:
    assert [(r.kind, r.value) for r in recognise("苏a12")] == [(Kind.PLATE_PREFIX, "苏A12")]
    assert all(r.kind != Kind.PLATE_PREFIX for r in recognise("苏A1"))  # too short to be useful
    assert [r.kind for r in recognise("苏A12345")] == [Kind.PLATE]  # a whole plate stays a plate


def test_a_plate_start_too_short_to_search_says_how_much_to_type(
    agent: User, client_for: Callable[[User], Client]
) -> None:
    for short in ("苏A", "苏a1"):
        body = client_for(agent).get(reverse("search"), {"q": short}).content.decode()
        assert "按车牌开头查找请至少输入 4 个字符（如 苏A12）" in body, short
    body = client_for(agent).get(reverse("search"), {"q": "苏A12"}).content.decode()
    assert "按车牌开头查找请至少输入" not in body
    assert "按车牌开头查找请至少输入" not in client_for(agent).get(reverse("search"), {"q": "张三"}).content.decode()


def test_a_two_character_name_says_it_is_found_by_its_start(agent: User, client_for: Callable[[User], Client]) -> None:
    hint = "两个字的名称按开头查找"
    assert hint in client_for(agent).get(reverse("search"), {"q": "科技"}).content.decode()
    assert hint not in client_for(agent).get(reverse("search"), {"q": "某某科技"}).content.decode()
    assert hint not in client_for(agent).get(reverse("search"), {"q": "苏A12"}).content.decode()


def test_a_plate_prefix_finds_the_cards_and_customers_of_matching_vehicles_in_scope(
    records: dict[str, Any], agent: User, make_staff: Callable[..., User]
) -> None:
    found = groups(search(user=agent, query="苏A12"))
    assert records["customer"].pk in found.get(Group.CUSTOMER, [])
    assert found.get(Group.CARD)
    beijing = make_staff(Role.PROVINCE, "11")
    from tolling.models import Card

    theirs = groups(search(user=beijing, query="苏A12")).get(Group.CARD, [])
    assert len(theirs) < len(found[Group.CARD])  # the Jiangsu cards of the vehicle are not theirs
    assert all(no.startswith("11") for no in Card.objects.filter(pk__in=theirs).values_list("card_no", flat=True))
    assert groups(search(user=agent, query="苏B99")) == {}


def test_a_plate_prefix_search_makes_a_fixed_handful_of_queries(
    records: dict[str, Any], agent: User, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(6):
        search(user=agent, query="苏A12")


def test_a_group_over_the_limit_tells_its_real_count(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    import support.search

    monkeypatch.setattr(support.search, "GROUP_LIMIT", 1)
    result = search(user=agent, query="苏A12")
    cards = next(group for group in result.groups if group.key == Group.CARD)
    assert cards.more and len(cards.hits) == 1 and cards.count > 1
    body = client_for(agent).get(reverse("search"), {"q": "苏A12"}).content.decode()
    assert f"共 {cards.count} 条，显示前 1 条，请缩小范围" in body and "+</span>" not in body


def test_a_group_over_the_limit_pages_on_to_its_other_records(
    records: dict[str, Any], agent: User, client_for: Callable[[User], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    import support.search

    monkeypatch.setattr(support.search, "GROUP_LIMIT", 1)
    first = next(g for g in search(user=agent, query="苏A12").groups if g.key == Group.CARD)
    second = next(g for g in search(user=agent, query="苏A12", group=Group.CARD, page=2).groups if g.key == Group.CARD)
    assert second.page == 2 and second.count == first.count
    assert [hit.pk for hit in second.hits] != [hit.pk for hit in first.hits]
    client = client_for(agent)
    body = client.get(reverse("search"), {"q": "苏A12"}).content.decode()
    assert "group=card&amp;page=2" in body
    body = client.get(reverse("search"), {"q": "苏A12", "group": "card", "page": "2"}).content.decode()
    assert "group=card&amp;page=1" in body
