"""The segment rollup behind query statistics (support/stats/): segments counted and summed per day, province,
toll unit, vehicle class and card type, for every segment up to an id watermark.

Segments are inserted by ingest and changed only by a correction upload (``mode=correct``), which tells this module
in its own transaction (``segment_rollup_correct``, registered in ``tolling.importing.conflicts.CORRECTED``): the
rollup takes the difference for segments below the watermark. So the rollup is exact for ``id <= watermark`` and
statistics add the raw segments above it (read through the primary key): a figure is always the count of its rows,
however stale the rollup. The refresh adds the segments between the old and the new watermark in one statement. The
new watermark is the highest id that no open transaction can still fill below: the greatest id already committed
when the oldest transaction now open began (``segment_rollup_refresh``).

Operator, road nature (document kind) and toll unit code are read through the toll unit at query time, by both
paths, so a master-data change reaches old and new rows alike.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from tolling.models import TollUnit

ROLLUP_LOCK = 0x5354_4154  # advisory lock: one refresh at a time ("STAT")


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


class SegmentRollupWatermark(models.Model):
    """One row: every segment with ``id <= max_id`` is in ``SegmentRollup``; ``candidate_id`` is the greatest id
    committed at ``candidate_at``, the next watermark once every transaction open then has ended."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    max_id = models.BigIntegerField(default=0)
    candidate_id = models.BigIntegerField(default=0)
    candidate_at = models.DateTimeField(default=timezone.now)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "support"
        constraints = [models.CheckConstraint(name="segment_rollup_watermark_single", condition=models.Q(id=1))]

    def __str__(self) -> str:
        return f"≤ {self.max_id}"


def segment_rollup_watermark() -> int:
    row = SegmentRollupWatermark.objects.filter(id=1).values_list("max_id", flat=True).first()
    return row or 0


# The segments of (old, new] added into the rollup: one statement, the primary key bounds the read.
_ADD_SQL = """
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

# When the oldest transaction now open on this database began (other sessions' client transactions).
_OLDEST_OPEN_SQL = """
SELECT min(xact_start) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""


@transaction.atomic
def segment_rollup_refresh(*, upto: int | None = None) -> int:
    """Add the segments above the watermark to the rollup and move the watermark; returns the new watermark.

    Segment ids come from a sequence when a row is inserted: a transaction still open may yet commit ids below the
    greatest one committed. So a refresh rolls up to the previous refresh's candidate (the greatest id committed
    then, read before ``candidate_at``) once no transaction that began before ``candidate_at`` is still open — any
    holding a lower id began before that read — and records a new candidate. Statistics stay exact meanwhile: they
    read the raw segments above the watermark. ``upto``: roll up to that id now (benchmarks, on a quiet database).
    Under an advisory lock: two refreshes never overlap."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ROLLUP_LOCK])
        if not cursor.fetchone()[0]:
            return segment_rollup_watermark()
        mark, _ = SegmentRollupWatermark.objects.select_for_update().get_or_create(id=1)
        target = upto
        if target is None and mark.candidate_id > mark.max_id:
            cursor.execute(_OLDEST_OPEN_SQL)
            oldest = cursor.fetchone()[0]
            if oldest is None or oldest > mark.candidate_at:
                target = mark.candidate_id
        if target is not None and target > mark.max_id:
            cursor.execute(_ADD_SQL, [mark.max_id, target])
            mark.max_id, mark.refreshed_at = target, timezone.now()
        cursor.execute("SELECT coalesce(max(id), 0), clock_timestamp() FROM tolling_segment")
        mark.candidate_id, mark.candidate_at = cursor.fetchone()
        mark.save()
        return mark.max_id


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
