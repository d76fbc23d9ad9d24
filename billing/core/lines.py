"""Notice lines as polars frames: the one constructor every kind of line goes through, and the lines of
the parts priced on classes and population (DESIGN §4b). Pure, like ``billing.core.pricing``."""

from __future__ import annotations

import polars as pl

from billing.core.model import Tariff
from billing.core.money import format_count, format_count_column


def plural(count: pl.Expr, singular: str, plural: str) -> pl.Expr:
    """French agreement: 0 and 1 take the singular."""
    return pl.when(count.abs() >= 2).then(pl.lit(plural)).otherwise(pl.lit(singular))


def line_frame(frame: pl.DataFrame, *, rang: int, code: str | pl.Expr, libelle: str | pl.Expr,
                quantite: pl.Expr | None, taux: int | pl.Expr | None, montant: pl.Expr, formule: str,
                detail: str | pl.Expr) -> pl.DataFrame:
    """One kind of line for every row of ``frame`` (rang orders the kinds within a notice)."""
    text = lambda v: v if isinstance(v, pl.Expr) else pl.lit(v, pl.Utf8)  # noqa: E731
    return frame.select(
        pl.col("_idx"),
        pl.col("code_insee"),
        pl.lit(rang, pl.Int64).alias("rang"),
        text(code).alias("code"),
        text(libelle).alias("libelle"),
        (quantite if quantite is not None else pl.lit(None)).cast(pl.Int64).alias("quantite"),
        (taux if isinstance(taux, pl.Expr) else pl.lit(taux)).cast(pl.Int64).alias("taux_units"),
        montant.cast(pl.Int64).alias("montant_cents"),
        pl.lit(formule, pl.Utf8).alias("formule"),
        text(detail).cast(pl.Utf8).alias("detail"),
    )


POPULATION_SOURCES = {"adhesions": "population de référence d'adhesions.csv",
                      "referentiel": "population municipale du référentiel"}


def strate_text(tariff: Tariff, number: int) -> str:
    """« de 500 à 1 999 habitants »: the population band ``number`` (1…) of the tariff, bounds inclusive."""
    lower = tariff.strates[number - 2].jusqu_a + 1 if number > 1 else 0
    upper = tariff.strates[number - 1].jusqu_a
    if upper is None:
        return f"{format_count(lower)} habitants et plus"
    return f"jusqu'à {format_count(upper)} habitants" if number == 1 else \
        f"de {format_count(lower)} à {format_count(upper)} habitants"


def population_lines(priced: pl.DataFrame, tariff: Tariff, *, first_rank: int) -> list[pl.DataFrame]:
    """The §4b parts: per class (first_rank), per inhabitant (+1), the population band's flat amount (+2)."""
    source = pl.col("population_source").replace_strict(POPULATION_SOURCES, default="population municipale")
    people = pl.format("{} {}, {}", format_count_column(pl.col("population")),
                       plural(pl.col("population"), "habitant", "habitants"), source)
    lines: list[pl.DataFrame] = []
    if tariff.part_classe_units > 0:
        classes = pl.col("classes")
        lines.append(line_frame(
            priced, rang=first_rank, code="part_classe", libelle="Part par classe", quantite=classes,
            taux=tariff.part_classe_units, montant=pl.col("_classe"), formule="produit",
            detail=pl.format(f"rentrée {tariff.rentree} : {{}} {{}} des écoles publiques", format_count_column(classes),
                             plural(classes, "classe", "classes"))))
    if tariff.part_habitant_units > 0:
        lines.append(line_frame(
            priced, rang=first_rank + 1, code="part_habitant", libelle="Part par habitant",
            quantite=pl.col("population"), taux=tariff.part_habitant_units, montant=pl.col("_habitant"),
            formule="produit", detail=people))
    if tariff.strates:
        label = pl.lit(None, pl.Utf8)
        for number in range(len(tariff.strates), 0, -1):
            label = pl.when(pl.col("_strate") == number).then(
                pl.lit(f"Strate {number} de population ({strate_text(tariff, number)})")).otherwise(label)
        lines.append(line_frame(priced, rang=first_rank + 2, code="strate", libelle=label, quantite=None, taux=None,
                                 montant=pl.col("_strate_montant"), formule="valeur", detail=people))
    return lines
