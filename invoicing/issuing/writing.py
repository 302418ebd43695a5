"""Writing drafts: numbers taken late (ADR 0002), documents, lines, items and events by COPY; item locks and the
retry after a lost race (see the package docstring)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from invoicing.eligibility import (
    BEIJING,
    ServiceDates,
    in_array,
)
from invoicing.issuing.drafts import (
    LIVE_ITEM_CONSTRAINT,
    MAX_ATTEMPTS,
    Draft,
    IssuingError,
)
from invoicing.models import (
    Document,
    DocumentStatus,
    IssueRun,
)
from invoicing.numbering import document_numbers
from invoicing.tax import check_invoice
from piaogen.audit import audit_record
from piaogen.models import User

# --- writing ------------------------------------------------------------------------------------------------------


log = logging.getLogger(__name__)


def _numbers(drafts: list[Draft], issued_on: dt.date) -> list[tuple[str, str]]:
    """(code, number) per draft, in draft order, from ``numbering.document_numbers`` (one block per series)."""
    taken = document_numbers(counts=Counter((d.kind, d.seller.province) for d in drafts), issued_on=issued_on)
    blocks = {key: (code, iter(numbers)) for key, (code, numbers) in taken.items()}
    out = []
    for draft in drafts:
        code, numbers = blocks[(draft.kind, draft.seller.province)]
        out.append((code, next(numbers)))
    return out


@dataclass(frozen=True)
class Written:
    """What ``documents_write`` inserted: document ids and their printed numbers (code + number), in draft order."""

    ids: list[int]
    numbers: list[str]

    def documents(self) -> list[Document]:
        """The documents as model instances (one query; for single requests, not for runs)."""
        by_id = Document.objects.filter(id__in=in_array(self.ids)).in_bulk() if self.ids else {}
        return [by_id[pk] for pk in self.ids]


_DOCUMENT_COLUMNS = (
    "id",
    "kind",
    "business_line",
    "status",
    "code",
    "number",
    "issued_at",
    "service_date",
    "province",
    "seller_id",
    "seller_name",
    "seller_tax_id",
    "customer_id",
    "title_id",
    "buyer_name",
    "buyer_tax_id",
    "card_no",
    "tax_rate",
    "amount_net",
    "amount_tax",
    "amount_gross",
    "period_start",
    "period_end",
    "is_merged",
    "original_id",
    "replaces_id",
    "remarks",
    "pdf",
    "run_id",
)
_LINE_COLUMNS = (
    "id",
    "document_id",
    "line_no",
    "item_name",
    "plate",
    "vehicle_type",
    "date_from",
    "date_to",
    "tax_rate",
    "amount_net",
    "amount_tax",
    "amount_gross",
    "service_date",
    "card_no",
)
_ITEM_COLUMNS = ("document_id", "line_id", "item_kind", "item_id", "service_date", "card_no", "amount", "live")
_EVENT_COLUMNS = ("document_id", "kind", "at", "by_id", "data")


def _new_ids(cursor: CursorWrapper, table: str, count: int) -> list[int]:
    """``count`` ids from the table's identity sequence (so rows can reference each other before they exist)."""
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
    return [row[0] for row in cursor.fetchall()]


