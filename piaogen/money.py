"""Money as integer fen (分): parsing yuan text, display, and the Chinese capital amount printed on invoices.

No float anywhere: text is parsed with a regular expression and int arithmetic.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from piaogen.identifiers import fold_fullwidth

MAX_YUAN_DIGITS = 15
"""At most 15 digits before the decimal point: far above any toll amount, well inside a BigIntegerField."""

_YUAN_RE = re.compile(r"(?P<sign>-?)[¥￥]?(?P<sign2>-?)(?P<yuan>[0-9]+)(?:\.(?P<cents>[0-9]+))?")


def parse_yuan(text: str, *, allow_negative: bool = False, allow_zero: bool = True) -> int:
    """Parse yuan text (``35``, ``35.5``, ``¥35.50``, ``-¥0.35``) into fen.

    Cells are trimmed and full-width folded first. At most two decimals; no thousands separators, exponents,
    ``nan``/``inf`` or plus sign. Raises TypeError for anything but str (a float must never get this far).
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_yuan expects str, got {type(text).__name__}")
    cleaned = fold_fullwidth(text).strip()
    if not cleaned:
        raise ValidationError(_("金额不能为空"), code="amount_empty")
    match = _YUAN_RE.fullmatch(cleaned)
    if match is None or (match["sign"] and match["sign2"]):
        raise ValidationError(_("金额格式不正确：应为以元为单位的数字，如35或35.50"), code="amount_format")
    cents = match["cents"]
    if cents is not None and len(cents) > 2:
        raise ValidationError(_("金额格式不正确：最多两位小数"), code="amount_decimals")
    yuan = match["yuan"].lstrip("0")
    if len(yuan) > MAX_YUAN_DIGITS:
        raise ValidationError(_("金额过大"), code="amount_too_large")
    fen = int(yuan or "0") * 100 + int((cents or "").ljust(2, "0"))
    negative = bool(match["sign"] or match["sign2"])
    if negative and not allow_negative:
        raise ValidationError(_("金额不能为负数"), code="amount_negative")
    if fen == 0 and not allow_zero:
        raise ValidationError(_("金额必须大于零") if not allow_negative else _("金额不能为零"), code="amount_zero")
    return -fen if negative else fen


def _require_int(fen: int) -> int:
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise TypeError(f"amounts are int fen, got {type(fen).__name__}")
    return fen


def fen_to_decimal(fen: int) -> Decimal:
    """Fen as a Decimal of yuan with exactly two places: 123450 → Decimal('1234.50')."""
    fen = _require_int(fen)
    return Decimal((1 if fen < 0 else 0, tuple(int(digit) for digit in str(abs(fen))), -2))


def yuan_str(fen: int) -> str:
    """Plain yuan for CSV exports and APIs: 123450 → ``1234.50``, -35 → ``-0.35``."""
    fen = _require_int(fen)
    yuan, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{yuan}.{cents:02d}"


def format_yuan(fen: int, *, symbol: bool = True) -> str:
    """Display yuan: 123450 → ``¥1,234.50``, -35 → ``-¥0.35``; without the symbol ``1,234.50``."""
    fen = _require_int(fen)
    yuan, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{'¥' if symbol else ''}{yuan:,}.{cents:02d}"


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("", "拾", "佰", "仟")


def _section_words(number: int) -> str:
    """1–9999 in capitals, one 零 for each run of zeros between non-zero digits, trailing zeros silent."""
    words: list[str] = []
    pending_zero = False
    for place in range(3, -1, -1):
        digit = number // 10**place % 10
        if digit == 0:
            pending_zero = bool(words)
            continue
        if pending_zero:
            words.append("零")
            pending_zero = False
        words.append(_DIGITS[digit] + _PLACES[place])
    return "".join(words)


def _integer_words(number: int) -> str:
    """A positive integer in capitals with 万 and 亿 sections (万亿 for 10^12)."""
    if number >= 10**8:
        high, low = divmod(number, 10**8)
        words = _integer_words(high) + "亿"
        if low:
            words += ("零" if low < 10**7 else "") + _integer_words(low)
        return words
    if number >= 10**4:
        high, low = divmod(number, 10**4)
        words = _section_words(high) + "万"
        if low:
            words += ("零" if low < 1000 else "") + _section_words(low)
        return words
    return _section_words(number)


def amount_in_words(fen: int) -> str:
    """The amount in Chinese capital numerals as printed for 价税合计（大写）.

    Follows the People's Bank rules for writing amounts on vouchers (正确填写票据和结算凭证的基本规定), taking
    the "may omit 零" option wherever the rules allow either, which is also how the number is read aloud:

    - every place is written with its digit, ``壹拾`` included (10.00 → 壹拾元整);
    - within the yuan part, one 零 stands for each run of zeros followed by a non-zero digit, except zeros at the
      end of a 4-digit 万/亿 section, which are silent (1001.10 → 壹仟零壹元壹角, 107000 → 壹拾万柒仟元整,
      10010001.01 → 壹仟零壹万零壹元零壹分);
    - a zero yuan digit before a non-zero 角 is silent (1680.32 → 壹仟陆佰捌拾元叁角贰分), but a zero 角 before a
      non-zero 分 is written (100.05 → 壹佰元零伍分);
    - 整 follows 元 when there are no 角 and 分; nothing follows 角 or 分 (1.10 → 壹元壹角);
    - below one yuan there is no 元 (0.35 → 叁角伍分, 0.05 → 伍分); zero is 零元整;
    - negative amounts (red-letter documents) are prefixed with 负.
    """
    fen = _require_int(fen)
    if fen < 0:
        return "负" + amount_in_words(-fen)
    if fen == 0:
        return "零元整"
    yuan, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    words = _integer_words(yuan) + "元" if yuan else ""
    if not cents:
        return words + "整"
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif yuan:
        words += "零"
    if fen_digit:
        words += _DIGITS[fen_digit] + "分"
    return words
