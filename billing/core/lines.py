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


def tariff_columns(priced) -> list[tuple[str, str]]:
    """(key, header) of the §4b columns a contributions table shows for this priced year, only those that
    say something (a year without any §4b key shows none: its tables stay as they were)."""
    tariff, c = priced.tariff, priced.contributions
    if "sous_seuil" not in c.columns:
        return []
    columns = []
    if tariff.uses_classes:
        columns.append(("classes", "Classes"))
    if tariff.uses_population:
        columns += [("population", "Population"), ("population_source", "Source de la population")]
    if any(t.strates for t in (tariff, *(tariff.for_group(g.nom) for g in tariff.groupes))):
        columns.append(("strate", "Strate"))
    if tariff.groupes:
        columns.append(("groupe_tarif", "Tarif du groupe"))
    if c.filter(pl.col("mode_contribution") == "fiscalisee").height:
        columns.append(("mode_contribution", "Mode de contribution"))
    if c["sous_seuil"].any():
        columns.append(("sous_seuil", "Seuil de recouvrement"))
    return columns


def tariff_column_values(priced, row: dict, columns: list[tuple[str, str]]) -> list:
    """The values of ``tariff_columns`` for one contributions row, as a person reads them."""
    from billing.core.money import format_euros

    tariff = priced.tariff
    values = []
    for key, _ in columns:
        if key == "population_source":
            values.append({"adhesions": "adhesions.csv", "referentiel": "référentiel"}.get(row.get(key)))
        elif key == "groupe_tarif":
            values.append(row.get("groupe") if tariff.group(row.get("groupe")) is not None else None)
        elif key == "mode_contribution":
            values.append("fiscalisée" if row.get(key) == "fiscalisee" else "titre")
        elif key == "sous_seuil":
            values.append(f"sous le seuil ({format_euros(tariff.seuil_cents)})" if row.get(key) else None)
        else:
            values.append(row.get(key))
    return values
