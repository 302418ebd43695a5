"""Admin for toll data: master data is edited here; facts, upload batches and rejected rows are only viewed.

Fact tables hold tens of millions of rows: they are found by an exact key (pass id, card number, serial number),
filtered by fixed choices and business date (BRIN), and never counted in full (piaogen.admin.LargeTableAdmin).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from piaogen.admin import (
    FactAdmin,
    LargeTableAdmin,
    MaskedPiiMixin,
    NoDeleteMixin,
    PiaogenAdmin,
    ProvinceFilter,
    masked_column,
    masked_phone,
    money_column,
    province_name,
)
from piaogen.privacy import pii_fields_of
from tolling.models import (
    AuditCharge,
    Card,
    Correction,
    Operator,
    PaperTicket,
    RejectedRow,
    Segment,
    TaxiRide,
    TollUnit,
    TollUnitRate,
    TopUp,
    Trip,
    UploadBatch,
    Vehicle,
)

# --- master data ----------------------------------------------------------------------------------------------------


@admin.register(Operator)
class OperatorAdmin(PiaogenAdmin):
    list_display = ("name", "kind", "tax_id", "province", "tax_rate", "created_at")
    list_filter = ("kind", ProvinceFilter)
    search_fields = ("=tax_id", "name")
    search_help_text = _("精确的纳税人识别号，或名称中的文字")
    ordering = ("province", "name")


class TollUnitRateInline(admin.TabularInline):
    model = TollUnitRate
    extra = 0
    fields = ("valid_from", "tax_rate")
    ordering = ("valid_from",)


@admin.register(TollUnit)
class TollUnitAdmin(PiaogenAdmin):
    list_display = ("code", "name", "province", "operator", "road_nature", "created_at")
    list_filter = ("road_nature", ProvinceFilter)
    list_select_related = ("operator",)
    search_fields = ("=code", "name")
    search_help_text = _("精确的收费单元编号，或名称中的文字")
    autocomplete_fields = ("operator",)
    inlines = (TollUnitRateInline,)
    ordering = ("code",)


@admin.register(TollUnitRate)
class TollUnitRateAdmin(PiaogenAdmin):
    list_display = ("toll_unit", "tax_rate", "valid_from")
    list_filter = ("tax_rate",)
    list_select_related = ("toll_unit",)
    search_fields = ("=toll_unit__code",)
    autocomplete_fields = ("toll_unit",)
    ordering = ("toll_unit__code", "valid_from")


@admin.register(Vehicle)
class VehicleAdmin(NoDeleteMixin, LargeTableAdmin):
    list_display = ("plate", "plate_color", "vehicle_class")
    list_filter = ("plate_color", "vehicle_class")
    search_fields = ("=plate",)


@admin.register(Card)
class CardAdmin(MaskedPiiMixin, NoDeleteMixin, LargeTableAdmin):
    """The holder data recorded at issue (checked when a card is bound) is write-only here: masked, and replaced by
    typing a new value when the issuer corrects it."""

    masked_fields = pii_fields_of(Card)
    list_display = (
        "card_no",
        "card_type",
        "province",
        "vehicle",
        "issuer",
        masked_column(Card, "holder_name"),
        masked_phone,
        "issued_at",
    )
    list_filter = ("card_type", ProvinceFilter)
    list_select_related = ("vehicle", "issuer")
    search_fields = ("=card_no", "=holder_phone", "=holder_id_no")
    raw_id_fields = ("vehicle",)
    autocomplete_fields = ("issuer",)


# --- facts ----------------------------------------------------------------------------------------------------------


@admin.register(Trip)
class TripAdmin(FactAdmin):
    list_display = (
        "pass_id",
        "card_no",
        "card_type",
        "plate",
        "plate_color",
        "vehicle_class",
        "entry_time",
        "exit_time",
        "service_date",
    )
    list_filter = ("service_date", "card_type", "vehicle_class")
    search_fields = ("=pass_id", "=card_no")


@admin.register(Segment)
class SegmentAdmin(FactAdmin):
    list_display = (
        "pass_id",
        "segment_no",
        "service_date",
        "card_no",
        "plate",
        "vehicle_class",
        "toll_unit",
        province_name,
        money_column("pay_fee", _("应收金额")),
        money_column("discount_fee", _("优惠金额")),
        money_column("fee", _("实收金额")),
    )
    list_filter = ("service_date", ProvinceFilter, "card_type", "vehicle_class")
    list_select_related = ("toll_unit",)
    search_fields = ("=pass_id", "=card_no")
    raw_id_fields = ("toll_unit", "batch")


@admin.register(TopUp)
class TopUpAdmin(FactAdmin):
    list_display = (
        "topup_id",
        "card_no",
        money_column("amount", _("充值金额")),
        "topped_up_at",
        "issuer",
        province_name,
        "channel",
    )
    list_filter = ("service_date", ProvinceFilter)
    list_select_related = ("issuer",)
    search_fields = ("=topup_id", "=card_no")
    raw_id_fields = ("issuer", "batch")


@admin.register(AuditCharge)
class AuditChargeAdmin(FactAdmin):
    list_display = (
        "charge_id",
        "pass_id",
        "plate",
        "toll_unit",
        province_name,
        "reason",
        money_column("amount", _("补费金额")),
        "paid_at",
    )
    list_filter = ("service_date", ProvinceFilter, "reason")
    list_select_related = ("toll_unit",)
    search_fields = ("=charge_id", "=pass_id", "=plate")
    raw_id_fields = ("toll_unit", "batch")


@admin.register(PaperTicket)
class PaperTicketAdmin(FactAdmin):
    list_display = (
        "ticket_no",
        "toll_unit",
        province_name,
        "plate",
        "vehicle_class",
        "exit_time",
        money_column("amount", _("金额")),
        "pay_method",
    )
    list_filter = ("service_date", ProvinceFilter, "pay_method")
    list_select_related = ("toll_unit",)
    search_fields = ("=ticket_no",)
    raw_id_fields = ("toll_unit", "batch")


@admin.register(TaxiRide)
class TaxiRideAdmin(FactAdmin):
    list_display = (
        "ride_id",
        "company",
        province_name,
        "taxi_plate",
        "start_time",
        "end_time",
        "distance_m",
        money_column("amount", _("金额")),
    )
    list_filter = ("service_date", ProvinceFilter)
    list_select_related = ("company",)
    search_fields = ("=ride_id",)
    raw_id_fields = ("company", "batch")


# --- uploads --------------------------------------------------------------------------------------------------------


@admin.register(UploadBatch)
class UploadBatchAdmin(FactAdmin):
    """Batches are created and processed by the upload service; the job monitor retries and cancels them."""

    list_display = (
        "id",
        "kind",
        "province",
        "status",
        "file_name",
        "uploaded_by",
        "rows_total",
        "rows_accepted",
        "rows_duplicate",
        "rows_rejected",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "kind", ProvinceFilter, "created_at")
    list_select_related = ("uploaded_by",)
    search_fields = ("=id",)
    raw_id_fields = ("uploaded_by",)


@admin.register(RejectedRow)
class RejectedRowAdmin(FactAdmin):
    list_display = ("batch", "line_no", "reasons")
    list_select_related = ("batch",)
    search_fields = ("=batch",)
    raw_id_fields = ("batch",)


@admin.register(Correction)
class CorrectionAdmin(FactAdmin):
    """Rows a correction upload replaced, with before and after (append-only, read-only)."""

    list_display = ("batch", "line_no", "item_kind", "item_id", "corrected_at")
    list_select_related = ("batch",)
    search_fields = ("=batch__id", "=item_id")
    raw_id_fields = ("batch",)
