"""The buyer title in force at a transaction's time (domain.md §4.4), for many (card, time) pairs at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection

from invoicing.eligibility.base import (
    in_array,
)
from invoicing.models import BuyerTitle

# --- buyer title in force ----------------------------------------------------------------------------------------

# The rows to find buyers for are a relation ``q(i, card_no, at, …)`` the caller defines (a VALUES list, or the very
# query that reads the segments or top-ups, so the times never travel to Python and back). Per row, two index probes
# (card_binding_card_idx, buyer_title_version_uniq): cost in proportion to the chunk, not to the account tables. The
# set-based form (DISTINCT ON joins) was tried: faster on the 100 k benchmark (20 against 49 ms for 5,000 rows), but
# at 1 M segments the planner hashes every card binding for each chunk (44 against 6 ms), and that grows with the
# customer base (docs/benchmarks.md § Issuing, 2026-11-26).
#
# The binding covers ``at`` from ``covers_from`` (binding reaches back, domain.md §4.11) or else ``bound_at``. The
# title is the latest version in force at ``at`` (card-specific before the default), and for a transaction before
# the customer's first title — brought in by a binding that reached back — that first title: later versions still
# apply forward only (domain.md §4.4). A customer has a handful of versions, so the title probe reads them all. A
# title typed for one reissued document only (``one_document``, ADR 0008) is never in force.
_BUYERS_CTE = """
buyer_binding AS (
    SELECT q.i, q.card_no, q.at, b.customer_id
    FROM q JOIN LATERAL (
        SELECT cb.customer_id FROM invoicing_cardbinding cb
        WHERE cb.card_no = q.card_no AND coalesce(cb.covers_from, cb.bound_at) <= q.at
          AND (cb.unbound_at IS NULL OR cb.unbound_at > q.at)
        ORDER BY cb.bound_at DESC LIMIT 1
    ) b ON true
),
buyer_title AS (
    SELECT b.i, t.title_id
    FROM buyer_binding b JOIN LATERAL (
        SELECT t.id AS title_id FROM invoicing_buyertitle t
        WHERE t.customer_id = b.customer_id AND t.card_no IN (b.card_no, '') AND NOT t.one_document
        ORDER BY t.valid_from <= b.at DESC,
                 CASE WHEN t.valid_from <= b.at THEN t.card_no = '' END,
                 CASE WHEN t.valid_from <= b.at THEN t.valid_from END DESC,
                 t.valid_from, t.card_no = ''
        LIMIT 1
    ) t ON true
)
"""

_BUYERS_JOIN = "LEFT JOIN buyer_binding bb ON bb.i = q.i LEFT JOIN buyer_title bt ON bt.i = q.i"


def buyers_sql(rows_sql: str, columns: str) -> str:
    """A statement returning ``q``'s ``columns`` followed by the buyer's customer id and title id (NULL: none) for
    every row of ``rows_sql``, which must select ``i`` (a unique row key), ``card_no`` and ``at`` (the transaction
    time) among ``columns`` (written as ``q.…``)."""
    # our own constant SQL around the caller's compiled query; every value is a parameter
    select = f"SELECT {columns}, bb.customer_id, bt.title_id FROM q {_BUYERS_JOIN}"  # noqa: S608
    return f"WITH q AS ({rows_sql}), {_BUYERS_CTE} {select}"


def titles_by_id(title_ids: Iterable[int | None]) -> dict[int, BuyerTitle]:
    """The buyer titles found by ``buyers_sql``, loaded in one query."""
    wanted = {title_id for title_id in title_ids if title_id is not None}
    return {t.pk: t for t in BuyerTitle.objects.filter(id__in=in_array(wanted))} if wanted else {}


_PAIRS_SQL = (
    "SELECT i, card_no, at FROM unnest(string_to_array(%s, ',')::varchar[], string_to_array(%s, ',')::timestamptz[]) "
    "WITH ORDINALITY AS p(card_no, at, i)"
)


def titles_in_force(
    pairs: Iterable[tuple[str, dt.datetime]],
) -> dict[tuple[str, dt.datetime], tuple[int | None, BuyerTitle | None]]:
    """For many (card_no, at): the customer whose binding covered ``at`` and their title in force then.

    Two queries whatever the number of pairs (the lookup, then the titles). See the module docstring for the rule.
    ``segment_states`` and ``topup_states`` run the same lookup inside the query that reads their rows.
    """
    keys = list(dict.fromkeys(pairs))
    if not keys:
        return {}
    with connection.cursor() as cursor:
        # comma-joined text, not lists: psycopg quotes list items in Python (≈ 0.1 s for 10,000 pairs); card numbers
        # are digits and ISO timestamps (with their offset, exact) have no commas
        cards = [card for card, _at in keys]
        sql = buyers_sql(_PAIRS_SQL, "q.i")
        if any("," in card or not card for card in cards):  # not card numbers: psycopg quotes the list
            cursor.execute(sql.replace("string_to_array(%s, ',')", "%s"), [cards, [at for _c, at in keys]])
        else:
            cursor.execute(sql, [",".join(cards), ",".join(at.isoformat() for _card, at in keys)])
        rows = cursor.fetchall()
    titles = titles_by_id(title_id for _i, _c, title_id in rows)
    return {keys[i - 1]: (customer_id, titles.get(title_id) if title_id else None) for i, customer_id, title_id in rows}


def title_in_force(*, customer_id: int | None = None, card_no: str, at: dt.datetime) -> BuyerTitle | None:
    """The buyer title in force for ``card_no`` at ``at``. With ``customer_id``, only that customer's (None if the
    card was bound to someone else then); without, the customer whose binding covered ``at``."""
    found_customer, title = titles_in_force([(card_no, at)])[(card_no, at)]
    if customer_id is not None and found_customer != customer_id:
        return None
    return title
