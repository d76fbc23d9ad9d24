"""The streamed contributions workbook reads back exactly like the plain openpyxl one (DESIGN §6, §8)."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

from billing.inputs.config import describe_tariff
from billing.year import prepare_year
from billing.render.contributions import write_contributions_workbook
from tests.test_national_generator import load_generator

ROOT = Path(__file__).resolve().parents[1]
WHEN = datetime(2024, 4, 2, 9, 30)


def _priced(inputs: Path):
    data = prepare_year(inputs, 2024)
    return data, data.priced


def _write_both(tmp_path: Path, data, priced) -> tuple[Path, Path]:
    options = dict(priced=priced, tariff_description=describe_tariff(priced.tariff), problems=data.warnings, input_hashes=data.input_hashes, syndicat=data.syndicat,
                   version="test", generated_at=WHEN)
    fast = write_contributions_workbook(tmp_path / "streamed.xlsx", **options)
    plain = write_contributions_workbook(tmp_path / "plain.xlsx", streamed=False, **options)
    return fast, plain


def _cells(path: Path) -> dict:
    workbook = load_workbook(path)
    seen = {}
    for sheet in workbook.worksheets:
        seen[sheet.title, "layout"] = (sheet.freeze_panes, sheet.auto_filter.ref, sheet.max_row, sheet.max_column,
                                       {k: d.width for k, d in sheet.column_dimensions.items()})
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is not None or cell.has_style:
                    seen[sheet.title, cell.coordinate] = (cell.value, type(cell.value).__name__, cell.data_type,
                                                          cell.number_format, cell.font.b, cell.fill.fgColor.rgb,
                                                          cell.alignment.horizontal)
    return seen


def assert_same_workbook(fast: Path, plain: Path) -> int:
    streamed, reference = _cells(fast), _cells(plain)
    assert streamed.keys() == reference.keys()
    different = [(key, streamed[key], reference[key]) for key in reference if streamed[key] != reference[key]]
    assert not different, different[:5]
    return len(reference)


def test_sample_workbook_streamed_equals_plain(tmp_path):
    data, priced = _priced(ROOT / "inputs")
    fast, plain = _write_both(tmp_path, data, priced)
    assert assert_same_workbook(fast, plain) > 4000
    sheet = load_workbook(fast)["Contributions"]
    total_row = sheet.max_row
    assert sheet.cell(total_row, 1).value.startswith("TOTAL")
    assert sheet.cell(total_row, 1).font.b
    due = next(c for c in sheet[1] if c.value == "Montant dû").column_letter
    assert sheet[f"{due}{total_row}"].value == f"=SUM({due}2:{due}{priced.contributions.height + 1})"


@pytest.mark.slow  # national-generator input
def test_national_generator_workbook_streamed_equals_plain(tmp_path):
    inputs = tmp_path / "inputs"
    load_generator().generate(inputs, communes=300)
    data, priced = _priced(inputs)
    fast, plain = _write_both(tmp_path, data, priced)
    assert assert_same_workbook(fast, plain) > 300 * 20


def test_cached_totals_are_the_sums_of_the_displayed_amounts(tmp_path):
    data, priced = _priced(ROOT / "inputs")
    fast, _ = _write_both(tmp_path, data, priced)
    formulas = load_workbook(fast)["Contributions"]
    cached = load_workbook(fast, data_only=True)["Contributions"]
    last = formulas.max_row
    checked = 0
    for column in range(1, formulas.max_column + 1):
        if str(formulas.cell(last, column).value or "").startswith("=SUM("):
            shown = sum(round(cached.cell(r, column).value * 100) for r in range(2, last - 1)
                        if cached.cell(r, column).value is not None)
            assert round(cached.cell(last, column).value * 100) == shown
            checked += 1
    assert checked >= 4
    billed = priced.contributions.filter(pl.col("situation") == "facturee")["montant_cents"].sum()
    due = next(c for c in formulas[1] if c.value == "Montant dû").column
    assert round(cached.cell(last, due).value * 100) == billed


def test_hostile_text_stays_text_and_escaped(tmp_path):
    data, priced = _priced(ROOT / "inputs")
    names = ["=1+1", "A & B <c>", "  espaces autour  ", "ligne\nsuivante", "#N/A", "Œuvre « Ÿ » ½"]
    contributions = priced.contributions.with_columns(
        pl.when(pl.int_range(pl.len()) < len(names))
        .then(pl.Series(names + [""] * (priced.contributions.height - len(names))))
        .otherwise(pl.col("commune")).alias("commune"))
    priced = type(priced)(priced.annee, priced.tariff, contributions, priced.lines)
    fast, plain = _write_both(tmp_path, data, priced)
    assert_same_workbook(fast, plain)
    sheet = load_workbook(fast)["Contributions"]
    shown = {sheet.cell(r, 2).value for r in range(2, sheet.max_row + 1)}
    assert set(names) <= shown
    assert all(sheet.cell(r, 2).data_type == "s" for r in range(2, sheet.max_row - 1))


def test_a_control_character_is_refused_not_written(tmp_path):
    data, priced = _priced(ROOT / "inputs")
    contributions = priced.contributions.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("Bad\x07name")).otherwise(pl.col("commune"))
        .alias("commune"))
    priced = type(priced)(priced.annee, priced.tariff, contributions, priced.lines)
    target = tmp_path / "c.xlsx"
    with pytest.raises(ValueError, match="caractère de contrôle"):
        write_contributions_workbook(target, priced=priced, tariff_description=(), problems=(), input_hashes=data.input_hashes,
                                     syndicat=data.syndicat, version="t", generated_at=WHEN)
    assert not target.exists() and not list(tmp_path.glob(".*.tmp"))


def test_streamed_workbook_is_a_valid_zip_with_one_sheet_part_each(tmp_path):
    data, priced = _priced(ROOT / "inputs")
    fast, _ = _write_both(tmp_path, data, priced)
    with zipfile.ZipFile(fast) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
    assert len(names) == len(set(names))
    assert [n for n in names if n.startswith("xl/worksheets/")] == [f"xl/worksheets/sheet{i}.xml" for i in (1, 2, 3, 4)]


def test_bordereau_streamed_equals_plain_with_and_without_titres(tmp_path):
    import shutil

    from click.testing import CliRunner

    from billing.cli import main
    from billing.issuing import issued_titres
    from billing.render.bordereau import write_bordereau

    shutil.copytree(ROOT / "inputs", tmp_path / "inputs")
    ledger = tmp_path / "l.duckdb"
    result = CliRunner().invoke(main, ["--inputs", str(tmp_path / "inputs"), "--out", str(tmp_path / "out"),
                                       "--ledger", str(ledger), "--quiet", "issue", "2024"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    titres = issued_titres(ledger, 2024)
    sirets = {t.code_insee: "21590350100017" for t in titres[:5]}
    debtors = {t.code_insee: f"Commune de {t.commune} & <associés>" for t in titres}
    for name, chosen in (("all", titres), ("none", [])):
        options = dict(annee=2024, titres=chosen, sirets=sirets, debtors=debtors, issuer="Syndicat « NPdC »",
                       generated_at=WHEN)
        fast = write_bordereau(tmp_path / f"{name}-streamed.xlsx", **options)
        plain = write_bordereau(tmp_path / f"{name}-plain.xlsx", streamed=False, **options)
        assert assert_same_workbook(fast, plain) > 10 * len(chosen)
    sheet = load_workbook(tmp_path / "all-streamed.xlsx", data_only=True).active
    assert sheet["A1"].value.startswith("Bordereau des titres de recettes — exercice 2024")
    assert [c.value for c in sheet[4]][:3] == ["N° titre", "Exercice", "Nature"]
    assert sheet["A5"].value == "ENT-2024-0001" and sheet.freeze_panes == "B5"
    last = 4 + len(titres)
    total = sheet.cell(last + 2, 13).value
    assert round(total * 100) == sum(t.montant_cents for t in titres) == 10_619_640
    assert sheet.cell(last + 5, 1).value == f"{titres[-1].numero}:{titres[-1].hash}"
    # printed, « 2024 titre », « 15/05/2024 59005 », « 394,29 € 2023-05 du … » read as one value each
    assert {sheet.cell(row, column).alignment.horizontal for row in range(5, last + 1)
            for column in (2, 7, 14)} == {"center"}
    # objet and bases in three lines, not four (the row is sized on them), but for a longer calculation
    # (a plancher adds a line)
    lines = [max(-(-len(sheet.cell(row, column).value) // (sheet.column_dimensions[letter].width - 2))
                 for column, letter in ((11, "K"), (12, "L"))) for row in range(5, last + 1)]
    assert lines[0] == 3 and sum(n <= 3 for n in lines) >= 0.95 * len(lines), lines


def test_big_tables_print_landscape_as_wide_as_the_page(tmp_path):
    data, priced = _priced(ROOT / "inputs")
    fast, _ = _write_both(tmp_path, data, priced)
    workbook = load_workbook(fast)
    for title in ("Contributions", "Lignes"):
        sheet = workbook[title]
        assert sheet.page_setup.orientation == "landscape" and str(sheet.page_setup.paperSize) == "9"
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows == "$1:$1"


def test_printed_columns_read_apart_and_fixed_labels_keep_rows_single(tmp_path):
    """Seen in LibreOffice: « 10 306/366 » (months then a left-aligned prorata), « 1 part_ecole »,
    « 150,00 € produit », « 14commune »; every conditional member's row twice as tall for
    « conditionnelle » / « indicative (non facturée) »; sizes « 203111 » without grouping."""
    data, priced = _priced(ROOT / "inputs")
    fast, _ = _write_both(tmp_path, data, priced)
    book = load_workbook(fast)
    table = book["Contributions"]
    headers = {cell.value: cell.column_letter for cell in table[1]}
    widths = {letter: table.column_dimensions[letter].width for letter in headers.values()}
    rows = list(range(2, table.max_row - 1))
    assert all(table[f"{headers['Facteur de prorata']}{r}"].alignment.horizontal == "right" for r in rows
               if table[f"{headers['Facteur de prorata']}{r}"].value)
    wrapped_columns = ("Commune", "Département", "EPCI")
    for r in rows:
        longest = max(len(str(table[f"{headers[h]}{r}"].value or "")) - widths[headers[h]] + 2
                      for h in wrapped_columns)
        if longest <= 0:  # nothing wider than its column: the row keeps the default height
            assert not table.row_dimensions[r].height, (r, table[f"B{r}"].value)
    for label in ("conditionnelle", "indicative (non facturée)"):
        column = headers["Statut" if label == "conditionnelle" else "Situation"]
        assert len(label) <= widths[column], (label, widths[column])
    lines = book["Lignes"]
    names = {cell.value: cell.column_letter for cell in lines[1]}
    prorata = next(row[0].row for row in lines.iter_rows(min_row=2) if row[3].value == "prorata")
    assert len(lines[f"{names['Libellé']}{prorata}"].value) + 2 <= lines.column_dimensions[names["Libellé"]].width
    assert not lines.row_dimensions[prorata].height  # « … 306 jours d'adhésion sur 366 » on one line
    assert {lines[f"{names[h]}2"].alignment.horizontal for h in ("Ordre", "Formule")} == {"center"}
    anomalies = book["Anomalies"]
    assert anomalies["C2"].value is not None and anomalies["C2"].alignment.horizontal == "center"
    params = book["Paramètres"]
    sizes = [row[2] for row in params.iter_rows() if isinstance(row[2].value, int)]
    assert sizes and all(cell.number_format == "#,##0" for cell in sizes)
