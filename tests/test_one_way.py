"""Every command goes one way through a year: a tariff that cannot be applied reads the same everywhere.

With an absurd per-pupil price and a school of 400 000 pupils the amounts used to leave the
safe integer range: ``compute`` said so cleanly, but ``explain``, ``simulate --set``,
``simulate --cible`` and ``issue --dry-run`` ended in a Python traceback. Every command now
goes through billing.year.prepare_year, so they all give the same located error (today the
count itself is refused on its effectifs row, before pricing).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing.cli import main


def _overflowing_inputs(tmp_path: Path) -> Path:
    inputs = tmp_path / "inputs"
    assert CliRunner().invoke(main, ["init", str(inputs)]).exit_code == 0
    tarifs = inputs / "tarifs.toml"
    text = tarifs.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^part_eleve = "1.20"', 'part_eleve = "999999"', text, count=1)
    tarifs.write_text(text, encoding="utf-8")
    effectifs = inputs / "effectifs.csv"
    rows = effectifs.read_text(encoding="utf-8-sig").splitlines()
    # Lys-lez-Lannoy's per-commune declaration style is not used here: one big school in the export form.
    for index, row in enumerate(rows):
        if ";LYS-LEZ-LANNOY;" in row and ";PUBLIC;" in row:
            cells = row.split(";")
            cells[12] = "400000"
            rows[index] = ";".join(cells)
            break
    effectifs.write_text("\ufeff" + "\n".join(rows) + "\n", encoding="utf-8")
    return inputs


COMMANDS = {
    "compute": ["compute", "2024"],
    "explain": ["explain", "2024", "Lys-lez-Lannoy"],
    "simulate --set": ["simulate", "2024", "--set", "part_ecole=151"],
    "simulate --cible": ["simulate", "2024", "--cible", "200000"],
    "issue --dry-run": ["issue", "2024", "--dry-run"],
    "validate": ["validate", "2024"],
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("overflow")
    inputs = _overflowing_inputs(tmp)
    out = tmp / "reports"
    results = {}
    for name, args in COMMANDS.items():
        result = CliRunner().invoke(main, ["--inputs", str(inputs), "--out", str(out),
                                           "--ledger", str(tmp / "ledger.duckdb"), *args])
        results[name] = result
    results["_out"] = out
    results["_ledger"] = tmp / "ledger.duckdb"
    return results


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_gives_the_located_error(outcomes, name):
    result = outcomes[name]
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.strip().startswith("✗")]
    assert errors, result.output
    assert any("inputs/" in line for line in errors), errors  # located in a file the officer knows


def test_the_error_is_the_same_for_every_command(outcomes):
    def errors(result):
        return [line for line in result.output.splitlines() if line.strip().startswith("✗")]

    first = errors(outcomes["compute"])
    for name in COMMANDS:
        assert errors(outcomes[name]) == first, name


def test_nothing_was_written(outcomes):
    assert not outcomes["_out"].exists() or not any(outcomes["_out"].rglob("*"))
    assert not outcomes["_ledger"].exists()


def test_a_simulated_price_out_of_bounds_is_a_usage_error(tmp_path):
    """The year itself is fine; only the what-if is absurd: --set is checked like tarifs.toml, exit 2."""
    inputs = tmp_path / "inputs"
    assert CliRunner().invoke(main, ["init", str(inputs)]).exit_code == 0
    for args in (["simulate", "2024", "--set", "part_eleve=99999999"],
                 ["simulate", "2024", "--set", "part_eleve=99999999", "--cible", "1000"]):
        result = CliRunner().invoke(main, ["--inputs", str(inputs), "--out", str(tmp_path / "out"), *args])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception,
                                                                                           SystemExit))
        assert "--set" in result.output and "hors limites" in result.output, result.output
    assert not (tmp_path / "out").exists()
