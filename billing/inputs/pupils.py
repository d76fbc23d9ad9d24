"""The two school tables: effectifs (in its three forms) and the Annuaire de l'éducation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import polars as pl

from billing.core.problems import Problem
from billing.inputs.csvfile import _separator_problem
from billing.inputs.grid import Table, _Grid, _error, _letters, _table, fold_header
from billing.inputs.tables import _missing_columns, _read_grid, _single_column, read_table


@dataclass(frozen=True, eq=False)
class PupilCounts:
    """effectifs.csv/.xlsx in whichever of its three forms (``export_officiel``, ``par_ecole``, ``par_commune``)."""

    table: Table
    form: str
    problems: tuple[Problem, ...] = ()


PUPIL_COUNT_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "rentree": ("rentree", "rentree_scolaire", "annee_scolaire"),
    "uai": ("uai", "numero_ecole", "numero_de_l_ecole", "numero_uai", "code_uai"),
    "denomination": ("denomination_principale",),
    "patronyme": ("patronyme", "patronyme_uai"),
    "ecole": ("ecole", "nom_ecole", "nom_de_l_ecole", "nom_etablissement"),
    "commune_nom": ("commune_nom", "commune", "nom_commune", "libelle_commune"),
    "code_postal": ("code_postal", "cp"),
    "code_insee": ("code_insee", "code_commune_insee", "code_commune", "insee", "cog"),
    "secteur": ("secteur", "secteur_public_prive", "statut_public_prive"),
    "eleves": ("eleves", "nombre_total_eleves", "nombre_total_d_eleves", "nb_eleves", "nombre_d_eleves",
               "effectif"),
    "classes": ("classes", "nombre_total_classes", "nombre_total_de_classes", "nb_classes", "nombre_de_classes"),
    "ecoles": ("ecoles", "nombre_ecoles", "nombre_d_ecoles", "nb_ecoles"),
}
PUPIL_COUNT_OUTPUT = ("rentree", "uai", "ecole", "commune_nom", "code_postal", "code_insee", "secteur", "eleves",
                      "classes", "ecoles")
OFFICIAL_EXPORT_HEADERS = frozenset({
    "rentree_scolaire", "numero_ecole", "numero_de_l_ecole", "denomination_principale", "nombre_total_eleves",
    "nombre_total_d_eleves", "nombre_total_classes", "nombre_total_de_classes",
})
_WHERE = ("code_insee", "commune_nom")
PUPIL_COUNT_REQUIRED = {
    "export_officiel": (("rentree",), ("uai",), _WHERE, ("secteur",), ("eleves",)),
    "par_ecole": (("rentree",), ("uai",), _WHERE, ("secteur",), ("eleves",)),
    "par_commune": (("rentree",), _WHERE, ("ecoles",), ("eleves",)),
}


def read_pupil_counts(path: Path, *, display: str) -> PupilCounts:
    """effectifs: the official export (labelled or API headers), one row per school, or one per commune."""
    grid = _read_grid(Path(path), display=display, columns=PUPIL_COUNT_COLUMNS, required=("eleves",))
    if not grid.readable:
        return PupilCounts(_table(grid, display=display, problems=grid.problems), "inconnue")
    folded = {fold_header(h) for h in grid.headers}
    if folded & OFFICIAL_EXPORT_HEADERS:
        form = "export_officiel"
    elif "uai" in grid.positions:
        form = "par_ecole"
    elif "ecoles" in grid.positions:
        form = "par_commune"
    else:
        table = _table(grid, display=display, problems=grid.problems)
        return PupilCounts(table, "inconnue", (_unknown_form(grid, display=display),))
    problems = list(grid.problems)
    problems += _missing_columns(grid, display=display, columns=PUPIL_COUNT_COLUMNS,
                                 required=PUPIL_COUNT_REQUIRED[form])
    frame, headers = grid.frame, {name: grid.headers[pos] for name, pos in grid.positions.items()}
    if form == "export_officiel" and "ecole" not in frame.columns and (
            "denomination" in frame.columns or "patronyme" in frame.columns):
        parts = [name for name in ("denomination", "patronyme") if name in frame.columns]
        frame = frame.with_columns(
            pl.concat_str([pl.col(p) for p in parts], separator=" ", ignore_nulls=True).alias("ecole"))
        headers["ecole"] = " + ".join(headers[p] for p in parts)
    frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(name)
                               for name in PUPIL_COUNT_OUTPUT if name not in frame.columns)
    frame = frame.with_columns(pl.when(pl.col("ecole") == "").then(None).otherwise(pl.col("ecole")).alias("ecole"))
    for name in ("denomination", "patronyme"):
        headers.pop(name, None)
    table = Table(display, frame.select(*PUPIL_COUNT_OUTPUT, "_row"), headers, grid.sheet, tuple(problems),
                  _letters(grid))
    return PupilCounts(table, form)


def _unknown_form(grid: _Grid, *, display: str) -> Problem:
    if _single_column(grid):
        return _separator_problem(display, grid.headers[0] if grid.headers else "")
    found = ", ".join(f"« {h} »" for h in grid.headers if h) or "aucune"
    return _error(display, None, None,
                  f"forme du fichier d'effectifs non reconnue ; colonnes trouvées : {found}",
                  suggestion="Attendu : l'export « Effectifs d'élèves par école » de l'Éducation nationale tel que "
                             "téléchargé, ou les colonnes rentree, uai, ecole, code_insee, secteur, eleves, classes "
                             "(une ligne par école), ou rentree, code_insee, ecoles, eleves (une ligne par commune).")


ANNUAIRE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "uai": ("uai", "identifiant_de_l_etablissement", "numero_uai", "numero_ecole"),
    "ecole": ("ecole", "nom_etablissement", "appellation_officielle"),
    "secteur": ("secteur", "statut_public_prive", "secteur_public_prive"),
    "code_postal": ("code_postal",),
    "code_insee": ("code_insee", "code_commune", "code_commune_insee"),
    "commune_nom": ("commune_nom", "nom_commune", "libelle_commune"),
    "siret": ("siret", "siren_siret"),
}


def read_annuaire(path: Path, *, display: str) -> Table:
    """The « Annuaire de l'éducation » export: UAI -> INSEE code of the school's commune (and its SIRET)."""
    return read_table(path, display=display, columns=ANNUAIRE_COLUMNS, required=("uai", "code_insee"))
