"""paiements.csv through the command line: `validate` checks it like every other input, and `reconcile`
sets a payment with an unknown titre number aside instead of stopping; rapprochement_2024.xlsx read back."""

from __future__ import annotations

import csv
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from billing.cli import main

ROOT = Path(__file__).resolve().parents[1]
HEADER = "numero_titre;date;montant;code_insee;reference\n"


@pytest.fixture()
def work(tmp_path):
    shutil.copytree(ROOT / "inputs", tmp_path / "inputs")
    return tmp_path


def run(work: Path, *args: str):
    return CliRunner().invoke(main, ["--inputs", str(work / "inputs"), "--out", str(work / "out"),
                                     "--ledger", str(work / "ent-bill.duckdb"), *args], catch_exceptions=False)


def write_payments(work: Path, lines: list[str]) -> None:
    (work / "inputs" / "paiements.csv").write_text(HEADER + "".join(f"{line}\n" for line in lines), encoding="utf-8")


def issued(work: Path) -> list[dict]:
    """titres_2024.csv as `issue` wrote it: the reference for numbers, communes and amounts."""
    result = run(work, "--quiet", "issue", "2024")
    assert result.exit_code == 0, result.output
    with (work / "out" / "titres_2024.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def euros(text: str) -> Decimal:
    """« 1 234,56 » -> Decimal("1234.56"), written here independently of the product's parser."""
    return Decimal(text.replace("\u00a0", "").replace(" ", "").replace(",", "."))


def cents(value) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value())


# --------------------------------------------------------------------------- validate


def test_validate_reads_paiements_and_names_the_bad_cell(work):
    write_payments(work, ["ENT-2024-0001;14/05/2024;394,29;59005;VIR-1",
                          "ENT-2024-0003;21/05/2024;abc;59013;VIR-2"])
    result = run(work, "validate", "2024")
    assert result.exit_code == 1, result.output
    assert "inputs/paiements.csv, ligne 3, colonne « montant » : « abc » n'est pas un nombre" in result.stderr
    assert "Données 2024 valides" not in result.stdout


def test_validate_reports_payment_problems_together_with_the_other_inputs(work):
    write_payments(work, [";14/05/2024;-5,00;59005;VIR-1"])
    adhesions = work / "inputs" / "adhesions.csv"
    text = adhesions.read_text(encoding="utf-8-sig")
    adhesions.write_text(text.replace(";adherente;01/03/2024;", ";adherente;31/02/2024;", 1), encoding="utf-8")
    result = run(work, "--json", "validate", "2024")
    assert result.exit_code == 1
    files = {(e["fichier"], e["colonne"]) for e in json.loads(result.stdout)["erreurs"]}
    assert ("inputs/paiements.csv", "montant") in files
    assert any(f == "inputs/adhesions.csv" for f, _ in files), files


def test_validate_without_a_ledger_checks_the_form_only(work):
    assert not (work / "ent-bill.duckdb").exists()
    # numbers cannot be known before `issue`: an unknown number is no error yet
    write_payments(work, ["ENT-2024-0999;14/05/2024;394,29;59005;VIR-1", ";03/07/2024;1 642,37;59560;VIR-2"])
    result = run(work, "--json", "validate", "2024")
    assert result.exit_code == 0, result.output
    assert not any(w["fichier"] == "inputs/paiements.csv" for w in json.loads(result.stdout)["avertissements"])
    assert not (work / "ent-bill.duckdb").exists()  # validate opened no ledger into existence
    write_payments(work, ["ENT-2024-0999;31/02/2024;394,29;59005;VIR-1", ";03/07/2024;1 642,37;59560;VIR-2"])
    result = run(work, "validate", "2024")
    assert result.exit_code == 1
    assert "inputs/paiements.csv, ligne 2, colonne « date »" in result.stderr


def test_validate_with_a_ledger_warns_of_an_unknown_titre_number(work):
    titres = issued(work)
    anstaing = next(t["numero"] for t in titres if t["code_insee"] == "59013")
    write_payments(work, ["ENT-2024-0303;21/05/2024;284,40;59013;VIR-1"])
    result = run(work, "validate", "2024")
    assert result.exit_code == 0, result.output
    assert "inputs/paiements.csv, ligne 2, colonne « numero_titre » : « ENT-2024-0303 »" in result.stderr
    assert f"« {anstaing} » (titre(s) de la commune 59013)" in result.stderr


# --------------------------------------------------------------------------- reconcile


def test_an_unknown_titre_number_goes_to_non_rapproches_and_the_rest_is_reconciled(work):
    titres = issued(work)
    own = next(t for t in titres if t["code_insee"] == "59013")   # the payer's titre
    other = next(t for t in titres if t["code_insee"] == "59005")
    lines = [f"{other['numero']};14/05/2024;{other['montant'].replace('.', ',')};59005;VIR-1",
             "ENT-2024-0303;21/05/2024;284,40;59013;VIR-2",      # mistyped: no such titre
             ";03/07/2024;1 642,37;59560;VIR-3"]
    write_payments(work, lines)
    result = run(work, "reconcile", "2024")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if "ENT-2024-0303" in line]
    assert len(warning) == 1 and warning[0].startswith("  ! inputs/paiements.csv, ligne 3, colonne « numero_titre »")
    assert f"Vouliez-vous dire « {own['numero']} » (titre(s) de la commune 59013) ?" in warning[0]

    wb = load_workbook(work / "out" / "rapprochement_2024.xlsx")
    sheet = wb["Non rapprochés"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=6, max_col=7)]
    assert rows[0][:6] == [3, rows[0][1], 284.4, "59013", "ENT-2024-0303", "VIR-2"]
    assert rows[0][6] == f"titre ENT-2024-0303 inconnu du registre ; titre(s) proposé(s) : {own['numero']}"
    assert rows[1][0] == "Total" and rows[1][2] == "=SUM(C6:C6)"

    # the other payments were reconciled: received = paid + not reconciled + other years, to the cent
    received = sum(euros(line.split(";")[2]) for line in lines)
    titres_sheet = wb["Titres"]
    header = [c.value for c in titres_sheet[5]]
    paid_col = header.index("Payé")
    paid = sum((Decimal(str(r[paid_col])) for r in titres_sheet.iter_rows(min_row=6, values_only=True)
                if isinstance(r[0], str) and r[0].startswith("ENT-")), Decimal(0))
    paid_by_titre = {r[0]: cents(r[paid_col]) for r in titres_sheet.iter_rows(min_row=6, values_only=True)
                     if isinstance(r[0], str) and r[0].startswith("ENT-")}
    assert paid_by_titre[other["numero"]] == cents(other["montant"])
    assert paid_by_titre[own["numero"]] == 0
    assert cents(received) == cents(paid) + cents(284.4)
    payments_sheet = wb["Paiements"]
    amounts = [r[2] for r in payments_sheet.iter_rows(min_row=6, values_only=True) if isinstance(r[0], int)]
    assert sum(cents(a) for a in amounts) == cents(received)
