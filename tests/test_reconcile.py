"""Payments and the yearly reconciliation: reading the accountant's export, matching, balancing to the cent,
and the rapprochement workbook read back (and recalculated by LibreOffice when it is installed)."""

from __future__ import annotations

import shutil
import subprocess
import warnings
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.core.model import Syndicat
from billing.inputs.payments import read_payments
from billing.core.reconcile import (
    MODE_ANCIENNETE,
    MODE_MONTANT,
    MODE_NUMERO,
    MODE_SURPLUS,
    BalanceError,
    Totals,
    check_balance,
    reconcile,
)
from billing.render.rapprochement import write_rapprochement

AS_OF = date(2025, 1, 31)
GENERATED = datetime(2025, 2, 3, 9, 15)
SYNDICAT = Syndicat(nom="Syndicat mixte Nord - Pas-de-Calais Numérique",
                    adresse="151 avenue du Président Hoover, 59555 Lille Cedex", siret="25590019600031",
                    president="Christophe COULON")
TITRE_SCHEMA = {"numero": pl.Utf8, "exercice": pl.Int64, "code_insee": pl.Utf8, "commune": pl.Utf8,
                "nature": pl.Utf8, "origine_numero": pl.Utf8, "montant_cents": pl.Int64,
                "date_emission": pl.Date, "date_echeance": pl.Date}
HOSTILE = '=HYPERLINK("http://x","clic")'


def two_year_ledger() -> pl.DataFrame:
    """Titres of 2023 and 2024 as the ledger holds them: titres, two complementary titres, a réduction."""
    rows = [
        ("ENT-2023-0001", 2023, "59360", "Lys-lez-Lannoy", "titre", None, 150000, date(2023, 2, 1)),
        ("ENT-2023-0002", 2023, "59522", "Sailly-lez-Lannoy", "titre", None, 80000, date(2023, 2, 1)),
        ("ENT-2024-0001", 2024, "59360", "Lys-lez-Lannoy", "titre", None, 147000, date(2024, 2, 1)),
        ("ENT-2024-0002", 2024, "59522", "Sailly-lez-Lannoy", "titre", None, 84550, date(2024, 2, 1)),
        ("ENT-2024-0003", 2024, "59599", "Toufflers", "titre", None, 61230, date(2024, 2, 1)),
        ("ENT-2024-0004", 2024, "59339", "Leers", "titre", None, 210000, date(2024, 2, 1)),
        ("ENT-2024-0005", 2024, "59650", HOSTILE, "titre", None, 300000, date(2024, 2, 1)),
        ("ENT-2024-0006", 2024, "59360", "Lys-lez-Lannoy", "complementaire", None, 12000, date(2024, 6, 3)),
        ("ENT-2024-0007", 2024, "59599", "Toufflers", "reduction", "ENT-2024-0003", 10000, date(2024, 6, 3)),
        ("ENT-2024-0008", 2024, "59339", "Leers", "complementaire", None, 20000, date(2024, 6, 3)),
    ]
    return pl.DataFrame([(*r, r[7] + timedelta(days=30)) for r in rows], schema=TITRE_SCHEMA, orient="row")


# The accountant's export as it comes: `;`, French amounts, its own headers, the debtor's code.
EXPORT = """N° titre;Date encaissement;Montant encaissé;Débiteur;Référence
ENT-2024-0001;15/03/2024;1 470,00;59360;VIR-001
;10/07/2024;120,00;59360;VIR-002
ENT-2024-0002;20/03/2024;400,00;59522;VIR-003
ENT-2024-0002;20/05/2024;300,00;59522;VIR-004
ENT-2024-0003;25/03/2024;612,30;59599;VIR-005
;02/04/2024;1 000,00;59339;VIR-006
;12/09/2024;1 250,00;59339;VIR-007
;15/10/2024;50,00;59360;VIR-008
ENT-2023-0002;15/01/2024;800,00;59522;VIR-009
"""
DUPLICATE_LINE = "ENT-2024-0002;20/05/2024;300,00;59522;VIR-004\n"


def ledger_facts(titres: pl.DataFrame) -> dict:
    return {
        "known_titres": set(titres["numero"].to_list()),
        "known_communes": set(titres["code_insee"].to_list()),
        "titre_exercices": dict(titres.select("numero", "exercice").iter_rows()),
    }


