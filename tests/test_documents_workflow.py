"""What the officer and the comptable read, after the yearly workflow of tests/test_golden.py (compute → issue →
a commune leaves, another gains pupils, one is withdrawn → compute → issue → reconcile → simulate).

Every check reads a written file back: the titres CSV and its Excel copy, the contributions CSV and its Excel
copy, the correction notices, and the print setup of every workbook.
"""

from __future__ import annotations

import csv
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.test_golden import workflow  # noqa: F401  (the module-scoped yearly workflow)

pytestmark = pytest.mark.slow

BOUVINES_SIRET = "21590106700011"  # in the sample's adhesions.csv, then removed from it before the corrections


def _rows(path: Path, **options) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, **options))


def test_titres_csv_writes_negative_amounts_as_numbers(workflow):  # noqa: F811
    rows = _rows(workflow.out / "titres_2024.csv")
    credits = [row for row in rows if row["nature"] in ("réduction", "annulation")]
    assert credits and all(row["montant"].startswith("-") for row in credits)  # not « '-33.34 »
    amounts = [Decimal(row["montant"]) for row in rows]  # every amount parses as a number
    assert {row["nature"]: Decimal(row["montant"]) for row in credits} == {
        "réduction": Decimal("-132.72"), "annulation": Decimal("-186.61")}
    assert sum(amounts) == sum(Decimal(r["montant"]) for r in rows if r["nature"] in ("titre", "titre complémentaire")) \
        - Decimal("319.33")


def test_bases_de_liquidation_are_in_french(workflow):  # noqa: F811
    rows = _rows(workflow.out / "titres_2024.csv")
    first = rows[0]["bases_liquidation"]
    assert " x " not in first and "1.2" not in first
    assert "268 × 1,20\u00a0€ = 321,60\u00a0€" in first
    big = next(r["bases_liquidation"] for r in rows if "4\u202f918" in r["bases_liquidation"])
    assert "4\u202f918 × 1,20\u00a0€ = 5\u202f901,60\u00a0€" in big
    bordereau = load_workbook(workflow.out / "bordereau_2024.xlsx")["Bordereau"]
    assert bordereau["L5"].value == first


