"""One search box for the support workbench: recognise what was typed, look it up through an index, group the hits.

Public entry point (stable; ``bench/search.py`` and the search page call it the same way)::

    search(*, user: User, query: str, filters: SearchFilters | None = None) -> SearchResult

- ``user``: the console user; province-bound users only find their province's records (the same scoped
  querysets as the record pages: ``support.records.customers_for`` / ``cards_for`` / ``trips_for``,
  ``invoicing.api.documents_for`` / ``sheets_for``, ``scoped(UploadBatch)``).
- ``query``: raw text as typed. Full-width characters are folded, plates and codes upper-cased.
- ``filters``: optional ``SearchFilters(province=, date_from=, date_to=, business_line=, state=)``.
- ``SearchResult``: ``.groups`` (one ``HitGroup`` per record type with ``.hits`` — at most ``GROUP_LIMIT`` — and
  ``.count``/``.more``), ``.recognised`` (the identifier kinds the text was read as), ``.total``, and
  ``.target`` — the one record to open directly when the text is an exact identifier with a unique answer
  (every hit the same record, or one customer that all other hits belong to), else ``None``.

What the text is read as (``support.recognise``; several readings are looked up when the formats overlap, each
through an index):

======================  ===========================================  ===========================================
text                    read as                                      index
======================  ===========================================  ===========================================
plate (±colour)         vehicle → its cards → bound customers;       vehicle_plate_color_uniq, FK tolling_card
                        audit back-charges on the vehicle            .vehicle_id, card_binding_card_idx,
                                                                     audit_charge_vehicle_idx
20 digits               ETC card; 数电 number; legacy code+number    card_no_uniq, document_number_idx,
                        (when the first 12 are a legacy code)        document_code_number_uniq
12 + 8 digits           legacy invoice code + number                 document_code_number_uniq
8 + 10 digits           fiscal receipt code + number                 document_code_number_uniq
16 digits               summary sheet number                         summary_sheet_number_uniq
11 digits (1[3-9]…)     phone: customer account, card holder         invoicing_customer_phone_key,
                                                                     card_holder_phone_idx
18 chars, ID check      resident ID: customer, card holder           customer_id_no_idx, card_holder_id_idx
15/17/18/20 chars       taxpayer id / USCC (not a resident ID):      buyer_title_tax_id_idx,
                        titles, documents' buyers                    document_buyer_tax_idx
8 or 10 digits          a document number alone (legacy / fiscal)    document_number_idx
1–9 digits, #n, 批次n   upload batch id                              primary key
any A–Z/0–9/_/- token    pass id (+ its back-charges), paper ticket,  trip_pass_id_uniq, audit_charge_pass_idx,
                        top-up id, back-charge id — probed together  paper_ticket_no_province_uniq,
                        in one UNION query, then fetched if found    topup_id_province_uniq,
                        (one per province may share a key)           audit_charge_id_province_uniq
names (≥ 3 chars)       customer names and buyer titles containing   customer_name_trgm, buyer_title_name_trgm
                        the text (ILIKE), ranked by similarity
names (2 chars)         names starting with the text (张伟…)          customer_name_prefix_idx,
                                                                     buyer_title_name_prefix_idx (migration
                                                                     invoicing 0003_search_names)
======================  ===========================================  ===========================================

A name that is a very common word (有限公司) matches most rows: PostgreSQL then rightly reads the table in order
and stops at ``NAME_CANDIDATES`` matches instead of building the whole index bitmap — bounded either way.
EXPLAINed at 10 M segments / 2 M documents / 1 M customers (piaogen_bench): every other path is an index scan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.postgres.search import TrigramSimilarity
from django.db.models import F, Lookup, OuterRef, Q, QuerySet, Subquery, Value
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy

from invoicing.models import BusinessLine, BuyerTitle, CardBinding, Customer, SummarySheet
from invoicing.selectors import documents_for, sheet_pass_ids_for, sheets_for
from piaogen.access import scoped
from piaogen.identifiers import PlateColor
from piaogen.models import User
from piaogen.privacy import Pii, shown
from support.models import SearchEvent
from support.recognise import KIND_LABELS, Kind, Reading, normalize, recognise
from support.records import cards_for, customers_for, titles_for, trips_for
from tolling.models import AuditCharge, Card, PaperTicket, TopUp, Trip, UploadBatch, Vehicle

GROUP_LIMIT = 20
"""At most this many hits per record type; ``HitGroup.more`` says there were more."""

NAME_CANDIDATES = 500
NAME_SUBSTRING = 3  # characters from which a name is found by any part of it; shorter, by its start
"""Name search ranks at most this many index candidates by similarity (bounded work for common words)."""


class Group:
    """Record types the hits are grouped by, in display order."""

    CUSTOMER = "customer"
    CARD = "card"
    TRIP = "trip"
    DOCUMENT = "document"
    SHEET = "sheet"
    TOPUP = "topup"
    AUDIT_CHARGE = "audit_charge"
    PAPER_TICKET = "paper_ticket"
    BATCH = "batch"


GROUP_LABELS = {
    Group.CUSTOMER: pgettext_lazy("plural", "客户"),
    Group.CARD: pgettext_lazy("plural", "ETC卡"),
    Group.TRIP: pgettext_lazy("plural", "通行"),
    Group.DOCUMENT: pgettext_lazy("plural", "票据"),
    Group.SHEET: pgettext_lazy("plural", "电子汇总单"),
    Group.TOPUP: pgettext_lazy("plural", "充值"),
    Group.AUDIT_CHARGE: pgettext_lazy("plural", "稽核补费"),
    Group.PAPER_TICKET: pgettext_lazy("plural", "纸质票据"),
    Group.BATCH: pgettext_lazy("plural", "上传批次"),
}
GROUP_ORDER = list(GROUP_LABELS)

STATE_READINGS = {
    Group.DOCUMENT: {Kind.DIGITAL_INVOICE, Kind.LEGACY_INVOICE, Kind.FISCAL_RECEIPT, Kind.DOCUMENT_NUMBER,
                     Kind.TAXPAYER_ID},
    Group.SHEET: {Kind.SUMMARY_SHEET},
    Group.BATCH: {Kind.BATCH},
}  # fmt: skip
"""The record types that have a state (their ``status``), and the readings that find them. A state filter applies
to these only: the others (customers, cards, trips…) have no state to match, so a state filter leaves them out."""


def state_groups(query: str) -> list[str]:
    """The record types with a state that searching ``query`` can find, in display order: the states the search
    page's state filter offers (``support.filters.SearchForm``)."""
    kinds = {reading.kind for reading in recognise(query)} if query.strip() else set()
    return [group for group in GROUP_ORDER if STATE_READINGS.get(group, set()) & kinds]