def read(path: Path, titres: pl.DataFrame, **extra):
    return read_payments(path, display="inputs/paiements.csv", annee=2024, **ledger_facts(titres), **extra)


def write(tmp_path: Path, text: str, name: str = "paiements.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def two_years(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paiements")
    titres = two_year_ledger()
    payments, problems = read(write(folder, EXPORT), titres)
    assert problems == []
    return titres, payments, reconcile(titres, payments, annee=2024, as_of=AS_OF)


def by_numero(rec) -> dict[str, dict]:
    return {row["numero"]: row for row in rec.titres.iter_rows(named=True)}


# --------------------------------------------------------------------------- reading payments


def test_accountant_export_is_read_with_french_amounts(two_years):
    _, payments, _ = two_years
    assert payments.columns == ["numero_titre", "date", "montant_cents", "code_insee", "commune", "reference",
                                "_row", "source"]
    assert payments.select("numero_titre", "date", "montant_cents", "code_insee", "reference", "_row").rows() == [
        ("ENT-2024-0001", date(2024, 3, 15), 147000, "59360", "VIR-001", 2),
        (None, date(2024, 7, 10), 12000, "59360", "VIR-002", 3),
        ("ENT-2024-0002", date(2024, 3, 20), 40000, "59522", "VIR-003", 4),
        ("ENT-2024-0002", date(2024, 5, 20), 30000, "59522", "VIR-004", 5),
        ("ENT-2024-0003", date(2024, 3, 25), 61230, "59599", "VIR-005", 6),
        (None, date(2024, 4, 2), 100000, "59339", "VIR-006", 7),
        (None, date(2024, 9, 12), 125000, "59339", "VIR-007", 8),
        (None, date(2024, 10, 15), 5000, "59360", "VIR-008", 9),
        ("ENT-2023-0002", date(2024, 1, 15), 80000, "59522", "VIR-009", 10),
    ]
    assert set(payments["source"]) == {"inputs/paiements.csv"}


def test_design_form_with_commas_and_folded_titre_numbers(tmp_path):
    text = ("numero_titre,date,montant,code_insee,reference\n"
            "ent 2024 0004,2024-04-02,2100.00,59339,A1\n"
            ",13/12/2024,\"1 234,56 €\",59522,A2\n")
    payments, problems = read(write(tmp_path, text), two_year_ledger())
    assert problems == []
    assert payments.select("numero_titre", "date", "montant_cents", "code_insee").rows() == [
        ("ENT-2024-0004", date(2024, 4, 2), 210000, "59339"),
        (None, date(2024, 12, 13), 123456, "59522"),
    ]


def test_debtor_given_by_name_is_read_when_names_are_known(tmp_path):
    text = "titre;date_paiement;montant_ttc;debiteur;ref\n;02/04/2024;10,00;COMMUNE DE LEERS;X1\n"
    names = {"59339": "Leers", "59360": "Lys-lez-Lannoy"}
    payments, problems = read(write(tmp_path, text), two_year_ledger(), commune_names=names)
    assert problems == []
    assert payments["code_insee"].to_list() == ["59339"]


