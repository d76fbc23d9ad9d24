"""DESIGN §4c on the documents of a year « à la carte »: the summary's « Par compétence » sheet, the titres
CSV with one row per titre and competence, and one PES LigneDePiece per competence. Every figure is checked
against files read back (contributions_YEAR_competences.csv, the PES XML), never the product's own sums."""

from __future__ import annotations

import csv
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from billing.cli import main


@pytest.fixture(scope="module")
def carte(tmp_path_factory) -> Path:
    """The carte sample, computed for 2025."""
    root = tmp_path_factory.mktemp("carte")
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--exemple", "carte", str(root / "in")]).exit_code == 0
    result = runner.invoke(main, ["--inputs", str(root / "in"), "compute", "2025", "--out", str(root / "out")])
    assert result.exit_code == 0, result.output
    return root


def cents(value) -> int:
    """A euro amount as read back (a number cell or CSV text) -> integer cents, exactly."""
    exact = Fraction(Decimal(str(value))) * 100
    assert exact.denominator == 1, value
    return int(exact)


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def sheet_tables(path: Path) -> list[dict[str, tuple]]:
    """The tables of the « Par compétence » sheet: {key: (name, members, billed cents, indicative cents)}, and
    the SUM formulas of each total row."""
    sheet = load_workbook(path)["Par compétence"]
    tables, current = [], None
    for row in sheet.iter_rows(min_row=4, values_only=True):
        if row[0] in ("Compétence", "Imputation"):
            current = {}
            tables.append(current)
        elif row[0] == "Total":
            current["_total"] = row[3:5]
        elif row[0] is not None and current is not None:
            current[row[0]] = (row[1], row[2], cents(row[3]), cents(row[4]))
    return tables


def test_the_summary_totals_each_competence_and_imputation_to_the_cent(carte):
    parts = read_csv(carte / "out" / "contributions_2025_competences.csv")
    contributions = read_csv(carte / "out" / "contributions_2025.csv")
    by_name: dict[str, int] = {}
    members: dict[str, set] = {}
    for row in parts:
        by_name[row["competence"]] = by_name.get(row["competence"], 0) + cents(row["montant"])
        members.setdefault(row["competence"], set()).add(row["code_insee"])
    billed = sum(cents(r["montant"]) for r in contributions if r["situation"] == "facturee")
    assert sum(by_name.values()) == billed
    imputations = {"ent": "74748", "sig": "74741", "administration": "74740"}  # the sample's tarifs.toml
    by_competence, by_imputation = sheet_tables(carte / "out" / "synthese_2025.xlsx")
    assert by_competence.pop("_total") == ("=SUM(D5:D7)", "=SUM(E5:E7)")
    assert by_competence == {k: (imputations[k], len(members[k]), v, 0) for k, v in by_name.items()}
    by_imputation.pop("_total")
    assert by_imputation == {imputations[k]: (k, len(members[k]), v, 0) for k, v in by_name.items()}
    assert sum(v[2] for v in by_imputation.values()) == billed


def test_a_year_without_competences_has_no_competence_sheet(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path / "in")]).exit_code == 0
    result = runner.invoke(main, ["--inputs", str(tmp_path / "in"), "compute", "2024", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Par compétence" not in load_workbook(tmp_path / "out" / "synthese_2024.xlsx").sheetnames
