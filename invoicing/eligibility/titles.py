"""The buyer title in force at a transaction's time (domain.md §4.4), for many (card, time) pairs at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection

from invoicing.eligibility.base import (
    in_array,
)
from invoicing.models import BuyerTitle

# The rule (binding reaches back, the title in force or the customer's first one) is the SQL function
# ``invoicing_buyer_at`` of ``sql/functions.sql``; the state statements join it per row.


def titles_by_id(title_ids: Iterable[int | None]) -> dict[int, BuyerTitle]:
    """The buyer titles found by ``invoicing_buyer_at``, loaded in one query."""
    wanted = {title_id for title_id in title_ids if title_id is not None}
    return {t.pk: t for t in BuyerTitle.objects.filter(id__in=in_array(wanted))} if wanted else {}


_PAIRS_SQL = """
SELECT p.i, b.customer_id, b.title_id
FROM unnest(string_to_array(%s, ',')::varchar[], string_to_array(%s, ',')::timestamptz[])
    WITH ORDINALITY AS p(card_no, at, i)
LEFT JOIN LATERAL invoicing_buyer_at(p.card_no, p.at) b ON true
"""


def titles_in_force(
    pairs: Iterable[tuple[str, dt.datetime]],
) -> dict[tuple[str, dt.datetime], tuple[int | None, BuyerTitle | None]]:
    """For many (card_no, at): the customer whose binding covered ``at`` and their title in force then.

    Two queries whatever the number of pairs (the lookup, then the titles). See the module docstring for the rule.
    The state statements (``sql/*_states.sql``) run the same function inside the query that reads their rows.
    """
    keys = list(dict.fromkeys(pairs))
    if not keys:
        return {}
    with connection.cursor() as cursor:
        # comma-joined text, not lists: psycopg quotes list items in Python (≈ 0.1 s for 10,000 pairs); card numbers
        # are digits and ISO timestamps (with their offset, exact) have no commas
        cards = [card for card, _at in keys]
        if any("," in card or not card for card in cards):  # not card numbers: psycopg quotes the list
            cursor.execute(_PAIRS_SQL.replace("string_to_array(%s, ',')", "%s"), [cards, [at for _c, at in keys]])
        else:
            cursor.execute(_PAIRS_SQL, [",".join(cards), ",".join(at.isoformat() for _card, at in keys)])
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
