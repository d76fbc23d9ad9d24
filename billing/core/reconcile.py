"""Payments against titres: who paid what, what is still owed, what was paid twice. Pure.

The reconciliation of an exercice covers its titres (nature ``titre`` or
``complementaire``) and every réduction/annulation that cites one of them, whatever the
exercice of the correction. Matching, in this order (a finance officer's rules, written
down in the README):

1. a payment that cites a titre number is imputed to that titre, all of it; what exceeds
   the titre's net amount is a trop-perçu of that titre (to refund or re-impute) — the
   comptable never moves money away from the titre the debtor named;
2. a payment that cites a titre of another exercice is set aside (listed, not counted):
   it belongs to that exercice's reconciliation;
3. without a number, the commune's titres are taken oldest first (issue date, then
   number): a titre whose outstanding amount equals the payment exactly takes it;
4. otherwise the payment pays the commune's debts oldest first (Code civil, art.
   1342-10: failing an indication, the oldest debt is paid first), split across titres
   when it covers more than one; anything left beyond all it owes is a trop-perçu of the
   last titre paid;
5. a commune that owes nothing, or has no titre this exercice, gets its payment listed as
   not reconciled, with the reason — someone must look at it;
6. a payment citing a number the ledger does not hold (or a réduction's number) is set
   aside the same way, with a warning, never an error: one mistyped number must not stop
   the reconciliation of every other payment. The warning and the motif suggest the titres
   of the payer's own commune (its ``code_insee``, else its ``commune`` name) first, then
   numbers that look alike.

Payments without a number are imputed in date order, after every numbered payment.
Totals obey ``issued − reduced = paid + outstanding − overpaid`` to the cent; a broken
identity is a bug and raises ``BalanceError``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date
from typing import Mapping

import polars as pl

from billing.core import problems as P
from billing.core.money import format_euros
from billing.core.natures import CREDITS, DEBITS
from billing.core.problems import Code, Problem
from billing.core.text import slug


MODE_NUMERO = "numéro de titre"
MODE_MONTANT = "commune et montant exact"
MODE_ANCIENNETE = "commune, dette la plus ancienne"
MODE_SURPLUS = "commune, excédent (trop-perçu)"


class BalanceError(AssertionError):
    """The reconciliation does not balance to the cent: a bug, never a data problem."""


@dataclass(frozen=True)
class Totals:
    """Sums over the reconciled titres and the payments received, in cents."""

    emis: int
    reduit: int
    paye: int
    reste: int
    trop_percu: int
    recu: int  # every payment read
    non_rapproche: int
    autres_exercices: int

    @property
    def net(self) -> int:
        return self.emis - self.reduit


@dataclass(frozen=True, eq=False)
class Reconciliation:
    """The state of an exercice's titres at ``as_of``.

    ``titres``: one row per titre/complementaire (numero, exercice, nature, code_insee,
    commune, date_emission, date_echeance, emis_cents, reduit_cents, paye_cents,
    reste_cents, trop_percu_cents, jours, corrections, paiements);
    ``allocations``: one row per (payment, titre) share; ``unmatched``: payments not
    reconciled, with ``motif``; ``other_years``: payments of another exercice's titres;
    ``reminders``: one row per commune with an overdue outstanding amount.
    """

    annee: int
    as_of: date
    titres: pl.DataFrame
    allocations: pl.DataFrame
    unmatched: pl.DataFrame
    other_years: pl.DataFrame
    reminders: pl.DataFrame
    totals: Totals
    problems: tuple[Problem, ...] = ()

    @property
    def overpaid(self) -> pl.DataFrame:
        return self.titres.filter(pl.col("trop_percu_cents") > 0)


@dataclass
class _Open:
    """A titre being paid during the matching (local, mutable while matching only)."""

    numero: str
    code_insee: str
    commune: str | None
    order: tuple
    net: int
    paid: int = 0

    @property
    def outstanding(self) -> int:
        return max(0, self.net - self.paid)


_ALLOCATION_SCHEMA = {"_row": pl.Int64, "reference": pl.Utf8, "date": pl.Date, "numero_titre": pl.Utf8,
                      "numero": pl.Utf8,
                      "code_insee": pl.Utf8, "montant_cents": pl.Int64, "mode": pl.Utf8}


def reconcile(titres: pl.DataFrame, payments: pl.DataFrame, *, annee: int, as_of: date,
              columns: Mapping[str, str] | None = None) -> Reconciliation:
    """Match the payments to the titres of exercice ``annee`` and balance every titre at ``as_of``.

    ``columns`` (canonical name -> header of the payments file) names the columns of the
    problems as the officer's file shows them.
    """
    payable = titres.filter(pl.col("nature").is_in(list(DEBITS)))
    corrections = titres.filter(pl.col("nature").is_in(list(CREDITS)))
    base = _titre_base(payable.filter(pl.col("exercice") == annee).sort("date_emission", "numero"), corrections)
    matcher = _Matcher(base, other_numbers=dict(payable.filter(pl.col("exercice") != annee)
                                                .select("numero", "exercice").iter_rows()),
                       correction_origins=dict(corrections.select("numero", "origine_numero").iter_rows()),
                       columns=columns or {})
    ordered = payments.sort("date", "_row")
    for pay in ordered.filter(pl.col("numero_titre").is_not_null()).iter_rows(named=True):
        matcher.by_number(pay)
    for pay in ordered.filter(pl.col("numero_titre").is_null()).iter_rows(named=True):
        matcher.by_commune(pay)

    allocation_frame = pl.DataFrame(matcher.allocations, schema=_ALLOCATION_SCHEMA)
    per_titre = _per_titre(base, allocation_frame, as_of)
    unmatched_frame = _payment_frame(matcher.unmatched, extra={"motif": pl.Utf8})
    other_frame = _payment_frame(matcher.other_years, extra={"exercice": pl.Int64})
    totals = Totals(
        emis=_sum(per_titre, "emis_cents"),
        reduit=_sum(per_titre, "reduit_cents"),
        paye=_sum(per_titre, "paye_cents"),
        reste=_sum(per_titre, "reste_cents"),
        trop_percu=_sum(per_titre, "trop_percu_cents"),
        recu=_sum(payments, "montant_cents"),
        non_rapproche=_sum(unmatched_frame, "montant_cents"),
        autres_exercices=_sum(other_frame, "montant_cents"),
    )
    check_balance(per_titre, totals)
    return Reconciliation(annee, as_of, per_titre, allocation_frame, unmatched_frame, other_frame,
                          _reminders(per_titre, as_of), totals, tuple(P.sort_problems(matcher.problems)))


def _titre_base(in_year: pl.DataFrame, corrections: pl.DataFrame) -> pl.DataFrame:
    """The payable titres of the year with what their credits took off (reduit_cents) and which."""
    reduced = (
        corrections.group_by("origine_numero")
        .agg(pl.col("montant_cents").sum().alias("reduit_cents"),
             pl.col("numero").sort().str.join(", ").alias("corrections"))
        .rename({"origine_numero": "numero"})
    )
    return (
        in_year.select("numero", "exercice", "nature", "code_insee", "commune", "date_emission", "date_echeance",
                       pl.col("montant_cents").alias("emis_cents"))
        .join(reduced, on="numero", how="left")
        .with_columns(pl.col("reduit_cents").fill_null(0).cast(pl.Int64))
    )


class _Matcher:
    """Allocates payments, one at a time in date order, to the titres still open."""

    def __init__(self, base: pl.DataFrame, *, other_numbers: dict, correction_origins: dict,
                 columns: Mapping[str, str]) -> None:
        self.open_titres = {
            numero: _Open(numero, code, commune, (emitted, numero), emis - reduit)
            for numero, code, commune, emitted, emis, reduit in base.select(
                "numero", "code_insee", "commune", "date_emission", "emis_cents", "reduit_cents").iter_rows()
        }
        self.columns = columns
        self.communes: dict[str, list[_Open]] = {}
        for item in sorted(self.open_titres.values(), key=lambda t: t.order):
            self.communes.setdefault(item.code_insee, []).append(item)
        self.other_numbers = other_numbers
        self.correction_origins = correction_origins
        self.allocations: list[dict] = []
        self.unmatched: list[dict] = []
        self.other_years: list[dict] = []
        self.problems: list[Problem] = []

    def allocate(self, pay: dict, titre: _Open, cents: int, mode: str) -> None:
        titre.paid += cents
        self.allocations.append({"_row": pay["_row"], "reference": pay.get("reference"), "date": pay["date"],
                                 "numero_titre": pay.get("numero_titre"), "numero": titre.numero,
                                 "code_insee": titre.code_insee, "montant_cents": cents, "mode": mode})

    def set_aside(self, pay: dict, motif: str) -> None:
        self.unmatched.append({**_payment_record(pay), "motif": motif})

    def by_number(self, pay: dict) -> None:
        """A payment that cites a titre number: that titre, whatever commune the payment names."""
        numero = pay["numero_titre"]
        titre = self.open_titres.get(numero)
        if titre is not None:
            if pay.get("code_insee") and pay["code_insee"] != titre.code_insee:
                self.problems.append(P.warning(
                    _source(pay), pay["_row"], self.column("code_insee"),
                    f"le titre {numero} a pour débiteur la commune {titre.code_insee} : le numéro de titre est retenu",
                    value=pay["code_insee"]))
            self.allocate(pay, titre, pay["montant_cents"], MODE_NUMERO)
        elif numero in self.other_numbers:
            self.other_years.append({**_payment_record(pay), "exercice": self.other_numbers[numero]})
        elif numero in self.correction_origins:
            origin = self.correction_origins[numero]
            self.problems.append(P.warning(
                _source(pay), pay["_row"], self.column("numero_titre"),
                "est le numéro d'une réduction ou annulation, pas d'un titre à payer : paiement mis de côté "
                "(feuille « Non rapprochés »).", value=numero,
                suggestion=f"Indiquez le titre d'origine « {origin} »."))
            self.set_aside(pay, f"{numero} est une réduction/annulation, pas un titre à payer "
                                f"(titre d'origine : {origin})")
        else:
            own = [t.numero for t in sorted(self.payer_titres(pay), key=lambda t: (t.outstanding == 0, t.order))][:3]
            suggested = own or self.look_alikes(numero)
            self.problems.append(P.warning(
                _source(pay), pay["_row"], self.column("numero_titre"),
                "n'est pas un titre du registre des titres : paiement mis de côté (feuille « Non rapprochés »).",
                value=numero, code=Code.UNKNOWN, suggestion=_suggestion_text(suggested, pay, own=bool(own))))
            motif = f"titre {numero} inconnu du registre"
            if suggested:
                motif += f" ; titre(s) proposé(s) : {', '.join(suggested)}"
            self.set_aside(pay, motif)

    def column(self, name: str) -> str:
        return self.columns.get(name, name)

    def look_alikes(self, number: str) -> list[str]:
        """The exercice's titres a typo most likely meant: same sequence number first, then similar spellings."""
        wanted = re.sub(r"[\s_]+", "-", number.strip()).upper()
        digits = re.findall(r"\d+", wanted)
        numbers = sorted(self.open_titres)
        same_sequence = [n for n in numbers if digits and int(re.findall(r"\d+", n)[-1]) == int(digits[-1])]
        close = difflib.get_close_matches(wanted, numbers, n=3, cutoff=0.6)
        return list(dict.fromkeys([*same_sequence, *close]))[:3]

    def payer_titres(self, pay: dict) -> list[_Open]:
        """The exercice's titres of the commune the payment names, by code, else by name (accents and case aside)."""
        code = pay.get("code_insee")
        if code:
            return list(self.communes.get(code, []))
        name = pay.get("commune")
        if not name:
            return []
        wanted = slug(name)
        return [t for t in self.open_titres.values() if t.commune and slug(t.commune) == wanted]

    def by_commune(self, pay: dict) -> None:
        """A payment without a number: the titre of that exact amount, else the oldest first."""
        code = pay.get("code_insee")
        owed = self.communes.get(code or "", [])
        if not owed:
            self.set_aside(pay, "aucun titre de l'exercice pour cette commune" if code else
                           "ni numéro de titre ni commune")
            return
        outstanding = [t for t in owed if t.outstanding > 0]
        if not outstanding:
            self.set_aside(pay, "la commune ne doit plus rien sur l'exercice : paiement en double ?")
            return
        exact = next((t for t in outstanding if t.outstanding == pay["montant_cents"]), None)
        if exact is not None:
            self.allocate(pay, exact, pay["montant_cents"], MODE_MONTANT)
            return
        left = pay["montant_cents"]
        last = outstanding[0]
        for titre in outstanding:
            if left == 0:
                break
            share = min(left, titre.outstanding)
            self.allocate(pay, titre, share, MODE_ANCIENNETE)
            left -= share
            last = titre
        if left:
            self.allocate(pay, last, left, MODE_SURPLUS)