@dataclass(frozen=True)
class SearchFilters:
    """Narrow the hits: each filter applies to the record types that have the field (documents: all of them); a
    state keeps only the types that have one (``STATE_READINGS``)."""

    province: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    business_line: str = ""
    state: str = ""

    @property
    def active(self) -> bool:
        return bool(self.province or self.date_from or self.date_to or self.business_line or self.state)


@dataclass(frozen=True)
class Hit:
    group: str
    pk: int
    title: str
    detail: str = ""
    url: str = ""
    province: str = ""
    date: dt.date | None = None
    state: str = ""
    customer_id: int | None = None  # the customer this record belongs to, when known
    exact: bool = True  # found by an exact identifier (not a fuzzy name)


@dataclass
class HitGroup:
    key: str
    hits: list[Hit]
    more: bool = False  # there are more than the hits shown
    found: int = 0  # how many there are, counted when there are more than GROUP_LIMIT
    page: int = 1

    @property
    def has_next(self) -> bool:
        return self.page * GROUP_LIMIT < self.count

    @property
    def first_shown(self) -> int:
        return (self.page - 1) * GROUP_LIMIT + 1

    @property
    def label(self) -> str:
        return str(GROUP_LABELS[self.key])

    @property
    def count(self) -> int:
        """The real number of records found (not "20+"): counted in the database when over the limit."""
        return max(self.found, (self.page - 1) * GROUP_LIMIT + len(self.hits))


