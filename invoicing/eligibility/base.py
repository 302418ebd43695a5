"""Eligibility's vocabulary: reasons, item states, the day-7 cut-off, the document kind of a road, and the loader of
the statements in ``sql/``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.models import BuyerTitle, DocumentKind, ItemKind
from invoicing.statements import statement_load
from tolling.models import RoadNature

BEIJING = ZoneInfo("Asia/Shanghai")


class Reason(models.TextChoices):
    """Why an item can or cannot be invoiced now; the labels are shown to customers."""

    ELIGIBLE = "eligible", _("可开票")
    IN_DOCUMENT = "in_document", _("已在票据中")
    ZERO_FEE = "zero_fee", _("实收金额为零，不开票")
    TOPUP_INVOICED = "topup_invoiced", _("该笔通行由已开票的充值支付，不能再开票")
    TOPUP_CHOSEN = "topup_chosen", _("该卡选择充值时开票：这笔通行的费用将随充值开具不征税发票")
    TRIPS_INVOICED = "trips_invoiced", _("该笔充值已支付的通行已开票，不能再开充值发票")
    NOT_YET = "not_yet", _("未到可开票日")
    NO_RATE = "no_rate", _("收费单元在通行日无适用税率")
    NO_BUYER = "no_buyer", _("交易时卡未绑定客户或无发票抬头")


#: reasons that never go away by waiting (only a reversal of the holding document could change them)
FINAL_REASONS = frozenset({Reason.IN_DOCUMENT, Reason.ZERO_FEE, Reason.TOPUP_INVOICED, Reason.TRIPS_INVOICED})

#: items a holder claims by their printed number (invoicing.claims), which brings the buyer: without a bound card
#: they wait for that claim, not for a binding
CLAIMED_BY_NUMBER = frozenset({ItemKind.AUDIT_CHARGE, ItemKind.PAPER_TICKET, ItemKind.TAXI_RIDE})


class TopUpMode(models.TextChoices):
    """How a top-up's money is being invoiced: as the top-up, or as the trips it paid (domain.md §4.3)."""

    OPEN = "open", _("未开票")
    AS_TOPUP = "topup", _("按充值开票")  # its trips are ineligible
    AS_TRIPS = "trips", _("按消费开票")  # trips it paid are invoiced: the top-up is ineligible


@dataclass(frozen=True)
class DocumentRef:
    id: int
    code: str
    number: str
    status: str

    def __str__(self) -> str:
        return f"{self.code}{self.number}"


@dataclass(frozen=True)
class ItemState:
    """An item's invoicing state: the main ``reason`` and every blocker that applies, in priority order."""

    item_kind: str
    item_id: int
    amount: int  # fen
    blockers: tuple[Reason, ...]
    document: DocumentRef | None = None  # the live document holding it
    released_from: DocumentRef | None = None  # the latest reversed document that held it
    document_kind: str | None = None  # DocumentKind it would get
    seller_id: int | None = None
    tax_rate: Decimal | None = None  # None: fiscal receipt or non-taxable
    invoiceable_on: dt.date | None = None
    customer_id: int | None = None
    title: BuyerTitle | None = field(default=None, compare=False)
    mode: str | None = None  # TopUpMode, top-ups only

    @property
    def reason(self) -> Reason:
        return self.blockers[0] if self.blockers else Reason.ELIGIBLE

    @property
    def eligible(self) -> bool:
        return not self.blockers

    @property
    def final(self) -> bool:
        return self.reason in FINAL_REASONS

    def message(self) -> str:
        """The reason as a sentence for the customer, with the document number or the date where it helps."""
        if self.reason == Reason.IN_DOCUMENT and self.document is not None:
            return str(_("已在票据%(number)s中") % {"number": self.document})
        if self.reason == Reason.NOT_YET and self.invoiceable_on is not None:
            return str(_("未到可开票日：%(date)s起可开票") % {"date": self.invoiceable_on.isoformat()})
        if self.reason == Reason.ELIGIBLE and self.released_from is not None:
            return str(_("可开票（原票据%(number)s已红冲）") % {"number": self.released_from})
        if self.reason == Reason.NO_BUYER and self.item_kind in CLAIMED_BY_NUMBER:
            return str(_("尚无购买方：按号码申请开票后开具"))
        return str(self.reason.label)


def beijing_today() -> dt.date:
    return timezone.localdate(timezone=BEIJING)


def issuing_today(today: dt.date | None = None) -> dt.date:
    """The Beijing date issuing judges the day-7 rule on: ``today`` when given, but never later than the real
    Beijing date. Every issuing path (runs, requests, actions, commands) goes through it, so naming a later date
    cannot issue a trip before its invoiceable day; an earlier date only issues less."""
    real = beijing_today()
    return real if today is None else min(today, real)


def trip_cutoff(today: dt.date | None = None) -> dt.date:
    """The latest service date invoiceable on Beijing date ``today``: today − N days."""
    return (today or beijing_today()) - dt.timedelta(days=settings.PIAOGEN["TRIP_INVOICEABLE_AFTER_DAYS"])


def document_kind_for(road_nature: int) -> str:
    """Commercial roads get a 数电 invoice, government-loan roads a fiscal e-receipt (domain.md §2)."""
    return DocumentKind.FISCAL_RECEIPT if road_nature == RoadNature.LOAN else DocumentKind.DIGITAL_INVOICE


def in_array(ids: Iterable[int]) -> RawSQL:
    """``… IN (SELECT unnest(…::bigint[]))`` with the ids as one text parameter: one placeholder instead of one per
    id (psycopg splits the query text at every placeholder: ≈ 0.35 s for 10,000 ids), and no Python-side array
    quoting (≈ 35 ms per 10,000 ids) — the ints are joined with commas, which cannot inject anything."""
    text = ",".join(str(int(i)) for i in ids)
    return RawSQL("SELECT unnest(string_to_array(%s, ',')::bigint[])", [text])


# --- the statements in sql/ ---------------------------------------------------------------------------------------

SQL_DIR = Path(__file__).resolve().parent / "sql"


def statement(name: str, **values: Any) -> tuple[str, list[Any]]:
    """The statement of ``sql/<name>`` without its comments, its named parameters (``%(name)s``, so the file can
    be read and run as it is) bound in order as positional ones: ``(sql, params)`` to run, or to nest in a larger
    statement beside other positional parameters (``invoicing.statements``)."""
    return statement_load(SQL_DIR / name, **values)


@contextmanager
def jit_off() -> Iterator[None]:
    """A transaction (or the caller's) with PostgreSQL's JIT off until the outermost one ends. The
    statements join two per-row lookups (the buyer, the rate) over thousands of rows, so their estimated cost
    passes ``jit_above_cost`` and compiling takes 1–2 s — far more than the query (tens of ms). Run the statements
    and evaluate the ``invoiceable_*`` querysets inside it."""
    if connection.in_atomic_block:  # no savepoint: it would cost two round trips for nothing
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        yield


def statement_rows(name: str, **values: Any) -> list[tuple[Any, ...]]:
    sql, params = statement(name, **values)
    with jit_off(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def chosen(
    *,
    ids: Iterable[int] | None = None,
    card_no: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    province: str | None = None,
) -> dict[str, Any]:
    """The parameters that choose a state statement's rows (each None: any)."""
    return {"ids": id_list(ids), "card_no": card_no, "date_from": date_from, "date_to": date_to, "province": province}


def id_list(ids: Iterable[int] | None) -> str | None:
    """Ids as one comma-joined text parameter (None stays None): see ``in_array``."""
    return None if ids is None else ",".join(str(int(i)) for i in ids)
