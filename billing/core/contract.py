"""The typed contract of a priced year: what ``billing.core.pricing.price_year`` hands to the writers.

``Contributions`` and ``Lines`` are pandera (polars) models of ``Priced.contributions`` and
``Priced.lines``; ``check_priced`` validates both, lazily (every failure at once), plus the rules
that join them (the lines of a notice add up to its amount). Money is Int64 cents, unit prices
Int64 1/10 000 €: a float column is a broken contract, not a rounding detail.

    from billing.core.contract import check_priced
    priced = check_priced(price_year(base, tariff, annee=annee))   # raises PricedContractError

Columns that may be null, and why:
    contributions.commune, population      absent from a bare billing base (pricing adds them null)
    contributions.date_debut, date_fin     null unless situation == facturee
    contributions.montant_indicatif_cents  null unless situation == indicative
    contributions passthrough columns      as the billing base holds them (no date_retrait, no SIRET…)
    lines.quantite, taux_units             null on part fixe, plancher/plafond, prorata, répartition lines
Columns after the passthrough ones (register extras: nom, tncc, debiteur…) are allowed and not checked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

from billing.core.model import STATUTS

SITUATIONS = ("facturee", "indicative", "hors_periode")
FORMULES = ("produit", "prorata", "ajustement", "valeur")
CODE_INSEE_PATTERN = r"^(\d{5}|2[AB]\d{3})$"


def _sorted_by(*columns: str) -> pl.Expr:
    """True on every row not before the previous one in ``columns`` order (the first row is True)."""
    before = pl.lit(False)
    equal_so_far = pl.lit(True)
    for name in columns:
        current, previous = pl.col(name), pl.col(name).shift(1)
        before = before | (equal_so_far & (current < previous))
        equal_so_far = equal_so_far & (current == previous)
    return (~before).fill_null(True)


class Contributions(pa.DataFrameModel):
    """``Priced.contributions``: one row per member commune, sorted by code_insee."""

    code_insee: str = pa.Field(unique=True, str_matches=CODE_INSEE_PATTERN)
    commune: str = pa.Field(nullable=True)
    statut: str = pa.Field(isin=list(STATUTS))
    situation: str = pa.Field(isin=list(SITUATIONS))
    ecoles: int = pa.Field(ge=0)
    eleves: int = pa.Field(ge=0)
    population: int = pa.Field(nullable=True, ge=0)
    date_debut: dt.date = pa.Field(nullable=True)
    date_fin: dt.date = pa.Field(nullable=True)
    jours: int = pa.Field(ge=0, le=366)
    jours_annee: int = pa.Field(isin=[365, 366])
    mois: int = pa.Field(ge=0, le=12)
    facteur_num: int = pa.Field(ge=0)
    facteur_den: int = pa.Field(gt=0)
    montant_annuel_cents: int = pa.Field(ge=0)
    montant_cents: int = pa.Field(ge=0)
    montant_indicatif_cents: int = pa.Field(nullable=True, ge=0)
    departement: str = pa.Field(nullable=True)
    departement_nom: str = pa.Field(nullable=True)
    epci_siren: str = pa.Field(nullable=True)
    epci_nom: str = pa.Field(nullable=True)
    mairie_adresse: str = pa.Field(nullable=True)
    siret: str = pa.Field(nullable=True)
    groupe: str = pa.Field(nullable=True)
    date_effet: dt.date = pa.Field(nullable=True)
    date_retrait: dt.date = pa.Field(nullable=True)

    class Config:
        strict = False  # the billing base's other columns follow
        coerce = False  # a wrong dtype is a bug upstream, never converted here

    @pa.dataframe_check(error="lignes non triées par code_insee")
    def sorted_by_code(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_sorted_by("code_insee"))

    @pa.dataframe_check(error="situation « indicative » si et seulement si le statut est « conditionnelle »")
    def indicative_iff_conditionnelle(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("statut") == "conditionnelle") == (pl.col("situation") == "indicative"))

    @pa.dataframe_check(error="montant_cents non nul alors que la commune n'est pas facturée")
    def billed_only_when_facturee(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("situation") == "facturee") | (pl.col("montant_cents") == 0))

    @pa.dataframe_check(error="montant_indicatif_cents renseigné si et seulement si la situation est « indicative »")
    def indicative_amount_iff_indicative(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("montant_indicatif_cents").is_not_null() == (pl.col("situation") == "indicative"))

    @pa.dataframe_check(error="date_debut et date_fin renseignées si et seulement si la commune est facturée, "
                              "début au plus tard à la fin, dans la même année")
    def billed_period(cls, data: pa.PolarsData) -> pl.LazyFrame:
        debut, fin = pl.col("date_debut"), pl.col("date_fin")
        billed = pl.col("situation") == "facturee"
        dated = debut.is_not_null() & fin.is_not_null()
        both_or_none = dated | (debut.is_null() & fin.is_null())
        ordered = (debut <= fin) & (debut.dt.year() == fin.dt.year())
        return data.lazyframe.select(both_or_none & (dated == billed) & (~dated | ordered).fill_null(False))

    @pa.dataframe_check(error="jours et mois : ceux de la période facturée (0 hors facturation)")
    def days_and_months(cls, data: pa.PolarsData) -> pl.LazyFrame:
        debut, fin = pl.col("date_debut"), pl.col("date_fin")
        days = (fin - debut).dt.total_days() + 1
        months = fin.dt.month().cast(pl.Int64) - debut.dt.month().cast(pl.Int64) + 1
        billed = pl.col("situation") == "facturee"
        return data.lazyframe.select(
            pl.when(billed).then((pl.col("jours") == days) & (pl.col("mois") == months))
            .otherwise((pl.col("jours") == 0) & (pl.col("mois") == 0)).fill_null(False))

    @pa.dataframe_check(error="facteur de prorata : 0 ≤ facteur_num ≤ facteur_den ; "
                              "1/1 pour une commune indicative")
    def prorata_factor(cls, data: pa.PolarsData) -> pl.LazyFrame:
        num, den = pl.col("facteur_num"), pl.col("facteur_den")
        indicative = pl.col("situation") == "indicative"
        return data.lazyframe.select((num <= den) & (~indicative | ((num == 1) & (den == 1))))


class Lines(pa.DataFrameModel):
    """``Priced.lines``: one row per notice line, sorted by code_insee then ordre (1..n per commune)."""

    code_insee: str = pa.Field(str_matches=CODE_INSEE_PATTERN)
    ordre: int = pa.Field(ge=1)
    code: str
    libelle: str
    quantite: int = pa.Field(nullable=True, ge=0)
    taux_units: int = pa.Field(nullable=True, ge=0)
    montant_cents: int
    formule: str = pa.Field(isin=list(FORMULES))
    detail: str

    class Config:
        strict = True  # pricing selects exactly these columns
        coerce = False

    @pa.dataframe_check(error="lignes non triées par code_insee puis ordre")
    def sorted_by_code_and_ordre(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_sorted_by("code_insee", "ordre"))

    @pa.dataframe_check(error="ordre : 1, 2, 3… sans trou pour chaque commune")
    def ordre_consecutive(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("ordre") == pl.int_range(1, pl.len() + 1).over("code_insee"))

    @pa.dataframe_check(error="ligne « produit » : montant = arrondi au centime (demi vers le haut) "
                              "de quantite × taux_units / 100")
    def produit_is_quantity_times_rate(cls, data: pa.PolarsData) -> pl.LazyFrame:
        q, t = pl.col("quantite"), pl.col("taux_units")
        expected = (2 * q * t + 100) // 200  # q, t ≥ 0 (field checks): half-up of q·t/100
        return data.lazyframe.select(
            (pl.col("formule") != "produit") | (pl.col("montant_cents") == expected).fill_null(False))

    @pa.dataframe_check(error="ligne « prorata » : un prorata ne peut qu'abaisser le montant (montant ≤ 0)")
    def prorata_lowers(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("formule") != "prorata") | (pl.col("montant_cents") <= 0))


@dataclass(frozen=True)
class Failure:
    """One broken rule: which table, which rule, and a few of the offending values."""

    table: str
    check: str
    detail: str


class PricedContractError(ValueError):
    """A priced year breaks its contract; ``failures`` lists every broken rule found."""

    def __init__(self, failures: list[Failure], schema_errors: dict[str, SchemaErrors]):
        self.failures = tuple(failures)
        self.schema_errors = schema_errors
        text = "\n".join(f"  {f.table} — {f.check} : {f.detail}" for f in failures)
        super().__init__(f"le calcul ne respecte pas son contrat ({len(failures)} règle(s)) :\n{text}")


def _schema_failures(table: str, errors: SchemaErrors) -> list[Failure]:
    cases = errors.failure_cases
    if not isinstance(cases, pl.DataFrame):  # pandera gives a polars frame; be tolerant of versions
        return [Failure(table, "schéma", str(errors))]
    out = []
    keys = [c for c in ("schema_context", "column", "check") if c in cases.columns]
    for _, frame in cases.group_by(keys, maintain_order=True):
        first = frame.row(0, named=True)
        values = frame["failure_case"].head(3).to_list() if "failure_case" in frame.columns else []
        shown = [str(v) if len(str(v)) <= 80 else str(v)[:77] + "…" for v in values]
        where = "tableau" if first.get("schema_context") == "DataFrameSchema" else f"colonne {first.get('column')}"
        out.append(Failure(table, f"{where} : {first.get('check')}", f"{frame.height} cas ({' ; '.join(shown)})"))
    return out


def _cross_failures(contributions: pl.DataFrame, lines: pl.DataFrame) -> list[Failure]:
    """Rules across the two frames: each notice adds up; lines belong to a priced commune."""
    needed = {"code_insee", "situation", "montant_cents", "montant_indicatif_cents"}
    if not needed <= set(contributions.columns) or not {"code_insee", "montant_cents"} <= set(lines.columns):
        return []  # the column failures are already reported
    out = []
    sums = lines.group_by("code_insee").agg(pl.col("montant_cents").sum().alias("_lignes"), pl.len().alias("_n"))
    joined = contributions.select(*needed).join(sums, on="code_insee", how="left").with_columns(
        pl.col("_lignes").fill_null(0), pl.col("_n").fill_null(0))
    expected = (pl.when(pl.col("situation") == "facturee").then(pl.col("montant_cents"))
                .when(pl.col("situation") == "indicative").then(pl.col("montant_indicatif_cents")).otherwise(0))
    wrong = joined.filter((pl.col("_lignes") != expected).fill_null(True))
    if wrong.height:
        out.append(Failure("lignes", "la somme des lignes d'un avis égale son montant",
                           f"{wrong.height} commune(s) : {', '.join(wrong['code_insee'].head(5).to_list())}"))
    outside = joined.filter((pl.col("situation") == "hors_periode") & (pl.col("_n") > 0))
    if outside.height:
        out.append(Failure("lignes", "aucune ligne pour une commune hors période",
                           ", ".join(outside["code_insee"].head(5).to_list())))
    orphans = lines.join(contributions.select("code_insee"), on="code_insee", how="anti")
    if orphans.height:
        out.append(Failure("lignes", "chaque ligne appartient à une commune du calcul",
                           ", ".join(orphans["code_insee"].unique(maintain_order=True).head(5).to_list())))
    return out


def check_priced(priced):
    """Validate ``priced.contributions`` and ``priced.lines`` (every failure at once); return ``priced``.

    Raises PricedContractError listing each broken rule; nothing is converted or repaired.
    """
    failures: list[Failure] = []
    schema_errors: dict[str, SchemaErrors] = {}
    for table, model, frame in (("contributions", Contributions, priced.contributions),
                                ("lignes", Lines, priced.lines)):
        try:
            model.validate(frame, lazy=True)
        except SchemaErrors as errors:
            schema_errors[table] = errors
            failures += _schema_failures(table, errors)
    failures += _cross_failures(priced.contributions, priced.lines)
    if failures:
        raise PricedContractError(failures, schema_errors)
    return priced
