"""The six report templates (可视化展示模板), one data function each, registered with their question."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.db import connection
from django.db.models import Count, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from invoicing.models import BusinessLine, DeliveryStatus
from piaogen.identifiers import province_label
from reports.catalog.base import (
    FIGURES,
    TOP,
    Column,
    Drill,
    Figure,
    Point,
    ReportData,
    ReportTemplate,
    Row,
    Series,
    Table,
    Tile,
    document_groups,
    document_totals,
    histogram_merge,
    histogram_percentile,
    lateness_histograms,
    operator_names,
    ratio_of,
    register,
    support_days,
    traffic_by_province,
    upload_groups,
    upload_totals,
)
from reports.dashboard import change_ratio
from reports.exports import Fen, Ratio
from reports.filters import BEIJING, ReportFilters, day_bounds
from reports.labels import (
    action_label,
    business_line_label,
    document_kind_label,
    search_kind_label,
    sla_label,
    tax_rate_key,
    tax_rate_label,
    ticket_category_label,
    upload_kind_label,
)
from reports.models import DeliveryRollup
from reports.rows import (
    FAILED_UPLOAD_STATUSES,
    SLA_STATES,
    document_rows,
    late_after_days,
    search_rows,
    sla_condition,
    ticket_rows,
    upload_rows,
)
from tolling.models import RejectedRow

# --- shared tiles --------------------------------------------------------------------------------------------------


def _document_tiles(filters: ReportFilters) -> list[Tile]:
    now, before = document_totals(filters), document_totals(filters.previous())
    return [
        Tile("documents", _("开票张数"), now["documents"], before["documents"], drill=("documents", {"blue": 1})),
        Tile("reversals", _("红冲张数"), now["reversals"], before["reversals"], drill=("documents", {"red": 1})),
        Tile("amount_gross", _("价税合计"), now["amount_gross"], before["amount_gross"], "money", ("documents", {})),
        Tile("amount_tax", _("税额"), now["amount_tax"], before["amount_tax"], "money", ("documents", {})),
    ]


def _document_columns() -> list[Column]:
    return [
        Column(_("开票张数"), "count"),
        Column(_("红冲张数"), "count"),
        Column(_("价税合计"), "money"),
        Column(_("税额"), "money"),
    ]


def _document_cells(row: dict[str, Any]) -> list[Any]:
    return [row["documents"], row["reversals"], Fen(row["amount_gross"]), Fen(row["amount_tax"])]


def _document_drills(first: int, overrides: dict[str, Any]) -> dict[int, Drill]:
    """Drills of the four document cells starting at column `first`."""
    return {
        first: ("documents", {**overrides, "blue": 1}),
        first + 1: ("documents", {**overrides, "red": 1}),
        first + 2: ("documents", overrides),
        first + 3: ("documents", overrides),
    }


def _by_day_figure(filters: ReportFilters) -> Figure:
    days = sorted(document_groups(filters, "day"), key=lambda row: row["day"])
    points = [(row["day"].isoformat(), row) for row in days]
    return Figure(
        "daily",
        _("按日开票金额与税额"),
        "line",
        "money",
        [
            Series(
                _("价税合计"),
                [Point(d, d, row["amount_gross"], ("documents", {"start": d, "end": d})) for d, row in points],
            ),
            Series(
                _("税额"), [Point(d, d, row["amount_tax"], ("documents", {"start": d, "end": d})) for d, row in points]
            ),
        ],
    )


def _workload_figure(figure_id: str, days: list[dict[str, Any]], keys: tuple[str, ...]) -> Figure:
    """Tickets per day from the support rollup. Only the opened tickets drill down (the tickets list is by
    creation day; closed and overdue tickets of a day are not one list)."""
    names = {"opened": pgettext("count", "新建工单"), "closed": _("关闭工单"), "overdue": _("超时工单")}
    series = []
    for key in keys:
        points = []
        for entry in days:
            day = entry["day"].isoformat()
            drill: Drill | None = ("tickets", {"start": day, "end": day}) if key == "opened" else None
            points.append(Point(day, day, entry[key], drill))
        series.append(Series(names[key], points))
    return Figure(figure_id, _("客服工作量"), "line", "count", series)


def _upload_tiles(filters: ReportFilters) -> list[Tile]:
    now, before = upload_totals(filters), upload_totals(filters.previous())
    return [
        Tile("batches", _("上传批次"), now["batches"], before["batches"], drill=("uploads", {})),
        Tile(
            "batches_failed", _("失败批次"), now["batches_failed"], before["batches_failed"],
            drill=("uploads", {"failed": 1}),
        ),
    ]  # fmt: skip


def _ticket_count(filters: ReportFilters, **narrow: Any) -> int:
    return ticket_rows(filters, **narrow).count()


# --- 1. 月度运营报告 --------------------------------------------------------------------------------------------------


def monthly_data(filters: ReportFilters) -> ReportData:
    tiles = _document_tiles(filters) + _upload_tiles(filters)
    previous = filters.previous()
    tiles.append(
        Tile("tickets", pgettext("count", "新建工单"), _ticket_count(filters), _ticket_count(previous),
             drill=("tickets", {}))
    )  # fmt: skip
    tiles.append(
        Tile("tickets_overdue", _("超时工单"), _ticket_count(filters, sla="overdue"),
             _ticket_count(previous, sla="overdue"), drill=("tickets", {"sla": "overdue"}))
    )  # fmt: skip

    kinds = sorted(document_groups(filters, "document_kind"), key=lambda row: -row["amount_gross"])
    lines = sorted(document_groups(filters, "business_line"), key=lambda row: -row["amount_gross"])
    days, _actions = support_days(filters)
    figures = [
        _by_day_figure(filters),
        Figure("kinds", _("按票据种类"), "bar", "count", [Series(_("开票张数"), [
            Point(row["document_kind"], document_kind_label(row["document_kind"]), row["documents"],
                  ("documents", {"document_kind": row["document_kind"], "blue": 1}))
            for row in kinds
        ])]),
        Figure("lines", _("按业务线"), "bar", "money", [Series(_("价税合计"), [
            Point(row["business_line"], business_line_label(row["business_line"]), row["amount_gross"],
                  ("documents", {"business_line": row["business_line"]}))
            for row in lines
        ])]),
        _workload_figure("support", days, ("opened", "closed")),
    ]  # fmt: skip
    tables = [
        Table("lines", _("按业务线"), [Column(_("业务线")), *_document_columns()], [
            Row([business_line_label(row["business_line"]), *_document_cells(row)],
                _document_drills(1, {"business_line": row["business_line"]}))
            for row in lines
        ]),
        Table("kinds", _("按票据种类"), [Column(_("票据种类")), *_document_columns()], [
            Row([document_kind_label(row["document_kind"]), *_document_cells(row)],
                _document_drills(1, {"document_kind": row["document_kind"]}))
            for row in kinds
        ]),
        _delivery_table(filters),
    ]  # fmt: skip
    return ReportData("monthly", str(MONTHLY.title), filters, tiles, figures, tables)


def _delivery_table(filters: ReportFilters) -> Table:
    """E-mail deliveries of the period's documents (by the documents' date and province), by status (the delivery
    rollup)."""
    rows = DeliveryRollup.objects.filter(day__range=(filters.start, filters.end))
    if filters.province:
        rows = rows.filter(province=filters.province)
    counts = {status: int(n) for status, n in rows.values_list("status").annotate(n=Sum("deliveries")).order_by()}
    total = sum(counts.values())
    return Table(
        "deliveries",
        _("票据投递"),
        [Column(_("状态")), Column(_("投递次数"), "number"), Column(_("占比"), "ratio")],
        [
            Row([str(label), counts.get(status, 0), ratio_of(counts.get(status, 0), total)])
            for status, label in DeliveryStatus.choices
        ],
        note=_("按票据的开票日期和省份统计，只按日期和省份筛选。"),
    )


# --- 2. 省份对比 ----------------------------------------------------------------------------------------------------


def provinces_data(filters: ReportFilters) -> ReportData:
    now = {row["province"]: row for row in document_groups(filters, "province")}
    before = {row["province"]: row for row in document_groups(filters.previous(), "province")}
    uploads = {row["province"]: row for row in upload_groups(filters, "province")}
    keys = sorted(set(now) | set(uploads), key=lambda key: -(now.get(key, {}).get("amount_gross", 0)))
    empty = dict.fromkeys(FIGURES, 0)
    totals = document_totals(filters)
    tiles = [
        *_document_tiles(filters)[:1],
        Tile("provinces", _("有开票的省份"), len(now), len(before), "number"),
        Tile(
            "average", _("每张平均金额"),
            totals["amount_gross"] // totals["documents"] if totals["documents"] else 0, None, "money",
        ),
        *_upload_tiles(filters)[1:],
    ]  # fmt: skip

    rows = []
    for rank, key in enumerate(keys, start=1):
        doc, up = now.get(key, empty), uploads.get(key, {})
        previous_gross = before.get(key, empty)["amount_gross"]
        change = change_ratio(doc["amount_gross"], previous_gross)
        rows.append(
            Row(
                [
                    rank,
                    province_label(key),
                    *_document_cells(doc),
                    Fen(doc["amount_gross"] // doc["documents"]) if doc["documents"] else None,
                    Ratio(change) if change is not None else None,
                    up.get("batches", 0),
                    up.get("batches_failed", 0),
                    ratio_of(up.get("rows_rejected", 0), up.get("rows_accepted", 0) + up.get("rows_rejected", 0)),
                ],
                {
                    **_document_drills(2, {"province": key}),
                    8: ("uploads", {"province": key}),
                    9: ("uploads", {"province": key, "failed": 1}),
                },
            )
        )
    ranking = Table(
        "ranking",
        _("省份排名（按价税合计）"),
        [
            Column(_("排名"), "number"), Column(_("省份")), *_document_columns(), Column(_("每张平均金额"), "money"),
            Column(_("环比"), "ratio"), Column(_("上传批次"), "count"), Column(_("失败批次"), "count"),
            Column(_("拒绝率"), "ratio"),
        ],
        rows,
        sortable=True,
    )  # fmt: skip
    ratio_tiles, ratio_figure, ratios = _province_ratios(filters, now, uploads)
    tiles += ratio_tiles

    top = keys[:6]
    per_day = document_groups(filters, "province", "day")
    trend = Figure("trend", _("各省按日价税合计（前 6 名）"), "multiples", "money", [
        Series(province_label(key), [
            Point(row["day"].isoformat(), row["day"].isoformat(), row["amount_gross"],
                  ("documents", {"province": key, "start": row["day"].isoformat(), "end": row["day"].isoformat()}))
            for row in sorted((r for r in per_day if r["province"] == key), key=lambda r: r["day"])
        ])
        for key in top
    ])  # fmt: skip
    figures = [
        Figure("ranking", _("各省价税合计"), "hbar", "money", [Series(_("价税合计"), [
            Point(key, province_label(key), now[key]["amount_gross"], ("documents", {"province": key}))
            for key in keys if key in now
        ])]),
        Figure("average", _("各省每张平均金额"), "hbar", "money", [Series(_("每张平均金额"), [
            Point(key, province_label(key), now[key]["amount_gross"] // now[key]["documents"],
                  ("documents", {"province": key, "blue": 1}))
            for key in keys if key in now and now[key]["documents"]
        ])]),
        Figure("failed", _("各省失败批次"), "bar", "count", [Series(_("失败批次"), [
            Point(key, province_label(key), uploads[key]["batches_failed"],
                  ("uploads", {"province": key, "failed": 1}))
            for key in sorted(uploads, key=lambda k: -uploads[k]["batches_failed"])
        ])]),
        ratio_figure,
        trend,
    ]  # fmt: skip
    return ReportData("provinces", str(PROVINCES.title), filters, tiles, figures, [ranking, ratios])


def _per(part: int, whole: int, scale: int) -> float | None:
    return round(part * scale / whole, 2) if whole else None


def _province_ratios(
    filters: ReportFilters, documents: dict[str, dict[str, Any]], uploads: dict[str, dict[str, Any]]
) -> tuple[list[Tile], Figure, Table]:
    """省份对比's ratios to traffic: per toll segment (通行拆分明细) of the province in the period — average fee,
    documents per 1,000, the share of the fee invoiced (ETC consumption documents), tickets per 10,000 — and the
    reject rate of its uploads; sortable."""
    traffic = traffic_by_province(filters)
    etc = {row["province"]: row for row in document_groups(replace(filters, business_line=BusinessLine.ETC_TRIP),
                                                           "province")}  # fmt: skip
    tickets = dict(ticket_rows(filters).values_list("province").annotate(n=Count("id")).order_by())
    invoicable_line = filters.business_line in (None, BusinessLine.ETC_TRIP)
    keys = sorted(set(traffic) | set(documents), key=lambda key: -(traffic.get(key, {}).get("segments", 0)))
    rows = []
    for key in keys:
        segments, fee = traffic.get(key, {}).get("segments", 0), traffic.get(key, {}).get("fee", 0)
        doc, up = documents.get(key, {}), uploads.get(key, {})
        share = ratio_of(etc.get(key, {}).get("amount_gross", 0), fee) if invoicable_line else None
        rows.append(Row([
            province_label(key), segments, Fen(fee // segments) if segments else None,
            _per(doc.get("documents", 0), segments, 1_000), share, _per(tickets.get(key, 0), segments, 10_000),
            ratio_of(up.get("rows_rejected", 0), up.get("rows_accepted", 0) + up.get("rows_rejected", 0)),
        ], {}))  # fmt: skip
    total_segments = sum(entry["segments"] for entry in traffic.values())
    total_fee = sum(entry["fee"] for entry in traffic.values())
    total_documents = sum(entry["documents"] for entry in documents.values())
    total_etc = sum(entry["amount_gross"] for entry in etc.values())
    tiles = [
        Tile("documents_per_1000", _("每千次通行开票张数"), _per(total_documents, total_segments, 1_000) or 0, None,
             "number"),
        Tile("invoiced_share", _("开票金额与通行实收之比"),
             (ratio_of(total_etc, total_fee) or 0.0) if invoicable_line else 0.0, None, "ratio"),
    ]  # fmt: skip
    figure = Figure("per-trip", _("各省每千次通行开票张数"), "hbar", "number", [Series(_("每千次通行开票张数"), [
        Point(key, province_label(key), _per(documents.get(key, {}).get("documents", 0),
                                             traffic[key]["segments"], 1_000) or 0,
              ("documents", {"province": key, "blue": 1}))
        for key in keys if traffic.get(key, {}).get("segments")
    ])])  # fmt: skip
    table = Table(
        "ratios",
        _("按通行量的比率（点击列标题排序）"),
        [Column(_("省份")), Column(_("通行次数"), "number"), Column(_("每次通行平均实收"), "money"),
         Column(_("每千次通行开票张数"), "number"), Column(_("开票金额与通行实收之比"), "ratio"),
         Column(_("每万次通行工单数"), "number"), Column(_("上传拒绝率"), "ratio")],
        rows,
        note=_("通行次数按通行拆分明细计：车辆每经过一个收费单元记一次，跨省通行在各省分别计入。开票金额为通行消费票据的"
               "价税合计。票据按开票日期、通行按通行日期统计，通行满 %(days)d 天才能开票：刚有数据或很短的期间里，"
               "开票相关的比值会偏高，甚至超过 100%%。") % {"days": late_after_days()},
        sortable=True,
    )  # fmt: skip
    return tiles, figure, table


# --- 3. 业务线分析 --------------------------------------------------------------------------------------------------


def business_lines_data(filters: ReportFilters) -> ReportData:
    now = {row["business_line"]: row for row in document_groups(filters, "business_line")}
    before = {row["business_line"]: row for row in document_groups(filters.previous(), "business_line")}
    keys = sorted(now, key=lambda key: -now[key]["amount_gross"])
    total = sum(row["amount_gross"] for row in now.values())
    tiles = [*_document_tiles(filters)[:3], Tile("lines", _("有开票的业务线"), len(now), len(before), "number")]
    empty = dict.fromkeys(FIGURES, 0)
    rows = []
    for key in keys:
        row, old = now[key], before.get(key, empty)
        change = change_ratio(row["amount_gross"], old["amount_gross"])
        rows.append(
            Row(
                [
                    business_line_label(key), *_document_cells(row), ratio_of(row["amount_gross"], total),
                    Fen(old["amount_gross"]), Ratio(change) if change is not None else None,
                ],
                _document_drills(1, {"business_line": key}),
            )
        )  # fmt: skip
    per_day = document_groups(filters, "business_line", "day")
    figures = [
        Figure("gross", _("各业务线价税合计"), "bar", "money", [Series(_("价税合计"), [
            Point(key, business_line_label(key), now[key]["amount_gross"], ("documents", {"business_line": key}))
            for key in keys
        ])]),
        Figure("share", _("各业务线金额占比"), "bar", "ratio", [Series(_("占比"), [
            Point(key, business_line_label(key), now[key]["amount_gross"] / total if total else 0,
                  ("documents", {"business_line": key}))
            for key in keys
        ])]),
        Figure("volumes", _("各业务线开票张数"), "group", "count", [
            Series(name, [
                Point(key, business_line_label(key), source.get(key, empty)["documents"],
                      ("documents", {"business_line": key, "blue": 1}) if source is now else None)
                for key in keys
            ])
            for name, source in ((_("本期"), now), (_("上期"), before))
        ]),
        Figure("daily", _("各业务线按日价税合计"), "line", "money", [
            Series(business_line_label(key), [
                Point(row["day"].isoformat(), row["day"].isoformat(), row["amount_gross"],
                      ("documents", {"business_line": key, "start": row["day"].isoformat(),
                                     "end": row["day"].isoformat()}))
                for row in sorted((r for r in per_day if r["business_line"] == key), key=lambda r: r["day"])
            ])
            for key in keys
        ]),
    ]  # fmt: skip
    table = Table(
        "lines",
        _("业务线对比"),
        [
            Column(_("业务线")), *_document_columns(), Column(_("金额占比"), "ratio"),
            Column(_("上期价税合计"), "money"), Column(_("增长"), "ratio"),
        ],
        rows,
    )  # fmt: skip
    return ReportData("business-lines", str(BUSINESS_LINES.title), filters, tiles, figures, [table])


# --- 4. 开票与税额 --------------------------------------------------------------------------------------------------


def tax_data(filters: ReportFilters) -> ReportData:
    totals, previous = document_totals(filters), document_totals(filters.previous())
    reissued = document_rows(filters, reissued=True).count()
    reissued_before = document_rows(filters.previous(), reissued=True).count()
    tiles = [
        *_document_tiles(filters)[:1],
        Tile("amount_tax", _("税额"), totals["amount_tax"], previous["amount_tax"], "money", ("documents", {})),
        Tile("reissued", _("换票张数"), reissued, reissued_before, drill=("documents", {"reissued": 1})),
        Tile("red_rate", _("红冲率"), ratio_of(totals["reversals"], totals["documents"]) or 0.0, None, "ratio",
             ("documents", {"red": 1})),
        Tile("reissue_rate", _("换票率"), ratio_of(reissued, totals["documents"]) or 0.0, None, "ratio",
             ("documents", {"reissued": 1})),
    ]  # fmt: skip
    rates: dict[str, dict[str, Any]] = {}
    for row in document_groups(filters, "tax_rate"):
        key = tax_rate_key(row["tax_rate"])
        entry = rates.setdefault(key, dict.fromkeys(FIGURES, 0))
        for name in FIGURES:
            entry[name] += row[name]
    rate_keys = sorted(rates, key=lambda key: (key == "none", key))
    sellers = sorted(document_groups(filters, "operator_id"), key=lambda row: -row["amount_tax"])[:TOP]
    names = operator_names([row["operator_id"] for row in sellers])
    kinds = sorted(document_groups(filters, "document_kind"), key=lambda row: -row["amount_tax"])
    figures = [
        Figure("rates", _("按税率的税额"), "bar", "money", [Series(_("税额"), [
            Point(key, tax_rate_label(key), rates[key]["amount_tax"], ("documents", {"tax_rate": key}))
            for key in rate_keys
        ])]),
        Figure("sellers", _("按销售方的税额（前 15 名）"), "hbar", "money", [Series(_("税额"), [
            Point(str(row["operator_id"]), names.get(row["operator_id"], _("其他")), row["amount_tax"],
                  ("documents", {"operator": row["operator_id"]}))
            for row in sellers
        ])]),
        Figure("kinds", _("按票据种类的张数"), "group", "count", [
            Series(name, [
                Point(row["document_kind"], document_kind_label(row["document_kind"]), row[key],
                      ("documents", {"document_kind": row["document_kind"], flag: 1}))
                for row in kinds
            ])
            for key, name, flag in (("documents", _("蓝字"), "blue"), ("reversals", _("红字"), "red"))
        ]),
    ]  # fmt: skip
    tables = [
        Table("rates", _("按税率"), [Column(_("税率")), *_document_columns()], [
            Row([tax_rate_label(key), *_document_cells(rates[key])], _document_drills(1, {"tax_rate": key}))
            for key in rate_keys
        ]),
        Table("sellers", _("按销售方（前 15 名）"), [Column(_("销售方")), *_document_columns()], [
            Row([names.get(row["operator_id"], _("其他")), *_document_cells(row)],
                _document_drills(1, {"operator": row["operator_id"]}))
            for row in sellers
        ]),
        Table("kinds", _("按票据种类"), [Column(_("票据种类")), *_document_columns(), Column(_("红冲率"), "ratio")], [
            Row([document_kind_label(row["document_kind"]), *_document_cells(row),
                 ratio_of(row["reversals"], row["documents"])],
                _document_drills(1, {"document_kind": row["document_kind"]}))
            for row in kinds
        ]),
    ]  # fmt: skip
    return ReportData("tax", str(TAX.title), filters, tiles, figures, tables)


# --- 5. 上传健康度 --------------------------------------------------------------------------------------------------


def _reject_reasons(filters: ReportFilters, limit: int = 10) -> list[tuple[str, int]]:
    """The most frequent reasons of the rows rejected in the period's batches (each reason of a row counts)."""
    lower, upper = day_bounds(filters.start, filters.end)
    clauses = ["b.created_at >= %s", "b.created_at < %s"]
    params: list[Any] = [lower, upper]
    if filters.province:
        clauses.append("b.province = %s")
        params.append(filters.province)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT reason, count(*) FROM {RejectedRow._meta.db_table} r
            JOIN tolling_uploadbatch b ON b.id = r.batch_id
            CROSS JOIN LATERAL jsonb_array_elements_text(r.reasons) AS reason
            WHERE {" AND ".join(clauses)}
            GROUP BY reason ORDER BY count(*) DESC, reason LIMIT %s
            """,  # noqa: S608  the clauses are ours
            [*params, limit],
        )
        return [(str(reason), int(n)) for reason, n in cursor.fetchall()]


def uploads_data(filters: ReportFilters) -> ReportData:
    now, before = upload_totals(filters), upload_totals(filters.previous())
    rows_in = now["rows_accepted"] + now["rows_rejected"]
    tiles = [
        *_upload_tiles(filters),
        Tile("rows_accepted", _("接收行数"), now["rows_accepted"], before["rows_accepted"], "number", ("uploads", {})),
        Tile("rows_rejected", _("拒绝行数"), now["rows_rejected"], before["rows_rejected"], "number", ("uploads", {})),
        Tile("reject_rate", _("拒绝率"), ratio_of(now["rows_rejected"], rows_in) or 0.0, None, "ratio"),
    ]
    provinces = upload_groups(filters, "province")
    kinds = upload_groups(filters, "kind")
    figures = [
        Figure("rows", _("各省接收、重复与拒绝行数"), "group", "number", [
            Series(name, [
                Point(row["province"], province_label(row["province"]), row[key],
                      ("uploads", {"province": row["province"]}))
                for row in provinces
            ])
            for key, name in (("rows_accepted", _("接收行数")), ("rows_duplicate", _("重复行数")),
                              ("rows_rejected", _("拒绝行数")))
        ]),
        Figure("reject-rate", _("各省拒绝率"), "bar", "ratio", [Series(_("拒绝率"), [
            Point(row["province"], province_label(row["province"]),
                  float(ratio_of(row["rows_rejected"], row["rows_accepted"] + row["rows_rejected"]) or 0),
                  ("uploads", {"province": row["province"]}))
            for row in provinces
        ])]),
        Figure("failed", _("各省失败批次"), "bar", "count", [Series(_("失败批次"), [
            Point(row["province"], province_label(row["province"]), row["batches_failed"],
                  ("uploads", {"province": row["province"], "failed": 1}))
            for row in provinces
        ])]),
        Figure("kinds", _("按数据类型的批次数"), "bar", "count", [Series(_("上传批次"), [
            Point(row["kind"], upload_kind_label(row["kind"]), row["batches"], ("uploads", {"kind": row["kind"]}))
            for row in kinds
        ])]),
    ]  # fmt: skip
    health = Table(
        "provinces",
        _("各省上传健康度"),
        [
            Column(_("省份")), Column(_("上传批次"), "count"), Column(_("失败批次"), "count"),
            Column(_("接收行数"), "number"), Column(_("重复行数"), "number"), Column(_("拒绝行数"), "number"),
            Column(_("拒绝率"), "ratio"), Column(_("平均处理时长(秒)"), "number"),
        ],
        [
            Row(
                [
                    province_label(row["province"]), row["batches"], row["batches_failed"], row["rows_accepted"],
                    row["rows_duplicate"], row["rows_rejected"],
                    ratio_of(row["rows_rejected"], row["rows_accepted"] + row["rows_rejected"]),
                    row["duration_seconds"] // row["batches"] if row["batches"] else 0,
                ],
                {1: ("uploads", {"province": row["province"]}),
                 2: ("uploads", {"province": row["province"], "failed": 1})},
            )
            for row in provinces
        ],
    )  # fmt: skip
    reasons = Table(
        "reasons",
        _("主要拒绝原因"),
        [Column(_("原因")), Column(_("行数"), "number")],
        [Row([reason, n]) for reason, n in _reject_reasons(filters)],
    )
    failed = upload_rows(filters, failed_only=True).order_by("-created_at")[:20]
    failures = Table(
        "failures",
        _("失败批次及原因（最近 20 个）"),
        [Column(_("批次"), "number"), Column(_("上传时间"), "date"), Column(_("省份")), Column(_("数据类型")),
         Column(_("文件名")), Column(_("原因"))],
        [
            Row([batch.pk, batch.created_at.astimezone(BEIJING).replace(tzinfo=None), province_label(batch.province),
                 upload_kind_label(batch.kind), batch.file_name, batch.message or batch.get_status_display()],
                {0: ("upload", {"pk": batch.pk})})
            for batch in failed
        ],
    )  # fmt: skip
    assert set(FAILED_UPLOAD_STATUSES)  # the failed tile, chart and list count the same statuses (reports/rows.py)
    late_tiles, late_figure, late_table, late_note = _lateness(filters)
    tiles += late_tiles
    figures.insert(2, late_figure)
    tables = [health, late_table, reasons, failures]
    return ReportData("uploads", str(UPLOADS.title), filters, tiles, figures, tables, [late_note])


def _late_batches(filters: ReportFilters) -> dict[str, int]:
    """Batches that brought late rows, per province: counted on the list their link opens."""
    rows = upload_rows(filters, late_only=True).values_list("province").annotate(n=Count("id")).order_by()
    return {province: int(n) for province, n in rows}


def _lateness(filters: ReportFilters) -> tuple[list[Tile], Figure, Table, str]:
    """上传健康度's lateness of data: how many days after their service date rows arrive (median, P90), the share
    later than the invoiceable day, and the batches that brought such rows."""
    limit = late_after_days()
    now, before = lateness_histograms(filters), lateness_histograms(filters.previous())
    late_now, late_before = _late_batches(filters), _late_batches(filters.previous())
    everything = histogram_merge(list(now.values()))

    def late_share(histogram: dict[int, int]) -> Ratio | None:
        return ratio_of(sum(n for days, n in histogram.items() if days > limit), sum(histogram.values()))

    share_label = _("晚于第 %(days)d 天到达的行占比") % {"days": limit}
    tiles = [
        Tile("late_median", _("数据迟到中位数（天）"), histogram_percentile(everything, 0.5) or 0,
             histogram_percentile(histogram_merge(list(before.values())), 0.5), "number"),
        Tile("late_p90", _("数据迟到 P90（天）"), histogram_percentile(everything, 0.9) or 0, None, "number"),
        Tile("late_share", share_label, late_share(everything) or 0.0, None, "ratio", ("uploads", {"late": 1})),
        Tile("late_batches", _("含迟到数据的批次"), sum(late_now.values()), sum(late_before.values()),
             drill=("uploads", {"late": 1})),
    ]  # fmt: skip
    provinces = sorted(now, key=lambda key: -(late_share(now[key]) or 0))
    figure = Figure("lateness", _("各省数据迟到天数（中位数与 P90）"), "group", "number", [
        Series(name, [
            Point(key, province_label(key), histogram_percentile(now[key], fraction) or 0,
                  ("uploads", {"province": key, "late": 1}))
            for key in provinces
        ])
        for name, fraction in ((_("中位数"), 0.5), (_("P90"), 0.9))
    ])  # fmt: skip
    table = Table(
        "lateness",
        _("各省数据迟到"),
        [Column(_("省份")), Column(_("数据行数"), "number"), Column(_("迟到中位数（天）"), "number"),
         Column(_("迟到 P90（天）"), "number"), Column(share_label, "ratio"), Column(_("含迟到数据的批次"), "count")],
        [
            Row([province_label(key), sum(now[key].values()), histogram_percentile(now[key], 0.5),
                 histogram_percentile(now[key], 0.9), late_share(now[key]), late_now.get(key, 0)],
                {5: ("uploads", {"province": key, "late": 1})})
            for key in provinces
        ],
    )  # fmt: skip
    note = _(
        "数据迟到 = 上传日期减去数据的业务日期（通行的出口日期、充值日期等），按行统计已处理完的批次；"
        "晚于第 %(days)d 天（通行可开票之日）到达的数据，客户查询时可能还看不到。"
    ) % {"days": limit}
    return tiles, figure, table, note


# --- 6. 客服工作量与SLA ---------------------------------------------------------------------------------------------


def support_data(filters: ReportFilters) -> ReportData:
    previous = filters.previous()
    tickets = ticket_rows(filters)
    sla = {state: Count("id", filter=sla_condition(state)) for state in SLA_STATES}
    grouped: Any = tickets.values("category").annotate(total=Count("id"), **sla).order_by("-total", "category")
    by_category: list[dict[str, Any]] = list(grouped)
    states = tickets.aggregate(**sla)
    days, actions = support_days(filters)
    total = sum(row["total"] for row in by_category)
    tiles = [
        Tile("tickets", pgettext("count", "新建工单"), total, _ticket_count(previous), drill=("tickets", {})),
        Tile("met", _("按时完成"), states["met"], _ticket_count(previous, sla="met"),
             drill=("tickets", {"sla": "met"})),
        Tile(
            "overdue", _("超时工单"), states["overdue"], _ticket_count(previous, sla="overdue"),
            drill=("tickets", {"sla": "overdue"}),
        ),
        Tile("sla_rate", _("SLA 达成率"), ratio_of(states["met"], states["met"] + states["overdue"]) or 0.0, None,
             "ratio"),
        Tile("actions", _("业务操作次数"), sum(actions.values()), None, "number", ("actions", {})),
    ]  # fmt: skip
    top_actions = sorted(actions.items(), key=lambda item: -item[1])[:TOP]
    figures = [
        Figure("categories", _("按类别的工单"), "hbar", "count", [Series(pgettext("count", "新建工单"), [
            Point(row["category"], ticket_category_label(row["category"]), row["total"],
                  ("tickets", {"category": row["category"]}))
            for row in by_category
        ])]),
        Figure("sla", _("SLA 状态"), "bar", "count", [Series(_("工单数"), [
            Point(state, sla_label(state), states[state], ("tickets", {"sla": state})) for state in SLA_STATES
        ])]),
        _workload_figure("daily", days, ("opened", "closed", "overdue")),
        Figure("actions", _("业务操作（按类型）"), "hbar", "count", [Series(_("操作次数"), [
            Point(action, action_label(action), n, ("actions", {"action": action})) for action, n in top_actions
        ])]),
    ]  # fmt: skip
    table = Table(
        "categories",
        _("按类别"),
        [Column(_("类别")), Column(pgettext("count", "新建工单"), "count"), Column(_("按时完成"), "count"),
         Column(_("超时"), "count"), Column(_("处理中（未到期）"), "count"), Column(_("SLA 达成率"), "ratio")],
        [
            Row([ticket_category_label(row["category"]), row["total"], row["met"], row["overdue"], row["open"],
                 ratio_of(row["met"], row["met"] + row["overdue"])],
                {1: ("tickets", {"category": row["category"]}),
                 2: ("tickets", {"category": row["category"], "sla": "met"}),
                 3: ("tickets", {"category": row["category"], "sla": "overdue"}),
                 4: ("tickets", {"category": row["category"], "sla": "open"})})
            for row in by_category
        ],
    )  # fmt: skip
    actions_table = Table(
        "actions",
        _("业务操作（按类型）"),
        [Column(_("操作")), Column(_("操作次数"), "count")],
        [Row([action_label(action), n], {1: ("actions", {"action": action})}) for action, n in top_actions],
    )
    searches = list(search_rows(filters).values_list("kind").annotate(n=Count("id")).order_by("-n", "kind")[:TOP])
    tiles.append(
        Tile("searches", _("搜索次数"), search_rows(filters).count(), search_rows(previous).count(),
             drill=("searches", {}))
    )  # fmt: skip
    figures.append(
        Figure("searches", _("最常用的搜索类型"), "hbar", "count", [Series(_("搜索次数"), [
            Point(kind, search_kind_label(kind), n, ("searches", {"search_kind": kind})) for kind, n in searches
        ])])
    )  # fmt: skip
    searches_table = Table(
        "searches",
        _("最常用的搜索类型"),
        [Column(_("搜索类型")), Column(_("搜索次数"), "count")],
        [Row([search_kind_label(kind), n], {1: ("searches", {"search_kind": kind})}) for kind, n in searches],
        note=_("按输入内容识别出的类型统计，不记录输入的内容本身；选了省份时只统计该省人员的搜索。"),
    )
    notes = [_("SLA 按工单的应完成时间计算：在此之前关闭为按时完成，之后关闭或逾期未关闭为超时。")]
    tables = [table, actions_table, searches_table]
    return ReportData("support", str(SUPPORT.title), filters, tiles, figures, tables, notes)


# --- the registry ----------------------------------------------------------------------------------------------------

MONTHLY = register(
    ReportTemplate(
        "monthly",
        gettext_lazy("月度运营报告"),
        gettext_lazy("上个月开了多少票、金额和税额多少，上传和客服是否正常？"),
        monthly_data,
        default_period="month",
        icon="lines",
    )
)
PROVINCES = register(
    ReportTemplate(
        "provinces",
        gettext_lazy("省份对比"),
        gettext_lazy("哪些省份开票最多、平均金额最高，哪个省的上传最不稳定？"),
        provinces_data,
        default_period="month",
        icon="hbars",
    )
)
BUSINESS_LINES = register(
    ReportTemplate(
        "business-lines",
        gettext_lazy("业务线分析"),
        gettext_lazy("通行消费、充值、稽核补费、纸改电和出租车各占多少，增长如何？"),
        business_lines_data,
        icon="pie",
    )
)
TAX = register(
    ReportTemplate(
        "tax",
        gettext_lazy("开票与税额"),
        gettext_lazy("各税率、销售方和票据种类的税额是多少，红冲和换票的比例有多高？"),
        tax_data,
        icon="bars",
    )
)
UPLOADS = register(
    ReportTemplate(
        "uploads",
        gettext_lazy("上传健康度"),
        gettext_lazy("各省上传了多少批次和行，拒绝率多高，主要因为什么被拒绝，哪些批次失败了？"),
        uploads_data,
        icon="bars",
    )
)
SUPPORT = register(
    ReportTemplate(
        "support",
        gettext_lazy("客服工作量与SLA"),
        gettext_lazy("客服收到多少工单、属于哪些类别，按时完成了多少，做了哪些业务操作，最常搜索什么？"),
        support_data,
        icon="lines",
    )
)
