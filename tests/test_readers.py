"""Readers: every file form the officers send, every way a file can be wrong, located in French."""

from __future__ import annotations

import csv
import datetime as dt
import random
import time
import zipfile
from pathlib import Path

import openpyxl
import openpyxl.xml
import polars as pl
import pytest
from openpyxl.worksheet.formula import ArrayFormula

from billing.inputs import readers
from billing.inputs.readers import Table, coerce, fold_header, read_annuaire, read_pupil_counts, read_table
from billing.inputs.xlsx import _cell_text

FIXTURES = Path(__file__).parent / "fixtures" / "readers"
EFFECTIFS_EXTRACT = FIXTURES / "fr-en-ecoles-effectifs-nb_classes_extrait.csv"
ANNUAIRE_EXTRACT = FIXTURES / "fr-en-annuaire-education_extrait.csv"

MEMBERS = {
    "code_insee": ("code_insee", "insee", "code_commune"),
    "commune": ("commune", "nom"),
    "statut": ("statut",),
    "date_effet": ("date_effet", "date_d_effet"),
    "montant": ("montant",),
}


def rendered(problems) -> list[str]:
    return [p.render() for p in problems]


def write(folder: Path, name: str, text: str, *, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def read_members(path: Path, *, required=("statut",), display: str | None = None) -> Table:
    return read_table(path, display=display or f"inputs/{path.name}", columns=MEMBERS, required=required)


def text_table(values: dict[str, list[str | None]], headers: dict[str, str] | None = None) -> Table:
    """A Table as read from a CSV, rows 2.., to feed coerce directly."""
    height = len(next(iter(values.values())))
    frame = pl.DataFrame(values, schema={k: pl.Utf8 for k in values}).with_columns(
        pl.Series("_row", list(range(2, height + 2)), dtype=pl.Int64))
    return Table("inputs/t.csv", frame, headers or {k: k for k in values})


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize("text, folded", [
    ("Numéro de l'école", "numero_de_l_ecole"),
    ("Code Postal", "code_postal"),
    ("\ufeffRentrée scolaire", "rentree_scolaire"),
    ("  Nombre total d’élèves ", "nombre_total_d_eleves"),
    ("Cœur", "coeur"),
    ("REP +", "rep"),
])
def test_fold_header(text, folded):
    assert fold_header(text) == folded


# --------------------------------------------------------------------------- the real extracts


def test_official_export_extract_reads_as_downloaded():
    counts = read_pupil_counts(EFFECTIFS_EXTRACT, display="inputs/effectifs.csv")
    table = counts.table
    assert counts.form == "export_officiel"
    assert counts.problems == () and table.problems == ()
    assert table.frame.columns == ["rentree", "uai", "ecole", "commune_nom", "code_postal", "code_insee", "secteur",
                                   "eleves", "classes", "ecoles", "_row"]
    assert table.frame.height == 120
    assert table.frame["_row"].to_list() == list(range(2, 122))
    assert table.headers["rentree"] == "Rentrée scolaire"  # the BOM is not part of the header
    assert table.headers["uai"] == "Numéro de l'école"
    assert table.headers["eleves"] == "Nombre total d'élèves"
    assert table.headers["code_postal"] == "Code Postal"
    first = table.frame.row(0, named=True)
    assert first == {"rentree": "2019", "uai": "0350103X", "ecole": "ECOLE ELEMENTAIRE PUBLIQUE LE CHEVRE",
                     "commune_nom": "ACIGNE", "code_postal": "35690", "code_insee": None, "secteur": "PUBLIC",
                     "eleves": "301", "classes": "12", "ecoles": None, "_row": 2}
    assert set(table.frame["secteur"].unique().to_list()) == {"PUBLIC", "PRIVE"}

    # an independent reading of the same file agrees on every pupil
    with open(EFFECTIFS_EXTRACT, encoding="utf-8-sig", newline="") as stream:
        expected = sum(int(rec["Nombre total d'élèves"]) for rec in csv.DictReader(stream, delimiter=";"))
    typed, problems = coerce(table, {"rentree": "int", "uai": "uai", "eleves": "int", "classes": "int"})
    assert problems == []
    assert typed["eleves"].dtype == pl.Int64 and typed["eleves"].sum() == expected


def test_annuaire_extract_reads_as_downloaded():
    table = read_annuaire(ANNUAIRE_EXTRACT, display="inputs/annuaire.csv")
    assert table.problems == ()
    assert table.frame.height == 40
    assert table.frame["_row"].to_list() == list(range(2, 42))
    assert table.headers == {"uai": "Identifiant_de_l_etablissement", "ecole": "Nom_etablissement",
                             "secteur": "Statut_public_prive", "code_postal": "Code postal",
                             "code_insee": "Code_commune", "commune_nom": "Nom_commune", "siret": "SIREN_SIRET"}
    assert table.frame.row(0, named=True) == {
        "uai": "0350122T", "ecole": "Ecole primaire publique les Lucioles", "secteur": "Public",
        "code_postal": "35580", "code_insee": "35016", "commune_nom": "Baulon", "siret": "21350016800025",
        "_row": 2}


# --------------------------------------------------------------------------- pupil counts: the three forms


def test_pupil_counts_official_export_with_api_field_names(tmp_path):
    path = write(tmp_path, "effectifs.csv",
                 "rentree_scolaire;numero_ecole;denomination_principale;patronyme;commune;secteur;"
                 "nombre_total_classes;nombre_total_eleves;code_postal;code_commune_insee\n"
                 "2023;0590001A;ECOLE PRIMAIRE PUBLIQUE;;LYS LEZ LANNOY;PUBLIC;10;250;59390;59367\n")
    counts = read_pupil_counts(path, display="inputs/effectifs.csv")
    assert counts.form == "export_officiel"
    assert counts.table.problems == ()
    assert counts.table.frame.drop("_row").row(0) == (
        "2023", "0590001A", "ECOLE PRIMAIRE PUBLIQUE", "LYS LEZ LANNOY", "59390", "59367", "PUBLIC", "250", "10",
        None)
    assert counts.table.headers["code_insee"] == "code_commune_insee"


def test_pupil_counts_per_school(tmp_path):
    path = write(tmp_path, "effectifs.csv",
                 "rentree,uai,ecole,code_insee,secteur,eleves,classes\n"
                 "2023,0590001A,École Jules Ferry,59367,public,250,10\n")
    counts = read_pupil_counts(path, display="inputs/effectifs.csv")
    assert (counts.form, counts.problems, counts.table.problems) == ("par_ecole", (), ())
    assert counts.table.frame.select("uai", "ecole", "code_insee", "eleves", "ecoles").row(0) == (
        "0590001A", "École Jules Ferry", "59367", "250", None)


def test_pupil_counts_per_commune_by_name(tmp_path):
    path = write(tmp_path, "effectifs.csv", "rentree;commune;ecoles;eleves\n2023;Lys-lez-Lannoy;5;1 100\n")
    counts = read_pupil_counts(path, display="inputs/effectifs.csv")
    assert (counts.form, counts.problems, counts.table.problems) == ("par_commune", (), ())
    assert counts.table.frame.select("commune_nom", "ecoles", "eleves", "uai").row(0) == (
        "Lys-lez-Lannoy", "5", "1 100", None)


def test_pupil_counts_per_commune_workbook_with_a_title(tmp_path):
    def build(workbook):
        sheet = workbook.active
        sheet.title = "Déclaration"
        sheet.append(["Effectifs déclarés par la commune de Lys-lez-Lannoy"])
        sheet.append(["Rentrée", "Code INSEE", "Écoles", "Élèves"])
        sheet.append([2023, 59367, 5, 1100])

    counts = read_pupil_counts(save_workbook(tmp_path / "effectifs.xlsx", build), display="inputs/effectifs.xlsx")
    assert (counts.form, counts.problems, counts.table.problems, counts.table.sheet) == (
        "par_commune", (), (), "Déclaration")
    assert counts.table.frame.select("rentree", "code_insee", "ecoles", "eleves", "_row").rows() == [
        ("2023", "59367", "5", "1100", 3)]
    assert counts.table.headers == {"rentree": "Rentrée", "code_insee": "Code INSEE", "ecoles": "Écoles",
                                    "eleves": "Élèves"}


def test_pupil_counts_missing_column_of_the_recognised_form(tmp_path):
    path = write(tmp_path, "effectifs.csv", "rentree;uai;code_insee;secteur;nb_eleve\n2023;0590001A;59367;PUBLIC;3\n")
    counts = read_pupil_counts(path, display="inputs/effectifs.csv")
    assert counts.form == "par_ecole"
    assert rendered(counts.table.problems) == [
        "inputs/effectifs.csv : colonne obligatoire « eleves » absente ; colonnes trouvées : « rentree », « uai », "
        "« code_insee », « secteur », « nb_eleve ». Colonne « nb_eleve » : vouliez-vous dire « eleves » ?"]


def test_pupil_counts_unknown_form(tmp_path):
    path = write(tmp_path, "effectifs.csv", "annee;nom;total\n2023;Lille;12\n")
    counts = read_pupil_counts(path, display="inputs/effectifs.csv")
    assert counts.form == "inconnue"
    assert rendered(counts.problems) == [
        "inputs/effectifs.csv : forme du fichier d'effectifs non reconnue ; colonnes trouvées : « annee », « nom », "
        "« total ». Attendu : l'export « Effectifs d'élèves par école » de l'Éducation nationale tel que "
        "téléchargé, ou les colonnes rentree, uai, ecole, code_insee, secteur, eleves, classes (une ligne par "
        "école), ou rentree, code_insee, ecoles, eleves (une ligne par commune)."]


# --------------------------------------------------------------------------- CSV forms


@pytest.mark.parametrize("separator", [";", ",", "\t"])
def test_csv_separator_detected_quoted_fields_keep_the_others(tmp_path, separator):
    s = separator
    text = (f"\ufeffcode_insee{s}commune{s}statut{s}montant\r\n"
            f'59350{s}"Lille; Lomme, Hellemmes\tx"{s}adherente{s}"1 234,56"\r\n')
    table = read_members(write(tmp_path, "adhesions.csv", text))
    assert table.problems == ()
    assert table.frame.row(0) == ("59350", "Lille; Lomme, Hellemmes\tx", "adherente", "1 234,56", 2)
    assert table.headers["code_insee"] == "code_insee"


def test_csv_windows_1252_as_french_excel_writes_it():
    table = read_members(FIXTURES / "adhesions_windows1252.csv", display="inputs/adhesions.csv")
    assert table.problems == ()
    assert table.frame["commune"].to_list() == ["Hérlies", "Lys-lez-Lannoy"]
    assert table.frame["statut"].to_list() == ["adhérente", "adhérente"]
    assert table.frame["montant"].to_list() == ["1\u00a0234,56 €", "150,00 €"]
    typed, problems = coerce(table, {"montant": "decimal", "date_effet": "date"})
    assert problems == []
    assert typed["montant"].to_list() == ["1234.56", "150.00"]
    assert typed["date_effet"].to_list() == [dt.date(2023, 12, 13), dt.date(2024, 1, 1)]


def test_csv_utf16_unicode_text_from_excel(tmp_path):
    path = write(tmp_path, "adhesions.csv", "\ufeffcode_insee\tcommune\tstatut\r\n59350\tLille\tadhérente\r\n",
                 encoding="utf-16-le")
    table = read_members(path)
    assert table.problems == ()
    assert table.frame.row(0) == ("59350", "Lille", "adhérente", 2)


def test_csv_header_spellings_case_accents_and_blanks(tmp_path):
    path = write(tmp_path, "adhesions.csv",
                 "  Code INSEE ; Nom ;STATUT;Date d'effet;Autre\n 59350 ;  Lille ; adherente ;;x\n")
    table = read_members(path)
    assert table.problems == ()
    assert table.headers == {"code_insee": "Code INSEE", "commune": "Nom", "statut": "STATUT",
                             "date_effet": "Date d'effet"}
    assert table.frame.columns == ["code_insee", "commune", "statut", "date_effet", "_row"]
    assert table.frame.row(0) == ("59350", "Lille", "adherente", None, 2)


def test_csv_rows_keep_the_numbers_the_spreadsheet_shows(tmp_path):
    text = ("code_insee;commune;statut\n"
            "59350;Lille;adherente\n"
            "\n"
            " ; ;\u00a0\n"
            '59360;"La\nMadeleine";adherente\n'  # one record over two lines: Excel shows it as one row
            "59368;Lambersart;adherente\n")
    table = read_members(write(tmp_path, "adhesions.csv", text))
    assert table.frame.select("code_insee", "commune", "_row").rows() == [
        ("59350", "Lille", 2), ("59360", "La Madeleine", 5), ("59368", "Lambersart", 6)]
    assert rendered(table.problems) == [
        "inputs/adhesions.csv, ligne 5, colonne « commune » : saut de ligne dans « La Madeleine » remplacé par une "
        "espace"]
    assert not table.problems[0].is_error


def test_csv_header_only_is_an_empty_table(tmp_path):
    table = read_members(write(tmp_path, "adhesions.csv", "code_insee;commune;statut\n"))
    assert table.problems == ()
    assert table.frame.height == 0
    assert table.frame.schema == pl.Schema({"code_insee": pl.Utf8, "commune": pl.Utf8, "statut": pl.Utf8,
                                            "_row": pl.Int64})


@pytest.mark.parametrize("content", [b"", b"  \r\n\r\n", b"\xef\xbb\xbf"])
def test_csv_empty_file(tmp_path, content):
    path = tmp_path / "adhesions.csv"
    path.write_bytes(content)
    table = read_members(path)
    assert rendered(table.problems) == ["inputs/adhesions.csv : le fichier est vide"]
    assert table.frame.height == 0


# --------------------------------------------------------------------------- header problems


def test_missing_required_column_suggests_the_nearest_header(tmp_path):
    path = write(tmp_path, "adhesions.csv", "code_inse;commune;statut\n59350;Lille;adherente\n")
    table = read_members(path, required=("code_insee", "statut"))
    assert rendered(table.problems) == [
        "inputs/adhesions.csv : colonne obligatoire « code_insee » absente ; colonnes trouvées : « code_inse », "
        "« commune », « statut ». Colonne « code_inse » : vouliez-vous dire « code_insee » ?"]
    problem = table.problems[0]
    assert (problem.row, problem.column, problem.is_error) == (None, None, True)


def test_missing_required_column_without_a_near_header(tmp_path):
    path = write(tmp_path, "adhesions.csv", "commune;groupe\nLille;A\n")
    table = read_members(path)
    assert rendered(table.problems) == [
        "inputs/adhesions.csv : colonne obligatoire « statut » absente ; colonnes trouvées : « commune », « groupe »"]


def test_duplicated_header(tmp_path):
    path = write(tmp_path, "adhesions.csv", "code_insee;statut;Code INSEE\n59350;adherente;59360\n")
    table = read_members(path)
    assert rendered(table.problems) == [
        "inputs/adhesions.csv : la colonne « code_insee » figure deux fois : « code_insee » (1ᵉ colonne) et "
        "« Code INSEE » (3ᵉ colonne). Supprimez ou renommez l'une des deux colonnes."]
    assert table.frame["code_insee"].to_list() == ["59350"]


def test_wrong_separator_pipe():
    table = read_members(FIXTURES / "adhesions_pipe.csv", display="inputs/adhesions.csv")
    assert rendered(table.problems) == [
        "inputs/adhesions.csv : la ligne d'en-tête ne se découpe pas en colonnes : séparateur « | » trouvé ; "
        "séparateurs acceptés : point-virgule « ; », virgule « , » ou tabulation. Dans Excel : Fichier → "
        "Enregistrer sous → « CSV (séparateur : point-virgule) »."]


def test_no_separator_at_all(tmp_path):
    path = write(tmp_path, "adhesions.csv", "code_insee commune statut\n59350 Lille adherente\n")
    assert rendered(read_members(path).problems) == [
        "inputs/adhesions.csv : la ligne d'en-tête ne se découpe pas en colonnes : aucun séparateur trouvé ; "
        "séparateurs acceptés : point-virgule « ; », virgule « , » ou tabulation. Dans Excel : Fichier → "
        "Enregistrer sous → « CSV (séparateur : point-virgule) »."]


def test_single_column_file_is_fine_when_one_column_is_all_that_is_needed(tmp_path):
    path = write(tmp_path, "adhesions.csv", "statut\nadherente\n")
    table = read_members(path)
    assert table.problems == ()
    assert table.frame.row(0) == ("adherente", 2)


# --------------------------------------------------------------------------- CSV cell problems


def test_row_with_more_values_than_headers(tmp_path):
    text = ("code_insee;commune;statut\n"
            "59350;Lille;adherente;\n"  # a trailing separator: harmless
            "59360;La Madeleine; centre;adherente\n")
    table = read_members(write(tmp_path, "adhesions.csv", text))
    assert rendered(table.problems) == [
        "inputs/adhesions.csv, ligne 3 : 4 valeurs alors que l'en-tête a 3 colonnes : une valeur contient sans doute "
        "le séparateur « ; ». Mettez cette valeur entre guillemets ou retirez le séparateur."]
    assert table.frame.select("code_insee", "_row").rows() == [("59350", 2), ("59360", 3)]


def test_unclosed_quote(tmp_path):
    text = 'code_insee;commune;statut\n59350;Lille;adherente\n59360;"La Madeleine;adherente\n59368;X;adherente\n'
    table = read_members(write(tmp_path, "adhesions.csv", text))
    assert rendered(table.problems) == [
        "inputs/adhesions.csv : guillemet « \" » mal placé ou non refermé à la ligne 3 : le découpage en colonnes "
        "est impossible. Ouvrez le fichier dans Excel ou LibreOffice et enregistrez-le de nouveau au format CSV."]


def test_control_character_and_overlong_cell(tmp_path):
    text = f"code_insee;commune;statut\n59350;Lil\x07le;adherente\n59360;{'A' * 1001};adherente\n"
    table = read_members(write(tmp_path, "adhesions.csv", text))
    assert rendered(table.problems) == [
        "inputs/adhesions.csv, ligne 2, colonne « commune » : caractère de contrôle invisible (U+0007) dans "
        "« Lil�le ». Retapez la valeur (le caractère vient souvent d'un copier-coller).",
        f"inputs/adhesions.csv, ligne 3, colonne « commune » : texte de 1001 caractères (au plus 1000) : "
        f"« {'A' * 59}… »"]


def test_unread_columns_are_not_checked(tmp_path):
    text = "code_insee;commune;statut;remarque\n59350;Lille;adherente;bip\x07\n"
    assert read_members(write(tmp_path, "adhesions.csv", text)).problems == ()


# --------------------------------------------------------------------------- not a table at all


@pytest.mark.parametrize("name, expected", [
    ("rapport_pdf.csv", "inputs/rapport_pdf.csv : ce fichier est un document PDF, pas un tableau. Exportez les "
                        "données au format CSV ou Classeur Excel (.xlsx)."),
    ("binaire.csv", "inputs/binaire.csv : ce fichier n'est pas un tableau lisible (contenu binaire ou encodage "
                    "inconnu). Exportez les données au format CSV UTF-8 ou Classeur Excel (.xlsx)."),
    ("texte_nomme.xlsx", "inputs/texte_nomme.xlsx : ce fichier est un texte (CSV ?) alors que son nom se termine "
                         "par .xlsx. Renommez-le en .csv, ou ouvrez-le et enregistrez-le au format .xlsx."),
    ("abime.xlsx", "inputs/abime.xlsx : ce fichier n'est pas un classeur Excel valide. Ouvrez-le dans Excel ou "
                   "LibreOffice et enregistrez-le de nouveau au format .xlsx."),
    ("ancien_format.xlsx", "inputs/ancien_format.xlsx : ce fichier est au format Excel 97-2003 (.xls) ou protégé "
                           "par un mot de passe. Ouvrez-le et enregistrez-le sans mot de passe au format Classeur "
                           "Excel (.xlsx) ou CSV."),
])
def test_not_a_spreadsheet(name, expected):
    table = read_members(FIXTURES / name)
    assert rendered(table.problems) == [expected]
    assert table.frame.height == 0


def test_workbook_named_csv(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["statut"])
    workbook.save(tmp_path / "adhesions.csv")
    assert rendered(read_members(tmp_path / "adhesions.csv").problems) == [
        "inputs/adhesions.csv : ce fichier est un classeur Excel (.xlsx) alors que son nom se termine par .csv. "
        "Renommez-le en .xlsx, ou enregistrez-le au format CSV."]


def test_unsupported_extension(tmp_path):
    path = write(tmp_path, "adhesions.ods", "whatever")
    assert rendered(read_members(path).problems) == [
        "inputs/adhesions.ods : format de fichier non pris en charge (« .ods »). Enregistrez le tableau au format "
        "CSV ou Classeur Excel (.xlsx)."]


def test_missing_file(tmp_path):
    table = read_members(tmp_path / "adhesions.csv")
    assert rendered(table.problems) == ["inputs/adhesions.csv : fichier illisible (fichier introuvable)"]


def test_file_over_200_mb_is_refused_unread(tmp_path):
    path = tmp_path / "adhesions.csv"
    with open(path, "wb") as stream:
        stream.write(b"statut\n")
        stream.truncate(201 * 1024 * 1024)  # sparse: nothing is written to disk
    started = time.perf_counter()
    problems = read_members(path).problems
    assert time.perf_counter() - started < 1
    assert rendered(problems) == [
        "inputs/adhesions.csv : fichier trop volumineux (201 Mo ; au plus 200 Mo). Ne gardez que les lignes utiles "
        "(par exemple votre département)."]


# --------------------------------------------------------------------------- XLSX


def save_workbook(path: Path, build) -> Path:
    workbook = openpyxl.Workbook()
    build(workbook)
    workbook.save(path)
    return path


def test_xlsx_title_rows_real_dates_numbers_and_the_sheet_named_like_the_file(tmp_path):
    def build(workbook):
        notes = workbook.active
        notes.title = "Notes"
        notes.append(["code_insee", "statut"])  # a first sheet that is not the one named like the file
        notes.append(["00000", "x"])
        sheet = workbook.create_sheet("Adhésions")
        sheet.append(["Syndicat mixte Nord - Pas-de-Calais Numérique"])
        sheet.append(["Adhésions au 1er janvier 2024"])
        sheet.append([])
        sheet.append(["Code INSEE", "Commune", "Statut", "Date d'effet", "Montant", "Remarque"])
        sheet.append([59350, "Lille", "adherente", dt.date(2024, 1, 1), 1.2, "=1+1"])
        sheet.append([])
        sheet.append([1004, " Ambérieu ", True, dt.datetime(2023, 12, 13), 12.0])
        sheet.append(["59360", None, "adherente", 45292, 1234.5678])  # D8: a serial typed as a plain number

    path = save_workbook(tmp_path / "adhesions.xlsx", build)
    table = read_members(path)
    assert table.problems == ()  # the formula sits in a column that is not read
    assert table.sheet == "Adhésions"
    assert table.headers == {"code_insee": "Code INSEE", "commune": "Commune", "statut": "Statut",
                             "date_effet": "Date d'effet", "montant": "Montant"}
    assert table.frame.rows() == [
        ("59350", "Lille", "adherente", "2024-01-01", "1.2", 5),
        ("1004", "Ambérieu", "VRAI", "2023-12-13", "12", 7),
        ("59360", None, "adherente", "45292", "1234.5678", 8),
    ]
    typed, problems = coerce(table, {"code_insee": "code_insee", "date_effet": "date", "montant": "decimal"})
    assert typed["date_effet"].to_list() == [dt.date(2024, 1, 1), dt.date(2023, 12, 13), dt.date(2024, 1, 1)]
    assert typed["montant"].to_list() == ["1.2", "12", "1234.5678"]
    assert typed["code_insee"].to_list() == ["59350", "01004", "59360"]
    assert rendered(problems) == [
        "inputs/adhesions.xlsx, ligne 7, colonne « Code INSEE » : feuille « Adhésions », cellule A7 : « 1004 » : "
        "le zéro initial a été rétabli (« 01004 »)"]


@pytest.mark.parametrize("value, text", [
    (12, "12"), (12.0, "12"), (1.2, "1.2"), (1234.5678, "1234.5678"), (0.1 + 0.2, "0.30000000000000004"),
    (1e-07, "0.0000001"), (1e20, "100000000000000000000"), (-3.5, "-3.5"), (True, "VRAI"), (False, "FAUX"),
    (dt.datetime(2024, 1, 1), "2024-01-01"), (dt.datetime(2024, 1, 1, 10, 30), "2024-01-01 10:30:00"),
    (dt.date(2024, 1, 1), "2024-01-01"), ("  x ", "x"), ("  ", None), (None, None),
])
def test_xlsx_cell_values_as_text(value, text):
    assert _cell_text(value) == text


def test_xlsx_first_sheet_when_none_is_named_like_the_file(tmp_path):
    def build(workbook):
        workbook.active.title = "Feuil1"
        workbook.active.append(["statut", "commune"])
        workbook.active.append(["adherente", "Lille"])
        workbook.create_sheet("Autre").append(["statut", "commune"])

    table = read_members(save_workbook(tmp_path / "adhesions.xlsx", build))
    assert (table.sheet, table.frame.rows(), table.problems) == ("Feuil1", [("Lille", "adherente", 2)], ())


def test_xlsx_header_with_one_required_column_only(tmp_path):
    def build(workbook):
        workbook.active.append(["Liste"])
        workbook.active.append(["Statut"])
        workbook.active.append(["adherente"])

    table = read_members(save_workbook(tmp_path / "adhesions.xlsx", build))
    assert (table.frame.rows(), table.problems) == ([("adherente", 3)], ())


def test_xlsx_missing_column_lists_the_headers_found(tmp_path):
    def build(workbook):
        workbook.active.append(["Code INSEE", "Commune", "Statu"])
        workbook.active.append([59350, "Lille", "adherente"])

    table = read_members(save_workbook(tmp_path / "adhesions.xlsx", build))
    assert rendered(table.problems) == [
        "inputs/adhesions.xlsx : colonne obligatoire « statut » absente de la feuille « Sheet » ; colonnes trouvées : "
        "« Code INSEE », "
        "« Commune », « Statu ». Colonne « Statu » : vouliez-vous dire « statut » ?"]


def test_xlsx_duplicated_header_names_the_columns(tmp_path):
    def build(workbook):
        workbook.active.append(["Code INSEE", "Statut", "code_insee"])
        workbook.active.append([59350, "adherente", 59360])

    assert rendered(read_members(save_workbook(tmp_path / "adhesions.xlsx", build)).problems) == [
        "inputs/adhesions.xlsx : la colonne « code_insee » figure deux fois : « Code INSEE » (colonne A) et "
        "« code_insee » (colonne C). Supprimez ou renommez l'une des deux colonnes."]


def test_xlsx_empty_sheet(tmp_path):
    table = read_members(save_workbook(tmp_path / "adhesions.xlsx", lambda wb: None))
    assert rendered(table.problems) == ["inputs/adhesions.xlsx : la feuille « Sheet » est vide"]


def test_xlsx_formulas_array_formulas_and_error_cells_are_refused(tmp_path):
    def build(workbook):
        sheet = workbook.active
        sheet.append(["code_insee", "commune", "statut", "montant"])
        for row in range(2, 7):
            sheet.append([59350 + row, "X", "adherente", 10])
        sheet.append([59357, "Y", "adherente", "=B7*2"])  # row 7
        sheet["D8"] = ArrayFormula("D8:D9", "=A8:A9*2")
        sheet["D9"] = 5  # Excel keeps the array's other results as plain cached values
        sheet["A8"], sheet["A9"] = 59358, 59359
        sheet["C8"], sheet["C9"] = "adherente", "adherente"
        sheet["B10"], sheet["C10"] = "#N/A", "adherente"

    table = read_members(save_workbook(tmp_path / "adhesions.xlsx", build))
    assert rendered(table.problems) == [
        "inputs/adhesions.xlsx, ligne 7, colonne « montant » : feuille « Sheet », cellule D7 : une formule (=B7*2) au lieu d'une "
        "valeur ; collez les valeurs (Collage spécial → Valeurs)",
        "inputs/adhesions.xlsx, ligne 8, colonne « montant » : feuille « Sheet », cellule D8 : une formule (=A8:A9*2) au lieu d'une "
        "valeur ; collez les valeurs (Collage spécial → Valeurs)",
        "inputs/adhesions.xlsx, ligne 9, colonne « montant » : feuille « Sheet », cellule D9 : le résultat d'une formule matricielle "
        "(=A8:A9*2, en D8) au lieu d'une valeur ; collez les valeurs (Collage spécial → Valeurs)",
        "inputs/adhesions.xlsx, ligne 10, colonne « commune » : feuille « Sheet », cellule B10 : une erreur Excel (#N/A) au lieu "
        "d'une valeur. Corrigez la formule d'origine, puis collez les valeurs.",
    ]
    assert table.frame.filter(pl.col("_row") == 7)["montant"].to_list() == [None]


def test_xlsx_control_character_and_overlong_cell(tmp_path):
    def build(workbook):
        workbook.active.append(["code_insee", "commune", "statut"])
        workbook.active.append([59350, "Lil_x0007_le", "adherente"])  # how Excel stores U+0007
        workbook.active.append([59360, "B" * 1200, "adherente"])

    table = read_members(save_workbook(tmp_path / "adhesions.xlsx", build))
    assert rendered(table.problems) == [
        "inputs/adhesions.xlsx, ligne 2, colonne « commune » : cellule B2 : caractère de contrôle invisible "
        "(U+0007) dans « Lil�le ». Retapez la valeur (le caractère vient souvent d'un copier-coller).",
        f"inputs/adhesions.xlsx, ligne 3, colonne « commune » : cellule B3 : texte de 1200 caractères (au plus "
        f"1000) : « {'B' * 59}… »"]


def rezip(source: Path, target: Path, replace: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            new.writestr(item.filename, replace.get(item.filename, old.read(item.filename)))
        for name, data in replace.items():
            if name not in old.namelist():
                new.writestr(name, data)
    return target


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
               for i in range(1, 10))
    + b']>\n<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
      b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
)


