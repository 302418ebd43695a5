"""Admin for the query statistics' rollups (support/stats_rollup.py): viewed only. A rollup is added to in place
above its watermark, so neither may be edited: moving a watermark back would count rows twice."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from piaogen.admin import FactAdmin, ReadOnlyAdmin, money_column, province_name
from support.stats_rollup import (
    DocumentStatsRollup,
    DocumentStatsRollupWatermark,
    SegmentRollup,
    SegmentRollupWatermark,
)

WATERMARK_COLUMNS = ("max_id", "candidate_id", "candidate_at", "refreshed_at")


@admin.register(SegmentRollup)
class SegmentRollupAdmin(FactAdmin):
    list_display = (
        "service_date",
        province_name,
        "toll_unit_id",
        "vehicle_class",
        "card_type",
        "segments",
        money_column("fee", _("实收金额")),
    )


@admin.register(SegmentRollupWatermark)
class SegmentRollupWatermarkAdmin(ReadOnlyAdmin):
    list_display = WATERMARK_COLUMNS


@admin.register(DocumentStatsRollup)
class DocumentStatsRollupAdmin(FactAdmin):
    list_display = (
        "service_date",
        province_name,
        "seller",
        "business_line",
        "kind",
        "status",
        "documents",
        money_column("amount_gross", _("价税合计")),
    )


@admin.register(DocumentStatsRollupWatermark)
class DocumentStatsRollupWatermarkAdmin(ReadOnlyAdmin):
    list_display = WATERMARK_COLUMNS
