"""Query statistics (support/stats/): scope, drill consistency against raw rows under random filters, labels,
exports and the API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Count, Sum
from django.test import Client
from openpyxl import load_workbook

from invoicing.eligibility import segment_states
from invoicing.issuing import issue_segments
from invoicing.models import Document
from piaogen.models import Role, User
from support.stats import StatsQuery, state_key, statistics
from support.stats_rollup import SegmentRollup, segment_rollup_refresh
from support.stats_rows import drill_count, drill_page
from tests.fixtures.invoicing import CARD, OTHER_CARD, PREPAID, days_ago, segment
from tolling.models import Segment

pytestmark = pytest.mark.django_db

TAGS = re.compile(r"<[^>]+>")


def _text(response: Any) -> str:
    """The page's visible text (no attributes, so URL parameters do not count as shown codes)."""
    return TAGS.sub(" ", response.content.decode())


@pytest.fixture
def many(records: dict[str, Any]) -> dict[str, Any]:
    """``records`` plus 60 random segments over two provinces, three cards, three vehicle classes, 50 days and zero
    fees, about a third of them issued."""
    rng = random.Random(13)
    created = []
    for _ in range(60):
        card = rng.choice([CARD, PREPAID, OTHER_CARD])
        unit = "capital" if card == OTHER_CARD else rng.choice(["commercial", "loan"])
        seg = segment(records, fee=rng.choice([0, 500, 1200, 3000]), unit=unit, card_no=card, days=rng.randint(1, 50))
        Segment.objects.filter(pk=seg.pk).update(vehicle_class=rng.choice([1, 2, 11]), discount_fee=0)
        created.append(seg.pk)
    issue_segments(segment_ids=rng.sample(created, 20))
    return records


def _query(user: User, **params: str) -> StatsQuery:
    from support.stats import query_from

    return query_from(params, user=user)


# --- scope ----------------------------------------------------------------------------------------------------------


def test_a_province_user_never_sees_or_counts_another_province(
    make_staff: Callable[..., User], client_for: Callable[[User], Client], many: dict[str, Any]
) -> None:
    jiangsu = make_staff(Role.PROVINCE, "32")
    client = client_for(jiangsu)
    start = days_ago(60).date().isoformat()
    in_jiangsu = Segment.objects.filter(province="32", service_date__gte=start).count()
    for subject in ("segments", "documents"):
        for params in ({"province": "11"}, {}, {"group_by": "province,state"}):
            dates = {"issued_start": start} if subject == "documents" else {"start": start}
            query = _query(jiangsu, subject=subject, **dates, **params)
            stats = statistics(user=jiangsu, query=query)
            assert query.province == "32"
            assert {cell.query.province for cell in stats.cells} <= {"32"}
            assert all(label != "北京" for cell in stats.cells for label in cell.labels)
            if subject == "segments":
                assert stats.total["count"] == in_jiangsu
    # the page, the rows, the exports and the API, asked for Beijing by URL
    for path in ("/stats/", "/stats/rows/"):
        text = _text(client.get(path, {"province": "11", "start": start, "group_by": "province"}))
        found = re.search("北京(?!时间|日期)", text)  # 北京时间, 北京日期: the clock and the note
        assert not found, text[found.start() - 200 : found.end() + 50] if found else ""
        assert "PBEIJING01" not in text and "京藏1" not in text
    exported = client.get("/stats/rows/export.csv", {"province": "11", "start": start})
    assert b"PBEIJING01" not in b"".join(exported.streaming_content)  # type: ignore[attr-defined]
    api = client.get("/api/v1/statistics/", {"province": "11", "start": start, "group_by": "province"}).json()
    assert [row["keys"]["province"] for row in api["rows"]] == ["32"]
    assert api["total"]["count"] == in_jiangsu


def test_a_national_agent_counts_every_province(agent: User, many: dict[str, Any]) -> None:
    start = days_ago(60).date().isoformat()
    stats = statistics(user=agent, query=_query(agent, start=start, group_by="province"))
    assert {cell.keys[0] for cell in stats.cells} == {"11", "32"}
    assert stats.total["count"] == Segment.objects.filter(service_date__gte=start).count()


# --- drill consistency ----------------------------------------------------------------------------------------------

