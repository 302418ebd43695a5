"""Eligibility: for every item (segment, top-up, back-charge, paper ticket, taxi ride), can it be invoiced now,
and if not, why (domain.md §2–§4). The issuing runs pick work with the ``invoiceable_*`` querysets; support pages
show ``*_states`` to customers. Both read the same rules, kept here and nowhere else.

Rules and the decisions behind them:

- **Day 7** (``settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"]``, N = 7): a segment's ``service_date`` D is the
  Beijing date of its exit. It becomes invoiceable on D + N at 00:00 Beijing time, i.e. on the Beijing date
  ``today`` it is invoiceable iff ``D + N <= today``. A trip exiting 2026-11-01 23:59 Beijing is invoiceable from
  2026-11-08 00:00 Beijing, not on 2026-11-07. Everything else is invoiceable at once.
- **Zero fee** (green channel, exemptions): never invoiceable; the fee actually paid (实收) is what is invoiced.
- **One live document**: an item held by a live ``DocumentItem`` is not invoiceable again; a reversal clears
  ``live`` and releases it (the reversed document is still reported, as ``released_from``).
- **FIFO** (domain.md §4.3, assumed; ``_FIFO_CTE``, the one place): a prepaid card's (type 22) top-ups are spent in
  time order on its segments in exit-time order. A segment **any fen** of which was paid from a top-up held by a
  live document is ineligible forever (a segment cannot be split across documents, and invoicing the rest would
  invoice money already invoiced). Symmetrically a top-up **any fen** of which paid a segment held by a live
  document can no longer be invoiced as a top-up (the customer chose "by consumption" for that money). When the
  loaded history shows trips paid before enough top-ups (the card's opening balance predates our data), the
  smallest opening balance that keeps the card's balance non-negative is spent first; it was never invoiced here.
  Post-pay cards (type 23) are never affected.
- **Buyer**: the customer is the one whose ``CardBinding`` covered the transaction time (``bound_at <= at <
  unbound_at``); the title is that customer's latest version with ``valid_from <= at`` for that card, else their
  default (``card_no = ''``) in force at ``at``. A card-specific series that starts later does not change earlier
  trips. Without one, the item is ``NO_BUYER``: it blocks automatic issuing (no one to issue to) but is not final —
  the item is otherwise invoiceable and the daily run takes it once a title in force at its time exists. A binding
  made after a trip does not reach back: the trip belonged to whoever held the card then (cards change hands).
- **Document kind**: commercial roads (road nature 1) get a 数电 invoice at the toll unit's rate in force on the
  service date; government-loan roads (2) get a fiscal e-receipt, no rate. A commercial segment without a rate in
  force is ``NO_RATE`` (master data to fix; not final).
- **Paper tickets and taxi rides** have no card: their buyer comes with the customer's request, so they are
  eligible on request only (never in a daily run). Back-charges are their own items, invoiced at once by the
  underpaid toll unit's operator; with a bound card the buyer is found like a segment's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, models
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.models import BuyerTitle, CardBinding, DocumentItem, DocumentKind, ItemKind
from piaogen.identifiers import CardType
from tolling.models import AuditCharge, PaperTicket, RoadNature, Segment, TaxiRide, TollUnitRate, TopUp

BEIJING = ZoneInfo("Asia/Shanghai")


class Reason(models.TextChoices):
    """Why an item can or cannot be invoiced now; the labels are shown to customers."""

    ELIGIBLE = "eligible", _("可开票")
    IN_DOCUMENT = "in_document", _("已在票据中")
    ZERO_FEE = "zero_fee", _("实收金额为零，不开票")
    TOPUP_INVOICED = "topup_invoiced", _("该笔通行由已开票的充值支付，不能再开票")
    TRIPS_INVOICED = "trips_invoiced", _("该笔充值已支付的通行已开票，不能再开充值发票")
    NOT_YET = "not_yet", _("未到可开票日")
    NO_RATE = "no_rate", _("收费单元在通行日无适用税率")
    NO_BUYER = "no_buyer", _("交易时卡未绑定客户或无发票抬头")


#: reasons that never go away by waiting (only a reversal of the holding document could change them)
FINAL_REASONS = frozenset({Reason.IN_DOCUMENT, Reason.ZERO_FEE, Reason.TOPUP_INVOICED, Reason.TRIPS_INVOICED})


class TopUpMode(models.TextChoices):
    """How a top-up's money is being invoiced: as the top-up, or as the trips it paid (domain.md §4.3)."""

    OPEN = "open", _("未开票")
    AS_TOPUP = "topup", _("按充值开票")  # its trips are ineligible
    AS_TRIPS = "trips", _("按消费开票")  # trips it paid are invoiced: the top-up is ineligible


