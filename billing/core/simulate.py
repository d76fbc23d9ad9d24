"""The committee's what-ifs: the same pricing code on a modified tariff, and the rate that covers a cost.

Nothing here reads, writes or issues: it prices the year's billing base again with a
tariff already changed by ``--set`` overrides (billing.inputs.scenarios validates them
like tarifs.toml), or searches the unit price whose billed total reaches a target
without exceeding it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Sequence

import polars as pl

from billing.core.errors import UserError
from billing.core.problems import BillingError
from billing.core.model import Tariff
from billing.core.money import (
    MoneyError, decimal_to_cents, format_euros, parse_decimal_text, rate_units_to_decimal,
)
from billing.core.pricing import Priced, price_year

SOLVABLE = ("part_eleve", "part_ecole", "part_fixe", "part_habitant", "part_classe")
MAX_UNITS = 10**10  # 1 000 000 € per unit: beyond any committee's imagination


@dataclass(frozen=True)
class Scenario:
    name: str
    tariff: Tariff
    priced: Priced

    @property
    def total_cents(self) -> int:
        return billed_total(self.priced)


@dataclass(frozen=True)
class Solution:
    """The unit price found by ``solve_rate`` (units: 1/10 000 € for prices, cents for part_fixe)."""

    parameter: str
    units: int
    decimals: int
    total_cents: int
    next_units: int | None
    next_total_cents: int | None
    target_cents: int

    @property
    def value_text(self) -> str:
        return self._text(self.units)

    @property
    def next_value_text(self) -> str:
        return self._text(self.next_units or 0)

    def _text(self, units: int) -> str:
        if self.parameter == "part_fixe":
            return str((Decimal(units) / 100).quantize(Decimal(1).scaleb(-self.decimals)))
        value = Decimal(units) / 10_000
        return str(value.quantize(Decimal(1).scaleb(-self.decimals))) if self.decimals else str(int(value))


def billed_total(priced: Priced) -> int:
    c = priced.contributions
    return int(c.filter(pl.col("situation") == "facturee")["montant_cents"].sum() or 0)


def simulate(billing_base: pl.DataFrame, tariff: Tariff, *, annee: int, name: str = "simulation") -> Scenario:
    """The year priced again with ``tariff`` (already modified and validated)."""
    return Scenario(name, tariff, price_year(billing_base, tariff, annee=annee))


def with_rate(tariff: Tariff, parameter: str, units: int) -> Tariff:
    """The same tariff with one unit price (or part_fixe in cents) replaced: used by the rate solver."""
    if parameter == "part_eleve":
        return replace(tariff, part_eleve_units=units, tranches=())
    if parameter == "part_ecole":
        return replace(tariff, part_ecole_units=units)
    if parameter == "part_fixe":
        return replace(tariff, part_fixe_cents=units)
    if parameter == "part_habitant":
        return replace(tariff, part_habitant_units=units)
    if parameter == "part_classe":
        return replace(tariff, part_classe_units=units)
    raise ValueError(parameter)


MAX_TARGET_EUROS = 1_000_000_000


def parse_target(text: str) -> int:
    try:
        value = parse_decimal_text(text)
        if value <= 0:
            raise MoneyError("la cible doit être un montant positif")
        if value >= MAX_TARGET_EUROS:  # « 1e400 »: no tariff answers it, and its 400 digits say nothing
            raise MoneyError(f"« {text} » : cible invraisemblable (moins de 1 000 000 000 € attendu)")
        return decimal_to_cents(value)
    except MoneyError as exc:  # located on --cible: a usage error (exit 2), as a bad --set is
        raise BillingError.single(str(exc), file="--cible") from None


def solve_rate(billing_base: pl.DataFrame, tariff: Tariff, target_cents: int, *, annee: int,
               parameter: str = "part_eleve") -> Solution:
    """The unit price with the fewest decimals (at most 4) whose billed total comes closest to
    ``target_cents`` without exceeding it. Exact: every candidate is priced by the real code, so
    plancher, plafond, bands and prorata are honoured; the total never decreases with the price,
    which makes a bisection valid."""
    if parameter not in SOLVABLE:
        raise UserError(f"--cible-sur : paramètre « {parameter} » non résoluble (possibles : {', '.join(SOLVABLE)})")
    if tariff.mode != "bareme":
        raise UserError("--cible n'a de sens qu'en mode « bareme » : en « repartition », le total est montant_total")
    cache: dict[int, int] = {}

    def total(units: int) -> int:
        if units not in cache:
            cache[units] = billed_total(price_year(billing_base, with_rate(tariff, parameter, units), annee=annee))
        return cache[units]

    finest = 1  # 1/10 000 € for a price, 1 cent for part_fixe
    if total(0) > target_cents:
        raise UserError(f"aucun tarif ne convient : même à 0, les autres parts donnent déjà "
                        f"{format_euros(total(0))}, plus que la cible de {format_euros(target_cents)}")
    low, high = 0, 1
    while total(high) <= target_cents:
        if high >= MAX_UNITS:
            break
        low, high = high, high * 2
    if total(high) <= target_cents:
        raise UserError(f"aucun tarif ne permet d'atteindre {format_euros(target_cents)} : le total plafonne à "
                        f"{format_euros(total(high))} (plafond atteint par toutes les communes, ou aucune commune "
                        f"concernée par « {parameter} »)")
    while high - low > finest:
        middle = (low + high) // 2
        if total(middle) <= target_cents:
            low = middle
        else:
            high = middle
    best_total = total(low)
    steps = [(0, 10_000), (1, 1_000), (2, 100), (3, 10), (4, 1)] if parameter != "part_fixe" else [(0, 100), (2, 1)]
    for decimals, step in steps:
        candidate = low - low % step
        if total(candidate) == best_total:
            following = candidate + step
            return Solution(parameter, candidate, decimals, best_total, following, total(following), target_cents)
    raise AssertionError("unreachable: the finest step always matches")  # pragma: no cover


def comparison_frame(current: Priced, scenarios: Sequence[Scenario]) -> pl.DataFrame:
    """One row per commune: the current amount and each scenario's (billed or indicative)."""
    def amounts(priced: Priced, column: str) -> pl.DataFrame:
        return priced.contributions.select(
            "code_insee", "commune", "situation",
            pl.when(pl.col("situation") == "indicative").then(pl.col("montant_indicatif_cents"))
            .otherwise(pl.col("montant_cents")).alias(column))

    frame = amounts(current, "montant_actuel")
    for index, scenario in enumerate(scenarios):
        frame = frame.join(amounts(scenario.priced, f"montant_{index}").select("code_insee", f"montant_{index}"),
                           on="code_insee", how="left")
    return frame.sort("code_insee")


def rate_text(tariff: Tariff, parameter: str) -> str:
    if parameter == "part_fixe":
        return str((Decimal(tariff.part_fixe_cents) / 100).quantize(Decimal("0.01")))
    units = {"part_eleve": tariff.part_eleve_units, "part_ecole": tariff.part_ecole_units,
             "part_habitant": tariff.part_habitant_units, "part_classe": tariff.part_classe_units}[parameter]
    return str(rate_units_to_decimal(units or 0))


def with_solution(tariff: Tariff, solution: Solution) -> Tariff:
    return with_rate(tariff, solution.parameter, solution.units)

