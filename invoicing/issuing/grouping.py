"""Issuing trips (segments), per trip and in the monthly merge: eligibility, grouping, the tax split and the
inserts run in PostgreSQL; Python only takes the numbers (``numbering.document_numbers``, the one place for them)
and passes them in. This is the one home of segment grouping: no Python form of it exists. Top-ups, back-charges,
paper tickets and taxi rides (few items, a claim's title) are grouped in memory by ``drafts`` by the same rule
(§4.7) and written by ``writing.documents_write``:

- eligible segments: ``eligibility.eligible_segment_rows_sql`` (the rules of ``segment_states``, one statement);
- one document per (kind, seller, buyer title version, rate) (domain.md §4.7), in the order of
  ``drafts.group_order``; lines by (plate, vehicle type) with the date range, in the order of their first
  segment; a group of more than ``tax.SAFE_LINES_PER_INVOICE`` lines is split into documents of that many lines;
- the tax split per line, after aggregation: ``net = round_half_up(gross / (1 + r))`` in fen, ``tax = gross − net``
  — PostgreSQL's ``round(numeric)`` rounds halves away from zero, which is half up for the non-negative amounts
  issued here; ``tests/invoicing/test_issuing_consistency.py`` compares it with ``tax.split_gross`` for every
  amount up to ¥2,000 at each rate. ``tax.check_invoice`` cannot fail for documents of at most
  ``SAFE_LINES_PER_INVOICE`` lines (proved in ``invoicing.tax``), so it is not run again here;
- numbers late, one block per series for the whole chunk, series in the order of ADR 0002;
- documents, lines, items and the "issued" events in the same transaction, ids from the sequences.

Work tables are temporary (``ON COMMIT DROP``, rolled back with the attempt's savepoint) and not analysed: the
planner sizes a fresh table from its pages, which is enough for these hash joins (ANALYZE cost more than it saved).
Exactly once is unchanged: the partial unique index on live items refuses a second live item, ``writing.items_issue``
retries.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import connection
from django.utils import timezone

from invoicing.eligibility import BEIJING, ServiceDates, document_kind_for, eligible_segment_rows_sql
from invoicing.issuing.drafts import ITEM_FISCAL, ITEM_TOLL, vehicle_type
from invoicing.issuing.writing import Written
from invoicing.models import BusinessLine, DocumentKind, DocumentStatus, IssueRun, ItemKind
from invoicing.numbering import document_numbers
from invoicing.tax import SAFE_LINES_PER_INVOICE
from piaogen.identifiers import VehicleClass
from piaogen.models import User
from tolling.models import RoadNature

# the document kind of each road nature and the printed 类型 of each vehicle class come in as tables made by
# ``eligibility.document_kind_for`` and ``drafts.vehicle_type`` (the rules' one home; both columns have a CHECK
# constraint on the enum's values, so every row finds its entry)
_ROWS_SQL = """
CREATE TEMP TABLE issue_rows ON COMMIT DROP AS
SELECT e.i AS id, e.card_no, e.service_date, e.fee, e.plate, e.seller, e.title_id, k.kind,
    CASE WHEN e.nature = %s THEN NULL ELSE e.rate END AS rate, v.vtype
FROM ({eligible}) e
JOIN unnest(%s::int[], %s::varchar[]) AS k(nature, kind) ON k.nature = e.nature
JOIN unnest(%s::int[], %s::varchar[]) AS v(class, vtype) ON v.class = e.vehicle_class
"""

# grp: the document group in the order of drafts.group_order; part: the document within the group (lines split by
# SAFE_LINES_PER_INVOICE); lines in the order of their first segment
_LINES_SQL = """
CREATE TEMP TABLE issue_lines ON COMMIT DROP AS
SELECT l.*, l.rank / %s AS part, l.rank %% %s + 1 AS line_no,
    CASE WHEN l.rate IS NULL THEN l.gross ELSE round(l.gross / (1 + l.rate))::bigint END AS net,
    nextval(pg_get_serial_sequence('invoicing_documentline', 'id')) AS line_id
