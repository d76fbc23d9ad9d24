"""Golden text snapshots of every workbook kind, written by one yearly workflow driven through the CLI only.

compute 2024 → issue 2024 → change the inputs (one commune removed, one commune's pupils raised, one withdrawn
on 01/07/2024) → compute → issue (a titre complémentaire, a réduction, an annulation) → reconcile with the
sample paiements.csv → simulate --set part_eleve=1.35.

The clock is frozen (freezegun) for the whole workflow so that « Situation au … » and the days of lateness on
the rapprochement are the same on every run; the snapshot helper still blanks generation timestamps, the
version and the ledger empreinte (tests/golden.py, VOLATILE). Regenerate: ``pytest --update-golden``.
"""

from __future__ import annotations

import csv
import re
import shutil
from importlib.metadata import version
from pathlib import Path

import duckdb  # noqa: F401  (see below)
import pyarrow  # noqa: F401  C extensions first imported under freeze_time would see freezegun's date class
import pytest
from click.testing import CliRunner
from freezegun import freeze_time
from openpyxl import load_workbook

from billing.cli import main
from tests.golden import import_every_module, GOLDEN_DIR, assert_golden, snapshot

FROZEN_NOW = "2024-09-30 10:00:00"
DRAFT_CODE = "59367"  # Lys-lez-Lannoy: the commune whose 2023 pupils are real
BOUSBECQUE_SCHOOL = ("2023;HAUTS-DE-FRANCE;LILLE;NORD;BOUSBECQUE;0594648G;ECOLE ELEMENTAIRE PUBLIQUE;LEO LAGRANGE;"
                     "PUBLIC;0;0;10;")
RAISED = (BOUSBECQUE_SCHOOL + "210;", BOUSBECQUE_SCHOOL + "310;")  # 100 more pupils at the 2023 rentrée
REMOVED = "59106;Bouvines;"
WITHDRAWN = ("59133;Carnin;adherente;01/03/2024;;", "59133;Carnin;retiree;01/03/2024;01/07/2024;")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8-sig")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _drop_line(path: Path, start: str) -> None:
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(start)]
    assert len(kept) == len(lines) - 1, start
    path.write_text("".join(kept), encoding="utf-8")


