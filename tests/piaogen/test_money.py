from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from piaogen.money import MAX_YUAN_DIGITS, amount_in_words, fen_to_decimal, format_yuan, parse_yuan, yuan_str

MAX_FEN = 10 ** (MAX_YUAN_DIGITS + 2) - 1
fen_amounts = st.integers(min_value=-MAX_FEN, max_value=MAX_FEN)


def rejection_code(text: str, **options: bool) -> str | None:
    with pytest.raises(ValidationError) as caught:
        parse_yuan(text, **options)
    return caught.value.code


# --- parse_yuan --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("35", 3500),
        ("35.5", 3550),
        ("35.50", 3550),
        (" 35.50 ", 3550),
        ("\t35.50\n", 3550),
        ("¥35.50", 3550),
        ("￥35", 3500),
        ("３５．５０", 3550),
        ("\u3000３５\u3000", 3500),
        ("0", 0),
        ("0.00", 0),
        ("0.01", 1),
        ("007.10", 710),
        ("1234567.89", 123456789),
        ("9" * MAX_YUAN_DIGITS + ".99", MAX_FEN),
    ],
)
def test_it_parses_yuan_with_up_to_two_decimals_into_fen(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "amount_empty"),
        ("   ", "amount_empty"),
        ("\u3000", "amount_empty"),
        ("35.505", "amount_decimals"),
        ("0.001", "amount_decimals"),
        ("35.500", "amount_decimals"),
        ("1e3", "amount_format"),
        ("1E3", "amount_format"),
        ("3.5e1", "amount_format"),
        ("1,234.50", "amount_format"),
        ("1，234", "amount_format"),
        ("nan", "amount_format"),
        ("NaN", "amount_format"),
        ("inf", "amount_format"),
        ("-inf", "amount_format"),
        ("Infinity", "amount_format"),
        ("35.", "amount_format"),
        (".5", "amount_format"),
        ("+35", "amount_format"),
        ("¥", "amount_format"),
        ("-", "amount_format"),
        ("35 .50", "amount_format"),
        ("35元", "amount_format"),
        ("0x10", "amount_format"),
        ("١٢", "amount_format"),
        ("35.5.0", "amount_format"),
        ("35¥", "amount_format"),
        ("-¥-35", "amount_format"),
        ("1" + "0" * MAX_YUAN_DIGITS, "amount_too_large"),
        ("-35", "amount_negative"),
        ("-0", "amount_negative"),
        ("-¥0.35", "amount_negative"),
    ],
)
def test_it_rejects_yuan_text_it_cannot_read_exactly(text: str, code: str) -> None:
    assert rejection_code(text) == code


def test_it_explains_too_many_decimals_in_chinese() -> None:
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        parse_yuan("35.505")
    assert caught.value.messages == ["金额格式不正确：最多两位小数"]


@pytest.mark.parametrize("value", [35.5, 35, Decimal("35.50"), None, b"35"])
def test_it_refuses_anything_but_text(value: object) -> None:
    with pytest.raises(TypeError):
        parse_yuan(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "fen"), [("-35.50", -3550), ("-¥0.35", -35), ("¥-0.35", -35), ("－３５", -3500), ("35", 3500)]
)
def test_it_parses_negative_yuan_when_allowed(text: str, fen: int) -> None:
    assert parse_yuan(text, allow_negative=True) == fen


@pytest.mark.parametrize("text", ["0", "0.00", "¥0", "000.0"])
def test_it_rejects_zero_when_not_allowed(text: str) -> None:
    assert rejection_code(text, allow_zero=False) == "amount_zero"
    assert parse_yuan("0.01", allow_zero=False) == 1


def test_it_rejects_a_negative_zero_as_zero_when_negatives_are_allowed() -> None:
    assert rejection_code("-0", allow_negative=True, allow_zero=False) == "amount_zero"
    assert parse_yuan("-0", allow_negative=True) == 0


@given(fen_amounts)
def test_it_parses_back_every_amount_it_writes(fen: int) -> None:
    assert parse_yuan(yuan_str(fen), allow_negative=True) == fen
    assert parse_yuan(format_yuan(fen).replace(",", ""), allow_negative=True) == fen


# --- display -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "decimal"),
    [(123450, "1234.50"), (0, "0.00"), (1, "0.01"), (-35, "-0.35"), (100, "1.00"), (MAX_FEN, "9" * 15 + ".99")],
)
def test_it_turns_fen_into_a_two_place_decimal(fen: int, decimal: str) -> None:
    value = fen_to_decimal(fen)
    assert value == Decimal(decimal)
    assert str(value) == decimal
    assert value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("fen", "with_symbol", "without_symbol"),
    [
        (123450, "¥1,234.50", "1,234.50"),
        (0, "¥0.00", "0.00"),
        (5, "¥0.05", "0.05"),
        (-35, "-¥0.35", "-0.35"),
        (100000000, "¥1,000,000.00", "1,000,000.00"),
        (-123456789, "-¥1,234,567.89", "-1,234,567.89"),
    ],
)
def test_it_formats_yuan_for_display(fen: int, with_symbol: str, without_symbol: str) -> None:
    assert format_yuan(fen) == with_symbol
    assert format_yuan(fen, symbol=False) == without_symbol


