"""The rollups behind query statistics (support/stats/): segments counted and summed per day, province, toll unit,
vehicle class and card type, and documents per day, province, seller, business line, kind and status — each for
every row up to an id watermark of its own (ADR 0006).

Statistics read a rollup and its watermark in one statement and add the raw rows above the watermark (read through
the primary key): a figure is always the count of its rows, however stale the rollup. The refresh adds the rows
between the old and the new watermark in one statement. The new watermark is the highest id that no open
transaction can still fill below: the greatest id already committed when the oldest transaction now open began
(``rollup_refresh``).

Rows below the watermark that change after they were rolled up tell the rollup in their own transaction, which
takes the difference: a segment replaced by a correction upload (``segment_rollup_correct``, registered in
``tolling.importing.conflicts.CORRECTED``), a document reversed (``document_rollup_reversed``, registered in
``invoicing.issuing.lifecycle.REVERSED``).

Operator, road nature (document kind) and toll unit code of segments are read through the toll unit at query time,
by both paths, so a master-data change reaches old and new rows alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.models import BusinessLine, DocumentKind, DocumentStatus
from tolling.models import Operator, TollUnit

ROLLUP_LOCK = 0x5354_4154  # advisory lock: one segment refresh at a time ("STAT")
DOCUMENT_ROLLUP_LOCK = 0x5354_4144  # one document refresh at a time ("STAD")


class SegmentRollup(models.Model):
    """Segments with id ≤ the watermark, per (day, province, toll unit, vehicle class, card type)."""

    id = models.BigAutoField(primary_key=True)
    service_date = models.DateField()
    province = models.CharField(max_length=2)
    toll_unit = models.ForeignKey(  # read through the key above, never alone: no index of its own
        TollUnit, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    vehicle_class = models.PositiveSmallIntegerField()
    card_type = models.PositiveSmallIntegerField()
    segments = models.BigIntegerField()
    pay_fee = models.BigIntegerField()
    discount_fee = models.BigIntegerField()
    fee = models.BigIntegerField()

    class Meta:
        app_label = "support"
        constraints = [
            # the refresh's ON CONFLICT target; statistics read a date range of it (leading column)
            models.UniqueConstraint(
                fields=["service_date", "province", "toll_unit", "vehicle_class", "card_type"],
                name="segment_rollup_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_date} {self.province} {self.toll_unit_id}: {self.segments}"


class RollupWatermark(models.Model):
    """One row: every row with ``id <= max_id`` is in the rollup; ``candidate_id`` is the greatest id committed at
    ``candidate_at``, the next watermark once every transaction open then has ended."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    max_id = models.BigIntegerField(default=0)
    candidate_id = models.BigIntegerField(default=0)
    candidate_at = models.DateTimeField(default=timezone.now)
    refreshed_at = models.DateTimeField(default=timezone.now)

    objects = models.Manager()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"≤ {self.max_id}"


class SegmentRollupWatermark(RollupWatermark):
    class Meta:
        app_label = "support"
        constraints = [models.CheckConstraint(name="segment_rollup_watermark_single", condition=models.Q(id=1))]


