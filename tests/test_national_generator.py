"""The national benchmark's generator at a small size, run through the normal path (not timed)."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing.cli import main

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # the national generator: seconds even at a small size


def load_generator():
    spec = importlib.util.spec_from_file_location("national", ROOT / "benchmarks" / "national.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_national_inputs_compute_like_the_reference(tmp_path):
    from tests.test_pricing import reference_bareme
    from billing.inputs.config import read_tariffs

    national = load_generator()
    size = national.generate(tmp_path / "inputs", communes=400)
    assert size["communes"] == 400 and size["schools"] >= 400
    result = CliRunner().invoke(main, ["--inputs", str(tmp_path / "inputs"), "--out", str(tmp_path / "out"),
                                       "compute", "2024"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "out" / "contributions_2024.csv").open(encoding="utf-8")))
    assert len(rows) == 400
    assert sum(int(r["ecoles"]) for r in rows) == size["schools"]  # every generated school was attributed
    notices = list((tmp_path / "out" / "avis").glob("PROJET_*.xlsx"))
    assert len(notices) == sum(1 for r in rows if r["situation"] == "facturee")
    # The fast pipeline against the naive reference, commune by commune.
    from datetime import date

    tariffs, _ = read_tariffs(tmp_path / "inputs" / "tarifs.toml", display="tarifs.toml")
    members = list(csv.DictReader((tmp_path / "inputs" / "adhesions.csv").open(encoding="utf-8")))

    def parse(text):
        if not text:
            return None
        d, m, y = text.split("/")
        return date(int(y), int(m), int(d))

    by_code = {r["code_insee"]: r for r in rows}
    reference_rows = [{"code_insee": m["code_insee"], "statut": m["statut"], "date_effet": parse(m["date_effet"]),
                       "date_retrait": parse(m["date_retrait"]), "ecoles": int(by_code[m["code_insee"]]["ecoles"]),
                       "eleves": int(by_code[m["code_insee"]]["eleves"])} for m in members]
    expected = reference_bareme(reference_rows, tariffs[2024], 2024)
    for code, (billed, indicative) in expected.items():
        row = by_code[code]
        assert int(row["montant"].replace(".", "")) == billed, code
        if indicative is not None:
            assert int(row["montant_indicatif"].replace(".", "")) == indicative, code


@pytest.mark.libreoffice
def test_generated_national_notices_recalculate_in_libreoffice(tmp_path):
    """The fast notices at national variety (every line count, prorata, all départements), recomputed by LibreOffice."""
    import shutil
    from decimal import Decimal

    import pytest

    from tests.libreoffice import notice_total, recalculate, spoil_cached_values

    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LIBREOFFICE ABSENT : `soffice` introuvable, les avis du cas national ne sont PAS recalculés")
    load_generator().generate(tmp_path / "inputs", communes=400)
    result = CliRunner().invoke(main, ["--inputs", str(tmp_path / "inputs"), "--out", str(tmp_path / "out"),
                                       "--quiet", "compute", "2024"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    amounts = {r["code_insee"]: Decimal(r["montant"]) for r in
               csv.DictReader((tmp_path / "out" / "contributions_2024.csv").open(encoding="utf-8"))
               if r["situation"] == "facturee"}
    chosen = sorted((tmp_path / "out" / "avis").glob("PROJET_*.xlsx"))[::3]
    poisoned_dir = tmp_path / "poisoned"
    poisoned_dir.mkdir()
    files = []
    for path in chosen:
        assert spoil_cached_values(path, poisoned_dir / path.name)
        files.append(poisoned_dir / path.name)
    assert len(files) > 100
    for path in recalculate(soffice, files, tmp_path / "recalculated", tmp_path):
        assert notice_total(path) == amounts[path.name.split("_")[1]], path.name
