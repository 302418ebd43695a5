"""A ticket's linked records as the agent knows them: found by the search box (card number, plate, document number,
pass id, sheet number, customer name or phone…) and shown by name or number with a link — never by internal id.

Links are stored as ``(object_type, object_key)`` (support/tickets.py): customer id, card number, pass id, document
id, sheet number, upload batch id; this module turns search hits into those keys and those keys back into names,
within the reader's scope (a record they may not see is shown by its stored number, without a link)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from invoicing.api import documents_for, sheets_for
from piaogen.access import scoped
from piaogen.models import User
from support.models import TicketLink
from support.records import cards_for, customers_for, trips_for
from support.search import GROUP_LABELS, Group, Hit, search
from tolling.models import UploadBatch

LINKABLE = {
    Group.CUSTOMER: "customer",
    Group.CARD: "card",
    Group.TRIP: "trip",
    Group.DOCUMENT: "document",
    Group.SHEET: "sheet",
    Group.BATCH: "batch",
}
CANDIDATES = 10  # per group: the search page pages on, this list asks for a more precise query


@dataclass(frozen=True)
class Candidate:
    object_type: str
    object_key: str
    group: Promise
    title: str
    detail: str


def _key(hit: Hit) -> str:
    """The stored key of a hit: ids for customers, documents and batches; the number for the others."""
    return str(hit.pk) if hit.group in (Group.CUSTOMER, Group.DOCUMENT, Group.BATCH) else hit.title


def link_candidates(*, user: User, query: str) -> list[Candidate]:
    """Records the query finds (through the support search, in the user's scope) that a ticket can link to."""
    if not query.strip():
        return []
    found = []
    for group in search(user=user, query=query).groups:
        if group.key not in LINKABLE:
            continue
        for hit in group.hits[:CANDIDATES]:
            title = hit.title.split(" ", 1)[-1] if hit.group == Group.DOCUMENT else hit.title  # the number alone
            found.append(Candidate(LINKABLE[group.key], _key(hit), GROUP_LABELS[group.key], title, hit.detail))
    return found


@dataclass(frozen=True)
class LinkedRecord:
    object_type: str
    label: str
    url: str = ""


def linked_records(*, user: User, links: list[TicketLink]) -> list[LinkedRecord]:
    """The links by name or number (one query per record type), linked to their page when the user may see it."""
    keys: dict[str, list[str]] = defaultdict(list)
    for link in links:
        keys[link.object_type].append(link.object_key)
    numeric = {kind: [int(k) for k in values if k.isdigit()] for kind, values in keys.items()}
    names: dict[tuple[str, str], tuple[str, str]] = {}
    if numeric.get("customer"):
        for pk, name in customers_for(user).filter(pk__in=numeric["customer"]).values_list("pk", "name"):
            names["customer", str(pk)] = (name, reverse("customer-detail", args=[pk]))
    if numeric.get("document"):
        for doc in documents_for(user).filter(pk__in=numeric["document"]).only("pk", "code", "number", "kind"):
            names["document", str(doc.pk)] = (
                f"{doc.get_kind_display()} {doc}",
                reverse("document-detail", args=[doc.pk]),
            )
    if keys.get("card"):
        for pk, card_no in cards_for(user).filter(card_no__in=keys["card"]).values_list("pk", "card_no"):
            names["card", card_no] = (card_no, reverse("card-detail", args=[pk]))
    if keys.get("trip"):
        for pk, pass_id in trips_for(user).filter(pass_id__in=keys["trip"]).values_list("pk", "pass_id"):
            names["trip", pass_id] = (pass_id, reverse("trip-detail", args=[pk]))
    if keys.get("sheet"):
        for pk, number in sheets_for(user).filter(number__in=keys["sheet"]).values_list("pk", "number"):
            names["sheet", number] = (number, reverse("sheet-detail", args=[pk]))
    if numeric.get("batch"):
        batches = scoped(UploadBatch.objects.filter(pk__in=numeric["batch"]), user)
        for pk, filename in batches.values_list("pk", "file_name"):
            label = _("批次 #%(id)s %(file)s") % {"id": pk, "file": filename}
            names["batch", str(pk)] = (label, reverse("upload-detail", args=[pk]))
    out = []
    for link in links:
        label, url = names.get((link.object_type, link.object_key), ("", ""))
        if not label:  # not visible (or gone): the stored number, but never a customer's or document's internal id
            hidden = link.object_type in ("customer", "document")
            label = _("（无权查看）") if hidden else link.object_key
        out.append(LinkedRecord(link.object_type, label, url))
    return out