def test_bad_payment_rows_are_reported_like_every_input_error(tmp_path):
    text = (EXPORT.splitlines()[0] + "\n"
            "ENT-2024-0001;15/03/2024;1 470,00;59360;VIR-001\n"   # 2: fine
            "ENT-2024-0011;15/03/2024;10,00;59360;VIR-010\n"      # 3: unknown titre: kept, set aside later
            "ENT-2024-0002;16/03/2024;-45,00;59522;VIR-011\n"     # 4: negative
            "ENT-2024-0002;16/03/2024;0,00;59522;VIR-012\n"       # 5: zero
            "ENT-2024-0004;16/03/2026;100,00;59339;VIR-013\n"     # 6: after the window
            "ENT-2023-0001;02/01/2025;100,00;59360;VIR-014\n"     # 7: a 2023 titre paid in 2025
            ";31/12/2023;100,00;59339;VIR-015\n"                  # 8: before the year, no number
            + DUPLICATE_LINE.replace("VIR-004", "VIR-001")          # 9: duplicate reference
            + ";16/03/2024;10,001;59339;VIR-016\n"               # 10: more than 2 decimals
            ";16/03/2024;10,00;59999;VIR-017\n")                  # 11: not a member
    payments, problems = read(write(tmp_path, text), two_year_ledger())
    assert [p.render() for p in problems] == [
        "inputs/paiements.csv, ligne 4, colonne « Montant encaissé » : « -45,00 » : un paiement est un montant "
        "positif. Un encaissement annulé se retire de l'export ; il ne s'inscrit pas en montant négatif.",
        "inputs/paiements.csv, ligne 5, colonne « Montant encaissé » : « 0,00 » : un paiement est un montant "
        "positif. Un encaissement annulé se retire de l'export ; il ne s'inscrit pas en montant négatif.",
        "inputs/paiements.csv, ligne 6, colonne « Date encaissement » : « 16/03/2026 » : date hors de la période "
        "admise : un paiement d'un titre de l'exercice 2024 doit être daté entre le 01/01/2024 et le 31/12/2025 "
        "(l'exercice et l'année qui suit). Vérifiez l'année de la date (faute de frappe ?) ou le numéro du titre.",
        "inputs/paiements.csv, ligne 7, colonne « Date encaissement » : « 02/01/2025 » : date hors de la période "
        "admise : un paiement d'un titre de l'exercice 2023 doit être daté entre le 01/01/2023 et le 31/12/2024 "
        "(l'exercice et l'année qui suit). Vérifiez l'année de la date (faute de frappe ?) ou le numéro du titre.",
        "inputs/paiements.csv, ligne 8, colonne « Date encaissement » : « 31/12/2023 » : date hors de la période "
        "admise : un paiement rapproché sur l'exercice 2024 doit être daté entre le 01/01/2024 et le 31/12/2025 "
        "(l'exercice et l'année qui suit). Vérifiez l'année de la date (faute de frappe ?) ou le numéro du titre.",
        "inputs/paiements.csv, ligne 9, colonne « Référence » : « VIR-001 » : référence déjà utilisée ligne 2 : "
        "paiement en double ? Supprimez la ligne en double, ou donnez à chaque paiement sa propre référence.",
        "inputs/paiements.csv, ligne 10, colonne « Montant encaissé » : « 10,001 » : un montant s'exprime au "
        "centime (deux décimales au plus). Écrivez par exemple 1 234,56.",
        "inputs/paiements.csv, ligne 11, colonne « Débiteur » : « 59999 » : n'est pas le code INSEE d'une commune "
        "membre",
    ]
    assert all(p.is_error for p in problems)
    assert payments["_row"].to_list() == [2, 3]  # rows in error never reach the matching
    assert payments["numero_titre"].to_list() == ["ENT-2024-0001", "ENT-2024-0011"]  # the number as typed


def test_a_libelle_column_is_no_identifier_so_only_exact_repeats_are_duplicates(tmp_path):
    text = ("titre;date;montant;code_insee;libelle\n"
            "ENT-2024-0001;15/03/2024;100,00;59360;Contribution ENT\n"
            "ENT-2024-0002;15/03/2024;200,00;59522;Contribution ENT\n"
            "ENT-2024-0001;15/03/2024;100,00;59360;Contribution ENT\n")
    _, problems = read(write(tmp_path, text), two_year_ledger())
    assert [p.render() for p in problems] == [
        "inputs/paiements.csv, ligne 4, colonne « libelle » : « Contribution ENT » : même libellé, même date et même "
        "montant (100,00\u00a0€) que la ligne 2 : paiement en double ? Supprimez la ligne en double, ou donnez à "
        "chaque paiement sa propre référence.",
    ]


def test_missing_columns_and_unidentified_payer(tmp_path):
    _, problems = read(write(tmp_path, "reference;montant\nA;10,00\n"), two_year_ledger())
    assert [p.render() for p in problems] == [
        "inputs/paiements.csv : colonne obligatoire « date » absente ; colonnes trouvées : « reference », « montant »",
    ]
    _, problems = read(write(tmp_path, "date;montant;reference\n01/03/2024;10,00;A\n"), two_year_ledger())
    assert [p.render() for p in problems] == [
        "inputs/paiements.csv : il faut une colonne « numero_titre » ou « code_insee » pour savoir ce que paie "
        "chaque ligne. Colonnes trouvées : date, montant, reference.",
    ]


# --------------------------------------------------------------------------- matching and balances


