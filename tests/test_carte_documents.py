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
    cover = load_workbook(carte / "out" / "synthese_2025.xlsx")["Couverture"]
    assert "Par compétence" in [row[0] for row in cover.iter_rows(values_only=True)]


def test_a_year_without_competences_has_no_competence_sheet(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path / "in")]).exit_code == 0
    result = runner.invoke(main, ["--inputs", str(tmp_path / "in"), "compute", "2024", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Par compétence" not in load_workbook(tmp_path / "out" / "synthese_2024.xlsx").sheetnames


SAMPLE_SYNDICAT = Path(__file__).parent.parent / "billing" / "sample" / "syndicat.toml"
XSD_DIR = Path("/tmp/pes_xsd/schemas_pes_v5.30")


@pytest.fixture(scope="module")
def issued(tmp_path_factory) -> Path:
    """The carte sample with the default sample's [pes] settings, computed then issued for 2025."""
    import re

    root = tmp_path_factory.mktemp("carte_issue")
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--exemple", "carte", str(root / "in")]).exit_code == 0
    text = SAMPLE_SYNDICAT.read_text(encoding="utf-8")
    block = text[text.index("[pes]"):]
    following = re.search(r"^\[(?!pes)", block, re.M)
    with open(root / "in" / "syndicat.toml", "a", encoding="utf-8") as stream:
        stream.write("\n" + (block[:following.start()] if following else block))
    result = runner.invoke(main, ["--inputs", str(root / "in"), "compute", "2025", "--out", str(root / "out")])
    assert result.exit_code == 0, result.output  # the reference: contributions_2025_competences.csv
    result = runner.invoke(main, ["--inputs", str(root / "in"), "issue", "2025", "--out", str(root / "out"),
                                  "--ledger", str(root / "ledger.duckdb")])
    assert result.exit_code == 0, result.output
    return root


def expected_parts(root: Path) -> dict[str, dict[str, int]]:
    """debtor -> competence -> cents, from contributions_2025_competences.csv and adhesions.csv's debiteur."""
    with open(root / "in" / "adhesions.csv", encoding="utf-8-sig") as stream:
        debtor = {r["code_insee"]: r["debiteur"] or r["code_insee"] for r in csv.DictReader(stream, delimiter=";")}
    out: dict[str, dict[str, int]] = {}
    for row in read_csv(root / "out" / "contributions_2025_competences.csv"):
        parts = out.setdefault(debtor[row["code_insee"]], {})
        parts[row["competence"]] = parts.get(row["competence"], 0) + cents(row["montant"])
    return out


def test_the_titres_csv_has_one_row_per_titre_and_competence_that_sum_to_the_titre(issued):
    rows = read_csv(issued / "out" / "titres_2025.csv")
    sheet = load_workbook(issued / "out" / "bordereau_2025.xlsx")["Bordereau"]
    sheet_rows = [r for r in sheet.iter_rows(min_row=5, values_only=True)
                  if isinstance(r[0], str) and r[0].startswith("ENT-") and r[12] is not None]
    got: dict[str, dict[str, int]] = {}
    for row in rows:
        got.setdefault(row["numero"], {})[row["competence"]] = cents(row["montant"])
    # the bordereau too: one row per titre and competence, at that competence's imputation
    on_sheet: dict[str, dict[str, int]] = {}
    for r in sheet_rows:
        on_sheet.setdefault(r[0], {})[r[9]] = on_sheet.get(r[0], {}).get(r[9], 0) + cents(r[12])
    assert len(on_sheet) == 4 and len(sheet_rows) == len(rows)
    imputation_of = {"ent": "74748", "sig": "74741", "administration": "74740"}
    assert on_sheet == {n: {imputation_of[c]: v for c, v in parts.items()} for n, parts in got.items()}
    debtor_of = {row["numero"]: row["code_debiteur"] for row in rows}
    reference = expected_parts(issued)
    assert {n: parts for n, parts in got.items()} == {n: reference[debtor_of[n]] for n in got}
    imputations = {"ent": "74748", "sig": "74741", "administration": "74740"}
    assert all(row["imputation"] == imputations[row["competence"]] for row in rows)
    assert len(got[next(n for n, d in debtor_of.items() if d == "MEL")]) == 3
    with open(issued / "out" / "titres_2025_excel.csv", encoding="utf-8-sig") as stream:
        excel = list(csv.reader(stream, delimiter=";"))
    assert excel[0][-1] == "Compétence" and len(excel) == len(rows) + 1


def test_the_pes_file_has_one_line_per_competence_at_its_imputation(issued):
    from lxml import etree

    from tests.test_pes import ORDER_INFO_LIGNE, euros, in_order, value

    data = (issued / "out" / "pes" / "PES_2025_T001.xml").read_bytes()
    root = etree.fromstring(data)
    rows = read_csv(issued / "out" / "titres_2025.csv")
    expected = {}
    for row in rows:
        expected.setdefault(row["numero"], []).append((row["imputation"], Fraction(row["montant"])))
    pieces = root.findall("PES_RecetteAller/Bordereau/Piece")
    assert len(pieces) == len(expected) == 4
    got = {}
    for piece in pieces:
        numero = value(piece, "BlocPiece/NumeroFacture")
        infos = piece.findall("LigneDePiece/BlocLignePiece/InfoLignePiece")
        assert [value(i, "IdLigne") for i in infos] == [str(n) for n in range(1, len(infos) + 1)]
        assert all(in_order([c.tag for c in i], ORDER_INFO_LIGNE) for i in infos)
        got[numero] = [(value(i, "Nature"), euros(value(i, "MtHT"))) for i in infos]
    assert got == expected  # NumeroFacture: the titre's number
    bloc = root.find("PES_RecetteAller/Bordereau/BlocBordereau")
    assert euros(value(bloc, "MtBordHt")) == sum(a for lines in got.values() for _, a in lines)
    assert max(len(lines) for lines in got.values()) == 3
    if XSD_DIR.exists():
        schema = etree.XMLSchema(etree.parse(str(XSD_DIR / "PES_V2" / "Rev0" / "PES_Aller.xsd")))
        assert schema.validate(root), "\n".join(str(e) for e in schema.error_log)


def titre(lines: tuple[dict, ...], cents: int, nature: str = "titre"):
    from datetime import date

    from billing.core.corrections import IssuedTitre

    return IssuedTitre("ENT-2025-0001", 2025, 1, "MEL", "Lille", nature, None, cents, date(2025, 4, 1), None,
                       "run", "D", "Objet", "7474", lines, "", "h")


def line(cents: int, competence: str | None = None, imputation: str | None = None, formule: str = "produit") -> dict:
    return {"code": "x", "libelle": "x", "montant_cents": cents, "formule": formule,
            **({"competence": competence} if competence else {}), **({"imputation": imputation} if imputation else {})}


def test_a_titre_whose_lines_carry_no_imputation_stays_one_row():
    from billing.render.bordereau import by_competence

    head = line(0, "ent", formule="info")
    old = titre((head, line(1000, "ent"), line(234, "sig")), 1234)          # issued before lines had imputations
    new = titre((head, line(1000, "ent", "74748"), line(200, "sig", "74741"), line(34, "ent", "74748")), 1234)
    reduction = titre((line(500),), 500, nature="reduction")
    rows = [["N", 0, "", "", "", "", "", "", "", "7474", "", "", "12.34", ""]] * 3
    out = by_competence([old, new, reduction], rows)
    assert [(r[9], r[12], r[-1]) for r in out] == [
        ("7474", "12.34", ""), ("74748", "10.34", "ent"), ("74741", "2.00", "sig"), ("7474", "12.34", "")]
