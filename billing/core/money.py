"""Exact money: every amount is an integer number of cents, every unit price an
integer number of ten-thousandths of a euro (« unités de taux »).

Decimal appears only at the edges (reading a typed amount, display, words); the one
rounding rule is half-up (half away from zero), applied by integer arithmetic.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, ROUND_HALF_UP
from fractions import Fraction

import polars as pl

CENT = Decimal("0.01")
RATE_UNITS_PER_EURO = 10_000  # a rate is stored in 1/10 000 €
RATE_UNITS_PER_CENT = 100

# French display: narrow no-break space between thousands, decimal comma, a true minus sign,
# no-break space before the euro sign (« −1 234,50 € »).
THOUSANDS_SEPARATOR = "\u202f"
MINUS = "−"
EURO_SUFFIX = "\u00a0€"


class MoneyError(ValueError):
    """A value that cannot be an amount or a rate (message in French)."""


def div_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, exactly.

    For numerator ≥ 0 this is ``(2·n + d) // (2·d)``, the formula of the contract.
    """
    if denominator == 0:
        raise ZeroDivisionError("division par zéro")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((-2 * numerator + denominator) // (2 * denominator))


def div_half_up_each(numerators: list[int], denominator: int) -> list[int]:
    """``div_half_up`` over many numerators ≥ 0 and one denominator > 0, without a call per value."""
    double = 2 * denominator
    return [(2 * n + denominator) // double for n in numerators]


def div_half_up_column(numerator: pl.Expr, denominator: int | pl.Expr) -> pl.Expr:
    """``div_half_up`` column-wise in Int64 (denominator > 0): the same rule, for polars frames."""
    positive = (2 * numerator + denominator) // (2 * denominator)
    negative = -((-2 * numerator + denominator) // (2 * denominator))
    return pl.when(numerator >= 0).then(positive).otherwise(negative)


def fraction_to_cents(value: Fraction) -> int:
    """An exact rational number of cents, rounded half-up to a whole cent."""
    return div_half_up(value.numerator, value.denominator)


def line_cents(quantity: int, rate_units: int) -> int:
    """quantity × rate (in 1/10 000 €) rounded half-up to the cent."""
    return div_half_up(quantity * rate_units, RATE_UNITS_PER_CENT)


def decimal_to_cents(value: Decimal) -> int:
    """A Decimal amount in euros -> cents, refusing more than two decimals."""
    cents = value * 100
    if cents != cents.to_integral_value():
        raise MoneyError(f"« {value} » a plus de deux décimales (un montant s'exprime au centime)")
    return int(cents)


def decimal_to_rate_units(value: Decimal) -> int:
    """A Decimal unit price in euros -> 1/10 000 €, refusing more than four decimals."""
    units = value * RATE_UNITS_PER_EURO
    if units != units.to_integral_value():
        raise MoneyError(f"« {value} » a plus de quatre décimales (un prix unitaire s'exprime au 1/10 000 €)")
    return int(units)


def round_decimal_half_up(value: Decimal, places: int = 2) -> Decimal:
    """The one Decimal rounding rule of the product (display and reading)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def rate_units_to_decimal(units: int) -> Decimal:
    """A rate as a Decimal with at least 2 and at most 4 decimals (1.2 -> 1.20, 1.4375)."""
    value = Decimal(units) / RATE_UNITS_PER_EURO
    value = value.quantize(Decimal("0.0001"))
    for places in (2, 3):
        q = value.quantize(Decimal(1).scaleb(-places))
        if q == value:
            return q
    return value


def cents_to_str(cents: int) -> str:
    """Machine form: « 1234.50 » (point, two decimals)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def ratio_to_str(numerator: int, denominator: int, places: int = 6) -> str:
    """Machine form of a ratio ≥ 0, half-up to ``places`` decimals: 306/366 -> « 0.836066 »."""
    scale = 10**places
    whole, frac = divmod(div_half_up(numerator * scale, denominator), scale)
    return f"{whole}.{frac:0{places}d}"


def format_count(n: int) -> str:
    """A count or any integer for display: « 65\u202f141 », « −1\u202f100 », « 7 »."""
    sign = MINUS if n < 0 else ""
    return sign + f"{abs(n):,}".replace(",", THOUSANDS_SEPARATOR)


def format_euros(cents: int) -> str:
    """Display form: « 1 234,50 € » (French grouping, comma decimals)."""
    sign = MINUS if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{format_count(whole)},{part:02d}{EURO_SUFFIX}"


def format_rate(units: int) -> str:
    """Display form of a unit price (1/10 000 €): « 1,20 € », « 1,4576 € », two to four decimals."""
    text = str(rate_units_to_decimal(units))
    sign = MINUS if text.startswith("-") else ""
    whole, _, frac = text.lstrip("-").partition(".")
    return f"{sign}{format_count(int(whole))},{frac}{EURO_SUFFIX}"


def _counts_text(values: pl.Series) -> pl.Series:
    text = values.cast(pl.Utf8)
    grouped = ((values >= 1000) | (values < 0)).arg_true()  # only these differ from the plain digits
    if grouped.len():
        text = text.scatter(grouped, [format_count(v) for v in values.gather(grouped).to_list()])
    return text


def format_count_column(values: pl.Expr) -> pl.Expr:
    """``format_count`` column-wise (an Int64 column as French text)."""
    return values.map_batches(_counts_text, return_dtype=pl.Utf8, is_elementwise=True)


def format_euros_column(cents: pl.Expr) -> pl.Expr:
    """``format_euros`` column-wise (integer cents as « 1 234,50 € »)."""
    n = cents.abs()
    sign = pl.when(cents < 0).then(pl.lit(MINUS)).otherwise(pl.lit(""))
    return pl.format(f"{{}}{{}},{{}}{EURO_SUFFIX}", sign, format_count_column(n // 100),
                     (n % 100).cast(pl.Utf8).str.zfill(2))


def parse_decimal_text(text: str) -> Decimal:
    """Parse a number as a French person types it: « 1 100 », « 1,20 », « 1,20 € », « 1.20 ».

    Raises MoneyError with a French message when the text is not a number.
    """
    raw = text
    cleaned = (
        text.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace("€", "").replace("EUR", "").strip()
    )
    if cleaned.count(",") == 1 and "." in cleaned and cleaned.index(".") < cleaned.index(","):
        cleaned = cleaned.replace(".", "").replace(",", ".")  # « 1.234,56 »
    elif cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    elif "," in cleaned and "." in cleaned and cleaned.index(",") < cleaned.index("."):
        cleaned = cleaned.replace(",", "")  # « 1,234.56 »
    if cleaned.startswith("+"):
        cleaned = cleaned[1:]
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise MoneyError(f"« {raw} » n'est pas un nombre") from None
    if not value.is_finite():
        raise MoneyError(f"« {raw} » n'est pas un nombre")
    return value


_UNITS_WORDS_CACHE: dict[int, str] = {}


def _words(n: int) -> str:
    from num2words import num2words  # imported lazily: only notices need it

    text = _UNITS_WORDS_CACHE.get(n)
    if text is None:
        text = num2words(n, lang="fr")
        if len(_UNITS_WORDS_CACHE) < 50_000:
            _UNITS_WORDS_CACHE[n] = text
    return text


def amount_in_words(cents: int) -> str:
    """« mille deux cent trente-quatre euros et cinquante centimes » (legal wording of the arrêté)."""
    if cents < 0:
        return "moins " + amount_in_words(-cents)
    euros, rest = divmod(cents, 100)
    if euros == 0:
        euro_part = "zéro euro"
    else:
        words = _words(euros)
        # « un million d'euros », « deux millions d'euros »: de before a bare million/milliard
        if words.endswith(("million", "millions", "milliard", "milliards")):
            euro_part = f"{words} d'euros"
        else:
            euro_part = f"{words} euro" if euros == 1 else f"{words} euros"
    if rest == 0:
        return euro_part
    cents_part = f"{_words(rest)} centime" if rest == 1 else f"{_words(rest)} centimes"
    return f"{euro_part} et {cents_part}"
