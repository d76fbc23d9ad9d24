"""Pure pricing: billing base + tariff -> contributions and their notice lines (DESIGN §4).

No I/O, no floats, no polars Decimal. Amounts are integer cents, unit prices integer
1/10 000 €, and every rounding is half-up by integer arithmetic. The barème is computed
column-wise in polars Int64 (35,000 communes in a few tens of milliseconds); the
répartition with Python integers, exact whatever the sums.

``contributions`` — one row per member commune, sorted by code_insee:
    code_insee, commune, statut, situation (facturee | indicative | hors_periode), ecoles,
    eleves, population, date_debut, date_fin (the billed days; null unless facturee), jours,
    jours_annee, mois, facteur_num, facteur_den (the prorata factor exactly as applied, not
    reduced: 306/366, 10/12, 1/1; indicative 1/1; hors_periode 0/…), montant_annuel_cents
    (after plancher/plafond, before prorata), montant_cents (billed; 0 unless facturee),
    montant_indicatif_cents (indicative rows only: a whole year), then the passthrough
    columns (``PASSTHROUGH``, then any other column of the billing base, in its order).

``lines`` — one row per notice line, sorted by code_insee, ordre; they add up to
montant_cents (facturee) or montant_indicatif_cents (indicative); hors_periode has none:
    code_insee, ordre, code, libelle, quantite, taux_units, montant_cents, formule, detail.
    ``formule`` says how a spreadsheet recomputes the line from the lines above it:
    produit    half_up(quantite × taux_units / 100)
    prorata    half_up(subtotal × facteur_num / facteur_den) − subtotal
    ajustement plancher (or plafond) − subtotal
    valeur     the amount itself (part fixe, quote-part, arrondi)

Choices where the contract is silent (a finance officer's reading):
- A part whose price is 0 or absent has no line; a part with a price and a zero quantity
  keeps its line (« 0 école × 150,00 € = 0,00 € » says why nothing is due for it).
- Bands: each band holding pupils gets a line, at its own price even when that price is 0
  (the officer sees which pupils were free); with no pupil at all, band 1 shows 0 pupils.
- The prorata line is shown whenever the factor is not 1, even when it is 0,00 €.
- Répartition: line « Quote-part » = half_up(montant_total × share) (the whole-year part),
  then the prorata line as in the barème, then, only when the largest-remainder method
  moves it, an « arrondi » line of a cent or so, so the notice adds up to the apportioned
  part. Plancher and plafond do not apply (they would break the total; the tariff reader
  ignores them in that mode).
- Répartition, conditionnelle communes: their indicative amount is the whole-year part they
  would get if they joined the billable set (their own criteria added to every sum), rounded
  half-up; they do not change anyone else's part.
- A weighted criterion whose sum over the billed communes is 0 cannot share anything: the
  tariff is refused with a ``PricingError`` (a French sentence), rather than moving that
  weight elsewhere on the quiet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from math import lcm

import polars as pl

from billing.core.lines import line_frame, plural, population_lines, strate_text  # noqa: F401 (strate_text re-exported)
from billing.core.model import BAND_MODES, CRITERIA, PRORATA_MODES, STATUTS, TARIFF_MODES, Band, Tariff
from billing.core.money import (
    div_half_up, div_half_up_column, div_half_up_each, format_count, format_count_column, format_euros,
    format_euros_column, format_rate,
)

PASSTHROUGH = ("departement", "departement_nom", "epci_siren", "epci_nom", "mairie_adresse", "siret", "groupe",
               "date_effet", "date_retrait")

CONTRIBUTION_SCHEMA = {
    "code_insee": pl.Utf8, "commune": pl.Utf8, "statut": pl.Utf8, "situation": pl.Utf8, "ecoles": pl.Int64,
    "eleves": pl.Int64, "population": pl.Int64, "date_debut": pl.Date, "date_fin": pl.Date, "jours": pl.Int64,
    "jours_annee": pl.Int64, "mois": pl.Int64, "facteur_num": pl.Int64, "facteur_den": pl.Int64,
    "montant_annuel_cents": pl.Int64, "montant_cents": pl.Int64, "montant_indicatif_cents": pl.Int64,
}
PASSTHROUGH_TYPES = {"date_effet": pl.Date, "date_retrait": pl.Date}
# DESIGN §4b, after the passthrough columns: classes counted, where the population comes from
# (adhesions | referentiel), the population band (1…, null without strates), how the member pays
# (titre | fiscalisee), and whether its amount is below the year's seuil de recouvrement.
TARIFF_COLUMNS = {"classes": pl.Int64, "population_source": pl.Utf8, "strate": pl.Int64,
                  "mode_contribution": pl.Utf8, "sous_seuil": pl.Boolean}

LINE_SCHEMA = {
    "code_insee": pl.Utf8, "ordre": pl.Int64, "code": pl.Utf8, "libelle": pl.Utf8, "quantite": pl.Int64,
    "taux_units": pl.Int64, "montant_cents": pl.Int64, "formule": pl.Utf8, "detail": pl.Utf8,
}

# Bareme amounts stay far below this, so 2·a·b fits in Int64 with room to spare.
_INT64_SAFE = 2**61


class PricingError(ValueError):
    """The tariff cannot be applied to these members; the message is a French sentence."""


@dataclass(frozen=True)
class Period:
    """The billed days of a member in a year: first and last day, and how many days and months."""

    debut: date
    fin: date
    jours: int
    jours_annee: int
    mois: int


@dataclass(frozen=True)
class Priced:
    """A priced year: one row per member commune and the lines that explain each amount."""

    annee: int
    tariff: Tariff
    contributions: pl.DataFrame
    lines: pl.DataFrame
    by_competence: pl.DataFrame | None = None  # DESIGN §4c: one row per member and competence (billing.core.carte)


# ----- French text -------------------------------------


# ----- membership period ---------------------------------------------------------------------


def _period_columns(annee: int, prorata: str) -> list[list[pl.Expr]]:
    """The expressions (in dependency order) that give every member its situation, billed days
    and prorata factor: the one implementation behind ``price_year`` and ``membership_period``."""
    first, last = date(annee, 1, 1), date(annee, 12, 31)
    days_in_year = (last - first).days + 1
    start = pl.max_horizontal(pl.col("date_effet"), pl.lit(first))
    # date_retrait is the first day no longer member; max/min_horizontal skip nulls
    end = pl.min_horizontal(pl.col("date_retrait") - pl.duration(days=1), pl.lit(last))
    has_days = pl.col("date_effet").is_not_null() & (start <= end)
    situation = (
        pl.when(pl.col("statut") == "conditionnelle").then(pl.lit("indicative"))
        .when(pl.col("statut").is_in(["adherente", "retiree"]) & has_days).then(pl.lit("facturee"))
        .otherwise(pl.lit("hors_periode"))
    )
    billed = pl.col("situation") == "facturee"
    jours = pl.when(billed).then((pl.col("date_fin") - pl.col("date_debut")).dt.total_days() + 1).otherwise(0)
    mois = pl.when(billed).then(
        pl.col("date_fin").dt.month().cast(pl.Int64) - pl.col("date_debut").dt.month().cast(pl.Int64) + 1
    ).otherwise(0)
    numerator, denominator = {
        "jours": (pl.col("jours"), pl.lit(days_in_year)),
        "mois": (pl.col("mois"), pl.lit(12)),
        "aucun": (pl.lit(1), pl.lit(1)),
    }[prorata]
    indicative = pl.col("situation") == "indicative"
    return [
        [situation.alias("situation")],
        [pl.when(billed).then(start).alias("date_debut"), pl.when(billed).then(end).alias("date_fin")],
        [jours.cast(pl.Int64).alias("jours"), mois.cast(pl.Int64).alias("mois"),
         pl.lit(days_in_year, pl.Int64).alias("jours_annee")],
        # indicative: a whole year (1/1); hors_periode: no day, 0/…
        [pl.when(billed).then(numerator).when(indicative).then(1).otherwise(0).cast(pl.Int64).alias("facteur_num"),
         pl.when(indicative).then(1).otherwise(denominator).cast(pl.Int64).alias("facteur_den")],
    ]


def _with_periods(members: pl.DataFrame, annee: int, prorata: str) -> pl.DataFrame:
    for step in _period_columns(annee, prorata):
        members = members.with_columns(step)
    return members


def membership_period(date_effet: date | None, date_retrait: date | None, annee: int) -> Period | None:
    """The billed days of a member in ``annee``: [max(date_effet, 1 Jan), min(date_retrait − 1 day, 31 Dec)],
    or None when that holds no day. (The same expressions as ``price_year``, on one row.)"""
    row = pl.DataFrame({"statut": ["adherente"], "date_effet": [date_effet], "date_retrait": [date_retrait]},
                       schema={"statut": pl.Utf8, "date_effet": pl.Date, "date_retrait": pl.Date})
    out = _with_periods(row, annee, "jours").row(0, named=True)
    if out["situation"] != "facturee":
        return None
    return Period(out["date_debut"], out["date_fin"], out["jours"], out["jours_annee"], out["mois"])


# ----- entry point -------------------------------------------------------------------------


def price_year(billing_base: pl.DataFrame, tariff: Tariff, *, annee: int) -> Priced:
    """Every member's contribution for ``annee`` with the lines that explain it.

    Raises PricingError (French message) when the tariff cannot be applied to these members.
    """
    _check_tariff(tariff)
    members = _prepare(billing_base)
    members = _with_periods(members, annee, tariff.prorata)
    if tariff.mode == "repartition":
        amounts, lines = _price_repartition(members, tariff)
        amounts = amounts.with_columns(pl.lit(None, pl.Int64).alias("strate"))
    else:
        amounts, lines = _price_bareme(members, tariff)
    contributions = pl.concat([members, amounts], how="horizontal").with_columns(
        ((pl.col("situation") == "facturee") & (pl.col("mode_contribution") == "titre")
         & (pl.col("montant_cents") < tariff.seuil_cents)).alias("sous_seuil"))
    extras = [c for c in billing_base.columns
              if c not in CONTRIBUTION_SCHEMA and c not in PASSTHROUGH and c not in TARIFF_COLUMNS]
    contributions = contributions.select(
        *[pl.col(name).cast(dtype) for name, dtype in CONTRIBUTION_SCHEMA.items()], *PASSTHROUGH,
        *[pl.col(name).cast(dtype) for name, dtype in TARIFF_COLUMNS.items()], *extras)
    lines = lines.select([pl.col(name).cast(dtype) for name, dtype in LINE_SCHEMA.items()])
    return Priced(annee, tariff, contributions, lines)


def _check_tariff(tariff: Tariff) -> None:
    if tariff.mode not in TARIFF_MODES:
        raise PricingError(f"mode de tarif « {tariff.mode} » inconnu (attendu : {', '.join(TARIFF_MODES)})")
    if tariff.prorata not in PRORATA_MODES:
        raise PricingError(f"prorata « {tariff.prorata} » inconnu (attendu : {', '.join(PRORATA_MODES)})")
    if tariff.mode == "repartition":
        if tariff.montant_total_cents is None or tariff.montant_total_cents < 0:
            raise PricingError("mode « repartition » : le montant total à répartir (montant_total) manque "
                               "ou est négatif")
        unknown = [k for k, _ in tariff.poids if k not in CRITERIA]
        if unknown:
            raise PricingError(f"critère de répartition « {unknown[0]} » inconnu (attendu : {', '.join(CRITERIA)})")
        if any(w < 0 for _, w in tariff.poids) or sum((w for _, w in tariff.poids), Fraction(0)) != 1:
            raise PricingError("mode « repartition » : les poids doivent être positifs et leur somme valoir "
                               "exactement 1")
        return
    if tariff.tranches_mode not in BAND_MODES:
        raise PricingError(f"calcul des tranches « {tariff.tranches_mode} » inconnu "
                           f"(attendu : {', '.join(BAND_MODES)})")
    bounds = [band.jusqu_a for band in tariff.tranches]
    if bounds and (bounds[-1] is not None or None in bounds[:-1]
                   or any(b <= a for a, b in zip([0, *bounds[:-2]], bounds[:-1]))):
        raise PricingError("tranches d'élèves : les bornes « jusqu_a » doivent croître et la dernière tranche "
                           "être sans borne")
    prices = [tariff.part_fixe_cents, tariff.part_ecole_units, tariff.part_eleve_units or 0,
              tariff.plancher_cents or 0, tariff.plafond_cents or 0, *(b.rate_units for b in tariff.tranches)]
    if any(p < 0 for p in prices):
        raise PricingError("un prix ou un montant du tarif est négatif")


def _prepare(billing_base: pl.DataFrame) -> pl.DataFrame:
    """The columns pricing reads, typed, checked, sorted by code_insee (so row order never matters)."""
    for required in ("code_insee", "statut", "ecoles", "eleves"):
        if required not in billing_base.columns:
            raise PricingError(f"la base de facturation n'a pas de colonne « {required} »")
    computed = set(CONTRIBUTION_SCHEMA) - {"code_insee", "commune", "statut", "ecoles", "eleves", "population"}
    base = billing_base.drop([c for c in billing_base.columns if c in computed])
    defaults = {"commune": pl.Utf8, "population": pl.Int64, "date_effet": pl.Date, "date_retrait": pl.Date}
    base = base.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in defaults.items()
                             if name not in base.columns)
    base = base.with_columns(
        pl.col("code_insee").cast(pl.Utf8), pl.col("commune").cast(pl.Utf8), pl.col("statut").cast(pl.Utf8),
        pl.col("ecoles").cast(pl.Int64).fill_null(0), pl.col("eleves").cast(pl.Int64).fill_null(0),
        pl.col("population").cast(pl.Int64), pl.col("date_effet").cast(pl.Date), pl.col("date_retrait").cast(pl.Date),
    )
    base = base.with_columns(pl.lit(None, PASSTHROUGH_TYPES.get(name, pl.Utf8)).alias(name)
                             for name in PASSTHROUGH if name not in base.columns)
    base = base.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in TARIFF_COLUMNS.items()
                             if name not in base.columns and name not in ("strate", "sous_seuil"))
    base = base.drop([c for c in ("strate", "sous_seuil") if c in base.columns]).with_columns(
        pl.col("classes").cast(pl.Int64).fill_null(0),
        pl.col("mode_contribution").cast(pl.Utf8).fill_null("titre"))
    codes = base["code_insee"]
    if codes.null_count():
        raise PricingError("la base de facturation contient une commune sans code INSEE")
    if codes.n_unique() != base.height:
        duplicate = sorted(codes.filter(codes.is_duplicated()).unique().to_list())[0]
        raise PricingError(f"la commune {duplicate} figure deux fois dans la base de facturation")
    bad = base.filter(~pl.col("statut").is_in(list(STATUTS)) | pl.col("statut").is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise PricingError(f"commune {row['code_insee']} : statut « {row['statut']} » inconnu "
                           f"(attendu : {', '.join(STATUTS)})")
    undated = base.filter(pl.col("statut").is_in(["adherente", "retiree"]) & pl.col("date_effet").is_null())
    if undated.height:
        raise PricingError(f"commune {undated['code_insee'][0]} : date d'effet de l'adhésion manquante")
    negative = base.filter((pl.col("ecoles") < 0) | (pl.col("eleves") < 0) | (pl.col("population") < 0)
                           | (pl.col("classes") < 0))
    if negative.height:
        raise PricingError(f"commune {negative['code_insee'][0]} : effectif ou population négatif")
    return base.sort("code_insee").with_row_index("_idx")  # _idx: a cheap integer key to order the lines


# ----- barème ------------------------------------------------------------------------------


def _band_text(lower: int, upper: int | None) -> str:
    if upper is None:
        return f"au-delà de {format_count(lower)}"
    return f"de {format_count(lower + 1)} à {format_count(upper)}"


def _check_bareme_range(priced: pl.DataFrame, tariff: Tariff) -> None:
    """Int64 is ample for any real syndicate; refuse rather than overflow on absurd inputs."""
    if priced.height == 0:
        return
    schools, pupils = int(priced["ecoles"].max() or 0), int(priced["eleves"].max() or 0)
    classes, population = int(priced["classes"].max() or 0), int(priced["population"].max() or 0)
    rates = [tariff.part_eleve_units or 0, *(b.rate_units for b in tariff.tranches)]
    bound = (tariff.part_fixe_cents + schools * tariff.part_ecole_units + pupils * max(rates)
             + classes * tariff.part_classe_units + population * tariff.part_habitant_units
             + max((s.montant_cents for s in tariff.strates), default=0)
             + (tariff.plancher_cents or 0) + (tariff.plafond_cents or 0))
    if bound * 2 * 366 >= _INT64_SAFE:
        raise PricingError("montants hors limites : vérifiez les prix du tarif et les effectifs "
                           "(plusieurs milliards d'euros par commune)")
    if tariff.part_habitant_units or tariff.strates:
        unknown = priced.filter(pl.col("population").is_null())
        if unknown.height:
            raise PricingError(f"la commune {unknown['code_insee'][0]} n'a pas de population connue : le tarif "
                               f"facture par habitant ou par strate ; indiquez-la dans la colonne « population » "
                               f"d'adhesions.csv")


# Tariff field a group may override -> the code of the lines it prices (DESIGN §4b: the notice says so)
_OVERRIDDEN_LINES = {"part_fixe_cents": ("part_fixe",), "part_ecole_units": ("part_ecole",),
                     "part_eleve_units": ("part_eleve", "tranche_"), "tranches": ("part_eleve", "tranche_"),
                     "part_classe_units": ("part_classe",), "part_habitant_units": ("part_habitant",),
                     "strates": ("strate",), "plancher_cents": ("plancher",), "plafond_cents": ("plafond",)}


def _price_bareme(members: pl.DataFrame, tariff: Tariff) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each member at the tariff of its group (the year's, with the group's overrides), then together."""
    priced = members.filter(pl.col("situation") != "hors_periode")
    names = [group.nom for group in tariff.groupes]
    subsets = [(priced.filter(~pl.col("groupe").is_in(names).fill_null(False)), tariff, None)]
    subsets += [(priced.filter(pl.col("groupe") == name), tariff.for_group(name), tariff.group(name))
                for name in names]
    frames, lines = [], []
    for subset, own_tariff, group in subsets:
        frame, found = _price_bareme_subset(subset, own_tariff)
        if group is not None:
            codes = tuple(code for name, _ in group.fields for code in _OVERRIDDEN_LINES.get(name, ()))
            mark = pl.col("code").str.starts_with(codes[0]) if codes else pl.lit(False)
            for code in codes[1:]:
                mark = mark | pl.col("code").str.starts_with(code)
            found = [f.with_columns(pl.when(mark).then(pl.format("{} ; tarif du groupe « {} »", pl.col("detail"),
                                                                  pl.lit(group.nom)))
                                    .otherwise(pl.col("detail")).alias("detail")) for f in found]
        frames.append(frame.select("code_insee", "montant_annuel_cents", "_du",
                                   pl.col("_strate").cast(pl.Int64).alias("strate") if own_tariff.strates
                                   else pl.lit(None, pl.Int64).alias("strate")))
        lines += found
    amounts = members.select("code_insee", "situation").join(
        pl.concat(frames), on="code_insee", how="left", maintain_order="left",
    ).select(
        pl.col("montant_annuel_cents").fill_null(0),
        pl.when(pl.col("situation") == "facturee").then(pl.col("_du")).otherwise(0).alias("montant_cents"),
        pl.when(pl.col("situation") == "indicative").then(pl.col("_du")).alias("montant_indicatif_cents"),
        pl.col("strate"),
    )
    return amounts, _number_lines(lines)


