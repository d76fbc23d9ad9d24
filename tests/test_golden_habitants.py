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
from tests.golden import assert_golden, snapshot


@pytest.fixture(scope="module")
def habitants(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("habitants")
    replace = {str(root): "<TMP>", f'"{version("ent-bill")}"': '"<VERSION>"'}
    runner = CliRunner()
    with freeze_time("2025-03-31 10:00:00"):
        assert runner.invoke(main, ["init", "--exemple", "habitants", str(root / "donnees")]).exit_code == 0
        result = runner.invoke(main, ["--inputs", str(root / "donnees"), "--out", str(root / "out"), "--quiet",
                                      "compute", "2025"])
        assert result.exit_code == 0, result.output
    out = root / "out"
    return {"habitants_contributions_2025": snapshot(out / "contributions_2025.xlsx", replace=replace),
            "habitants_avis_projet_halluin": snapshot(out / "avis" / "PROJET_59279_halluin.xlsx", replace=replace),
            "habitants_synthese_2025": snapshot(out / "synthese_2025.xlsx", replace=replace)}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["habitants_contributions_2025", "habitants_avis_projet_halluin",
                                  "habitants_synthese_2025"])
def test_habitants_workbook_matches_its_golden_snapshot(habitants, update_golden, name):
    assert_golden(name, habitants[name], update_golden)