def test_every_titre_balances_with_partial_payments_overpayment_and_split(two_years):
    _, _, rec = two_years
    figures = {n: (r["emis_cents"], r["reduit_cents"], r["paye_cents"], r["reste_cents"], r["trop_percu_cents"],
                   r["jours"]) for n, r in by_numero(rec).items()}
    assert figures == {
        "ENT-2024-0001": (147000, 0, 147000, 0, 0, None),              # paid in full, by number
        "ENT-2024-0002": (84550, 0, 70000, 14550, 0, 335),             # two partial payments
        "ENT-2024-0003": (61230, 10000, 61230, 0, 10000, None),        # paid before its réduction: overpaid
        "ENT-2024-0004": (210000, 0, 210000, 0, 0, None),              # no number: oldest debt first
        "ENT-2024-0005": (300000, 0, 0, 300000, 0, 335),               # nothing paid
        "ENT-2024-0006": (12000, 0, 12000, 0, 0, None),                # no number: exact amount
        "ENT-2024-0008": (20000, 0, 15000, 5000, 0, 212),              # rest of a payment split over two titres
    }
    assert by_numero(rec)["ENT-2024-0003"]["corrections"] == "ENT-2024-0007"
    assert by_numero(rec)["ENT-2024-0002"]["paiements"] == "VIR-003, VIR-004"
    assert rec.totals == Totals(emis=834780, reduit=10000, paye=515230, reste=319550, trop_percu=10000,
                                recu=600230, non_rapproche=5000, autres_exercices=80000)
    t = rec.totals
    assert t.emis - t.reduit == t.paye + t.reste - t.trop_percu == 824780
    assert t.recu == t.paye + t.non_rapproche + t.autres_exercices
    assert rec.problems == ()


def test_matching_rules_are_recorded_per_payment(two_years):
    _, _, rec = two_years
    shares = rec.allocations.sort("_row", "numero").select("_row", "numero", "montant_cents", "mode").rows()
    assert shares == [
        (2, "ENT-2024-0001", 147000, MODE_NUMERO),
        (3, "ENT-2024-0006", 12000, MODE_MONTANT),
        (4, "ENT-2024-0002", 40000, MODE_NUMERO),
        (5, "ENT-2024-0002", 30000, MODE_NUMERO),
        (6, "ENT-2024-0003", 61230, MODE_NUMERO),
        (7, "ENT-2024-0004", 100000, MODE_ANCIENNETE),
        (8, "ENT-2024-0004", 110000, MODE_ANCIENNETE),
        (8, "ENT-2024-0008", 15000, MODE_ANCIENNETE),
    ]
    assert rec.unmatched.select("_row", "montant_cents", "motif").rows() == [
        (9, 5000, "la commune ne doit plus rien sur l'exercice : paiement en double ?"),
    ]
    assert rec.other_years.select("_row", "numero_titre", "montant_cents", "exercice").rows() == [
        (10, "ENT-2023-0002", 80000, 2023),
    ]


def test_communes_to_remind_are_overdue_with_their_days(two_years):
    _, _, rec = two_years
    assert rec.reminders.select("code_insee", "titres", "reste_cents", "echeance", "jours").rows() == [
        ("59650", "ENT-2024-0005", 300000, date(2024, 3, 2), 335),
        ("59522", "ENT-2024-0002", 14550, date(2024, 3, 2), 335),
        ("59339", "ENT-2024-0008", 5000, date(2024, 7, 3), 212),
    ]
    early = reconcile(two_years[0], two_years[1], annee=2024, as_of=date(2024, 7, 3))
    assert early.reminders["code_insee"].to_list() == ["59650", "59522"]  # 0008 is due that day, not overdue yet


