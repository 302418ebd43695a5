"""Number series: formats of domain.md §1, consecutive and gapless reservations, and real concurrent workers."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import translation

from invoicing.models import NumberSeries
from invoicing.numbering import (
    NumberSeriesExhausted,
    digital_invoice_numbers,
    fiscal_receipt_numbers,
    number_take,
    summary_sheet_numbers,
)
from piaogen.identifiers import (
    validate_digital_invoice_number,
    validate_fiscal_code,
    validate_fiscal_number,
    validate_summary_sheet_number,
)

DAY = dt.date(2026, 11, 26)


def next_value(series: str) -> int:
    return NumberSeries.objects.get(key=series).next_value


# --- formats -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_digital_invoice_numbers_are_yy_province_channel_and_a_15_digit_sequence() -> None:
    numbers = digital_invoice_numbers(province="32", issued_on=DAY, count=3)
    assert numbers == ["26321000000000000001", "26321000000000000002", "26321000000000000003"]
    assert all(validate_digital_invoice_number(number) == number for number in numbers)
    assert digital_invoice_numbers(province="32", issued_on=DAY, channel=3, count=1) == ["26323000000000000001"]
    assert next_value("digital:26:32:1") == 4
    assert next_value("digital:26:32:3") == 2


@pytest.mark.django_db
def test_fiscal_receipts_get_the_code_of_province_and_year_and_10_digit_numbers() -> None:
    code, numbers = fiscal_receipt_numbers(province="44", issued_on=DAY, count=2)
    assert code == "44029926"
    assert numbers == ["0000000001", "0000000002"]
    assert validate_fiscal_code(code) == code
    assert all(validate_fiscal_number(number) == number for number in numbers)
    assert next_value("fiscal:44:26") == 3


@pytest.mark.django_db
def test_summary_sheet_numbers_are_province_year_month_and_an_8_digit_sequence() -> None:
    numbers = summary_sheet_numbers(province="11", issued_on=dt.date(2027, 1, 1), count=2)
    assert numbers == ["1120270100000001", "1120270100000002"]
    assert all(validate_summary_sheet_number(number) == number for number in numbers)
    assert summary_sheet_numbers(province="11", issued_on=dt.date(2027, 2, 1), count=1) == ["1120270200000001"]


@pytest.mark.django_db
def test_a_new_year_starts_a_new_series() -> None:
    assert digital_invoice_numbers(province="32", issued_on=dt.date(2026, 12, 31), count=2)[-1].endswith("2")
    assert digital_invoice_numbers(province="32", issued_on=dt.date(2027, 1, 1), count=1) == ["27321000000000000001"]


@pytest.mark.django_db
def test_bad_arguments_are_refused_before_a_number_is_taken() -> None:
    with pytest.raises(ValueError, match="province"):
        digital_invoice_numbers(province="99", issued_on=DAY, count=1)
    with pytest.raises(ValueError, match="channel"):
        digital_invoice_numbers(province="32", issued_on=DAY, channel=10, count=1)
    with pytest.raises(ValueError, match="province"):
        fiscal_receipt_numbers(province="00", issued_on=DAY, count=1)
    with pytest.raises(ValueError, match="province"):
        summary_sheet_numbers(province="3", issued_on=DAY, count=1)
    with pytest.raises(TypeError, match="Beijing date"):
        digital_invoice_numbers(province="32", issued_on=dt.datetime(2026, 11, 26, tzinfo=dt.UTC), count=1)
    with pytest.raises(ValueError, match="count"):
        number_take(series="t", count=-1)
    assert not NumberSeries.objects.exists()


# --- reservations --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reservations_are_consecutive_blocks_from_one() -> None:
    assert number_take(series="t") == range(1, 2)
    assert number_take(series="t", count=1000) == range(2, 1002)
    assert number_take(series="t", count=0) == range(1, 1)
    assert number_take(series="t", count=2) == range(1002, 1004)
    assert next_value("t") == 1004


@pytest.mark.django_db
def test_separate_series_do_not_interfere() -> None:
    assert digital_invoice_numbers(province="32", issued_on=DAY, count=5)[-1].endswith("5")
    assert digital_invoice_numbers(province="33", issued_on=DAY, count=1)[-1].endswith("1")
    assert summary_sheet_numbers(province="32", issued_on=DAY, count=1)[-1].endswith("1")
    assert fiscal_receipt_numbers(province="32", issued_on=DAY, count=1)[1] == ["0000000001"]
    assert digital_invoice_numbers(province="32", issued_on=DAY, count=1)[-1].endswith("6")


@pytest.mark.django_db
def test_numbers_taken_in_a_rolled_back_savepoint_are_taken_again() -> None:
    number_take(series="t", count=3)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert number_take(series="t", count=5) == range(4, 9)
        raise RuntimeError("the documents could not be written")
    assert number_take(series="t", count=5) == range(4, 9)


@pytest.mark.django_db(transaction=True)
def test_numbers_of_a_rolled_back_transaction_are_not_consumed() -> None:
    with transaction.atomic():
        assert number_take(series="t", count=2) == range(1, 3)
    with transaction.atomic():
        assert number_take(series="t", count=10) == range(3, 13)
        transaction.set_rollback(True)
    with transaction.atomic():
        assert number_take(series="t", count=1) == range(3, 4)
    assert next_value("t") == 4


@pytest.mark.django_db(transaction=True)
def test_the_first_take_of_a_series_rolled_back_leaves_no_row() -> None:
    with transaction.atomic():
        number_take(series="t", count=2)
        transaction.set_rollback(True)
    assert not NumberSeries.objects.filter(key="t").exists()


@pytest.mark.django_db(transaction=True)
def test_numbers_are_only_taken_inside_a_transaction() -> None:
    with pytest.raises(TransactionManagementError):
        number_take(series="t")
    assert not NumberSeries.objects.exists()


@pytest.mark.django_db
def test_a_full_series_raises_and_takes_nothing() -> None:
    assert number_take(series="t", count=8, maximum=10) == range(1, 9)
    with pytest.raises(NumberSeriesExhausted) as caught:
        number_take(series="t", count=3, maximum=10)
    assert caught.value.code == "number_series_exhausted"
    with translation.override("zh-hans"):
        assert caught.value.messages == ["号段t已用尽：无法再分配3个号码（上限10）"]
    assert next_value("t") == 9
    assert number_take(series="t", count=2, maximum=10) == range(9, 11)
    with pytest.raises(NumberSeriesExhausted):
        number_take(series="t", count=1, maximum=10)
    with pytest.raises(NumberSeriesExhausted):
        number_take(series="new", count=11, maximum=10)
    assert not NumberSeries.objects.filter(key="new").exists()


@pytest.mark.django_db
def test_the_sequence_width_of_each_document_kind_is_enforced() -> None:
    NumberSeries.objects.create(key="sheet:32:202611", next_value=10**8 - 1)
    assert summary_sheet_numbers(province="32", issued_on=DAY, count=1) == ["3220261199999999"]
    with pytest.raises(NumberSeriesExhausted):
        summary_sheet_numbers(province="32", issued_on=DAY, count=1)
    NumberSeries.objects.create(key="fiscal:32:26", next_value=10**10 - 2)
    with pytest.raises(NumberSeriesExhausted):
        fiscal_receipt_numbers(province="32", issued_on=DAY, count=3)
    assert fiscal_receipt_numbers(province="32", issued_on=DAY, count=2)[1] == ["9999999998", "9999999999"]
    NumberSeries.objects.create(key="digital:26:32:1", next_value=10**15)
    with pytest.raises(NumberSeriesExhausted):
        digital_invoice_numbers(province="32", issued_on=DAY, count=1)


# --- concurrency ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_share_a_series_without_duplicates_or_gaps() -> None:
    """4 threads, each with its own connection, take blocks of the same (not yet existing) series in a loop,
    rolling back every fourth transaction; the committed numbers are exactly 1..N."""
    series, workers, rounds = "digital:26:32:1", 4, 40
    committed: list[list[int]] = [[] for _ in range(workers)]
    rolled_back = [0] * workers
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def work(index: int) -> None:
        rng = random.Random(index)
        try:
            start.wait()
            for round_no in range(rounds):
                with transaction.atomic():
                    numbers = number_take(series=series, count=rng.randint(1, 5))
                    time.sleep(rng.random() / 1000)  # hold the row lock a little, as a real issuer does
                    if round_no % 4 == index % 4:
                        transaction.set_rollback(True)
                        rolled_back[index] += 1
                        continue
                committed[index].extend(numbers)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert all(rolled_back)
    taken = sorted(n for numbers in committed for n in numbers)
    assert taken == list(range(1, len(taken) + 1))
    assert next_value(series) == len(taken) + 1
    assert len(taken) >= workers * rounds * 3 // 4
