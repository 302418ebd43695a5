"""The rows behind every number: the drill-down querysets (documents, upload batches, tickets) for a filter set.

The document rollup is built from `documents_with_dimensions`, so a number and its drill-down agree by construction:
a document's vehicle class is that of the first segment or paper ticket it covers (a red-letter document takes its
original's); documents of other business lines have none.
"""

from __future__ import annotations

from django.db.models import Case, IntegerField, OuterRef, QuerySet, Subquery, When
from django.db.models.functions import Coalesce

from invoicing.models import BusinessLine, Document, DocumentItem, DocumentStatus, ItemKind
from reports.filters import ReportFilters, day_bounds
from support.models import Ticket
from tolling.models import PaperTicket, Segment, UploadBatch, UploadStatus

FAILED_UPLOAD_STATUSES = (UploadStatus.FAILED, UploadStatus.REFUSED)


def documents_with_dimensions() -> QuerySet[Document]:
    """Documents annotated with `vehicle_class_dim` (see the module docstring)."""
    first_item = DocumentItem.objects.filter(document_id=Coalesce(OuterRef("original_id"), OuterRef("pk"))).order_by(
        "id"
    )
    segment_class = Segment.objects.filter(pk=OuterRef("item_id")).values("vehicle_class")[:1]
    paper_class = PaperTicket.objects.filter(pk=OuterRef("item_id")).values("vehicle_class")[:1]
    item_class = first_item.annotate(
        vc=Case(
            When(item_kind=ItemKind.SEGMENT, then=Subquery(segment_class)),
            When(item_kind=ItemKind.PAPER_TICKET, then=Subquery(paper_class)),
            output_field=IntegerField(),
        )
    ).values("vc")[:1]
    # only trips and paper tickets have a class: other documents skip the lookups
    return Document.objects.annotate(
        vehicle_class_dim=Case(
            When(
                business_line__in=[BusinessLine.ETC_TRIP, BusinessLine.PAPER],
                then=Subquery(item_class, output_field=IntegerField()),
            ),
            output_field=IntegerField(),
        )
    )


def document_rows(filters: ReportFilters, *, red_only: bool = False) -> QuerySet[Document]:
    rows = documents_with_dimensions().filter(service_date__range=(filters.start, filters.end))
    if red_only:
        rows = rows.filter(status=DocumentStatus.RED)
    if filters.province:
        rows = rows.filter(province=filters.province)
    if filters.business_line:
        rows = rows.filter(business_line=filters.business_line)
    if filters.operator:
        rows = rows.filter(seller_id=filters.operator)
    if filters.document_kind:
        rows = rows.filter(kind=filters.document_kind)
    if filters.vehicle_class:
        rows = rows.filter(vehicle_class_dim=filters.vehicle_class)  # type: ignore[misc]  # an annotation
    # newest first by id: the primary key walks backwards and stops after a page, where ordering by date would sort
    # every row of the range first (2 M for a national month: 6.8 s against 0.1 s on the benchmark dataset)
    return rows.order_by("-id")


def upload_rows(filters: ReportFilters, *, failed_only: bool = False) -> QuerySet[UploadBatch]:
    """Upload batches created in the period (Beijing days); uploads have no business line, operator or class."""
    lower, upper = day_bounds(filters.start, filters.end)
    rows = UploadBatch.objects.filter(created_at__gte=lower, created_at__lt=upper)
    if filters.province:
        rows = rows.filter(province=filters.province)
    if failed_only:
        rows = rows.filter(status__in=FAILED_UPLOAD_STATUSES)
    return rows.select_related("uploaded_by").order_by("created_at", "id")


def ticket_rows(filters: ReportFilters) -> QuerySet[Ticket]:
    """Tickets opened in the period (Beijing days)."""
    lower, upper = day_bounds(filters.start, filters.end)
    rows = Ticket.objects.filter(created_at__gte=lower, created_at__lt=upper)
    if filters.province:
        rows = rows.filter(province=filters.province)
    return rows.order_by("created_at", "id")
