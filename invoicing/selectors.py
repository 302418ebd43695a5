"""Invoicing reads: what each user may see of documents and summary sheets (province scope), for the API, the
console pages and the other apps (support's search and record pages). Writes are in the services beside
(``invoicing.issuing``, ``invoicing.sheets``, ``invoicing.claims``…); HTTP modules call both, never each other."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, Exists, F, Func, OuterRef, Prefetch, QuerySet, Subquery, Sum

from invoicing.models import Document, SummarySheet
from piaogen.access import scoped
from piaogen.models import Role, User
from tolling.models import Segment

ACTORS = (Role.AGENT, Role.MAINTAINER)
"""Who may change documents: support agents and maintainers. Managers and province users read."""


def documents_for(user: User) -> QuerySet[Document]:
    """Documents the user may see: their province's (the seller's province) or, for national roles, all."""
    return scoped(Document.objects.all(), user)


def sheets_for(user: User) -> QuerySet[SummarySheet]:
    """Summary sheets the user may see. A province-bound user sees every sheet that binds at least one document of
    their province (the seller's, as in `documents_for`), whichever province issued the card: a trip crossing
    provinces gives one sheet over both provinces' documents. A sheet binding none of their documents is not seen.

    What such a user sees of a sheet is the sheet's own fields (number, card, status, total) and, of what it binds,
    only their province's part: `sheet_documents_for` and `sheet_pass_ids_for`; the sheet's PDF, which lists every
    document with its seller, only when the sheet binds nothing of another province (`sheet_is_whole_for`).

    Each sheet comes annotated with ``shown_amount_gross``, the total the user may see: the whole sheet's for
    national roles; for a province-bound user the total of their province's documents only (the whole total would
    let them infer the other provinces' share). Pages and the API show it in place of ``amount_gross``.
    """
    province = user.province_scope
    sheets = SummarySheet.objects.all()
    if province is None:
        return sheets.annotate(shown_amount_gross=F("amount_gross"))
    # the sheet ↔ document table's (sheet, document) unique index, then the document by primary key
    ours = Document.objects.filter(summary_sheets=OuterRef("pk"), province=province)
    share = ours.order_by().values("province").annotate(total=Sum("amount_gross")).values("total")
    return sheets.filter(Exists(ours)).annotate(shown_amount_gross=Subquery(share))


def sheet_documents_for(user: User) -> Prefetch[Any]:
    """``prefetch_related(sheet_documents_for(user))``: each sheet's ``documents`` narrowed to those the user sees."""
    return Prefetch("documents", queryset=documents_for(user).order_by("id"))


def sheet_pass_ids_for(user: User, sheets: QuerySet[SummarySheet]) -> QuerySet[SummarySheet]:
    """Sheets annotated with ``visible_pass_ids``: for a province-bound user the trips of the sheet with a segment
    in their province (as `support.records.trips_for`); every trip of the sheet for national roles."""
    province = user.province_scope
    if province is None:
        return sheets.annotate(visible_pass_ids=F("pass_ids"))
    # pass_id = ANY(sheet.pass_ids): the segment natural key (pass_id, segment_no) index
    in_sheet = Func(
        F("pass_id"),
        OuterRef("pass_ids"),
        template="(%(expressions)s))",
        arg_joiner=" = ANY(",
        output_field=BooleanField(),
    )
    ours = Segment.objects.filter(in_sheet, province=province).values("pass_id").distinct()
    return sheets.annotate(visible_pass_ids=ArraySubquery(ours))


def sheet_is_whole_for(user: User, sheet: SummarySheet) -> bool:
    """Whether the user may see the whole sheet (its PDF): national roles, or it binds no other province's document
    (a trip of the sheet with no segment in their province has its documents elsewhere, so this covers the trips)."""
    province = user.province_scope
    if province is None:
        return True
    return not Document.objects.filter(summary_sheets=sheet).exclude(province=province).exists()  # not the prefetch