def _price_bareme_subset(priced: pl.DataFrame, tariff: Tariff) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """part fixe + part écoles + part élèves (flat or bands) + classes, habitants, strate; plancher/plafond,
    then prorata, for members who all pay ``tariff``."""
    _check_bareme_range(priced, tariff)
    bands = _priced_bands(tariff)
    steps, amount_columns = _bareme_parts(tariff, bands)
    for column, expr in steps:
        priced = priced.with_columns(expr.alias(column))
    priced = _bareme_totals(priced, tariff, amount_columns)
    last_part = 5 + len(bands)  # fixe 1, écoles 2, élèves 3…2+n, classes 3+n, habitants 4+n, strate 5+n
    lines = [*_part_lines(priced, tariff, bands), *population_lines(priced, tariff, first_rank=3 + len(bands)),
             *_bound_lines(priced, tariff, last_rank=last_part),
             _prorata_lines(priced, tariff, rang=last_part + 3, annual=pl.col("montant_annuel_cents"),
                            prorated=pl.col("_du"))]
    return priced, lines


def _priced_bands(tariff: Tariff) -> tuple[Band, ...]:
    """The pupil bands in use: none when every band is free (the flat part_eleve applies then)."""
    return tariff.tranches if any(b.rate_units > 0 for b in tariff.tranches) else ()


