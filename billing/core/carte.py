"""A year « à la carte » (DESIGN §4c): each competence priced alone over the members that transferred it,
a member's amount the sum of its competences' amounts; and the seuil applied to each debtor's total.

Pure, like ``billing.core.pricing``. The billing base of such a year carries ``competences`` (the names
the member transferred, comma-joined; empty: every competence that is not ``pour_tous``) and, when the
year has debtors, ``code_debiteur`` (the debtor's code, the member's own code_insee when it pays for
itself).

The priced year keeps the contract of ``price_year``: one contributions row per member (its amounts the
sums over its competences; its period and factor those of its first competence), and the lines of every
competence one after the other, numbered 1..n per member, each carrying its ``competence`` and the prorata factor of that competence (``facteur_num``,
``facteur_den``: competences may prorate differently). ``Priced``
also gets ``by_competence``: code_insee, competence, imputation, montant_cents (billed, 0 unless
facturee), montant_indicatif_cents (indicative rows), one row per member and competence it pays.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from billing.core.model import Competence, Tariff
from billing.core.pricing import Priced, price_year

BY_COMPETENCE_SCHEMA = {"code_insee": pl.Utf8, "competence": pl.Utf8, "imputation": pl.Utf8,
                        "montant_cents": pl.Int64, "montant_indicatif_cents": pl.Int64}


def transferred(competence: Competence, names: list[str]) -> pl.Expr:
    """The members that pay ``competence``: all of them when pour_tous, else those whose ``competences``
    names it (an empty cell: every competence that is not pour_tous)."""
    if competence.pour_tous:
        return pl.lit(True)
    listed = pl.col("competences").fill_null("").str.split(",").list.eval(pl.element().str.strip_chars())
    empty = pl.col("competences").fill_null("").str.strip_chars() == ""
    return empty | listed.list.contains(competence.nom)


def price_carte(billing_base: pl.DataFrame, tariff: Tariff, *, annee: int) -> Priced:
    """Every member's contribution, summed over the competences it pays, each priced alone."""
    names = [c.nom for c in tariff.competences]
    base = billing_base if "competences" in billing_base.columns else \
        billing_base.with_columns(pl.lit(None, pl.Utf8).alias("competences"))
    rows, lines, amounts = [], [], []
    for rank, competence in enumerate(tariff.competences):
        members = base.filter(transferred(competence, names))
        if members.height == 0:
            continue
        own = replace(competence.tariff, seuil_cents=tariff.seuil_cents)
        priced = price_year(members, own, annee=annee)
        rows.append(priced.contributions.with_columns(pl.lit(rank, pl.Int64).alias("_rang")))
        factors = priced.contributions.select("code_insee", "facteur_num", "facteur_den")
        lines.append(priced.lines.with_columns(pl.lit(rank, pl.Int64).alias("_rang"),
                                               pl.lit(competence.nom).alias("competence"))
                     .join(factors, on="code_insee", how="left", maintain_order="left"))
        amounts.append(priced.contributions.select(
            "code_insee", pl.lit(competence.nom).alias("competence"),
            pl.lit(competence.imputation, pl.Utf8).alias("imputation"), "montant_cents", "montant_indicatif_cents",
            pl.lit(rank, pl.Int64).alias("_rang")))
    paying = set(pl.concat([r.select("code_insee") for r in rows])["code_insee"].to_list()) if rows else set()
    nobody = base.filter(~pl.col("code_insee").is_in(sorted(paying)))
    if nobody.height:  # a member in no competence: its row, nothing due
        zero = replace(tariff, competences=(), part_fixe_cents=0, part_ecole_units=0, part_eleve_units=0)
        rows.append(price_year(nobody, zero, annee=annee).contributions.with_columns(
            pl.lit(len(names), pl.Int64).alias("_rang")))
    every = pl.concat(rows, how="diagonal_relaxed").sort("code_insee", "_rang")
    sums = every.group_by("code_insee").agg(
        pl.col("montant_annuel_cents").sum(), pl.col("montant_cents").sum(),
        pl.when(pl.col("montant_indicatif_cents").is_not_null().any())
        .then(pl.col("montant_indicatif_cents").sum()).alias("montant_indicatif_cents"))
    first = every.unique("code_insee", keep="first", maintain_order=True)
    columns = [c for c in rows[0].columns if c != "_rang"]
    contributions = (first.drop("montant_annuel_cents", "montant_cents", "montant_indicatif_cents")
                     .join(sums, on="code_insee", how="left").select(columns).sort("code_insee"))
    contributions = contributions.with_columns(
        ((pl.col("situation") == "facturee") & (pl.col("mode_contribution") == "titre")
         & (pl.col("montant_cents") < tariff.seuil_cents)).alias("sous_seuil"))
    all_lines = _renumber(pl.concat(lines, how="vertical") if lines else None)
    by_competence = (pl.concat(amounts).sort("code_insee", "_rang").drop("_rang")
                     .select([pl.col(n).cast(t) for n, t in BY_COMPETENCE_SCHEMA.items()]) if amounts else
                     pl.DataFrame(schema=BY_COMPETENCE_SCHEMA))
    return replace(Priced(annee, tariff, contributions, all_lines), by_competence=by_competence)


def _renumber(lines: pl.DataFrame | None) -> pl.DataFrame:
    """The lines of every competence of a member one after the other, in the year's order, numbered 1..n."""
    from billing.core.pricing import LINE_SCHEMA

    if lines is None:
        return pl.DataFrame(schema={**LINE_SCHEMA, "competence": pl.Utf8, "facteur_num": pl.Int64,
                                    "facteur_den": pl.Int64})
    lines = lines.sort("code_insee", "_rang", "ordre")
    return lines.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("code_insee").alias("ordre")) \
        .select(*LINE_SCHEMA, "competence", "facteur_num", "facteur_den")


def apply_debtor_seuil(contributions: pl.DataFrame, seuil_cents: int) -> pl.DataFrame:
    """The seuil applies to the titre, that is to the debtor's total (DESIGN §4b/§4c): a member paid for by a
    debtor is under the seuil only when the whole titre is."""
    if "code_debiteur" not in contributions.columns:
        return contributions
    due = (pl.col("situation") == "facturee") & (pl.col("mode_contribution") == "titre")
    total = pl.when(due).then(pl.col("montant_cents")).otherwise(0).sum().over("code_debiteur")
    return contributions.with_columns((due & (total < seuil_cents)).alias("sous_seuil"))


def titre_parts(lines, total_cents: int) -> list[tuple[str, str, int]] | None:
    """A titre's parts by competence, from its stored lines (DESIGN §4c): (competence, imputation, cents) in
    the order of the lines, the amounts of each competence summed over its members. None when a line with an
    amount carries no competence or imputation (a titre issued before the lines carried them, a correction),
    or when the parts do not add up to ``total_cents``: the titre then stays one row, as before."""
    parts: dict[tuple[str, str], int] = {}
    for line in lines or ():
        if line.get("formule") == "info" or not line.get("montant_cents"):
            continue
        if not line.get("competence") or not line.get("imputation"):
            return None
        key = (line["competence"], line["imputation"])
        parts[key] = parts.get(key, 0) + int(line["montant_cents"])
    if not parts or sum(parts.values()) != total_cents:
        return None
    return [(name, imputation, cents) for (name, imputation), cents in parts.items()]
