"""Admin for the platform side. Customers are edited here; documents and everything about them (lines, items,
events, deliveries, summary sheets, number series, issuing runs), card bindings and buyer titles are only viewed:
they change through the invoicing and support services, which keep the lineage and the audit trail.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from invoicing.models import (
    BuyerTitle,
    CardBinding,
    CardPrepaidChoice,
    Customer,
    Delivery,
    Document,
    DocumentEvent,
    DocumentItem,
    DocumentLine,
    IssueRun,
    ItemKind,
    NumberSeries,
    SummarySheet,
)
from piaogen.admin import (
    FactAdmin,
    LargeTableAdmin,
    MaskedPiiMixin,
    NoDeleteMixin,
    ProvinceFilter,
    ReadOnlyAdmin,
    ReadOnlyInlineMixin,
    exact_search_q,
    masked_column,
    masked_phone,
    money_column,
    recent_values_filter,
    search_terms,
)
from piaogen.privacy import pii_fields_of


@admin.register(Customer)
class CustomerAdmin(MaskedPiiMixin, NoDeleteMixin, LargeTableAdmin):
    """Phone, e-mail and ID number are write-only here: masked, and replaced by typing a new value (a maintainer
    fixes an account's contact data, which no support action changes, without ever reading it)."""

    masked_fields = pii_fields_of(Customer)
    list_display = (
        "id",
        "name",
        "kind",
        masked_phone,
        masked_column(Customer, "email"),
        "province",
        "invoice_cycle",
        "created_at",
    )
    list_filter = ("kind", "invoice_cycle", ProvinceFilter)
    # phone (unique), ID number (partial index), name (trigram index: `contains` is LIKE, which it serves)
    search_fields = ("=phone", "=id_no", "name__contains")
    search_help_text = _("精确的手机号、证件号码，或名称中的文字")


@admin.register(CardBinding)
class CardBindingAdmin(FactAdmin):
    list_display = ("card_no", "customer", "bound_at", "unbound_at")
    list_filter = (("unbound_at", admin.EmptyFieldListFilter),)
    list_select_related = ("customer",)
    search_fields = ("=card_no", "=customer")
    raw_id_fields = ("customer",)


@admin.register(CardPrepaidChoice)
class CardPrepaidChoiceAdmin(FactAdmin):
    list_display = ("card_no", "choice", "valid_from", "customer", "created_by")
    list_filter = ("choice",)
    search_fields = ("=card_no",)
    raw_id_fields = ("customer", "created_by")


@admin.register(BuyerTitle)
class BuyerTitleAdmin(MaskedPiiMixin, FactAdmin):
    masked_fields = pii_fields_of(BuyerTitle)
    list_display = (
        "name",
        "kind",
        masked_column(BuyerTitle, "tax_id"),
        "customer",
        "card_no",
        masked_column(BuyerTitle, "email"),
        "valid_from",
    )
    list_filter = ("kind",)
    list_select_related = ("customer",)
    search_fields = ("=tax_id", "=customer", "name__contains")
    search_help_text = _("精确的纳税人识别号、客户编号，或抬头名称中的文字")
    raw_id_fields = ("customer", "created_by")


class DocumentLineInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = DocumentLine
    exclude = ("amount_net", "amount_tax", "amount_gross")
    amount_net_yuan = money_column("amount_net", _("金额"))
    amount_tax_yuan = money_column("amount_tax", _("税额"))
    amount_gross_yuan = money_column("amount_gross", _("价税合计"))
    readonly_fields = ("amount_net_yuan", "amount_tax_yuan", "amount_gross_yuan")
    ordering = ("line_no",)


@admin.register(Document)
class DocumentAdmin(MaskedPiiMixin, FactAdmin):
    masked_fields = pii_fields_of(Document)
    list_display = (
        "code",
        "number",
        "kind",
        "business_line",
        "status",
        "province",
        "seller_name",
        "buyer_name",
        "card_no",
        money_column("amount_gross", _("价税合计")),
        money_column("amount_tax", _("税额")),
        "issued_at",
    )
    list_filter = ("service_date", "kind", "business_line", "status", ProvinceFilter, "is_merged")
    search_fields = ("=number", "=card_no", "=buyer_tax_id")
    raw_id_fields = ("seller", "customer", "title", "original", "replaces", "run")
    inlines = (DocumentLineInline,)


@admin.register(DocumentLine)
class DocumentLineAdmin(FactAdmin):
    list_display = (
        "document",
        "line_no",
        "item_name",
        "plate",
        "date_from",
        "date_to",
        "tax_rate",
        money_column("amount_net", _("金额")),
        money_column("amount_tax", _("税额")),
        money_column("amount_gross", _("价税合计")),
    )
    list_select_related = ("document",)
    search_fields = ("=document",)
    raw_id_fields = ("document",)


@admin.register(DocumentItem)
class DocumentItemAdmin(FactAdmin):
    list_display = (
        "document",
        "line",
        "item_kind",
        "item_id",
        "service_date",
        "card_no",
        money_column("amount", _("金额")),
        "live",
    )
    list_filter = ("item_kind", "live", "service_date")
    list_select_related = ("document", "line")
    search_fields = ("=document", "=item_id")
    raw_id_fields = ("document", "line")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """A number is a document id or an item id; the item id is looked up under every kind, so that the
        (item_kind, item_id) index serves it."""
        for term in search_terms(search_term):
            by_document = exact_search_q(DocumentItem, "document", term)
            by_item = exact_search_q(DocumentItem, "item_id", term)
            if by_document is None or by_item is None:
                return queryset.none(), False
            queryset = queryset.filter(by_document | (Q(item_kind__in=ItemKind.values) & by_item))
        return queryset, False


@admin.register(SummarySheet)
class SummarySheetAdmin(FactAdmin):
    list_display = ("number", "status", "province", "card_no", money_column("amount_gross", _("合计")), "issued_at")
    list_filter = ("service_date", "status", ProvinceFilter)
    search_fields = ("=number", "=card_no")
    raw_id_fields = ("customer", "replaced_by", "documents")


@admin.register(NumberSeries)
class NumberSeriesAdmin(ReadOnlyAdmin):
    """Viewed only: a gapless series is advanced by one atomic UPDATE in the numbering service, never by hand."""

    list_display = ("key", "next_value")
    search_fields = ("key",)
    ordering = ("key",)


@admin.register(DocumentEvent)
class DocumentEventAdmin(FactAdmin):
    list_display = ("document", "kind", "at", "by")
    list_filter = (recent_values_filter("kind"), ("at", admin.DateFieldListFilter))
    list_select_related = ("document", "by")
    search_fields = ("=document",)
    raw_id_fields = ("document", "by")


@admin.register(Delivery)
class DeliveryAdmin(MaskedPiiMixin, FactAdmin):
    masked_fields = pii_fields_of(Delivery)
    list_display = (
        "id",
        "document",
        "sheet",
        masked_column(Delivery, "address"),
        "status",
        "attempts",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("document", "sheet")
    search_fields = ("=document", "=sheet")
    raw_id_fields = ("document", "sheet", "requested_by")


@admin.register(IssueRun)
class IssueRunAdmin(ReadOnlyAdmin):
    """Issuing job rows, written by the issuing tasks; the job monitor retries them."""

    list_display = (
        "id",
        "kind",
        "status",
        "business_date",
        "province",
        "items_done",
        "items_total",
        "documents_issued",
        "requested_by",
        "created_at",
        "heartbeat_at",
        "finished_at",
    )
    list_filter = ("kind", "status", ProvinceFilter)
    list_select_related = ("requested_by",)
    date_hierarchy = "created_at"
    search_fields = ("=id",)
    raw_id_fields = ("requested_by",)
