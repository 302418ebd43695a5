"""Reading what was typed into the support search box: which identifiers the text can be (domain.md §1, §5),
normalised (full-width folded, upper-cased where the format is). ``support.search`` looks each reading up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from piaogen.identifiers import (
    PLATE_PROVINCE_CHARS,
    PlateColor,
    fold_fullwidth,
    is_fiscal_code,
    is_legacy_code,
    is_phone,
    is_resident_id,
    is_summary_sheet_number,
    is_taxpayer_id,
    parse_vehicle_key,
    plate_kind,
)

MIN_NAME_LENGTH = 2


class Kind:
    """What the typed text was recognised as (``SearchResult.recognised``)."""

    PLATE = "plate"
    PLATE_PREFIX = "plate_prefix"
    CARD = "card"
    DIGITAL_INVOICE = "digital_invoice"
    LEGACY_INVOICE = "legacy_invoice"
    FISCAL_RECEIPT = "fiscal_receipt"
    DOCUMENT_NUMBER = "document_number"
    SUMMARY_SHEET = "summary_sheet"
    PHONE = "phone"
    RESIDENT_ID = "resident_id"
    TAXPAYER_ID = "taxpayer_id"
    PASS_ID = "pass_id"  # noqa: S105 — not a password
    PAPER_TICKET = "paper_ticket"
    TOPUP = "topup"
    AUDIT_CHARGE = "audit_charge"
    BATCH = "batch"
    NAME = "name"


KIND_LABELS = {
    Kind.PLATE: _("车牌号"),
    Kind.PLATE_PREFIX: _("车牌号开头"),
    Kind.CARD: _("ETC卡号"),
    Kind.DIGITAL_INVOICE: _("数电发票号码"),
    Kind.LEGACY_INVOICE: _("发票代码+号码"),
    Kind.FISCAL_RECEIPT: _("财政票据代码+号码"),
    Kind.DOCUMENT_NUMBER: _("票据号码"),
    Kind.SUMMARY_SHEET: _("汇总单号"),
    Kind.PHONE: _("手机号"),
    Kind.RESIDENT_ID: _("身份证号"),
    Kind.TAXPAYER_ID: _("纳税人识别号"),
    Kind.PASS_ID: _("通行标识"),
    Kind.PAPER_TICKET: _("纸质票据号"),
    Kind.TOPUP: _("充值流水号"),
    Kind.AUDIT_CHARGE: _("补费流水号"),
    Kind.BATCH: _("上传批次号"),
    Kind.NAME: _("客户或单位名称"),
}


_COLOR_WORDS = sorted(
    [(str(label), int(value)) for value, label in PlateColor.choices]
    + [("蓝色", 0), ("黄色", 1), ("黑色", 2), ("白色", 3), ("绿色", 11), ("蓝牌", 0), ("黄牌", 1), ("绿牌", 4)],
    key=lambda pair: -len(pair[0]),
)
_SPACES = re.compile(r"\s+")
_BATCH = re.compile(r"(?:#|批次|BATCH)\s*([0-9]{1,12})", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# what a name may hold between its words: brackets, the middle dot of transliterated names, and the marks company
# names use (A&B, St. John's, 某某（集团）有限公司); any other mark inside the text makes it unrecognised
NAME_MARKS = frozenset("()（）·.&-'’、,，")


def name_text(text: str) -> str | None:
    """The text as a customer or company name, or None: a stray mark at either end is dropped (``张三!`` is 张三), a
    mark inside must be one of NAME_MARKS (``zzz!!garbage`` is not a name), and at least MIN_NAME_LENGTH letters or
    digits remain (punctuation alone is not a name)."""
    name = text.strip("".join(ch for ch in set(text) if not (ch.isalnum() or ch.isspace() or ch in NAME_MARKS)))
    name = name.strip(" ")
    if any(not (ch.isalnum() or ch == " " or ch in NAME_MARKS) for ch in name):
        return None
    return name if sum(ch.isalnum() for ch in name) >= MIN_NAME_LENGTH else None


def normalize(query: str) -> str:
    """Fold full-width characters, trim, and collapse inner whitespace to one space."""
    return _SPACES.sub(" ", fold_fullwidth(query)).strip()


def _plate_only(compact: str) -> tuple[str, int | None] | None:
    if not compact or compact[0] not in PLATE_PROVINCE_CHARS:
        return None
    try:
        plate, color = parse_vehicle_key(compact)
    except ValidationError:  # not a plate
        return None
    if plate_kind(plate) == "other":
        return None
    return plate, color


def _plate(text: str) -> tuple[str, int | None] | None:
    """A plate with an optional colour: ``京A12345``, ``京a12345_0``, ``京A12345-1``, ``蓝 京A12345``, ``京A12345黄``.

    Only the strict ordinary and new-energy shapes are read as plates (anything else may be a name)."""
    compact = text.replace(" ", "").upper()
    if found := _plate_only(compact):
        return found
    for word, code in _COLOR_WORDS:
        if compact.endswith(word) and (found := _plate_only(compact[: -len(word)])):
            return found[0], code
        if compact.startswith(word) and (found := _plate_only(compact[len(word) :])):
            return found[0], code
    return None


MIN_PLATE_PREFIX = 4  # 苏A12: province, city letter and two more; shorter matches too many vehicles to be useful
_PLATE_PREFIX = re.compile(r"[A-Z][A-Z0-9]{2,5}")


def _plate_prefix(text: str) -> str | None:
    """The start of a plate (``苏A12``), at least MIN_PLATE_PREFIX characters, shorter than a whole plate."""
    compact = text.replace(" ", "").upper()
    if len(compact) < MIN_PLATE_PREFIX or compact[0] not in PLATE_PROVINCE_CHARS:
        return None
    return compact if _PLATE_PREFIX.fullmatch(compact[1:]) else None


def short_plate_prefix(query: str) -> bool:
    """The start of a plate too short to search by (``苏A``, ``苏A1``): the page says how much to type."""
    compact = normalize(query).replace(" ", "").upper()
    return (
        2 <= len(compact) < MIN_PLATE_PREFIX
        and compact[0] in PLATE_PROVINCE_CHARS
        and bool(re.fullmatch(r"[A-Z][A-Z0-9]*", compact[1:]))
    )


@dataclass(frozen=True)
class Reading:
    kind: str
    value: Any


def recognise(query: str) -> list[Reading]:
    """Every reading of the text, most specific first."""
    text = normalize(query)
    if not text:
        return []
    readings: list[Reading] = []
    plate = _plate(text)
    if plate is not None:
        return [Reading(Kind.PLATE, plate)]
    if prefix := _plate_prefix(text):
        return [Reading(Kind.PLATE_PREFIX, prefix)]
    compact = text.replace(" ", "")
    upper = compact.upper()
    parts = text.split(" ")
    digits = compact.isdigit()

    if batch := _BATCH.fullmatch(compact):
        return [Reading(Kind.BATCH, int(batch[1]))]
    if digits and len(compact) == 20:
        readings.append(Reading(Kind.CARD, compact))
        readings.append(Reading(Kind.DIGITAL_INVOICE, compact))
        if is_legacy_code(compact[:12]):
            readings.append(Reading(Kind.LEGACY_INVOICE, (compact[:12], compact[12:])))
    if digits and len(compact) == 18 and is_fiscal_code(compact[:8]):
        readings.append(Reading(Kind.FISCAL_RECEIPT, (compact[:8], compact[8:])))
    if len(parts) == 2 and all(p.isdigit() for p in parts) and not readings:
        code, number = parts
        if len(code) == 12 and len(number) == 8:
            readings.append(Reading(Kind.LEGACY_INVOICE, (code, number)))
        elif len(code) == 8 and len(number) == 10:
            readings.append(Reading(Kind.FISCAL_RECEIPT, (code, number)))
    if digits and len(compact) == 16 and is_summary_sheet_number(compact):
        readings.append(Reading(Kind.SUMMARY_SHEET, compact))
    if digits and len(compact) == 11 and is_phone(compact):
        readings.append(Reading(Kind.PHONE, compact))
    if len(upper) == 18 and is_resident_id(upper):
        readings.append(Reading(Kind.RESIDENT_ID, upper))
    resident = bool(readings) and readings[-1].kind == Kind.RESIDENT_ID  # a person: no taxpayer id of its own
    if (
        len(upper) in (15, 17, 18, 20)
        and is_taxpayer_id(upper)
        and not (digits and len(compact) == 20)
        and not resident
    ):
        readings.append(Reading(Kind.TAXPAYER_ID, upper))
    if digits and len(compact) in (8, 10):
        readings.append(Reading(Kind.DOCUMENT_NUMBER, compact))
    if digits and len(compact) <= 9:
        readings.append(Reading(Kind.BATCH, int(compact)))
    if _TOKEN.fullmatch(compact):
        # free-format keys (each a unique index, so a miss costs a fraction of a millisecond): always tried
        readings += [
            Reading(Kind.PASS_ID, compact[:40]),
            Reading(Kind.PAPER_TICKET, compact),
            Reading(Kind.TOPUP, compact),
            Reading(Kind.AUDIT_CHARGE, compact),
        ]
        if compact != upper:  # pass ids are case-sensitive; ticket and flow numbers are usually upper case
            readings += [Reading(Kind.PAPER_TICKET, upper), Reading(Kind.PASS_ID, upper[:40])]
    latin_word = compact.isascii() and compact.isalpha() and len(compact) >= 3  # e.g. a romanised company name
    name = name_text(text)
    if not digits and name and (latin_word or not _TOKEN.fullmatch(compact)):
        readings.append(Reading(Kind.NAME, name))
    return readings
