"""What replaces the foreign keys between documents, lines, items and events (ADR 0003 addendum, scale-notes rule 3):
the writer inserts a document with its lines, items and "issued" event in one transaction, so after any run, reversal
or reissue every line, item and event points at an existing document, and every item at a line of its own document.
The check is one cheap query, the one an operator can run on a live database.

And the set-based writer of per-trip documents (``invoicing.issuing.grouping``) agrees with the rules it shares with
the in-memory path: the same eligibility as ``segment_states``, the same tax split as ``tax.split_gross``, the same
split of long documents, the same retry after a lost race."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from invoicing.eligibility import eligible_segment_rows_sql, segment_states
from invoicing.issuing import (
    document_reissue,
    document_reverse,
    grouping,
    issue_run_create_daily,
    issue_run_daily,
    issue_segments,
    issue_topups,
)
from invoicing.models import (
    BuyerTitle,
    CardBinding,
    CardPrepaidChoice,
    Customer,
    Document,
    DocumentItem,
    DocumentLine,
    DocumentStatus,
    NumberSeries,
    PrepaidChoice,
)
from invoicing.tax import SAFE_LINES_PER_INVOICE, split_gross
from piaogen.models import User
from tests.fixtures import issuing
from tests.fixtures.issuing import CARD, POST_CARD, TODAY, at, live_items, segment, topup
from tolling.models import Segment, TollUnit

world = issuing.world  # the fixture

# every count must be 0; each names what it counts
CONSISTENCY_SQL = """
SELECT 'lines without their document', count(*) FROM invoicing_documentline l
    WHERE NOT EXISTS (SELECT 1 FROM invoicing_document d WHERE d.id = l.document_id)
UNION ALL
SELECT 'lines that do not carry their document''s date and card (scale-notes rule 1)', count(*)
    FROM invoicing_documentline l JOIN invoicing_document d ON d.id = l.document_id
    WHERE l.service_date IS DISTINCT FROM d.service_date OR l.card_no <> d.card_no
UNION ALL
SELECT 'items without their document', count(*) FROM invoicing_documentitem i
    WHERE NOT EXISTS (SELECT 1 FROM invoicing_document d WHERE d.id = i.document_id)
UNION ALL
SELECT 'items without a line of their document', count(*) FROM invoicing_documentitem i
    WHERE NOT EXISTS (SELECT 1 FROM invoicing_documentline l WHERE l.id = i.line_id AND l.document_id = i.document_id)
UNION ALL
SELECT 'events without their document', count(*) FROM invoicing_documentevent e
    WHERE NOT EXISTS (SELECT 1 FROM invoicing_document d WHERE d.id = e.document_id)
UNION ALL
SELECT 'red or reissued documents without their original', count(*) FROM invoicing_document r
    WHERE (r.original_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM invoicing_document d WHERE d.id = r.original_id))
       OR (r.replaces_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM invoicing_document d WHERE d.id = r.replaces_id))
UNION ALL
SELECT 'documents whose lines do not add up to them', count(*) FROM invoicing_document d
    WHERE d.amount_gross <> (SELECT coalesce(sum(l.amount_gross), 0) FROM invoicing_documentline l
                             WHERE l.document_id = d.id)
UNION ALL
SELECT 'lines of a positive document whose items do not add up to them', count(*) FROM invoicing_documentline l
    JOIN invoicing_document d ON d.id = l.document_id AND d.status <> 'red'
    WHERE l.amount_gross <> (SELECT coalesce(sum(i.amount), 0) FROM invoicing_documentitem i WHERE i.line_id = l.id)
UNION ALL
SELECT 'positive documents without an issued event', count(*) FROM invoicing_document d
    WHERE d.status <> 'red'
      AND NOT EXISTS (SELECT 1 FROM invoicing_documentevent e WHERE e.document_id = d.id AND e.kind = 'issued')