FROM (
    SELECT kind, seller, title_id, rate, plate, vtype, sum(fee)::bigint AS gross,
        min(service_date) AS date_from, max(service_date) AS date_to, min(card_no) AS card_min,
        max(card_no) AS card_max, count(*) AS items,
        dense_rank() OVER (ORDER BY kind, seller, title_id, rate NULLS FIRST) AS grp,
        row_number() OVER (PARTITION BY kind, seller, title_id, rate ORDER BY min(id)) - 1 AS rank
    FROM issue_rows
    GROUP BY kind, seller, title_id, rate, plate, vtype
) l
"""

# n: the document's place in its number series; ids drawn in document order
_DOCS_SQL = """
CREATE TEMP TABLE issue_docs ON COMMIT DROP AS
SELECT nextval(pg_get_serial_sequence('invoicing_document', 'id')) AS id, d.*
FROM (
    SELECT l.grp, l.part, min(l.kind) AS kind, min(l.seller) AS seller, min(l.title_id) AS title_id,
        min(l.rate) AS rate, min(o.province) AS province, sum(l.gross)::bigint AS gross, sum(l.net)::bigint AS net,
        min(l.date_from) AS period_start, max(l.date_to) AS period_end,
        CASE WHEN min(l.card_min) = max(l.card_max) THEN min(l.card_min) ELSE '' END AS card_no,
        sum(l.items)::bigint AS items,
        row_number() OVER (PARTITION BY min(l.kind), min(o.province) ORDER BY l.grp, l.part) AS n
    FROM issue_lines l JOIN tolling_operator o ON o.id = l.seller
    GROUP BY l.grp, l.part
    ORDER BY l.grp, l.part
) d
"""

_INSERT_DOCUMENTS_SQL = """
WITH s AS (
        SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::int[]) AS s(kind, province, code, off)
    ),
    nums AS (SELECT * FROM unnest(string_to_array(%s, ',')) WITH ORDINALITY AS u(number, pos))
INSERT INTO invoicing_document (id, kind, business_line, status, code, number, issued_at, service_date, province,
    seller_id, seller_name, seller_tax_id, customer_id, title_id, buyer_name, buyer_tax_id, card_no, tax_rate,
    amount_net, amount_tax, amount_gross, period_start, period_end, is_merged, original_id, replaces_id, remarks,
    pdf, run_id)
SELECT d.id, d.kind, %s, %s, s.code, nums.number, %s, %s, d.province, d.seller, o.name, o.tax_id,
    t.customer_id, d.title_id, t.name, t.tax_id, d.card_no, d.rate, d.net, d.gross - d.net, d.gross,
    d.period_start, d.period_end, %s, NULL, NULL, '', '', %s
FROM issue_docs d JOIN s ON s.kind = d.kind AND s.province = d.province JOIN nums ON nums.pos = s.off + d.n
JOIN tolling_operator o ON o.id = d.seller JOIN invoicing_buyertitle t ON t.id = d.title_id
RETURNING id, code || number
"""

_INSERT_LINES_SQL = """
INSERT INTO invoicing_documentline (id, document_id, line_no, item_name, plate, vehicle_type, date_from, date_to,
    tax_rate, amount_net, amount_tax, amount_gross, service_date, card_no)
SELECT l.line_id, d.id, l.line_no, CASE WHEN l.kind = %s THEN %s ELSE %s END, l.plate, l.vtype, l.date_from,
    l.date_to, l.rate, l.net, l.gross - l.net, l.gross, %s, d.card_no
FROM issue_lines l JOIN issue_docs d ON d.grp = l.grp AND d.part = l.part
"""

_INSERT_ITEMS_SQL = """
INSERT INTO invoicing_documentitem (document_id, line_id, item_kind, item_id, service_date, card_no, amount, live)
SELECT d.id, l.line_id, %s, r.id, r.service_date, r.card_no, r.fee, true
FROM issue_rows r
JOIN issue_lines l ON l.kind = r.kind AND l.seller = r.seller AND l.title_id = r.title_id
    AND coalesce(l.rate, -1) = coalesce(r.rate, -1) AND l.plate = r.plate AND l.vtype = r.vtype
