"""The avis des sommes à payer, checked by reading the written files back (and through LibreOffice)."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import zipfile
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path

import openpyxl
import pytest

from billing.core.model import Syndicat
from billing.render.notice import (
    EXECUTORY_MENTION, PROJET_MARK, Notice, NoticeLine, notice_bytes, notice_filename, write_notice_openpyxl,
    write_notices,
)
from tests.libreoffice import recalculate, spoil_cached_values

SYNDICAT = Syndicat(
    nom="Syndicat mixte Nord - Pas-de-Calais Numérique", adresse="151 avenue du Président Hoover, 59555 Lille Cedex",
    siret="25590019600031", president="Christophe COULON", imputation="7474",
    comptable_nom="Service de gestion comptable de Lille Métropole", iban="FR7630001007941234567890185",
    bic="BDFEFRPPCCT",
)
ECOLE, ELEVE = 1_500_000, 12_000  # 150.00 € and 1.20 € in 1/10 000 €


def half_up(value: Fraction) -> int:
    """Independent reference: nearest integer, halves away from zero."""
    sign = -1 if value < 0 else 1
    return sign * math.floor(abs(value) + Fraction(1, 2))


def produit(libelle: str, quantite: int, taux: int) -> NoticeLine:
    return NoticeLine(libelle, f"{quantite} × taux", quantite, taux, half_up(Fraction(quantite * taux, 100)), "produit")


def prorata(previous: list[NoticeLine], num: int, den: int) -> NoticeLine:
    subtotal = sum(line.montant_cents for line in previous)
    return NoticeLine("Prorata temporis (jours d'adhésion)", f"{num} jours sur {den}", None, None,
                      half_up(Fraction(subtotal * num, den)) - subtotal, "prorata", num, den)


def ajustement(previous: list[NoticeLine], target: int, libelle: str) -> NoticeLine:
    subtotal = sum(line.montant_cents for line in previous)
    return NoticeLine(libelle, "contribution portée à la borne", None, None, target - subtotal, "ajustement")


def valeur(libelle: str, cents: int) -> NoticeLine:
    return NoticeLine(libelle, "forfait annuel", None, None, cents, "valeur")


def standard_lines(ecoles: int = 5, eleves: int = 1100, days: tuple[int, int] | None = None) -> tuple:
    lines = [produit("Part par école publique", ecoles, ECOLE), produit("Part par élève", eleves, ELEVE)]
    if days:
        lines.append(prorata(lines, *days))
    return tuple(lines)


def make_notice(lines=None, *, numero=None, nom="Commune de Lys-lez-Lannoy", code="59367", nature="titre",
                origine_numero=None, origine_date=None, total=None) -> Notice:
    lines = standard_lines() if lines is None else tuple(lines)
    return Notice(
        numero=numero, nature=nature, origine_numero=origine_numero, origine_date=origine_date, annee=2024,
        date_emission=date(2024, 1, 15), date_echeance=date(2024, 2, 14),
        objet="Contribution 2024 — compétence usages numériques / NTIC en matière de numérique éducatif (ENT)",
        fondement="Délibération du comité syndical n° 2023-05 du 13 décembre 2023", rentree=2023,
        imputation="Compte 7474", debiteur_nom=nom, debiteur_code_insee=code,
        debiteur_adresse="Hôtel de ville, place de la République, 59390 Lys-lez-Lannoy",
        debiteur_siret="21590367000012", lines=lines,
        total_cents=sum(line.montant_cents for line in lines) if total is None else total, syndicat=SYNDICAT,
    )


def reduction_notice() -> Notice:
    line = NoticeLine("Réduction du titre ENT-2024-0001 du 15/01/2024", "montant recalculé − déjà titré", 1, 3_000_000,
                      30_000, "valeur")
    return make_notice([line], numero="ENT-2024-0042", nature="reduction", origine_numero="ENT-2024-0001",
                       origine_date=date(2024, 1, 15))


def write_fast(notice: Notice, path: Path) -> Path:
    path.write_bytes(notice_bytes(notice))
    return path


def sheet(path: Path, **options):
    workbook = openpyxl.load_workbook(path, **options)
    assert workbook.sheetnames == ["Avis"]
    return workbook["Avis"]


def cells(path: Path) -> list[tuple]:
    """Every styled or filled cell: address, value or formula, type, number format, bold."""
    ws = sheet(path)
    return [(c.coordinate, c.value, c.data_type, c.number_format, c.font.b, c.alignment.wrap_text, c.border.top.style)
            for row in ws.iter_rows() for c in row if c.value is not None or c.has_style]


def texts(path: Path) -> str:
    ws = sheet(path)
    return "\n".join(str(c.value) for row in ws.iter_rows() for c in row if isinstance(c.value, str))


def find(ws, text: str):
    hits = [c for row in ws.iter_rows() for c in row if c.value == text]
    assert len(hits) == 1, (text, hits)
    return hits[0]


# ----- the two writers agree -------------------------------------------------------------

CASES = {
    "projet": lambda: make_notice(standard_lines(days=(183, 366))),
    "emis": lambda: make_notice(numero="ENT-2024-0001"),
    "reduction": reduction_notice,
    "huit_lignes": lambda: make_notice([valeur("Part fixe", 5_000), *[produit(f"Tranche {i}", 100 * i, 15_000 - i)
                                                                    for i in range(1, 7)]], numero="ENT-2024-0002"),
    "sans_ligne": lambda: make_notice([], numero="ENT-2024-0003"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_writer_gives_the_cells_of_plain_openpyxl(tmp_path, case):
    notice = CASES[case]()
    fast = write_fast(notice, tmp_path / "fast.xlsx")
    plain = write_notice_openpyxl(notice, tmp_path / "plain.xlsx")
    assert cells(fast) == cells(plain)
    fast_ws, plain_ws = sheet(fast), sheet(plain)
    assert sorted(map(str, fast_ws.merged_cells.ranges)) == sorted(map(str, plain_ws.merged_cells.ranges))
    assert fast_ws.print_area == plain_ws.print_area
    assert {r: d.height for r, d in fast_ws.row_dimensions.items()} == \
        {r: d.height for r, d in plain_ws.row_dimensions.items()}
    with zipfile.ZipFile(fast) as archive:
        assert archive.testzip() is None


def test_same_notice_gives_the_same_bytes():
    assert notice_bytes(make_notice()) == notice_bytes(make_notice())


# ----- what the page says -----------------------------------------------------------------


def test_bases_de_liquidation_are_live_formulas_with_formats(tmp_path):
    path = write_fast(make_notice(standard_lines(days=(183, 366)), numero="ENT-2024-0001"), tmp_path / "a.xlsx")
    ws = sheet(path)
    header = find(ws, "Libellé").row
    assert [ws.cell(header, c).value for c in range(1, 6)] == ["Libellé", "Détail du calcul", "Quantité", "Taux",
                                                              "Montant"]
    first = header + 1
    assert [ws[f"{col}{first}"].value for col in "ACD"] == ["Part par école publique", 5, 150]
    assert ws[f"E{first}"].value == f"=ROUND(C{first}*ROUND(D{first}*10000,0)/100,0)/100"
    assert ws[f"D{first + 1}"].value == 1.2
    sums = f"ROUND(SUM(E{first}:E{first + 1})*100,0)"
    assert ws[f"E{first + 2}"].value == f"=(ROUND({sums}*183/366,0)-{sums})/100"
    assert ws[f"E{first + 3}"].value == f"=SUM(E{first}:E{first + 2})"
    assert ws[f"A{first + 3}"].value == "Montant total à payer"
    assert ws[f"C{first}"].number_format == "#,##0"
    assert ws[f"D{first}"].number_format == '#,##0.00## "€"'
    assert {ws[f"E{r}"].number_format for r in range(first, first + 4)} == {'#,##0.00 "€"'}
    assert ws[f"A{first + 4}"].value == "Arrêté la présente somme à mille trente-cinq euros."
    assert find(ws, "Date limite de paiement").offset(0, 1).value == datetime(2024, 2, 14)
    assert find(ws, "Date d'émission").offset(0, 1).value == datetime(2024, 1, 15)
    # cached values, for previewers that do not recalculate
    cached = sheet(path, data_only=True)
    assert [cached[f"E{r}"].value for r in range(first, first + 4)] == [750, 1320, -1035, 1035]


def test_ajustement_writes_its_target_as_a_number(tmp_path):
    lines = [produit("Part par élève", 3, ELEVE)]
    lines.append(ajustement(lines, 10_000, "Ajustement au plancher de 100,00 €"))
    ws = sheet(write_fast(make_notice(lines), tmp_path / "a.xlsx"))
    row = find(ws, "Ajustement au plancher de 100,00 €").row
    assert ws[f"E{row}"].value == f"=(10000-ROUND(SUM(E{row - 1}:E{row - 1})*100,0))/100"


def test_print_setup_is_one_a4_portrait_page(tmp_path):
    ws = sheet(write_fast(make_notice(), tmp_path / "a.xlsx"))
    assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "portrait"
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 1)
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert ws.print_area == "'Avis'!$A$1:$E$42"
    assert ws.page_margins.left == 0.5 and ws.page_margins.top == 0.6


def test_legal_mentions_of_an_issued_titre(tmp_path):
    text = texts(write_fast(make_notice(numero="ENT-2024-0001"), tmp_path / "a.xlsx"))
    for expected in (
        "Syndicat mixte Nord - Pas-de-Calais Numérique", "151 avenue du Président Hoover, 59555 Lille Cedex",
        "SIRET : 25590019600031", "Le Président, Christophe COULON", "ENT-2024-0001", "AVIS DES SOMMES À PAYER",
        "Commune de Lys-lez-Lannoy", "21590367000012", "59367",
        "Contribution 2024 — compétence usages numériques / NTIC en matière de numérique éducatif (ENT)",
        "Délibération du comité syndical n° 2023-05 du 13 décembre 2023",
        "Effectifs de la rentrée 2023 (année scolaire 2023-2024)", "Imputation budgétaire : compte 7474",
        "Service de gestion comptable de Lille Métropole", "FR76 3000 1007 9412 3456 7890 185", "BDFEFRPPCCT",
        f"{EXECUTORY_MENTION}.", "Voies et délais de recours",
        "Dans le délai de deux mois suivant la réception du présent avis, vous pouvez contester la somme "
        "mentionnée en saisissant directement le Tribunal administratif de Lille (article L. 1617-5, 2° du code "
        "général des collectivités territoriales)",
    ):
        assert expected in text, expected
    assert "PROJET" not in text


def test_projet_mark_only_on_drafts(tmp_path):
    draft = texts(write_fast(make_notice(), tmp_path / "d.xlsx"))
    assert PROJET_MARK in draft and PROJET_MARK == "PROJET — sans valeur de titre exécutoire"
    assert "Projet soumis à vérification, sans valeur de titre exécutoire" in draft
    issued = texts(write_fast(make_notice(numero="ENT-2024-0001"), tmp_path / "i.xlsx"))
    assert "PROJET" not in issued and "Projet" not in issued


def test_reduction_notice_cites_the_original_titre(tmp_path):
    ws = sheet(write_fast(reduction_notice(), tmp_path / "r.xlsx"))
    assert find(ws, "AVIS DE RÉDUCTION DE TITRE")
    assert find(ws, "Réduction du titre n° ENT-2024-0001 du 15/01/2024")
    total = find(ws, "Montant de la réduction")
    assert ws[f"E{total.row}"].value == f"=SUM(E{total.row - 1}:E{total.row - 1})"
    assert sheet(tmp_path / "r.xlsx", data_only=True)[f"E{total.row}"].value == 300
    assert find(ws, "Arrêté la présente somme à trois cents euros.")
    assert find(ws, "Aucun paiement à effectuer").offset(0, 1).value == \
        "ce montant vient en déduction du titre n° ENT-2024-0001 du 15/01/2024"


def test_input_text_stays_text_in_both_writers(tmp_path):
    evil = '=HYPERLINK("x")'
    notice = make_notice(nom=evil, code="+33", numero="ENT-2024-0001")
    for path in (write_fast(notice, tmp_path / "f.xlsx"), write_notice_openpyxl(notice, tmp_path / "p.xlsx")):
        ws = sheet(path)
        cell = find(ws, evil)
        assert cell.data_type == "s"
        assert find(ws, "+33").data_type == "s"
        with zipfile.ZipFile(path) as archive:
            assert "HYPERLINK" not in re.findall(r"<f>(.*?)</f>", archive.read("xl/worksheets/sheet1.xml").decode())


def test_control_characters_and_markup_survive(tmp_path):
    notice = make_notice(nom="Commune de <Tôt> & « Tard »\x07", numero="ENT-2024-0001")
    assert find(sheet(write_fast(notice, tmp_path / "a.xlsx")), "Commune de <Tôt> & « Tard »")


def test_a_notice_that_does_not_add_up_is_refused():
    with pytest.raises(ValueError, match="le total 1 centimes n'est pas la somme des lignes"):
        make_notice(total=1)
    with pytest.raises(ValueError, match="doit citer le titre d'origine"):
        make_notice(nature="reduction")
    with pytest.raises(ValueError, match="ligne 1 : une ligne « produit » demande une quantité et un taux"):
        make_notice([NoticeLine("Part par élève", "", None, ELEVE, 360, "produit")])


def test_the_notice_shows_the_cents_it_is_given_never_its_own(tmp_path):
    """Amounts are pricing's: the writer puts a line's cents as its formula's cached value, as given."""
    given = NoticeLine("Part par élève", "", 3, ELEVE, 361, "produit")  # 3 × 1,20 € would be 360
    ws = sheet(write_fast(make_notice([given]), tmp_path / "a.xlsx"), data_only=True)
    assert ws["E22"].value == 3.61 and ws["E23"].value == 3.61