@dataclass(frozen=True)
class DocumentRef:
    id: int
    code: str
    number: str
    status: str

    def __str__(self) -> str:
        return f"{self.code}{self.number}"


@dataclass(frozen=True)
class ItemState:
    """An item's invoicing state: the main ``reason`` and every blocker that applies, in priority order."""

    item_kind: str
    item_id: int
    amount: int  # fen
    blockers: tuple[Reason, ...]
    document: DocumentRef | None = None  # the live document holding it
    released_from: DocumentRef | None = None  # the latest reversed document that held it
    document_kind: str | None = None  # DocumentKind it would get
    seller_id: int | None = None
    tax_rate: Decimal | None = None  # None: fiscal receipt or non-taxable
    invoiceable_on: dt.date | None = None
    customer_id: int | None = None
    title: BuyerTitle | None = field(default=None, compare=False)
    mode: str | None = None  # TopUpMode, top-ups only

    @property
    def reason(self) -> Reason:
        return self.blockers[0] if self.blockers else Reason.ELIGIBLE

    @property
    def eligible(self) -> bool:
        return not self.blockers

    @property
    def final(self) -> bool:
        return self.reason in FINAL_REASONS

    def message(self) -> str:
        """The reason as a sentence for the customer, with the document number or the date where it helps."""
        if self.reason == Reason.IN_DOCUMENT and self.document is not None:
            return str(_("已在票据%(number)s中") % {"number": self.document})
        if self.reason == Reason.NOT_YET and self.invoiceable_on is not None:
            return str(_("未到可开票日：%(date)s起可开票") % {"date": self.invoiceable_on.isoformat()})
        if self.reason == Reason.ELIGIBLE and self.released_from is not None:
            return str(_("可开票（原票据%(number)s已红冲）") % {"number": self.released_from})
        return str(self.reason.label)


def beijing_today() -> dt.date:
    return timezone.localdate(timezone=BEIJING)