def _per_titre(base: pl.DataFrame, allocation_frame: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Each titre's balance: paid, what remains, what was overpaid, days late."""
    paid = allocation_frame.group_by("numero").agg(
        pl.col("montant_cents").sum().alias("paye_cents"),
        pl.col("reference").drop_nulls().unique(maintain_order=True).str.join(", ").alias("paiements"),
    )
    net = pl.col("emis_cents") - pl.col("reduit_cents")
    return (
        base.join(paid, on="numero", how="left")
        .with_columns(pl.col("paye_cents").fill_null(0).cast(pl.Int64))
        .with_columns(
            pl.max_horizontal(pl.lit(0, pl.Int64), net - pl.col("paye_cents")).alias("reste_cents"),
            pl.max_horizontal(pl.lit(0, pl.Int64), pl.col("paye_cents") - net).alias("trop_percu_cents"),
        )
        .with_columns(
            pl.when(pl.col("reste_cents") > 0)
            .then(pl.max_horizontal(pl.lit(0, pl.Int64),
                                    (pl.lit(as_of) - pl.col("date_echeance")).dt.total_days().cast(pl.Int64)))
            .otherwise(None)
            .alias("jours"),
        )
        .select("numero", "exercice", "nature", "code_insee", "commune", "date_emission", "date_echeance",
                "emis_cents", "reduit_cents", "paye_cents", "reste_cents", "trop_percu_cents", "jours",
                "corrections", "paiements")
        .sort("numero")
    )


def check_balance(per_titre: pl.DataFrame, totals: Totals) -> None:
    """Every titre and the totals balance to the cent; every payment received is accounted for."""
    broken = per_titre.filter(
        pl.col("emis_cents") - pl.col("reduit_cents")
        != pl.col("paye_cents") + pl.col("reste_cents") - pl.col("trop_percu_cents")
    )
    if broken.height:
        raise BalanceError(f"titres déséquilibrés : {broken['numero'].to_list()}")
    if totals.emis - totals.reduit != totals.paye + totals.reste - totals.trop_percu:
        raise BalanceError(
            f"émis − réduit ({format_euros(totals.net)}) ≠ payé + reste − trop-perçu "
            f"({format_euros(totals.paye + totals.reste - totals.trop_percu)})")
    if totals.recu != totals.paye + totals.non_rapproche + totals.autres_exercices:
        raise BalanceError(
            f"reçu ({format_euros(totals.recu)}) ≠ rapproché + non rapproché + autres exercices "
            f"({format_euros(totals.paye + totals.non_rapproche + totals.autres_exercices)})")


def _reminders(per_titre: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Communes with an outstanding amount past its due date: whom to remind, for how much, since when."""
    overdue = per_titre.filter((pl.col("reste_cents") > 0) & (pl.col("date_echeance") < as_of))
    return (
        overdue.sort("date_echeance", "numero")
        .group_by("code_insee", maintain_order=True)
        .agg(
            pl.col("commune").first(),
            pl.col("numero").str.join(", ").alias("titres"),
            pl.col("reste_cents").sum(),
            pl.col("date_echeance").min().alias("echeance"),
            pl.col("jours").max(),
        )
        .sort(["jours", "reste_cents", "code_insee"], descending=[True, True, False])
    )


def _suggestion_text(suggested: list[str], pay: dict, *, own: bool) -> str:
    """The payer's own titres when the payment names its commune (the likeliest meaning), else look-alikes."""
    if not suggested:
        return "Vérifiez le numéro sur l'avis des sommes à payer, ou laissez la colonne vide et indiquez le code INSEE."
    shown = " ou ".join(f"« {n} »" for n in suggested)
    if own:
        return f"Vouliez-vous dire {shown} (titre(s) de la commune {pay.get('code_insee') or pay.get('commune')}) ?"
    return f"Vouliez-vous dire {shown} ?"


def _payment_record(pay: dict) -> dict:
    return {"_row": pay["_row"], "source": pay.get("source"), "date": pay["date"], "montant_cents": pay["montant_cents"],
            "code_insee": pay.get("code_insee"), "numero_titre": pay.get("numero_titre"),
            "reference": pay.get("reference")}


def _payment_frame(records: list[dict], *, extra: dict) -> pl.DataFrame:
    schema = {"_row": pl.Int64, "source": pl.Utf8, "date": pl.Date, "montant_cents": pl.Int64,
              "code_insee": pl.Utf8, "numero_titre": pl.Utf8, "reference": pl.Utf8, **extra}
    return pl.DataFrame(records, schema=schema).sort("date", "_row")


def _source(pay: dict) -> str:
    return pay.get("source") or "paiements.csv"


def _sum(frame: pl.DataFrame, column: str) -> int:
    return int(frame[column].sum() or 0) if frame.height else 0