def test_unknown_number_or_correction_number_is_set_aside_with_a_warning(two_years):
    titres = two_years[0]
    payments = pl.DataFrame(
        [("ENT-2024-0099", date(2024, 3, 1), 1000, None, None, "R1", 2, "inputs/paiements.csv"),
         ("ENT-2024-0007", date(2024, 3, 1), 2000, "59599", None, "R2", 3, "inputs/paiements.csv"),
         (None, date(2024, 3, 1), 3000, "59017", None, "R3", 4, "inputs/paiements.csv"),
         ("ENT-2024-0066", date(2024, 3, 2), 4000, "59360", None, "R4", 5, "inputs/paiements.csv"),
         ("abc", date(2024, 3, 2), 5000, None, "leers", "R5", 6, "inputs/paiements.csv"),
         ("ENT-2024-0001", date(2024, 2, 20), 147000, "59360", None, "R6", 7, "inputs/paiements.csv")],
        schema={"numero_titre": pl.Utf8, "date": pl.Date, "montant_cents": pl.Int64, "code_insee": pl.Utf8,
                "commune": pl.Utf8, "reference": pl.Utf8, "_row": pl.Int64, "source": pl.Utf8}, orient="row")
    rec = reconcile(titres, payments, annee=2024, as_of=AS_OF, columns={"numero_titre": "N° titre"})
    assert [p.render() for p in rec.problems] == [
        "inputs/paiements.csv, ligne 2, colonne « N° titre » : « ENT-2024-0099 » : n'est pas un titre du "
        "registre des titres : paiement mis de côté (feuille « Non rapprochés »). Vouliez-vous dire "
        "« ENT-2024-0008 » ou « ENT-2024-0006 » ou « ENT-2024-0005 » ?",
        "inputs/paiements.csv, ligne 3, colonne « N° titre » : « ENT-2024-0007 » : est le numéro d'une réduction "
        "ou annulation, pas d'un titre à payer : paiement mis de côté (feuille « Non rapprochés »). Indiquez le "
        "titre d'origine « ENT-2024-0003 ».",
        # the payer's own titres, not the look-alikes; still owed before paid (0001 was paid in full on row 7)
        "inputs/paiements.csv, ligne 5, colonne « N° titre » : « ENT-2024-0066 » : n'est pas un titre du "
        "registre des titres : paiement mis de côté (feuille « Non rapprochés »). Vouliez-vous dire "
        "« ENT-2024-0006 » ou « ENT-2024-0001 » (titre(s) de la commune 59360) ?",
        "inputs/paiements.csv, ligne 6, colonne « N° titre » : « abc » : n'est pas un titre du "
        "registre des titres : paiement mis de côté (feuille « Non rapprochés »). Vouliez-vous dire "
        "« ENT-2024-0004 » ou « ENT-2024-0008 » (titre(s) de la commune leers) ?",
    ]
    assert not any(p.is_error for p in rec.problems)
    assert rec.unmatched.select("_row", "motif").rows() == [
        (2, "titre ENT-2024-0099 inconnu du registre ; titre(s) proposé(s) : ENT-2024-0008, ENT-2024-0006, "
            "ENT-2024-0005"),
        (3, "ENT-2024-0007 est une réduction/annulation, pas un titre à payer (titre d'origine : ENT-2024-0003)"),
        (4, "aucun titre de l'exercice pour cette commune"),
        (5, "titre ENT-2024-0066 inconnu du registre ; titre(s) proposé(s) : ENT-2024-0006, ENT-2024-0001"),
        (6, "titre abc inconnu du registre ; titre(s) proposé(s) : ENT-2024-0004, ENT-2024-0008"),
    ]
    t = rec.totals
    assert (t.non_rapproche, t.paye) == (1000 + 2000 + 3000 + 4000 + 5000, 147000)
    assert t.recu == 162000 == t.paye + t.non_rapproche + t.autres_exercices


def payments_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame([(*r, "p.csv") for r in rows], orient="row", schema={
        "numero_titre": pl.Utf8, "date": pl.Date, "montant_cents": pl.Int64, "code_insee": pl.Utf8,
        "reference": pl.Utf8, "_row": pl.Int64, "source": pl.Utf8})


def test_more_than_owed_without_number_is_an_overpayment_of_the_last_debt_and_the_number_wins():
    titres = two_year_ledger()
    rec = reconcile(titres, payments_frame([
        (None, date(2024, 5, 2), 2_000_000, "59650", "GROS", 2),            # owes 3 000,00 € on 0005 only
        ("ENT-2024-0002", date(2024, 5, 3), 84_550, "59360", "MAUVAIS", 3),  # number of Sailly, code of Lys
    ]), annee=2024, as_of=AS_OF)
    assert rec.allocations.select("_row", "numero", "montant_cents", "mode").rows() == [
        (3, "ENT-2024-0002", 84_550, MODE_NUMERO),
        (2, "ENT-2024-0005", 300_000, MODE_ANCIENNETE),
        (2, "ENT-2024-0005", 1_700_000, MODE_SURPLUS),
    ]
    row = by_numero(rec)["ENT-2024-0005"]
    assert (row["paye_cents"], row["reste_cents"], row["trop_percu_cents"]) == (2_000_000, 0, 1_700_000)
    assert [p.render() for p in rec.problems] == [
        "p.csv, ligne 3, colonne « code_insee » : « 59360 » : le titre ENT-2024-0002 a pour débiteur la commune "
        "59522 : le numéro de titre est retenu",
    ]
    assert not rec.problems[0].is_error


