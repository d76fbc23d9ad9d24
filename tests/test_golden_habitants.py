"""Golden text snapshots of the « habitants » sample (DESIGN §4b): its contributions table (classes,
population and source, strate, group rate, mode, seuil columns), a draft notice at a group's rate, and the
budget summary with its « Hors titre » sheet. Regenerate: ``pytest --update-golden``, then read the diff."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import duckdb  # noqa: F401  (C extensions first imported outside freeze_time, as in test_golden)
import pyarrow  # noqa: F401
import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from billing.cli import main
from tests.golden import import_every_module, assert_golden, snapshot


@pytest.fixture(scope="module")
def habitants(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("habitants")
    replace = {str(root): "<TMP>", f'"{version("ent-bill")}"': '"<VERSION>"'}
    runner = CliRunner()
    import_every_module()
    with freeze_time("2025-03-31 10:00:00"):
        assert runner.invoke(main, ["init", "--exemple", "habitants", str(root / "donnees")]).exit_code == 0
        result = runner.invoke(main, ["--inputs", str(root / "donnees"), "--out", str(root / "out"), "--quiet",
                                      "compute", "2025"])
        assert result.exit_code == 0, result.output
    out = root / "out"
    return {"habitants_contributions_2025": snapshot(out / "contributions_2025.xlsx", replace=replace),
            "habitants_avis_projet_halluin": snapshot(out / "avis" / "PROJET_59279_halluin.xlsx", replace=replace),
            "habitants_synthese_2025": snapshot(out / "synthese_2025.xlsx", replace=replace),
            "out": str(out)}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["habitants_contributions_2025", "habitants_avis_projet_halluin",
                                  "habitants_synthese_2025"])
def test_habitants_workbook_matches_its_golden_snapshot(habitants, update_golden, name):
    assert_golden(name, habitants[name], update_golden)


def test_the_tariff_columns_print_apart_from_each_other(habitants):
    """Right-aligned counts ran into the text of the next column (« 1 651 référentiel », « 3 second groupe »),
    far from their left-aligned headers: the §4b columns are centred."""
    from openpyxl import load_workbook

    sheet = load_workbook(Path(habitants["out"]) / "contributions_2025.xlsx")["Contributions"]
    headers = {cell.value: cell.column for cell in sheet[1]}
    columns = [headers[name] for name in ("Classes", "Population", "Source de la population", "Strate",
                                          "Tarif du groupe", "Mode de contribution")]
    cells = [sheet.cell(row, column) for row in range(2, 10) for column in columns
             if sheet.cell(row, column).value is not None]
    assert len(cells) > 20 and {cell.alignment.horizontal for cell in cells} == {"center"}
    seuil = [sheet.cell(row, headers["Seuil de recouvrement"]) for row in range(2, 10)]
    wide = [cell for cell in seuil if cell.value and len(cell.value) > 16]
    assert wide and all(cell.alignment.horizontal != "center" for cell in wide)  # its start would be cut