@dataclass
class SearchResult:
    query: str
    normalized: str
    recognised: list[str] = field(default_factory=list)
    groups: list[HitGroup] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(group.count for group in self.groups)

    @property
    def recognised_labels(self) -> list[str]:
        return [str(KIND_LABELS[kind]) for kind in self.recognised]

    @property
    def target(self) -> Hit | None:
        """The one record an exact identifier points at, to open directly; None when the answer is not unique."""
        hits = [hit for group in self.groups for hit in group.hits]
        if not hits or any(not hit.exact or not hit.url for hit in hits) or any(g.more for g in self.groups):
            return None
        records = {(hit.group, hit.pk) for hit in hits}
        if len(records) == 1:
            return hits[0]
        customers = [hit for hit in hits if hit.group == Group.CUSTOMER]
        if len({hit.pk for hit in customers}) == 1:
            owner = customers[0].pk
            if all(hit.group == Group.CUSTOMER or hit.customer_id == owner for hit in hits):
                return customers[0]
        return None


# --- looking up ------------------------------------------------------------------------------------------------


class _Collector:
    """Hits by group, de-duplicated by record, at most GROUP_LIMIT per group."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[int, Hit]] = {}
        self.more: set[str] = set()
        self.found: dict[str, int] = {}

    def add(self, hits: Iterable[Hit], *, more: int = 0) -> None:
        """``more``: 0, or the count of all the records a lookup matched when it had more than GROUP_LIMIT (two
        lookups into one group: the larger count, a lower bound)."""
        for hit in hits:
            group = self.groups.setdefault(hit.group, {})
            if hit.pk not in group:
                if len(group) >= GROUP_LIMIT:
                    self.more.add(hit.group)
                    continue
                group[hit.pk] = hit
            if more:
                self.more.add(hit.group)
                self.found[hit.group] = max(self.found.get(hit.group, 0), more)

    def result(self, group: str = "", page: int = 1) -> list[HitGroup]:
        return [
            HitGroup(
                key,
                list(self.groups[key].values()),
                more=key in self.more,
                found=self.found.get(key, 0),
                page=page if key == group else 1,
            )
            for key in GROUP_ORDER
            if self.groups.get(key)
        ]


def _limited(qs: QuerySet[Any], offset: int = 0) -> tuple[list[Any], int]:
    """GROUP_LIMIT rows from ``offset``, and 0 or (when there are more, or this is a later page) the count of all:
    one query, two past the first page."""
    rows = list(qs[offset : offset + GROUP_LIMIT + 1])
    counted = len(rows) > GROUP_LIMIT or offset > 0
    return rows[:GROUP_LIMIT], qs.order_by().count() if counted else 0


def _trip_count(sheet: SummarySheet) -> str:
    """A sheet's trips as the user may count them (``sheet_pass_ids_for``: a province user, their own trips)."""
    count = len(getattr(sheet, "visible_pass_ids", sheet.pass_ids))
    return ngettext("%(n)s 次通行", "%(n)s 次通行", count) % {"n": count}


def _bj_date(value: dt.datetime | None) -> dt.date | None:
    from invoicing.eligibility import BEIJING

    return value.astimezone(BEIJING).date() if value is not None else None


if TYPE_CHECKING:
    _LookupBase = Lookup[str]
else:
    _LookupBase = Lookup


class _ILike(_LookupBase):
    """``lhs ILIKE rhs``: the trigram GIN indexes serve it (Django's ``icontains`` wraps the column in ``UPPER()``,
    which no index serves, and ``~*`` extracts no trigrams from CJK text)."""

    lookup_name = "ilike"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", (*lhs_params, *rhs_params)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def name_match(text: str) -> Q:
    """Names containing ``text``, through an index: from 3 characters a case-insensitive substring (trigram GIN:
    customer_name_trgm, buyer_title_name_trgm); 2 characters (a short Chinese name such as 张伟, which has no
    whole trigram) as a prefix through the btree name indexes of invoicing migration 0003_search_names."""
    if len(text) >= NAME_SUBSTRING:
        return Q(_ILike(F("name"), f"%{_like_escape(text)}%"))
    return Q(name__startswith=text)