def test_defusedxml_is_active_for_openpyxl():
    assert openpyxl.xml.DEFUSEDXML is True


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/workbook.xml"])
def test_xlsx_billion_laughs_is_refused_not_expanded(tmp_path, part):
    plain = save_workbook(tmp_path / "plain.xlsx", lambda wb: wb.active.append(["statut"]))
    hostile = rezip(plain, tmp_path / "adhesions.xlsx", {part: BILLION_LAUGHS})
    started = time.perf_counter()
    table = read_members(hostile)
    assert time.perf_counter() - started < 2
    assert rendered(table.problems) == [
        f"inputs/adhesions.xlsx : classeur refusé : l'élément « {part} » déclare une DTD (entités XML), ce qu'un "
        f"classeur Excel ne contient jamais (fichier piégé ?). N'ouvrez pas ce fichier : demandez-en une copie saine "
        f"à son expéditeur."]


def test_xlsx_zip_bomb_by_size(tmp_path):
    plain = save_workbook(tmp_path / "plain.xlsx", lambda wb: wb.active.append(["statut"]))
    bomb = rezip(plain, tmp_path / "adhesions.xlsx", {"xl/media/image1.png": bytes(101 * 1024 * 1024)})
    assert bomb.stat().st_size < 1024 * 1024
    assert rendered(read_members(bomb).problems) == [
        "inputs/adhesions.xlsx : classeur refusé : 101 Mo une fois décompressé (au plus 100 Mo). Pour un gros "
        "export, utilisez le fichier CSV tel que téléchargé."]