def test_a_broken_balance_is_a_bug_not_a_data_problem(two_years):
    rec = two_years[2]
    tampered = rec.titres.with_columns(pl.when(pl.col("numero") == "ENT-2024-0002").then(0)
                                       .otherwise(pl.col("reste_cents")).alias("reste_cents"))
    with pytest.raises(BalanceError, match="ENT-2024-0002"):
        check_balance(tampered, rec.totals)
    with pytest.raises(BalanceError, match="reçu"):
        check_balance(rec.titres, Totals(**{**rec.totals.__dict__, "recu": rec.totals.recu + 1}))


payment_rows = st.lists(
    st.tuples(st.sampled_from([None, "ENT-2024-0001", "ENT-2024-0002", "ENT-2024-0006", "ENT-2023-0001"]),
              st.integers(min_value=1, max_value=400_000),
              st.sampled_from(["59360", "59522", "59339", "59017"]),
              st.integers(min_value=0, max_value=300)),
    max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=payment_rows, seed=st.randoms())
def test_balances_to_the_cent_whatever_the_payments_and_their_order(rows, seed):
    titres = two_year_ledger()
    records = [(numero, date(2024, 1, 1) + timedelta(days=day), cents, code, f"R{i}", i + 2, "p.csv")
               for i, (numero, cents, code, day) in enumerate(rows)]
    schema = {"numero_titre": pl.Utf8, "date": pl.Date, "montant_cents": pl.Int64, "code_insee": pl.Utf8,
              "reference": pl.Utf8, "_row": pl.Int64, "source": pl.Utf8}
    payments = pl.DataFrame(records, schema=schema, orient="row")
    rec = reconcile(titres, payments, annee=2024, as_of=AS_OF)  # raises BalanceError if it does not balance
    t = rec.totals
    assert t.emis - t.reduit == t.paye + t.reste - t.trop_percu
    assert t.recu == sum(r[2] for r in records)
    shuffled = records[:]
    seed.shuffle(shuffled)
    again = reconcile(titres, pl.DataFrame(shuffled, schema=schema, orient="row"), annee=2024, as_of=AS_OF)
    assert again.titres.equals(rec.titres)
    assert again.totals == rec.totals


# --------------------------------------------------------------------------- the workbook, read back


@pytest.fixture(scope="module")
def workbook_path(two_years, tmp_path_factory):
    path = tmp_path_factory.mktemp("rapprochement") / "rapprochement_2024.xlsx"
    assert write_rapprochement(path, reconciliation=two_years[2], syndicat=SYNDICAT, annee=2024,
                               generated_at=GENERATED) == path
    return path


def rows_of(sheet, first: int, last: int, columns: int) -> list[tuple]:
    return [tuple(sheet.cell(r, c).value for c in range(1, columns + 1)) for r in range(first, last + 1)]


def euros(cents: int):
    return pytest.approx(cents / 100, abs=1e-9)


