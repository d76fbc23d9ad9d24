"""The bundled sample's notices, recalculated by LibreOffice, show the CSV's amounts to the cent."""

from __future__ import annotations

import csv
import re
import shutil
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from billing.cli import main
from tests.libreoffice import recalculate

ROOT = Path(__file__).resolve().parents[1]


def test_every_sample_notice_recalculates_to_the_csv_amount(tmp_path):
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LIBREOFFICE ABSENT : `soffice` introuvable, les avis de l'exemple ne sont PAS recalculés")
    shutil.copytree(ROOT / "inputs", tmp_path / "inputs")
    result = CliRunner().invoke(main, ["--inputs", str(tmp_path / "inputs"), "--out", str(tmp_path / "out"),
                                       "compute", "2024"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    amounts = {r["code_insee"]: Decimal(r["montant"]) for r in
               csv.DictReader((tmp_path / "out" / "contributions_2024.csv").open(encoding="utf-8"))
               if r["situation"] == "facturee"}
    poisoned_dir = tmp_path / "poisoned"
    poisoned_dir.mkdir()
    files = []
    for path in sorted((tmp_path / "out" / "avis").glob("PROJET_*.xlsx")):
        target = poisoned_dir / path.name
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as poisoned:
            for info in source.infolist():
                part = source.read(info)
                if info.filename == "xl/worksheets/sheet1.xml":  # stale cached values: LibreOffice must recompute
                    part = re.sub(rb"(</f><v>)[^<]*(</v>)", rb"\g<1>999999\g<2>", part)
                poisoned.writestr(info, part)
        files.append(target)
    assert len(files) == len(amounts) == 70
    out = tmp_path / "recalculated"
    recalculate(soffice, files, out, tmp_path)
    for path in files:
        code = path.name.split("_")[1]
        sheet = load_workbook(out / path.name, data_only=True).active
        totals = [row for row in sheet.iter_rows() if any(str(c.value or "").startswith("Montant total") for c in row)]
        assert totals, path.name
        value = next(c.value for c in totals[0] if isinstance(c.value, (int, float)))
        assert round(Decimal(str(value)), 2) == amounts[code], path.name


def test_contributions_workbook_totals_recalculate_in_libreoffice(tmp_path):
    """The streamed table's SUM formulas, recomputed by LibreOffice from stale cached values, give the CSV totals."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LIBREOFFICE ABSENT : `soffice` introuvable, le tableau des contributions n'est PAS recalculé")
    shutil.copytree(ROOT / "inputs", tmp_path / "inputs")
    result = CliRunner().invoke(main, ["--inputs", str(tmp_path / "inputs"), "--out", str(tmp_path / "out"),
                                       "compute", "2024"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "out" / "contributions_2024.csv").open(encoding="utf-8")))
    due = sum(Decimal(r["montant"]) for r in rows)
    indicative = sum(Decimal(r["montant_indicatif"]) for r in rows if r["montant_indicatif"])
    source = tmp_path / "out" / "contributions_2024.xlsx"
    poisoned = tmp_path / "poisoned" / source.name
    poisoned.parent.mkdir()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(poisoned, "w") as target:
        for info in original.infolist():
            part = original.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                part, count = re.subn(rb"(</f><v>)[^<]*(</v>)", rb"\g<1>999999\g<2>", part)
                assert count >= 4
            target.writestr(info, part)
    out = tmp_path / "recalculated"
    recalculate(soffice, [poisoned], out, tmp_path)
    sheet = load_workbook(out / source.name, data_only=True)["Contributions"]
    headers = [c.value for c in sheet[1]]
    total = next(row for row in sheet.iter_rows() if str(row[0].value or "").startswith("TOTAL"))
    assert round(Decimal(str(total[headers.index("Montant dû")].value)), 2) == due
    assert round(Decimal(str(total[headers.index("Montant indicatif")].value)), 2) == indicative
    assert sheet.cell(2, 1).value == sorted(r["code_insee"] for r in rows)[0]  # text kept as text
