"""pandera models of the input tables, once typed (see ``billing.inputs.readers.coerce``).

Every check carries the sentence a finance officer reads (``error=``); the machinery in
``billing.inputs.members`` turns pandera's failure cases into located problems. Frames are
validated collected (a LazyFrame would only be checked for columns and types).
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

from billing.core.identifiers import luhn_ok, uai_key_ok
from billing.core.model import STATUTS

CODE_INSEE_PATTERN = r"^(\d{5}|2[AB]\d{3})$"
OLDEST_YEAR = 1990
LATEST_YEAR = 2100


def _valid_or_null(data: pa.PolarsData, predicate) -> pl.LazyFrame:
    column = pl.col(data.key)
    return data.lazyframe.select(column.is_null() | column.map_elements(predicate, return_dtype=pl.Boolean))


class Adhesions(pa.DataFrameModel):
    """adhesions.csv: the member register, one row per commune."""

    code_insee: str = pa.Field(nullable=True)
    commune: str = pa.Field(nullable=True)
    statut: str = pa.Field(nullable=True)
    date_effet: dt.date = pa.Field(nullable=True)
    date_retrait: dt.date = pa.Field(nullable=True)
    siret: str = pa.Field(nullable=True)
    population: int = pa.Field(nullable=True)
    mode_contribution: str = pa.Field(nullable=True)

    @pa.check("population", error="une population ne peut pas être négative (nombre entier d'habitants ; "
                                  "vide : celle du référentiel)")
    def population_non_negative(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | (c >= 0))

    @pa.check("mode_contribution", error="mode_contribution attendu : titre (par défaut) ou fiscalisee "
                                         "(contribution levée par l'impôt local, CGCT L5212-20)")
    def mode_known(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | c.is_in(["titre", "fiscalisee"]))

    @pa.check("code_insee", error="un code INSEE a 5 caractères (59350, 2A004)")
    def code_insee_form(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | c.str.contains(CODE_INSEE_PATTERN))

    @pa.check("statut", error="statut attendu : adherente, conditionnelle ou retiree")
    def statut_known(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | c.is_in(list(STATUTS)))

    @pa.check("statut", error="le statut est obligatoire (adherente, conditionnelle ou retiree)")
    def statut_present(cls, data):
        return data.lazyframe.select(pl.col(data.key).is_not_null())

    @pa.check("siret", error="SIRET invalide : 14 chiffres dont le dernier est une clé de contrôle (Luhn)")
    def siret_valid(cls, data):
        return _valid_or_null(data, lambda s: len(s) == 14 and s.isdigit() and luhn_ok(s))

    @pa.check("date_effet", error="date hors des années plausibles (1990-2100)")
    def date_effet_plausible(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | c.dt.year().is_between(OLDEST_YEAR, LATEST_YEAR))

    @pa.check("date_retrait", error="date hors des années plausibles (1990-2100)")
    def date_retrait_plausible(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | c.dt.year().is_between(OLDEST_YEAR, LATEST_YEAR))

    @pa.dataframe_check(error="date_retrait : la date de retrait (premier jour où la commune n'est plus membre) doit être postérieure à la date d'effet de la même ligne")
    def withdrawal_after_entry(cls, data):
        effet, retrait = pl.col("date_effet"), pl.col("date_retrait")
        return data.lazyframe.select(effet.is_null() | retrait.is_null() | (retrait > effet))

    @pa.dataframe_check(error="date_effet : la date d'effet de l'adhésion est obligatoire pour une commune adhérente ou retirée (ex. 01/03/2024)")
    def entry_date_required(cls, data):
        return data.lazyframe.select(
            pl.col("date_effet").is_not_null() | pl.col("statut").is_null() | (pl.col("statut") == "conditionnelle")
        )

    @pa.dataframe_check(error="date_retrait : une commune retirée doit avoir une date de retrait (premier jour où elle n'est plus membre)")
    def withdrawal_date_required(cls, data):
        return data.lazyframe.select((pl.col("statut") != "retiree") | pl.col("date_retrait").is_not_null())

    @pa.dataframe_check(error="commune : il faut le code INSEE ou le nom de la commune")
    def commune_identified(cls, data):
        return data.lazyframe.select(pl.col("code_insee").is_not_null() | pl.col("commune").is_not_null())

    class Config:
        strict = False


# Counts beyond these are typing slips (a UAI or a phone number in the pupils column), not schools:
# the largest French primary schools have about 1 500 pupils and 60 classes; Paris, the largest
# commune, about 700 public primary schools and 130 000 pupils.
MAX_PUPILS_PER_SCHOOL = 5_000
MAX_CLASSES_PER_SCHOOL = 200
MAX_SCHOOLS_PER_COMMUNE = 1_000
MAX_PUPILS_PER_COMMUNE = 300_000


class _Counts(pa.DataFrameModel):
    """What every form of pupil counts shares: a rentrée and a number of pupils."""

    rentree: int = pa.Field(nullable=True)
    eleves: int = pa.Field(nullable=True)

    @pa.check("rentree", error="l'année de rentrée est obligatoire (ex. 2023 pour l'année scolaire 2023-2024)")
    def rentree_present(cls, data):
        return data.lazyframe.select(pl.col(data.key).is_not_null())

    @pa.check("rentree", error="année de rentrée hors des années plausibles (1990-2100)")
    def rentree_plausible(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | c.is_between(OLDEST_YEAR, LATEST_YEAR))

    @pa.check("eleves", error="un nombre d'élèves ne peut pas être négatif")
    def eleves_non_negative(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | (c >= 0))

    @pa.check("eleves", error="le nombre d'élèves est obligatoire")
    def eleves_present(cls, data):
        return data.lazyframe.select(pl.col(data.key).is_not_null())

    class Config:
        strict = False


class SchoolCounts(_Counts):
    """effectifs: one row per school (official export or the simple per-school form)."""

    uai: str = pa.Field(nullable=True)
    secteur: str = pa.Field(nullable=True)
    classes: int = pa.Field(nullable=True)

    @pa.check("uai", error="UAI invalide : 7 chiffres suivis de la lettre clé (ex. 0350103X)")
    def uai_valid(cls, data):
        return _valid_or_null(data, uai_key_ok)

    @pa.check("secteur", error="secteur attendu : PUBLIC ou PRIVE")
    def secteur_known(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | c.is_in(["public", "prive"]))

    @pa.check("classes", error="un nombre de classes ne peut pas être négatif")
    def classes_non_negative(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | (c >= 0))

    @pa.check("eleves", error=f"nombre d'élèves invraisemblable pour une école (au plus {MAX_PUPILS_PER_SCHOOL:_} "
                              f"attendu)".replace("_", "\u202f"))
    def eleves_plausible(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | (c <= MAX_PUPILS_PER_SCHOOL))

    @pa.check("classes", error=f"nombre de classes invraisemblable pour une école (au plus {MAX_CLASSES_PER_SCHOOL} "
                               f"attendu)")
    def classes_plausible(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | (c <= MAX_CLASSES_PER_SCHOOL))


class CommuneCounts(_Counts):
    """effectifs in the per-commune form: a commune's own declaration."""

    ecoles: int = pa.Field(nullable=True)

    @pa.check("ecoles", error="un nombre d'écoles ne peut pas être négatif")
    def ecoles_non_negative(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | (c >= 0))

    @pa.check("ecoles", error="le nombre d'écoles publiques est obligatoire")
    def ecoles_present(cls, data):
        return data.lazyframe.select(pl.col(data.key).is_not_null())

    @pa.check("ecoles", error=f"nombre d'écoles invraisemblable pour une commune (au plus "
                              f"{MAX_SCHOOLS_PER_COMMUNE:_} attendu)".replace("_", "\u202f"))
    def ecoles_plausible(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | (c <= MAX_SCHOOLS_PER_COMMUNE))

    @pa.check("eleves", error=f"nombre d'élèves invraisemblable pour une commune (au plus "
                              f"{MAX_PUPILS_PER_COMMUNE:_} attendu)".replace("_", "\u202f"))
    def eleves_plausible(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_null() | (c <= MAX_PUPILS_PER_COMMUNE))

    @pa.dataframe_check(error="des élèves sans aucune école publique : vérifiez le nombre d'écoles")
    def pupils_need_a_school(cls, data):
        return data.lazyframe.select(
            pl.col("ecoles").is_null() | pl.col("eleves").is_null() | (pl.col("ecoles") > 0) | (pl.col("eleves") == 0)
        )


