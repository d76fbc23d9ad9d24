"""Hostile and damaged inputs, through the command line: exit code 1, a French message that names the
file, the row or cell, the value and what was expected, no traceback, and nothing written.

Every case starts from the sample folder (``ent-bill init``), spoils one file, runs
``ent-bill compute 2024`` and compares the whole working folder before and after.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from billing.cli import main

SAMPLE_CSV = "contributions_2024.csv"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A fresh sample inputs folder inside ``tmp_path`` (outputs and ledger go beside it)."""
    result = CliRunner().invoke(main, ["init", str(tmp_path / "inputs")])
    assert result.exit_code == 0, result.output
    return tmp_path / "inputs"


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` outside inputs/ with its hash: what « nothing written » compares."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and "inputs" not in path.relative_to(root).parts:
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def compute(inputs: Path):
    root = inputs.parent
    args = ["--inputs", str(inputs), "--out", str(root / "out"), "--ledger", str(root / "registre.duckdb"),
            "compute", "2024"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(main, args)
    result.caught = [w for w in caught if "openpyxl" in (w.filename or "") or "openpyxl" in str(w.message)]
    return result


def refused(inputs: Path, *fragments: str) -> str:
    """compute must stop with exit code 1, say every fragment, write nothing, show no traceback."""
    before = snapshot(inputs.parent)
    result = compute(inputs)
    output = result.output
    assert result.exit_code == 1, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output and "Error:" not in output
    assert not result.caught, [str(w.message) for w in result.caught]
    assert not (inputs.parent / "out").exists()
    assert snapshot(inputs.parent) == before
    flat = " ".join(output.split())
    for fragment in fragments:
        assert " ".join(fragment.split()) in flat, f"{fragment!r} missing from:\n{output}"
    return flat


def accepted(inputs: Path) -> bytes:
    result = compute(inputs)
    assert result.exit_code == 0, result.output
    assert not result.caught
    return (inputs.parent / "out" / SAMPLE_CSV).read_bytes()


@pytest.fixture
def reference_csv(tmp_path_factory) -> bytes:
    """The contributions CSV of the untouched sample, computed in its own folder."""
    root = tmp_path_factory.mktemp("reference")
    CliRunner().invoke(main, ["init", str(root / "inputs")])
    return accepted(root / "inputs")


def csv_to_xlsx(source: Path, target: Path, *, numbers: tuple[str, ...] = (), sheet: str | None = None) -> None:
    """A sample CSV as the workbook a person would make of it: numbers typed as numbers."""
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet or source.stem
    headers = lines[0].split(";")
    worksheet.append(headers)
    for line in lines[1:]:
        cells = line.split(";")
        worksheet.append([int(v) if h in numbers and v.isdigit() else (v or None) for h, v in zip(headers, cells)])
    workbook.save(target)
    source.unlink()


def patch_sheet(path: Path, change) -> None:
    """Rewrite the first worksheet's XML with ``change(text) -> text`` (what no spreadsheet program would write)."""
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    name = "xl/worksheets/sheet1.xml"
    parts[name] = change(parts[name].decode("utf-8")).encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename, data in parts.items():
            archive.writestr(filename, data)


def set_cell(xml: str, ref: str, new: str) -> str:
    """Replace the whole <c r="ref" …>…</c> element."""
    pattern = re.compile(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)')
    assert pattern.search(xml), ref
    return pattern.sub(new, xml, count=1)


EFFECTIFS_NUMBERS = ("Rentrée scolaire", "Nombre total de classes", "Nombre total d'élèves")


# --------------------------------------------------------------------------- CSV


def test_csv_with_cr_only_line_ends_is_read_like_the_original(sample, reference_csv):
    path = sample / "effectifs.csv"
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r"))
    assert accepted(sample) == reference_csv


def test_csv_in_utf16_with_bom_is_read_like_the_original(sample, reference_csv):
    path = sample / "adhesions.csv"
    path.write_bytes(path.read_text(encoding="utf-8-sig").encode("utf-16"))
    assert accepted(sample) == reference_csv


def test_nul_byte_names_its_line(sample):
    path = sample / "adhesions.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3][:8] + b"\x00" + lines[3][8:]
    path.write_bytes(b"\n".join(lines))
    refused(sample, "inputs/adhesions.csv, ligne 4 : octet nul (U+0000) dans le fichier, ligne 4")


def test_empty_file(sample):
    (sample / "adhesions.csv").write_bytes(b"")
    refused(sample, "inputs/adhesions.csv : le fichier est vide")


def test_header_only_file(sample):
    path = sample / "effectifs.csv"
    path.write_text(path.read_text(encoding="utf-8-sig").splitlines()[0] + "\n", encoding="utf-8")
    refused(sample, "inputs/effectifs.csv : aucun effectif pour la rentrée 2023")


def test_directory_named_like_the_file(sample):
    (sample / "adhesions.csv").unlink()
    (sample / "adhesions.csv").mkdir()
    refused(sample, "inputs/adhesions : « adhesions.csv » est un dossier, pas un fichier")


def test_symlink_loop(sample):
    (sample / "adhesions.csv").unlink()
    os.symlink("adhesions.csv", sample / "adhesions.csv")
    refused(sample, "inputs/adhesions : « adhesions.csv » ne peut pas être lu (lien symbolique en boucle)")


def test_pdf_renamed_csv(sample):
    (sample / "adhesions.csv").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    refused(sample, "inputs/adhesions.csv : ce fichier est un document PDF, pas un tableau")


def test_absurdly_long_cell(sample):
    path = sample / "adhesions.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    cells = lines[1].split(";")
    cells[1] = "A" * 200_000
    lines[1] = ";".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused(sample, "inputs/adhesions.csv, ligne 2, colonne « commune » : texte de 200000 caractères (au plus 1000)")


def test_date_00_00_0000(sample):
    path = sample / "adhesions.csv"
    path.write_text(path.read_text(encoding="utf-8-sig").replace("01/03/2024", "00/00/0000", 1), encoding="utf-8")
    refused(sample, "inputs/adhesions.csv, ligne 2, colonne « date_effet » : « 00/00/0000 » : date impossible")


def test_absurd_pupil_count_is_an_effectifs_row(sample):
    path = sample / "effectifs.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    cells = lines[1].split(";")
    cells[12] = "1000000000000"
    lines[1] = ";".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    flat = refused(sample, "inputs/effectifs.csv, ligne 2, colonne « Nombre total d'élèves » : « 1000000000000 » : "
                           "nombre d'élèves invraisemblable pour une école (au plus 5 000 attendu)")
    assert "tarifs.toml" not in flat


def test_absurd_classes_count(sample):
    path = sample / "effectifs.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    cells = lines[5].split(";")
    cells[11] = "4500"
    lines[5] = ";".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused(sample, "inputs/effectifs.csv, ligne 6, colonne « Nombre total de classes » : « 4500 » : nombre de "
                    "classes invraisemblable pour une école (au plus 200 attendu)")


def test_absurd_school_count_in_the_per_commune_form(sample):
    codes = [line.split(";")[0] for line in (sample / "adhesions.csv").read_text(encoding="utf-8-sig").splitlines()[1:]]
    rows = [f"2023;{code};{5000 if index == 0 else 1};{10 * (index + 1)}" for index, code in enumerate(codes)]
    (sample / "effectifs.csv").write_text("rentree;code_insee;ecoles;eleves\n" + "\n".join(rows) + "\n",
                                          encoding="utf-8")
    refused(sample, "inputs/effectifs.csv, ligne 2, colonne « ecoles » : « 5000 » : nombre d'écoles invraisemblable "
                    "pour une commune (au plus 1 000 attendu)")


# --------------------------------------------------------------------------- TOML


def test_tarifs_over_the_size_cap(sample):
    path = sample / "tarifs.toml"
    path.write_text(path.read_text(encoding="utf-8") + "# " + "x" * 1_100_000 + "\n", encoding="utf-8")
    refused(sample, "inputs/tarifs.toml : fichier trop volumineux (1.0 Mo ; au plus 1 Mo pour un fichier de "
                    "paramètres)")


def test_deeply_nested_toml_is_refused_cleanly(sample):
    path = sample / "tarifs.toml"
    path.write_text(path.read_text(encoding="utf-8") + "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
                    encoding="utf-8")
    refused(sample, "inputs/tarifs.toml, ligne 28 : imbrication trop profonde (100000 niveaux de listes ou de "
                    "tables ; au plus 20)")


def test_toml_syntax_error_is_located_by_line(sample):
    path = sample / "syndicat.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith("tribunal"))
    lines[number - 1] = "tribunal = Tribunal administratif de Lille"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused(sample, f"inputs/syndicat.toml, ligne {number}", "syntaxe TOML invalide",
            'Écrivez : tribunal = "Tribunal administratif de Lille"')


@pytest.mark.parametrize(("line", "expected"), [
    ('plafond = "0.00"', "ligne 15, colonne « 2024.plafond » : « 0.00 » : un plafond de 0,00 € annulerait toutes "
                         "les contributions : un montant supérieur à zéro est attendu"),
    ('plafond = "50.00"', "ligne 11, colonne « 2024.plancher » : « 100.00 » : le plancher (100,00 €) dépasse le "
                          "plafond (50,00 €). Le plafond doit être au moins égal au plancher"),
    ("date_emission = 2014-04-15", "ligne 15, colonne « 2024.date_emission » : « 2014-04-15 » : la date d'émission "
                                   "15/04/2014 tombe avant le début de l'exercice 2024 (attendu : du 01/01/2024 au "
                                   "31/12/2025 au plus tard)"),
    ("date_emission = 2026-01-02", "ligne 15, colonne « 2024.date_emission » : « 2026-01-02 » : la date d'émission "
                                   "02/01/2026 tombe plus d'un an après la fin de l'exercice 2024"),
])
def test_tariff_values_that_parse_but_cannot_be_right(sample, line, expected):
    path = sample / "tarifs.toml"
    text = path.read_text(encoding="utf-8")
    if line.startswith("date_emission"):  # the sample's own date (line 15) gives way
        text = text.replace("date_emission = 2024-04-15", line, 1)
    else:
        text = text.replace("imputation = \"7474\"\n", f"imputation = \"7474\"\n{line}\n", 1)
    path.write_text(text, encoding="utf-8")
    refused(sample, "inputs/tarifs.toml, " + expected)


# --------------------------------------------------------------------------- XLSX


def test_text_in_a_number_cell_is_named_by_sheet_and_cell(sample):
    csv_to_xlsx(sample / "effectifs.csv", sample / "effectifs.xlsx", numbers=EFFECTIFS_NUMBERS)
    patch_sheet(sample / "effectifs.xlsx", lambda xml: set_cell(xml, "M3", '<c r="M3" t="n"><v>beaucoup</v></c>'))
    flat = refused(sample, "inputs/effectifs.xlsx, ligne 3, colonne « Nombre total d'élèves » : feuille « effectifs "
                           "», cellule M3 : « beaucoup » n'est pas un nombre entier")
    assert "could not convert" not in flat


def test_impossible_date_in_a_date_cell(sample):
    csv_to_xlsx(sample / "adhesions.csv", sample / "adhesions.xlsx")
    patch_sheet(sample / "adhesions.xlsx", lambda xml: set_cell(xml, "D2", '<c r="D2" t="d"><v>2024-13-45</v></c>'))
    flat = refused(sample, "inputs/adhesions.xlsx, ligne 2, colonne « date_effet » : feuille « adhesions », cellule "
                           "D2 : « 2024-13-45 » : date impossible")
    assert "month must be" not in flat


def test_number_in_a_date_formatted_cell_is_no_formula_error(sample):
    csv_to_xlsx(sample / "adhesions.csv", sample / "adhesions.xlsx")

    def date_style(xml: str) -> str:
        return set_cell(xml, "D2", '<c r="D2" s="1"><v>99999999</v></c>')

    workbook = openpyxl.load_workbook(sample / "adhesions.xlsx")
    workbook.active["A1"].number_format = "DD/MM/YYYY"  # creates style 1, a date format
    workbook.save(sample / "adhesions.xlsx")
    patch_sheet(sample / "adhesions.xlsx", date_style)
    flat = refused(sample, "cellule D2 : « 99999999 » n'est pas une date")
    assert "erreur Excel" not in flat and "#VALUE!" not in flat


def test_no_openpyxl_warning_reaches_stderr(sample, tmp_path):
    csv_to_xlsx(sample / "adhesions.csv", sample / "adhesions.xlsx")
    with zipfile.ZipFile(sample / "adhesions.xlsx") as archive:  # no styles part: openpyxl warns about it
        parts = {i.filename: archive.read(i) for i in archive.infolist() if i.filename != "xl/styles.xml"}
    with zipfile.ZipFile(sample / "adhesions.xlsx", "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data.replace(b'<Override PartName="/xl/styles.xml" ContentType='
                                                b'"application/vnd.openxmlformats-officedocument.spreadsheetml'
                                                b'.styles+xml"/>', b""))
    (sample / "effectifs.csv").write_bytes(b"")  # and stop the run with an error
    refused(sample, "inputs/effectifs.csv : le fichier est vide")


def test_xlsx_that_is_a_zip_of_something_else(sample):
    (sample / "adhesions.csv").unlink()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photos/vacances.jpg", b"\xff\xd8\xff" + b"0" * 1000)
    (sample / "adhesions.xlsx").write_bytes(buffer.getvalue())
    refused(sample, "inputs/adhesions.xlsx : classeur Excel illisible")


@pytest.mark.slow  # builds an 85 MB sheet
def test_formatting_down_to_the_last_row_stops_at_the_last_value(sample, reference_csv):
    csv_to_xlsx(sample / "effectifs.csv", sample / "effectifs.xlsx", numbers=EFFECTIFS_NUMBERS)
    patch_sheet(sample / "effectifs.xlsx", formatted_to_the_end)
    assert accepted(sample) == reference_csv


def formatted_to_the_end(xml: str) -> str:
    """What a sheet looks like when whole rows were given borders down to row 1 048 576."""
    last = int(re.findall(r'<row r="(\d+)"', xml)[-1])
    rows = "".join(f'<row r="{n}" spans="1:23" s="1" customFormat="1"><c r="A{n}" s="1"/></row>'
                   for n in range(last + 1, 1_048_577))
    xml = re.sub(r'<dimension ref="[^"]*"/>', '<dimension ref="A1:W1048576"/>', xml)
    return xml.replace("</sheetData>", rows + "</sheetData>")


# --------------------------------------------------------------------------- more hostile files


def test_windows_1252_csv_is_read_like_the_original(sample, reference_csv):
    path = sample / "adhesions.csv"
    path.write_bytes(path.read_text(encoding="utf-8-sig").encode("cp1252"))
    assert accepted(sample) == reference_csv


def test_adhesions_with_a_header_only(sample):
    (sample / "adhesions.csv").write_text("code_insee;commune;statut;date_effet\n", encoding="utf-8")
    refused(sample, "inputs/adhesions.csv : aucune commune membre dans le fichier")


def test_binary_garbage_named_csv(sample):
    (sample / "effectifs.csv").write_bytes(bytes(range(256)) * 64)
    refused(sample, "inputs/effectifs.csv : ce fichier n'est pas un tableau lisible (contenu binaire ou encodage "
                    "inconnu)")


def test_xls_97_renamed_xlsx(sample):
    (sample / "adhesions.csv").unlink()
    (sample / "adhesions.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2048)
    refused(sample, "inputs/adhesions.xlsx : ce fichier est au format Excel 97-2003 (.xls) ou protégé par un mot "
                    "de passe")


def test_workbook_named_csv(sample):
    csv_to_xlsx(sample / "adhesions.csv", sample / "classeur.xlsx")
    (sample / "classeur.xlsx").rename(sample / "adhesions.csv")
    refused(sample, "inputs/adhesions.csv : ce fichier est un classeur Excel (.xlsx) alors que son nom se termine "
                    "par .csv")


def test_toml_not_in_utf8(sample):
    path = sample / "syndicat.toml"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1", errors="replace"))
    refused(sample, "inputs/syndicat.toml : le fichier n'est pas encodé en UTF-8")


def test_empty_toml(sample):
    (sample / "syndicat.toml").write_bytes(b"")
    refused(sample, "inputs/syndicat.toml : section [syndicat] absente", "section [comptable] absente")


def test_impossible_calendar_date(sample):
    path = sample / "adhesions.csv"
    path.write_text(path.read_text(encoding="utf-8-sig").replace("01/03/2024", "31/02/2024", 1), encoding="utf-8")
    refused(sample, "inputs/adhesions.csv, ligne 2, colonne « date_effet » : « 31/02/2024 » : date impossible")


def test_negative_pupils(sample):
    path = sample / "effectifs.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    cells = lines[1].split(";")
    cells[12] = "-5"
    lines[1] = ";".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused(sample, "inputs/effectifs.csv, ligne 2, colonne « Nombre total d'élèves » : « -5 » : un nombre d'élèves "
                    "ne peut pas être négatif")


def test_a_column_named_twice(sample):
    path = sample / "adhesions.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    lines[0] = lines[0].replace("delegue", "statut")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused(sample, "inputs/adhesions.csv : la colonne « statut » figure deux fois")


def test_a_shared_name_without_code_among_members_of_both_departements(sample):
    path = sample / "adhesions.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    lines.append(";Croix;adherente;01/03/2024;;;;;;")
    lines.append("90010;Belfort;adherente;01/03/2024;;;;;;")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused(sample, f"inputs/adhesions.csv, ligne {len(lines) - 1}, colonne « commune » : « Croix » : désigne "
                    "plusieurs communes du référentiel ; indiquez le code_insee")


@pytest.mark.slow  # 300 000 rows
def test_300_000_bad_rows_keep_a_readable_list(sample):
    """Every pupils cell is text: 100 located errors, then one line that counts the rest."""
    codes = [line.split(";")[0] for line in (sample / "adhesions.csv").read_text(encoding="utf-8-sig").splitlines()[1:]]
    rows = (f"2023;0595216Z;{codes[i % len(codes)]};PUBLIC;beaucoup{i % 7}" for i in range(300_000))
    (sample / "effectifs.csv").write_text("rentree;uai;code_insee;secteur;eleves\n" + "\n".join(rows) + "\n",
                                          encoding="utf-8")
    flat = refused(sample, "inputs/effectifs.csv, ligne 2, colonne « eleves » : « beaucoup0 » n'est pas un nombre "
                           "entier", "inputs/effectifs.csv, colonne « eleves » : 299900 autres valeurs refusées dans "
                                     "cette colonne (seules les 100 premières sont détaillées ; 300000 en tout)")
    assert "ligne 102," not in flat
