import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.functional import Promise
from hypothesis import given
from hypothesis import strategies as st

from piaogen import identifiers as ids
from piaogen.identifiers import (
    ETC_PROVINCES,
    PROVINCE_NAMES,
    USCC_ALPHABET,
    CardType,
    PlateColor,
    Province,
    VehicleClass,
)


def assert_rejected(validator: Callable[[str], object], value: object, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validator(value)  # type: ignore[arg-type]
    assert caught.value.code == code


# --- provinces and choices ---------------------------------------------------------------------------------------


def test_it_lists_the_31_provinces_in_code_order() -> None:
    assert len(PROVINCE_NAMES) == 31
    assert list(PROVINCE_NAMES) == sorted(PROVINCE_NAMES)
    assert PROVINCE_NAMES["11"] == "北京"
    assert PROVINCE_NAMES["15"] == "内蒙古"
    assert PROVINCE_NAMES["65"] == "新疆"
    assert all(re.fullmatch(r"[1-6][0-9]", code) for code in PROVINCE_NAMES)


def test_it_puts_all_provinces_but_hainan_and_tibet_on_the_etc_network() -> None:
    assert len(ETC_PROVINCES) == 29
    assert set(PROVINCE_NAMES) - ETC_PROVINCES == {"46", "54"}


def test_it_generates_province_choices_from_the_names() -> None:
    assert Province.choices == list(PROVINCE_NAMES.items())
    assert Province("23").label == "黑龙江"
    assert Province["P11"] == "11"


def test_it_numbers_plate_colours_as_the_etc_data_does() -> None:
    assert PlateColor.values == [0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 12]
    with translation.override("zh-hans"):
        assert [str(label) for label in PlateColor.labels] == [
            "蓝",
            "黄",
            "黑",
            "白",
            "渐变绿",
            "黄绿双拼",
            "蓝白渐变",
            "临时",
            "未确定",
            "绿",
            "红",
        ]


def test_it_keeps_choice_labels_lazy_for_translation() -> None:
    assert isinstance(PlateColor.BLUE.label, Promise)
    assert isinstance(VehicleClass.TRUCK_1.label, Promise)
    assert isinstance(CardType.PREPAID.label, Promise)


def test_it_numbers_vehicle_classes_by_category() -> None:
    assert VehicleClass.values == [1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 21, 22, 23, 24, 25, 26]
    with translation.override("zh-hans"):
        assert str(VehicleClass.PASSENGER_1.label) == "一型客车"
        assert str(VehicleClass.TRUCK_6.label) == "六型货车"
        assert str(VehicleClass.SPECIAL_3.label) == "三型专项作业车"


@pytest.mark.parametrize(
    ("vehicle_class", "category"),
    [(1, "客车"), (4, "客车"), (11, "货车"), (16, "货车"), (21, "专项作业车"), (26, "专项作业车")],
)
def test_it_gives_the_printed_vehicle_type_of_a_class(vehicle_class: int, category: str) -> None:
    with translation.override("zh-hans"):
        assert str(ids.vehicle_category(vehicle_class)) == category
    assert isinstance(ids.vehicle_category(vehicle_class), Promise)


@pytest.mark.parametrize("vehicle_class", [0, 5, 10, 17, 20, 27, -1])
def test_it_refuses_a_vehicle_type_for_an_unknown_class(vehicle_class: int) -> None:
    with pytest.raises(ValueError, match="unknown vehicle class"):
        ids.vehicle_category(vehicle_class)


def test_it_names_the_card_types() -> None:
    assert CardType.values == [22, 23]
    with translation.override("zh-hans"):
        assert [str(label) for label in CardType.labels] == ["储值卡", "记账卡"]


# --- full-width folding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ＡＢＣ１２３", "ABC123"),
        ("京Ａ１２３４５", "京A12345"),
        ("ａｂｃ", "abc"),
        ("！～", "!~"),
        ("\u3000３５．５０\u3000", " 35.50 "),
        ("plain ascii", "plain ascii"),
        ("￥汉字", "￥汉字"),
        ("", ""),
    ],
)
def test_it_folds_full_width_ascii_to_half_width(text: str, folded: str) -> None:
    assert ids.fold_fullwidth(text) == folded


