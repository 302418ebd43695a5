"""FIFO matching of a prepaid card's top-ups to its segments (domain.md §4.3, assumed): the one place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

# --- FIFO matching of a prepaid card's top-ups to its segments (domain.md §4.3, assumed) --------------------------

# `cards`: the cards to match (defined by the caller, see fifo_sql). Each card's money is a line of fen: first the
# opening balance (the least that keeps the balance ≥ 0 at every event, top-ups counted before segments at the same
# instant), then its top-ups in (topped_up_at, id) order. Segments with a fee spend it in (exit_time, pass_id,
# segment_no) order. A segment overlaps the top-ups its fen interval [lo, hi) meets; `fen` is the overlap.
_FIFO_CTE = """
events AS (
    SELECT t.card_no, t.topped_up_at AS at, 0 AS ord, -t.amount AS delta
    FROM tolling_topup t JOIN cards c ON c.card_no = t.card_no
    UNION ALL
    SELECT s.card_no, s.exit_time, 1, s.fee
    FROM tolling_segment s JOIN cards c ON c.card_no = s.card_no
    WHERE s.card_type = 22 AND s.fee > 0
),
deficits AS (
    SELECT card_no, sum(delta) OVER (PARTITION BY card_no ORDER BY at, ord ROWS UNBOUNDED PRECEDING) AS deficit
    FROM events
),
opening AS (SELECT card_no, greatest(0, max(deficit)) AS opening FROM deficits GROUP BY card_no),
topup_spans AS (
    SELECT t.card_no, t.id, o.opening + sum(t.amount) OVER w - t.amount AS lo, o.opening + sum(t.amount) OVER w AS hi
    FROM tolling_topup t JOIN opening o ON o.card_no = t.card_no
    WINDOW w AS (PARTITION BY t.card_no ORDER BY t.topped_up_at, t.id ROWS UNBOUNDED PRECEDING)
),
segment_spans AS (
    SELECT s.card_no, s.id, sum(s.fee) OVER w - s.fee AS lo, sum(s.fee) OVER w AS hi
    FROM tolling_segment s JOIN opening o ON o.card_no = s.card_no
    WHERE s.card_type = 22 AND s.fee > 0
    WINDOW w AS (PARTITION BY s.card_no ORDER BY s.exit_time, s.pass_id, s.segment_no ROWS UNBOUNDED PRECEDING)
),
matches AS (
    SELECT s.id AS segment_id, t.id AS topup_id, (least(s.hi, t.hi) - greatest(s.lo, t.lo))::bigint AS fen
    FROM segment_spans s JOIN topup_spans t ON t.card_no = s.card_no AND s.lo < t.hi AND t.lo < s.hi
)
"""

# cards worth matching: only a card with a live invoiced top-up (resp. invoiced prepaid segment) can have a
# segment (resp. top-up) made ineligible by FIFO. Both start from the partial unique index on live document items.
# `{only}` narrows them to the cards asked for.
_CARDS = {
    "segments": "SELECT DISTINCT t.card_no FROM invoicing_documentitem di JOIN tolling_topup t ON t.id = di.item_id "
    "WHERE di.item_kind = 'topup' AND di.live {only}",
    "topups": "SELECT DISTINCT s.card_no FROM invoicing_documentitem di JOIN tolling_segment s ON s.id = di.item_id "
    "WHERE di.item_kind = 'segment' AND di.live AND s.card_type = 22 {only}",
    "matches": "SELECT DISTINCT t.card_no FROM tolling_topup t WHERE true {only}",
}
_CARD_COLUMN = {"segments": "t.card_no", "topups": "s.card_no", "matches": "t.card_no"}
_FINAL = {
    "segments": "SELECT DISTINCT m.segment_id FROM matches m WHERE EXISTS (SELECT 1 FROM invoicing_documentitem di "
    "WHERE di.item_kind = 'topup' AND di.item_id = m.topup_id AND di.live)",
    "topups": "SELECT DISTINCT m.topup_id FROM matches m WHERE EXISTS (SELECT 1 FROM invoicing_documentitem di "
    "WHERE di.item_kind = 'segment' AND di.item_id = m.segment_id AND di.live)",
    "matches": "SELECT m.segment_id, m.topup_id, m.fen FROM matches m",
}


def fifo_sql(
    *, returns: str, card_nos: Sequence[str] | None, cards_sql: tuple[str, list[Any]] | None = None
) -> tuple[str, list[Any]]:
    """The FIFO rule as one statement. ``returns``: 'segments' (ids paid from invoiced top-ups), 'topups' (ids
    spent on invoiced segments) or 'matches' (every (segment_id, topup_id, fen)); ``card_nos`` None: all cards;
    ``cards_sql``: (a query selecting card numbers, its parameters) instead of a list."""
    if cards_sql is not None:
        only, params = f"AND {_CARD_COLUMN[returns]} IN ({cards_sql[0]})", list(cards_sql[1])
    else:
        only = "" if card_nos is None else f"AND {_CARD_COLUMN[returns]} = ANY(%s::varchar[])"
        params = [] if card_nos is None else [list(card_nos)]
    cards = _CARDS[returns].format(only=only)
    return f"WITH cards AS ({cards}), {_FIFO_CTE} {_FINAL[returns]}", params


def _fifo_ids(returns: str, card_nos: Iterable[str] | None) -> set[int]:
    cards = None if card_nos is None else sorted(set(card_nos))
    if cards == []:
        return set()
    sql, params = fifo_sql(returns=returns, card_nos=cards)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def fifo_paid_by_invoiced_topups(card_nos: Iterable[str] | None = None) -> set[int]:
    """Ids of prepaid segments any fen of which was paid from a top-up held by a live document (all cards when
    ``card_nos`` is None). One query, whatever the number of cards."""
    return _fifo_ids("segments", card_nos)


def fifo_topups_spent_on_invoiced_segments(card_nos: Iterable[str] | None = None) -> set[int]:
    """Ids of top-ups any fen of which paid a segment held by a live document. One query."""
    return _fifo_ids("topups", card_nos)


@dataclass(frozen=True)
class FifoMatch:
    segment_id: int
    topup_id: int
    fen: int


def fifo_matches(card_no: str) -> list[FifoMatch]:
    """How a card's top-ups paid its segments (support: "which top-up paid this trip")."""
    sql, params = fifo_sql(returns="matches", card_nos=[card_no])
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY m.segment_id, m.topup_id", params)
        return [FifoMatch(*row) for row in cursor.fetchall()]