# ----- file names and batches ---------------------------------------------------------------


def test_file_names():
    assert notice_filename(make_notice()) == "PROJET_59367_lys-lez-lannoy.xlsx"
    assert notice_filename(make_notice(numero="ENT-2024-0001", nom="Commune de Marcq-en-Barœul", code="59378")) == \
        "ENT-2024-0001_59378_marcq-en-baroeul.xlsx"


def test_file_names_cannot_leave_the_folder(tmp_path):
    out = tmp_path / "avis"
    hostile = make_notice(nom="../../etc", code="../..", numero="../../passwd")
    [path] = write_notices([hostile], out)
    assert path.name == "passwd_sans-code_etc.xlsx"
    assert path.resolve().parent == out.resolve()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [path.name]


def test_a_link_planted_at_a_notice_name_is_replaced_not_followed(tmp_path):
    out = tmp_path / "avis"
    out.mkdir()
    outside = tmp_path / "precieux.txt"
    outside.write_text("ne pas écraser", encoding="utf-8")
    (out / notice_filename(make_notice())).symlink_to(outside)
    [path] = write_notices([make_notice()], out)
    assert not path.is_symlink() and zipfile.is_zipfile(path)
    assert outside.read_text(encoding="utf-8") == "ne pas écraser"


@pytest.mark.parametrize("name", ["", ".", "..", "../x.xlsx", "a/b.xlsx", "a\\b.xlsx", ".cache", "a\x00.xlsx"])
def test_unsafe_file_names_are_refused(tmp_path, name):
    from billing.render.files import UnsafePath, safe_child

    with pytest.raises(UnsafePath):
        safe_child(tmp_path, name)