"""


def inconsistencies() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(CONSISTENCY_SQL)
        return {what: count for what, count in cursor.fetchall() if count}


def a_daily_run(world: dict[str, Any]) -> None:
    for day in range(1, 4):
        segment(world, exit_time=at(day), fee=1000 + day)  # one plate: lines by plate, one document per chunk
        segment(world, exit_time=at(day), fee=2000 + day, plate=f"苏B{day:05d}", unit="bridge")
        segment(world, exit_time=at(day, hour=13), fee=500 + day, unit="loan")  # fiscal receipts
    topup(world, when=at(2), amount=5000, card_no=CARD)
    CardPrepaidChoice.objects.create(card_no=CARD, choice=PrepaidChoice.AT_TOPUP, valid_from=at(1))
    run, _ = issue_run_create_daily(business_date=dt.date(2026, 11, 10))
    issue_run_daily(run_id=run.pk, chunk_size=4)


def test_after_a_daily_run_every_line_item_and_event_points_at_its_document(world: dict[str, Any]) -> None:
    a_daily_run(world)

    assert Document.objects.count() >= 4 and DocumentLine.objects.count() >= 5 and DocumentItem.objects.count() == 10
    assert inconsistencies() == {}


def test_after_a_reversal_and_a_reissue_the_documents_still_hold_together(world: dict[str, Any], agent: User) -> None:
    a_daily_run(world)
    reversed_one, reissued_one = Document.objects.filter(kind="invoice").order_by("id")[:2]
    company = BuyerTitle.objects.create(
        customer=world["customer"],
        kind="company",
        name="某某物流有限公司",
        tax_id="91110000600037341L",
        valid_from=at(20),
    )

    red = document_reverse(document=reversed_one, reason="开错", by=agent)
    new = document_reissue(document=reissued_one, title=company, reason="抬头错误", by=agent)

    assert (red.status, red.original_id, new.replaces_id) == (DocumentStatus.RED, reversed_one.pk, reissued_one.pk)
    assert new.lines.count() == reissued_one.lines.count() and new.items.count() == reissued_one.items.count()
    assert inconsistencies() == {}


def test_the_check_finds_an_item_whose_document_is_gone(world: dict[str, Any]) -> None:
    """The database no longer refuses such a row (no constraint): the query is what notices it."""
    a_daily_run(world)
    item = DocumentItem.objects.order_by("id").first()
    assert item is not None

    DocumentItem.objects.filter(pk=item.pk).update(document_id=10**12)

    assert inconsistencies() == {"items without their document": 1, "items without a line of their document": 1}


def test_documents_lines_items_and_events_have_no_foreign_key_constraints_between_them(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
            "AND confrelid::regclass::text IN ('invoicing_document', 'invoicing_documentline', "
            "'invoicing_summarysheet') AND conrelid::regclass::text <> 'invoicing_summarysheet_documents'"
        )
        assert cursor.fetchall() == []


# --- the set-based writer of per-trip documents -------------------------------------------------------------------


def eligible_ids(ids: list[int], today: dt.date) -> set[int]:
    sql, params = eligible_segment_rows_sql(segment_ids=ids, today=today)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def test_the_set_based_eligibility_is_exactly_segment_states(world: dict[str, Any]) -> None:
    stranger = "32010000000000000077"  # never bound: no buyer
    no_rate = TollUnit.objects.create(
        code="G0001320010040A0", name="无税率", province="32", operator=world["road"], road_nature=1
    )
    paid = topup(world, when=at(1), amount=1000, card_no=CARD)
    segs = [
        segment(world, exit_time=at(2), fee=1000),  # eligible
        segment(world, exit_time=at(2), fee=700, unit="loan"),  # eligible, fiscal receipt
        segment(world, exit_time=at(2), fee=0),  # zero fee
        segment(world, exit_time=at(28), fee=1000),  # not yet on 12-01
        segment(world, exit_time=at(2), fee=1000, card_no=stranger),  # no buyer
        segment(world, exit_time=at(3), fee=800, card_no=CARD, card_type=22),  # paid from the top-up
        segment(world, exit_time=at(4), fee=900, plate="苏B00009"),  # issued below: in a document
    ]
    segs.append(Segment.objects.create(**{**_fields(segs[0]), "pass_id": "PNORATE", "toll_unit_id": no_rate.pk}))
    issue_segments(segment_ids=[segs[6].pk], today=TODAY)
    issue_topups(topup_ids=[paid.pk])  # the top-up invoiced: the trip it paid is ineligible for ever
    ids = [s.pk for s in segs]
    today = dt.date(2026, 12, 1)

    expected = {i for i, state in segment_states(segment_ids=ids, today=today).items() if state.eligible}

    assert eligible_ids(ids, today) == expected == {segs[0].pk, segs[1].pk}


def _fields(seg: Segment) -> dict[str, Any]:
    return {f.attname: getattr(seg, f.attname) for f in Segment._meta.concrete_fields if f.attname != "id"}


def test_the_set_based_tax_split_is_split_gross_for_every_amount_up_to_2000_yuan(db: None) -> None:
    with connection.cursor() as cursor:
        for rate in (Decimal("0.03"), Decimal("0.05"), Decimal("0.09")):
            cursor.execute(
                "SELECT g, round(g / (1 + %s::numeric(4, 3)))::bigint FROM generate_series(0, 200000) g ORDER BY g",
                [rate],
            )
            rows = cursor.fetchall()
            assert len(rows) == 200001
            assert [net for _g, net in rows] == [split_gross(gross, rate)[0] for gross, _net in rows]


def test_a_group_longer_than_the_safe_line_count_is_split_into_documents(world: dict[str, Any]) -> None:
    first = segment(world, exit_time=at(2), fee=1000, plate="苏A00000")
    base = _fields(first)
    Segment.objects.bulk_create(
        Segment(**{**base, "pass_id": f"PLONG{n:04d}", "plate": f"苏A{n:05d}"})
        for n in range(1, SAFE_LINES_PER_INVOICE + 1)
    )
    ids = list(Segment.objects.order_by("id").values_list("id", flat=True))

    documents = issue_segments(segment_ids=ids, today=TODAY)

    assert [d.lines.count() for d in documents] == [SAFE_LINES_PER_INVOICE, 1]
    first_line = documents[0].lines.order_by("line_no").first()
    assert first_line is not None and first_line.plate == "苏A00000"  # lines in the order of their segments
    assert sum(d.amount_gross for d in documents) == 1000 * (SAFE_LINES_PER_INVOICE + 1)
    assert inconsistencies() == {}


def test_a_lost_race_on_the_set_based_path_is_retried_without_the_taken_segment(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose eligibility read is stale (another worker issued one of its segments since) fails on the
    partial unique index, rolls the attempt back (numbers included) and tries again without that segment."""
    taken = segment(world, exit_time=at(2), fee=1000)
    free = segment(world, exit_time=at(2), fee=2000, plate="苏C00001")
    (first,) = issue_segments(segment_ids=[taken.pk], today=TODAY)
    real = grouping.eligible_segment_rows_sql
    calls: list[int] = []

    def stale_once(*, segment_ids: list[int], today: dt.date | None = None) -> tuple[str, list[Any]]:
        calls.append(1)
        sql, params = real(segment_ids=segment_ids, today=today)
        if len(calls) > 1:
            return sql, params
        # the first read still sees ``taken`` as free: its row as it was before ``first`` was issued
        stale = (
            "SELECT %s::bigint, %s::varchar, %s::timestamptz, %s::date, %s::bigint, %s::varchar, %s::smallint, "
            "%s::numeric, %s::smallint, %s::bigint, %s::bigint, %s::bigint"
        )
        row = [taken.pk, taken.card_no, taken.exit_time, taken.service_date, taken.fee, taken.plate]
        row += [taken.vehicle_class, Decimal("0.03"), 1, world["road"].pk, world["customer"].pk, world["title"].pk]
        return f"{sql} UNION ALL {stale}", [*params, *row]

    monkeypatch.setattr(grouping, "eligible_segment_rows_sql", stale_once)

    (second,) = issue_segments(segment_ids=[taken.pk, free.pk], today=TODAY)

    assert len(calls) == 2 and second.amount_gross == 2000
    assert [i.document_id for i in live_items(taken)] == [first.pk]
    assert sorted(int(d.number[-15:]) for d in Document.objects.all()) == [1, 2]  # the failed attempt's number back
    assert NumberSeries.objects.get().next_value == 3
    assert inconsistencies() == {}