@given(st.integers(min_value=0xFF01, max_value=0xFF5E))
def test_it_folds_every_full_width_character_to_its_ascii_twin(codepoint: int) -> None:
    assert ids.fold_fullwidth(chr(codepoint)) == chr(codepoint - 0xFEE0)


# --- card numbers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("11012301230123456789", "11012301230123456789"),
        ("65019999999999999999", "65019999999999999999"),
        ("  32010000000000000001 ", "32010000000000000001"),
        ("３２０１０００００００００００００００１", "32010000000000000001"),
    ],
)
def test_it_accepts_a_card_number_of_20_digits(value: str, normalised: str) -> None:
    assert ids.validate_card_number(value) == normalised
    assert ids.is_card_number(value)


@pytest.mark.parametrize(
    "value", ["", "1101230123012345678", "110123012301234567890", "1101230123012345678A", "11012301 230123456789"]
)
def test_it_rejects_a_card_number_that_is_not_20_digits(value: str) -> None:
    assert_rejected(ids.validate_card_number, value, "card_number_format")
    assert not ids.is_card_number(value)


@pytest.mark.parametrize("value", ["99012301230123456789", "00012301230123456789", "71012301230123456789"])
def test_it_rejects_a_card_number_with_a_bad_province(value: str) -> None:
    assert_rejected(ids.validate_card_number, value, "card_number_province")
    assert not ids.is_card_number(value)


def test_it_explains_a_rejection_in_chinese() -> None:
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        ids.validate_card_number("123")
    assert caught.value.messages == ["卡号必须是20位数字"]


# --- plates ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("京A12345", "京A12345"),
        ("京a12345", "京A12345"),
        (" 京A12345\u3000", "京A12345"),
        ("京Ａ１２３４５", "京A12345"),
        ("粤B1234学", "粤B1234学"),
        ("粤Z1234港", "粤Z1234港"),
        ("京AD12345", "京AD12345"),
        ("沪A12345F", "沪A12345F"),
        ("使014578", "使014578"),
        ("WJ01234", "WJ01234"),
        ("京A1234应急", "京A1234应急"),
        ("A", "A"),
        ("京A12345678", "京A12345678"),
        ("京AI0O00", "京AI0O00"),
    ],
)
def test_it_accepts_any_plate_of_plate_characters(value: str, normalised: str) -> None:
    assert ids.validate_plate(value) == normalised
    assert ids.is_plate(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "plate_empty"),
        ("   ", "plate_empty"),
        ("\u3000", "plate_empty"),
        ("京A123456789X", "plate_too_long"),
        ("京A 12345", "plate_space"),
        ("京A\u300012345", "plate_space"),
        ("京A·12345", "plate_chars"),
        ("京A-12345", "plate_chars"),
        ("台A12345", "plate_chars"),
        ("京A12345临", "plate_chars"),
        ("京A1234\t5", "plate_chars"),
    ],
)
def test_it_rejects_a_plate_outside_the_lenient_rule(value: str, code: str) -> None:
    assert_rejected(ids.validate_plate, value, code)
    assert not ids.is_plate(value)


