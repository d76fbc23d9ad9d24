"""PDF notices (DESIGN §6b): PDF/A-1b files read back with pikepdf and pdftotext.

Amounts are checked against an independent French formatting of the notice's cents
(written here, not the product's ``format_euros``); produit lines of the synthetic
notices are priced here with ``fractions.Fraction``.
"""

from __future__ import annotations

import dataclasses
import random
import re
import shutil
import subprocess
from datetime import date
from fractions import Fraction
from pathlib import Path

import pikepdf
import pytest
from click.testing import CliRunner

from billing.render.notice import Notice, NoticeLine, notice_filename
from billing.render.notice_pdf import notice_pdf_bytes, write_pdf_notices

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler (pdftotext) absent")

TODAY = date(2024, 4, 2)


# ----- independent references -----------------------------------------------------------


def euros(cents: int) -> str:
    """« 1 730,66 € » with plain spaces (the text is compared after spaces are made plain)."""
    sign = "−" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    digits = str(whole)
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return f"{sign}{' '.join(groups)},{part:02d} €"


def produit_cents(quantite: int, taux_units: int) -> int:
    """quantité × taux (1/10 000 €) in cents, half up."""
    value = Fraction(quantite * taux_units, 100)
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


def plain(text: str) -> str:
    """Every run of spaces (no-break ones included) and line ends as one space: wrapped text reads on."""
    return re.sub(r"[\s\u00a0\u202f]+", " ", text)


