"""Price–tax separation: the worked examples of domain.md §3, tolerances, and properties for any amount."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from invoicing.tax import (
    INVOICE_TOLERANCE_FEN,
    LINE_TOLERANCE_FEN,
    SAFE_LINES_PER_INVOICE,
    TAX_RATES,
    TaxLine,
    TaxToleranceError,
    check_invoice,
    split_gross,
    tax_lines,
    total_in_words,
    totals,
)

R3, R5, R9 = Decimal("0.03"), Decimal("0.05"), Decimal("0.09")
MAX_FEN = 10**15  # ten trillion yuan: far above any document
grosses = st.integers(min_value=-MAX_FEN, max_value=MAX_FEN)
rates = st.sampled_from([R3, R5, R9, None])
taxable_rates = st.sampled_from([R3, R5, R9])


def integer_split(gross: int, rate: Decimal) -> tuple[int, int]:
    """An independent, integer-only reference: net = round_half_up(100·g / (100 + R)) for R = 3, 5, 9."""
    divisor = 100 + int(rate * 100)
    net = (200 * abs(gross) + divisor) // (2 * divisor)  # ⌊100g/d + ½⌋
    return (-net, -(abs(gross) - net)) if gross < 0 else (net, gross - net)


# --- split_gross ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "rate", "net", "tax"),
    [
        (23276, R3, 22598, 678),  # 232.76 @3% → 225.98 + 6.78
        (10000, R9, 9174, 826),  # 100.00 @9% → 91.74 + 8.26
        (4560, R5, 4343, 217),  # 45.60 @5% → 43.43 + 2.17
        (100, R9, 92, 8),  # 1.00 @9% → 0.92 + 0.08
        (35, R3, 34, 1),  # 0.35 @3% → 0.34 + 0.01
    ],
)
def test_it_splits_the_worked_examples_of_the_domain_guide(gross: int, rate: Decimal, net: int, tax: int) -> None:
    assert split_gross(gross, rate) == (net, tax)
    assert split_gross(-gross, rate) == (-net, -tax)


def test_a_non_taxable_or_fiscal_line_is_all_net() -> None:
    assert split_gross(23276, None) == (23276, 0)
    assert split_gross(-23276, None) == (-23276, 0)
    assert split_gross(0, None) == (0, 0)


def test_zero_splits_into_zero() -> None:
    assert split_gross(0, R9) == (0, 0)


def test_it_accepts_rates_as_the_database_returns_them() -> None:
    assert split_gross(23276, Decimal("0.030")) == (22598, 678)  # DecimalField(4, 3)


@pytest.mark.parametrize("rate", [Decimal("0.06"), Decimal("0.13"), Decimal("0"), Decimal("-0.03"), Decimal("0.3")])
def test_it_refuses_a_rate_that_is_not_3_5_or_9_percent(rate: Decimal) -> None:
    with pytest.raises(ValueError, match="unsupported tax rate"):
        split_gross(10000, rate)
    with pytest.raises(ValueError, match="unsupported tax rate"):
        tax_lines([], rate)


@pytest.mark.parametrize(
    ("gross", "rate"), [(100.0, R9), (10000, 0.09), (10000, 0.03), (True, R9), ("100", R9), (1, 3)]
)
def test_floats_and_other_types_never_get_through(gross: Any, rate: Any) -> None:
    with pytest.raises(TypeError):
        split_gross(gross, rate)


def test_aggregation_comes_before_the_split() -> None:
    # two 0.06 items at 9%: split one by one each is 0.06 + 0.00; the printed line of 0.12 is 0.11 + 0.01
    assert split_gross(6, R9) == (6, 0)
    lines = tax_lines([("苏A12345", 6), ("苏A12345", 6)], R9)
    assert lines == {"苏A12345": TaxLine(gross=12, net=11, tax=1, rate=R9)}


def test_lines_keep_the_order_their_keys_first_appear() -> None:
    lines = tax_lines([("b", 100), ("a", 200), ("b", 300)], R3)
    assert list(lines) == ["b", "a"]
    assert lines["b"] == TaxLine.of(400, R3)
    assert lines["a"] == TaxLine.of(200, R3)


def test_a_line_must_add_up() -> None:
    with pytest.raises(ValueError, match="!= gross"):
        TaxLine(gross=100, net=90, tax=9, rate=R9)


# --- tolerances ----------------------------------------------------------------------------------------------------


def test_the_worked_examples_are_within_tolerance() -> None:
    lines = [TaxLine.of(g, r) for g, r in [(23276, R3), (10000, R9), (4560, R5), (100, R9), (35, R3)]]
    check_invoice(lines)
    assert totals(lines) == (37971, 36241, 1730)


def test_a_line_outside_the_line_tolerance_is_refused() -> None:
    hand_made = TaxLine(gross=10000, net=9000, tax=1000, rate=R9)  # 90.00 × 9% = 8.10, not 10.00
    with pytest.raises(TaxToleranceError) as caught:
        check_invoice([TaxLine.of(100, R9), hand_made])
    assert caught.value.code == "tax_line_tolerance"
    with translation.override("zh-hans"):
        assert caught.value.messages == ["第2行税额误差-1.9000元，超过允许的0.06元"]


def test_a_line_just_inside_the_line_tolerance_passes() -> None:
    check_invoice([TaxLine(gross=10906, net=10000, tax=906, rate=R9)])  # 900 − 906 = −6 fen
    with pytest.raises(TaxToleranceError):
        check_invoice([TaxLine(gross=10907, net=10000, tax=907, rate=R9)])


@pytest.mark.parametrize(("rate", "worst_gross"), [(R3, 17), (R5, 10), (R9, 6), (R9, 1096)])
def test_lines_with_the_worst_rounding_pass_up_to_the_safe_line_count(rate: Decimal, worst_gross: int) -> None:
    line = TaxLine.of(worst_gross, rate)
    assert abs(line.error_fen) * SAFE_LINES_PER_INVOICE <= INVOICE_TOLERANCE_FEN
    check_invoice([line] * SAFE_LINES_PER_INVOICE)


def test_the_invoice_tolerance_trips_when_line_errors_pile_up() -> None:
    line = TaxLine.of(1096, R9)  # 10.96 @9%: 10.06 + 0.90, error +0.0054 yuan, the worst at 9%
    assert line.error_fen == Decimal("0.54")
    check_invoice([line] * 235)  # 1.2690 yuan
    with pytest.raises(TaxToleranceError) as caught:
        check_invoice([line] * 236)  # 1.2744 yuan
    assert caught.value.code == "tax_invoice_tolerance"
    with translation.override("zh-hans"):
        assert caught.value.messages == ["整张票据税额累计误差1.2744元，超过允许的1.27元，请拆分票据"]


def test_opposite_errors_cancel_in_the_invoice_tolerance() -> None:
    up, down = TaxLine.of(1096, R9), TaxLine.of(-1096, R9)
    check_invoice([up, down] * 300)


# --- totals in words -----------------------------------------------------------------------------------------------


def test_the_total_is_written_in_capitals() -> None:
    lines = list(tax_lines([("a", 20000), ("b", 3276)], R3).values())
    assert total_in_words(lines) == "贰佰叁拾贰元柒角陆分"
    assert total_in_words([TaxLine.of(-23276, R3)]) == "负贰佰叁拾贰元柒角陆分"
    assert total_in_words([]) == "零元整"


# --- properties ----------------------------------------------------------------------------------------------------


@given(grosses, rates)
def test_net_plus_tax_is_always_the_gross(gross: int, rate: Decimal | None) -> None:
    net, tax = split_gross(gross, rate)
    assert net + tax == gross
    assert isinstance(net, int) and isinstance(tax, int)


@given(grosses, taxable_rates)
def test_the_split_matches_an_integer_only_reference(gross: int, rate: Decimal) -> None:
    assert split_gross(gross, rate) == integer_split(gross, rate)


@given(grosses, rates)
def test_red_letter_amounts_split_symmetrically(gross: int, rate: Decimal | None) -> None:
    net, tax = split_gross(gross, rate)
    assert split_gross(-gross, rate) == (-net, -tax)
    assert split_gross(gross, rate) == (net, tax)  # deterministic


@given(grosses, taxable_rates)
def test_every_line_is_within_half_a_fen_times_one_plus_r(gross: int, rate: Decimal) -> None:
    line = TaxLine.of(gross, rate)
    assert abs(line.error_fen) <= (1 + rate) / 2 < LINE_TOLERANCE_FEN
    if gross > 0:
        assert 0 <= line.tax < line.net


plates = st.sampled_from([f"苏A{n:05d}" for n in range(SAFE_LINES_PER_INVOICE)])
baskets = st.lists(st.tuples(plates, st.integers(min_value=1, max_value=500_000)), min_size=1, max_size=400)


@given(baskets, rates)
def test_any_basket_aggregated_into_lines_is_within_the_tolerances(
    basket: list[tuple[str, int]], rate: Decimal | None
) -> None:
    lines = tax_lines(basket, rate)
    check_invoice(lines.values())
    gross, net, tax = totals(lines.values())
    assert gross == sum(amount for _, amount in basket) == net + tax
    red = tax_lines([(plate, -amount) for plate, amount in basket], rate)
    check_invoice(red.values())
    assert totals(red.values()) == (-gross, -net, -tax)


@given(st.lists(st.integers(min_value=-MAX_FEN, max_value=MAX_FEN), max_size=SAFE_LINES_PER_INVOICE), taxable_rates)
def test_any_invoice_of_up_to_the_safe_line_count_passes(amounts: list[int], rate: Decimal) -> None:
    check_invoice([TaxLine.of(amount, rate) for amount in amounts])


def test_the_allowed_rates_are_those_of_the_domain_guide() -> None:
    assert frozenset({R3, R5, R9}) == TAX_RATES
