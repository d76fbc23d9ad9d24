"""The budget summary workbook, read back: totals by status, département and EPCI, the year against the previous
one, the budget, the charts (present in the file), and the same cents after LibreOffice recalculates."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
import zipfile
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import polars as pl
import pytest

from billing.core.model import InputHash, Syndicat, Tariff
from billing.inputs.config import describe_tariff
from billing.render.synthese import write_synthese

GENERATED = datetime(2024, 3, 1, 9, 0)
HOSTILE = '=HYPERLINK("http://x","clic")'
SYNDICAT = Syndicat(nom="Syndicat mixte Nord - Pas-de-Calais Numérique",
                    adresse="151 avenue du Président Hoover, 59555 Lille Cedex", siret="25590019600031",
                    president="Christophe COULON", imputation="7474")
TARIFF = Tariff(annee=2024, deliberation="2023-05 du 13 décembre 2023", rentree=2023, part_ecole_units=1_500_000,
                part_eleve_units=12_000, plancher_cents=10_000)
HASHES = (InputHash("adhesions.csv", "ab" * 32, 1234), InputHash("effectifs.csv", "cd" * 32, 99_999))
CONTRIBUTION_SCHEMA = {
    "code_insee": pl.Utf8, "commune": pl.Utf8, "statut": pl.Utf8, "situation": pl.Utf8, "ecoles": pl.Int64,
    "eleves": pl.Int64, "population": pl.Int64, "montant_cents": pl.Int64, "montant_indicatif_cents": pl.Int64,
    "departement": pl.Utf8, "departement_nom": pl.Utf8, "epci_siren": pl.Utf8, "epci_nom": pl.Utf8,
}
MEL = ("200093201", "Métropole Européenne de Lille")
CCPC = ("200040947", "CC Pévèle-Carembault")
CAHC = ("246200364", "CA d'Hénin-Carvin")
EUROS = '#,##0.00 "€";-#,##0.00 "€"'


def contributions() -> pl.DataFrame:
    """2024 as pricing hands it over: billed, withdrawn (one billed for its days, one gone before the year),
    conditional (indicative only), a member whose membership starts after the year, one without EPCI."""
    rows = [
        ("59360", "Lys-lez-Lannoy", "adherente", "facturee", 5, 1100, 13_000, 147_000, None, "59", "Nord", *MEL),
        ("59522", "Sailly-lez-Lannoy", "adherente", "facturee", 1, 180, 1_900, 84_550, None, "59", "Nord", *MEL),
        ("59599", "Toufflers", "adherente", "facturee", 1, 420, 3_900, 61_230, None, "59", "Nord", *MEL),
        ("59339", "Leers", "retiree", "facturee", 3, 900, 9_600, 210_000, None, "59", "Nord", *MEL),
        ("59650", "Wattrelos", "adherente", "facturee", 12, 3000, 40_000, 300_000, None, "59", "Nord", *MEL),
        ("59017", "Armentières", "conditionnelle", "indicative", 8, 2100, 25_000, 0, 262_500, "59", "Nord", *MEL),
        ("59052", "Bersée", "adherente", "facturee", 1, 150, 2_000, 18_000, None, "59", "Nord", *CCPC),
        ("62413", "Hénin-Beaumont", "adherente", "facturee", 9, 2400, 26_000, 288_000, None, "62", "Pas-de-Calais",
         *CAHC),
        ("59128", "Chéreng", "adherente", "hors_periode", 2, 300, 3_100, 0, None, "59", "Nord", *MEL),
        ("59152", "Croix", "retiree", "hors_periode", 6, 1500, 21_000, 0, None, "59", "Nord", *MEL),
        ("62001", HOSTILE, "adherente", "facturee", 1, 10, 100, 1_234, None, "62", "Pas-de-Calais", None, None),
    ]
    return pl.DataFrame(rows, schema=CONTRIBUTION_SCHEMA, orient="row")


def previous_year() -> pl.DataFrame:
    """2023 per commune, as the ledger of 2023 gives it (Villeneuve-d'Ascq has left since)."""
    rows = [("59360", "Lys-lez-Lannoy", 150_000), ("59522", "Sailly-lez-Lannoy", 80_000),
            ("59599", "Toufflers", 61_230), ("59339", "Leers", 250_000), ("59650", "Wattrelos", 290_000),
            ("59152", "Croix", 180_000), ("59009", "Villeneuve-d'Ascq", 500_000),
            ("62413", "Hénin-Beaumont", 300_000)]
    return pl.DataFrame(rows, schema={"code_insee": pl.Utf8, "commune": pl.Utf8, "montant_cents": pl.Int64},
                        orient="row")


def budget() -> pl.DataFrame:
    rows = [(2024, "7474", "Participations des communes membres", 1_200_000), (2024, "7474", "DM n° 1", -50_000),
            (2024, "6156", "Maintenance de l'ENT", 900_000), (2023, "7474", "BP 2023", 1_000_000)]
    return pl.DataFrame(rows, schema={"annee": pl.Int64, "compte": pl.Utf8, "libelle": pl.Utf8,
                                      "montant_prevu_cents": pl.Int64}, orient="row")


def priced(frame: pl.DataFrame | None = None, tariff: Tariff = TARIFF) -> SimpleNamespace:
    return SimpleNamespace(contributions=contributions() if frame is None else frame, annee=2024, tariff=tariff)


def write(path: Path, **changes) -> Path:
    options = dict(priced=priced(), previous=previous_year(), previous_source="registre des titres",
                   budget=budget(), syndicat=SYNDICAT, input_hashes=HASHES, generated_at=GENERATED)
    options.update(changes)
    options.setdefault("tariff_description", describe_tariff(options["priced"].tariff))
    return write_synthese(path, **options)


@pytest.fixture(scope="module")
def summary(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("synthese") / "synthese_2024.xlsx"
    assert write(path) == path
    return path


def rows_of(sheet, first: int, last: int, columns: int) -> list[tuple]:
    return [tuple(_plain(sheet.cell(r, c).value) for c in range(1, columns + 1)) for r in range(first, last + 1)]


def _plain(value):
    """Amounts come back as floats: turn them into cents so that the comparison is exact."""
    if isinstance(value, float):
        return ("€", round(value * 100))
    return value


def cents_of(shown) -> int:
    """Cents of a value as ``rows_of`` gives it: (« € », cents) for a float, whole euros for an int."""
    return shown[1] if isinstance(shown, tuple) else shown * 100


def cents(value: int) -> tuple:
    return ("€", value)


# --------------------------------------------------------------------------- sheets, read back


def test_sheets_and_cover_say_what_produced_the_summary(summary):
    wb = openpyxl.load_workbook(summary)
    assert wb.sheetnames == ["Couverture", "Par statut", "Par département", "Par EPCI", "Communes", "Budget",
                             "Graphiques"]
    ws = wb["Couverture"]
    assert ws["A1"].value == "Synthèse budgétaire des contributions ENT — exercice 2024"
    assert ws["A4"].value == "Établie le 01/03/2024 à 09:00 par ent-bill 0.1.0"
    assert rows_of(ws, 7, 10, 2) == [
        ("Montant facturé", "='Par statut'!E9"),
        ("Communes membres", "='Par statut'!B9"),
        ("Montant indicatif des conditionnelles (non facturé)", "='Par statut'!F9"),
        ("Vérifié par ent-bill : facturé 11\u202f100,14\u00a0€, indicatif 2\u202f625,00\u00a0€.", None),
    ]
    assert rows_of(ws, 13, 23, 2) == [
        ("Délibération", "2023-05 du 13 décembre 2023"),
        ("Effectifs de la rentrée", "2023 (année scolaire 2023-2024)"),
        ("Mode", "barème"),
        ("Part fixe par commune", "0,00\u00a0€"),
        ("Part par école publique", "150,00\u00a0€"),
        ("Part par élève", "1,20\u00a0€"),
        ("Plancher", "100,00\u00a0€"),
        ("Plafond", "aucun"),
        ("Prorata temporis", "au jour près"),
        ("Échéance", "30 jours après l'émission"),
        ("Imputation budgétaire", "compte 7474"),
    ]
    assert rows_of(ws, 26, 27, 2) == [("Année 2023", "registre des titres"), ("Budget voté", "budget.csv")]
    assert rows_of(ws, 31, 32, 3) == [("adhesions.csv", 1234, "ab" * 32), ("effectifs.csv", 99_999, "cd" * 32)]
    assert [(ws.cell(r, 1).value, ws.cell(r, 1).hyperlink.location) for r in range(35, 41)] == [
        (name, f"'{name}'!A1") for name in wb.sheetnames[1:]]


def test_totals_by_status_and_the_counts_behind_the_billed_total(summary):
    ws = openpyxl.load_workbook(summary)["Par statut"]
    assert rows_of(ws, 4, 9, 6) == [
        ("Statut", "Communes", "Écoles publiques", "Élèves", "Montant facturé", "Montant indicatif"),
        ("Adhérentes facturées", 7, 30, 7260, cents(900_014), 0),
        ("Retirées (facturées pour leurs jours d'adhésion)", 2, 9, 2400, 2100, 0),
        ("Conditionnelles (montant indicatif, non facturé)", 1, 8, 2100, 0, 2625),
        ("Adhérentes sans jour d'adhésion dans l'année (non facturées)", 1, 2, 300, 0, 0),
        ("Total", "=SUM(B5:B8)", "=SUM(C5:C8)", "=SUM(D5:D8)", "=SUM(E5:E8)", "=SUM(F5:F8)"),
    ]
    assert ws["E5"].number_format == EUROS
    assert rows_of(ws, 13, 19, 2) == [
        ("Communes facturées", 8),
        ("Écoles publiques des communes facturées", 33),
        ("Élèves des communes facturées", 8160),
        ("Montant facturé", "=E9"),
        ("Coût moyen par élève", '=IF(B15=0,"",ROUND(B16/B15,2))'),
        ("Coût moyen par école publique", '=IF(B14=0,"",ROUND(B16/B14,2))'),
        ("Montant indicatif des conditionnelles (si elles adhéraient)", "=F9"),
    ]


def test_totals_by_departement_and_epci(summary):
    wb = openpyxl.load_workbook(summary)
    assert rows_of(wb["Par département"], 5, 7, 8) == [
        ("59", "Nord", 9, 6, 39, 9650, cents(820_780), 2625),
        ("62", "Pas-de-Calais", 2, 2, 10, 2410, cents(289_234), 0),
        ("Total", None, "=SUM(C5:C6)", "=SUM(D5:D6)", "=SUM(E5:E6)", "=SUM(F5:F6)", "=SUM(G5:G6)", "=SUM(H5:H6)"),
    ]
    assert rows_of(wb["Par EPCI"], 5, 9, 8) == [
        ("200093201", "Métropole Européenne de Lille", 8, 5, 38, 9500, cents(802_780), 2625),
        ("246200364", "CA d'Hénin-Carvin", 1, 1, 9, 2400, 2880, 0),
        ("200040947", "CC Pévèle-Carembault", 1, 1, 1, 150, 180, 0),
        ("—", "(non renseigné)", 1, 1, 1, 10, cents(1234), 0),
        ("Total", None, "=SUM(C5:C8)", "=SUM(D5:D8)", "=SUM(E5:E8)", "=SUM(F5:F8)", "=SUM(G5:G8)", "=SUM(H5:H8)"),
    ]
    assert wb["Par EPCI"]["A5"].data_type == "s"  # a SIREN stays text


def test_each_commune_against_the_previous_year_with_new_and_departed_members(summary):
    ws = openpyxl.load_workbook(summary)["Communes"]
    assert ws["A2"].value == "Montants 2023 : registre des titres."
    assert [c.value for c in ws[4]] == ["Code INSEE", "Commune", "Statut", "Situation", "Département", "EPCI",
                                        "Écoles publiques", "Élèves", "Montant 2023", "Montant 2024", "Δ €", "Δ %",
                                        "Mouvement"]
    got = rows_of(ws, 5, 16, 13)
    shown = [(r[0], r[1], r[2], r[3], r[8], r[9], r[12]) for r in got]
    assert shown == [
        ("62001", HOSTILE, "adhérente", "facturée", 0, cents(1234), "nouvelle"),
        ("59017", "Armentières", "conditionnelle", "indicative (non facturée)", 0, 0, None),
        ("59052", "Bersée", "adhérente", "facturée", 0, 180, "nouvelle"),
        ("59128", "Chéreng", "adhérente", "hors période", 0, 0, None),
        ("59152", "Croix", "retirée", "hors période", 1800, 0, "sortie"),
        ("62413", "Hénin-Beaumont", "adhérente", "facturée", 3000, 2880, None),
        ("59339", "Leers", "retirée", "facturée", 2500, 2100, None),
        ("59360", "Lys-lez-Lannoy", "adhérente", "facturée", 1500, 1470, None),
        ("59522", "Sailly-lez-Lannoy", "adhérente", "facturée", 800, cents(84_550), None),
        ("59599", "Toufflers", "adhérente", "facturée", cents(61_230), cents(61_230), None),
        ("59009", "Villeneuve-d'Ascq", "—", "non membre en 2024", 5000, 0, "sortie"),
        ("59650", "Wattrelos", "adhérente", "facturée", 2900, 3000, None),
    ]
    assert ws["B5"].data_type == "s"
    assert [ws.cell(7, c).value for c in (11, 12)] == ["=J7-I7", '=IF(I7=0,"",K7/I7)']
    assert ws["L7"].number_format == "0.0 %"
    assert rows_of(ws, 17, 17, 12)[0][6:] == ("=SUM(G5:G16)", "=SUM(H5:H16)", "=SUM(I5:I16)", "=SUM(J5:J16)",
                                              "=SUM(K5:K16)", '=IF(I17=0,"",K17/I17)')
    assert ws["A19"].value == ("Nouvelles communes facturées : 2 ; communes sorties (facturées en 2023, plus en "
                               "2024) : 2.")


def test_budget_compares_the_imputation_account_and_shows_the_other_lines(summary):
    ws = openpyxl.load_workbook(summary)["Budget"]
    assert rows_of(ws, 5, 10, 6) == [
        ("7474", "Participations des communes membres", 12_000, None, None, None),
        ("7474", "DM n° 1", -500, None, None, None),
        ("7474", "Total du compte 7474 (2 lignes)", "=SUM(C5:C6)", "='Par statut'!E9", '=IF(C7="","",D7-C7)',
         '=IF(N(C7)=0,"",E7/C7)'),
        ("6156", "Maintenance de l'ENT", 9000, None, None, None),
        (None, None, None, None, None, None),
        ("Pour information : montant indicatif des communes conditionnelles", None, None, "='Par statut'!F9", None,
         None),
    ]


def test_budget_single_line_missing_account_and_no_budget(tmp_path):
    one_line = budget().filter(pl.col("libelle") != "DM n° 1")
    ws = openpyxl.load_workbook(write(tmp_path / "a.xlsx", budget=one_line))["Budget"]
    assert rows_of(ws, 5, 6, 6) == [
        ("7474", "Participations des communes membres", 12_000, "='Par statut'!E9", '=IF(C5="","",D5-C5)',
         '=IF(N(C5)=0,"",E5/C5)'),
        ("6156", "Maintenance de l'ENT", 9000, None, None, None),
    ]
    tariff = Tariff(annee=2024, deliberation="2023-05", rentree=2023, imputation="74748")
    ws = openpyxl.load_workbook(write(tmp_path / "b.xlsx", budget=budget(), priced=priced(tariff=tariff)))["Budget"]
    assert rows_of(ws, 5, 5, 4) == [
        ("74748", "Contributions des communes membres (aucun crédit prévu à ce compte dans budget.csv)", None,
         "='Par statut'!E9")]
    ws = openpyxl.load_workbook(write(tmp_path / "c.xlsx", budget=None))["Budget"]
    assert ws["A7"].value == "Pas de fichier budget.csv : seul le montant calculé est indiqué."


def test_without_a_previous_year_there_is_no_comparison(tmp_path):
    path = write(tmp_path / "synthese_2024.xlsx", previous=None, previous_source=None)
    wb = openpyxl.load_workbook(path)
    ws = wb["Communes"]
    assert ws["A2"].value == ("Pas de comparaison avec 2023 : ni titres 2023 dans le registre des titres, ni "
                              "données 2023 dans le dossier des données.")
    assert [c.value for c in ws[4]][8:] == ["Montant 2024", "Montant indicatif"]
    assert ws.max_row == 16 and rows_of(ws, 15, 15, 10)[0][8:] == (3000, 0)
    assert rows_of(ws, 16, 16, 10)[0][6:] == ("=SUM(G5:G15)", "=SUM(H5:H15)", "=SUM(I5:I15)", "=SUM(J5:J15)")
    assert wb["Couverture"]["B26"].value == "aucune (ni titres ni données de l'année précédente)"
    assert chart_titles(path) == ["Montant facturé par département", "Les 8 plus fortes contributions"]


# --------------------------------------------------------------------------- charts


def chart_titles(path: Path) -> list[str]:
    """openpyxl does not load charts back: read the chart parts of the file itself."""
    with zipfile.ZipFile(path) as archive:
        parts = sorted((n for n in archive.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)),
                       key=lambda n: int(re.findall(r"\d+", n)[0]))
        return [re.search(r"<a:t>(.*?)</a:t>", archive.read(n).decode()).group(1) for n in parts]


def test_native_charts_are_in_the_file_over_the_data_they_show(summary):
    assert chart_titles(summary) == [
        "Montant facturé par département", "Les 8 plus fortes contributions",
        "Évolution 2023 → 2024 : entrées, sorties et communes reconduites",
        "Évolution 2023 → 2024 : les plus fortes variations des communes facturées les deux années"]
    with zipfile.ZipFile(summary) as archive:
        # the serialiser (lxml or not) decides whether « /> » has a space before it
        xml = [re.sub(r"\s+/>", "/>", archive.read(f"xl/charts/chart{i}.xml").decode()) for i in (1, 2, 3, 4)]
        drawings = [n for n in archive.namelist() if n.startswith("xl/drawings/drawing")]
    assert drawings == ["xl/drawings/drawing1.xml"]
    assert "<barDir val=\"col\"/>" in xml[0] and "<barDir val=\"bar\"/>" in xml[1]
    assert "'Graphiques'!$B$6:$B$7" in xml[0] and "'Graphiques'!$A$6:$A$7" in xml[0]
    assert "'Graphiques'!$B$26:$B$33" in xml[1]
    assert "'Graphiques'!$B$45:$B$49" in xml[2] and "'Graphiques'!$B$65:$B$69" in xml[3]
    assert xml[3].count("<dPt>") == 5 and "C00000" in xml[3] and "2E7D32" in xml[3]  # falls red, rises green
    ws = openpyxl.load_workbook(summary)["Graphiques"]
    assert rows_of(ws, 5, 7, 2) == [("Département", "Montant facturé"), ("59 Nord", cents(820_780)),
                                    ("62 Pas-de-Calais", cents(289_234))]
    assert rows_of(ws, 26, 33, 2) == [
        ("Wattrelos", 3000), ("Hénin-Beaumont", 2880), ("Leers", 2100), ("Lys-lez-Lannoy", 1470),
        ("Sailly-lez-Lannoy", cents(84_550)), ("Toufflers", cents(61_230)), ("Bersée", 180), (HOSTILE, cents(1234))]
    assert ws["A33"].data_type == "s"
    # the bridge from 2023 to 2024: new members and leavers apart from the continuing members' changes
    bridge = rows_of(ws, 45, 49, 2)
    assert bridge == [("Facturé 2023", cents(1_811_230)), ("Communes entrées (2)", cents(18_000 + 1234)),
                      ("Communes sorties (2)", -6800), ("Variation des communes reconduites (6)", cents(-40_450)),
                      ("Facturé 2024", cents(1_110_014))]
    assert sum(cents_of(v) for _, v in bridge[:4]) == cents_of(bridge[4][1])
    # the largest changes: members billed both years only (no new member, no leaver)
    assert rows_of(ws, 65, 69, 2) == [("Leers", -400), ("Hénin-Beaumont", -120), ("Wattrelos", 100),
                                      ("Sailly-lez-Lannoy", cents(4550)), ("Lys-lez-Lannoy", -30)]


def test_one_category_gives_way_to_a_chart_that_distinguishes(tmp_path):
    """Every billed member in one département, one EPCI, one statut: the amount goes by size of commune;
    every member new: the « variations » chart is replaced by a sentence, the bridge shows the entries."""
    rows = [(f"59{i:03d}", f"Commune {i}", "adherente", "facturee", 1, pupils, 1000, 10_000 + i, None, "59", "Nord",
             *MEL) for i, pupils in enumerate((50, 80, 300, 1200, 3000))]
    frame = pl.DataFrame(rows, schema=CONTRIBUTION_SCHEMA, orient="row")
    empty = pl.DataFrame(schema={"code_insee": pl.Utf8, "commune": pl.Utf8, "montant_cents": pl.Int64})
    path = write(tmp_path / "s.xlsx", priced=priced(frame), previous=empty, previous_source="données 2023",
                 budget=None)
    titles = chart_titles(path)
    assert titles[0] == "Montant facturé par taille de commune" and "EPCI" not in " ".join(titles)
    ws = openpyxl.load_workbook(path)["Graphiques"]
    assert rows_of(ws, 5, 9, 2) == [("Taille de commune", "Montant facturé"),
                                    ("moins de 100 élèves (2)", cents(20_001)), ("250 à 499 élèves (1)", cents(10_002)),
                                    ("1 000 à 2 499 élèves (1)", cents(10_003)),
                                    ("2 500 élèves et plus (1)", cents(10_004))]
    assert len(titles) == 3  # no « plus fortes variations » chart when nobody was billed both years
    texts = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(t.startswith("Aucune commune facturée en 2023 et en 2024") for t in texts)


def test_print_setup_and_headers_clear_of_the_data(summary):
    wb = openpyxl.load_workbook(summary)
    for ws in wb.worksheets:
        assert ws.page_setup.paperSize == 9 and ws.sheet_properties.pageSetUpPr.fitToPage
        one_page = ws.title in ("Graphiques", "Couverture")  # the cover's last links fell alone on a page 2
        assert ws.page_setup.orientation == ("portrait" if ws.title == "Graphiques" else "landscape")
        assert ws.page_setup.fitToHeight == (1 if one_page else 0)
        assert ws.oddFooter.center.text == "page &P / &N"
        assert ws.oddHeader.right.text == f"Synthèse budgétaire 2024 — {ws.title}"
        assert ws.oddHeader.left.text == SYNDICAT.nom
    for title in ("Par statut", "Par département", "Par EPCI", "Communes", "Budget"):
        ws = wb[title]
        assert ws.print_title_rows == "$4:$4"
        assert ws.row_dimensions[4].height >= 30  # two lines of 11 pt: the titles do not overprint row 5
    assert wb["Par EPCI"]["B4"].value == "EPCI"
    cover = wb["Couverture"]
    header = next(r for r in range(1, cover.max_row + 1) if cover.cell(r, 2).value == "Taille (octets)")
    sizes = [cover.cell(r, 2) for r in range(header + 1, header + 1 + len(HASHES))]
    assert all(isinstance(c.value, int) for c in sizes)
    # right-aligned, a size ran into the empreinte in the next column (« 8 243 218fee… »)
    assert {c.alignment.horizontal for c in sizes} == {"center"}


def test_many_groups_end_with_an_others_bar_that_adds_up(tmp_path):
    """One département only: the chart goes by EPCI; past 15 bars the rest is one « Autres » bar."""
    rows = [(f"59{i:03d}", f"Commune {i}", "adherente", "facturee", 1, 100, 1000, 10_000 + i, None, "59", "Nord",
             f"2000000{i:02d}", f"EPCI {i:02d}") for i in range(20)]
    path = write(tmp_path / "s.xlsx", priced=priced(pl.DataFrame(rows, schema=CONTRIBUTION_SCHEMA, orient="row")),
                 previous=None, previous_source=None, budget=None)
    ws = openpyxl.load_workbook(path)["Graphiques"]
    assert ws["A4"].value == "Montant facturé par EPCI"
    labels = rows_of(ws, 6, 20, 2)
    assert labels[0] == ("EPCI 19", cents(10_019)) and labels[13] == ("EPCI 06", cents(10_006))
    assert labels[14] == ("Autres (6)", cents(sum(10_000 + i for i in range(6))))
    assert sum(v[1] for _, v in labels) == sum(10_000 + i for i in range(20))


# --------------------------------------------------------------------------- LibreOffice


def lo_recalculated(path: Path, out: Path) -> Path:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        message = "LibreOffice (soffice) absent : le recalcul des formules n'a PAS été vérifié"
        warnings.warn(message)
        pytest.skip(message)
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{out / 'profil'}", "--convert-to",
                    "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out / "recalcule"), str(path)],
                   check=True, capture_output=True, timeout=180)
    return out / "recalcule" / path.name