def test_per_trip_and_merged_documents_of_one_day_match_field_by_field(world: dict[str, Any]) -> None:
    """The same segments issued per trip and as a would-be merge of one day (one grouping statement, ``grouping``,
    for both: a single day's trips group alike) give the same documents, only the merged ones marked so."""
    other = Customer.objects.create(name="李四", phone="13900000009")
    CardBinding.objects.create(customer=other, card_no="32010000000000000009", bound_at=at(1, month=10))
    BuyerTitle.objects.create(customer=other, kind="person", name="李四", valid_from=at(1, month=10))
    specs: list[dict[str, Any]] = [
        {"fee": 23276},
        {"fee": 10000, "unit": "bridge", "plate": "苏B11111", "vehicle_class": 11},
        {"fee": 4560, "unit": "bridge", "plate": "苏B11111", "vehicle_class": 11},
        {"fee": 35, "unit": "loan"},
        {"fee": 100, "card_no": "32010000000000000009", "plate": "苏E00001", "vehicle_class": 21},
    ]
    first = [segment(world, exit_time=at(3), **spec) for spec in specs]
    second = [segment(world, exit_time=at(3), **spec) for spec in specs]

    set_based = issue_segments(segment_ids=[s.pk for s in first], today=TODAY)
    in_memory = issue_segments(segment_ids=[s.pk for s in second], today=TODAY, merged=True)
    assert {d.is_merged for d in set_based} == {False}
    assert {d.is_merged for d in in_memory} == {True}

    def shape(documents: list[Document]) -> list[tuple[Any, ...]]:
        return [
            (
                d.kind,
                d.seller_id,
                d.title_id,
                d.customer_id,
                d.buyer_name,
                d.card_no,
                d.tax_rate,
                d.amount_net,
                d.amount_tax,
                d.period_start,
                d.period_end,
                [
                    (line.item_name, line.plate, line.vehicle_type, line.amount_net, line.amount_tax, line.date_from)
                    for line in d.lines.order_by("line_no")
                ],
                list(d.events.values_list("kind", "data__items")),
            )
            for d in documents
        ]

    assert len(set_based) == 4
    assert shape(set_based) == shape(in_memory)
    assert [d.number[:5] for d in set_based] == [d.number[:5] for d in in_memory]
    assert POST_CARD in {d.card_no for d in set_based}
    assert inconsistencies() == {}