class _Search:
    def __init__(self, user: User, filters: SearchFilters, *, group: str = "", page: int = 1) -> None:
        self.user = user
        self.filters = filters
        self.out = _Collector()
        self.group, self.page = group, max(page, 1)  # the one group paged past its first page

    def offset(self, group: str) -> int:
        return (self.page - 1) * GROUP_LIMIT if group == self.group else 0

    # filters --------------------------------------------------------------------------------------------------

    def _line_allows(self, line: str) -> bool:
        return not self.filters.business_line or self.filters.business_line == line

    def _narrow(self, qs: QuerySet[Any], *, province: str = "", date: str = "", state: str = "") -> QuerySet[Any]:
        f = self.filters
        if province and f.province:
            qs = qs.filter(**{province: f.province})
        if date and f.date_from:
            qs = qs.filter(**{f"{date}__gte": f.date_from})
        if date and f.date_to:
            qs = qs.filter(**{f"{date}__lte": f.date_to})
        if state and f.state:
            qs = qs.filter(**{state: f.state})
        return qs

    # record types ---------------------------------------------------------------------------------------------

    def customers(self, condition: Q, *, detail: str = "", exact: bool = True) -> None:
        if self.filters.state:  # no state to match (STATE_READINGS)
            return
        qs = self._narrow(customers_for(self.user).filter(condition), province="province").order_by("pk")
        rows, more = _limited(offset=self.offset(Group.CUSTOMER), qs=qs)
        self.out.add((self._customer_hit(c, detail=detail, exact=exact) for c in rows), more=more)

    def _customer_hit(self, customer: Customer, *, detail: str = "", exact: bool = True) -> Hit:
        return Hit(
            group=Group.CUSTOMER,
            pk=customer.pk,
            title=customer.name,
            detail=" · ".join(x for x in (customer.get_kind_display(), shown(Pii.PHONE, customer.phone), detail) if x),
            url=reverse("customer-detail", args=[customer.pk]),
            province=customer.province,
            customer_id=customer.pk,
            exact=exact,
        )

    def cards(self, condition: Q) -> None:
        if self.filters.state:  # no state to match (STATE_READINGS)
            return
        qs = self._narrow(cards_for(self.user).filter(condition), province="province")
        owner = CardBinding.objects.filter(card_no=OuterRef("card_no"), unbound_at__isnull=True).values("customer_id")
        rows, more = _limited(
            offset=self.offset(Group.CARD),
            qs=qs.select_related("vehicle").annotate(owner=Subquery(owner[:1])).order_by("pk"),
        )
        self.out.add(
            (
                Hit(
                    group=Group.CARD,
                    pk=card.pk,
                    title=card.card_no,
                    detail=" · ".join(
                        str(x)
                        for x in (
                            card.get_card_type_display(),
                            card.vehicle and str(card.vehicle.plate),
                            card.get_province_display(),
                        )
                        if x
                    ),
                    url=reverse("card-detail", args=[card.pk]),
                    province=card.province,
                    customer_id=card.owner,  # the annotation
                )
                for card in rows
            ),
            more=more,
        )

    def bound_customers(self, card_nos: QuerySet[Card, Any]) -> None:
        ids = CardBinding.objects.filter(card_no__in=card_nos, unbound_at__isnull=True).values("customer_id")
        self.customers(Q(pk__in=ids), detail=str(_("绑定该卡")))

    def trips(self, condition: Q) -> None:
        if self.filters.state:  # no state to match (STATE_READINGS)
            return
        if not self._line_allows(BusinessLine.ETC_TRIP):
            return
        qs = self._narrow(trips_for(self.user).filter(condition), date="service_date")
        rows, more = _limited(offset=self.offset(Group.TRIP), qs=qs.order_by("-service_date", "pk"))
        self.out.add(
            (
                Hit(
                    group=Group.TRIP,
                    pk=trip.pk,
                    title=trip.pass_id,
                    detail=f"{trip.plate} · {trip.card_no}",
                    url=reverse("trip-detail", args=[trip.pk]),
                    date=trip.service_date,
                )
                for trip in rows
            ),
            more=more,
        )

    def documents(self, condition: Q) -> None:
        qs = documents_for(self.user).filter(condition)
        qs = self._narrow(qs, province="province", date="service_date", state="status")
        if self.filters.business_line:
            qs = qs.filter(business_line=self.filters.business_line)
        rows, more = _limited(offset=self.offset(Group.DOCUMENT), qs=qs.order_by("-issued_at", "-pk"))
        self.out.add(
            (
                Hit(
                    group=Group.DOCUMENT,
                    pk=doc.pk,
                    title=f"{doc.get_kind_display()} {doc}",
                    detail=f"{doc.buyer_name} · {doc.seller_name} · {doc.get_business_line_display()}",
                    url=reverse("document-detail", args=[doc.pk]),
                    province=doc.province,
                    date=doc.service_date,
                    state=doc.get_status_display(),
                    customer_id=doc.customer_id,
                )
                for doc in rows
            ),
            more=more,
        )

    def sheets(self, condition: Q) -> None:
        qs = self._narrow(
            sheet_pass_ids_for(self.user, sheets_for(self.user).filter(condition)),  # a province: its own trips
            province="province",
            date="service_date",
            state="status",
        )
        rows, more = _limited(offset=self.offset(Group.SHEET), qs=qs.order_by("-issued_at", "-pk"))
        self.out.add(
            (
                Hit(
                    group=Group.SHEET,
                    pk=sheet.pk,
                    title=sheet.number,
                    detail=f"{sheet.card_no} · " + _trip_count(sheet),
                    url=reverse("sheet-detail", args=[sheet.pk]),  # the sheet's own page
                    province=sheet.province,
                    date=sheet.service_date,
                    state=sheet.get_status_display(),
                    customer_id=sheet.customer_id,
                )
                for sheet in rows
            ),
            more=more,
        )

    def _card_urls(self, card_nos: Iterable[str]) -> dict[str, str]:
        card_nos = list(card_nos)
        if not card_nos:
            return {}
        return {
            card_no: reverse("card-detail", args=[pk])
            for card_no, pk in cards_for(self.user).filter(card_no__in=card_nos).values_list("card_no", "pk")
        }

    def topups(self, condition: Q) -> None:
        if self.filters.state:  # no state to match (STATE_READINGS)
            return
        if not self._line_allows(BusinessLine.ETC_TOPUP):
            return
        qs = self._narrow(scoped(TopUp.objects.filter(condition), self.user), province="province", date="service_date")
        rows, more = _limited(offset=self.offset(Group.TOPUP), qs=qs.order_by("-topped_up_at"))
        urls = self._card_urls(t.card_no for t in rows)
        self.out.add(
            (
                Hit(
                    group=Group.TOPUP,
                    pk=t.pk,
                    title=t.topup_id,
                    detail=f"{t.card_no} · ¥{t.amount / 100:.2f}",
                    url=urls.get(t.card_no, ""),
                    province=t.province,
                    date=t.service_date,
                )
                for t in rows
            ),
            more=more,
        )

    def audit_charges(self, condition: Q, *, customer_id: int | None = None) -> None:
        if self.filters.state:  # no state to match (STATE_READINGS)
            return
        if not self._line_allows(BusinessLine.AUDIT):
            return
        qs = self._narrow(
            scoped(AuditCharge.objects.filter(condition), self.user), province="province", date="service_date"
        )
        rows, more = _limited(offset=self.offset(Group.AUDIT_CHARGE), qs=qs.order_by("-paid_at"))
        trips = dict(
            trips_for(self.user).filter(pass_id__in=[c.pass_id for c in rows if c.pass_id]).values_list("pass_id", "pk")
        )
        urls = self._card_urls(c.card_no for c in rows if c.card_no and c.pass_id not in trips)
        self.out.add(
            (
                Hit(
                    group=Group.AUDIT_CHARGE,
                    pk=c.pk,
                    title=c.charge_id,
                    detail=f"{c.plate} · {c.get_reason_display()} · ¥{c.amount / 100:.2f}",
                    url=(  # the original trip, else the card, else the vehicle's page (its back-charges)
                        reverse("trip-detail", args=[trips[c.pass_id]])
                        if c.pass_id in trips
                        else urls.get(c.card_no) or reverse("vehicle-detail", args=[c.plate])
                    ),
                    province=c.province,
                    date=c.service_date,
                    customer_id=customer_id,
                )
                for c in rows
            ),
            more=more,
        )

    def paper_tickets(self, condition: Q) -> None:
        if self.filters.state:  # no state to match (STATE_READINGS)
            return
        if not self._line_allows(BusinessLine.PAPER):
            return
        qs = self._narrow(
            scoped(PaperTicket.objects.filter(condition), self.user), province="province", date="service_date"
        )
        rows, more = _limited(offset=self.offset(Group.PAPER_TICKET), qs=qs.order_by("-exit_time"))
        self.out.add(
            (
                Hit(
                    group=Group.PAPER_TICKET,
                    pk=t.pk,
                    title=t.ticket_no,
                    detail=f"{t.plate} · {t.get_pay_method_display()} · ¥{t.amount / 100:.2f}",
                    province=t.province,
                    date=t.service_date,
                )
                for t in rows
            ),
            more=more,
        )

    def batches(self, batch_id: int) -> None:
        qs = self._narrow(scoped(UploadBatch.objects.filter(pk=batch_id), self.user), province="province")
        qs = self._narrow(qs, state="status")
        self.out.add(
            Hit(
                group=Group.BATCH,
                pk=b.pk,
                title=f"#{b.pk} {b.file_name}",
                detail=f"{b.get_kind_display()} · {b.get_status_display()}",
                url=reverse("upload-detail", args=[b.pk]),
                province=b.province,
                date=_bj_date(b.created_at),
                state=b.get_status_display(),
            )
            for b in qs
        )

    def names(self, text: str) -> None:
        """Customers by name and by buyer title, ranked by trigram similarity among bounded index candidates."""
        if self.filters.state:  # no state to match (STATE_READINGS)
            return
        match = name_match(text)
        candidates = self._narrow(customers_for(self.user).filter(match), province="province")
        ranked = (
            Customer.objects.filter(pk__in=candidates.values("pk")[:NAME_CANDIDATES])
            .annotate(similarity=TrigramSimilarity("name", text))
            .order_by("-similarity", "pk")
        )
        rows, more = _limited(offset=self.offset(Group.CUSTOMER), qs=ranked)
        self.out.add((self._customer_hit(c, exact=False) for c in rows), more=more)
        titles = BuyerTitle.objects.filter(match)
        if self.user.province_scope is not None:
            titles = titles.filter(customer__in=customers_for(self.user))
        title_rows, more = _limited(
            offset=self.offset(Group.CUSTOMER),
            qs=BuyerTitle.objects.filter(pk__in=titles.values("pk")[:NAME_CANDIDATES])
            .select_related("customer")
            .annotate(similarity=TrigramSimilarity("name", text))
            .order_by("-similarity", "pk"),
        )
        self.out.add(
            (
                self._customer_hit(t.customer, detail=str(_("抬头：")) + t.name, exact=False)
                for t in title_rows
                if not self.filters.province or t.customer.province == self.filters.province
            ),
            more=more,
        )

    # readings -------------------------------------------------------------------------------------------------

    def run(self, reading: Reading) -> None:
        handler: Callable[[Any], None] = getattr(self, f"read_{reading.kind}")
        handler(reading.value)

    def read_plate(self, value: tuple[str, int | None]) -> None:
        plate, color = value
        vehicles = Vehicle.objects.filter(plate=plate)
        charges = Q(plate=plate)
        if color is not None:
            vehicles = vehicles.filter(plate_color=color)
            charges &= Q(plate_color=color)
        else:
            charges &= Q(plate_color__in=PlateColor.values)  # audit_charge_vehicle_idx on (plate, plate_color)
        self.bound_customers(cards_for(self.user).filter(vehicle__in=vehicles).values("card_no"))
        self.cards(Q(vehicle__in=vehicles))
        owners = {hit.customer_id for hit in self.out.groups.get(Group.CUSTOMER, {}).values()}
        # the vehicle's back-charges belong to its one customer, when there is one
        self.audit_charges(charges, customer_id=owners.pop() if len(owners) == 1 else None)

    def read_plate_prefix(self, prefix: str) -> None:
        # vehicle_plate_prefix_idx (varchar_pattern_ops): LIKE '苏A12%' whatever the database's collation
        vehicles = Vehicle.objects.filter(plate__startswith=prefix)
        self.bound_customers(cards_for(self.user).filter(vehicle__in=vehicles).values("card_no"))
        self.cards(Q(vehicle__in=vehicles))

    def read_card(self, card_no: str) -> None:
        self.cards(Q(card_no=card_no))

    def read_digital_invoice(self, number: str) -> None:
        self.documents(Q(number=number))

    def read_legacy_invoice(self, value: tuple[str, str]) -> None:
        self.documents(Q(code=value[0], number=value[1]))

    read_fiscal_receipt = read_legacy_invoice

    def read_document_number(self, number: str) -> None:
        self.documents(Q(number=number))

    def read_summary_sheet(self, number: str) -> None:
        self.sheets(Q(number=number))

    def read_phone(self, phone: str) -> None:
        self.customers(Q(phone=phone))
        self.cards(Q(holder_phone=phone))

    def read_resident_id(self, id_no: str) -> None:
        self.customers(Q(id_no=id_no))
        self.cards(Q(holder_id_no=id_no))

    def read_taxpayer_id(self, tax_id: str) -> None:
        owners = titles_for(self.user).filter(tax_id=tax_id).values("customer_id")  # a province: its cards' titles
        self.customers(Q(pk__in=owners), detail=str(_("抬头纳税人识别号")))
        self.documents(Q(buyer_tax_id=tax_id))

    def read_pass_id(self, pass_id: str) -> None:
        self.trips(Q(pass_id=pass_id))
        self.audit_charges(Q(pass_id=pass_id))

    def read_paper_ticket(self, ticket_no: str) -> None:
        self.paper_tickets(Q(ticket_no=ticket_no))

    def read_topup(self, topup_id: str) -> None:
        self.topups(Q(topup_id=topup_id))

    def read_audit_charge(self, charge_id: str) -> None:
        self.audit_charges(Q(charge_id=charge_id))

    def read_batch(self, batch_id: int) -> None:
        self.batches(batch_id)

    def read_name(self, text: str) -> None:
        self.names(text)


