"""Record pages' data: what the customer, trip and card pages show, fetched through the user's scope in a fixed
number of queries (no query per row), every list bounded.

Scope (province-bound users; national roles see everything):

- a **customer** is visible when the account's province is the user's or one of its bound cards was issued there;
- a **card** when it was issued in the province (``Card.province``);
- a **trip** when one of its segments is on a toll unit of the province — and only those segments are shown;
- documents and summary sheets through ``invoicing.api.documents_for`` / ``sheets_for`` (the seller's province).

PII: phone and ID numbers are masked unless ``support.privacy.pii_revealed`` says the user revealed them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.lookups import IsNull
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from invoicing.customers import prepaid_choice_history
from invoicing.eligibility import (
    DocumentRef,
    ItemState,
    Reason,
    TopUpMode,
    audit_charge_states,
    fifo_matches,
    segment_states,
    topup_states,
)
from invoicing.models import (
    BuyerTitle,
    CardBinding,
    CardPrepaidChoice,
    Customer,
    Delivery,
    Document,
    DocumentEvent,
    DocumentItem,
    ItemKind,
    SummarySheet,
)
from invoicing.selectors import documents_for, sheet_pass_ids_for, sheets_for
from piaogen.access import scoped
from piaogen.identifiers import CardType
from piaogen.models import AuditEvent, User
from piaogen.privacy import Pii, shown
from support.privacy import mask_pii, pii_revealed, reveal_for
from support.tickets import tickets_for
from tolling.models import AuditCharge, Card, Segment, TopUp, Trip, UploadBatch

TRIPS_PER_PAGE = 10
LIST_LIMIT = 20
TIMELINE_LIMIT = 40  # lines of the customer timeline a page
TIMELINE_SCAN = 1_000  # newest rows read from each timeline source: the timeline pages and counts within them
GROUP_NAMES = 5  # a grouped timeline line names its first documents
EVENTS_PER_DOCUMENT = 4  # issued, delivered, reversed, reissued: the bound of the document-event read
TIMELINE_DOCUMENTS = 200  # the timeline reads the events of the customer's newest documents, not of thousands


# --- scope ------------------------------------------------------------------------------------------------------


def customers_for(user: User) -> QuerySet[Customer]:
    """Customers the user may see: all, or (province-bound) those of the province or with a card issued there."""
    province = user.province_scope
    customers = Customer.objects.all()
    if province is None:
        return customers
    # checked per customer through the binding's customer index; the LIMIT keeps PostgreSQL from hashing every
    # binding of the province up front (a ~0.4 s subplan at 1 M customers) when few candidates are checked
    cards_there = CardBinding.objects.filter(customer=OuterRef("pk"), card_no__startswith=province).values("pk")[:1]
    return customers.filter(Q(province=province) | Q(IsNull(Subquery(cards_there), False)))


def cards_for(user: User) -> QuerySet[Card]:
    """Cards the user may see: all, or (province-bound) the cards issued in the province."""
    return scoped(Card.objects.all(), user)


def trips_for(user: User) -> QuerySet[Trip]:
    """Trips the user may see: all, or (province-bound) those with a segment on the province's toll units."""
    province = user.province_scope
    if province is None:
        return Trip.objects.all()
    there = Segment.objects.filter(pass_id=OuterRef("pass_id"), province=province)  # segment_natural_key
    return Trip.objects.filter(Exists(there))


def segments_for(user: User) -> QuerySet[Segment]:
    return scoped(Segment.objects.all(), user)


@dataclass
class VehicleRecord:
    plate: str
    cards: Page[Any]  # cards with their current holder (``holder_id``)
    audit_charges: list[ItemRow]  # the page's
    charges_page: Page[AuditCharge]


