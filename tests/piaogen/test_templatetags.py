"""The console's template filters: durations, yuan, tax rates."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from piaogen.templatetags.console import duration, tax_rate, yuan


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (timedelta(seconds=1.24), "1.2 秒"),
        (timedelta(seconds=42), "42 秒"),
        (timedelta(minutes=3, seconds=5), "3 分 05 秒"),
        (timedelta(hours=2, minutes=7, seconds=59), "2 小时 07 分"),
        (None, "—"),
    ],
)
def test_durations_read_as_people_say_them(value: timedelta | None, shown: str) -> None:
    with translation.override("zh-hans"):
        assert duration(value) == shown


def test_money_in_fen_shows_as_yuan_with_two_decimals() -> None:
    assert yuan(289200) == "¥2,892.00"
    assert yuan(-35) == "-¥0.35"
    assert yuan(None) == "—"


def test_rates_show_as_printed_on_invoices() -> None:
    assert tax_rate(Decimal("0.050")) == "5%"
    assert tax_rate(Decimal("0.09")) == "9%"
    with translation.override("zh-hans"):
        assert tax_rate(None) == "不征税"
