"""Rollup refresh with a watermark (style.md rule 8, scale-notes.md rule 6).

Each rollup is rebuilt one whole day at a time (delete the day's rows, insert them again from the source tables,
in one transaction, so a reader never sees half a day). A run recomputes:

- every day after the watermark `final_through` up to today (days still open to late data), and
- any finished day that a source row reached since the last run (a document with an id above `last_id`, an upload
  batch or ticket created, started or finished since `last_run_at`, an audit event since then): late data.

Every other day is skipped. After a run the watermark moves to today − `ROLLUP_OPEN_DAYS` (setting). A maintainer can
move it back in the admin to force a recomputation. Runs of the same rollup never overlap (advisory lock).

Upload lateness (`UploadLateness`: a batch's rows by days between service date and upload) is not kept by day: each
run of the uploads rollup counts the finished batches' new fact rows above its own watermark
(`upload_lateness_catch_up`).

Freshness: beat also runs `rollups_refresh_changed` every `FRESHNESS_SECONDS`. It asks each rollup one cheap question
(did a source row arrive or finish since its last run?) and rebuilds only the days those rows belong to; so figures
follow an upload or an issuing run within a minute, and a quiet system costs three index probes per run. Polling
debounces by itself: a run of 50 chunks committing in 20 s costs one refresh, not 50. (The apps that write the facts
cannot enqueue a refresh: nothing imports `reports`.) Each check stamps `checked_at`; pages show the oldest rollup's
freshness as 数据截至 HH:MM.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from invoicing.models import Delivery, DeliveryStatus, Document, DocumentStatus
from piaogen.db import session_connection
from piaogen.identifiers import Province
from piaogen.models import AuditEvent
from reports.filters import BEIJING, beijing_today, day_bounds
from reports.models import DeliveryRollup, DocumentRollup, RollupWatermark, SupportRollup, TrafficRollup, UploadRollup
from reports.rows import FAILED_UPLOAD_STATUSES, documents_with_dimensions
from support.models import Ticket, TicketStatus
from support.stats_rollup import SegmentRollup
from tolling.models import AuditCharge, PaperTicket, Segment, TaxiRide, TopUp, UploadBatch, UploadKind, UploadStatus

SINCE_MARGIN = dt.timedelta(minutes=10)
"""Rows stamped shortly before the last run started may have committed after it: look back this far."""


def _open_days() -> int:
    return int(settings.PIAOGEN.get("ROLLUP_OPEN_DAYS", 2))


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _beijing_dates(values: Iterable[dt.datetime | None]) -> set[dt.date]:
    return {timezone.localdate(value, timezone=BEIJING) for value in values if value is not None}


# --- documents -----------------------------------------------------------------------------------------------------

DOCUMENT_COLUMNS = (
    "day, province, business_line, operator_id, vehicle_class, document_kind, tax_rate, documents, reversals, "
    "amount_gross, amount_tax"
)


def document_rollup_rebuild_day(day: dt.date) -> None:
    """Replace one day of the document rollup with the aggregate of that day's documents."""
    red = Q(status=DocumentStatus.RED)
    source = (
        documents_with_dimensions()  # type: ignore[misc]  # values() names the annotation
        # every province spelled out: the day's documents come from document_province_date_idx, not a table scan
        .filter(province__in=Province.values, service_date=day)
        .values("service_date", "province", "business_line", "seller_id", "vehicle_class_dim", "kind", "tax_rate")
        .annotate(
            n_blue=Count("id", filter=~red),
            n_red=Count("id", filter=red),
            gross=Sum("amount_gross"),
            tax=Sum("amount_tax"),
        )
        .order_by()
    )
    sql, params = source.query.sql_with_params()
    with transaction.atomic():
        DocumentRollup.objects.filter(day=day).delete()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")  # JIT compiling costs more than this short query takes
            cursor.execute(f"INSERT INTO reports_documentrollup ({DOCUMENT_COLUMNS}) {sql}", params)