def vehicle_record(*, user: User, plate: str, cards_page: Any = 1, charges_page: Any = 1) -> VehicleRecord:
    """A plate's vehicles (every plate colour) as the user may see them: their cards with the current holder, and
    their audit back-charges — those recorded without a card too, which no card's page reaches when the vehicle has
    no card in the user's scope (a back-charge names a vehicle always, a card only when known: domain.md §4.13)."""
    holder = CardBinding.objects.filter(card_no=OuterRef("card_no"), unbound_at__isnull=True).values("customer_id")
    cards = (
        cards_for(user)
        .filter(vehicle__plate=plate)  # vehicle_plate_color_uniq, then the cards' vehicle_id
        .select_related("vehicle")
        .annotate(holder_id=Subquery(holder[:1]))
        .order_by("card_no", "pk")
    )
    charges, charges_paged = _charge_page(
        user, scoped(AuditCharge.objects.filter(plate=plate), user), charges_page
    )  # audit_charge_vehicle_idx
    return VehicleRecord(
        plate=plate,
        cards=Paginator(cards, LIST_LIMIT).get_page(cards_page),
        audit_charges=charges,
        charges_page=charges_paged,
    )


def customer_for(user: User, customer_id: int) -> Customer:
    return get_object_or_404(customers_for(user), pk=customer_id)


def trip_for(user: User, trip_id: int) -> Trip:
    return get_object_or_404(trips_for(user), pk=trip_id)


def card_for(user: User, card_id: int) -> Card:
    return get_object_or_404(cards_for(user).select_related("vehicle", "issuer"), pk=card_id)


# --- pieces -----------------------------------------------------------------------------------------------------


@dataclass
class ItemRow:
    """A segment, top-up or back-charge with its invoice state and the reason, as a sentence."""

    item: Any
    state: ItemState | None
    held_by: list[DocumentItem] = field(default_factory=list)  # every document that ever held it
    paid_by: list[TopUp] = field(default_factory=list)  # prepaid: the top-ups that paid it (FIFO)
    trip_id: int | None = None  # back-charges: the original trip's page

    @property
    def reason(self) -> str:
        return str(self.state.reason) if self.state else ""

    @property
    def message(self) -> str:
        return self.state.message() if self.state else _("无法确定开票状态")

    @property
    def eligible(self) -> bool:
        return bool(self.state and self.state.eligible)

    @property
    def document(self) -> DocumentRef | None:
        return self.state.document if self.state else None

    @property
    def released_from(self) -> DocumentRef | None:
        return self.state.released_from if self.state else None

    @property
    def mode_label(self) -> str:
        """A top-up's invoice mode: not invoiced, invoiced as the top-up, or its trips invoiced instead."""
        return str(TopUpMode(self.state.mode).label) if self.state and self.state.mode else ""

    @property
    def blockers(self) -> list[str]:
        return [str(reason.label) for reason in self.state.blockers] if self.state else []


@dataclass
class TripRow:
    trip: Trip
    segments: list[ItemRow]

    @property
    def pay_fee(self) -> int:
        return sum(row.item.pay_fee for row in self.segments)

    @property
    def discount_fee(self) -> int:
        return sum(row.item.discount_fee for row in self.segments)

    @property
    def fee(self) -> int:
        return sum(row.item.fee for row in self.segments)


def select_key(trip: Trip, segment: Segment | None = None) -> str:
    """What a trips list's checkbox sends (and the pager carries): ``<card>:<pass id>`` for a trip,
    ``<card>:<pass id>#<segment no>`` for one of its segments; ``support.actions`` reads it back."""
    key = f"{trip.card_no}:{trip.pass_id}"
    return key if segment is None else f"{key}#{segment.segment_no}"


def topup_key(topup: TopUp) -> str:
    """What a top-ups list's checkbox sends (and the pagers carry): ``<card>:<top-up id>``."""
    return f"{topup.card_no}:{topup.topup_id}"


def trip_rows(user: User, trips: Sequence[Trip], *, history: bool = False) -> list[TripRow]:
    """Trips with their (scoped) segments and each segment's state: six queries for any number of trips."""
    if not trips:
        return []
    segments = list(
        segments_for(user)
        .filter(pass_id__in=[trip.pass_id for trip in trips])
        .select_related("toll_unit__operator")
        .order_by("pass_id", "segment_no")
    )
    states = segment_states(segment_ids=[seg.pk for seg in segments]) if segments else {}
    held: dict[int, list[DocumentItem]] = defaultdict(list)
    if history and segments:
        items = DocumentItem.objects.filter(
            item_kind=ItemKind.SEGMENT, item_id__in=[seg.pk for seg in segments]
        ).select_related("document")
        for item in items.order_by("id"):
            held[item.item_id].append(item)
    by_pass: dict[str, list[ItemRow]] = defaultdict(list)
    for seg in segments:
        by_pass[seg.pass_id].append(ItemRow(seg, states.get(seg.pk), held_by=held.get(seg.pk, [])))
    return [TripRow(trip, by_pass.get(trip.pass_id, [])) for trip in trips]