def _copy(cursor: CursorWrapper, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def documents_write(
    drafts: list[Draft],
    *,
    run: IssueRun | None,
    by: User | None,
    event: str = "issued",
    data: dict[str, Any] | None = None,
) -> Written:
    """Take numbers for the drafts and insert documents, lines, items and events set-based (COPY).

    The constraints still decide: a second live item fails the COPY of items (``IntegrityError``, as Django raises
    it, with the psycopg error as ``__cause__``), the foreign keys are checked at commit.
    """
    if not drafts:
        return Written([], [])
    for draft in drafts:
        if draft.status != DocumentStatus.RED:
            check_invoice(line.tax for line in draft.lines)
    now = timezone.now()
    issued_on = timezone.localdate(now, timezone=BEIJING)
    numbers = _numbers(drafts, issued_on)  # late: right before the inserts
    run_id = run.pk if run is not None else None
    by_id = by.pk if by is not None else None
    extra = {"run": run_id, **(data or {})} if run is not None else dict(data or {})
    # the event's data is ``extra`` plus the item count: serialized once, the count spliced in per document
    event_head = json.dumps({**{k: v for k, v in extra.items() if k != "items"}, "items": 0})[: -len("0}")]
    with connection.wrap_database_errors, connection.cursor() as cursor:
        doc_ids = _new_ids(cursor, "invoicing_document", len(drafts))
        line_ids = iter(_new_ids(cursor, "invoicing_documentline", sum(len(d.lines) for d in drafts)))
        documents: list[tuple[Any, ...]] = []
        lines: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        for draft, doc_id, (code, number) in zip(drafts, doc_ids, numbers, strict=True):
            net = tax = count = 0
            dates: list[dt.date] = []
            cards: set[str] = set()
            rate = draft.rate
            first_line = len(lines)
            for line_no, line in enumerate(draft.lines, start=1):
                line_id = next(line_ids)
                split = line.tax
                net += split.net
                tax += split.tax
                if line.date_from is not None:
                    dates.append(line.date_from)
                if line.date_to is not None:
                    dates.append(line.date_to)
                lines.append(
                    (
                        line_id,
                        doc_id,
                        line_no,
                        line.item_name,
                        line.plate,
                        line.vehicle_type,
                        line.date_from,
                        line.date_to,
                        rate,
                        split.net,
                        split.tax,
                        split.gross,
                    )
                )
                for kind, item_id, amount, service_date, card_no in line.items:
                    cards.add(card_no)
                    items.append((doc_id, line_id, kind, item_id, service_date, card_no, amount, True))
                count += len(line.items)
            seller, title = draft.seller, draft.title
            card_no = cards.pop() if len(cards) == 1 else ""
            lines[first_line:] = [(*line_row, issued_on, card_no) for line_row in lines[first_line:]]  # the document's
            documents.append(
                (
                    doc_id,
                    draft.kind,
                    draft.business_line,
                    draft.status,
                    code,
                    number,
                    now,
                    issued_on,
                    seller.province,
                    seller.id,
                    seller.name,
                    seller.tax_id,
                    draft.customer_id,
                    title.id,
                    title.name,
                    title.tax_id,
                    card_no,
                    draft.rate,
                    net,
                    tax,
                    net + tax,
                    min(dates) if dates else None,
                    max(dates) if dates else None,
                    draft.is_merged,
                    draft.original_id,
                    draft.replaces_id,
                    draft.remarks,
                    "",
                    run_id,
                )
            )
            events.append((doc_id, event, now, by_id, f"{event_head}{count}}}"))
        _copy(cursor, "invoicing_document", _DOCUMENT_COLUMNS, documents)
        _copy(cursor, "invoicing_documentline", _LINE_COLUMNS, lines)
        _copy(cursor, "invoicing_documentitem", _ITEM_COLUMNS, items)  # the partial unique index decides races here
        _copy(cursor, "invoicing_documentevent", _EVENT_COLUMNS, events)
    return Written(doc_ids, [f"{code}{number}" for code, number in numbers])


def _is_live_item_race(error: IntegrityError) -> bool:
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None) == LIVE_ITEM_CONSTRAINT


LOCK_BLOCK_BITS = 10
"""Items are locked in blocks of 1,024 consecutive ids: a run's chunk (ids in order) takes one or two locks."""

_LOCK_SQL = """
SELECT count(pg_advisory_xact_lock(hashtext(%s), b)) FROM (
    SELECT DISTINCT (i >> %s)::int AS b FROM unnest(%s::bigint[]) AS i ORDER BY 1
) blocks
"""


def _lock_items(kind: str, ids: Sequence[int]) -> None:
    """Serialize workers whose items overlap, until commit: a second worker waits, then reads eligibility after
    the first committed, so its insert does not lose a race. Blocks are locked in ascending order (no deadlock),
    always before any number series (lock order: items, then ADR 0002's digital, then fiscal)."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [f"invoicing.item.{kind}", LOCK_BLOCK_BITS, list(ids)])


def deliveries_queue(document_ids: list[int]) -> None:
    """After commit, e-mail the new documents that have an address (buyer title's 收票邮箱 or the customer's):
    one task per call on queue ``pdf`` (sending renders the PDF). Registered inside the attempt's savepoint, so a
    rolled-back attempt queues nothing; ``delivery_ensure`` sends each document once, so a repeat is harmless.
    ``PIAOGEN["DELIVER_AFTER_ISSUE"]`` (default on) turns it off."""
    if not document_ids or not settings.PIAOGEN.get("DELIVER_AFTER_ISSUE", True):
        return
    wanted = list(
        Document.objects.filter(id__in=in_array(document_ids))
        .filter(Q(title__email__gt="") | Q(customer__email__gt=""))
        .order_by("id")
        .values_list("id", flat=True)
    )
    if wanted:
        from invoicing.tasks import deliver_documents  # tasks import this package

        queue = settings.CELERY_QUEUE_PREFIX + "pdf"
        transaction.on_commit(partial(deliver_documents.apply_async, (wanted,), queue=queue))


_SELLER_PROVINCE_SQL = """
SELECT d.number FROM invoicing_document d
JOIN tolling_operator o ON o.id = d.seller_id
JOIN invoicing_documentitem di ON di.document_id = d.id
LEFT JOIN tolling_segment s ON di.item_kind = 'segment' AND s.id = di.item_id AND s.service_date = di.service_date
    AND (%(first)s::date IS NULL OR s.service_date BETWEEN %(first)s::date AND %(last)s::date)