@pytest.mark.parametrize(
    ("plate", "kind"),
    [
        ("京A12345", "ordinary"),
        ("京AB1C2D", "ordinary"),
        ("粤B1234学", "ordinary"),
        ("粤Z1234港", "ordinary"),
        ("粤Z1234澳", "ordinary"),
        ("苏E1234挂", "ordinary"),
        ("京A1234警", "ordinary"),
        ("京a12345", "ordinary"),
        ("京AD12345", "new_energy"),
        ("京AFA1234", "new_energy"),
        ("沪A12345D", "new_energy"),
        ("沪A12345F", "new_energy"),
        ("京AI2345", "other"),
        ("京A1234O", "other"),
        ("京A1234", "other"),
        ("京A123456", "other"),
        ("京AA12345", "other"),
        ("京AD123", "other"),
        ("京ADI1234", "other"),
        ("京A12345E", "other"),
        ("使014578", "other"),
        ("1A12345", "other"),
        ("", "other"),
    ],
)
def test_it_tells_ordinary_and_new_energy_plates_apart(plate: str, kind: str) -> None:
    assert ids.plate_kind(plate) == kind


# --- coded values ------------------------------------------------------------------------------------------------

TO_FULL_WIDTH_DIGITS = {codepoint: codepoint + 0xFEE0 for codepoint in range(ord("0"), ord("9") + 1)}
CODED = [
    (ids.validate_plate_color, ids.is_plate_color, "plate_color", PlateColor.values, [8, 10, 13, -1]),
    (ids.validate_vehicle_class, ids.is_vehicle_class, "vehicle_class", VehicleClass.values, [0, 5, 17, 27]),
    (ids.validate_card_type, ids.is_card_type, "card_type", CardType.values, [0, 21, 24]),
]


@pytest.mark.parametrize(("validate", "is_valid", "code", "good", "bad"), CODED)
def test_it_accepts_every_known_code_as_int_or_numeric_string(
    validate: Callable[[int | str], int], is_valid: Callable[[int | str], bool], code: str, good: list[int], bad: object
) -> None:
    for number in good:
        assert validate(number) == number
        assert validate(str(number)) == number
        assert validate(f" {number} ") == number
        assert validate(str(number).translate(TO_FULL_WIDTH_DIGITS)) == number
        assert is_valid(number)
        assert is_valid(str(number))


@pytest.mark.parametrize(("validate", "is_valid", "code", "good", "bad"), CODED)
def test_it_rejects_unknown_or_malformed_codes(
    validate: Callable[[int | str], int], is_valid: Callable[[int | str], bool], code: str, good: object, bad: list[int]
) -> None:
    values: list[int | str | bool] = [*bad, *(str(number) for number in bad), "", "abc", "1.0", "0x1", "+1", True]
    for value in values:
        assert_rejected(validate, value, code)
        assert not is_valid(value)


@pytest.mark.parametrize("validate", [ids.validate_plate_color, ids.validate_vehicle_class, ids.validate_card_type])
def test_it_refuses_a_float_code(validate: Callable[[object], int]) -> None:
    with pytest.raises(TypeError):
        validate(1.0)


# --- vehicle keys ------------------------------------------------------------------------------------------------


def test_it_builds_a_vehicle_key_from_plate_and_colour() -> None:
    assert ids.vehicle_key("京A12345", 0) == "京A12345_0"
    assert ids.vehicle_key("京AD12345", PlateColor.GRADIENT_GREEN) == "京AD12345_4"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("京A12345", ("京A12345", None)),
        ("京A12345_0", ("京A12345", 0)),
        ("京A12345-0", ("京A12345", 0)),
        ("京AD12345_11", ("京AD12345", 11)),
        (" 京a12345_1 ", ("京A12345", 1)),
        ("京Ａ１２３４５＿１", ("京A12345", 1)),
    ],
)
def test_it_parses_a_vehicle_key_with_or_without_colour(text: str, parsed: tuple[str, int | None]) -> None:
    assert ids.parse_vehicle_key(text) == parsed


@given(st.sampled_from(["京A12345", "粤B1234学", "沪A12345D", "使014578"]), st.sampled_from(PlateColor.values))
def test_it_parses_back_every_vehicle_key_it_builds(plate: str, color: int) -> None:
    assert ids.parse_vehicle_key(ids.vehicle_key(plate, color)) == (plate, color)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "plate_empty"),
        ("_0", "plate_chars"),
        ("京A12345_8", "plate_color"),
        ("京A12345_", "plate_chars"),
        ("京A 12345_0", "plate_space"),
    ],
)
def test_it_rejects_a_vehicle_key_with_a_bad_plate_or_colour(text: str, code: str) -> None:
    assert_rejected(ids.parse_vehicle_key, text, code)


