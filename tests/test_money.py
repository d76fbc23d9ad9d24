from decimal import Decimal, ROUND_HALF_UP
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from billing.core.money import (
    MoneyError,
    amount_in_words,
    cents_to_str,
    decimal_to_cents,
    decimal_to_rate_units,
    div_half_up,
    div_half_up_column,
    div_half_up_each,
    format_count,
    format_count_column,
    format_euros,
    format_euros_column,
    format_rate,
    line_cents,
    parse_decimal_text,
    rate_units_to_decimal,
    ratio_to_str,
)


def reference_half_up(numerator: int, denominator: int) -> int:
    """Independent reference: Decimal with ROUND_HALF_UP (half away from zero)."""
    value = Decimal(numerator) / Decimal(denominator)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(st.integers(-10**12, 10**12), st.integers(1, 10**6))
def test_div_half_up_matches_decimal_reference(numerator, denominator):
    from decimal import localcontext

    with localcontext() as ctx:
        ctx.prec = 60
        assert div_half_up(numerator, denominator) == reference_half_up(numerator, denominator)


def test_half_cent_rounds_up_as_the_contract_says():
    # 1.83 € × 1/366 = 0.005 € -> 0.01 €
    assert div_half_up(183 * 1, 366) == 1
    assert div_half_up(-183, 366) == -1
    assert div_half_up(4, 10) == 0


@given(st.integers(0, 10**6), st.integers(0, 10**7))
def test_line_cents_is_exact_product_rounded(quantity, rate_units):
    exact = Fraction(quantity * rate_units, 100)
    floor = exact.numerator // exact.denominator
    expected = floor + (1 if exact - floor >= Fraction(1, 2) else 0)
    assert line_cents(quantity, rate_units) == expected


@pytest.mark.parametrize("text,expected", [
    ("1 100", Decimal("1100")), ("1,20", Decimal("1.20")), ("1,20 €", Decimal("1.20")),
    ("1.234,56", Decimal("1234.56")), ("1,234.56", Decimal("1234.56")), ("1\u202f100,00\u00a0€", Decimal("1100.00")),
    ("+3", Decimal("3")), ("-2,5", Decimal("-2.5")), ("1.4375", Decimal("1.4375")),
])
def test_parse_decimal_text_reads_french_forms(text, expected):
    assert parse_decimal_text(text) == expected


@pytest.mark.parametrize("text", ["douze", "1,2,3", "", "NaN", "Infinity", "1..2"])
def test_parse_decimal_text_refuses_non_numbers(text):
    with pytest.raises(MoneyError):
        parse_decimal_text(text)


def test_amount_and_rate_precision_is_enforced():
    assert decimal_to_cents(Decimal("150.00")) == 15000
    assert decimal_to_rate_units(Decimal("1.4375")) == 14375
    with pytest.raises(MoneyError, match="plus de deux décimales"):
        decimal_to_cents(Decimal("1.005"))
    with pytest.raises(MoneyError, match="plus de quatre décimales"):
        decimal_to_rate_units(Decimal("1.00005"))


def test_display_forms():
    assert format_euros(123456789) == "1\u202f234\u202f567,89\u00a0€"
    assert format_euros(-5) == "−0,05\u00a0€"
    assert format_rate(12000) == "1,20\u00a0€"
    assert format_rate(14375) == "1,4375\u00a0€"
    assert rate_units_to_decimal(15) == Decimal("0.0015")
    assert cents_to_str(-105) == "-1.05"
    assert cents_to_str(132000) == "1320.00"


@pytest.mark.parametrize("n,text", [
    (0, "0"), (7, "7"), (999, "999"), (1000, "1\u202f000"), (65141, "65\u202f141"),
    (1234567, "1\u202f234\u202f567"), (-1100, "−1\u202f100"),
])
def test_format_count_groups_thousands_with_a_narrow_no_break_space(n, text):
    assert format_count(n) == text


@pytest.mark.parametrize("units,text", [
    (12000, "1,20\u00a0€"), (14576, "1,4576\u00a0€"), (14500, "1,45\u00a0€"), (14570, "1,457\u00a0€"),
    (1_500_000, "150,00\u00a0€"), (12_345_6789, "12\u202f345,6789\u00a0€"), (-12000, "−1,20\u00a0€"),
])
def test_format_rate_shows_two_to_four_decimals(units, text):
    assert format_rate(units) == text


def test_column_forms_write_the_same_literal_texts():
    import polars as pl

    frame = pl.DataFrame({"n": [0, 999, 65141, -1100, 10619640]}).select(
        format_count_column(pl.col("n")).alias("count"), format_euros_column(pl.col("n")).alias("euros"))
    assert frame["count"].to_list() == ["0", "999", "65\u202f141", "−1\u202f100", "10\u202f619\u202f640"]
    assert frame["euros"].to_list() == ["0,00\u00a0€", "9,99\u00a0€", "651,41\u00a0€", "−11,00\u00a0€",
                                        "106\u202f196,40\u00a0€"]


@given(st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=20), st.integers(1, 10**6))
def test_column_and_list_half_up_match_the_decimal_reference(numerators, denominator):
    import polars as pl

    expected = [reference_half_up(n, denominator) for n in numerators]
    column = pl.DataFrame({"n": numerators}).select(div_half_up_column(pl.col("n"), denominator))
    assert column.to_series().to_list() == expected
    positives = [abs(n) for n in numerators]
    assert div_half_up_each(positives, denominator) == [reference_half_up(n, denominator) for n in positives]


@pytest.mark.parametrize("cents,words", [
    (132000, "mille trois cent vingt euros"),
    (100, "un euro"),
    (101, "un euro et un centime"),
    (8000, "quatre-vingts euros"),
    (100000000, "un million d'euros"),
    (7150, "soixante et onze euros et cinquante centimes"),
    (5, "zéro euro et cinq centimes"),
])
def test_amount_in_words(cents, words):
    assert amount_in_words(cents) == words


def test_ratio_to_str_rounds_half_up_to_six_decimals():
    assert ratio_to_str(306, 366) == "0.836066"
    assert ratio_to_str(1, 1) == "1.000000"
    assert ratio_to_str(0, 365) == "0.000000"
    assert ratio_to_str(1, 8_000_000) == "0.000000" and ratio_to_str(1, 2_000_000) == "0.000001"
    assert ratio_to_str(10, 12) == "0.833333"
