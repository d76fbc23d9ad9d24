"""budget.csv: the amounts voted per M57 account, to compare the year's billing with."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl

from billing.core import problems as P
from billing.core.money import MoneyError, decimal_to_cents
from billing.core.problems import Problem

BUDGET_COLUMNS = {
    "annee": ("annee", "exercice", "annee_budgetaire"),
    "compte": ("compte", "article", "imputation", "compte_m57"),
    "libelle": ("libelle", "intitule"),
    "montant_prevu": ("montant_prevu", "montant", "prevu", "credits_ouverts", "bp"),
}


def read_budget(path: Path, *, display: str) -> tuple[pl.DataFrame | None, list[Problem]]:
    from billing.inputs import readers
    from billing.inputs.members import schema_problems
    from schemas.inputs import Budget

    table = readers.read_table(path, display=display, columns=BUDGET_COLUMNS,
                               required=("annee", "compte", "montant_prevu"))
    problems = list(table.problems)
    if P.errors_of(problems):
        return None, problems
    typed, found = readers.coerce(table, {"annee": "int", "compte": "text", "montant_prevu": "decimal"})
    problems += found
    cents = []
    header = table.headers.get("montant_prevu", "montant_prevu")
    for row, value in typed.select("_row", "montant_prevu").iter_rows():
        if value is None:
            cents.append(None)
            continue
        try:
            cents.append(decimal_to_cents(Decimal(value)))
        except MoneyError as exc:
            problems.append(P.error(display, row, header, str(exc), value=value))
            cents.append(None)
    typed = typed.with_columns(pl.Series("montant_prevu_cents", cents, dtype=pl.Int64))
    problems += schema_problems(Budget, typed, table, column_names={"montant_prevu_cents": header})
    if "libelle" not in typed.columns:
        typed = typed.with_columns(pl.lit(None, pl.Utf8).alias("libelle"))
    return typed, problems
