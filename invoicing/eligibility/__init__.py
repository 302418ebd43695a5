"""Eligibility: for every item (segment, top-up, back-charge, paper ticket, taxi ride), can it be invoiced now,
and if not, why (domain.md §2–§4).

**The rules live in SQL, once** (``sql/``, whole statements a reader can open and run in psql):

- ``sql/<kind>_states.sql`` — one statement per item kind: the chosen items with what issuing needs and
  ``blockers``, every reason (``Reason``) an item cannot be invoiced now, in priority order (empty: eligible);
- ``sql/functions.sql`` — the lookups several statements share, as SQL functions (migration invoicing 0010): the
  buyer in force at a transaction (``invoicing_buyer_at``) and FIFO (``invoicing_fifo_matches`` and the two that
  apply it to invoiced items).

Everything else calls them: ``*_states`` (support pages, claims, issuing given items) turn their rows into
``ItemState``s; the runs pick their work with the ``invoiceable_*`` querysets (the rows with no blocker); set-based
issuing (``invoicing.issuing.grouping``) issues ``eligible_segment_rows_sql``'s rows. No Python or ORM copy of a rule
exists. Run the statements inside ``jit_off()`` (the ``*_states`` and runs do).

Modules: ``base`` (reasons, item states, the day-7 cut-off, the statement loader), ``fifo`` (top-ups matched to
trips), ``titles`` (the buyer title in force), ``states`` (``*_states``), ``invoiceable`` (what runs pick up, by
invoice cycle). Import from ``invoicing.eligibility``: every public name is re-exported here.

Rules and the decisions behind them:

- **Day 7** (``settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"]``, N = 7): a segment's ``service_date`` D is the
  Beijing date of its exit. It becomes invoiceable on D + N at 00:00 Beijing time, i.e. on the Beijing date
  ``today`` it is invoiceable iff ``D + N <= today``. A trip exiting 2026-11-01 23:59 Beijing is invoiceable from
  2026-11-08 00:00 Beijing, not on 2026-11-07. Everything else is invoiceable at once. Issuing never judges on a
  date later than the real Beijing date (``issuing_today``): no run, request, action or command issues early.
- **Zero fee** (green channel, exemptions): never invoiceable; the fee actually paid (实收) is what is invoiced.
- **One live document**: an item held by a live ``DocumentItem`` is not invoiceable again; a reversal clears
  ``live`` and releases it (the reversed document is still reported, as ``released_from``).
- **FIFO** (domain.md §4.3, assumed; ``invoicing_fifo_matches``, the one place): a prepaid card's (type 22) top-ups
  are spent in time order on its segments in exit-time order. A segment **any fen** of which was paid from a top-up
  held by a live document is ineligible forever (a segment cannot be split across documents, and invoicing the rest
  would invoice money already invoiced). Symmetrically a top-up **any fen** of which paid a segment held by a live
  document can no longer be invoiced as a top-up (the customer chose "by consumption" for that money). When the
  loaded history shows trips paid before enough top-ups (the card's opening balance predates our data), the smallest
  opening balance that keeps the card's balance non-negative is spent first; it was never invoiced here. Post-pay
  cards (type 23) are never affected.
- **The prepaid choice** (domain.md §4.12, assumed; ``invoiceable_topups``): a prepaid card's holder chooses "at
  top-up" or "per trip" (``CardPrepaidChoice``, versioned like titles, none = per trip). Runs issue a top-up only
  when the version in force at its time says "at top-up"; otherwise the top-up is invoiceable on request only, so
  no run makes a customer's trips ineligible behind their back. Symmetrically, a segment any fen of which was paid
  from a top-up chosen "at top-up" and not invoiced yet is ``TOPUP_CHOSEN`` (not final): that money is the top-up's
  invoice, so no trip document takes it first — without this, concurrent runs of two provinces raced for it and
  the card issuer's run lost when the road's province ran first (bench/national_day.py). A top-up already partly
  invoiced as trips can never be invoiced itself, so its other trips stay invoiceable.
- **Buyer**: the customer is the one whose ``CardBinding`` covered the transaction time (``covers_from <= at <
  unbound_at``). **Binding reaches back** (domain.md §4.11, assumed): a binding covers from when it was made back
  to the start of the request window (``PIAOGEN["REQUEST_WINDOW_DAYS"]``, 365) or the end of the card's previous
  binding, whichever is later (cards change hands: what a previous holder's binding covered stays theirs); older
  bindings (``covers_from`` NULL) cover from ``bound_at``. Only uninvoiced items change hands: an item in a live
  document stays there. The title is that customer's latest version with ``valid_from <= at`` for that card, else
  their default (``card_no = ''``) in force at ``at``; a transaction before the customer's first title (one a
  binding brought in) gets that first title, and later versions still apply forward only (§4.4). A card-specific
  series that starts later does not change earlier trips. Without a binding or a title the item is ``NO_BUYER``:
  it blocks automatic issuing but is not final — the daily run takes it once the card is bound to a customer with
  a title.
- **Document kind**: commercial roads (road nature 1) get a 数电 invoice at the toll unit's rate in force on the
  service date; government-loan roads (2) get a fiscal e-receipt, no rate. A commercial segment without a rate in
  force is ``NO_RATE`` (master data to fix; not final).
- **Paper tickets and taxi rides** have no card: their buyer comes with the customer's request, so they are
  eligible on request only (never in a daily run). A paper ticket is a trip: day 7 applies to it as to a segment.
  Back-charges are their own items, invoiced at once by the underpaid toll unit's operator; with a bound card the
  buyer is found like a segment's.
"""

from __future__ import annotations

from invoicing.eligibility.base import (
    BEIJING,
    FINAL_REASONS,
    SQL_DIR,
    DocumentRef,
    ItemState,
    Reason,
    TopUpMode,
    beijing_today,
    document_kind_for,
    id_list,
    in_array,
    issuing_today,
    jit_off,
    statement,
    trip_cutoff,
)
from invoicing.eligibility.fifo import (
    FifoMatch,
    fifo_matches,
    fifo_paid_by_invoiced_topups,
    fifo_topups_spent_on_invoiced_segments,
)
from invoicing.eligibility.invoiceable import (
    ServiceDates,
    buyer_customer,
    eligible_segment_rows_sql,
    invoiceable_audit_charges,
    invoiceable_segments,
    invoiceable_topups,
    segment_service_dates,
)
from invoicing.eligibility.states import (
    audit_charge_states,
    paper_ticket_states,
    segment_states,
    taxi_ride_states,
    topup_states,
)
from invoicing.eligibility.titles import (
    title_in_force,
    titles_in_force,
)

__all__ = [
    "BEIJING",
    "FINAL_REASONS",
    "SQL_DIR",
    "DocumentRef",
    "FifoMatch",
    "ItemState",
    "Reason",
    "ServiceDates",
    "TopUpMode",
    "audit_charge_states",
    "beijing_today",
    "buyer_customer",
    "document_kind_for",
    "eligible_segment_rows_sql",
    "fifo_matches",
    "fifo_paid_by_invoiced_topups",
    "fifo_topups_spent_on_invoiced_segments",
    "id_list",
    "in_array",
    "invoiceable_audit_charges",
    "invoiceable_segments",
    "invoiceable_topups",
    "issuing_today",
    "jit_off",
    "paper_ticket_states",
    "segment_service_dates",
    "segment_states",
    "statement",
    "taxi_ride_states",
    "title_in_force",
    "titles_in_force",
    "topup_states",
    "trip_cutoff",
]