def test_xlsx_zip_bomb_by_ratio(tmp_path):
    plain = save_workbook(tmp_path / "plain.xlsx", lambda wb: wb.active.append(["statut"]))
    bomb = rezip(plain, tmp_path / "adhesions.xlsx", {"xl/worksheets/sheet1.xml": b" " * (20 * 1024 * 1024)})
    [problem] = read_members(bomb).problems
    assert problem.message.startswith(
        "classeur refusé : l'élément « xl/worksheets/sheet1.xml » se décompresse ")
    assert problem.message.endswith(" fois (taux anormal : fichier piégé ?).")


def test_xlsx_truncated_archive(tmp_path):
    plain = save_workbook(tmp_path / "plain.xlsx", lambda wb: wb.active.append(["statut"]))
    broken = tmp_path / "adhesions.xlsx"
    broken.write_bytes(plain.read_bytes()[:600])
    [problem] = read_members(broken).problems
    assert problem.message.startswith("ce fichier n'est pas un classeur Excel valide (archive illisible")


def test_xlsx_sheet_xml_broken(tmp_path):
    plain = save_workbook(tmp_path / "plain.xlsx", lambda wb: wb.active.append(["statut"]))
    broken = rezip(plain, tmp_path / "adhesions.xlsx", {"xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row"})
    [problem] = read_members(broken).problems
    assert problem.message.startswith("classeur Excel illisible (")
    assert problem.suggestion == ("Ouvrez-le dans Excel ou LibreOffice et enregistrez-le de nouveau au format "
                                  ".xlsx.")