def _topup_page(qs: QuerySet[TopUp], number: Any) -> Page[TopUp]:
    """One page of top-ups, newest first (LIST_LIMIT a page), and the count of all."""
    return Paginator(qs.order_by("-topped_up_at", "-pk"), LIST_LIMIT).get_page(number)


def _topup_rows(topups: list[TopUp]) -> list[ItemRow]:
    states = topup_states(topup_ids=[t.pk for t in topups]) if topups else {}
    return [ItemRow(t, states.get(t.pk)) for t in topups]


def _charge_rows(user: User, charges: list[AuditCharge]) -> list[ItemRow]:
    """Back-charges with their state and a link to the original trip when the user may see it."""
    if not charges:
        return []
    states = audit_charge_states(charge_ids=[c.pk for c in charges])
    trips = dict(
        trips_for(user).filter(pass_id__in={c.pass_id for c in charges if c.pass_id}).values_list("pass_id", "pk")
    )
    return [ItemRow(c, states.get(c.pk), trip_id=trips.get(c.pass_id)) for c in charges]


def _charge_page(user: User, charges: QuerySet[AuditCharge], number: Any) -> tuple[list[ItemRow], Page[AuditCharge]]:
    """One page of back-charges (``charges``: those the user may see), newest first (LIST_LIMIT a page), with the
    count of all, and the page's rows (``_charge_rows``)."""
    page = Paginator(charges.order_by("-paid_at", "-pk"), LIST_LIMIT).get_page(number)
    return _charge_rows(user, list(page.object_list)), page


def _with_lineage(qs: QuerySet[Document]) -> QuerySet[Document]:
    return qs.select_related("original", "replaces", "title", "customer").prefetch_related(  # customer, title:
        Prefetch("deliveries", queryset=Delivery.objects.order_by("-created_at")),  # undelivered_reason
        "reversals",
        "reissues",
    )


def _document_page(
    qs: QuerySet[Document], number: Any, order: tuple[str, ...] = ("-issued_at", "-pk")
) -> Page[Document]:
    """One page of documents (LIST_LIMIT a page) with their lineage and deliveries, and the count of all: a count
    and the page's fixed set of queries, however many documents there are."""
    page = Paginator(_with_lineage(qs).order_by(*order), LIST_LIMIT).get_page(number)
    page.object_list = list(page.object_list)
    return page


def _page(qs: QuerySet[Trip], number: Any) -> Page[Trip]:
    return Paginator(qs, TRIPS_PER_PAGE).get_page(number)


def _visible_batches(user: User, batch_ids: Iterable[int | None]) -> set[int]:
    ids = {pk for pk in batch_ids if pk}
    return set(scoped(UploadBatch.objects.filter(pk__in=ids), user).values_list("pk", flat=True)) if ids else set()


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str
    text: str
    by: str = ""
    url: str = ""
    event: str = ""  # a document event's label: consecutive events of one label by one person are grouped
    count: int = 1
    names: tuple[str, ...] = ()  # a group's document numbers (the first GROUP_NAMES)