def test_two_notices_for_one_file_are_refused(tmp_path):
    with pytest.raises(ValueError, match="deux avis auraient le même fichier « PROJET_59367_lys-lez-lannoy.xlsx »"):
        write_notices([make_notice(), make_notice()], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_parallel_batch_writes_every_notice_in_order(tmp_path):
    notices = [make_notice(standard_lines(eleves=100 + i), code=f"59{i:03d}", nom=f"Commune n{i}",
                           numero=f"ENT-2024-{i + 1:04d}") for i in range(260)]
    seen: list[int] = []
    paths = write_notices(notices, tmp_path, workers=2, progress=seen.append)
    assert [p.name for p in paths] == [notice_filename(n) for n in notices]
    assert seen[-1] == 260 and seen == sorted(seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary left
    ws = sheet(paths[137], data_only=True)
    assert find(ws, "Montant total à payer").offset(0, 4).value == (75_000 + 237 * 120) / 100


def test_without_syncfs_each_notice_is_fsynced_before_its_rename(tmp_path, monkeypatch):
    """Where syncfs is missing or fails, the barrier falls back to one fsync per temporary file."""
    import os as os_module

    from billing.render import files

    synced: list[int] = []
    real_fsync = os_module.fsync
    monkeypatch.setattr(files, "_SYNCFS", lambda fd: -1)
    monkeypatch.setattr(files.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    paths = write_notices([make_notice(code=f"59{i:03d}", nom=f"Commune n{i}") for i in range(3)], tmp_path)
    assert len(synced) == 3 + 1  # each temporary file, then the folder
    assert all(zipfile.is_zipfile(p) for p in paths)


def test_notices_written_in_the_background_while_the_caller_works(tmp_path):
    from billing.render.notice import start_notices

    notices = [make_notice(standard_lines(eleves=100 + i), code=f"59{i:03d}", nom=f"Commune n{i}",
                           numero=f"ENT-2024-{i + 1:04d}") for i in range(260)]
    seen: list[int] = []
    with start_notices(notices, tmp_path / "a", workers=2, progress=seen.append) as pending:
        (tmp_path / "meanwhile.txt").write_text("le classeur des contributions", encoding="utf-8")
    assert [p.name for p in pending.paths] == [notice_filename(n) for n in notices]
    assert seen[-1] == 260 and seen == sorted(seen)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in pending.paths)
    ws = sheet(pending.paths[200], data_only=True)
    assert find(ws, "Montant total à payer").offset(0, 4).value == (75_000 + 300 * 120) / 100

    with pytest.raises(RuntimeError, match="le résumé a échoué"):
        with start_notices(notices, tmp_path / "b", workers=2):
            raise RuntimeError("le résumé a échoué")
    left = list((tmp_path / "b").iterdir())
    assert not [p for p in left if p.name.startswith(".")]  # chunks finished or never begun: no temporary
    assert all(zipfile.is_zipfile(p) for p in left)


# ----- LibreOffice recomputes the same cents -----------------------------------------------



def adversarial_notices() -> dict[str, Notice]:
    half = [produit("Taux à 4 décimales", 1, 10_050), produit("Demi-centime", 2, 12_345),
            produit("Quart", 3, 14_375), produit("Un demi-centime seul", 1, 50)]
    tiny = [valeur("Part fixe", 183)]
    tiny.append(prorata(tiny, 1, 366))
    low = [produit("Part par élève", 3, ELEVE)]
    low.append(ajustement(low, 10_000, "Ajustement au plancher de 100,00 €"))
    high = [produit("Part par école publique", 40, ECOLE), produit("Part par élève", 50_000, ELEVE)]
    high.append(ajustement(high, 5_000_000, "Écrêtement au plafond de 50 000,00 €"))
    high.append(prorata(high, 183, 366))
    months = standard_lines(ecoles=7, eleves=1_333)
    months = (*months, prorata(list(months), 5, 12))
    big = [produit("Part par élève", 9_999_999, 14_375), produit("Part par école", 3, 10_001)]
    return {
        "demi": make_notice(half, numero="T-1", code="59001"),
        "prorata": make_notice(tiny, numero="T-2", code="59002"),
        "plancher": make_notice(low, numero="T-3", code="59003"),
        "plafond": make_notice(high, numero="T-4", code="59004"),
        "mois": make_notice(months, numero="T-5", code="59005"),
        "grand": make_notice(big, numero="T-6", code="59006"),
        "reduction": reduction_notice(),
        "projet": make_notice(standard_lines(days=(200, 365)), code="59008"),
    }


def test_adversarial_amounts_as_built():
    notices = adversarial_notices()
    assert [line.montant_cents for line in notices["demi"].lines] == [101, 247, 431, 1]
    assert [line.montant_cents for line in notices["prorata"].lines] == [183, -182]
    assert notices["plancher"].lines[-1].montant_cents == 9_640
    assert [line.montant_cents for line in notices["plafond"].lines][-2:] == [-1_600_000, -2_500_000]


@pytest.mark.libreoffice
def test_libreoffice_recomputes_every_cent(tmp_path):
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LIBREOFFICE ABSENT : `soffice` introuvable, le recalcul des avis par un tableur n'est PAS vérifié")
    notices = adversarial_notices()
    source = tmp_path / "in"
    source.mkdir()
    files = []
    for name, notice in notices.items():
        (source / "fast.xlsx").write_bytes(notice_bytes(notice))
        assert spoil_cached_values(source / "fast.xlsx", source / f"{name}.xlsx")
        files.append(source / f"{name}.xlsx")
    write_notice_openpyxl(notices["plafond"], source / "plain.xlsx")
    files.append(source / "plain.xlsx")
    recalculate(soffice, files, tmp_path / "out", tmp_path)
    out = tmp_path / "out"
    for name, notice in [*notices.items(), ("plain", notices["plafond"])]:
        ws = sheet(out / f"{name}.xlsx", data_only=True)
        first = 22
        amounts = [ws[f"E{first + i}"].value for i in range(len(notice.lines) + 1)]
        cents = [round(value * 100) for value in amounts]
        assert cents == [line.montant_cents for line in notice.lines] + [notice.total_cents], name
        assert all(abs(value * 100 - cent) < 1e-6 for value, cent in zip(amounts, cents)), (name, amounts)


@pytest.mark.libreoffice
def test_libreoffice_prints_one_page(tmp_path):
    soffice, pdfinfo = shutil.which("soffice"), shutil.which("pdfinfo")
    if soffice is None or pdfinfo is None:
        pytest.skip("LIBREOFFICE OU PDFINFO ABSENT : la mise en page sur une page A4 n'est PAS vérifiée")
    notice = make_notice([valeur("Part fixe", 5_000), *[produit(f"Tranche {i}", 100 * i, 15_000) for i in range(1, 8)]])
    path = write_fast(notice, tmp_path / "avis.xlsx")
    subprocess.run([soffice, "--headless", f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}", "--convert-to",
                    "pdf", "--outdir", str(tmp_path), str(path)], check=True, capture_output=True, timeout=180)
    info = subprocess.run([pdfinfo, str(tmp_path / "avis.pdf")], check=True, capture_output=True, text=True).stdout
    assert re.search(r"^Pages:\s+1$", info, re.M)
    assert re.search(r"^Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info, re.M)