FREE_FORMAT = (Kind.PASS_ID, Kind.PAPER_TICKET, Kind.TOPUP, Kind.AUDIT_CHARGE)


def _probe(readings: list[Reading]) -> set[Reading]:
    """Which free-format readings (pass id, paper ticket, top-up, back-charge ids) exist at all: one query over
    their unique indexes for all of them, so the common miss costs one round trip instead of six."""
    values: dict[str, list[str]] = {kind: [] for kind in FREE_FORMAT}
    for reading in readings:
        values[reading.kind].append(reading.value)
    probes = [
        Trip.objects.filter(pass_id__in=values[Kind.PASS_ID]).annotate(k=Value(Kind.PASS_ID), v=F("pass_id")),
        AuditCharge.objects.filter(pass_id__in=values[Kind.PASS_ID])
        .exclude(pass_id="")  # audit_charge_pass_idx is partial
        .annotate(k=Value(Kind.PASS_ID), v=F("pass_id")),
        PaperTicket.objects.filter(ticket_no__in=values[Kind.PAPER_TICKET]).annotate(
            k=Value(Kind.PAPER_TICKET), v=F("ticket_no")
        ),
        TopUp.objects.filter(topup_id__in=values[Kind.TOPUP]).annotate(k=Value(Kind.TOPUP), v=F("topup_id")),
        AuditCharge.objects.filter(charge_id__in=values[Kind.AUDIT_CHARGE]).annotate(
            k=Value(Kind.AUDIT_CHARGE), v=F("charge_id")
        ),
    ]
    first, *rest = [probe.values_list("k", "v") for probe in probes]
    hits = set(first.union(*rest, all=True)[:100])
    return {reading for reading in readings if (reading.kind, reading.value) in hits}


