"""FIFO matching of a prepaid card's top-ups to its segments (domain.md §4.3, assumed). The rule is the SQL functions
of ``sql/functions.sql`` (``invoicing_fifo_matches`` and the two that apply it to invoiced items), which the state
statements call too; these are their Python entries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection


def _ids(function: str, card_nos: Iterable[str] | None) -> set[int]:
    cards = None if card_nos is None else sorted(set(card_nos))
    if cards == []:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {function}(%s::varchar[])", [cards])  # noqa: S608 -- our own function names
        return {row[0] for row in cursor.fetchall()}


def fifo_paid_by_invoiced_topups(card_nos: Iterable[str] | None = None) -> set[int]:
    """Ids of prepaid segments any fen of which was paid from a top-up held by a live document (all cards when
    ``card_nos`` is None). One query, whatever the number of cards."""
    return _ids("invoicing_fifo_paid_by_invoiced_topups", card_nos)


def fifo_topups_spent_on_invoiced_segments(card_nos: Iterable[str] | None = None) -> set[int]:
    """Ids of top-ups any fen of which paid a segment held by a live document. One query."""
    return _ids("invoicing_fifo_topups_spent_on_invoiced_segments", card_nos)


@dataclass(frozen=True)
class FifoMatch:
    segment_id: int
    topup_id: int
    fen: int


def fifo_matches(card_no: str) -> list[FifoMatch]:
    """How a card's top-ups paid its segments (support: "which top-up paid this trip")."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT segment_id, topup_id, fen FROM invoicing_fifo_matches(ARRAY[%s]::varchar[]) "
            "ORDER BY segment_id, topup_id",
            [card_no],
        )
        return [FifoMatch(*row) for row in cursor.fetchall()]