def test_titres_sheet_holds_every_figure_and_the_identity(workbook_path):
    wb = openpyxl.load_workbook(workbook_path)
    assert wb.sheetnames == ["Titres", "Non rapprochés", "Trop-perçus", "Relances", "Paiements"]
    ws = wb["Titres"]
    assert ws["A1"].value == "Rapprochement des titres de recettes — exercice 2024"
    assert ws["A3"].value == "Situation au 31/01/2025 — établi le 03/02/2025 à 09:15 par ent-bill"
    assert [c.value for c in ws[5]][:13] == ["N° titre", "Nature", "Exercice", "Code INSEE", "Commune", "Émis le",
                                             "Échéance", "Émis", "Réduit", "Payé", "Reste à recouvrer", "Trop-perçu",
                                             "Jours de retard"]
    money = [(r[0], r[2], r[3], r[4], *(round(v * 100) if v is not None else None for v in r[7:12]), r[12])
             for r in rows_of(ws, 6, 12, 13)]
    assert money == [
        ("ENT-2024-0001", 2024, "59360", "Lys-lez-Lannoy", 147000, 0, 147000, 0, 0, None),
        ("ENT-2024-0002", 2024, "59522", "Sailly-lez-Lannoy", 84550, 0, 70000, 14550, 0, 335),
        ("ENT-2024-0003", 2024, "59599", "Toufflers", 61230, 10000, 61230, 0, 10000, None),
        ("ENT-2024-0004", 2024, "59339", "Leers", 210000, 0, 210000, 0, 0, None),
        ("ENT-2024-0005", 2024, "59650", HOSTILE, 300000, 0, 0, 300000, 0, 335),
        ("ENT-2024-0006", 2024, "59360", "Lys-lez-Lannoy", 12000, 0, 12000, 0, 0, None),
        ("ENT-2024-0008", 2024, "59339", "Leers", 20000, 0, 15000, 5000, 0, 212),
    ]
    assert ws["E10"].data_type == "s"  # a commune name that looks like a formula stays text
    assert ws["F6"].value == datetime(2024, 2, 1) and ws["F6"].number_format == "DD/MM/YYYY"
    assert ws["H6"].number_format == '#,##0.00 "€";-#,##0.00 "€"'
    assert ws["A13"].value == "Total (7 titres)"
    assert [ws.cell(13, c).value for c in range(8, 13)] == [
        "=SUM(H6:H12)", "=SUM(I6:I12)", "=SUM(J6:J12)", "=SUM(K6:K12)", "=SUM(L6:L12)"]
    assert rows_of(ws, 15, 19, 8) == [
        ("Contrôle de l'équilibre (au centime)", *[None] * 7),
        ("Émis − réduit", *[None] * 6, "=H13-I13"),
        ("Payé + reste à recouvrer − trop-perçu", *[None] * 6, "=J13+K13-L13"),
        ("Écart (doit être nul)", *[None] * 6, "=ROUND(H16-H17,2)"),
        ("Résultat", *[None] * 6, '=IF(H18=0,"Équilibré","DÉSÉQUILIBRE")'),
    ]
    assert ws["A20"].value == ("Vérifié par ent-bill : émis 8\u202f347,80\u00a0€ − réduit 100,00\u00a0€ = "
                               "8\u202f247,80\u00a0€ = payé 5\u202f152,30\u00a0€ + reste 3\u202f195,50\u00a0€ − "
                               "trop-perçu 100,00\u00a0€.")
    assert [ws.cell(r, 8).value for r in range(23, 28)] == [
        "='Paiements'!C15", "=J13", "='Non rapprochés'!C7", "='Non rapprochés'!C13", "=ROUND(H23-H24-H25-H26,2)"]


def test_titres_print_with_their_numbers_apart_and_on_one_line(workbook_path):
    """In LibreOffice « 2024 59360 » (exercice then code INSEE) and « 335 ENT-… » (days then corrections)
    read as one value, and the wrapped commune stood higher than the rest of its row."""
    ws = openpyxl.load_workbook(workbook_path)["Titres"]
    rows = range(6, 13)
    assert {ws.cell(r, c).alignment.horizontal for r in rows for c in (3, 13) if ws.cell(r, c).value} == {"center"}
    assert {ws.cell(r, c).alignment.vertical for r in rows for c in range(1, 16) if ws.cell(r, c).value} == {"top"}
    book = openpyxl.load_workbook(workbook_path)
    for title in ("Non rapprochés", "Paiements"):  # « 8 15/07/2024 », « 4 769,59 € 59650 »
        sheet = book[title]
        lines = [r for r in range(6, sheet.max_row + 1) if isinstance(sheet.cell(r, 1).value, int)]
        assert lines, title
        assert {sheet.cell(r, c).alignment.horizontal for r in lines for c in (1, 4)} == {"center"}, title