JOIN issue_docs d ON d.grp = l.grp AND d.part = l.part
"""

_INSERT_EVENTS_SQL = """
INSERT INTO invoicing_documentevent (document_id, kind, at, by_id, data)
SELECT d.id, 'issued', %s, %s, %s::jsonb || jsonb_build_object('items', d.items) FROM issue_docs d
"""


def segment_documents_write(
    ids: list[int],
    *,
    run: IssueRun | None,
    by: User | None,
    today: dt.date | None,
    merged: bool = False,
    service_dates: ServiceDates | None = None,
) -> Written:
    """Issue the eligible ones of ``ids`` set-based (see the module docstring); inside ``writing.items_issue``'s
    attempt, after the item locks. Returns what was written in document order, like ``writing.documents_write``.
    ``service_dates``: the first and last service date of ``ids`` when the caller knows them (a run), see
    ``eligible_segment_rows_sql``."""
    bounds = {"service_dates": service_dates} if service_dates is not None else {}
    eligible, params = eligible_segment_rows_sql(segment_ids=ids, today=today, **bounds)
    fiscal = DocumentKind.FISCAL_RECEIPT.value
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.issue_rows, pg_temp.issue_lines, pg_temp.issue_docs")
        cursor.execute("SET LOCAL jit = off")  # see eligibility.jit_off: inside items_issue's transaction already
        # No parallel plan for a chunk: its anti-join against the live items went parallel, each worker building
        # the same hash of every live item; serial was faster on the 2-core machine (median 206 against 249 ms a
        # chunk of 5,000, busy) and costs a third of the CPU. Until the transaction ends, like the JIT setting.
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        natures, classes = list(RoadNature.values), list(VehicleClass.values)
        nature_kinds = [str(document_kind_for(nature)) for nature in natures]
        types = [vehicle_type(vehicle_class) for vehicle_class in classes]
        rows_params = [RoadNature.LOAN.value, *params, natures, nature_kinds, classes, types]
        cursor.execute(_ROWS_SQL.replace("{eligible}", eligible), rows_params)
        if cursor.rowcount == 0:
            return Written([], [])
        cursor.execute(_LINES_SQL, [SAFE_LINES_PER_INVOICE, SAFE_LINES_PER_INVOICE])
        cursor.execute(_DOCS_SQL)
        cursor.execute("SELECT kind, province, count(*) FROM issue_docs GROUP BY kind, province")
        counts = {(kind, province): count for kind, province, count in cursor.fetchall()}

        now = timezone.now()
        issued_on = timezone.localdate(now, timezone=BEIJING)
        kinds: list[str] = []
        provinces: list[str] = []
        codes: list[str] = []
        offsets: list[int] = []
        numbers: list[str] = []
        for (kind, province), (code, taken) in document_numbers(counts=counts, issued_on=issued_on).items():
            kinds.append(kind)
            provinces.append(province)
            codes.append(code)
            offsets.append(len(numbers))
            numbers.extend(taken)

        run_id = run.pk if run is not None else None
        extra = json.dumps({"run": run_id} if run is not None else {})
        cursor.execute(
            _INSERT_DOCUMENTS_SQL,
            [
                kinds,
                provinces,
                codes,
                offsets,
                ",".join(numbers),  # digits only
                BusinessLine.ETC_TRIP.value,
                DocumentStatus.ISSUED.value,
                now,
                issued_on,
                merged,
                run_id,
            ],
        )
        written: list[tuple[Any, ...]] = sorted(cursor.fetchall())  # ids were drawn in document order
        cursor.execute(_INSERT_LINES_SQL, [fiscal, ITEM_FISCAL, ITEM_TOLL, issued_on])
        cursor.execute(_INSERT_ITEMS_SQL, [ItemKind.SEGMENT.value])  # the partial unique index decides races here
        cursor.execute(_INSERT_EVENTS_SQL, [now, by.pk if by is not None else None, extra])
    return Written([row[0] for row in written], [row[1] for row in written])