def pdf_text(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return plain(out.stdout.decode("utf-8"))


# ----- notices: the sample year through the pipeline (one fixture), and synthetic ones ---


@pytest.fixture(scope="module")
def sample_notices(tmp_path_factory) -> list[Notice]:
    """The sample year's draft notices, through the pipeline's public functions."""
    from billing.cli import main
    from billing.documents import draft_notices
    from billing.year import prepare_year

    folder = tmp_path_factory.mktemp("sample") / "exemple"
    assert CliRunner().invoke(main, ["init", str(folder)]).exit_code == 0
    inputs = folder / "inputs" if (folder / "inputs").is_dir() else folder
    return draft_notices(prepare_year(inputs, 2024), today=TODAY)


def _with_plancher(notices: list[Notice]) -> Notice:
    return next(n for n in notices if any(line.formule == "ajustement" for line in n.lines))


def _issued(notice: Notice, numero: str) -> Notice:
    return dataclasses.replace(notice, numero=numero)


def _synthetic(base: Notice, n_lines: int, seed: int) -> Notice:
    rng = random.Random(seed)
    lines = []
    for index in range(n_lines):
        quantite, taux = rng.randint(0, 12_000), rng.randint(1, 4_000_000)
        lines.append(NoticeLine(f"Ligne {index + 1} : élèves de l'école n° {index + 1}", "rentrée 2023",
                                quantite, taux, produit_cents(quantite, taux), "produit"))
    return dataclasses.replace(base, lines=tuple(lines), total_cents=sum(line.montant_cents for line in lines))


# ----- checks shared by every file -----------------------------------------------------


def check_pdfa(path: Path, *, title_has: str, author: str, subject: str) -> None:
    with pikepdf.open(path) as pdf:
        assert not pdf.is_encrypted
        assert pdf.pdf_version == "1.4"
        with pdf.open_metadata() as meta:
            assert meta.pdfa_status == "1B"
            assert title_has in meta["dc:title"]
            assert meta["dc:creator"] == [author]
            assert meta["dc:description"] == subject
        assert str(pdf.docinfo["/Subject"]) == subject and str(pdf.docinfo["/Author"]) == author
        intents = pdf.Root.OutputIntents
        assert len(intents) == 1 and intents[0].S == "/GTS_PDFA1"
        icc = intents[0].DestOutputProfile.read_bytes()
        assert icc[36:40] == b"acsp" and icc[16:20] == b"RGB " and icc[8] == 2  # ICC v2, RGB
        assert b"sRGB" in icc and int(intents[0].DestOutputProfile.N) == 3
        fonts = 0
        for page in pdf.pages:
            for font in page.Resources.Font.values():
                fonts += 1
                descriptor = font.FontDescriptor
                assert "/FontFile2" in descriptor or "/FontFile" in descriptor or "/FontFile3" in descriptor, font.BaseFont
                assert "/ToUnicode" in font
            for state in getattr(page.Resources, "ExtGState", {}).values():
                assert float(state.get("/CA", 1)) == 1 and float(state.get("/ca", 1)) == 1
                assert state.get("/SMask", pikepdf.Name.None_) == pikepdf.Name.None_
        assert fonts >= 2
    report = pytest.importorskip("pikepdf.pdfa").validate_written(path, "1b")
    assert report.passed, report


# ----- the tests ---------------------------------------------------------------------------


def test_draft_is_pdfa_with_a_projet_watermark(tmp_path, sample_notices):
    notice = next(n for n in sample_notices if any(line.formule == "prorata" for line in n.lines))
    path = write_pdf_notices([notice], tmp_path)[0]
    assert path.name == notice_filename(notice).removesuffix(".xlsx") + ".pdf"
    assert path.name.startswith("PROJET_")
    check_pdfa(path, title_has="PROJET", author=notice.syndicat.nom, subject="PROJET")
    text = pdf_text(path)
    assert text.count("PROJET") >= 3  # header, mention, watermark, footer
    assert plain(notice.debiteur_nom) in text
    assert euros(notice.total_cents) in text
    prorata = next(line for line in notice.lines if line.formule == "prorata")
    assert f"{prorata.facteur_num} / {prorata.facteur_den}" in text
    assert "jours" in text and "Voies et délais de recours" in text


def test_issued_titre_with_a_plancher_line(tmp_path, sample_notices):
    notice = _issued(_with_plancher(sample_notices), "ENT-2024-0042")
    path = write_pdf_notices([notice], tmp_path)[0]
    assert path.name.startswith("ENT-2024-0042_")
    check_pdfa(path, title_has="ENT-2024-0042", author=notice.syndicat.nom, subject="ENT-2024-0042")
    text = pdf_text(path)
    assert "PROJET" not in text
    assert "ENT-2024-0042" in text and plain(notice.debiteur_nom) in text
    assert "AVIS DES SOMMES À PAYER" in text and "Montant total à payer" in text
    assert "Ajustement au plancher" in text
    assert euros(notice.total_cents) in text
    for line in notice.lines:
        assert euros(line.montant_cents) in text
    assert "L. 252 A du livre des procédures fiscales" in text and "Date limite de paiement" in text
    assert notice.debiteur_siret in text
    assert re.sub(r"\s", "", notice.syndicat.iban) in re.sub(r"\s", "", text)


@pytest.mark.parametrize("nature, heading, origine, total_label", [
    ("reduction", "AVIS DE RÉDUCTION DE TITRE", "Réduction du titre n° ENT-2024-0003 du 02/04/2024",
     "Montant de la réduction"),
    ("annulation", "AVIS D'ANNULATION DE TITRE", "Annulation du titre n° ENT-2024-0003 du 02/04/2024",
     "Montant annulé"),
])
def test_reduction_and_annulation(tmp_path, sample_notices, nature, heading, origine, total_label):
    base = sample_notices[5]
    lines = base.lines[1:2] if nature == "reduction" else base.lines
    notice = dataclasses.replace(base, numero="ENT-2024-0099", nature=nature, origine_numero="ENT-2024-0003",
                                 origine_date=TODAY, lines=lines, total_cents=sum(l.montant_cents for l in lines))
    path = write_pdf_notices([notice], tmp_path)[0]
    check_pdfa(path, title_has="ENT-2024-0099", author=notice.syndicat.nom, subject="ENT-2024-0099")
    text = pdf_text(path)
    assert heading in text and origine in text and total_label in text
    assert "Aucun paiement à effectuer" in text and "Date limite de paiement" not in text
    assert euros(notice.total_cents) in text and "PROJET" not in text
    verb = "annule le titre" if nature == "annulation" else "réduit à due concurrence le titre"
    assert f"Le présent avis {verb}" in " ".join(text.split())  # the workbook's own wording


def test_a_correction_pdf_shows_its_motif_and_information_lines_without_amounts(tmp_path, sample_notices):
    """The PDF takes every word from the workbook notice: motif in the heading, info lines not summed."""
    from billing.render.notice import NoticeLine

    base = sample_notices[5]
    info = NoticeLine(libelle="Montant recalculé", detail="pour information", quantite=None, taux_units=None,
                      montant_cents=0, formule="info")
    diff = NoticeLine(libelle="Différence", detail=None, quantite=1, taux_units=3_334 * 100, montant_cents=3_334,
                      formule="valeur")
    notice = dataclasses.replace(base, numero="ENT-2024-0100", nature="reduction", origine_numero="ENT-2024-0003",
                                 origine_date=TODAY, lines=(info, diff), total_cents=3_334,
                                 motif="effectifs corrigés : 1 150 élèves au lieu de 1 100")
    text = " ".join(pdf_text(write_pdf_notices([notice], tmp_path)[0]).split())
    assert "motif : effectifs corrigés : 1 150 élèves au lieu de 1 100" in text
    assert "0,00 €" not in text.replace("\u202f", " ").replace("\xa0", " ")


def test_information_lines_of_a_correction_show_no_amount(tmp_path, sample_notices):
    """The motif, the recalculated bases and the titres already issued are information: the
    Montant column stays empty on them, as in the workbook; « 0,00 € » there reads as a price."""
    info = (NoticeLine("Motif de la correction", "retrait au 01/09/2024", None, None, 0, "info"),
            NoticeLine("Base recalculée — Part par élève", "132 × 1,20 € = 158,40 €", 132, 12_000, 0, "info"),
            NoticeLine("Déjà titré — titre ENT-2024-0008 du 15/04/2024", "257,84 €", None, None, 0, "info"))
    summed = NoticeLine("Réduction du titre ENT-2024-0008 du 15/04/2024", "257,84 € − 155,04 € = 102,80 €",
                        1, 1_028_000, 10_280, "valeur")
    notice = dataclasses.replace(sample_notices[5], numero="ENT-2024-0072", nature="reduction",
                                 origine_numero="ENT-2024-0008", origine_date=TODAY,
                                 lines=info + (summed,), total_cents=10_280)
    text = pdf_text(write_pdf_notices([notice], tmp_path)[0])
    assert euros(0) not in text
    assert text.count(euros(10_280)) >= 2  # the summed line and the total


def test_total_of_random_sample_notices(tmp_path, sample_notices):
    rng = random.Random(2024)
    chosen = rng.sample(sample_notices, 12)
    numbered = [_issued(n, f"ENT-2024-{i:04d}") for i, n in enumerate(chosen, start=1)]
    paths = write_pdf_notices(numbered, tmp_path)
    for notice, path in zip(numbered, paths):
        text = pdf_text(path)
        label_at = text.index("Montant total à payer")
        assert euros(notice.total_cents) in text[label_at:label_at + 80], notice.debiteur_nom
        assert notice.numero in text


def test_lines_overflow_onto_numbered_pages(tmp_path, sample_notices):
    notice = _issued(_synthetic(sample_notices[0], 60, seed=7), "ENT-2024-0500")
    path = write_pdf_notices([notice], tmp_path)[0]
    with pikepdf.open(path) as pdf:
        count = len(pdf.pages)
    assert count >= 2
    check_pdfa(path, title_has="ENT-2024-0500", author=notice.syndicat.nom, subject="ENT-2024-0500")
    text = pdf_text(path)
    for number in range(1, count + 1):
        assert f"page {number} / {count}" in text
    assert text.count("Détail du calcul") >= 2  # the table header repeats on the pages it continues on
    for line in notice.lines:
        assert euros(line.montant_cents) in text
    assert euros(sum(produit_cents(l.quantite, l.taux_units) for l in notice.lines)) in text
    single = tmp_path / "one"
    one = write_pdf_notices([sample_notices[0]], single)[0]
    assert "page 1 / 1" in pdf_text(one)


def test_batch_in_processes_writes_every_file_atomically(tmp_path, sample_notices):
    notices = [dataclasses.replace(n, numero=f"ENT-2024-{i:04d}")
               for i, n in enumerate(sample_notices * 4, start=1)]  # 280: above the parallel threshold
    seen = []
    paths = write_pdf_notices(notices, tmp_path, workers=2, progress=seen.append)
    assert seen[-1] == len(notices) and seen == sorted(seen)
    assert [p.name for p in paths] == [notice_filename(n).removesuffix(".xlsx") + ".pdf" for n in notices]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary left
    for index in (0, 137, 279):
        assert euros(notices[index].total_cents) in pdf_text(paths[index])
    assert notice_pdf_bytes(notices[3]) == paths[3].read_bytes()  # deterministic, and the same in a worker


def test_same_name_twice_is_refused(tmp_path, sample_notices):
    with pytest.raises(ValueError, match="même fichier"):
        write_pdf_notices([sample_notices[0], sample_notices[0]], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_rare_letters_and_control_characters(tmp_path, sample_notices):
    notice = _issued(dataclasses.replace(sample_notices[0], debiteur_nom="Commune de Ñandú-Øster\x07 ß"),
                     "ENT-2024-0777")
    path = write_pdf_notices([notice], tmp_path)[0]
    check_pdfa(path, title_has="ENT-2024-0777", author=notice.syndicat.nom, subject="ENT-2024-0777")
    assert "Commune de Ñandú-Øster ß" in pdf_text(path)


def test_cached_page_code_gives_the_same_file(sample_notices):
    from billing.render.pdfa import Fragments

    notice = _issued(_with_plancher(sample_notices), "ENT-2024-0042")
    Fragments.cache.clear()
    cold = notice_pdf_bytes(notice)
    assert Fragments.cache  # the blocks were kept
    assert notice_pdf_bytes(notice) == cold
    assert notice_pdf_bytes(sample_notices[1]) != cold


def test_compute_and_issue_write_pdf_beside_each_workbook(tmp_path):
    """--pdf on the real commands: 70 drafts, then 70 issued notices, each PDF beside its workbook."""
    import subprocess

    from click.testing import CliRunner

    from billing.cli import main

    inputs = tmp_path / "inputs"
    assert CliRunner().invoke(main, ["init", str(inputs)]).exit_code == 0
    base = ["--inputs", str(inputs), "--out", str(tmp_path / "out"), "--ledger", str(tmp_path / "l.duckdb")]
    computed = CliRunner().invoke(main, [*base, "compute", "2024", "--pdf"])
    assert computed.exit_code == 0, computed.output
    avis = tmp_path / "out" / "avis"
    drafts = sorted(avis.glob("PROJET_*.pdf"))
    assert len(drafts) == 70 and len(list(avis.glob("PROJET_*.xlsx"))) == 70
    assert "70 (+ 70 PDF)" in computed.output
    issued = CliRunner().invoke(main, [*base, "issue", "2024", "--pdf"])
    assert issued.exit_code == 0, issued.output
    assert not list(avis.glob("PROJET*"))  # the drafts gave way to the titres
    pdfs = sorted(avis.glob("ENT-2024-*.pdf"))
    assert len(pdfs) == 70
    lys = next(p for p in pdfs if "_59367_" in p.name)
    text = subprocess.run(["pdftotext", str(lys), "-"], capture_output=True, text=True, check=True).stdout
    assert "1 730,66 €" in text.replace("\u202f", " ").replace("\xa0", " ") and lys.name.split("_")[0] in text
    assert "PROJET" not in text