class Workflow:
    """The CLI run on a copy of the sample; ``texts`` holds each snapshot taken along the way."""

    def __init__(self, root: Path):
        self.root = root
        self.inputs = root / "donnees"
        self.out = root / "rapports" / "2024"
        self.ledger = root / "registre.duckdb"
        self.texts: dict[str, str] = {}
        self.replace = {str(root): "<TMP>", f'"{version("ent-bill")}"': '"<VERSION>"'}

    def run(self, *args: str) -> str:
        result = CliRunner().invoke(main, ["--inputs", str(self.inputs), "--out", str(self.out),
                                           "--ledger", str(self.ledger), *args], catch_exceptions=False)
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result.output

    def take(self, name: str, path: Path) -> None:
        self.texts[name] = snapshot(path, replace=self.replace)

    def notice_of(self, nature: str) -> Path:
        with (self.out / "titres_2024.csv").open(encoding="utf-8-sig") as handle:
            numero = next(row["numero"] for row in csv.DictReader(handle) if row["nature"] == nature)
        (path,) = (self.out / "avis").glob(f"{numero}_*.xlsx")
        return path


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Workflow:
    flow = Workflow(tmp_path_factory.mktemp("golden"))
    result = CliRunner().invoke(main, ["init", str(flow.inputs)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    import_every_module()
    with freeze_time(FROZEN_NOW):
        flow.run("compute", "2024")
        (draft,) = (flow.out / "avis").glob(f"PROJET_{DRAFT_CODE}_*.xlsx")
        flow.take("avis_projet", draft)
        flow.run("issue", "2024")
        _drop_line(flow.inputs / "adhesions.csv", REMOVED)
        _edit(flow.inputs / "adhesions.csv", *WITHDRAWN)
        _edit(flow.inputs / "effectifs.csv", *RAISED)
        flow.run("compute", "2024")
        flow.run("issue", "2024")
        for nature, name in (("titre", "avis_titre"), ("titre complémentaire", "avis_complementaire"),
                             ("réduction", "avis_reduction"), ("annulation", "avis_annulation")):
            flow.take(name, flow.notice_of(nature))
        flow.run("reconcile", "2024")
        flow.run("simulate", "2024", "--set", "part_eleve=1.35")
    for name in ("contributions", "synthese", "bordereau", "rapprochement"):
        flow.take(f"{name}_2024", flow.out / f"{name}_2024.xlsx")
    flow.take("simulation_2024_part-eleve-1-35", flow.out / "simulation_2024_part-eleve-1-35.xlsx")
    for name in ("bordereau_2024_T002", "bordereau_2024_R001"):  # the second run's signed bordereaux
        flow.take(name, flow.out / "bordereaux" / f"{name}.xlsx")
    return flow


GOLDEN_NAMES = ("avis_projet", "avis_titre", "avis_complementaire", "avis_reduction", "avis_annulation",
                "contributions_2024", "synthese_2024", "bordereau_2024", "rapprochement_2024",
                "simulation_2024_part-eleve-1-35", "bordereau_2024_T002", "bordereau_2024_R001")


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_workbook_matches_its_golden_snapshot(workflow, update_golden, name):
    assert_golden(name, workflow.texts[name], update_golden)


def test_the_corrections_of_the_workflow_are_the_three_kinds(workflow):
    with (workflow.out / "titres_2024.csv").open(encoding="utf-8-sig") as handle:
        rows = [row for row in csv.DictReader(handle) if row["nature"] != "titre"]
    assert sorted((row["nature"], row["code_insee"]) for row in rows) == [
        ("annulation", "59106"), ("réduction", "59133"), ("titre complémentaire", "59098")]


def test_a_changed_cell_breaks_the_snapshot(workflow, tmp_path):
    """The mechanism can fail: one commune name and one amount changed in a copy of an issued notice."""
    if not (GOLDEN_DIR / "avis_titre.txt").exists():
        pytest.skip("golden/avis_titre.txt not generated yet")
    golden = (GOLDEN_DIR / "avis_titre.txt").read_text(encoding="utf-8")
    copy = tmp_path / "avis.xlsx"
    shutil.copy(workflow.notice_of("titre"), copy)
    book = load_workbook(copy)
    sheet = book.active
    name_cell = next(c for row in sheet.iter_rows() for c in row
                     if isinstance(c.value, str) and c.value.startswith("Commune d"))
    amount_cell = next(c for row in sheet.iter_rows() for c in row
                       if isinstance(c.value, (int, float)) and not isinstance(c.value, bool) and c.value > 100)
    name_cell.value = "Commune de Nulle-Part"
    amount_cell.value = amount_cell.value + 0.01
    book.save(copy)
    text = snapshot(copy, replace=workflow.replace)
    assert text != golden
    changed = {line.split("\t")[0] for line in set(text.splitlines()) ^ set(golden.splitlines())}
    assert changed == {f"{sheet.title}!{name_cell.coordinate}", f"{sheet.title}!{amount_cell.coordinate}"}
    with pytest.raises(AssertionError, match="Nulle-Part"):
        assert_golden("avis_titre", text, update=False)


def _every_workbook(workflow) -> list[Path]:
    return sorted(workflow.out.rglob("*.xlsx"))


def test_every_font_of_every_workbook_names_its_face(workflow):
    """A font without a name prints in Calibri in Excel but in a wider serif in LibreOffice, where it ran
    past the columns sized for Calibri (a cut motif, a cut signature on the notices). Read from styles.xml."""
    import zipfile

    books = _every_workbook(workflow)
    assert {path.name.split("_")[0] for path in books} >= {"ENT-2024-0001", "contributions", "synthese",
                                                          "bordereau", "rapprochement", "simulation"}
    for path in books:
        with zipfile.ZipFile(path) as archive:
            styles = archive.read("xl/styles.xml").decode("utf-8")
        fonts = re.findall(r"<font>(.*?)</font>|<font/>", re.search(r"<fonts[^>]*>(.*?)</fonts>", styles, re.S)[1],
                           re.S)
        nameless = [font for font in fonts if "<name " not in font]
        assert fonts and not nameless, f"{path.name}: {nameless[:3]}"


def test_the_credit_bordereau_asks_no_due_date_and_words_its_imputation(workflow):
    """R001 (réductions, annulations): « Échéance 15/05/2024 » beside a credit contradicted its notice's
    « Aucun paiement à effectuer »; « imputation : Compte 7474 » had a capital inside the sentence."""
    sheet = load_workbook(workflow.out / "bordereaux" / "bordereau_2024_R001.xlsx").active
    header = next(row for row in range(1, 12) if sheet.cell(row, 5).value == "Échéance")
    natures = {sheet.cell(row, 2).value: sheet.cell(row, 5).value for row in range(header + 1, header + 3)}
    assert natures == {"réduction": None, "annulation": None}
    assert "imputation : compte " in sheet["A3"].value
    recap = load_workbook(workflow.out / "bordereau_2024.xlsx").active  # the yearly recap alike
    dues = {recap.cell(row, 3).value: recap.cell(row, 6).value for row in range(5, recap.max_row + 1)
            if recap.cell(row, 3).value in ("réduction", "annulation", "titre complémentaire")}
    assert dues["réduction"] is None and dues["annulation"] is None and dues["titre complémentaire"]
    titres = load_workbook(workflow.out / "bordereaux" / "bordereau_2024_T002.xlsx").active
    assert titres.cell(header + 1, 2).value == "titre complémentaire" and titres.cell(header + 1, 5).value


def test_simulation_headers_are_tall_enough_for_their_lines(workflow):
    """« Écart % cible part_eleve=2.5608 » took three lines of a row sized for two: LibreOffice clipped
    the first, accents and all (« Ecart »)."""
    import_every_module()
    with freeze_time(FROZEN_NOW):  # as the workflow ran: dates read under freezegun stay its dates
        output = workflow.run("simulate", "2024", "--cible", "180000")
    (path,) = workflow.out.glob("simulation_2024_cible-*.xlsx")
    # the solved rate in French, as every other rate is shown (« 2.5608 » read as a foreign number)
    assert re.search(r"part_eleve = \d+,\d{4} € donne .* au pas suivant \(\d+,\d{4} €\)", output), output
    tarifs = load_workbook(path)["Tarifs"]
    solved = next(row[1].value for row in tarifs.iter_rows() if row[0].value == "Tarif résolu pour la cible")
    assert re.fullmatch(r"part_eleve = \d+,\d{4} €", solved), solved
    sheet = load_workbook(path)["Comparaison"]
    headers = [cell for cell in sheet[4] if cell.value]
    assert any(cell.value.startswith("Écart % cible part_eleve=") for cell in headers)
    for cell in headers:
        width = sheet.column_dimensions[cell.column_letter].width
        words, lines, used = cell.value.split(), 1, 0
        for word in words:  # greedy word wrap, one character per width unit, less a margin
            if used and used + 1 + len(word) > width - 2:
                lines, used = lines + 1, len(word)
            else:
                used += (1 if used else 0) + len(word)
        assert sheet.row_dimensions[4].height >= 14.5 * lines, (cell.value, width, lines)
