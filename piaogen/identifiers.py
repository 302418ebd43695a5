"""Identifiers of the toll e-invoice domain: codes, choices, validators, document numbers, masking.

Every ``validate_<x>`` takes raw text (an upload cell, a form field, the support search box), returns the
normalised value (full-width folded, trimmed, upper-cased where the format is upper-case) or raises
``ValidationError`` with a translatable message and a stable ``code``. Every ``is_<x>`` answers the same
question as a bool, for classifying search input. The formats are those of domain.md §1 and §5.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import models
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

# --- provinces ---------------------------------------------------------------------------------------------------

PROVINCE_NAMES: dict[str, str] = {
    "11": "北京",
    "12": "天津",
    "13": "河北",
    "14": "山西",
    "15": "内蒙古",
    "21": "辽宁",
    "22": "吉林",
    "23": "黑龙江",
    "31": "上海",
    "32": "江苏",
    "33": "浙江",
    "34": "安徽",
    "35": "福建",
    "36": "江西",
    "37": "山东",
    "41": "河南",
    "42": "湖北",
    "43": "湖南",
    "44": "广东",
    "45": "广西",
    "46": "海南",
    "50": "重庆",
    "51": "四川",
    "52": "贵州",
    "53": "云南",
    "54": "西藏",
    "61": "陕西",
    "62": "甘肃",
    "63": "青海",
    "64": "宁夏",
    "65": "新疆",
}
"""The 31 mainland provinces by GB/T 2260 code, in code order."""

ETC_PROVINCES: frozenset[str] = frozenset(PROVINCE_NAMES) - {"46", "54"}
"""Provinces on the national ETC network: all but 海南 (no toll roads) and 西藏."""

# Region prefixes of residence permits for Hong Kong (81), Macau (82) and Taiwan (83) residents: 18 characters
# with the resident-ID check digit, so card holders may carry them as their ID number.
RESIDENCE_PERMIT_PREFIXES: frozenset[str] = frozenset({"81", "82", "83"})

PROVINCE_LABELS: dict[str, StrPromise] = {
    "11": _("北京"),
    "12": _("天津"),
    "13": _("河北"),
    "14": _("山西"),
    "15": _("内蒙古"),
    "21": _("辽宁"),
    "22": _("吉林"),
    "23": _("黑龙江"),
    "31": _("上海"),
    "32": _("江苏"),
    "33": _("浙江"),
    "34": _("安徽"),
    "35": _("福建"),
    "36": _("江西"),
    "37": _("山东"),
    "41": _("河南"),
    "42": _("湖北"),
    "43": _("湖南"),
    "44": _("广东"),
    "45": _("广西"),
    "46": _("海南"),
    "50": _("重庆"),
    "51": _("四川"),
    "52": _("贵州"),
    "53": _("云南"),
    "54": _("西藏"),
    "61": _("陕西"),
    "62": _("甘肃"),
    "63": _("青海"),
    "64": _("宁夏"),
    "65": _("新疆"),
}
"""What the console shows for a province: the short name, translated (PROVINCE_NAMES stays Chinese for documents)."""


def province_label(code: str) -> str:
    """The translated short name of a province code (``"32"`` → 江苏 / Jiangsu); unknown codes as they are."""
    label = PROVINCE_LABELS.get(code)
    return str(label) if label is not None else code


# Functional enum API (members P11 … P65); django-stubs types only the class syntax, hence the ignore.
Province: type[models.TextChoices] = models.TextChoices(  # type: ignore[call-overload]
    "Province", [(f"P{code}", (code, label)) for code, label in PROVINCE_LABELS.items()]
)
"""Province choices: value is the GB/T 2260 code, label the translated short name (``Province("11").label``)."""

# --- choices -----------------------------------------------------------------------------------------------------


class PlateColor(models.IntegerChoices):
    """Plate colour codes of the ETC data (the same plate text may exist in two colours)."""

    BLUE = 0, _("蓝")
    YELLOW = 1, _("黄")
    BLACK = 2, _("黑")
    WHITE = 3, _("白")
    GRADIENT_GREEN = 4, _("渐变绿")
    YELLOW_GREEN = 5, _("黄绿双拼")
    BLUE_WHITE_GRADIENT = 6, _("蓝白渐变")
    TEMPORARY = 7, _("临时")
    UNDETERMINED = 9, _("未确定")
    GREEN = 11, _("绿")
    RED = 12, _("红")


class VehicleClass(models.IntegerChoices):
    """Toll vehicle classes: 1–4 passenger cars, 11–16 trucks, 21–26 special-purpose vehicles."""

    PASSENGER_1 = 1, _("一型客车")
    PASSENGER_2 = 2, _("二型客车")
    PASSENGER_3 = 3, _("三型客车")
    PASSENGER_4 = 4, _("四型客车")
    TRUCK_1 = 11, _("一型货车")
    TRUCK_2 = 12, _("二型货车")
    TRUCK_3 = 13, _("三型货车")
    TRUCK_4 = 14, _("四型货车")
    TRUCK_5 = 15, _("五型货车")
    TRUCK_6 = 16, _("六型货车")
    SPECIAL_1 = 21, _("一型专项作业车")
    SPECIAL_2 = 22, _("二型专项作业车")
    SPECIAL_3 = 23, _("三型专项作业车")
    SPECIAL_4 = 24, _("四型专项作业车")
    SPECIAL_5 = 25, _("五型专项作业车")
    SPECIAL_6 = 26, _("六型专项作业车")


class CardType(models.IntegerChoices):
    """ETC card types."""

    PREPAID = 22, _("储值卡")
    POST_PAY = 23, _("记账卡")


def vehicle_category(vehicle_class: int) -> StrPromise:
    """The vehicle type printed on invoices (客车 / 货车 / 专项作业车) for a vehicle class."""
    if 1 <= vehicle_class <= 4:
        return _("客车")
    if 11 <= vehicle_class <= 16:
        return _("货车")
    if 21 <= vehicle_class <= 26:
        return _("专项作业车")
    raise ValueError(f"unknown vehicle class {vehicle_class!r}")


# --- normalisation -----------------------------------------------------------------------------------------------

_FULLWIDTH_TABLE: dict[int, int] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold_fullwidth(text: str) -> str:
    """Fold full-width ASCII (U+FF01–U+FF5E) to half-width and the ideographic space to a space."""
    if text.isascii():
        return text
    return text.translate(_FULLWIDTH_TABLE)


def _clean(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    return fold_fullwidth(value).strip()


_T = TypeVar("_T")
_EMAIL = EmailValidator(message=_("邮箱地址无效"), code="email")


def _is(validator: Callable[[_T], object], value: _T) -> bool:
    try:
        validator(value)
    except (ValidationError, TypeError):
        return False
    return True


def _birth_date(digits: str) -> dt.date | None:
    """The date in a ``YYYYMMDD`` string if it is a plausible birth date (1900 to today), else None."""
    try:
        born = dt.date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
    if born.year < 1900 or born > dt.date.today():
        return None
    return born


# --- cards, plates, vehicles ---------------------------------------------------------------------------------------

CARD_RE = re.compile(r"[0-9]{20}")


def validate_card_number(value: str) -> str:
    """An ETC card number: 20 digits, the first two a province code."""
    text = _clean(value)
    if not CARD_RE.fullmatch(text):
        raise ValidationError(_("卡号必须是20位数字"), code="card_number_format")
    if text[:2] not in PROVINCE_NAMES:
        raise ValidationError(_("卡号的前两位不是有效的省份代码"), code="card_number_province")
    return text


def is_card_number(value: str) -> bool:
    return _is(validate_card_number, value)


PLATE_PROVINCE_CHARS = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新"
PLATE_SPECIAL_CHARS = "挂学警港澳使领应急"
PLATE_MAX_LENGTH = 10

PLATE_CHARS_RE = re.compile(f"[{PLATE_PROVINCE_CHARS}{PLATE_SPECIAL_CHARS}A-Z0-9]+")
_ORDINARY_PLATE_RE = re.compile(f"[{PLATE_PROVINCE_CHARS}][A-Z][A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9挂学警港澳]")
_NEW_ENERGY_PLATE_RE = re.compile(f"[{PLATE_PROVINCE_CHARS}][A-Z](?:[DF][A-HJ-NP-Z0-9][0-9]{{4}}|[0-9]{{5}}[DF])")


def validate_plate(value: str) -> str:
    """A plate, checked leniently as the upload contract asks: ETC data records plates as issued.

    Rejects empty values, more than 10 characters, spaces, and characters other than province abbreviations,
    挂学警港澳使领应急, A–Z and 0–9. Everything else is accepted; see ``plate_kind`` for the strict shapes.
    """
    text = _clean(value).upper()
    if not text:
        raise ValidationError(_("车牌号不能为空"), code="plate_empty")
    if len(text) > PLATE_MAX_LENGTH:
        raise ValidationError(_("车牌号不能超过10个字符"), code="plate_too_long")
    if " " in text:
        raise ValidationError(_("车牌号不能包含空格"), code="plate_space")
    if not PLATE_CHARS_RE.fullmatch(text):
        raise ValidationError(_("车牌号只能包含省份简称、挂学警港澳使领应急、大写字母和数字"), code="plate_chars")
    return text


def is_plate(value: str) -> bool:
    return _is(validate_plate, value)


def plate_kind(plate: str) -> Literal["ordinary", "new_energy", "other"]:
    """Classify a plate: ordinary (7 chars), new-energy (8 chars) or anything else the lenient check accepts."""
    text = fold_fullwidth(plate).strip().upper()
    if _ORDINARY_PLATE_RE.fullmatch(text):
        return "ordinary"
    if _NEW_ENERGY_PLATE_RE.fullmatch(text):
        return "new_energy"
    return "other"


_SMALL_INT_RE = re.compile(r"[0-9]{1,3}")


def _validate_code(value: int | str, allowed: frozenset[int], message: StrPromise, code: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(message, code=code)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = _clean(value)
        if not _SMALL_INT_RE.fullmatch(text):
            raise ValidationError(message, code=code)
        number = int(text)
    else:
        raise TypeError(f"expected int or str, got {type(value).__name__}")
    if number not in allowed:
        raise ValidationError(message, code=code)
    return number


_PLATE_COLORS = frozenset(PlateColor.values)
_VEHICLE_CLASSES = frozenset(VehicleClass.values)
_CARD_TYPES = frozenset(CardType.values)


def validate_plate_color(value: int | str) -> int:
    """A plate colour code (int or numeric string) → the int code."""
    return _validate_code(value, _PLATE_COLORS, _("车牌颜色必须是0、1、2、3、4、5、6、7、9、11或12"), "plate_color")


def is_plate_color(value: int | str) -> bool:
    return _is(validate_plate_color, value)


def validate_vehicle_class(value: int | str) -> int:
    """A vehicle class (int or numeric string) → the int code."""
    return _validate_code(value, _VEHICLE_CLASSES, _("收费车型必须是1–4、11–16或21–26"), "vehicle_class")


def is_vehicle_class(value: int | str) -> bool:
    return _is(validate_vehicle_class, value)


def validate_card_type(value: int | str) -> int:
    """A card type (int or numeric string) → the int code."""
    return _validate_code(value, _CARD_TYPES, _("卡类型必须是22（储值卡）或23（记账卡）"), "card_type")


def is_card_type(value: int | str) -> bool:
    return _is(validate_card_type, value)


def vehicle_key(plate: str, color: int) -> str:
    """The key of a vehicle, plate and colour code: ``京A12345_0``. Expects normalised values."""
    return f"{plate}_{int(color)}"


_VEHICLE_KEY_RE = re.compile(r"(.+?)(?:[_-]([0-9]{1,2}))?")


def parse_vehicle_key(text: str) -> tuple[str, int | None]:
    """Split ``京A12345``, ``京A12345_0`` or ``京A12345-0`` into (plate, colour code or None); both validated."""
    match = _VEHICLE_KEY_RE.fullmatch(_clean(text).upper())
    if match is None:
        raise ValidationError(_("车牌号不能为空"), code="plate_empty")
    plate = validate_plate(match[1])
    color = validate_plate_color(match[2]) if match[2] is not None else None
    return plate, color


# --- taxpayers and people ------------------------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of a unified social credit code (no I O S V Z); a character's value is its index."""
_USCC_VALUES = {char: index for index, char in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(f"[{USCC_ALPHABET}]{{18}}")


def uscc_check_char(first17: str) -> str:
    """The check character of a unified social credit code from its first 17 characters (GB 32100)."""
    if len(first17) != 17 or any(char not in _USCC_VALUES for char in first17):
        raise ValueError(f"not the first 17 characters of a USCC: {first17!r}")
    total = sum(_USCC_VALUES[char] * weight for char, weight in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """A unified social credit code (统一社会信用代码): 18 characters with a valid check character."""
    text = _clean(value).upper()
    if not _USCC_RE.fullmatch(text):
        raise ValidationError(_("统一社会信用代码必须是18位数字或大写字母（不含I、O、S、V、Z）"), code="uscc_format")
    if uscc_check_char(text[:17]) != text[17]:
        raise ValidationError(_("统一社会信用代码校验位错误"), code="uscc_check")
    return text


def is_uscc(value: str) -> bool:
    return _is(validate_uscc, value)


_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"
_RESIDENT_ID_RE = re.compile(r"[0-9]{17}[0-9X]")


def resident_id_check_char(first17: str) -> str:
    """The check character of an 18-character resident ID number from its first 17 digits (GB 11643)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"not the first 17 digits of a resident ID: {first17!r}")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK[total % 11]


def validate_resident_id(value: str) -> str:
    """A resident ID number (居民身份证号码): region, real birth date, check character.

    The HK/Macau/Taiwan residence-permit prefixes 81/82/83 are accepted as regions.
    """
    text = _clean(value).upper()
    if not _RESIDENT_ID_RE.fullmatch(text):
        raise ValidationError(_("身份证号必须是18位（17位数字加一位数字或X）"), code="resident_id_format")
    if text[:2] not in PROVINCE_NAMES and text[:2] not in RESIDENCE_PERMIT_PREFIXES:
        raise ValidationError(_("身份证号的地区码无效"), code="resident_id_region")
    if _birth_date(text[6:14]) is None:
        raise ValidationError(_("身份证号的出生日期无效"), code="resident_id_birth_date")
    if resident_id_check_char(text[:17]) != text[17]:
        raise ValidationError(_("身份证号校验位错误"), code="resident_id_check")
    return text


def is_resident_id(value: str) -> bool:
    return _is(validate_resident_id, value)


_TAXPAYER_ID_RE = re.compile(r"[0-9A-Z]{15}|[0-9A-Z]{17,18}|[0-9A-Z]{20}")


def validate_taxpayer_id(value: str) -> str:
    """A taxpayer id (纳税人识别号): 15, 17, 18 or 20 upper-case letters or digits.

    An 18-character id shaped like a resident ID (17 digits, a digit or X, a plausible birth date) gets the
    resident-ID check; any other 18-character id gets the unified-social-credit-code check.
    """
    text = _clean(value).upper()
    if not _TAXPAYER_ID_RE.fullmatch(text):
        raise ValidationError(_("纳税人识别号必须是15、17、18或20位大写字母或数字"), code="taxpayer_id_format")
    if len(text) == 18:
        if _RESIDENT_ID_RE.fullmatch(text) and _birth_date(text[6:14]) is not None:
            return validate_resident_id(text)
        return validate_uscc(text)
    return text


def is_taxpayer_id(value: str) -> bool:
    return _is(validate_taxpayer_id, value)


# ID document types as recorded with a card's holder and an account (domain.md §7.8): the type decides the check
ID_TYPE_RESIDENT = "身份证"
ID_TYPE_USCC = "统一社会信用代码"
_ID_NUMBER_RE = re.compile(r"[0-9A-Z]{5,32}")


def validate_id_number(value: str) -> str:
    """An ID document number of any type (证件号码): 5–32 upper-case letters or digits; one shaped like a resident
    ID (17 digits, then a digit or X) gets the resident-ID check (GB 11643), another 18-character one the USCC
    check. Passport and permit numbers are only format-checked. ``validate_id_document`` checks a (type, number)."""
    text = _clean(value).upper()
    if not _ID_NUMBER_RE.fullmatch(text):
        raise ValidationError(_("证件号码必须是5至32位大写字母或数字"), code="id_number_format")
    if _RESIDENT_ID_RE.fullmatch(text):
        return validate_resident_id(text)
    if len(text) == 18:
        return validate_uscc(text)
    return text


def validate_id_document(id_type: str, id_no: str) -> str:
    """An ID number checked as its type asks: a resident ID (身份证) must be one, a USCC (统一社会信用代码) too;
    other types as ``validate_id_number``. Returns the normalised number."""
    kind = _clean(id_type)
    if kind == ID_TYPE_RESIDENT:
        return validate_resident_id(id_no)
    if kind == ID_TYPE_USCC:
        return validate_uscc(id_no)
    return validate_id_number(id_no)


def validate_email(value: str) -> str:
    """An e-mail address (Django's check, the one ``EmailField`` runs), trimmed."""
    text = _clean(value)
    _EMAIL(text)
    return text


def is_email(value: str) -> bool:
    return _is(validate_email, value)


def validate_province_code(value: str) -> str:
    """A GB/T 2260 province code of PROVINCE_NAMES."""
    text = _clean(value)
    if text not in PROVINCE_NAMES:
        raise ValidationError(_("省份代码无效"), code="province_code")
    return text


def is_province_code(value: str) -> bool:
    return _is(validate_province_code, value)


_PHONE_RE = re.compile(r"1[3-9][0-9]{9}")


def validate_phone(value: str) -> str:
    """A mainland mobile phone number: 11 digits, ``1[3-9]`` then nine digits."""
    text = _clean(value)
    if not _PHONE_RE.fullmatch(text):
        raise ValidationError(_("手机号必须是11位数字，以13–19开头"), code="phone")
    return text


def is_phone(value: str) -> bool:
    return _is(validate_phone, value)


TOLL_UNIT_RE = re.compile(r"[0-9A-Z]{16}")


def validate_toll_unit(value: str) -> str:
    """A toll unit code (收费单元编号): 16 upper-case letters or digits."""
    text = _clean(value).upper()
    if not TOLL_UNIT_RE.fullmatch(text):
        raise ValidationError(_("收费单元编号必须是16位大写字母或数字"), code="toll_unit")
    return text


def is_toll_unit(value: str) -> bool:
    return _is(validate_toll_unit, value)


PASS_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")


def validate_pass_id(value: str) -> str:
    """A pass id (通行标识): 1–40 of A–Z a–z 0–9 _ - (case is kept)."""
    text = _clean(value)
    if not PASS_ID_RE.fullmatch(text):
        raise ValidationError(_("通行标识必须是1–40位字母、数字、下划线或连字符"), code="pass_id")
    return text


def is_pass_id(value: str) -> bool:
    return _is(validate_pass_id, value)


# --- document numbers (domain.md §1) -------------------------------------------------------------------------------

_DIGITAL_INVOICE_RE = re.compile(r"[0-9]{20}")


def validate_digital_invoice_number(value: str) -> str:
    """A 数电 invoice number: 2-digit year + 2-digit province + 1-digit channel + 15-digit sequence."""
    text = _clean(value)
    if not _DIGITAL_INVOICE_RE.fullmatch(text):
        raise ValidationError(_("发票号码必须是20位数字"), code="digital_invoice_number_format")
    if text[2:4] not in PROVINCE_NAMES:
        raise ValidationError(_("发票号码的第3–4位不是有效的省份代码"), code="digital_invoice_number_province")
    return text


def is_digital_invoice_number(value: str) -> bool:
    return _is(validate_digital_invoice_number, value)


def _two_digit_year(year: int) -> str:
    if not 2000 <= year <= 2099:
        raise ValueError(f"year out of range: {year!r}")
    return f"{year % 100:02d}"


def _province(province: str) -> str:
    if province not in PROVINCE_NAMES:
        raise ValueError(f"unknown province code: {province!r}")
    return province


def _sequence(seq: int, width: int) -> str:
    if not 0 <= seq < 10**width:
        raise ValueError(f"sequence {seq!r} does not fit in {width} digits")
    return f"{seq:0{width}d}"


def format_digital_invoice_number(*, year: int, province: str, channel: int, seq: int) -> str:
    """The 20-digit 数电 invoice number for a calendar year (2000–2099), province, channel (0–9) and sequence."""
    if not 0 <= channel <= 9:
        raise ValueError(f"channel must be one digit: {channel!r}")
    return f"{_two_digit_year(year)}{_province(province)}{channel}{_sequence(seq, 15)}"


_LEGACY_CODE_RE = re.compile(r"0[0-9]{9}12")
_LEGACY_NUMBER_RE = re.compile(r"[0-9]{8}")


def validate_legacy_code(value: str) -> str:
    """A legacy toll VAT e-invoice code: ``0`` + 4-digit tax region + 2-digit year + 3-digit batch + ``12``."""
    text = _clean(value)
    if not _LEGACY_CODE_RE.fullmatch(text):
        raise ValidationError(_("发票代码必须是12位数字，以0开头、以12结尾"), code="legacy_code_format")
    if text[1:3] not in PROVINCE_NAMES:
        raise ValidationError(_("发票代码的税务地区码无效"), code="legacy_code_region")
    return text


def is_legacy_code(value: str) -> bool:
    return _is(validate_legacy_code, value)


def validate_legacy_number(value: str) -> str:
    """A legacy toll VAT e-invoice number: 8 digits."""
    text = _clean(value)
    if not _LEGACY_NUMBER_RE.fullmatch(text):
        raise ValidationError(_("发票号码必须是8位数字"), code="legacy_number")
    return text


def is_legacy_number(value: str) -> bool:
    return _is(validate_legacy_number, value)


_FISCAL_CODE_RE = re.compile(r"[0-9]{2}0299[0-9]{2}")
_FISCAL_NUMBER_RE = re.compile(r"[0-9]{10}")


def validate_fiscal_code(value: str) -> str:
    """A toll fiscal e-receipt code: 2-digit province + ``02`` + ``99`` + 2-digit year."""
    text = _clean(value)
    if not _FISCAL_CODE_RE.fullmatch(text):
        raise ValidationError(_("财政票据代码必须是8位数字：省份代码、0299、两位年份"), code="fiscal_code_format")
    if text[:2] not in PROVINCE_NAMES:
        raise ValidationError(_("财政票据代码的省份代码无效"), code="fiscal_code_province")
    return text


def is_fiscal_code(value: str) -> bool:
    return _is(validate_fiscal_code, value)


def format_fiscal_code(*, province: str, year: int) -> str:
    """The 8-digit fiscal e-receipt code of a province and calendar year (2000–2099)."""
    return f"{_province(province)}0299{_two_digit_year(year)}"


def validate_fiscal_number(value: str) -> str:
    """A toll fiscal e-receipt number: 10 digits."""
    text = _clean(value)
    if not _FISCAL_NUMBER_RE.fullmatch(text):
        raise ValidationError(_("财政票据号码必须是10位数字"), code="fiscal_number")
    return text


def is_fiscal_number(value: str) -> bool:
    return _is(validate_fiscal_number, value)


_SUMMARY_SHEET_RE = re.compile(r"[0-9]{2}[0-9]{4}(?:0[1-9]|1[0-2])[0-9]{8}")


def validate_summary_sheet_number(value: str) -> str:
    """A summary sheet number: card issuer's province + ``YYYY`` + ``MM`` + 8-digit sequence."""
    text = _clean(value)
    if not _SUMMARY_SHEET_RE.fullmatch(text):
        raise ValidationError(_("汇总单号必须是16位数字：省份代码、年月、8位序号"), code="summary_sheet_number_format")
    if text[:2] not in PROVINCE_NAMES:
        raise ValidationError(_("汇总单号的省份代码无效"), code="summary_sheet_number_province")
    return text


def is_summary_sheet_number(value: str) -> bool:
    return _is(validate_summary_sheet_number, value)


def format_summary_sheet_number(*, province: str, year: int, month: int, seq: int) -> str:
    """The 16-digit summary sheet number of a province, month and sequence."""
    if not 1000 <= year <= 9999:
        raise ValueError(f"year must have four digits: {year!r}")
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range: {month!r}")
    return f"{_province(province)}{year}{month:02d}{_sequence(seq, 8)}"


# --- field validators ----------------------------------------------------------------------------------------------


@deconstructible(path="piaogen.identifiers.IdentifierValidator")
class IdentifierValidator:
    """The validator of one identifier kind on a model, form or serializer field: runs ``validate_<kind>`` (its
    normalised return value is dropped; Django validators return nothing). Compared by kind, so a test can ask
    which fields carry which check (``tests/piaogen/test_identifier_fields.py``)."""

    def __init__(self, kind: str) -> None:
        if not callable(globals().get(f"validate_{kind}")):
            raise ValueError(f"no validate_{kind} in piaogen.identifiers")
        self.kind = kind

    def __call__(self, value: str) -> None:
        globals()[f"validate_{self.kind}"](value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdentifierValidator) and other.kind == self.kind

    def __hash__(self) -> int:
        return hash(self.kind)

    def __repr__(self) -> str:
        return f"IdentifierValidator({self.kind!r})"


card_number_validator = IdentifierValidator("card_number")
plate_validator = IdentifierValidator("plate")
phone_validator = IdentifierValidator("phone")
taxpayer_id_validator = IdentifierValidator("taxpayer_id")
id_number_validator = IdentifierValidator("id_number")


# --- masking -------------------------------------------------------------------------------------------------------


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``: first 3 and last 4 kept; short values are masked whole."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_id_number(id_number: str) -> str:
    """``110101199003071234`` → ``110101********1234``: first 6 and last 4 kept; short values are masked whole."""
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``: the first character kept; a one-character name is masked whole."""
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)


def mask_email(email: str) -> str:
    """``zhang@example.com`` → ``z****@example.com``: the first character and the domain kept."""
    local, at, domain = email.partition("@")
    if not at:
        return "*" * len(email)
    return local[:1] + "*" * max(len(local) - 1, 1) + "@" + domain