def test_other_sheets_list_unmatched_overpaid_reminders_and_payments(workbook_path):
    wb = openpyxl.load_workbook(workbook_path)
    ws = wb["Non rapprochés"]
    assert rows_of(ws, 6, 7, 7) == [
        (9, datetime(2024, 10, 15), 50, "59360", None, "VIR-008",
         "la commune ne doit plus rien sur l'exercice : paiement en double ?"),
        ("Total", None, "=SUM(C6:C6)", None, None, None, None),
    ]
    assert ws["A10"].value == "Paiements de titres d'autres exercices (à rapprocher avec l'exercice du titre)"
    assert rows_of(ws, 12, 13, 7) == [
        (10, datetime(2024, 1, 15), 800, "59522", "ENT-2023-0002", "VIR-009", 2023),
        ("Total", None, "=SUM(C12:C12)", None, None, None, None),
    ]
    ws = wb["Trop-perçus"]
    assert rows_of(ws, 6, 7, 8) == [
        ("ENT-2024-0003", "59599", "Toufflers", euros(61230), 100, euros(61230), 100, "VIR-005"),
        ("Total", None, None, "=SUM(D6:D6)", "=SUM(E6:E6)", "=SUM(F6:F6)", "=SUM(G6:G6)", None),
    ]
    ws = wb["Relances"]
    assert rows_of(ws, 6, 9, 6) == [
        ("59650", HOSTILE, "ENT-2024-0005", 3000, datetime(2024, 3, 2), 335),
        ("59522", "Sailly-lez-Lannoy", "ENT-2024-0002", euros(14550), datetime(2024, 3, 2), 335),
        ("59339", "Leers", "ENT-2024-0008", 50, datetime(2024, 7, 3), 212),
        ("Total (3 communes)", None, None, "=SUM(D6:D8)", None, None),
    ]
    assert ws["B6"].data_type == "s"
    ws = wb["Paiements"]
    got = rows_of(ws, 6, 15, 8)
    assert [r[0] for r in got] == [10, 2, 4, 6, 7, 5, 3, 8, 9, "Total"]
    assert got[0] == (10, datetime(2024, 1, 15), 800, "59522", "ENT-2023-0002", "VIR-009", "exercice 2023 (écarté)",
                      None)
    assert got[6] == (3, datetime(2024, 7, 10), 120, "59360", None, "VIR-002", "ENT-2024-0006", MODE_MONTANT)
    assert got[7] == (8, datetime(2024, 9, 12), 1250, "59339", None, "VIR-007",
                      "ENT-2024-0004 (1\u202f100,00\u00a0€), ENT-2024-0008 (150,00\u00a0€)", MODE_ANCIENNETE)
    assert got[8] == (9, datetime(2024, 10, 15), 50, "59360", None, "VIR-008", "non rapproché",
                      "la commune ne doit plus rien sur l'exercice : paiement en double ?")
    assert got[-1] == ("Total", None, "=SUM(C6:C14)", None, None, None, None, None)
    assert sum(round(r[2] * 100) for r in got[:-1]) == 600230


def lo_recalculated(paths: list[Path], out: Path) -> dict[str, Path]:
    """Recalculate workbooks with LibreOffice headless (one call, a private profile); skip loudly without it."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        message = "LibreOffice (soffice) absent : le recalcul des formules n'a PAS été vérifié"
        warnings.warn(message)
        pytest.skip(message)
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{out / 'profil'}",
                    "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out / "recalcule"),
                    *map(str, paths)], check=True, capture_output=True, timeout=180)
    return {p.name: out / "recalcule" / p.name for p in paths}


@pytest.mark.libreoffice
def test_libreoffice_recalculates_the_same_cents_and_the_identity_holds(workbook_path, two_years, tmp_path):
    recalculated = lo_recalculated([workbook_path], tmp_path)[workbook_path.name]
    wb = openpyxl.load_workbook(recalculated, data_only=True)
    ws = wb["Titres"]
    t = two_years[2].totals
    assert [round(ws.cell(13, c).value * 100) for c in range(8, 13)] == [t.emis, t.reduit, t.paye, t.reste,
                                                                         t.trop_percu]
    assert round(ws["H16"].value * 100) == round(ws["H17"].value * 100) == 824780
    assert ws["H18"].value == 0 and ws["H19"].value == "Équilibré"
    assert [round(ws.cell(r, 8).value * 100) for r in range(23, 28)] == [600230, 515230, 5000, 80000, 0]
    assert ws["E10"].value == HOSTILE
    assert round(wb["Relances"]["D9"].value * 100) == 319550
    assert round(wb["Trop-perçus"]["G7"].value * 100) == 10000
    assert round(wb["Non rapprochés"]["C7"].value * 100) == 5000


def test_the_file_is_written_whole_and_nothing_else_is_left(workbook_path):
    assert [p.name for p in workbook_path.parent.iterdir()] == ["rapprochement_2024.xlsx"]
    with zipfile.ZipFile(workbook_path) as archive:
        assert archive.testzip() is None