class Budget(pa.DataFrameModel):
    """budget.csv: the voted budget lines (M57 accounts)."""

    annee: int = pa.Field(nullable=True)
    compte: str = pa.Field(nullable=True)
    montant_prevu_cents: int = pa.Field(nullable=True)

    @pa.check("annee", error="l'année est obligatoire et plausible (1990-2100)")
    def annee_plausible(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_not_null() & c.is_between(OLDEST_YEAR, LATEST_YEAR))

    @pa.check("compte", error="un compte M57 s'écrit en chiffres (ex. 7474)")
    def compte_digits(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_not_null() & c.str.contains(r"^\d{2,8}$"))

    @pa.check("montant_prevu_cents", error="le montant prévu est obligatoire")
    def montant_present(cls, data):
        return data.lazyframe.select(pl.col(data.key).is_not_null())

    class Config:
        strict = False


class Payments(pa.DataFrameModel):
    """paiements.csv: what the comptable public collected."""

    date: dt.date = pa.Field(nullable=True)
    montant_cents: int = pa.Field(nullable=True)

    @pa.check("date", error="la date du paiement est obligatoire")
    def date_present(cls, data):
        return data.lazyframe.select(pl.col(data.key).is_not_null())

    @pa.check("montant_cents", error="un paiement est un montant positif")
    def montant_positive(cls, data):
        c = pl.col(data.key)
        return data.lazyframe.select(c.is_not_null() & (c > 0))

    @pa.dataframe_check(error="numero_titre : il faut le numéro de titre ou le code INSEE de la commune qui paie")
    def payer_identified(cls, data):
        return data.lazyframe.select(pl.col("numero_titre").is_not_null() | pl.col("code_insee").is_not_null())

    class Config:
        strict = False