def test_annulation_keeps_the_siret_it_was_issued_with_and_says_it_annuls(workflow):  # noqa: F811
    rows = _rows(workflow.out / "titres_2024.csv")
    bouvines = [row for row in rows if row["code_insee"] == "59106"]
    assert [row["nature"] for row in bouvines] == ["titre", "annulation"]
    assert {row["siret"] for row in bouvines} == {BOUVINES_SIRET}
    (notice,) = (workflow.out / "avis").glob(f"{bouvines[1]['numero']}_*.xlsx")
    sheet = load_workbook(notice)["Avis"]
    texts = [str(c.value) for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    assert BOUVINES_SIRET in texts and "non communiqué" not in texts
    legal = next(t for t in texts if t.startswith("Le présent avis"))
    assert legal.startswith(f"Le présent avis annule le titre n° {bouvines[0]['numero']}")
    assert any("fin d'adhésion" in t for t in texts)
    assert "Avis des sommes à payer" not in (sheet.oddFooter.center.text or "")


def test_each_correction_shows_motif_bases_already_issued_and_the_difference(workflow):  # noqa: F811
    expected = {"titre complémentaire": "effectifs corrigés : 470 élèves au lieu de 370",
                "réduction": "retrait au 01/07/2024 (adhésion jusqu'au 30/06/2024)"}
    for nature, motif in expected.items():
        sheet = load_workbook(workflow.notice_of(nature))["Avis"]
        column_a = {sheet.cell(r, 1).value: r for r in range(1, sheet.max_row + 1)}
        assert sheet.cell(column_a["Motif de la correction"], 2).value == motif
        assert any(str(k).startswith("Base recalculée — Part par élève") for k in column_a)
        assert any(str(k).startswith("Déjà titré — titre ENT-2024-") for k in column_a)
        amounts = [sheet.cell(r, 5).value for r in range(22, sheet.max_row + 1)
                   if sheet.cell(r, 5).value is not None and not str(sheet.cell(r, 5).value).startswith("=")]
        assert len(amounts) == 1  # the difference is the only summed line: the total is the sum shown


def test_excel_csv_copies_are_french_and_hold_the_same_values(workflow):  # noqa: F811
    for name, amount_columns in (("titres_2024", {"montant": "Montant"}),
                                 ("contributions_2024", {"montant": "Montant dû", "montant_annuel": "Montant annuel"})):
        raw = (workflow.out / f"{name}_excel.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        program = _rows(workflow.out / f"{name}.csv")
        excel = _rows(workflow.out / f"{name}_excel.csv", delimiter=";")
        assert len(program) == len(excel) > 0
        for machine, french in zip(program, excel):
            for key, header in amount_columns.items():
                assert "." not in french[header]
                assert Decimal(french[header].replace(",", ".")) == Decimal(machine[key])
    titres = _rows(workflow.out / "titres_2024_excel.csv", delimiter=";")
    assert titres[0]["Émis le"] == "15/04/2024"
    contributions = _rows(workflow.out / "contributions_2024_excel.csv", delimiter=";")
    billed = next(r for r in contributions if r["Début"])
    assert billed["Début"] == "01/03/2024" and billed["Situation"] == "facturée"
    assert "/" not in billed["Facteur de prorata"].replace(" / ", "")  # never a date for Excel


WORKBOOKS = ("contributions_2024", "bordereau_2024", "rapprochement_2024", "simulation_2024_part-eleve-1-35")


@pytest.mark.parametrize("name", WORKBOOKS)
def test_every_sheet_prints_with_title_year_page_numbers_and_repeated_headers(workflow, name):  # noqa: F811
    book = load_workbook(workflow.out / f"{name}.xlsx")
    for sheet in book.worksheets:
        assert sheet.page_setup.paperSize in (9, "9"), sheet.title
        assert "&P / &N" in (sheet.oddFooter.center.text or ""), sheet.title
        header = sheet.oddHeader.center.text or ""
        assert "2024" in header, (sheet.title, header)
        if sheet.title not in ("Paramètres",):
            assert sheet.print_title_rows, sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToHeight in (0, "0")


def test_simulation_shows_french_situations_and_its_totals_still_select_them(workflow):  # noqa: F811
    sheet = load_workbook(workflow.out / "simulation_2024_part-eleve-1-35.xlsx")["Comparaison"]
    situations = {sheet.cell(r, 3).value for r in range(5, sheet.max_row) if sheet.cell(r, 1).value}
    assert "facturee" not in situations and "facturée" in situations
    total_row = next(r for r in range(5, sheet.max_row + 1) if sheet.cell(r, 1).value == "TOTAL facturé")
    assert '"facturée"' in sheet.cell(total_row, 4).value
    assert sheet.page_setup.orientation == "landscape"


@pytest.mark.libreoffice
def test_simulation_total_recomputes_in_libreoffice(workflow, tmp_path):  # noqa: F811
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice absent")
    from tests.libreoffice import recalculate

    (converted,) = recalculate(soffice, [workflow.out / "simulation_2024_part-eleve-1-35.xlsx"], tmp_path,
                               tmp_path)
    sheet = load_workbook(converted, data_only=True)["Comparaison"]
    total_row = next(r for r in range(5, sheet.max_row + 1) if sheet.cell(r, 1).value == "TOTAL facturé")
    billed = sum(Decimal(str(sheet.cell(r, 4).value)) for r in range(5, total_row)
                 if sheet.cell(r, 3).value == "facturée")
    assert billed > 0
    assert Decimal(str(sheet.cell(total_row, 4).value)).quantize(Decimal("0.01")) == billed.quantize(Decimal("0.01"))


def test_correction_drafts_of_compute_keep_the_issued_siret_and_state_their_motif(tmp_path):
    from click.testing import CliRunner
    from freezegun import freeze_time

    from billing.cli import main
    from tests.golden import import_every_module
    from tests.test_golden import FROZEN_NOW, RAISED, REMOVED, WITHDRAWN, Workflow, _drop_line, _edit

    flow = Workflow(tmp_path)
    assert CliRunner().invoke(main, ["init", str(flow.inputs)], catch_exceptions=False).exit_code == 0
    import_every_module()
    with freeze_time(FROZEN_NOW):
        flow.run("compute", "2024")
        flow.run("issue", "2024")
        _drop_line(flow.inputs / "adhesions.csv", REMOVED)
        _edit(flow.inputs / "adhesions.csv", *WITHDRAWN)
        _edit(flow.inputs / "effectifs.csv", *RAISED)
        flow.run("compute", "2024")
    (draft,) = (flow.out / "avis").glob("PROJET-annulation-*_59106_*.xlsx")
    sheet = load_workbook(draft)["Avis"]
    assert sheet["B13"].value == BOUVINES_SIRET
    assert sheet["A8"].value.endswith("motif : fin d'adhésion")