# --- unified social credit codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("91110000600037341L", "91110000600037341L"),
        ("91110000600037341l", "91110000600037341L"),
        (" 91310000MA1FL1234Q ", "91310000MA1FL1234Q"),
        ("121000004000000124", "121000004000000124"),
        ("Y1110000600037341Y", "Y1110000600037341Y"),
        ("９１１１００００６０００３７３４１Ｌ", "91110000600037341L"),
    ],
)
def test_it_accepts_a_unified_social_credit_code_with_a_good_check_char(value: str, normalised: str) -> None:
    assert ids.validate_uscc(value) == normalised
    assert ids.is_uscc(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("91110000600037341M", "uscc_check"),
        ("91110000600037342L", "uscc_check"),
        ("91110000600037341", "uscc_format"),
        ("91110000600037341LL", "uscc_format"),
        ("9111000060003734IL", "uscc_format"),
        ("9111000060003734OL", "uscc_format"),
        ("9111000060003734SL", "uscc_format"),
        ("9111000060003734VL", "uscc_format"),
        ("9111000060003734ZL", "uscc_format"),
        ("91110000-00037341L", "uscc_format"),
        ("", "uscc_format"),
    ],
)
def test_it_rejects_a_bad_unified_social_credit_code(value: str, code: str) -> None:
    assert_rejected(ids.validate_uscc, value, code)
    assert not ids.is_uscc(value)


def test_it_computes_the_check_char_of_a_known_code() -> None:
    assert ids.uscc_check_char("91110000600037341") == "L"


@pytest.mark.parametrize(
    "first17", ["9111000060003734", "911100006000373412", "9111000060003734I", "9111000060003734l"]
)
def test_it_refuses_a_check_char_for_a_malformed_prefix(first17: str) -> None:
    with pytest.raises(ValueError, match="USCC"):
        ids.uscc_check_char(first17)


@given(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17))
def test_it_round_trips_every_uscc_check_char(first17: str) -> None:
    check = ids.uscc_check_char(first17)
    assert check in USCC_ALPHABET
    assert ids.validate_uscc(first17 + check) == first17 + check
    for wrong in USCC_ALPHABET.replace(check, ""):
        assert not ids.is_uscc(first17 + wrong)


# --- resident ID numbers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),
        ("110101199003071233", "110101199003071233"),
        ("440304198512315672", "440304198512315672"),
        ("320102200002290013", "320102200002290013"),
        ("810000198001010014", "810000198001010014"),
        (" １１０１０１１９９００３０７１２３３ ", "110101199003071233"),
    ],
)
def test_it_accepts_a_resident_id_with_region_birth_date_and_check_char(value: str, normalised: str) -> None:
    assert ids.validate_resident_id(value) == normalised
    assert ids.is_resident_id(value)


def future_resident_id() -> str:
    first17 = f"110101{dt.date.today().year + 1}0101123"
    return first17 + ids.resident_id_check_char(first17)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("110101199003071234", "resident_id_check"),
        ("11010519491231002Y", "resident_id_format"),
        ("11010119900307123", "resident_id_format"),
        ("1101011990030712333", "resident_id_format"),
        ("X10101199003071233", "resident_id_format"),
        ("99345619900307123X", "resident_id_region"),
        ("110101194902311234", "resident_id_birth_date"),
        ("110101189912311234", "resident_id_birth_date"),
        ("110101199013011234", "resident_id_birth_date"),
        (future_resident_id(), "resident_id_birth_date"),
    ],
)
def test_it_rejects_a_bad_resident_id(value: str, code: str) -> None:
    assert_rejected(ids.validate_resident_id, value, code)
    assert not ids.is_resident_id(value)