@pytest.mark.libreoffice
def test_libreoffice_recalculates_every_total_to_the_same_cents(summary, tmp_path):
    wb = openpyxl.load_workbook(lo_recalculated(summary, tmp_path), data_only=True)
    billed, indicative, before = 1_110_014, 262_500, 1_811_230

    def money(sheet: str, *cells: str) -> list[int]:
        return [round(wb[sheet][cell].value * 100) for cell in cells]

    assert [wb["Par statut"][c].value for c in ("B9", "C9", "D9")] == [11, 49, 12_060]
    assert money("Par statut", "E9", "F9") == [billed, indicative]
    # 11 100,14 € / 8 160 pupils = 1,36 € ; / 33 schools = 336,37 €
    assert money("Par statut", "B16", "B17", "B18", "B19") == [billed, 136, 33_637, indicative]
    assert money("Par département", "G7", "H7") == money("Par EPCI", "G9", "H9") == [billed, indicative]
    assert [wb["Par département"][c].value for c in ("C7", "D7", "E7", "F7")] == [11, 8, 49, 12_060]
    assert money("Communes", "I17", "J17", "K17", "K9", "K15") == [before, billed, billed - before, -180_000,
                                                                   -500_000]
    communes = wb["Communes"]
    assert communes["L17"].value == pytest.approx((billed - before) / before)
    assert communes["L9"].value == -1 and communes["L5"].value in ("", None)  # a new member has no percentage
    assert money("Budget", "C7", "D7", "E7") == [1_150_000, billed, billed - 1_150_000]
    assert wb["Budget"]["F7"].value == pytest.approx((billed - 1_150_000) / 1_150_000)
    assert money("Budget", "D10") == [indicative]
    assert money("Couverture", "B7", "B9") == [billed, indicative] and wb["Couverture"]["B8"].value == 11
    assert communes["B5"].value == HOSTILE