# --------------------------------------------------------------------------- coerce


def test_coerce_int():
    table = text_table({"eleves": ["1 100", "1100", "1\u202f100,0", "-3", "12,5", "1,000", "douze", None, "1100"]},
                       headers={"eleves": "Nombre d'élèves"})
    typed, problems = coerce(table, {"eleves": "int"})
    assert typed["eleves"].dtype == pl.Int64
    assert typed["eleves"].to_list() == [1100, 1100, 1100, -3, None, None, None, None, 1100]
    assert rendered(problems) == [
        "inputs/t.csv, ligne 6, colonne « Nombre d'élèves » : « 12,5 » n'est pas un nombre entier",
        "inputs/t.csv, ligne 7, colonne « Nombre d'élèves » : « 1,000 » : séparateur de milliers ambigu (nombre "
        "entier attendu). Écrivez 1000 ou 1 000 si c'est bien ce nombre.",
        "inputs/t.csv, ligne 8, colonne « Nombre d'élèves » : « douze » n'est pas un nombre entier",
    ]
    assert (problems[0].file, problems[0].row, problems[0].column, problems[0].value) == (
        "inputs/t.csv", 6, "Nombre d'élèves", "12,5")


def test_coerce_decimal_stays_exact_text():
    table = text_table({"montant": ["1,20 €", "1 234,56", "1.234,56", "0.1", "-0,00", "1,2,3", "12 EUR", "abc"]})
    typed, problems = coerce(table, {"montant": "decimal"})
    assert typed["montant"].dtype == pl.Utf8
    assert typed["montant"].to_list() == ["1.20", "1234.56", "1234.56", "0.1", "0.00", None, "12", None]
    assert rendered(problems) == [
        "inputs/t.csv, ligne 7, colonne « montant » : « 1,2,3 » n'est pas un nombre. Écrivez par exemple 1 234,56 "
        "ou 1234.56.",
        "inputs/t.csv, ligne 9, colonne « montant » : « abc » n'est pas un nombre. Écrivez par exemple 1 234,56 ou "
        "1234.56.",
    ]