@pytest.mark.parametrize("first17", ["1101011990030712", "1101011990030712X", "１１０１０１１９９００３０７１２３"])
def test_it_refuses_a_resident_check_char_for_a_malformed_prefix(first17: str) -> None:
    with pytest.raises(ValueError, match="resident ID"):
        ids.resident_id_check_char(first17)


# --- taxpayer ids ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("110101123456789", "110101123456789"),
        ("11010112345678901", "11010112345678901"),
        ("11010112345678901234", "11010112345678901234"),
        ("32010279ab12345", "32010279AB12345"),
        ("91110000600037341L", "91110000600037341L"),
        ("11010519491231002x", "11010519491231002X"),
        ("110101199003071233", "110101199003071233"),
    ],
)
def test_it_accepts_a_taxpayer_id_of_a_known_length(value: str, normalised: str) -> None:
    assert ids.validate_taxpayer_id(value) == normalised
    assert ids.is_taxpayer_id(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "taxpayer_id_format"),
        ("11010112345678", "taxpayer_id_format"),
        ("1101011234567890", "taxpayer_id_format"),
        ("1101011234567890123", "taxpayer_id_format"),
        ("110101123456789012345", "taxpayer_id_format"),
        ("11010112345678-", "taxpayer_id_format"),
        ("91110000600037341M", "uscc_check"),
        ("110101199003071234", "resident_id_check"),
        ("99010119900307123X", "resident_id_region"),
        ("911100006000373410", "uscc_check"),
    ],
)
def test_it_rejects_a_bad_taxpayer_id(value: str, code: str) -> None:
    assert_rejected(ids.validate_taxpayer_id, value, code)
    assert not ids.is_taxpayer_id(value)


def test_it_checks_an_18_digit_taxpayer_id_without_a_birth_date_as_a_uscc() -> None:
    first17 = "91110000600037341"
    assert ids.validate_taxpayer_id(first17 + ids.uscc_check_char(first17)) == "91110000600037341L"
    first17 = "12100000400000012"
    assert ids.validate_taxpayer_id(first17 + ids.uscc_check_char(first17)) == "121000004000000124"


# --- other identifiers -------------------------------------------------------------------------------------------


IDENTIFIERS = [
    (
        ids.validate_province_code,
        ids.is_province_code,
        "province_code",
        [("11", "11"), (" 46 ", "46"), ("６５", "65")],
        ["", "1", "011", "99", "10", "70", "北京"],
    ),
    (
        ids.validate_phone,
        ids.is_phone,
        "phone",
        [("13812345678", "13812345678"), ("19912345678", "19912345678"), ("１３８１２３４５６７８ ", "13812345678")],
        ["", "12812345678", "10812345678", "1381234567", "138123456789", "+8613812345678", "138-1234-5678"],
    ),
    (
        ids.validate_toll_unit,
        ids.is_toll_unit,
        "toll_unit",
        [("G001532001001010", "G001532001001010"), ("g001532001001010", "G001532001001010")],
        ["", "G00153200100101", "G0015320010010101", "G00153200100101-", "G00153200100101京"],
    ),
    (
        ids.validate_pass_id,
        ids.is_pass_id,
        "pass_id",
        [("a", "a"), ("x" * 40, "x" * 40), ("Pass_01-ab", "Pass_01-ab"), (" 0132 ", "0132")],
        ["", "x" * 41, "a b", "a.b", "通行1", "a/b"],
    ),
    (
        ids.validate_legacy_number,
        ids.is_legacy_number,
        "legacy_number",
        [("12345678", "12345678"), ("00000001", "00000001")],
        ["", "1234567", "123456789", "1234567A"],
    ),
    (
        ids.validate_fiscal_number,
        ids.is_fiscal_number,
        "fiscal_number",
        [("0000000001", "0000000001"), ("9876543210", "9876543210")],
        ["", "000000001", "00000000001", "000000000X"],
    ),
]