class DocumentStatsRollup(models.Model):
    """Documents with id ≤ the watermark, per (issue day, province, seller, business line, kind, status); the
    amounts are signed as the documents' (red documents negative)."""

    id = models.BigAutoField(primary_key=True)
    service_date = models.DateField(_("开票日期"))  # the documents' Beijing issue date
    province = models.CharField(_("省份"), max_length=2)
    seller = models.ForeignKey(  # read through the key above, never alone: no index of its own
        Operator,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        verbose_name=_("销售方"),
    )
    business_line = models.CharField(_("业务线"), max_length=10, choices=BusinessLine.choices)
    kind = models.CharField(_("票据种类"), max_length=8, choices=DocumentKind.choices)
    status = models.CharField(_("状态"), max_length=8, choices=DocumentStatus.choices)
    documents = models.BigIntegerField(_("张数"))
    amount_net = models.BigIntegerField(_("金额(分)"))
    amount_tax = models.BigIntegerField(_("税额(分)"))
    amount_gross = models.BigIntegerField(_("价税合计(分)"))

    class Meta:
        app_label = "support"
        verbose_name = pgettext_lazy("singular", "票据统计汇总")
        verbose_name_plural = pgettext_lazy("plural", "票据统计汇总")
        constraints = [
            # the refresh's ON CONFLICT target; statistics read a date range of it (leading column)
            models.UniqueConstraint(
                fields=["service_date", "province", "seller", "business_line", "kind", "status"],
                name="document_stats_rollup_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_date} {self.province} {self.seller_id} {self.kind} {self.status}: {self.documents}"


class DocumentStatsRollupWatermark(RollupWatermark):
    class Meta:
        app_label = "support"
        verbose_name = pgettext_lazy("singular", "票据统计汇总水位")
        verbose_name_plural = pgettext_lazy("plural", "票据统计汇总水位")
        constraints = [models.CheckConstraint(name="document_stats_rollup_watermark_single", condition=models.Q(id=1))]


# --- refresh --------------------------------------------------------------------------------------------------------

# The segments of (old, new] added into the rollup: one statement, the primary key bounds the read.
_SEGMENTS_ADD_SQL = """
INSERT INTO support_segmentrollup
    (service_date, province, toll_unit_id, vehicle_class, card_type, segments, pay_fee, discount_fee, fee)
SELECT service_date, province, toll_unit_id, vehicle_class, card_type, count(*), sum(pay_fee), sum(discount_fee),
       sum(fee)
FROM tolling_segment WHERE id > %s AND id <= %s
GROUP BY service_date, province, toll_unit_id, vehicle_class, card_type
ON CONFLICT (service_date, province, toll_unit_id, vehicle_class, card_type) DO UPDATE SET
    segments = support_segmentrollup.segments + excluded.segments,
    pay_fee = support_segmentrollup.pay_fee + excluded.pay_fee,
    discount_fee = support_segmentrollup.discount_fee + excluded.discount_fee,
    fee = support_segmentrollup.fee + excluded.fee
"""

# The documents of (old, new] added into the rollup, each under the status it has now.
_DOCUMENTS_ADD_SQL = """
INSERT INTO support_documentstatsrollup
    (service_date, province, seller_id, business_line, kind, status, documents, amount_net, amount_tax, amount_gross)
SELECT service_date, province, seller_id, business_line, kind, status, count(*), sum(amount_net), sum(amount_tax),
       sum(amount_gross)
FROM invoicing_document WHERE id > %s AND id <= %s
GROUP BY service_date, province, seller_id, business_line, kind, status
ON CONFLICT (service_date, province, seller_id, business_line, kind, status) DO UPDATE SET
    documents = support_documentstatsrollup.documents + excluded.documents,
    amount_net = support_documentstatsrollup.amount_net + excluded.amount_net,
    amount_tax = support_documentstatsrollup.amount_tax + excluded.amount_tax,
    amount_gross = support_documentstatsrollup.amount_gross + excluded.amount_gross
"""

# When the oldest transaction now open on this database began (other sessions' client transactions).
_OLDEST_OPEN_SQL = """
SELECT min(xact_start) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""


@dataclass(frozen=True)
class Rollup:
    """A rollup of a fact table up to a watermark: what statistics read (``model``, its count column) and how the
    refresh fills it."""

    model: type[SegmentRollup] | type[DocumentStatsRollup]
    count: str  # the rollup's column of row counts
    watermark: type[RollupWatermark]
    source: str  # the fact table rolled up
    add_sql: str  # adds the source rows of (%s, %s] by id
    lock: int


SEGMENTS = Rollup(SegmentRollup, "segments", SegmentRollupWatermark, "tolling_segment", _SEGMENTS_ADD_SQL, ROLLUP_LOCK)
DOCUMENTS = Rollup(
    DocumentStatsRollup,
    "documents",
    DocumentStatsRollupWatermark,
    "invoicing_document",
    _DOCUMENTS_ADD_SQL,
    DOCUMENT_ROLLUP_LOCK,
)


def rollup_watermark(rollup: Rollup) -> int:
    row = rollup.watermark.objects.filter(id=1).values_list("max_id", flat=True).first()
    return row or 0


@transaction.atomic
def rollup_refresh(rollup: Rollup, upto: int | None = None) -> int:
    """Add the rows above the watermark to the rollup and move the watermark; returns the new watermark.

    Ids come from a sequence when a row is inserted: a transaction still open may yet commit ids below the greatest
    one committed. So a refresh rolls up to the previous refresh's candidate (the greatest id committed then, read
    before ``candidate_at``) once no transaction that began before ``candidate_at`` is still open — any holding a
    lower id began before that read — and records a new candidate. Statistics stay exact meanwhile: they read the
    raw rows above the watermark. ``upto``: roll up to that id now (benchmarks, on a quiet database). Under an
    advisory lock: two refreshes never overlap. The watermark row is locked before the rows are read (a later
    statement, so a later snapshot): a change that waits on it (``document_rollup_reversed``) reads the new
    watermark, one that held it first has committed before the rows are read."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [rollup.lock])
        if not cursor.fetchone()[0]:
            return rollup_watermark(rollup)
        mark, _ = rollup.watermark.objects.select_for_update().get_or_create(id=1)
        target = upto
        if target is None and mark.candidate_id > mark.max_id:
            cursor.execute(_OLDEST_OPEN_SQL)
            oldest = cursor.fetchone()[0]
            if oldest is None or oldest > mark.candidate_at:
                target = mark.candidate_id
        if target is not None and target > mark.max_id:
            cursor.execute(rollup.add_sql, [mark.max_id, target])
            mark.max_id, mark.refreshed_at = target, timezone.now()
        cursor.execute(f"SELECT coalesce(max(id), 0), clock_timestamp() FROM {rollup.source}")  # noqa: S608 (a constant)
        mark.candidate_id, mark.candidate_at = cursor.fetchone()
        mark.save()
        return mark.max_id


def segment_rollup_refresh(*, upto: int | None = None) -> int:
    """Roll up the segments above the watermark (``rollup_refresh``)."""
    return rollup_refresh(SEGMENTS, upto)


def document_rollup_refresh(*, upto: int | None = None) -> int:
    """Roll up the documents above the watermark (``rollup_refresh``)."""
    return rollup_refresh(DOCUMENTS, upto)


# --- changes below the watermark ------------------------------------------------------------------------------------

# A correction's segments below the watermark: the stored row's contribution out, the new one in (one statement).
_CORRECT_SQL = """
WITH c AS (
    SELECT before, after FROM tolling_correction
    WHERE batch_id = %(batch)s AND line_no = ANY(%(lines)s) AND item_kind = 'segment' AND item_id <= %(mark)s
), d AS (
    SELECT r.sign, (r.row->>'service_date')::date AS service_date, r.row->>'province' AS province,
        (r.row->>'toll_unit_id')::bigint AS toll_unit_id, (r.row->>'vehicle_class')::int AS vehicle_class,
        (r.row->>'card_type')::int AS card_type, (r.row->>'pay_fee')::bigint AS pay_fee,
        (r.row->>'discount_fee')::bigint AS discount_fee, (r.row->>'fee')::bigint AS fee
    FROM c, LATERAL (VALUES (-1, c.before), (1, c.after)) r(sign, row)
)
INSERT INTO support_segmentrollup
    (service_date, province, toll_unit_id, vehicle_class, card_type, segments, pay_fee, discount_fee, fee)
SELECT service_date, province, toll_unit_id, vehicle_class, card_type, sum(sign), sum(sign * pay_fee),
    sum(sign * discount_fee), sum(sign * fee)
FROM d GROUP BY service_date, province, toll_unit_id, vehicle_class, card_type
ON CONFLICT (service_date, province, toll_unit_id, vehicle_class, card_type) DO UPDATE SET
    segments = support_segmentrollup.segments + excluded.segments,
    pay_fee = support_segmentrollup.pay_fee + excluded.pay_fee,
    discount_fee = support_segmentrollup.discount_fee + excluded.discount_fee,
    fee = support_segmentrollup.fee + excluded.fee
"""


def segment_rollup_correct(cursor: Any, batch_id: int, lines: list[int]) -> None:
    """A correction upload replaced segments (``tolling.importing.conflicts``): move the rollup by the difference
    for those below the watermark, in the correction's transaction. The advisory lock is taken waiting, so a
    refresh that read a segment before the correction committed has moved the watermark before it is read here."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])
    cursor.execute("SELECT coalesce((SELECT max_id FROM support_segmentrollupwatermark WHERE id = 1), 0)")
    mark = cursor.fetchone()[0]
    cursor.execute(_CORRECT_SQL, {"batch": batch_id, "lines": lines, "mark": mark})
    cursor.execute("DELETE FROM support_segmentrollup WHERE segments = 0")


# A reversed document below the watermark: out of "issued", into "reversed" (its red document is a new row).
_REVERSED_SQL = """
WITH d AS (
    SELECT service_date, province, seller_id, business_line, kind, amount_net, amount_tax, amount_gross
    FROM invoicing_document
    WHERE id = %(document)s AND id <= (SELECT max_id FROM support_documentstatsrollupwatermark WHERE id = 1)
)
INSERT INTO support_documentstatsrollup
    (service_date, province, seller_id, business_line, kind, status, documents, amount_net, amount_tax, amount_gross)
SELECT d.service_date, d.province, d.seller_id, d.business_line, d.kind, s.status, s.sign, s.sign * d.amount_net,
       s.sign * d.amount_tax, s.sign * d.amount_gross
FROM d, (VALUES (%(from)s, -1), (%(to)s, 1)) s(status, sign)
ON CONFLICT (service_date, province, seller_id, business_line, kind, status) DO UPDATE SET
    documents = support_documentstatsrollup.documents + excluded.documents,
    amount_net = support_documentstatsrollup.amount_net + excluded.amount_net,
    amount_tax = support_documentstatsrollup.amount_tax + excluded.amount_tax,
    amount_gross = support_documentstatsrollup.amount_gross + excluded.amount_gross
RETURNING service_date, province, seller_id, business_line, kind
"""


def document_rollup_reversed(document_id: int, before: str, after: str) -> None:
    """A document's status changed (``invoicing.issuing.lifecycle.REVERSED``): if the rollup holds it, move it from
    ``before`` to ``after``, in the change's transaction.

    The watermark row is read ``FOR SHARE`` (reversals do not wait on each other): if a refresh holds it, this waits
    until the refresh has committed and reads its new watermark — the refresh read the document before this change
    committed, so under its old status; if this holds it first, the refresh waits until this has committed and reads
    the document's new status."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM support_documentstatsrollupwatermark WHERE id = 1 FOR SHARE")
        cursor.execute(_REVERSED_SQL, {"document": document_id, "from": before, "to": after})
        keys = cursor.fetchall()
        if keys:
            cursor.execute(
                "DELETE FROM support_documentstatsrollup WHERE documents = 0 AND (service_date, province, seller_id,"
                " business_line, kind) = (%s, %s, %s, %s, %s)",
                keys[0],
            )