def test_the_streamed_communes_sheet_states_its_real_extent(summary):
    """The Communes rows are streamed as XML into the laid-out workbook: its <dimension> is the real one."""
    with zipfile.ZipFile(summary) as archive:
        names = openpyxl.load_workbook(summary).sheetnames
        xml = archive.read(f"xl/worksheets/sheet{names.index('Communes') + 1}.xml").decode()
    assert re.findall(r'<dimension ref="([^"]+)"', xml) == ["A1:M19"]
    assert xml.count("<row ") == 3 + 12 + 2  # title, subtitle, header; 12 communes; total, note
    assert "\u27e6prototype\u27e7" not in xml and "&#10214;" not in xml


@pytest.mark.parametrize("compared", [True, False])
def test_streamed_communes_sheet_equals_the_plain_openpyxl_one(tmp_path, compared):
    """Every cell, value, formula and number format of the streamed sheet as openpyxl writes it cell by cell."""
    from tests.golden import snapshot

    options = {} if compared else dict(previous=None, previous_source=None)
    fast = snapshot(write(tmp_path / "fast.xlsx", **options))
    plain = snapshot(write(tmp_path / "plain.xlsx", streamed=False, **options))
    assert fast == plain and "Communes!A5\t" in fast
    fast_sheet = openpyxl.load_workbook(tmp_path / "fast.xlsx")["Communes"]
    plain_sheet = openpyxl.load_workbook(tmp_path / "plain.xlsx")["Communes"]
    for fast_row, plain_row in zip(fast_sheet.iter_rows(), plain_sheet.iter_rows(), strict=True):
        for a, b in zip(fast_row, plain_row):
            assert (a.value, a.number_format, a.font.b, a.border.bottom.style) == \
                (b.value, b.number_format, b.font.b, b.border.bottom.style), a.coordinate
