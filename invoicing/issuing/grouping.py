"""Grouping items into documents and writing them, in PostgreSQL, for trips (per trip and the monthly merge),
back-charges, paper tickets and taxi rides: the statements of ``sql/`` (whole, named statements a reader can open
and run), run in order in the issuing attempt's transaction. Python only chooses the item kind's row statement,
takes the numbers (``numbering.document_numbers``, the one place for them) and passes them in. This is the one home
of grouping (domain.md §4.7): no Python form of it exists. Top-ups are one document each (``drafts.topup_drafts``).

1. ``<kind>_rows.sql`` — the call's eligible items (the item kind's eligibility statement, nested) with their
   grouping keys: document kind, seller, buyer title version, rate, plate, vehicle type (temp table ``issue_rows``);
2. ``lines.sql`` — the grouping: one document per (kind, seller, buyer title version, rate), lines by (plate,
   vehicle type) with the date range, a group of more than ``tax.SAFE_LINES_PER_INVOICE`` lines split, the tax split
   per line after aggregation (``issue_lines``);
3. ``documents.sql`` — one row per document with its totals and its place in its number series (``issue_docs``);
4. ``series_counts.sql`` — how many numbers each series needs; numbers taken late, one block per series, series
   in the order of ADR 0002;
5. – 8. ``insert_documents.sql``, ``insert_lines.sql``, ``insert_items.sql``, ``insert_events.sql`` — the rows, ids
   from the sequences, in the same transaction.

Work tables are temporary (``ON COMMIT DROP``, rolled back with the attempt's savepoint) and not analysed: the
planner sizes a fresh table from its pages, which is enough for these hash joins (ANALYZE cost more than it saved).
Exactly once is unchanged: the partial unique index on live items refuses a second live item, ``writing.items_issue``
retries.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.db import connection
from django.utils import timezone

from invoicing.eligibility import (
    BEIJING,
    ServiceDates,
    document_kind_for,
    eligible_segment_rows_sql,
    id_list,
    statement,
    trip_cutoff,
)
from invoicing.issuing.drafts import ITEM_FISCAL, ITEM_TAXI, ITEM_TOLL, vehicle_type
from invoicing.issuing.writing import Written
from invoicing.models import BusinessLine, BuyerTitle, DocumentKind, DocumentStatus, IssueRun, ItemKind
from invoicing.numbering import document_numbers
from invoicing.statements import Statement, statement_load
from invoicing.tax import SAFE_LINES_PER_INVOICE
from piaogen.identifiers import VehicleClass
from piaogen.models import User
from tolling.models import RoadNature

SQL_DIR = Path(__file__).resolve().parent / "sql"

LINE_OF_ITEMS: dict[str, tuple[str, str]] = {
    ItemKind.SEGMENT: (BusinessLine.ETC_TRIP, ITEM_TOLL),
    ItemKind.AUDIT_CHARGE: (BusinessLine.AUDIT, ITEM_TOLL),
    ItemKind.PAPER_TICKET: (BusinessLine.PAPER, ITEM_TOLL),
    ItemKind.TAXI_RIDE: (BusinessLine.TAXI, ITEM_TAXI),
}
"""Per kind of item grouped here: its documents' business line and the item name of their lines (a fiscal receipt's
lines carry ``ITEM_FISCAL`` whatever the kind)."""


def _sql(name: str, *, states: Statement | None = None, **values: Any) -> Statement:
    return statement_load(SQL_DIR / name, states=states, **values)


def _road_values() -> dict[str, Any]:
    """The document kind of each road nature (``eligibility.document_kind_for``) as the row statements take it."""
    natures = list(RoadNature.values)
    return {
        "loan": RoadNature.LOAN.value,
        "natures": natures,
        "kinds": [str(document_kind_for(nature)) for nature in natures],
    }


def _vehicle_values() -> dict[str, Any]:
    """The printed 类型 of each vehicle class (``drafts.vehicle_type``) as the row statements take it."""
    classes = list(VehicleClass.values)
    return {"classes": classes, "vehicle_types": [vehicle_type(vehicle_class) for vehicle_class in classes]}


def segment_rows(ids: Sequence[int], *, today: dt.date | None, service_dates: ServiceDates | None = None) -> Statement:
    """``sql/segment_rows.sql`` for the eligible ones of segments ``ids`` (``eligible_segment_rows_sql``)."""
    bounds = {"service_dates": service_dates} if service_dates is not None else {}
    eligible = eligible_segment_rows_sql(segment_ids=ids, today=today, **bounds)
    return _sql("segment_rows.sql", states=eligible, **_road_values(), **_vehicle_values())


def audit_charge_rows(ids: Sequence[int], *, title: BuyerTitle | None = None) -> Statement:
    """``sql/audit_charge_rows.sql`` for back-charges ``ids``; ``title``: a claim's buyer, used instead."""
    states = statement("audit_charge_states.sql", ids=id_list(ids), date_to=None, province=None)
    return _sql("audit_charge_rows.sql", states=states, title=title.pk if title else None, **_road_values())