def test_coerce_dates():
    values = ["2024-01-01", "01/01/2024", "1/1/2024", "01-01-2024", "01.01.2024", "45292", "2024-01-01 00:00:00",
              "13 décembre 2023", "1er mars 2024", "1", "59", "61"]
    typed, problems = coerce(text_table({"date_effet": values}), {"date_effet": "date"})
    assert problems == []
    assert typed["date_effet"].dtype == pl.Date
    assert typed["date_effet"].to_list() == [dt.date(2024, 1, 1)] * 7 + [
        dt.date(2023, 12, 13), dt.date(2024, 3, 1), dt.date(1900, 1, 1), dt.date(1900, 2, 28), dt.date(1900, 3, 1)]


def test_coerce_bad_dates():
    values = ["31/02/2024", "01/01/24", "60", "2024", "12/31/2024", "demain"]
    typed, problems = coerce(text_table({"date_effet": values}, headers={"date_effet": "Date d'effet"}),
                             {"date_effet": "date"})
    assert typed["date_effet"].to_list() == [None] * 6
    assert rendered(problems) == [
        "inputs/t.csv, ligne 2, colonne « Date d'effet » : « 31/02/2024 » : date impossible. Vérifiez le jour et le "
        "mois (format JJ/MM/AAAA).",
        "inputs/t.csv, ligne 3, colonne « Date d'effet » : « 01/01/24 » : l'année doit avoir 4 chiffres. Écrivez "
        "« 01/01/2024 » (ou 1924).",
        "inputs/t.csv, ligne 4, colonne « Date d'effet » : « 60 » : date impossible (le 29/02/1900 d'Excel "
        "n'existe pas). Écrivez la date au format JJ/MM/AAAA (par exemple 13/12/2023).",
        "inputs/t.csv, ligne 5, colonne « Date d'effet » : « 2024 » : une année seule n'est pas une date. Indiquez "
        "le jour, par exemple « 01/01/2024 ».",
        "inputs/t.csv, ligne 6, colonne « Date d'effet » : « 12/31/2024 » : date impossible. Vérifiez le jour et "
        "le mois (format JJ/MM/AAAA).",
        "inputs/t.csv, ligne 7, colonne « Date d'effet » : « demain » n'est pas une date. Écrivez la date au format "
        "JJ/MM/AAAA (par exemple 13/12/2023).",
    ]


