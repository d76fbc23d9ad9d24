"""The billing base: members ⋈ pupil counts of the tariff's rentrée ⋈ register, one row per member."""

from __future__ import annotations

from datetime import date

import polars as pl

from billing.core.model import Tariff
from billing.core.problems import Problem


def billable_mask(annee: int) -> pl.Expr:
    """adherente/retiree members with at least one day of membership in ``annee`` (DESIGN §4)."""
    first, last = date(annee, 1, 1), date(annee, 12, 31)
    return (
        pl.col("statut").is_in(["adherente", "retiree"])
        & pl.col("date_effet").is_not_null()
        & (pl.col("date_effet") <= last)
        & (pl.col("date_retrait").is_null() | (pl.col("date_retrait") > first))
    )


def build_billing_base(members: pl.DataFrame, counted, register, *, tariff: Tariff, annee: int,
                       annuaire: pl.DataFrame | None = None, tariff_display: str = "tarifs.toml",
                       counted_codes: set[str] | None = None) -> tuple[pl.DataFrame, list[Problem]]:
    """members ⋈ counts of the tariff's rentrée ⋈ register (columns: see billing.core.model).

    The population is the ``population`` column of adhesions.csv where it holds a value, else the
    register's population municipale; ``population_source`` says which (DESIGN §4b)."""
    from billing.inputs.counts import count_members

    valid = members.filter(pl.col("code_insee").is_not_null())
    billable = set(valid.filter(billable_mask(annee))["code_insee"].to_list())
    if counted_codes is not None:  # DESIGN §4c: a member whose competences use no counts needs no counts
        billable &= counted_codes
    counts, problems = count_members(counted, valid, register, rentree=tariff.rentree, billable_codes=billable)
    problems += tariff_member_problems(valid, counted, tariff, tariff_display)
    facts = register.facts_frame(valid["code_insee"].to_list())
    declared = (pl.col("population").cast(pl.Int64) if "population" in valid.columns else pl.lit(None, pl.Int64))
    mode = pl.col("mode_contribution") if "mode_contribution" in valid.columns else pl.lit("titre")
    base = (
        valid.select("code_insee", "statut", "date_effet", "date_retrait", "siret", "groupe",
                     "deliberation_commune", "deliberation_syndicat", "delegue", "_row",
                     declared.alias("_population_declaree"), mode.fill_null("titre").alias("mode_contribution"))
        .rename({"_row": "source_row"})
        .join(facts, on="code_insee", how="left")
        .join(counts, on="code_insee", how="left")
        .with_columns(pl.col("ecoles").fill_null(0).cast(pl.Int64), pl.col("eleves").fill_null(0).cast(pl.Int64),
                      pl.col("classes").fill_null(0).cast(pl.Int64),
                      pl.when(pl.col("_population_declaree").is_not_null()).then(pl.lit("adhesions"))
                      .when(pl.col("population").is_not_null()).then(pl.lit("referentiel")).alias("population_source"),
                      pl.coalesce("_population_declaree", pl.col("population").cast(pl.Int64)).alias("population"))
        .drop("_population_declaree")
    )
    if annuaire is not None and "siret" in annuaire.columns:
        base = _siret_from_annuaire(base, counted.schools, annuaire)
    return base.sort("code_insee"), problems


def tariff_member_problems(members: pl.DataFrame, counted, tariff: Tariff, display: str) -> list[Problem]:
    """The rules of DESIGN §4b that need the members and the counts: a group override naming no member
    group, part_classe with a per-commune count form that has no « classes » column."""
    from billing.core import problems as P

    problems = []
    present = set(members["groupe"].drop_nulls().to_list()) if "groupe" in members.columns else set()
    for group, where in [(g, "groupes") for g in tariff.groupes] + [
            (g, f"competences.{c.nom}.groupes") for c in tariff.competences for g in c.tariff.groupes]:
        if group.nom not in present:
            known = ", ".join(f"« {g} »" for g in sorted(present)) or "aucun (colonne « groupe » vide)"
            problems.append(P.error(display, group.ligne, f"{tariff.annee}.{where}.{group.nom}",
                                    f"le groupe « {group.nom} » ne correspond à aucun membre d'adhesions.csv "
                                    f"(groupes présents : {known})",
                                    suggestion="Écrivez le nom du groupe exactement comme dans la colonne « groupe » "
                                               "d'adhesions.csv."))
    if any(t.uses_classes for t in (tariff, *(c.tariff for c in tariff.competences))) and not getattr(counted, "has_classes", True):
        problems.append(P.error(display, tariff.line_of("part_classe"), f"{tariff.annee}.part_classe",
                                f"« part_classe » facture chaque classe, mais {counted.display} (une ligne par commune) "
                                f"n'a pas de colonne « classes »",
                                suggestion="Ajoutez une colonne « classes » au fichier d'effectifs, ou utilisez "
                                           "l'export officiel par école (« Nombre total de classes »)."))
    return problems


def _siret_from_annuaire(base: pl.DataFrame, schools: pl.DataFrame, annuaire: pl.DataFrame) -> pl.DataFrame:
    """A public school's SIREN_SIRET is its commune's: fill a member's missing SIRET from it."""
    public = schools.filter(pl.col("secteur") == "public").select("uai", "code_insee")
    sirets = (
        public.join(annuaire.select("uai", pl.col("siret").alias("siret_annuaire")), on="uai", how="inner")
        .filter(pl.col("siret_annuaire").str.contains(r"^\d{14}$"))
        .group_by("code_insee").agg(pl.col("siret_annuaire").mode().first())
    )
    return (
        base.join(sirets, on="code_insee", how="left")
        .with_columns(pl.coalesce("siret", "siret_annuaire").alias("siret"))
        .drop("siret_annuaire")
    )