SEGMENT_FILTERS: dict[str, Callable[[random.Random, dict[str, Any]], str]] = {
    "province": lambda rng, w: rng.choice(["32", "11"]),
    "vehicle_class": lambda rng, w: str(rng.choice([1, 2, 11])),
    "card": lambda rng, w: rng.choice([CARD, PREPAID, OTHER_CARD]),
    "card_type": lambda rng, w: rng.choice(["22", "23"]),
    "operator": lambda rng, w: str(rng.choice([w["road"], w["beijing"]]).pk),
    "state": lambda rng, w: rng.choice(
        ["eligible", "in_document", "zero_fee", "not_yet", "topup_invoiced", "released"]
    ),
    "document_kind": lambda rng, w: rng.choice(["invoice", "receipt"]),
    # through segment_plate_date_idx on the raw rows (the rollup has no plate)
    "plate": lambda rng, w: rng.choice(sorted(set(Segment.objects.values_list("plate", flat=True)))),
}
SEGMENT_GROUPS = ["day", "month", "province", "operator", "state", "vehicle_class", "document_kind", "business_line"]


def _raw_segments(start: dt.date, end: dt.date, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every segment as a dict of what the filters and groups read, filtered in Python (the reference)."""
    rows = list(Segment.objects.select_related("toll_unit").filter(service_date__range=(start, end)))
    states = segment_states(segment_ids=[s.pk for s in rows])
    out = []
    for s in rows:
        row = {
            "id": s.pk, "province": s.province, "vehicle_class": str(s.vehicle_class), "card": s.card_no,
            "card_type": str(s.card_type), "operator": str(s.toll_unit.operator_id), "state": state_key(states[s.pk]),
            "document_kind": "receipt" if s.toll_unit.road_nature == 2 else "invoice", "day": s.service_date,
            "month": s.service_date.replace(day=1), "business_line": "etc_trip", "fee": s.fee, "pass_id": s.pass_id,
            "plate": s.plate,
        }  # fmt: skip
        if all(row[key] == value for key, value in params.items()):
            out.append(row)
    return out


def _raw_key(row: dict[str, Any], group: str) -> Any:
    value = row[group]
    return int(value) if group in ("vehicle_class", "operator") else value


@pytest.mark.parametrize("rolled", [False, True], ids=["raw", "rollup-and-raw"])
def test_every_cell_counts_the_rows_its_drill_down_lists_under_random_filters(
    agent: User, many: dict[str, Any], rolled: bool
) -> None:
    """``rolled``: the segment rollup holds the segments so far, and ten more arrive above its watermark."""
    if rolled:
        segment_rollup_refresh()  # records the candidate
        assert segment_rollup_refresh() == Segment.objects.order_by("-id").values_list("id", flat=True).first()
        for days in range(1, 11):
            segment(many, fee=700, unit="loan" if days % 2 else "capital", days=days * 3)
    rng = random.Random(2026)
    today = days_ago(0).date()
    for _ in range(25):
        start = today - dt.timedelta(days=rng.randint(5, 60))
        end = today - dt.timedelta(days=rng.randint(0, 4))
        params = {key: make(rng, many) for key, make in rng.sample(sorted(SEGMENT_FILTERS.items()), rng.randint(0, 3))}
        groups = rng.sample(SEGMENT_GROUPS, rng.randint(0, 2))
        if {"day", "month"} <= set(groups):
            groups.remove("month")
        query = _query(agent, start=start.isoformat(), end=end.isoformat(), group_by=",".join(groups), **params)
        stats = statistics(user=agent, query=query)

        raw = _raw_segments(start, end, params)
        expected = Counter(tuple(_raw_key(row, g) for g in groups) for row in raw)
        fees: dict[tuple[Any, ...], int] = defaultdict(int)
        for row in raw:
            fees[tuple(_raw_key(row, g) for g in groups)] += row["fee"]
        got = {cell.keys: cell.values["count"] for cell in stats.cells if cell.values["count"]}
        assert got == dict(expected), (params, groups)
        assert {cell.keys: cell.values["fee"] for cell in stats.cells if cell.values["count"]} == dict(fees)
        assert stats.total["count"] == len(raw)
        for cell in stats.cells:
            assert drill_count(user=agent, query=cell.query) == cell.values["count"], (params, groups, cell.keys)
            page = drill_page(user=agent, query=cell.query, page=1)
            assert page.total == cell.values["count"]
            assert len(page.rows) == min(cell.values["count"], 50)


DOCUMENT_GROUP_COLUMNS = {"day": "service_date", "province": "province", "operator": "seller_id", "state": "status",
                          "document_kind": "kind", "business_line": "business_line"}  # fmt: skip


def _reverse_some(documents: list[Document], agent: User) -> None:
    from invoicing.issuing import document_reverse

    for document in documents:
        document_reverse(document=document, reason="测试红冲", by=agent)


@pytest.mark.parametrize("rolled", [False, True], ids=["raw", "rollup-and-raw"])
def test_document_cells_count_their_drill_downs_and_the_raw_documents(
    agent: User, many: dict[str, Any], rolled: bool
) -> None:
    """``rolled``: the document rollup holds the documents so far; then two of them are reversed (the rollup follows
    in the reversal's transaction), a refresh runs again, and more documents and a reversal arrive above the
    watermark."""
    from support.stats_rollup import DocumentStatsRollup, document_rollup_refresh

    if rolled:
        document_rollup_refresh()  # records the candidate
        assert document_rollup_refresh() == Document.objects.order_by("-id").values_list("id", flat=True).first()
        _reverse_some(list(Document.objects.order_by("id")[:2]), agent)
        document_rollup_refresh()  # the red documents; the reversed ones are not counted twice
        issue_segments(segment_ids=list(Segment.objects.order_by("-id").values_list("id", flat=True)[:12]))
        _reverse_some(list(Document.objects.order_by("-id")[:1]), agent)  # above the watermark
        rolled_up = DocumentStatsRollup.objects.aggregate(n=Sum("documents"))["n"]
        assert 0 < rolled_up < Document.objects.count()  # some documents counted raw
    rng = random.Random(7)
    start = days_ago(60).date().isoformat()
    for _ in range(12):
        params = {
            key: value
            for key, value in (
                ("province", rng.choice(["32", "11", None])),
                ("document_kind", rng.choice(["invoice", "receipt", None])),
                ("document_status", rng.choice(["issued", "reversed", "red", None])),
            )
            if value
        }
        groups = rng.sample(sorted(DOCUMENT_GROUP_COLUMNS), 2)
        stats = statistics(user=agent, query=_query(agent, subject="documents", issued_start=start,
                                                     group_by=",".join(groups), **params))  # fmt: skip
        raw = Document.objects.filter(service_date__gte=start)
        for key, field in (("province", "province"), ("document_kind", "kind"), ("document_status", "status")):
            if key in params:
                raw = raw.filter(**{field: params[key]})
        expected: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
        for row in raw.values(*(DOCUMENT_GROUP_COLUMNS[g] for g in groups), "amount_tax"):
            counted = expected[tuple(row[DOCUMENT_GROUP_COLUMNS[g]] for g in groups)]
            counted[0] += 1
            counted[1] += row["amount_tax"]
        got = {cell.keys: [cell.values["count"], cell.values["amount_tax"]] for cell in stats.cells}
        assert got == dict(expected), (params, groups)
        assert stats.total["count"] == raw.count()
        assert stats.total["amount_gross"] == sum(d.amount_gross for d in raw)
        for cell in stats.cells:
            assert drill_count(user=agent, query=cell.query) == cell.values["count"]
    if rolled:  # reversed documents moved from "issued" to "reversed" in the rollup itself
        assert _rolled_statuses() == _raw_statuses_to_watermark()
        assert _rolled_statuses()["reversed"] >= 2


def _rolled_statuses() -> dict[str, int]:
    from support.stats_rollup import DocumentStatsRollup

    return dict(DocumentStatsRollup.objects.values("status").annotate(n=Sum("documents")).values_list("status", "n"))


def _raw_statuses_to_watermark() -> dict[str, int]:
    from support.stats_rollup import DOCUMENTS

    rows = Document.objects.filter(id__lte=DOCUMENTS.watermark.objects.get().max_id)
    return dict(rows.values("status").annotate(n=Count("id")).values_list("status", "n"))


@pytest.mark.django_db(transaction=True)
def test_a_reversal_racing_the_document_refresh_is_counted_once(agent: User, many: dict[str, Any]) -> None:
    """A refresh that read a document before its reversal committed: the reversal waits for the refresh's watermark
    and moves the document in the rollup itself."""
    import threading

    from django.db import connections, transaction

    from support.stats_rollup import document_rollup_refresh

    document_rollup_refresh()  # records the candidate: every document so far
    reversed_before = Document.objects.filter(status="reversed").count()
    target = Document.objects.filter(status="issued").order_by("id").first()
    assert target is not None
    refreshed = threading.Event()
    release = threading.Event()

    def refresh_holding_the_watermark() -> None:
        try:
            with transaction.atomic():
                document_rollup_refresh()  # rolls the document up as issued and locks the watermark row
                refreshed.set()
                release.wait(10)
        finally:
            connections.close_all()

    worker = threading.Thread(target=refresh_holding_the_watermark)
    worker.start()
    assert refreshed.wait(10)

    def reverse() -> None:
        try:
            _reverse_some([target], agent)
        finally:
            connections.close_all()

    reverser = threading.Thread(target=reverse)
    reverser.start()
    reverser.join(0.5)
    assert reverser.is_alive()  # waiting for the refresh's watermark
    release.set()
    worker.join(10)
    reverser.join(10)
    assert _rolled_statuses() == _raw_statuses_to_watermark()
    assert _rolled_statuses()["reversed"] == reversed_before + 1


# --- the page -------------------------------------------------------------------------------------------------------


def test_the_page_explains_a_cards_trips_by_state_with_labels_not_codes(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    params = {"plate": "苏A12345", "group_by": "state,vehicle_class", "start": days_ago(60).date().isoformat()}
    response = client.get("/stats/", params)
    assert response.status_code == 200
    text = _text(response)
    for label in ("未到可开票日", "已在票据中", "实收金额为零，不开票", "该笔通行由已开票的充值支付，不能再开票",
                  "原票据已红冲，可重新开票", "一型客车", "¥"):  # fmt: skip
        assert label in text
    table = text.split("合计")[0]
    assert not re.search(r"\b(not_yet|in_document|zero_fee|topup_invoiced|released|etc_trip)\b", table)
    # the drill-down of "not yet invoiceable" lists the waiting trip with its reason and a link to the trip
    rows = client.get("/stats/rows/", {**params, "state": "not_yet"})
    assert "PWAITING01" in _text(rows) and "未到可开票日" in _text(rows)
    assert f'href="/trips/{records["waiting"].pk}/"' in rows.content.decode()


def test_chart_labels_are_escaped(agent: User, client_for: Callable[[User], Client], records: dict[str, Any]) -> None:
    from support.stats_charts import stats_chart

    records["road"].name = "<b>恶意</b>"
    records["road"].save()
    stats = statistics(user=agent, query=_query(agent, group_by="operator", start=days_ago(60).date().isoformat()))
    figure = stats_chart(stats, lambda cell: "/stats/rows/")
    assert "&lt;b&gt;恶意&lt;/b&gt;" in figure["data"][0]["x"]
    assert all("<b>" not in text for text in figure["data"][0]["hovertext"])


# --- exports --------------------------------------------------------------------------------------------------------


def test_the_csv_export_is_utf8_with_a_bom_and_plain_yuan(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    params = {"card": CARD, "group_by": "state", "start": days_ago(60).date().isoformat()}
    body = b"".join(client.get("/stats/export.csv", params).streaming_content)  # type: ignore[attr-defined]
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:2] == ["开票状态及原因", "数量"]
    assert rows[-1][0] == "合计"
    stats = statistics(user=agent, query=_query(agent, **params))
    assert rows[-1][-1] == f"{stats.total['fee'] // 100}.{stats.total['fee'] % 100:02d}"
    rows_body = b"".join(client.get("/stats/rows/export.csv", params).streaming_content)  # type: ignore[attr-defined]
    assert len(list(csv.reader(io.StringIO(rows_body.decode("utf-8-sig"))))) == stats.total["count"] + 1


def test_the_xlsx_export_has_real_numbers_and_dates(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    params = {"card": CARD, "group_by": "day", "start": days_ago(60).date().isoformat()}
    response = client.get("/stats/export.xlsx", params)
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active  # type: ignore[attr-defined]
    first = [cell.value for cell in sheet[2]]
    assert isinstance(first[0], dt.datetime)  # a day is a date cell
    assert isinstance(first[1], int) and all(isinstance(v, int | float | Decimal) for v in first[2:])
    rows = client.get("/stats/rows/export.xlsx", params)
    row_sheet = load_workbook(io.BytesIO(b"".join(rows.streaming_content))).active  # type: ignore[attr-defined]
    values = [cell.value for cell in row_sheet[2]]
    assert isinstance(values[0], dt.datetime) and isinstance(values[13], float | int)


def test_an_export_too_large_is_refused_with_the_count(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("support.views.stats.EXPORT_MAX_ROWS", 1)
    response = client_for(agent).get("/stats/rows/export.csv", {"card": CARD, "start": days_ago(60).date().isoformat()})
    assert response.status_code == 400
    assert "请缩小筛选范围" in response.content.decode()


# --- the API --------------------------------------------------------------------------------------------------------


def test_the_api_answers_the_pages_figures(
    agent: User, client_for: Callable[[User], Client], many: dict[str, Any]
) -> None:
    client = client_for(agent)
    params = {"group_by": "province,state", "start": days_ago(60).date().isoformat()}
    data = client.get("/api/v1/statistics/", params).json()
    stats = statistics(user=agent, query=_query(agent, **params))
    assert data["subject"] == "segments" and data["group_by"] == ["province", "state"]
    assert len(data["rows"]) == len(stats.cells)
    for row, cell in zip(data["rows"], stats.cells, strict=True):
        assert row["values"] == cell.values
        assert row["labels"]["province"] in ("江苏", "北京")
        assert client.get(row["rows_url"]).status_code == 200
    assert data["total"]["count"] == stats.total["count"]
    assert {m["key"] for m in data["measures"]} == {"count", "pay_fee", "discount_fee", "fee"}


def test_the_api_rejects_unknown_groupings_and_values(agent: User, client_for: Callable[[User], Client]) -> None:
    client = client_for(agent)
    assert client.get("/api/v1/statistics/", {"group_by": "color"}).status_code == 400
    assert client.get("/api/v1/statistics/", {"group_by": "day,province,state"}).status_code == 400
    assert client.get("/api/v1/statistics/", {"subject": "planes"}).status_code == 400


def test_the_api_is_in_the_schema(agent: User, client_for: Callable[[User], Client]) -> None:
    schema = client_for(agent).get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/statistics/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"subject", "group_by", "province", "state", "plate"}


def test_a_question_by_state_over_too_many_items_asks_to_narrow_it(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("support.stats.counting.STATE_LIMIT", 2)
    client = client_for(agent)
    params = {"group_by": "state", "start": days_ago(60).date().isoformat()}
    for path in ("/stats/", "/stats/rows/"):
        response = client.get(path, {**params, "state": "not_yet"} if "rows" in path else params)
        assert response.status_code == 200
        assert "请先按卡号、车牌、客户或省份和较短日期缩小范围" in _text(response)
    assert client.get("/api/v1/statistics/", params).status_code == 400
    assert client.get("/stats/export.csv", params).status_code == 400
    # without the state, the same range is counted in the database, whatever its size
    assert client.get("/stats/", {**params, "group_by": "day"}).status_code == 200
    assert "缩小范围" not in _text(client.get("/stats/", {**params, "group_by": "day"}))


def test_the_drill_down_page_makes_a_bounded_number_of_queries_whatever_its_rows(
    agent: User, client_for: Callable[[User], Client], many: dict[str, Any]
) -> None:
    """A page of 50 rows with their states and record links: the count, the page's ids, the rows, the states
    (``segment_states``: five) and the cards — not one query per row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(agent)
    start = days_ago(60).date().isoformat()
    for params in ({"card": CARD, "state": "zero_fee"}, {"state": "in_document"}, {}):
        for subject in ("segments", "documents", "topups"):
            with CaptureQueriesContext(connection) as captured:
                response = client.get("/stats/rows/", {"subject": subject, "start": start, "issued_start": start,
                                                       **params})  # fmt: skip
            assert response.status_code == 200
            rows = response.content.decode().count("<tr>") - 1
            assert len(captured.captured_queries) <= 14, (subject, params, rows)


def test_the_card_and_customer_pages_open_their_statistics_by_month_and_state(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    card = records["cards"]["post"]
    for page, wanted in ((f"/cards/{card.pk}/", f"card={card.card_no}"),
                         (f"/customers/{records['customer'].pk}/", f"customer={records['customer'].pk}")):  # fmt: skip
        link = re.search(r'href="(/stats/\?[^"]+)" data-stats-link', client.get(page).content.decode())
        assert link is not None and wanted in link.group(1)
        stats = client.get(link.group(1).replace("&amp;", "&"))
        text = _text(stats)
        assert "未到可开票日" in text and "已在票据中" in text
        assert re.search(r"\d{4}-\d{2}", text)  # months


def test_a_filter_with_an_invalid_value_is_said_to_be_dropped_and_a_long_plate_still_filters(
    agent: User, client_for: Callable[[User], Client], records: dict[str, Any]
) -> None:
    client = client_for(agent)
    text = _text(client.get("/stats/", {"customer": "abc", "vehicle_class": "99", "start": "2026-13-01"}))
    assert "以下筛选条件的值无效，未生效" in text and "客户编号" in text and "收费车型" in text
    long_plate = client.get("/api/v1/statistics/", {"plate": "苏A123456789012", "group_by": ""})
    assert long_plate.status_code == 400  # the API refuses what the page reports
    page = _text(client.get("/stats/", {"plate": "苏A123456789012", "group_by": "", "start": "2026-01-01"}))
    assert "以下筛选条件的值无效" not in page
    stats = statistics(user=agent, query=_query(agent, plate="苏A123456789012", start="2026-01-01"))
    assert stats.total["count"] == 0  # filtered (no such plate), not dropped


def test_the_rollup_waits_for_transactions_open_when_its_candidate_was_read(many: dict[str, Any]) -> None:
    from support.stats_rollup import SegmentRollupWatermark

    assert segment_rollup_refresh() == 0  # a first run only records the candidate
    mark = SegmentRollupWatermark.objects.get()
    assert mark.candidate_id == Segment.objects.order_by("-id").values_list("id", flat=True).first()
    assert segment_rollup_refresh() == mark.candidate_id  # no other transaction was open since
    assert sum(SegmentRollup.objects.values_list("segments", flat=True)) == Segment.objects.count()
    # a run with nothing new moves nothing and counts nothing twice
    assert segment_rollup_refresh() == mark.candidate_id
    assert sum(SegmentRollup.objects.values_list("segments", flat=True)) == Segment.objects.count()


def test_segment_statistics_read_the_rollup_below_its_watermark_and_raw_segments_above(
    agent: User, many: dict[str, Any]
) -> None:
    from django.db.models import F

    start = days_ago(60).date().isoformat()
    before = statistics(user=agent, query=_query(agent, start=start, group_by="")).total["count"]
    segment_rollup_refresh()
    segment_rollup_refresh()
    SegmentRollup.objects.filter(pk=SegmentRollup.objects.order_by("pk").first().pk).update(  # type: ignore[union-attr]
        segments=F("segments") + 1000
    )  # a rollup row tampered with: the figures show it, so they came from the rollup
    assert statistics(user=agent, query=_query(agent, start=start, group_by="")).total["count"] == before + 1000
    segment(many, fee=900, days=5)  # above the watermark: counted from the raw segments
    assert statistics(user=agent, query=_query(agent, start=start, group_by="")).total["count"] == before + 1001
    # a filter the rollup does not have (a card) reads the raw segments only
    card = statistics(user=agent, query=_query(agent, start=start, card=CARD, group_by="")).total["count"]
    assert card == Segment.objects.filter(card_no=CARD, service_date__gte=start).count()


def test_the_rollup_task_runs_the_refresh_and_beat_schedules_it(many: dict[str, Any]) -> None:
    from django.conf import settings

    from support.tasks import document_rollup_task, segment_rollup_task

    assert settings.CELERY_BEAT_SCHEDULE["rollup-segment-stats"]["task"] == "support.tasks.segment_rollup_task"
    assert settings.CELERY_BEAT_SCHEDULE["rollup-document-stats"]["task"] == "support.tasks.document_rollup_task"
    segment_rollup_task()
    assert segment_rollup_task() == Segment.objects.order_by("-id").values_list("id", flat=True).first()
    document_rollup_task()
    assert document_rollup_task() == Document.objects.order_by("-id").values_list("id", flat=True).first()


def test_invoices_of_a_company_per_month_this_year_with_their_tax(
    agent: User, client_for: Callable[[User], Client], many: dict[str, Any]
) -> None:
    """The issue's second question: "how many invoices of this company per month this year, and how much tax"."""
    year = f"{days_ago(0).year}-01-01"
    params = {"subject": "documents", "buyer": "张三", "issued_start": year, "group_by": "month"}
    stats = statistics(user=agent, query=_query(agent, **params))
    raw = Document.objects.filter(buyer_name__icontains="张三", service_date__gte=year)
    assert stats.total["count"] == raw.count() > 0
    assert stats.total["amount_tax"] == sum(d.amount_tax for d in raw)
    by_month = Counter(d.service_date.strftime("%Y-%m") for d in raw)
    assert {cell.labels[0]: cell.values["count"] for cell in stats.cells} == dict(by_month)
    text = _text(client_for(agent).get("/stats/", params))
    assert "税额" in text and "价税合计" in text
