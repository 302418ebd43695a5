"""Admin for reporting: rollups (computed by the rollup tasks, viewed only), their watermarks (a maintainer may move
one back so that the next run recomputes the days after it), scheduled reports and their deliveries."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from piaogen.admin import (
    FactAdmin,
    PiaogenAdmin,
    ProvinceFilter,
    ReadOnlyAdmin,
    money_column,
    province_name,
)
from reports.models import (
    DeliveryRollup,
    DocumentRollup,
    ExportJob,
    ReportDelivery,
    RollupWatermark,
    SavedView,
    ScheduledReport,
    SupportRollup,
    TrafficRollup,
    UploadLateness,
    UploadRollup,
)


@admin.register(DocumentRollup)
class DocumentRollupAdmin(FactAdmin):
    """One row per day and six dimensions: large enough to be listed like a fact table."""

    list_display = (
        "day",
        province_name,
        "business_line",
        "operator_id",
        "vehicle_class",
        "document_kind",
        "documents",
        money_column("amount_gross", _("价税合计")),
        money_column("amount_tax", _("税额")),
    )
    list_filter = ("day", ProvinceFilter)


@admin.register(TrafficRollup)
class TrafficRollupAdmin(ReadOnlyAdmin):
    list_display = ("day", province_name, "operator_id", "vehicle_class", "segments", money_column("fee", _("实收")))
    list_filter = ("day", ProvinceFilter)


@admin.register(DeliveryRollup)
class DeliveryRollupAdmin(ReadOnlyAdmin):
    list_display = ("day", province_name, "status", "deliveries")
    list_filter = ("day", ProvinceFilter)


@admin.register(UploadLateness)
class UploadLatenessAdmin(ReadOnlyAdmin):
    list_display = ("batch_id", "day", province_name, "kind", "late_days", "rows")
    list_filter = ("day", ProvinceFilter)


@admin.register(UploadRollup)
class UploadRollupAdmin(ReadOnlyAdmin):
    list_display = (
        "day",
        province_name,
        "kind",
        "batches",
        "batches_failed",
        "rows_accepted",
        "rows_duplicate",
        "rows_rejected",
        "duration_seconds",
    )
    list_filter = (ProvinceFilter, "kind")
    date_hierarchy = "day"


@admin.register(SupportRollup)
class SupportRollupAdmin(ReadOnlyAdmin):
    list_display = ("day", province_name, "tickets_opened", "tickets_closed", "tickets_overdue")
    list_filter = (ProvinceFilter,)
    date_hierarchy = "day"


@admin.register(RollupWatermark)
class RollupWatermarkAdmin(PiaogenAdmin):
    """Rows are created by the rollup tasks; moving `final_through` back makes the next run recompute."""

    list_display = ("name", "final_through", "checked_at", "updated_at")
    fields = ("name", "final_through", "checked_at", "updated_at")
    readonly_fields = ("name", "checked_at", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ScheduledReport)
class ScheduledReportAdmin(PiaogenAdmin):
    list_display = ("name", "template", "frequency", "province", "active", "created_by", "created_at")
    list_filter = ("frequency", "active", ProvinceFilter)
    list_select_related = ("created_by",)
    search_fields = ("name",)
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request: HttpRequest, obj: ScheduledReport, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


@admin.register(SavedView)
class SavedViewAdmin(PiaogenAdmin):
    """Managers save views from a template's page; a maintainer may rename, unshare or delete one."""

    list_display = ("name", "template", "owner", "province", "shared", "created_at")
    list_filter = ("template", "shared", ProvinceFilter)
    list_select_related = ("owner",)
    search_fields = ("name",)
    raw_id_fields = ("owner",)


@admin.register(ReportDelivery)
class ReportDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("report", "period_start", "period_end", "status", "is_test", "sent_at")
    list_filter = ("status", "is_test")
    list_select_related = ("report",)
    date_hierarchy = "sent_at"
    raw_id_fields = ("report",)


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "fmt", "province", "created_by", "status", "rows_done", "rows_total", "created_at")
    list_filter = ("status", "kind", ProvinceFilter)
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"