def test_coerce_codes():
    table = text_table({
        "code_insee": ["59350", "2a004", "1004", "123", " 59 360 "],
        "uai": ["0350103x", "0350103", "0350103X", None, "035 0103 X"],
        "siret": ["213 500 168 00025", "213500168", "21350016800025", "abc", None],
    })
    typed, problems = coerce(table, {"code_insee": "code_insee", "uai": "uai", "siret": "siret"})
    assert typed["code_insee"].to_list() == ["59350", "2A004", "01004", None, "59360"]
    assert typed["uai"].to_list() == ["0350103X", None, "0350103X", None, "0350103X"]
    assert typed["siret"].to_list() == ["21350016800025", None, "21350016800025", None, None]
    assert [(p.row, p.column, p.severity, p.render().split(" : ", 1)[1]) for p in problems] == [
        (5, "code_insee", "erreur", "« 123 » n'est pas un code INSEE (5 caractères, par exemple 59350 ou 2A004)"),
        (4, "code_insee", "avertissement", "« 1004 » : le zéro initial a été rétabli (« 01004 »)"),
        (3, "uai", "erreur", "« 0350103 » n'est pas un UAI (7 chiffres et une lettre, par exemple 0350103X)"),
        (3, "siret", "erreur", "« 213500168 » n'est pas un SIRET (14 chiffres). C'est un SIREN (9 chiffres) : "
                               "ajoutez les 5 chiffres de l'établissement (NIC)."),
        (5, "siret", "erreur", "« abc » n'est pas un SIRET (14 chiffres)"),
    ]


