"""The bundled sample's notices, recalculated by LibreOffice, show the CSV's amounts to the cent."""

from __future__ import annotations

import csv
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from billing.cli import main
from tests.libreoffice import notice_total, recalculate, spoil_cached_values

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.libreoffice, pytest.mark.slow]


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> Path:
    """The sample computed once: its reports folder."""
    work = tmp_path_factory.mktemp("sample")
    shutil.copytree(ROOT / "inputs", work / "inputs")
    result = CliRunner().invoke(main, ["--inputs", str(work / "inputs"), "--out", str(work / "out"),
                                       "compute", "2024"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return work / "out"


def test_every_sample_notice_recalculates_to_the_csv_amount(computed, tmp_path):
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LIBREOFFICE ABSENT : `soffice` introuvable, les avis de l'exemple ne sont PAS recalculés")
    amounts = {r["code_insee"]: Decimal(r["montant"]) for r in
               csv.DictReader((computed / "contributions_2024.csv").open(encoding="utf-8"))
               if r["situation"] == "facturee"}
    poisoned_dir = tmp_path / "poisoned"
    poisoned_dir.mkdir()
    files = []
    for path in sorted((computed / "avis").glob("PROJET_*.xlsx")):
        assert spoil_cached_values(path, poisoned_dir / path.name)
        files.append(poisoned_dir / path.name)
    assert len(files) == len(amounts) == 70
    for path in recalculate(soffice, files, tmp_path / "recalculated", tmp_path):
        assert notice_total(path) == amounts[path.name.split("_")[1]], path.name


def test_contributions_workbook_totals_recalculate_in_libreoffice(computed, tmp_path):
    """The streamed table's SUM formulas, recomputed by LibreOffice from stale cached values, give the CSV totals."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LIBREOFFICE ABSENT : `soffice` introuvable, le tableau des contributions n'est PAS recalculé")
    rows = list(csv.DictReader((computed / "contributions_2024.csv").open(encoding="utf-8")))
    due = sum(Decimal(r["montant"]) for r in rows)
    indicative = sum(Decimal(r["montant_indicatif"]) for r in rows if r["montant_indicatif"])
    source = computed / "contributions_2024.xlsx"
    poisoned = tmp_path / "poisoned" / source.name
    poisoned.parent.mkdir()
    assert spoil_cached_values(source, poisoned) >= 4
    out = tmp_path / "recalculated"
    recalculate(soffice, [poisoned], out, tmp_path)
    sheet = load_workbook(out / source.name, data_only=True)["Contributions"]
    headers = [c.value for c in sheet[1]]
    total = next(row for row in sheet.iter_rows() if str(row[0].value or "").startswith("TOTAL"))
    assert round(Decimal(str(total[headers.index("Montant dû")].value)), 2) == due
    assert round(Decimal(str(total[headers.index("Montant indicatif")].value)), 2) == indicative
    assert sheet.cell(2, 1).value == sorted(r["code_insee"] for r in rows)[0]  # text kept as text