def search(
    *, user: User, query: str, filters: SearchFilters | None = None, group: str = "", page: int = 1
) -> SearchResult:
    """Recognise ``query``, look every reading up through its index within the user's scope, group the hits;
    ``group`` and ``page`` show that group's later page (GROUP_LIMIT a page)."""
    readings = recognise(query)
    runner = _Search(user, filters or SearchFilters(), group=group, page=page)
    free = [reading for reading in readings if reading.kind in FREE_FORMAT]
    existing = _probe(free) if free else set()
    for reading in readings:
        if reading.kind not in FREE_FORMAT or reading in existing:
            runner.run(reading)
    recognised = list(dict.fromkeys(reading.kind for reading in readings))
    return SearchResult(
        query=query, normalized=normalize(query), recognised=recognised, groups=runner.out.result(group, runner.page)
    )


UNRECOGNISED = "unrecognised"


def search_event_record(*, user: User, result: SearchResult, opened: bool) -> SearchEvent:
    """Log one search for the workload report: one insert, the kind recognised first (or UNRECOGNISED), never the
    text typed."""
    return SearchEvent.objects.create(
        user=user, kind=(result.recognised or [UNRECOGNISED])[0], province=user.province_scope or "",
        results=result.total, opened=opened,
    )  # fmt: skip


__all__ = [
    "GROUP_LIMIT",
    "Group",
    "Hit",
    "HitGroup",
    "Kind",
    "SearchFilters",
    "SearchResult",
    "recognise",
    "search",
    "search_event_record",
]