def test_coerce_many_restored_zeros_make_one_warning():
    table = text_table({"code_insee": [f"{1000 + i}" for i in range(12)]})
    typed, problems = coerce(table, {"code_insee": "code_insee"})
    assert typed["code_insee"][0] == "01000"
    assert rendered(problems) == [
        "inputs/t.csv, ligne 2, colonne « code_insee » : le zéro initial a été rétabli dans 12 codes à 4 chiffres "
        "(lignes 2, 3, 4, 5, 6, 7, 8, 9… (+4)). Mettez la colonne au format Texte dans Excel pour garder les zéros."]


def test_coerce_leaves_text_and_absent_columns_alone():
    table = text_table({"commune": ["Lille"], "statut": ["adherente"]})
    typed, problems = coerce(table, {"commune": "text", "date_retrait": "date"})
    assert typed.equals(table.frame) and problems == []
    with pytest.raises(ValueError):
        coerce(table, {"commune": "money"})


# --------------------------------------------------------------------------- files


def test_find_input(tmp_path):
    assert readers.find_input(tmp_path, "adhesions") == (None, [])
    (tmp_path / "Adhesions.XLSX").write_bytes(b"")
    (tmp_path / "adhesions.csv.bak").write_bytes(b"")
    (tmp_path / "~$adhesions.xlsx").write_bytes(b"")
    assert readers.find_input(tmp_path, "adhesions") == (tmp_path / "Adhesions.XLSX", [])
    (tmp_path / "adhesions.csv").write_bytes(b"")
    path, problems = readers.find_input(tmp_path, "adhesions")
    assert path == tmp_path / "adhesions.csv"
    assert rendered(problems) == [
        f"{tmp_path.name}/adhesions : plusieurs fichiers pour les mêmes données : « adhesions.csv » et "
        f"« Adhesions.XLSX ». Gardez-en un seul dans le dossier : le programme ne choisit pas à votre place."]