LEFT JOIN tolling_topup t ON di.item_kind = 'topup' AND t.id = di.item_id AND t.service_date = di.service_date
    AND (%(first)s::date IS NULL OR t.service_date BETWEEN %(first)s::date AND %(last)s::date)
LEFT JOIN tolling_auditcharge a ON di.item_kind = 'audit' AND a.id = di.item_id
LEFT JOIN tolling_paperticket p ON di.item_kind = 'paper' AND p.id = di.item_id
LEFT JOIN tolling_taxiride r ON di.item_kind = 'taxi' AND r.id = di.item_id
WHERE d.id = ANY(%(ids)s) AND (o.province <> d.province
    OR coalesce(s.province, t.province, a.province, p.province, r.province) IS DISTINCT FROM o.province)
LIMIT 1
"""


def _sellers_check(document_ids: list[int], service_dates: ServiceDates | None = None) -> None:
    """Refuse documents whose seller is of another province than their items (issue #18: a province's upload
    once named another province's operator, and its trips were invoiced in that province's number series).
    Uploads look sellers up in the uploader's province, so this never fires; it is the last line, in the
    issuing transaction: the whole attempt rolls back and nothing is numbered.

    ``service_dates``: the first and last service date of the items, when the caller knows them (a run's chunk):
    only those months' partitions of segments and top-ups are then planned and probed (ADR 0010 addendum). An
    item outside them would find no fact and be refused, never let through."""
    if not document_ids:
        return
    first, last = service_dates if service_dates is not None else (None, None)
    with connection.cursor() as cursor:
        cursor.execute(_SELLER_PROVINCE_SQL, {"ids": document_ids, "first": first, "last": last})
        wrong = cursor.fetchone()
    if wrong is not None:
        log.error("issuing: document %s would be sold by another province's operator; refused", wrong[0])
        raise IssuingError(_("销售方与开票明细不属于同一省份，已拒绝开具"), code="seller_province")


def items_issue(
    kind: str,
    ids: list[int],
    build: Callable[[], list[Draft]] | None,
    *,
    run: IssueRun | None,
    by: User | None,
    action: str,
    produce: Callable[[], Written] | None = None,
    service_dates: ServiceDates | None = None,
) -> Written:
    """Lock, ``build`` and write in a transaction (a savepoint inside a caller's one); on a lost race, again.
    ``produce`` instead of ``build``: a set-based writer (``grouping``) that builds and writes in the database.
    ``service_dates``: the first and last service date of ``ids`` when the caller knows them (``_sellers_check``).

    The item locks make lost races rare; the partial unique index stays the guarantee and the retry its answer.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _lock_items(kind, ids)
                if produce is not None:
                    written = produce()
                else:
                    assert build is not None
                    written = documents_write(build(), run=run, by=by)
                _sellers_check(written.ids, service_dates)
                deliveries_queue(written.ids)
                if by is not None and written.ids:
                    audit_record(
                        actor=by,
                        action=action,
                        object_type="invoicing.document",
                        object_id=",".join(str(pk) for pk in written.ids[:50]),
                        after={"documents": written.ids, "numbers": written.numbers},
                    )
                return written
        except IntegrityError as error:
            if not _is_live_item_race(error) or attempt == MAX_ATTEMPTS:
                raise
            log.info("issuing: items taken by a concurrent worker, attempt %s again without them", attempt + 1)
    raise AssertionError("unreachable")