@pytest.mark.parametrize(("validate", "is_valid", "code", "good", "bad"), IDENTIFIERS)
def test_it_accepts_well_formed_identifiers(
    validate: Callable[[str], str],
    is_valid: Callable[[str], bool],
    code: str,
    good: list[tuple[str, str]],
    bad: list[str],
) -> None:
    for value, normalised in good:
        assert validate(value) == normalised
        assert is_valid(value)


@pytest.mark.parametrize(("validate", "is_valid", "code", "good", "bad"), IDENTIFIERS)
def test_it_rejects_malformed_identifiers(
    validate: Callable[[str], str],
    is_valid: Callable[[str], bool],
    code: str,
    good: list[tuple[str, str]],
    bad: list[str],
) -> None:
    for value in bad:
        assert_rejected(validate, value, code)
        assert not is_valid(value)


@pytest.mark.parametrize("validate", [ids.validate_card_number, ids.validate_plate, ids.validate_phone])
def test_it_refuses_non_text_input(validate: Callable[[object], str]) -> None:
    with pytest.raises(TypeError):
        validate(13812345678)


# --- document numbers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["25321000000000012345", "24110000000000000001", " 25650999999999999999 "])
def test_it_accepts_a_digital_invoice_number(value: str) -> None:
    assert ids.validate_digital_invoice_number(value) == value.strip()
    assert ids.is_digital_invoice_number(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2532100000000001234", "digital_invoice_number_format"),
        ("253210000000000123456", "digital_invoice_number_format"),
        ("2532100000000001234A", "digital_invoice_number_format"),
        ("25991000000000012345", "digital_invoice_number_province"),
        ("25001000000000012345", "digital_invoice_number_province"),
    ],
)
def test_it_rejects_a_bad_digital_invoice_number(value: str, code: str) -> None:
    assert_rejected(ids.validate_digital_invoice_number, value, code)
    assert not ids.is_digital_invoice_number(value)


def test_it_formats_a_digital_invoice_number_from_its_parts() -> None:
    number = ids.format_digital_invoice_number(year=2025, province="32", channel=1, seq=12345)
    assert number == "25321000000000012345"
    assert ids.is_digital_invoice_number(number)
    assert ids.format_digital_invoice_number(year=2030, province="65", channel=9, seq=10**15 - 1) == "30659" + "9" * 15


@pytest.mark.parametrize(
    "parts",
    [
        {"year": 2025, "province": "32", "channel": 1, "seq": 10**15},
        {"year": 2025, "province": "32", "channel": 1, "seq": -1},
        {"year": 2025, "province": "32", "channel": 10, "seq": 1},
        {"year": 2025, "province": "32", "channel": -1, "seq": 1},
        {"year": 2025, "province": "99", "channel": 1, "seq": 1},
        {"year": 1999, "province": "32", "channel": 1, "seq": 1},
        {"year": 25, "province": "32", "channel": 1, "seq": 1},
    ],
)
def test_it_refuses_to_format_a_digital_invoice_number_that_does_not_fit(parts: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ids.format_digital_invoice_number(**parts)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["032001700112", "011001900112", "044032500112"])
def test_it_accepts_a_legacy_invoice_code(value: str) -> None:
    assert ids.validate_legacy_code(value) == value
    assert ids.is_legacy_code(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("132001700112", "legacy_code_format"),
        ("032001700111", "legacy_code_format"),
        ("03200170011", "legacy_code_format"),
        ("0320017001120", "legacy_code_format"),
        ("099001700112", "legacy_code_region"),
    ],
)
def test_it_rejects_a_bad_legacy_invoice_code(value: str, code: str) -> None:
    assert_rejected(ids.validate_legacy_code, value, code)
    assert not ids.is_legacy_code(value)