def _bareme_parts(tariff: Tariff, bands: tuple[Band, ...]) -> tuple[list[tuple[str, pl.Expr]], list[str]]:
    """The (column, expression) steps of the parts, each may read the ones before, and which
    columns are amounts to add up (before plancher/plafond)."""
    pupils = pl.col("eleves")
    steps: list[tuple[str, pl.Expr]] = []
    amount_columns: list[str] = []

    def part(column: str, expr: pl.Expr, *, amount: bool = True) -> None:
        steps.append((column, expr))
        if amount:
            amount_columns.append(column)

    if tariff.part_fixe_cents > 0:
        part("_fixe", pl.lit(tariff.part_fixe_cents, pl.Int64))
    if tariff.part_ecole_units > 0:
        part("_ecole", div_half_up_column(pl.col("ecoles") * tariff.part_ecole_units, 100))
    if bands and tariff.tranches_mode == "progressif":
        lower = 0
        for index, band in enumerate(bands, start=1):
            inside = (pupils - lower).clip(lower_bound=0)
            if band.jusqu_a is not None:
                inside = pl.min_horizontal(inside, pl.lit(band.jusqu_a - lower))
            part(f"_q{index}", inside, amount=False)
            part(f"_t{index}", div_half_up_column(pl.col(f"_q{index}") * band.rate_units, 100))
            lower = band.jusqu_a or lower
    elif bands:  # global: every pupil at the rate of the band reached (bounds are inclusive)
        reached = pl.lit(len(bands), pl.Int64)
        for index in range(len(bands) - 1, 0, -1):
            reached = pl.when(pupils <= bands[index - 1].jusqu_a).then(pl.lit(index, pl.Int64)).otherwise(reached)
        rate = pl.lit(bands[-1].rate_units, pl.Int64)
        for index in range(len(bands) - 1, 0, -1):
            rate = pl.when(pl.col("_bande") == index).then(pl.lit(bands[index - 1].rate_units, pl.Int64)).otherwise(rate)
        part("_bande", reached, amount=False)
        part("_taux", rate, amount=False)
        part("_global", div_half_up_column(pupils * pl.col("_taux"), 100))
    elif (tariff.part_eleve_units or 0) > 0:
        part("_eleve", div_half_up_column(pupils * tariff.part_eleve_units, 100))
    if tariff.part_classe_units > 0:
        part("_classe", div_half_up_column(pl.col("classes") * tariff.part_classe_units, 100))
    if tariff.part_habitant_units > 0:
        part("_habitant", div_half_up_column(pl.col("population") * tariff.part_habitant_units, 100))
    if tariff.strates:  # the band of the member's population (bounds inclusive), and its flat amount
        strates = tariff.strates
        index, amount = pl.lit(len(strates), pl.Int64), pl.lit(strates[-1].montant_cents, pl.Int64)
        for number in range(len(strates) - 1, 0, -1):
            inside = pl.col("population") <= strates[number - 1].jusqu_a
            index = pl.when(inside).then(pl.lit(number, pl.Int64)).otherwise(index)
            amount = pl.when(inside).then(pl.lit(strates[number - 1].montant_cents, pl.Int64)).otherwise(amount)
        part("_strate", index, amount=False)
        part("_strate_montant", amount)
    return steps, amount_columns