def trip_cutoff(today: dt.date | None = None) -> dt.date:
    """The latest service date invoiceable on Beijing date ``today``: today − N days."""
    return (today or beijing_today()) - dt.timedelta(days=settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"])


def document_kind_for(road_nature: int) -> str:
    """Commercial roads get a 数电 invoice, government-loan roads a fiscal e-receipt (domain.md §2)."""
    return DocumentKind.FISCAL_RECEIPT if road_nature == RoadNature.LOAN else DocumentKind.DIGITAL_INVOICE


# --- FIFO matching of a prepaid card's top-ups to its segments (domain.md §4.3, assumed) --------------------------

# `cards`: the cards to match (defined by the caller, see _fifo_sql). Each card's money is a line of fen: first the
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


def _fifo_sql(*, returns: str, card_nos: Sequence[str] | None) -> tuple[str, list[Any]]:
    """The FIFO rule as one statement. ``returns``: 'segments' (ids paid from invoiced top-ups), 'topups' (ids
    spent on invoiced segments) or 'matches' (every (segment_id, topup_id, fen)); ``card_nos`` None: all cards."""
    only = "" if card_nos is None else f"AND {_CARD_COLUMN[returns]} = ANY(%s::varchar[])"
    params: list[Any] = [] if card_nos is None else [list(card_nos)]
    return f"WITH cards AS ({_CARDS[returns].format(only=only)}), {_FIFO_CTE} {_FINAL[returns]}", params


def _fifo_ids(returns: str, card_nos: Iterable[str] | None) -> set[int]:
    cards = None if card_nos is None else sorted(set(card_nos))
    if cards == []:
        return set()
    sql, params = _fifo_sql(returns=returns, card_nos=cards)
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
    sql, params = _fifo_sql(returns="matches", card_nos=[card_no])
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY m.segment_id, m.topup_id", params)
        return [FifoMatch(*row) for row in cursor.fetchall()]


# --- buyer title in force ----------------------------------------------------------------------------------------

_TITLES_SQL = """
SELECT q.i, b.customer_id, bt.id
FROM unnest(string_to_array(%s, ',')::varchar[], string_to_array(%s, ',')::timestamptz[])
    WITH ORDINALITY AS q(card_no, at, i)
LEFT JOIN LATERAL (
    SELECT cb.customer_id FROM invoicing_cardbinding cb
    WHERE cb.card_no = q.card_no AND cb.bound_at <= q.at AND (cb.unbound_at IS NULL OR cb.unbound_at > q.at)
    ORDER BY cb.bound_at DESC LIMIT 1
) b ON true
LEFT JOIN LATERAL (
    SELECT t.id FROM invoicing_buyertitle t
    WHERE t.customer_id = b.customer_id AND t.card_no IN (q.card_no, '') AND t.valid_from <= q.at
    ORDER BY t.card_no = '', t.valid_from DESC LIMIT 1
) bt ON true
"""


def titles_in_force(
    pairs: Iterable[tuple[str, dt.datetime]],
) -> dict[tuple[str, dt.datetime], tuple[int | None, BuyerTitle | None]]:
    """For many (card_no, at): the customer whose binding covered ``at`` and their title in force then.

    Two queries whatever the number of pairs (the lookup, then the titles). See the module docstring for the rule.
    """
    keys = list(dict.fromkeys(pairs))
    if not keys:
        return {}
    with connection.cursor() as cursor:
        # comma-joined text, not lists: psycopg quotes list items in Python (≈ 0.1 s for 10,000 pairs); card numbers
        # are digits and ISO timestamps (with their offset, exact) have no commas
        cards = [card for card, _at in keys]
        if any("," in card or not card for card in cards):  # not card numbers: psycopg quotes the list
            cursor.execute(_TITLES_SQL.replace("string_to_array(%s, ',')", "%s"), [cards, [at for _c, at in keys]])
        else:
            cursor.execute(_TITLES_SQL, [",".join(cards), ",".join(at.isoformat() for _card, at in keys)])
        rows = cursor.fetchall()
    wanted = {title_id for _i, _c, title_id in rows if title_id is not None}
    titles = {t.pk: t for t in BuyerTitle.objects.filter(id__in=in_array(wanted))} if wanted else {}
    return {keys[i - 1]: (customer_id, titles.get(title_id) if title_id else None) for i, customer_id, title_id in rows}


def title_in_force(*, customer_id: int | None = None, card_no: str, at: dt.datetime) -> BuyerTitle | None:
    """The buyer title in force for ``card_no`` at ``at``. With ``customer_id``, only that customer's (None if the
    card was bound to someone else then); without, the customer whose binding covered ``at``."""
    found_customer, title = titles_in_force([(card_no, at)])[(card_no, at)]
    if customer_id is not None and found_customer != customer_id:
        return None
    return title


# --- item states -------------------------------------------------------------------------------------------------


def in_array(ids: Iterable[int]) -> RawSQL:
    """``… IN (SELECT unnest(…::bigint[]))`` with the ids as one text parameter: one placeholder instead of one per
    id (psycopg splits the query text at every placeholder: ≈ 0.35 s for 10,000 ids), and no Python-side array
    quoting (≈ 35 ms per 10,000 ids) — the ints are joined with commas, which cannot inject anything."""
    text = ",".join(str(int(i)) for i in ids)
    return RawSQL("SELECT unnest(string_to_array(%s, ',')::bigint[])", [text])


def _blockers(*checks: tuple[Reason, bool]) -> tuple[Reason, ...]:
    return tuple(reason for reason, applies in checks if applies)


def _narrow(
    qs: QuerySet[Any],
    *,
    ids: Sequence[int] | None,
    card_no: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
) -> QuerySet[Any]:
    if ids is not None:
        qs = qs.filter(id__in=in_array(ids))
    if card_no is not None:
        qs = qs.filter(card_no=card_no)
    if date_from is not None:
        qs = qs.filter(service_date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(service_date__lte=date_to)
    return qs


def _documents(kind: str, ids: Iterable[int]) -> tuple[dict[int, DocumentRef], dict[int, DocumentRef]]:
    """The live document and the latest released (reversed) document of each item: one query."""
    live: dict[int, DocumentRef] = {}
    released: dict[int, DocumentRef] = {}
    rows = (
        DocumentItem.objects.filter(item_kind=kind, item_id__in=in_array(ids))
        .order_by("item_id", "-id")
        .values_list("item_id", "live", "document_id", "document__code", "document__number", "document__status")
    )
    for item_id, is_live, doc_id, code, number, status in rows:
        ref = DocumentRef(id=doc_id, code=code, number=number, status=status)
        if is_live:
            live[item_id] = ref
        else:
            released.setdefault(item_id, ref)
    return live, released


def _rate_in_force(toll_unit: str = "toll_unit", on: str = "service_date") -> Subquery:
    return Subquery(
        TollUnitRate.objects.filter(toll_unit=OuterRef(toll_unit), valid_from__lte=OuterRef(on))
        .order_by("-valid_from")
        .values("tax_rate")[:1]
    )


def segment_states(
    *,
    segment_ids: Sequence[int] | None = None,
    card_no: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    today: dt.date | None = None,
) -> dict[int, ItemState]:
    """The state of segments chosen by id and/or by card and service-date range; ``today`` is a Beijing date.

    Set-based: five queries for any number of segments (segments with rate, documents, FIFO, titles ×2).
    """
    if segment_ids is None and card_no is None:
        raise ValueError("segment_states needs segment_ids or card_no")
    qs = _narrow(Segment.objects.all(), ids=segment_ids, card_no=card_no, date_from=date_from, date_to=date_to)
    rows = list(
        qs.annotate(rate=_rate_in_force())
        .order_by()
        .values_list(
            "id",
            "card_no",
            "card_type",
            "service_date",
            "exit_time",
            "fee",
            "rate",
            "toll_unit__road_nature",
            "toll_unit__operator_id",
        )
    )
    if not rows:
        return {}
    cutoff = trip_cutoff(today)
    after = dt.timedelta(days=settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"])
    live, released = _documents(ItemKind.SEGMENT, (row[0] for row in rows))
    paid_by_invoiced = fifo_paid_by_invoiced_topups({row[1] for row in rows if row[2] == CardType.PREPAID})
    buyers = titles_in_force((row[1], row[4]) for row in rows)
    states: dict[int, ItemState] = {}
    for seg_id, card, _type, service_date, exit_time, fee, rate, nature, seller_id in rows:
        customer_id, title = buyers[(card, exit_time)]
        kind = document_kind_for(nature)
        rate = None if nature == RoadNature.LOAN else rate
        blockers = _blockers(
            (Reason.IN_DOCUMENT, seg_id in live),
            (Reason.ZERO_FEE, fee == 0),
            (Reason.TOPUP_INVOICED, seg_id in paid_by_invoiced),
            (Reason.NOT_YET, service_date > cutoff),
            (Reason.NO_RATE, nature == RoadNature.COMMERCIAL and rate is None),
            (Reason.NO_BUYER, title is None),
        )
        states[seg_id] = ItemState(
            item_kind=ItemKind.SEGMENT,
            item_id=seg_id,
            amount=fee,
            blockers=blockers,
            document=live.get(seg_id),
            released_from=released.get(seg_id),
            document_kind=kind,
            seller_id=seller_id,
            tax_rate=rate,
            invoiceable_on=service_date + after,
            customer_id=customer_id,
            title=title,
        )
    return states


def topup_states(
    *,
    topup_ids: Sequence[int] | None = None,
    card_no: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[int, ItemState]:
    """The state of top-ups: invoiceable at once as a non-taxable invoice from the card issuer, unless a live
    document holds it, trips it paid are invoiced, or no title was in force at the top-up. Five queries."""
    if topup_ids is None and card_no is None:
        raise ValueError("topup_states needs topup_ids or card_no")
    qs = _narrow(TopUp.objects.all(), ids=topup_ids, card_no=card_no, date_from=date_from, date_to=date_to)
    rows = list(qs.order_by().values_list("id", "card_no", "topped_up_at", "amount", "issuer_id", "service_date"))
    if not rows:
        return {}
    live, released = _documents(ItemKind.TOPUP, (row[0] for row in rows))
    spent_on_invoiced = fifo_topups_spent_on_invoiced_segments({row[1] for row in rows})
    buyers = titles_in_force((row[1], row[2]) for row in rows)
    states: dict[int, ItemState] = {}
    for topup_id, card, at, amount, issuer_id, service_date in rows:
        customer_id, title = buyers[(card, at)]
        blockers = _blockers(
            (Reason.IN_DOCUMENT, topup_id in live),
            (Reason.TRIPS_INVOICED, topup_id in spent_on_invoiced),
            (Reason.NO_BUYER, title is None),
        )
        mode = (
            TopUpMode.AS_TOPUP
            if topup_id in live
            else TopUpMode.AS_TRIPS
            if topup_id in spent_on_invoiced
            else TopUpMode.OPEN
        )
        states[topup_id] = ItemState(
            item_kind=ItemKind.TOPUP,
            item_id=topup_id,
            amount=amount,
            blockers=blockers,
            document=live.get(topup_id),
            released_from=released.get(topup_id),
            document_kind=DocumentKind.DIGITAL_INVOICE,  # non-taxable (不征税) invoice
            seller_id=issuer_id,
            tax_rate=None,
            invoiceable_on=service_date,
            customer_id=customer_id,
            title=title,
            mode=mode,
        )
    return states


def audit_charge_states(*, charge_ids: Sequence[int]) -> dict[int, ItemState]:
    """Back-charges: their own items, invoiced at once by the underpaid toll unit's operator at its rate on the
    service date; the buyer is found through the card when there is one, else it comes with a request."""
    rows = list(
        AuditCharge.objects.filter(id__in=in_array(charge_ids))
        .annotate(rate=_rate_in_force())
        .order_by()
        .values_list(
            "id",
            "card_no",
            "paid_at",
            "amount",
            "service_date",
            "rate",
            "toll_unit__road_nature",
            "toll_unit__operator_id",
        )
    )
    live, released = _documents(ItemKind.AUDIT_CHARGE, (row[0] for row in rows))
    buyers = titles_in_force((row[1], row[2]) for row in rows if row[1])
    states: dict[int, ItemState] = {}
    for charge_id, card, paid_at, amount, service_date, rate, nature, seller_id in rows:
        customer_id, title = buyers.get((card, paid_at), (None, None))
        rate = None if nature == RoadNature.LOAN else rate
        blockers = _blockers(
            (Reason.IN_DOCUMENT, charge_id in live),
            (Reason.NO_RATE, nature == RoadNature.COMMERCIAL and rate is None),
            (Reason.NO_BUYER, title is None),
        )
        states[charge_id] = ItemState(
            item_kind=ItemKind.AUDIT_CHARGE,
            item_id=charge_id,
            amount=amount,
            blockers=blockers,
            document=live.get(charge_id),
            released_from=released.get(charge_id),
            document_kind=document_kind_for(nature),
            seller_id=seller_id,
            tax_rate=rate,
            invoiceable_on=service_date,
            customer_id=customer_id,
            title=title,
        )
    return states


def paper_ticket_states(*, ticket_ids: Sequence[int]) -> dict[int, ItemState]:
    """Paper tickets (纸改电): eligible on request only (the claiming customer brings the buyer), at once, like a
    segment of their toll unit."""
    rows = list(
        PaperTicket.objects.filter(id__in=in_array(ticket_ids))
        .annotate(rate=_rate_in_force())
        .order_by()
        .values_list("id", "amount", "service_date", "rate", "toll_unit__road_nature", "toll_unit__operator_id")
    )
    live, released = _documents(ItemKind.PAPER_TICKET, (row[0] for row in rows))
    states: dict[int, ItemState] = {}
    for ticket_id, amount, service_date, rate, nature, seller_id in rows:
        rate = None if nature == RoadNature.LOAN else rate
        blockers = _blockers(
            (Reason.IN_DOCUMENT, ticket_id in live),
            (Reason.NO_RATE, nature == RoadNature.COMMERCIAL and rate is None),
        )
        states[ticket_id] = ItemState(
            item_kind=ItemKind.PAPER_TICKET,
            item_id=ticket_id,
            amount=amount,
            blockers=blockers,
            document=live.get(ticket_id),
            released_from=released.get(ticket_id),
            document_kind=document_kind_for(nature),
            seller_id=seller_id,
            tax_rate=rate,
            invoiceable_on=service_date,
        )
    return states


def taxi_ride_states(*, ride_ids: Sequence[int]) -> dict[int, ItemState]:
    """Taxi rides: eligible on request only, invoiced by the taxi company at its own rate (None: not set)."""
    rows = list(
        TaxiRide.objects.filter(id__in=in_array(ride_ids))
        .order_by()
        .values_list("id", "amount", "service_date", "company_id", "company__tax_rate")
    )
    live, released = _documents(ItemKind.TAXI_RIDE, (row[0] for row in rows))
    states: dict[int, ItemState] = {}
    for ride_id, amount, service_date, company_id, rate in rows:
        blockers = _blockers((Reason.IN_DOCUMENT, ride_id in live), (Reason.NO_RATE, rate is None))
        states[ride_id] = ItemState(
            item_kind=ItemKind.TAXI_RIDE,
            item_id=ride_id,
            amount=amount,
            blockers=blockers,
            document=live.get(ride_id),
            released_from=released.get(ride_id),
            document_kind=DocumentKind.DIGITAL_INVOICE,
            seller_id=company_id,
            tax_rate=rate,
            invoiceable_on=service_date,
        )
    return states


# --- what issuing runs pick up -----------------------------------------------------------------------------------


def _not_held(kind: str) -> Q:
    # NOT EXISTS on the partial unique index document_item_one_live_per_item (item_kind, item_id) WHERE live
    return ~Q(Exists(DocumentItem.objects.filter(item_kind=kind, item_id=OuterRef("id"), live=True)))


def _has_buyer(at: str) -> Exists:
    """A binding covering the row's time whose customer has a title (card or default) in force then."""
    title = BuyerTitle.objects.filter(
        Q(card_no=OuterRef(OuterRef("card_no"))) | Q(card_no=""),
        customer=OuterRef("customer_id"),
        valid_from__lte=OuterRef(OuterRef(at)),
    )
    binding = CardBinding.objects.filter(
        Q(unbound_at__isnull=True) | Q(unbound_at__gt=OuterRef(at)),
        card_no=OuterRef("card_no"),
        bound_at__lte=OuterRef(at),
    ).filter(Exists(title))
    return Exists(binding)


def invoiceable_segments(
    *,
    service_date_to: dt.date,
    service_date_from: dt.date | None = None,
    province: str | None = None,
    require_buyer: bool = True,
    limit: int | None = None,
) -> QuerySet[Segment]:
    """Segments a daily run issues: fee > 0, service_date ≤ ``service_date_to`` (pass ``trip_cutoff(today)``),
    no live document item, not paid from an invoiced top-up (FIFO), a rate in force on commercial roads and, with
    ``require_buyer``, a title in force at the exit time. Ordered by id for chunking.

    Indexes: the BRIN ``segment_date_brin`` bounds the service-date range (pass ``service_date_from``, the last
    run's cut-off, in production); the NOT EXISTS probes ``document_item_one_live_per_item``; the FIFO subquery
    starts from that index for top-ups and reads the few affected cards' segments by ``segment_card_date_idx``.
    ``test_invoiceable_segments_use_the_indexes`` checks the plan (seq and plain index scans off, as the test
    tables are tiny); abridged::

        Nested Loop
          ->  Merge Anti Join  (Merge Cond: tolling_segment.id = u0.item_id)
                ->  Bitmap Heap Scan on tolling_segment  (Filter: fee > 0 AND NOT (hashed SubPlan 4))
                      ->  Bitmap Index Scan on segment_date_brin  (service_date <= … AND service_date >= …)
                      SubPlan 4  (FIFO, once per run)
                        CTE cards ->  Bitmap Index Scan on document_item_one_live_per_item (item_kind = 'topup')
                        ->  Bitmap Index Scan on segment_card_date_idx  (card_no = c.card_no)
                        ->  Bitmap Index Scan on topup_card_time_idx  (card_no = o.card_no)
                ->  Bitmap Index Scan on document_item_one_live_per_item  (item_kind = 'segment'; u0)
          ->  Bitmap Heap Scan on tolling_tollunit  (by pkey; SubPlan: rates by toll_unit_id)
    """
    qs = Segment.objects.filter(service_date__lte=service_date_to, fee__gt=0)
    if service_date_from is not None:
        qs = qs.filter(service_date__gte=service_date_from)
    if province is not None:
        qs = qs.filter(province=province)
    has_rate = Exists(
        TollUnitRate.objects.filter(toll_unit=OuterRef("toll_unit"), valid_from__lte=OuterRef("service_date"))
    )
    qs = qs.filter(_not_held(ItemKind.SEGMENT)).filter(Q(toll_unit__road_nature=RoadNature.LOAN) | has_rate)
    sql, params = _fifo_sql(returns="segments", card_nos=None)
    qs = qs.exclude(id__in=RawSQL(sql, params))  # noqa: S611 -- constant SQL
    if require_buyer:
        qs = qs.filter(_has_buyer("exit_time"))
    qs = qs.order_by("id")
    return qs[:limit] if limit is not None else qs


def invoiceable_topups(
    *,
    service_date_to: dt.date,
    service_date_from: dt.date | None = None,
    province: str | None = None,
    require_buyer: bool = True,
    limit: int | None = None,
) -> QuerySet[TopUp]:
    """Top-ups a run may issue (at once): no live item, no invoiced trips paid from them, a title in force."""
    qs = TopUp.objects.filter(service_date__lte=service_date_to)
    if service_date_from is not None:
        qs = qs.filter(service_date__gte=service_date_from)
    if province is not None:
        qs = qs.filter(province=province)
    sql, params = _fifo_sql(returns="topups", card_nos=None)
    qs = qs.filter(_not_held(ItemKind.TOPUP)).exclude(id__in=RawSQL(sql, params))  # noqa: S611 -- constant SQL
    if require_buyer:
        qs = qs.filter(_has_buyer("topped_up_at"))
    qs = qs.order_by("id")
    return qs[:limit] if limit is not None else qs


def invoiceable_audit_charges(
    *, service_date_to: dt.date, province: str | None = None, limit: int | None = None
) -> QuerySet[AuditCharge]:
    """Back-charges a run may issue: on a bound card with a title in force at payment, not yet in a live document."""
    qs = AuditCharge.objects.filter(service_date__lte=service_date_to).exclude(card_no="")
    if province is not None:
        qs = qs.filter(province=province)
    has_rate = Exists(
        TollUnitRate.objects.filter(toll_unit=OuterRef("toll_unit"), valid_from__lte=OuterRef("service_date"))
    )
    qs = qs.filter(_not_held(ItemKind.AUDIT_CHARGE), _has_buyer("paid_at"))
    qs = qs.filter(Q(toll_unit__road_nature=RoadNature.LOAN) | has_rate).order_by("id")
    return qs[:limit] if limit is not None else qs