def grouped(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Consecutive document events of the same kind by the same person folded into one line ("开具 20 张票据",
    at the newest one's time); other entries as they are."""
    out: list[TimelineEntry] = []
    for entry in entries:
        last = out[-1] if out else None
        if entry.event and last is not None and last.event == entry.event and last.by == entry.by:
            count = last.count + 1
            text = ngettext("%(event)s %(count)d 张票据", "%(event)s %(count)d 张票据", count) % {
                "event": entry.event,
                "count": count,
            }
            names = (last.names or (last.text.split(" · ", 1)[0],)) + (entry.text.split(" · ", 1)[0],)
            out[-1] = TimelineEntry(
                last.at, last.kind, text, by=last.by, event=last.event, count=count, names=names[:GROUP_NAMES]
            )
        else:
            out.append(entry)
    return out


# --- customer ---------------------------------------------------------------------------------------------------


@dataclass
class TitleRow:
    title: BuyerTitle
    in_force: bool
    tax_id: str = ""  # as the reader may see it (a person's taxpayer id is their resident ID number)


@dataclass(frozen=True)
class BroughtIn:
    """What a binding that reached back brought in (domain.md §4.11): the card's trips and top-ups from
    ``since`` until the binding was made, counted as the user may see them."""

    since: dt.datetime
    until: dt.datetime
    trips: int
    topups: int


def brought_in(user: User, binding: CardBinding) -> BroughtIn | None:
    """None for a binding that covers only from when it was made. Two counts over the card's indexes."""
    if not binding.reaches_back:
        return None
    since, until = binding.covers_since, binding.bound_at
    trips = trips_for(user).filter(card_no=binding.card_no, exit_time__gte=since, exit_time__lt=until).count()
    topups = scoped(
        TopUp.objects.filter(card_no=binding.card_no, topped_up_at__gte=since, topped_up_at__lt=until), user
    ).count()
    return BroughtIn(since=since, until=until, trips=trips, topups=topups)


@dataclass
class BindingRow:
    binding: CardBinding
    card: Card | None
    brought_in: BroughtIn | None = None


@dataclass
class CustomerRecord:
    customer: Customer
    revealed: bool
    phone: str
    id_no: str
    email: str
    bindings: list[BindingRow]  # the page's
    bindings_page: Page[CardBinding]  # of the bindings of cards the user may see
    titles: list[TitleRow]  # the page's
    titles_page: Page[BuyerTitle]
    trips: Page[Trip]
    trip_rows: list[TripRow]
    topups: list[ItemRow]  # the page's
    topups_page: Page[TopUp]
    documents: list[Document]  # the page's
    documents_page: Page[Document]
    sheets: list[SummarySheet]  # the page's
    sheets_page: Page[SummarySheet]
    audit_charges: list[ItemRow]  # the page's
    charges_page: Page[AuditCharge]
    timeline: Timeline


def titles_for(user: User) -> QuerySet[BuyerTitle]:
    """Title versions the user may see: all, or (province-bound) accounts' default titles and those for cards
    issued in the province; titles for another province's cards are not theirs to read."""
    titles = BuyerTitle.objects.all()
    province = user.province_scope
    if province is None:
        return titles
    return titles.filter(Q(card_no="") | Q(card_no__startswith=province))


def bindings_for(user: User) -> QuerySet[CardBinding]:
    """Card bindings the user may see: all, or (province-bound) those of cards issued in the province."""
    bindings = CardBinding.objects.all()
    province = user.province_scope
    return bindings if province is None else bindings.filter(card_no__startswith=province)


def _titles(
    user: User, customer: Customer, number: Any, *, revealed: bool
) -> tuple[list[TitleRow], Page[BuyerTitle], list[str]]:
    """A page of the title versions the user may see, newest first per card (blank card: the account's default),
    marking the one in force — per card, the newest already valid that is not for one document only, on whichever
    page it falls — and the ids of all versions (the timeline's)."""
    titles = titles_for(user).filter(customer=customer).order_by("card_no", "-valid_from", "-pk")
    now = timezone.now()
    in_force: set[int] = set()
    seen: set[str] = set()
    ids = []
    for pk, card_no, valid_from, one_document in titles.values_list("pk", "card_no", "valid_from", "one_document"):
        ids.append(str(pk))  # as the audit trail stores object ids
        if valid_from <= now and card_no not in seen and not one_document:
            in_force.add(pk)
            seen.add(card_no)
    page = Paginator(titles, LIST_LIMIT).get_page(number)
    rows = [
        TitleRow(title, title.pk in in_force, reveal_for(Pii.TAX_ID, title.tax_id, revealed=revealed))
        for title in page.object_list
    ]
    return rows, page, ids


def _binding_trips(user: User, bindings: Sequence[CardBinding]) -> QuerySet[Trip]:
    """The trips made on the customer's cards while they were bound to them (cards change hands): one index range
    per binding."""
    period = Q(pk__in=[])
    for binding in bindings:
        during = Q(card_no=binding.card_no, exit_time__gte=binding.covers_since)
        if binding.unbound_at is not None:
            during &= Q(exit_time__lt=binding.unbound_at)
        period |= during
    return trips_for(user).filter(period).order_by("-service_date", "-exit_time", "-pk")


@dataclass
class Timeline:
    """The customer's grouped timeline, one page of it, and whether older rows were left out of the count (a source
    had more than ``TIMELINE_SCAN`` rows, or the customer more than ``TIMELINE_DOCUMENTS`` documents)."""

    page: Page[TimelineEntry]
    partial: bool

    @property
    def entries(self) -> list[TimelineEntry]:
        return list(self.page.object_list)


def customer_timeline(
    user: User,
    customer: Customer,
    documents: QuerySet[Document],
    bindings: Sequence[CardBinding],
    title_ids: list[str],
    page: Any = 1,
) -> Timeline:
    """One timeline of everything done: audit trail, document events, deliveries and tickets (five queries), the
    repeated document events grouped. The caller passes only the documents (all of them, not one page), bindings
    and titles the user may see; events on the account itself and tickets are narrowed to the user's province here
    (a province user reads nothing done for another province: an account-level action such as binding another
    province's card is recorded with that province). The events are grouped before the list is paged, so a line's
    count is every event it stands for and the page count is of grouped lines."""
    newest = documents.order_by("-issued_at", "-pk").values_list("pk", "code", "number")[: TIMELINE_DOCUMENTS + 1]
    partial = len(newest) > TIMELINE_DOCUMENTS
    newest = newest[:TIMELINE_DOCUMENTS]
    numbers = {pk: _document_name(code, number) for pk, code, number in newest}
    doc_ids = [str(pk) for pk in numbers]
    account = Q(object_type="invoicing.customer", object_id=str(customer.pk))
    if user.province_scope is not None:
        account &= Q(province=user.province_scope)
    objects = (
        account
        | Q(object_type="invoicing.document", object_id__in=doc_ids)
        | Q(object_type="invoicing.cardbinding", object_id__in=[str(b.pk) for b in bindings])
        | Q(object_type="invoicing.buyertitle", object_id__in=title_ids)
    )
    audit = [
        TimelineEntry(
            at=event.at,
            kind=_("操作"),
            text=" · ".join(
                x for x in (event.action_label, event.reason, _summary(event.object_type, mask_pii(event.after))) if x
            ),
            by=event.actor_name,
        )
        for event in AuditEvent.objects.filter(objects).order_by("-at")[:TIMELINE_SCAN]
    ]
    events = [
        TimelineEntry(
            at=event.at,
            kind=_("票据事件"),
            text=f"{numbers.get(event.document_id, '')} · {event.label}",
            by=event.by.get_username() if event.by else "",
            url=reverse("document-detail", args=[event.document_id]),
            event=event.label,
        )
        # every event of those documents (a few each): a run of them folds into one line that counts them all
        for event in DocumentEvent.objects.filter(document_id__in=numbers)
        .select_related("by")
        .order_by("-at")[: TIMELINE_DOCUMENTS * EVENTS_PER_DOCUMENT]
    ]
    deliveries = [
        TimelineEntry(
            at=delivery.sent_at or delivery.created_at,
            kind=_("投递"),
            text=f"{numbers.get(delivery.document_id or 0, '')} → {shown(Pii.EMAIL, delivery.address)} · "
            f"{delivery.get_status_display()}",
            url=reverse("document-detail", args=[delivery.document_id]) if delivery.document_id else "",
        )
        for delivery in Delivery.objects.filter(document_id__in=numbers).order_by("-created_at")[:TIMELINE_SCAN]
    ]
    tickets = [
        TimelineEntry(
            at=ticket.created_at,
            kind=pgettext("singular", "工单"),
            text=f"{ticket.subject} · {ticket.get_status_display()}",
            by=ticket.created_by.get_username(),
            url=reverse("ticket-detail", args=[ticket.pk]),
        )
        for ticket in tickets_for(user)
        .filter(customer=customer)
        .select_related("created_by")
        .order_by("-created_at")[:TIMELINE_SCAN]
    ]
    capped = (len(audit), len(deliveries), len(tickets))
    partial = partial or TIMELINE_SCAN in capped or len(events) == TIMELINE_DOCUMENTS * EVENTS_PER_DOCUMENT
    entries = sorted([*audit, *events, *deliveries, *tickets], key=lambda entry: entry.at, reverse=True)
    lines = grouped(entries)  # grouped first: a line's count is every event it stands for
    return Timeline(Paginator(lines, TIMELINE_LIMIT).get_page(page), partial)


def _document_name(code: str, number: str) -> str:
    return f"{code}{number}" if code else number  # as Document.__str__


# what an audit event's "after" holds that a timeline line does not show: internal ids (the line's other entries —
# the document events, the action's own line — name those records by number)
_TIMELINE_HIDDEN = {"action", "customer", "documents", "items", "link", "links", "new", "red", "reveal", "title",
                    "version"}  # fmt: skip
TIMELINE_SUMMARY_ITEMS = 4


def _summary(object_type: str, value: Any) -> str:
    """An audit event's "after" in words: the action's own summary when it wrote one, else its values by label, a
    choice by its label (``票据号码：…；状态：已红冲``), never keys, ids or JSON."""
    from support.audit import change_items  # support.audit reads this module's selectors

    if not value:
        return ""
    if isinstance(value, dict) and value.get("summary"):
        return str(value["summary"])
    if isinstance(value, dict):
        value = {key: item for key, item in value.items() if key not in _TIMELINE_HIDDEN and item not in ("", None)}
    items = change_items(object_type, value)[:TIMELINE_SUMMARY_ITEMS]
    return _("；").join(f"{label}{_('：')}{text}" if label else str(text) for label, text in items)[:200]


def customer_record(
    *,
    user: User,
    customer: Customer,
    trips_page: Any = 1,
    documents_page: Any = 1,
    timeline_page: Any = 1,
    topups_page: Any = 1,
    sheets_page: Any = 1,
    charges_page: Any = 1,
    cards_page: Any = 1,
    titles_page: Any = 1,
) -> CustomerRecord:
    """Everything the customer page shows, in a fixed number of queries."""
    revealed = pii_revealed(user=user, customer=customer)
    # every binding the user may see, newest first: those of cards the user may see (a province user: their
    # province's) are listed a page at a time, and their trips, top-ups and back-charges are all shown, not the
    # page's; the timeline reads every one (its events are the account's, whether or not the card has a row)
    every_binding = list(
        bindings_for(user)
        .filter(customer=customer)
        .annotate(known=Exists(cards_for(user).filter(card_no=OuterRef("card_no"))))
        .order_by("-bound_at", "-pk")
    )
    every: list[CardBinding] = [b for b in every_binding if b.known]
    bindings_page = Paginator(every, LIST_LIMIT).get_page(cards_page)
    shown_cards = {
        card.card_no: card
        for card in cards_for(user)
        .filter(card_no__in=[b.card_no for b in bindings_page.object_list])
        .select_related("vehicle")
    }
    titles, titles_paged, title_ids = _titles(user, customer, titles_page, revealed=revealed)
    page = _page(_binding_trips(user, every), trips_page)
    card_nos = sorted({b.card_no for b in every})
    topups = _topup_page(scoped(TopUp.objects.filter(card_no__in=card_nos), user), topups_page)
    vehicles = sorted(
        set(
            cards_for(user)
            .filter(card_no__in=card_nos, vehicle__isnull=False)
            .values_list("vehicle__plate", "vehicle__plate_color")
        )
    )
    vehicle_q = Q(pk__in=[])
    for plate, color in vehicles:
        vehicle_q |= Q(plate=plate, plate_color=color)  # audit_charge_vehicle_idx
    # the back-charges on the customer's vehicles recorded on one of their cards (any province's: the charge's own
    # province scopes it) or on no card, as on the card page (card_charges); not those recorded on someone else's
    # card for the same vehicle (vehicles change hands)
    theirs = Q(card_no="") | Q(card_no__in=CardBinding.objects.filter(customer=customer).values("card_no"))
    charges, charges_paged = _charge_page(
        user, scoped(AuditCharge.objects.filter(vehicle_q).filter(theirs), user), charges_page
    )
    sheets = Paginator(
        sheet_pass_ids_for(user, sheets_for(user).filter(customer=customer)).order_by("-issued_at", "-pk"), LIST_LIMIT
    ).get_page(sheets_page)
    all_documents = documents_for(user).filter(customer=customer)
    documents = _document_page(all_documents, documents_page)
    return CustomerRecord(
        customer=customer,
        revealed=revealed,
        phone=reveal_for(Pii.PHONE, customer.phone, revealed=revealed),
        id_no=reveal_for(Pii.ID_NO, customer.id_no, revealed=revealed),
        email=reveal_for(Pii.EMAIL, customer.email, revealed=revealed),
        bindings=[BindingRow(b, shown_cards.get(b.card_no), brought_in(user, b)) for b in bindings_page.object_list],
        bindings_page=bindings_page,
        titles=titles,
        titles_page=titles_paged,
        trips=page,
        trip_rows=trip_rows(user, list(page.object_list)),
        topups=_topup_rows(list(topups.object_list)),
        topups_page=topups,
        documents=list(documents.object_list),
        documents_page=documents,
        sheets=list(sheets.object_list),
        sheets_page=sheets,
        audit_charges=charges,
        charges_page=charges_paged,
        timeline=customer_timeline(user, customer, all_documents, every_binding, title_ids, page=timeline_page),
    )


# --- trip -------------------------------------------------------------------------------------------------------


@dataclass
class TripRecord:
    trip: Trip
    row: TripRow
    card: Card | None
    customer: Customer | None  # whose card it was at the time of the trip
    documents: list[Document]  # the page's
    documents_page: Page[Document]
    sheets: list[SummarySheet]  # the page's
    sheets_page: Page[SummarySheet]
    audit_charges: list[ItemRow]  # the page's
    charges_page: Page[AuditCharge]
    batches: set[int]
    topup_invoiced: bool


def _holder_at(card_no: str, at: dt.datetime) -> Customer | None:
    binding = CardBinding.objects.covering(card_no, at).select_related("customer").order_by("-bound_at").first()
    return binding.customer if binding else None


def trip_record(
    *, user: User, trip: Trip, documents_page: Any = 1, sheets_page: Any = 1, charges_page: Any = 1
) -> TripRecord:
    """The trip page: its segments with their states and history, and its documents, summary sheets and
    back-charges, each a page at a time with the count of all."""
    row = trip_rows(user, [trip], history=True)[0]
    # FIFO: which top-ups paid each segment, when a segment is ineligible because a top-up was invoiced
    topup_invoiced = any(seg.state and Reason.TOPUP_INVOICED in seg.state.blockers for seg in row.segments)
    if topup_invoiced:
        wanted = {seg.item.pk for seg in row.segments}
        matches = [m for m in fifo_matches(trip.card_no) if m.segment_id in wanted]
        topups = {t.pk: t for t in TopUp.objects.filter(pk__in={m.topup_id for m in matches})}
        for seg in row.segments:
            seg.paid_by = [topups[m.topup_id] for m in matches if m.segment_id == seg.item.pk and m.topup_id in topups]
    doc_ids = {item.document_id for seg in row.segments for item in seg.held_by}
    documents = _document_page(documents_for(user).filter(pk__in=doc_ids), documents_page)
    sheets = Paginator(
        sheets_for(user)
        .filter(card_no=trip.card_no, pass_ids__contains=[trip.pass_id])  # summary_sheet_card_idx
        .order_by("-issued_at", "-pk"),
        LIST_LIMIT,
    ).get_page(sheets_page)
    charges, charges_paged = _charge_page(
        user, scoped(AuditCharge.objects.filter(pass_id=trip.pass_id), user), charges_page
    )
    return TripRecord(
        trip=trip,
        row=row,
        card=cards_for(user).filter(card_no=trip.card_no).first(),
        customer=_holder_at(trip.card_no, trip.exit_time),
        documents=list(documents.object_list),
        documents_page=documents,
        sheets=list(sheets.object_list),
        sheets_page=sheets,
        audit_charges=charges,
        charges_page=charges_paged,
        batches=_visible_batches(user, (seg.item.batch_id for seg in row.segments)),
        topup_invoiced=topup_invoiced,
    )


# --- card -------------------------------------------------------------------------------------------------------


@dataclass
class CardRecord:
    card: Card
    customer: Customer | None  # bound now
    revealed: bool
    holder_name: str
    holder_id_no: str
    holder_phone: str
    bindings_page: Page[CardBinding]
    binding_rows: list[BindingRow]  # the page's bindings with what each brought in (those that reached back)
    prepaid_choices: list[CardPrepaidChoice]  # newest first; empty: never chosen (per trip)
    topups: list[ItemRow]  # the page's
    topups_page: Page[TopUp]
    trips: Page[Trip]
    trip_rows: list[TripRow]
    documents: list[Document]  # the page's
    documents_page: Page[Document]
    audit_charges: list[ItemRow]  # the page's
    charges_page: Page[AuditCharge]
    batches: set[int]


def card_charges(user: User, card: Card) -> QuerySet[AuditCharge]:
    """The card's audit back-charges the user may see: those recorded on the card, and those on its vehicle recorded
    without a card (a back-charge names a vehicle always, a card only when known: domain.md §4.13) — through
    audit_charge_vehicle_idx. A card without a vehicle: those recorded on the card."""
    charges = AuditCharge.objects.all()
    if card.vehicle is not None:
        charges = charges.filter(
            plate=card.vehicle.plate, plate_color=card.vehicle.plate_color, card_no__in=[card.card_no, ""]
        )
    else:
        charges = charges.filter(card_no=card.card_no)
    return scoped(charges, user).order_by("-paid_at", "-pk")


def card_record(
    *,
    user: User,
    card: Card,
    trips_page: Any = 1,
    documents_page: Any = 1,
    topups_page: Any = 1,
    charges_page: Any = 1,
    bindings_page: Any = 1,
) -> CardRecord:
    history = CardBinding.objects.filter(card_no=card.card_no).select_related("customer").order_by("-bound_at", "-pk")
    bindings = Paginator(history, LIST_LIMIT).get_page(bindings_page)
    # the binding in force is the newest (a card has one holder at a time): on the first page, or read on its own
    newest = bindings[0] if bindings.number == 1 and bindings.object_list else history.first()
    current = newest.customer if newest is not None and newest.unbound_at is None else None
    revealed = current is not None and pii_revealed(user=user, customer=current)
    topups = _topup_page(scoped(TopUp.objects.filter(card_no=card.card_no), user), topups_page)
    page = _page(
        trips_for(user).filter(card_no=card.card_no).order_by("-service_date", "-exit_time", "-pk"), trips_page
    )
    rows = trip_rows(user, list(page.object_list))
    documents = _document_page(
        documents_for(user).filter(card_no=card.card_no), documents_page, ("-service_date", "-issued_at", "-pk")
    )
    charges, charges_paged = _charge_page(user, card_charges(user, card), charges_page)
    return CardRecord(
        card=card,
        customer=current,
        revealed=revealed,
        holder_name=reveal_for(Pii.NAME, card.holder_name, revealed=revealed),
        holder_id_no=reveal_for(Pii.ID_NO, card.holder_id_no, revealed=revealed),
        holder_phone=reveal_for(Pii.PHONE, card.holder_phone, revealed=revealed),
        bindings_page=bindings,
        binding_rows=[BindingRow(b, card, brought_in(user, b)) for b in bindings.object_list],
        prepaid_choices=prepaid_choice_history(card.card_no) if card.card_type == CardType.PREPAID else [],
        topups=_topup_rows(list(topups.object_list)),
        topups_page=topups,
        trips=page,
        trip_rows=rows,
        documents=list(documents.object_list),
        documents_page=documents,
        audit_charges=charges,
        charges_page=charges_paged,
        batches=_visible_batches(user, [t.batch_id for t in topups.object_list]),
    )