def _bareme_totals(priced: pl.DataFrame, tariff: Tariff, amount_columns: list[str]) -> pl.DataFrame:
    """_sous_total, _apres_plancher, montant_annuel_cents (after plafond) and _du (after prorata)."""
    subtotal = pl.sum_horizontal(*amount_columns) if amount_columns else pl.lit(0, pl.Int64)
    priced = priced.with_columns(subtotal.cast(pl.Int64).alias("_sous_total"))
    after_floor = pl.col("_sous_total")
    if tariff.plancher_cents is not None:
        after_floor = pl.max_horizontal(after_floor, pl.lit(tariff.plancher_cents, pl.Int64))
    priced = priced.with_columns(after_floor.alias("_apres_plancher"))
    annual = pl.col("_apres_plancher")
    if tariff.plafond_cents is not None:
        annual = pl.min_horizontal(annual, pl.lit(tariff.plafond_cents, pl.Int64))
    priced = priced.with_columns(annual.alias("montant_annuel_cents"))
    return priced.with_columns(
        div_half_up_column(pl.col("montant_annuel_cents") * pl.col("facteur_num"), pl.col("facteur_den")).alias("_du"))


def _part_lines(priced: pl.DataFrame, tariff: Tariff, bands: tuple[Band, ...]) -> list[pl.DataFrame]:
    """The lines of the parts: fixe (rang 1), écoles (2), élèves flat or global (3) or one per band (3…)."""
    rentree = f"rentrée {tariff.rentree}"
    pupils = pl.col("eleves")
    pupils_text = pl.format(f"{rentree} : {{}} {{}}", format_count_column(pupils), plural(pupils, "élève", "élèves"))
    lines: list[pl.DataFrame] = []
    if tariff.part_fixe_cents > 0:
        lines.append(line_frame(priced, rang=1, code="part_fixe", libelle="Part fixe", quantite=None, taux=None,
                                 montant=pl.col("_fixe"), formule="valeur", detail="forfait par commune membre"))
    if tariff.part_ecole_units > 0:
        lines.append(line_frame(
            priced, rang=2, code="part_ecole", libelle="Part par école publique", quantite=pl.col("ecoles"),
            taux=tariff.part_ecole_units, montant=pl.col("_ecole"), formule="produit",
            detail=pl.format(f"{rentree} : {{}} {{}}", format_count_column(pl.col("ecoles")),
                             plural(pl.col("ecoles"), "école publique", "écoles publiques"))))
    if bands and tariff.tranches_mode == "progressif":
        lower = 0
        for index, band in enumerate(bands, start=1):
            used = priced.filter((pl.col(f"_q{index}") > 0) | ((pupils == 0) & pl.lit(index == 1)))
            lines.append(line_frame(
                used, rang=2 + index, code=f"tranche_{index}",
                libelle=f"Élèves {_band_text(lower, band.jusqu_a)} (tranche {index})", quantite=pl.col(f"_q{index}"),
                taux=band.rate_units, montant=pl.col(f"_t{index}"), formule="produit",
                detail=pl.format("{} au total", pupils_text)))
            lower = band.jusqu_a or lower
    elif bands:
        labels = pl.lit(None, pl.Utf8)
        lower = 0
        for index, band in enumerate(bands, start=1):
            text = f"Élèves, tous au tarif de la tranche {index} ({_band_text(lower, band.jusqu_a)})"
            labels = pl.when(pl.col("_bande") == index).then(pl.lit(text)).otherwise(labels)
            lower = band.jusqu_a or lower
        lines.append(line_frame(
            priced, rang=3, code=pl.format("tranche_{}", pl.col("_bande")), libelle=labels, quantite=pupils,
            taux=pl.col("_taux"), montant=pl.col("_global"), formule="produit",
            detail=pl.format("{}, tranche {} atteinte", pupils_text, pl.col("_bande"))))
    elif (tariff.part_eleve_units or 0) > 0:
        lines.append(line_frame(priced, rang=3, code="part_eleve", libelle="Part par élève", quantite=pupils,
                                 taux=tariff.part_eleve_units, montant=pl.col("_eleve"), formule="produit",
                                 detail=pupils_text))
    return lines


