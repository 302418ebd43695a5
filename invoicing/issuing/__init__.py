"""Issuing documents (domain.md §2–§4): trips, top-ups, back-charges, paper tickets and taxi rides into 数电
invoices and fiscal e-receipts, red-letter reversal (红冲), title exchange (换票), the chunked daily run and the
monthly merge (ADR 0003).

Modules: ``grouping`` (trips — per trip and the monthly merge —, back-charges, paper tickets and taxi rides grouped,
split and written by the statements of ``sql/``: the one home of grouping), ``drafts`` (documents built in memory:
one per top-up, and ``lifecycle``'s red and reissued copies), ``writing`` (drafts written by COPY, item locks, the
retry, the automatic delivery after commit), ``items`` (``issue_*`` for given items), ``lifecycle``
(``document_reverse``, ``document_reissue``), ``runs`` (daily and monthly runs, heartbeat, take-over). Numbers come
from ``numbering.document_numbers`` on every path. Import from ``invoicing.issuing``: every public name is
re-exported here.

How a call issues (``issue_segments``, ``issue_audit_charges``, ``issue_paper_tickets``, ``issue_taxi_rides``):

1. eligibility is re-read inside the transaction (the item kind's statement of ``eligibility/sql/``, the one place
   for the rules), nested in the kind's row statement ``sql/<kind>_rows.sql``: the caller's ids are a wish, never
   trusted;
2. ``sql/lines.sql`` groups the items into documents by (kind, seller, buyer title version, rate) (§4.7) and,
   within a document, into lines by (plate, vehicle type) with the date range; the tax is split per line after
   aggregation; a group with more lines than ``tax.SAFE_LINES_PER_INVOICE`` is split over several documents;
3. numbers are taken late, one block per series for the whole call, series in the fixed order of ADR 0002
   (digital, then fiscal, each by province);
4. documents, lines, items and "issued" events are inserted from the work tables (ids drawn from the sequences).

Top-ups (one document each) and red and reissued documents are drafts in memory, written by ``COPY``
(``writing.documents_write``), their tax split by ``tax.TaxLine`` and checked by ``tax.check_invoice``.

Exactly once: the partial unique index ``document_item_one_live_per_item`` refuses a second live item. When a
concurrent worker issued some of the same items first, the insert fails, the attempt's savepoint rolls back (its
numbers go back to the series, so it stays gapless) and the call re-reads eligibility — now without the taken
items — and tries again. Each retry drops at least one item, so it ends; with four workers on the same items a
call can lose more than once, hence a few attempts rather than exactly one.

Decisions:

- Fiscal e-receipts carry the item name ``车辆通行费`` (no tax classification prefix; they are not VAT invoices).
- Top-ups: **one document per top-up**, item ``*预付卡销售*ETC充值``, 不征税 (rate None), seller the card issuer,
  buyer the title in force at the top-up time. A top-up is one payment the customer chose to invoice "as top-up";
  one document each keeps reversal and support per payment.
- A red-letter document mirrors the original's lines with negative amounts and has no items of its own; the
  original's items stay as they were with ``live`` cleared (lineage: item → original ← red via ``original``).
- A reissue copies the original's lines and items under the new title (``replaces`` set) in the same transaction
  as the reversal.
"""

from __future__ import annotations

from invoicing.issuing.drafts import (
    DEFAULT_CHUNK,
    DEFAULT_STALE_SECONDS,
    ITEM_FISCAL,
    ITEM_TAXI,
    ITEM_TOLL,
    ITEM_TOPUP,
    LIVE_ITEM_CONSTRAINT,
    MAX_ATTEMPTS,
    IssuingError,
    vehicle_type,
)
from invoicing.issuing.items import (
    issue_audit_charges,
    issue_paper_tickets,
    issue_segments,
    issue_taxi_rides,
    issue_topups,
)
from invoicing.issuing.lifecycle import (
    document_reissue,
    document_reverse,
)
from invoicing.issuing.runs import (
    issue_run_create_daily,
    issue_run_create_monthly,
    issue_run_daily,
    issue_run_execute,
    issue_run_monthly,
    issue_run_reopen,
    issue_runs_create_daily,
    issue_runs_stalled,
    month_end,
    month_start,
    previous_month,
)
from invoicing.issuing.writing import (
    LOCK_BLOCK_BITS,
)

__all__ = [
    "DEFAULT_CHUNK",
    "DEFAULT_STALE_SECONDS",
    "ITEM_FISCAL",
    "ITEM_TAXI",
    "ITEM_TOLL",
    "ITEM_TOPUP",
    "LIVE_ITEM_CONSTRAINT",
    "LOCK_BLOCK_BITS",
    "MAX_ATTEMPTS",
    "IssuingError",
    "document_reissue",
    "document_reverse",
    "issue_audit_charges",
    "issue_paper_tickets",
    "issue_run_create_daily",
    "issue_run_create_monthly",
    "issue_run_daily",
    "issue_run_execute",
    "issue_run_monthly",
    "issue_run_reopen",
    "issue_runs_create_daily",
    "issue_runs_stalled",
    "issue_segments",
    "issue_taxi_rides",
    "issue_topups",
    "month_end",
    "month_start",
    "previous_month",
    "vehicle_type",
]