def paper_ticket_rows(ids: Sequence[int], *, title: BuyerTitle, today: dt.date | None) -> Statement:
    """``sql/paper_ticket_rows.sql`` for paper tickets ``ids`` claimed by ``title``; day 7 on Beijing ``today``."""
    states = statement("paper_ticket_states.sql", ids=id_list(ids), cutoff=trip_cutoff(today))
    values = {**_road_values(), **_vehicle_values()}
    return _sql("paper_ticket_rows.sql", states=states, title=title.pk, **values)


def taxi_ride_rows(ids: Sequence[int], *, title: BuyerTitle) -> Statement:
    """``sql/taxi_ride_rows.sql`` for taxi rides ``ids`` claimed by ``title``."""
    states = statement("taxi_ride_states.sql", ids=id_list(ids))
    return _sql("taxi_ride_rows.sql", states=states, title=title.pk, kind=DocumentKind.DIGITAL_INVOICE.value)


def documents_group_write(
    item_kind: str, rows: Statement, *, run: IssueRun | None, by: User | None, merged: bool = False
) -> Written:
    """Group the items ``rows`` chooses (a ``<kind>_rows.sql`` statement) and write their documents (see the module
    docstring); inside ``writing.items_issue``'s attempt, after the item locks. Returns what was written in
    document order, like ``writing.documents_write``. ``merged``: the monthly merge's documents (``is_merged``)."""
    business_line, item_name = LINE_OF_ITEMS[item_kind]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.issue_rows, pg_temp.issue_lines, pg_temp.issue_docs")
        cursor.execute("SET LOCAL jit = off")  # see eligibility.jit_off: inside items_issue's transaction already
        # No parallel plan for a chunk: its anti-join against the live items went parallel, each worker building
        # the same hash of every live item; serial was faster on the 2-core machine (median 206 against 249 ms a
        # chunk of 5,000, busy) and costs a third of the CPU. Until the transaction ends, like the JIT setting.
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute(*rows)
        if cursor.rowcount == 0:
            return Written([], [])
        cursor.execute(*_sql("lines.sql", lines_per_document=SAFE_LINES_PER_INVOICE))
        cursor.execute(*_sql("documents.sql"))
        cursor.execute(*_sql("series_counts.sql"))
        counts = {(kind, province): count for kind, province, count in cursor.fetchall()}

        now = timezone.now()
        issued_on = timezone.localdate(now, timezone=BEIJING)
        series: dict[str, Any] = {"series_kinds": [], "series_provinces": [], "series_codes": []}
        offsets: list[int] = []
        numbers: list[str] = []
        for (kind, province), (code, taken) in document_numbers(counts=counts, issued_on=issued_on).items():
            series["series_kinds"].append(kind)
            series["series_provinces"].append(province)
            series["series_codes"].append(code)
            offsets.append(len(numbers))
            numbers.extend(taken)

        run_id = run.pk if run is not None else None
        cursor.execute(
            *_sql(
                "insert_documents.sql",
                **series,
                series_offsets=offsets,
                numbers=",".join(numbers),  # digits only
                business_line=business_line,
                status=DocumentStatus.ISSUED.value,
                issued_at=now,
                issued_on=issued_on,
                merged=merged,
                run=run_id,
            )
        )
        written: list[tuple[Any, ...]] = sorted(cursor.fetchall())  # ids were drawn in document order
        fiscal = DocumentKind.FISCAL_RECEIPT.value
        line_names: dict[str, Any] = {"fiscal": fiscal, "fiscal_item_name": ITEM_FISCAL, "item_name": item_name}
        cursor.execute(*_sql("insert_lines.sql", **line_names, issued_on=issued_on))
        cursor.execute(*_sql("insert_items.sql", item_kind=item_kind))  # the partial unique index decides races
        data = json.dumps({"run": run_id} if run is not None else {})
        cursor.execute(*_sql("insert_events.sql", at=now, by=by.pk if by is not None else None, data=data))
    return Written([row[0] for row in written], [row[1] for row in written])