def _bound_lines(priced: pl.DataFrame, tariff: Tariff, *, last_rank: int) -> list[pl.DataFrame]:
    """The plancher and plafond adjustments, for the communes they move."""
    lines: list[pl.DataFrame] = []
    if tariff.plancher_cents is not None:
        floor = tariff.plancher_cents
        lines.append(line_frame(
            priced.filter(pl.col("_sous_total") < floor), rang=last_rank + 1, code="plancher",
            libelle=f"Ajustement au plancher de {format_euros(floor)}", quantite=None, taux=None,
            montant=pl.lit(floor) - pl.col("_sous_total"), formule="ajustement",
            detail=pl.format("contribution calculée {}, portée au plancher", format_euros_column(pl.col("_sous_total")))))
    if tariff.plafond_cents is not None:
        ceiling = tariff.plafond_cents
        lines.append(line_frame(
            priced.filter(pl.col("_apres_plancher") > ceiling), rang=last_rank + 2, code="plafond",
            libelle=f"Écrêtement au plafond de {format_euros(ceiling)}", quantite=None, taux=None,
            montant=pl.lit(ceiling) - pl.col("_apres_plancher"), formule="ajustement",
            detail=pl.format("contribution calculée {}, ramenée au plafond",
                             format_euros_column(pl.col("_apres_plancher")))))
    return lines


