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
                       annuaire: pl.DataFrame | None = None) -> tuple[pl.DataFrame, list[Problem]]:
    """members ⋈ counts of the tariff's rentrée ⋈ register (columns: see billing.core.model)."""
    from billing.inputs.counts import count_members

    valid = members.filter(pl.col("code_insee").is_not_null())
    billable = set(valid.filter(billable_mask(annee))["code_insee"].to_list())
    counts, problems = count_members(counted, valid, register, rentree=tariff.rentree, billable_codes=billable)
    facts = register.facts_frame(valid["code_insee"].to_list())
    base = (
        valid.select("code_insee", "statut", "date_effet", "date_retrait", "siret", "groupe",
                     "deliberation_commune", "deliberation_syndicat", "delegue", "_row")
        .rename({"_row": "source_row"})
        .join(facts, on="code_insee", how="left")
        .join(counts, on="code_insee", how="left")
        .with_columns(pl.col("ecoles").fill_null(0).cast(pl.Int64), pl.col("eleves").fill_null(0).cast(pl.Int64))
    )
    if annuaire is not None and "siret" in annuaire.columns:
        base = _siret_from_annuaire(base, counted.schools, annuaire)
    return base.sort("code_insee"), problems


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