def test_sha256_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"abc")
    assert readers.sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# --------------------------------------------------------------------------- speed (printed, not asserted)


def test_speed_of_the_national_export(tmp_path, capsys):
    header = EFFECTIFS_EXTRACT.read_text(encoding="utf-8-sig").splitlines()[0].split(";")
    extra = [f"Colonne {i}" for i in range(25 - len(header))]
    rng = random.Random(7)
    lines = [";".join(header + extra)]
    for i in range(50_000):
        lines.append(";".join(
            ["2023", "HAUTS-DE-FRANCE", "LILLE", "NORD", f"COMMUNE {i % 30_000}", f"{590000 + i:07d}X",
             "ECOLE PRIMAIRE PUBLIQUE", f"JULES FERRY {i}", "PUBLIC" if i % 5 else "PRIVE", "0", "0",
             str(rng.randint(1, 20)), str(rng.randint(10, 500))]
            + [str(rng.randint(0, 99)) for _ in range(8)] + [f"tri-{i}", f"59{i % 1000:03d}"]
            + ["x"] * len(extra)))
    path = tmp_path / "effectifs.csv"
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")

    started = time.perf_counter()
    counts = read_pupil_counts(path, display="inputs/effectifs.csv")
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    typed, problems = coerce(counts.table, {"rentree": "int", "eleves": "int", "classes": "int"})
    coerce_seconds = time.perf_counter() - started
    assert counts.table.frame.height == 50_000 and counts.table.frame["_row"][-1] == 50_001
    assert problems == [] and typed["eleves"].null_count() == 0
    with capsys.disabled():
        print(f"\n[readers] 50 000 lignes × 25 colonnes ({path.stat().st_size / 1e6:.1f} Mo) : lecture "
              f"{read_seconds * 1000:.0f} ms, typage de 3 colonnes {coerce_seconds * 1000:.0f} ms")