def _prorata_lines(priced: pl.DataFrame, tariff: Tariff, *, rang: int, annual: pl.Expr,
                   prorated: pl.Expr) -> pl.DataFrame:
    """round(annual × factor) − annual for every billed commune whose factor is not 1."""
    if tariff.prorata == "mois":
        label = pl.format("Prorata temporis : {} mois d'adhésion sur 12", pl.col("mois"))
    else:
        label = pl.format("Prorata temporis : {} {} d'adhésion sur {}", pl.col("jours"),
                          plural(pl.col("jours"), "jour", "jours"), pl.col("jours_annee"))
    detail = pl.format("du {} au {}", pl.col("date_debut").dt.strftime("%d/%m/%Y"),
                       pl.col("date_fin").dt.strftime("%d/%m/%Y"))
    partial = priced.filter((pl.col("situation") == "facturee") & (pl.col("facteur_num") != pl.col("facteur_den")))
    return line_frame(partial, rang=rang, code="prorata", libelle=label, quantite=None, taux=None,
                       montant=prorated - annual, formule="prorata", detail=detail)


def _number_lines(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate the kinds of lines, order them within each notice and number them 1..n."""
    lines = pl.concat(frames, how="vertical")
    lines = lines.sort("_idx", "rang")
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    first_of_commune = pl.when(pl.col("_idx") != pl.col("_idx").shift(1)).then(row).forward_fill().fill_null(0)
    return lines.with_columns((row - first_of_commune + 1).alias("ordre"))  # linear, unlike a window over _idx


# ----- répartition -------------------------------------------------------------------------


def _criterion_column(criterion: str) -> pl.Expr:
    return pl.lit(1, pl.Int64) if criterion == "forfait" else pl.col(criterion)


def _share_numerators(columns: list[list[int]], sums: tuple[int, ...],
                      weights: tuple[Fraction, ...]) -> tuple[list[int], int]:
    """Exact shares Σ_k w_k × c_k / S_k as integer numerators over one common denominator.

    ``columns`` holds one list per criterion (the communes in code_insee order). A criterion
    whose sum is 0 contributes nothing (callers refuse that case for billed communes).
    """
    scales = [w.denominator * s for w, s in zip(weights, sums)]
    denominator = lcm(*(s for s in scales if s)) if any(scales) else 1
    numerators = [0] * (len(columns[0]) if columns else 0)
    for weight, scale, column in zip(weights, scales, columns):
        if scale:
            factor = weight.numerator * (denominator // scale)
            numerators = [n + factor * c for n, c in zip(numerators, column)]
    return numerators, denominator


def apportion_cents(numerators: list[int], denominator: int) -> list[int]:
    """Largest remainders: exact parts numerator/denominator cents (≥ 0), floored, then the cents
    still missing to reach half_up(Σ exact parts) go to the largest remainders; equal remainders
    go in the order given (callers pass communes sorted by code_insee)."""
    floors = [n // denominator for n in numerators]
    remainders = [n - f * denominator for n, f in zip(numerators, floors)]
    missing = div_half_up(sum(numerators), denominator) - sum(floors)
    # a stable sort, even reversed: equal remainders keep their code_insee order
    order = sorted(range(len(numerators)), key=remainders.__getitem__, reverse=True)
    parts = floors
    for i in order[:missing]:
        parts[i] += 1
    return parts


def _percent_text(value: Fraction, places: int = 4) -> str:
    """« 2,5 % », « 33,3333 % »: at most ``places`` decimals, half-up, trailing zeros dropped."""
    scaled = value * 100 * 10**places
    units = div_half_up(scaled.numerator, scaled.denominator)
    whole, frac = divmod(units, 10**places)
    text = format_count(whole)
    frac_text = f"{frac:0{places}d}".rstrip("0")
    return f"{text},{frac_text} %" if frac_text else f"{text} %"


CRITERION_WORDS = {"eleves": "élèves", "ecoles": "écoles", "population": "population", "forfait": "forfait"}


def _price_repartition(members: pl.DataFrame, tariff: Tariff) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Weighted shares of montant_total, apportioned to the cent by the largest remainders."""
    total = tariff.montant_total_cents or 0
    weighted = [(k, Fraction(w)) for k, w in tariff.poids if w != 0]
    criteria = tuple(k for k, _ in weighted)
    weights = tuple(w for _, w in weighted)
    frame = members.with_columns([_criterion_column(k).alias(f"_c_{k}") for k in criteria])
    billed, sums = _billed_shares(frame.filter(pl.col("situation") == "facturee"), total, criteria, weights)
    indicative = _indicative_shares(frame.filter(pl.col("situation") == "indicative"), total, criteria, weights, sums)
    target = int(billed["montant_cents"].sum() or 0)

    def quote_part(frame: pl.DataFrame) -> pl.DataFrame:
        pct_text = pl.format("{},{} %", format_count_column(pl.col("_pct") // 10_000),
                             (pl.col("_pct") % 10_000).cast(pl.Utf8).str.zfill(4))
        terms = [pl.format(f"{CRITERION_WORDS[k]} {{}} / {{}} × {_percent_text(w)}",
                           format_count_column(pl.col(f"_c_{k}")), format_count_column(pl.col(f"_s_{k}")))
                 for k, w in zip(criteria, weights)]
        detail = pl.format(f"{{}} de {format_euros(total)} : " + " + ".join(["{}"] * len(terms)), pct_text, *terms) \
            if terms else pl.format(f"{{}} de {format_euros(total)}", pct_text)
        return line_frame(frame, rang=1, code="repartition", libelle="Quote-part de la répartition", quantite=None,
                           taux=None, montant=pl.col("montant_annuel_cents"), formule="valeur", detail=detail)

    lines = [quote_part(billed), quote_part(indicative),
             _prorata_lines(billed, tariff, rang=2, annual=pl.col("montant_annuel_cents"), prorated=pl.col("_du")),
             line_frame(billed.filter(pl.col("montant_cents") != pl.col("_du")), rang=3, code="arrondi",
                         libelle="Arrondi de la répartition au centime", quantite=None, taux=None,
                         montant=pl.col("montant_cents") - pl.col("_du"), formule="valeur",
                         detail=f"méthode du plus fort reste : les quotes-parts facturées totalisent exactement "
                                f"{format_euros(target)}")]

    amounts = members.select("code_insee").join(
        pl.concat([billed.select("code_insee", "montant_annuel_cents", "montant_cents"),
                   indicative.select("code_insee", "montant_annuel_cents", pl.lit(0, pl.Int64).alias("montant_cents"))]),
        on="code_insee", how="left", maintain_order="left",
    ).join(indicative.select("code_insee", "montant_indicatif_cents"), on="code_insee", how="left",
           maintain_order="left").select(
        pl.col("montant_annuel_cents").fill_null(0), pl.col("montant_cents").fill_null(0),
        pl.col("montant_indicatif_cents"))
    return amounts, _number_lines(lines)


def _billed_shares(billed: pl.DataFrame, total: int, criteria: tuple[str, ...],
                   weights: tuple[Fraction, ...]) -> tuple[pl.DataFrame, tuple[int, ...]]:
    """The billed communes with their whole-year part, prorated part (_du), apportioned montant_cents,
    share (_pct, in 1/10 000 of a percent) and the criteria sums (_s_*); and those sums."""
    for criterion in criteria:
        missing = billed.filter(pl.col(f"_c_{criterion}").is_null())
        if missing.height:
            raise PricingError(f"répartition : la commune {missing['code_insee'][0]} n'a pas de valeur pour le "
                               f"critère « {criterion} »")
    columns = [billed[f"_c_{k}"].to_list() for k in criteria]
    sums = tuple(sum(column) for column in columns)
    if billed.height:
        for criterion, weight, s in zip(criteria, weights, sums):
            if s == 0:
                raise PricingError(
                    f"répartition impossible : le critère « {criterion} » (poids {_percent_text(weight)}) vaut 0 "
                    f"pour toutes les communes facturées ; changez les poids du tarif ou vérifiez les effectifs")
    numerators, share_den = _share_numerators(columns, sums, weights)
    factor_num, factor_den = billed["facteur_num"].to_list(), billed["facteur_den"].to_list()
    year_den = factor_den[0] if factor_den else 1  # same for every billed commune (365/366, 12 or 1)
    annual = div_half_up_each([total * n for n in numerators], share_den)
    prorated = div_half_up_each([a * f for a, f in zip(annual, factor_num)], year_den)
    parts = apportion_cents([total * n * f for n, f in zip(numerators, factor_num)], share_den * year_den)
    pct = div_half_up_each([n * 1_000_000 for n in numerators], share_den)
    billed = billed.with_columns(
        pl.Series("montant_annuel_cents", annual, pl.Int64), pl.Series("_du", prorated, pl.Int64),
        pl.Series("montant_cents", parts, pl.Int64), pl.Series("_pct", pct, pl.Int64),
    )
    return billed.with_columns(pl.lit(s, pl.Int64).alias(f"_s_{k}") for k, s in zip(criteria, sums)), sums


def _indicative_shares(indicative: pl.DataFrame, total: int, criteria: tuple[str, ...],
                       weights: tuple[Fraction, ...], sums: tuple[int, ...]) -> pl.DataFrame:
    """Each conditionnelle's whole-year part were it billed too (its criteria added to every sum)."""
    amounts, pcts, own = [], [], []
    for row in indicative.select([f"_c_{k}" for k in criteria]).fill_null(0).iter_rows():
        own_sums = tuple(s + c for s, c in zip(sums, row))
        (numerator,), den = _share_numerators([[c] for c in row], own_sums, weights)
        amounts.append(div_half_up(total * numerator, den))
        pcts.append(div_half_up(numerator * 1_000_000, den))
        own.append(own_sums)
    return indicative.with_columns(
        pl.Series("montant_annuel_cents", amounts, pl.Int64),
        pl.Series("montant_indicatif_cents", amounts, pl.Int64),
        pl.Series("_pct", pcts, pl.Int64),
        *[pl.Series(f"_s_{k}", [s[i] for s in own], pl.Int64) for i, k in enumerate(criteria)],
    )


from billing.core.explaining import explain_commune  # noqa: E402,F401  (re-exported: its home until §4b)