def _document_first_day() -> dt.date | None:
    return Document.objects.aggregate(first=Min("service_date"))["first"]


def _new_rows_days(model: type[Document] | type[Segment], watermark: RollupWatermark) -> tuple[set[dt.date], int]:
    """The service dates of the rows added since the watermark, and the highest id they reach."""
    max_id = model.objects.aggregate(top=Max("id"))["top"] or 0
    days = set(
        model.objects.filter(id__gt=watermark.last_id, id__lte=max_id)
        .order_by()
        .values_list("service_date", flat=True)
        .distinct()
    )
    return days, max_id


def _document_dirty(watermark: RollupWatermark) -> tuple[set[dt.date], int]:
    return _new_rows_days(Document, watermark)


# --- uploads -------------------------------------------------------------------------------------------------------


def upload_rollup_rebuild_day(day: dt.date) -> None:
    lower, upper = day_bounds(day, day)
    with transaction.atomic():
        UploadRollup.objects.filter(day=day).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO reports_uploadrollup (day, province, kind, batches, batches_failed, rows_accepted,
                                                  rows_duplicate, rows_rejected, duration_seconds)
                SELECT %s, province, kind, count(*), count(*) FILTER (WHERE status = ANY(%s)),
                       coalesce(sum(rows_accepted), 0), coalesce(sum(rows_duplicate), 0),
                       coalesce(sum(rows_rejected), 0),
                       coalesce(sum(round(extract(epoch FROM finished_at - started_at)))
                                FILTER (WHERE finished_at IS NOT NULL AND started_at IS NOT NULL), 0)::bigint
                FROM tolling_uploadbatch
                WHERE created_at >= %s AND created_at < %s
                GROUP BY province, kind
                """,
                [day, list(FAILED_UPLOAD_STATUSES), lower, upper],
            )


# --- upload lateness ----------------------------------------------------------------------------------------------

LATENESS_FACTS = {
    UploadKind.SEGMENTS: Segment,
    UploadKind.TOPUPS: TopUp,
    UploadKind.AUDIT_CHARGES: AuditCharge,
    UploadKind.PAPER_TICKETS: PaperTicket,
    UploadKind.TAXI_RIDES: TaxiRide,
}
IN_PROGRESS = (UploadStatus.QUEUED, UploadStatus.RUNNING)

LATENESS_SQL = """
INSERT INTO reports_uploadlateness (batch_id, day, province, kind, late_days, rows)
SELECT b.id, b.day, b.province, b.kind, greatest(b.day - f.service_date, 0), sum(f.n)
FROM (
    SELECT batch_id, service_date, count(*) AS n FROM {table}
    WHERE id > %(after)s AND id <= %(through)s AND batch_id IS NOT NULL
    GROUP BY batch_id, service_date
) f
JOIN (
    SELECT id, province, kind, (created_at AT TIME ZONE 'Asia/Shanghai')::date AS day FROM tolling_uploadbatch
    WHERE kind = %(kind)s AND NOT (status = ANY(%(in_progress)s))
) b ON b.id = f.batch_id
WHERE NOT EXISTS (SELECT 1 FROM reports_uploadlateness l WHERE l.batch_id = b.id)
GROUP BY 1, 2, 3, 4, 5
"""
"""The lateness of the fact rows above a watermark, per finished batch not counted yet (one batch is counted whole,
once: a finished batch has committed all its rows)."""


def upload_lateness_catch_up() -> int:
    """Count the lateness of the rows that finished batches brought since the last catch-up (UploadLateness).

    Per fact table, one REPEATABLE READ snapshot reads the batches in progress, the highest row id and the new rows
    (`id` above the watermark `lateness.<kind>`), so the three agree. Only finished batches are counted. The
    watermark moves to the highest id only when no batch of that kind was running in the snapshot: then no upload
    can still commit a row below it (rows are inserted only by running batches — a claim commits `running` before
    the first chunk — and ids only grow). A running batch silent past PIAOGEN_INGEST_STALE_SECONDS is not waited
    for (its worker is gone; the batch is taken over). While uploads keep running, the next catch-up reads the same
    range again and skips the batches already counted.
    Returns the rollup rows written."""
    written = 0
    for kind, model in LATENESS_FACTS.items():
        name = f"lateness.{kind}"
        RollupWatermark.objects.get_or_create(name=name)
        outermost = not connection.in_atomic_block  # inside a caller's transaction its snapshot rules
        with transaction.atomic(), connection.cursor() as cursor:
            if outermost:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT last_id FROM reports_rollupwatermark WHERE name = %s FOR UPDATE", [name])
            after = cursor.fetchone()[0]
            cursor.execute(  # a running batch whose worker is silent past the take-over time inserts nothing more
                "SELECT EXISTS (SELECT 1 FROM tolling_uploadbatch WHERE kind = %s AND status = %s"
                " AND (heartbeat_at IS NULL OR heartbeat_at > now() - make_interval(secs => %s)))",
                [kind, UploadStatus.RUNNING, settings.PIAOGEN["INGEST_STALE_SECONDS"]],
            )
            busy = cursor.fetchone()[0]
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {model._meta.db_table}")  # noqa: S608  ours
            through = cursor.fetchone()[0]
            if through <= after:
                continue
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(
                LATENESS_SQL.format(table=model._meta.db_table),
                {"after": after, "through": through, "kind": kind, "in_progress": list(IN_PROGRESS)},
            )
            written += max(cursor.rowcount, 0)
            if not busy:
                cursor.execute("UPDATE reports_rollupwatermark SET last_id = %s WHERE name = %s", [through, name])
    return written


def _upload_first_day() -> dt.date | None:
    first = UploadBatch.objects.aggregate(first=Min("created_at"))["first"]
    return timezone.localdate(first, timezone=BEIJING) if first else None


def _upload_dirty(watermark: RollupWatermark) -> tuple[set[dt.date], int]:
    max_id = UploadBatch.objects.aggregate(top=Max("id"))["top"] or 0
    changed = Q(id__gt=watermark.last_id)
    if watermark.last_run_at is not None:
        since = watermark.last_run_at - SINCE_MARGIN
        changed |= Q(started_at__gte=since) | Q(finished_at__gte=since) | Q(heartbeat_at__gte=since)
    return _beijing_dates(UploadBatch.objects.filter(changed).values_list("created_at", flat=True)), max_id


# --- support -------------------------------------------------------------------------------------------------------

CLOSED_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def support_rollup_rebuild_day(day: dt.date) -> None:
    """Tickets opened and closed that day, open and overdue at the end of it, and actions taken (audit trail)."""
    lower, upper = day_bounds(day, day)
    rows: dict[str, dict[str, object]] = defaultdict(
        lambda: {"tickets_opened": 0, "tickets_closed": 0, "tickets_overdue": 0, "actions": {}}
    )
    opened = Ticket.objects.filter(created_at__gte=lower, created_at__lt=upper)
    for province, n in opened.values_list("province").annotate(n=Count("id")).order_by():
        rows[province]["tickets_opened"] = n
    closed = Ticket.objects.filter(closed_at__gte=lower, closed_at__lt=upper)
    for province, n in closed.values_list("province").annotate(n=Count("id")).order_by():
        rows[province]["tickets_closed"] = n
    overdue = Ticket.objects.filter(created_at__lt=upper, due_at__lt=upper).filter(
        (Q(closed_at__isnull=True) & ~Q(status__in=CLOSED_STATUSES)) | Q(closed_at__gte=upper)
    )
    for province, n in overdue.values_list("province").annotate(n=Count("id")).order_by():
        rows[province]["tickets_overdue"] = n
    actions = AuditEvent.objects.filter(at__gte=lower, at__lt=upper)
    for province, action, n in actions.values_list("province", "action").annotate(n=Count("id")).order_by():
        counts = rows[province]["actions"]
        assert isinstance(counts, dict)
        counts[action] = n
    with transaction.atomic():
        SupportRollup.objects.filter(day=day).delete()
        SupportRollup.objects.bulk_create(
            SupportRollup(day=day, province=province, **values) for province, values in rows.items()
        )


def _support_first_day() -> dt.date | None:
    first = [
        Ticket.objects.aggregate(first=Min("created_at"))["first"],
        AuditEvent.objects.aggregate(first=Min("at"))["first"],
    ]
    days = _beijing_dates(first)
    return min(days) if days else None


def _support_dirty(watermark: RollupWatermark) -> tuple[set[dt.date], int]:
    max_id = Ticket.objects.aggregate(top=Max("id"))["top"] or 0
    tickets = Ticket.objects.filter(id__gt=watermark.last_id)
    days = _beijing_dates(tickets.values_list("created_at", flat=True))
    if watermark.last_run_at is not None:
        since = watermark.last_run_at - SINCE_MARGIN
        days |= _beijing_dates(Ticket.objects.filter(closed_at__gte=since).values_list("closed_at", flat=True))
        days |= set(
            AuditEvent.objects.filter(at__gte=since)
            .annotate(day=TruncDate("at", tzinfo=BEIJING))
            .values_list("day", flat=True)
            .distinct()
        )
    return days, max_id


# --- deliveries -----------------------------------------------------------------------------------------------------

DELIVERY_SETTLE_DAYS = 7
"""A delivery is retried for hours, not days: a day with deliveries still pending this recently is rebuilt on every
run until they are sent or failed (a status change has no timestamp to find it by)."""

DELIVERY_SQL = """
INSERT INTO reports_deliveryrollup (day, province, status, deliveries)
SELECT %(day)s, doc.province, d.status, count(*)
FROM invoicing_document doc JOIN invoicing_delivery d ON d.document_id = doc.id
WHERE doc.service_date = %(day)s AND doc.province = ANY(%(provinces)s)
GROUP BY doc.province, d.status
"""


def delivery_rollup_rebuild_day(day: dt.date) -> None:
    with transaction.atomic():
        DeliveryRollup.objects.filter(day=day).delete()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            # every province spelled out: the day's documents come from document_province_date_idx
            cursor.execute(DELIVERY_SQL, {"day": day, "provinces": list(Province.values)})


def _delivery_dirty(watermark: RollupWatermark) -> tuple[set[dt.date], int]:
    max_id = Delivery.objects.aggregate(top=Max("id"))["top"] or 0
    new = Delivery.objects.filter(id__gt=watermark.last_id, id__lte=max_id, document__isnull=False)
    days = set(new.order_by().values_list("document__service_date", flat=True).distinct())
    unsettled = DeliveryRollup.objects.filter(
        status=DeliveryStatus.PENDING, day__gte=beijing_today() - dt.timedelta(days=DELIVERY_SETTLE_DAYS)
    )
    days |= set(unsettled.values_list("day", flat=True).distinct())
    return days, max_id


def _deliveries_changed(watermark: RollupWatermark) -> bool:
    return Delivery.objects.filter(id__gt=watermark.last_id).exists()


# --- traffic --------------------------------------------------------------------------------------------------------

TRAFFIC_SQL = """
INSERT INTO reports_trafficrollup (day, province, operator_id, vehicle_class, segments, fee)
SELECT t.day, t.province, u.operator_id, t.vehicle_class, sum(t.n), sum(t.fee) FROM (
    SELECT service_date AS day, province, toll_unit_id, vehicle_class, segments AS n, fee FROM support_segmentrollup
    WHERE service_date = ANY(%(days)s)
    UNION ALL
    SELECT service_date, province, toll_unit_id, vehicle_class, 1, fee FROM tolling_segment
    WHERE id > (SELECT coalesce(max(max_id), 0) FROM support_segmentrollupwatermark) AND service_date = ANY(%(days)s)
) t JOIN tolling_tollunit u ON u.id = t.toll_unit_id
GROUP BY t.day, t.province, u.operator_id, t.vehicle_class
"""
"""Days of traffic: the statistics' segment rollup (exact up to its watermark) plus the raw segments above it,
read in one statement, so one snapshot: a concurrent refresh of that rollup moves rows and watermark together. All
the days in one statement: the raw rows above the watermark (an upload's, until that rollup catches up) are read
once, not once a day."""


def traffic_rollup_rebuild_days(days: list[dt.date]) -> None:
    with transaction.atomic():
        TrafficRollup.objects.filter(day__in=days).delete()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(TRAFFIC_SQL, {"days": days})


def traffic_rollup_rebuild_day(day: dt.date) -> None:
    traffic_rollup_rebuild_days([day])


def _traffic_first_day() -> dt.date | None:
    first = SegmentRollup.objects.aggregate(first=Min("service_date"))["first"]
    return first or Segment.objects.aggregate(first=Min("service_date"))["first"]


def _traffic_dirty(watermark: RollupWatermark) -> tuple[set[dt.date], int]:
    return _new_rows_days(Segment, watermark)


# --- the watermark loop --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollup:
    name: str
    rebuild_day: Callable[[dt.date], None]
    first_day: Callable[[], dt.date | None]
    dirty: Callable[[RollupWatermark], tuple[set[dt.date], int]]
    also: Callable[[], object] | None = None  # kept up to date with it, not by day (upload lateness)
    rebuild_days: Callable[[list[dt.date]], None] | None = None  # several days at once, when cheaper

    def rebuild(self, days: list[dt.date]) -> None:
        if self.rebuild_days is not None and len(days) > 1:
            self.rebuild_days(days)
            return
        for day in days:
            self.rebuild_day(day)


ROLLUPS = {
    "documents": Rollup("documents", document_rollup_rebuild_day, _document_first_day, _document_dirty),
    "uploads": Rollup("uploads", upload_rollup_rebuild_day, _upload_first_day, _upload_dirty, upload_lateness_catch_up),
    "support": Rollup("support", support_rollup_rebuild_day, _support_first_day, _support_dirty),
    "traffic": Rollup(
        "traffic",
        traffic_rollup_rebuild_day,
        _traffic_first_day,
        _traffic_dirty,
        rebuild_days=traffic_rollup_rebuild_days,
    ),
    "deliveries": Rollup("deliveries", delivery_rollup_rebuild_day, _document_first_day, _delivery_dirty),
}


@dataclass(frozen=True)
class RefreshResult:
    name: str
    days: list[dt.date]
    final_through: dt.date | None
    skipped: bool = False  # another run of the same rollup holds the lock


def _try_lock(name: str) -> bool:
    with session_connection().cursor() as cursor:  # session-level: past pgbouncer when behind it
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [7406, zlib.crc32(name.encode()) & 0x7FFFFFFF])
        return bool(cursor.fetchone()[0])


def _unlock(name: str) -> None:
    with session_connection().cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [7406, zlib.crc32(name.encode()) & 0x7FFFFFFF])


def rollup_refresh(*, name: str, today: dt.date | None = None, only_changed: bool = False) -> RefreshResult:
    """Bring one rollup up to date (see the module docstring). Returns the days it recomputed. `only_changed`
    recomputes only the days source rows reached since the last run (the freshness poll), not the open days."""
    rollup = ROLLUPS[name]
    today = today or beijing_today()
    if not _try_lock(name):
        return RefreshResult(name, [], None, skipped=True)
    try:
        watermark, _ = RollupWatermark.objects.get_or_create(name=name)
        started = timezone.now()
        dirty, max_id = rollup.dirty(watermark)
        if rollup.also is not None:
            rollup.also()
        if only_changed and watermark.final_through is not None:
            ordered = sorted(day for day in dirty if day <= today)
            rollup.rebuild(ordered)
            watermark.last_id = max(max_id, watermark.last_id)
            watermark.last_run_at = started
            watermark.checked_at = started
            watermark.save()
            return RefreshResult(name, ordered, watermark.final_through)
        if watermark.final_through is None:
            first = rollup.first_day() or today
        else:
            first = watermark.final_through + dt.timedelta(days=1)
        days = set(_days(first, today)) if first <= today else set()
        if watermark.final_through is not None:
            days |= {day for day in dirty if day <= watermark.final_through}
        else:
            days |= {day for day in dirty if day <= today}
        ordered = sorted(days)
        rollup.rebuild(ordered)
        final = today - dt.timedelta(days=_open_days())
        if watermark.final_through is not None:
            final = max(final, watermark.final_through)
        watermark.final_through = final
        watermark.last_id = max(max_id, watermark.last_id)
        watermark.last_run_at = started
        watermark.checked_at = started
        watermark.save()
        return RefreshResult(name, ordered, final)
    finally:
        _unlock(name)


def rollups_refresh_all(*, today: dt.date | None = None) -> list[RefreshResult]:
    return [rollup_refresh(name=name, today=today) for name in ROLLUPS]


def _documents_changed(watermark: RollupWatermark) -> bool:
    return Document.objects.filter(id__gt=watermark.last_id).exists()


PROBE_MARGIN = dt.timedelta(seconds=60)
"""The freshness probe looks back this far before the last run (rows stamped before their commit). Shorter than
SINCE_MARGIN so one change triggers a few refreshes, not thirty; a later commit is caught by the 15-minute run."""


def _uploads_changed(watermark: RollupWatermark) -> bool:
    changed = Q(id__gt=watermark.last_id)
    if watermark.last_run_at is not None:
        since = watermark.last_run_at - PROBE_MARGIN
        changed |= Q(started_at__gte=since) | Q(finished_at__gte=since)
    return UploadBatch.objects.filter(changed).exists()


def _support_changed(watermark: RollupWatermark) -> bool:
    if Ticket.objects.filter(id__gt=watermark.last_id).exists():
        return True
    if watermark.last_run_at is None:
        return False
    since = watermark.last_run_at - PROBE_MARGIN
    return Ticket.objects.filter(closed_at__gte=since).exists() or AuditEvent.objects.filter(at__gte=since).exists()


def _traffic_changed(watermark: RollupWatermark) -> bool:
    return Segment.objects.filter(id__gt=watermark.last_id).exists()


CHANGED: dict[str, Callable[[RollupWatermark], bool]] = {
    "documents": _documents_changed,
    "uploads": _uploads_changed,
    "support": _support_changed,
    "traffic": _traffic_changed,
    "deliveries": _deliveries_changed,
}
"""Per rollup: did a source row arrive or finish since its last run? (one index probe or three)"""


def rollups_refresh_changed(*, today: dt.date | None = None) -> list[RefreshResult]:
    """The freshness poll (beat, every FRESHNESS_SECONDS): refresh the rollups whose sources changed, only the days
    that changed; a rollup never run before gets its first full run. Marks every rollup checked."""
    results = []
    for name, changed in CHANGED.items():
        checked = timezone.now()
        watermark = RollupWatermark.objects.filter(name=name).first()
        if watermark is None or watermark.final_through is None:
            results.append(rollup_refresh(name=name, today=today))
        elif changed(watermark):
            results.append(rollup_refresh(name=name, today=today, only_changed=True))
        else:
            RollupWatermark.objects.filter(name=name).update(checked_at=checked)
    return results


def rollups_as_of() -> dt.datetime | None:
    """How fresh the figures are: the oldest of the rollups' last checks (None before every rollup has run once).
    Pages show it as 数据截至 HH:MM."""
    checks = dict(RollupWatermark.objects.filter(name__in=ROLLUPS).values_list("name", "checked_at"))
    if set(checks) != set(ROLLUPS) or any(check is None for check in checks.values()):
        return None
    return min(check for check in checks.values() if check is not None)