@pytest.mark.parametrize("value", ["32029925", "11029920", "65029999"])
def test_it_accepts_a_fiscal_receipt_code(value: str) -> None:
    assert ids.validate_fiscal_code(value) == value
    assert ids.is_fiscal_code(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("32019925", "fiscal_code_format"),
        ("32029825", "fiscal_code_format"),
        ("3202992", "fiscal_code_format"),
        ("320299255", "fiscal_code_format"),
        ("99029925", "fiscal_code_province"),
    ],
)
def test_it_rejects_a_bad_fiscal_receipt_code(value: str, code: str) -> None:
    assert_rejected(ids.validate_fiscal_code, value, code)
    assert not ids.is_fiscal_code(value)


def test_it_formats_a_fiscal_receipt_code() -> None:
    assert ids.format_fiscal_code(province="32", year=2025) == "32029925"
    assert ids.format_fiscal_code(province="11", year=2000) == "11029900"
    with pytest.raises(ValueError):
        ids.format_fiscal_code(province="99", year=2025)
    with pytest.raises(ValueError):
        ids.format_fiscal_code(province="32", year=2100)


@pytest.mark.parametrize("value", ["3220250100000001", "1120201299999999", "6520300600000000"])
def test_it_accepts_a_summary_sheet_number(value: str) -> None:
    assert ids.validate_summary_sheet_number(value) == value
    assert ids.is_summary_sheet_number(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("3220251300000001", "summary_sheet_number_format"),
        ("3220250000000001", "summary_sheet_number_format"),
        ("322025010000001", "summary_sheet_number_format"),
        ("32202501000000011", "summary_sheet_number_format"),
        ("9920250100000001", "summary_sheet_number_province"),
    ],
)
def test_it_rejects_a_bad_summary_sheet_number(value: str, code: str) -> None:
    assert_rejected(ids.validate_summary_sheet_number, value, code)
    assert not ids.is_summary_sheet_number(value)


def test_it_formats_a_summary_sheet_number() -> None:
    number = ids.format_summary_sheet_number(province="32", year=2025, month=1, seq=1)
    assert number == "3220250100000001"
    assert ids.is_summary_sheet_number(number)
    assert ids.format_summary_sheet_number(province="65", year=2025, month=12, seq=99_999_999) == "6520251299999999"


@pytest.mark.parametrize(
    "parts",
    [
        {"province": "32", "year": 2025, "month": 1, "seq": 100_000_000},
        {"province": "32", "year": 2025, "month": 1, "seq": -1},
        {"province": "32", "year": 2025, "month": 13, "seq": 1},
        {"province": "32", "year": 2025, "month": 0, "seq": 1},
        {"province": "32", "year": 25, "month": 1, "seq": 1},
        {"province": "99", "year": 2025, "month": 1, "seq": 1},
    ],
)
def test_it_refuses_to_format_a_summary_sheet_number_that_does_not_fit(parts: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ids.format_summary_sheet_number(**parts)  # type: ignore[arg-type]


# --- masking -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812345678", "138****5678"), ("1381234567", "138***4567"), ("1234567", "*******"), ("", "")],
)
def test_it_masks_the_middle_of_a_phone_number(phone: str, masked: str) -> None:
    assert ids.mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("id_number", "masked"),
    [
        ("110101199003071234", "110101********1234"),
        ("11010519491231002X", "110105********002X"),
        ("110101900307123", "110101*****7123"),
        ("1234567890", "**********"),
        ("", ""),
    ],
)
def test_it_masks_an_id_number_but_its_region_and_last_four(id_number: str, masked: str) -> None:
    assert ids.mask_id_number(id_number) == masked


@pytest.mark.parametrize(("name", "masked"), [("张三丰", "张**"), ("李四", "李*"), ("王", "*"), ("", "")])
def test_it_masks_a_name_but_its_first_character(name: str, masked: str) -> None:
    assert ids.mask_name(name) == masked