@pytest.mark.parametrize(
    ("fen", "text"), [(123450, "1234.50"), (0, "0.00"), (7, "0.07"), (-35, "-0.35"), (100000000, "1000000.00")]
)
def test_it_writes_plain_yuan_for_exports(fen: int, text: str) -> None:
    assert yuan_str(fen) == text


@pytest.mark.parametrize("function", [fen_to_decimal, format_yuan, yuan_str, amount_in_words])
@pytest.mark.parametrize("value", [35.5, Decimal("35"), "35", True])
def test_it_refuses_amounts_that_are_not_int_fen(function: object, value: object) -> None:
    with pytest.raises(TypeError):
        function(value)  # type: ignore[operator]


# --- amount in words ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "words"),
    [
        (0, "零元整"),
        (1, "壹分"),
        (5, "伍分"),
        (10, "壹角"),
        (35, "叁角伍分"),
        (100, "壹元整"),
        (105, "壹元零伍分"),
        (110, "壹元壹角"),
        (1000, "壹拾元整"),
        (1050, "壹拾元伍角"),
        (1005, "壹拾元零伍分"),
        (1500, "壹拾伍元整"),
        (10005, "壹佰元零伍分"),
        (10100, "壹佰零壹元整"),
        (11000, "壹佰壹拾元整"),
        (23276, "贰佰叁拾贰元柒角陆分"),
        (100110, "壹仟零壹元壹角"),
        (101000, "壹仟零壹拾元整"),
        (168032, "壹仟陆佰捌拾元叁角贰分"),
        (1000000, "壹万元整"),
        (1000100, "壹万零壹元整"),
        (1010000, "壹万零壹佰元整"),
        (10000000, "壹拾万元整"),
        (10700053, "壹拾万柒仟元伍角叁分"),
        (10010000, "壹拾万零壹佰元整"),
        (100000000, "壹佰万元整"),
        (1000100000, "壹仟万壹仟元整"),
        (1000010000, "壹仟万零壹佰元整"),
        (1001000101, "壹仟零壹万零壹元零壹分"),
        (10000000000, "壹亿元整"),
        (10000000100, "壹亿零壹元整"),
        (10100000000, "壹亿零壹佰万元整"),
        (11000000000, "壹亿壹仟万元整"),
        (100000000000000, "壹万亿元整"),
        (100010000000000, "壹万零壹亿元整"),
        (-35, "负叁角伍分"),
        (-23276, "负贰佰叁拾贰元柒角陆分"),
    ],
)
def test_it_writes_amounts_in_chinese_capitals_as_invoices_print_them(fen: int, words: str) -> None:
    assert amount_in_words(fen) == words


CAPITAL_DIGITS = {digit: value for value, digit in enumerate("零壹贰叁肆伍陆柒捌玖")}
PLACES = {"拾": 10, "佰": 100, "仟": 1000}


def words_to_fen(words: str) -> int:
    """An independent reader of capital amounts, to check amount_in_words against."""
    sign = -1 if words.startswith("负") else 1
    words = words.removeprefix("负")
    total = section = digit = fen = 0
    for char in words:
        if char in CAPITAL_DIGITS:
            digit = CAPITAL_DIGITS[char]
        elif char in PLACES:
            section += digit * PLACES[char]
            digit = 0
        elif char == "万":
            section = (section + digit) * 10**4
            digit = 0
        elif char == "亿":
            total = (total + section + digit) * 10**8
            section = digit = 0
        elif char == "元":
            fen = (total + section + digit) * 100
            digit = 0
        elif char == "角":
            fen += digit * 10
            digit = 0
        elif char == "分":
            fen += digit
            digit = 0
        else:
            assert char == "整"
    return sign * fen


@given(fen_amounts)
def test_it_writes_words_that_read_back_as_the_amount(fen: int) -> None:
    assert words_to_fen(amount_in_words(fen)) == fen


@given(fen_amounts)
def test_it_never_writes_two_zeros_in_a_row_or_a_trailing_zero(fen: int) -> None:
    words = amount_in_words(fen)
    assert "零零" not in words
    assert not words.endswith("零")
    assert words[-1] in "整角分"
    for unit in "拾佰仟万亿元角分整":
        assert "零" + unit not in words or words == "零元整"
    if fen:
        assert not words.removeprefix("负").startswith("零")


@given(st.integers(min_value=1, max_value=MAX_FEN))
def test_it_writes_zheng_only_for_whole_yuan(fen: int) -> None:
    assert amount_in_words(fen).endswith("整") == (fen % 100 == 0)
