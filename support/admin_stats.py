"""Admin for the query statistics' segment rollup (support/stats_rollup.py): viewed only. The rollup is added to in
place above its watermark, so neither may be edited: moving the watermark back would count segments twice."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from piaogen.admin import FactAdmin, ReadOnlyAdmin, money_column, province_name
from support.stats_rollup import SegmentRollup, SegmentRollupWatermark


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
    list_display = ("max_id", "candidate_id", "candidate_at", "refreshed_at")
