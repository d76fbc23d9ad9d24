"""Bordereaux in the ledger (DESIGN §6c): schema 1 -> 2 migration, numbering per exercice and series,
never renumbered, continuous even when a run is killed."""

from __future__ import annotations

import gzip
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from billing.core.corrections import Claim
from billing.ledger.store import SCHEMA_VERSION, RunInfo, open_ledger

REPO = Path(__file__).resolve().parents[1]
# Written by tests/helpers/make_schema1_ledger.py with the code of the last schema-1 release.
SCHEMA1 = REPO / "tests" / "fixtures" / "ledger_schema1.duckdb.gz"
DRIVER = REPO / "tests" / "helpers" / "titres_driver.py"


def schema1_copy(tmp_path: Path) -> Path:
    path = tmp_path / "ent-bill.duckdb"
    with gzip.open(SCHEMA1, "rb") as source, path.open("wb") as target:
        shutil.copyfileobj(source, target)
    return path


def rows(ledger, annee):
    return [(b.serie, b.numero, b.nb_pieces, b.total_cents, b.premier_seq, b.dernier_seq, b.date_bordereau)
            for b in ledger.bordereaux(annee)]


def test_fixture_is_a_schema_1_ledger(tmp_path):
    path = schema1_copy(tmp_path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
        assert con.execute("SELECT COUNT(*) FROM titres").fetchone() == (8,)
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "bordereaux" not in tables
    finally:
        con.close()


def test_schema_1_ledger_is_migrated_and_its_runs_numbered_in_issue_order(tmp_path):
    path = schema1_copy(tmp_path)
    with open_ledger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION == 4
        assert ledger.verify() == []
        # runs of 2024: 3 titres; 1 complémentaire + (1 réduction, 1 annulation); 1 titre — in that order
        assert rows(ledger, 2024) == [
            ("reductions", 1, 2, 5_000 + 30_000, 5, 6, date(2024, 6, 1)),
            ("titres", 1, 3, 10_000 + 20_000 + 30_000, 1, 3, date(2024, 3, 1)),
            ("titres", 2, 1, 2_500, 4, 4, date(2024, 6, 1)),
            ("titres", 3, 1, 4_000, 7, 7, date(2024, 9, 1)),
        ]
        assert rows(ledger, 2023) == [("titres", 1, 1, 5_000, 1, 1, date(2023, 3, 1))]
        runs = {t.seq: t.run_id for t in ledger.titres(2024)}
        assert [b.run_id for b in ledger.bordereaux(2024)] == [runs[5], runs[1], runs[4], runs[7]]
    with open_ledger(path, readonly=True) as ledger:  # the migration is written: a read-only open needs nothing
        assert ledger.schema_version == 4 and len(ledger.bordereaux()) == 5


def _line(cents: int) -> dict:
    return {"ordre": 1, "code": "ENT", "libelle": "ENT", "quantite": 1, "taux_units": cents,
            "montant_cents": cents, "formule": "forfait", "detail": None}


def _issue(ledger, claims, day):
    return ledger.issue_claims([Claim(code, f"Commune {code}", cents, (_line(cents),)) for code, cents in claims],
                               annee=2024, prefixe="ENT", run=RunInfo.new(2024, version="test"), date_emission=day,
                               date_echeance=None, deliberation="2023-05", objet="Contribution 2024",
                               imputation="Compte 7474")


def test_a_bordereau_is_never_renumbered(tmp_path):
    path = schema1_copy(tmp_path)
    with open_ledger(path) as ledger:
        before = ledger.bordereaux(2024)
        first = before[1]
        ledger.record_pes(first, "a" * 64)
        ledger.record_pes(first, "b" * 64)  # recorded once: a second hash does not replace the first
        # 59001 lowered, 59004 raised: one réduction (R2) and one complémentaire (T4)
        _issue(ledger, [("59001", 12_000), ("59002", 15_000), ("59004", 4_500)], date(2024, 10, 1))
        _issue(ledger, [("59001", 12_000), ("59002", 15_000), ("59004", 4_500)], date(2024, 10, 2))  # nothing
        after = ledger.bordereaux(2024)
    marked = [b for b in after if b.pes_sha256]
    assert [(b.serie, b.numero, b.pes_sha256) for b in marked] == [("titres", 1, "a" * 64)]
    unchanged = [b for b in after if (b.serie, b.numero) in {(x.serie, x.numero) for x in before}]
    assert [b.run_id for b in unchanged] == [b.run_id for b in before]
    assert [(b.nb_pieces, b.total_cents) for b in unchanged] == [(b.nb_pieces, b.total_cents) for b in before]
    new = [(b.serie, b.numero, b.nb_pieces, b.total_cents, b.premier_seq) for b in after if b not in unchanged]
    assert new == [("reductions", 2, 1, 500, 8), ("titres", 4, 1, 500, 9)]


def test_a_failed_issue_numbers_no_bordereau(tmp_path, monkeypatch):
    path = tmp_path / "ent-bill.duckdb"
    with open_ledger(path) as ledger:
        _issue(ledger, [("59001", 1_000)], date(2024, 3, 1))
        from billing.ledger import bordereaux

        def explode(*args, **kwargs):
            raise RuntimeError("coupure")
        monkeypatch.setattr(bordereaux, "allocate", explode)
        with pytest.raises(RuntimeError):
            _issue(ledger, [("59001", 2_000)], date(2024, 3, 2))
        monkeypatch.undo()
        assert len(ledger.titres(2024)) == 1  # the titres went with the bordereau
        _issue(ledger, [("59001", 2_000)], date(2024, 3, 2))
        assert [(b.serie, b.numero, b.premier_seq) for b in ledger.bordereaux(2024)] == \
               [("titres", 1, 1), ("titres", 2, 2)]


@pytest.mark.slow
def test_killed_runs_leave_continuous_bordereau_numbers(tmp_path):
    """SIGKILL an issuing process at random points: every committed run has its one bordereau, numbered 1..n."""
    path = tmp_path / "ent-bill.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(20241203)
    n = 200
    for attempt in range(8):
        proc = subprocess.Popen([sys.executable, str(DRIVER), str(path), "--communes", str(n), "--wait", "10"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.3, 1.2))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        with open_ledger(path) as ledger:
            assert ledger.verify() == [], attempt
            made = ledger.bordereaux(2024)
            runs = ledger.runs()
            assert [b.numero for b in made] == list(range(1, len(runs) + 1)), attempt
            assert {b.run_id for b in made} == {r["run_id"] for r in runs}
            assert all(b.serie == "titres" and b.nb_pieces == n for b in made)
            assert [(b.premier_seq, b.dernier_seq) for b in made] == \
                   [(n * k + 1, n * (k + 1)) for k in range(len(made))]
            titres = ledger.titres(2024, lines=False)
            for b in made:
                assert b.total_cents == sum(t.montant_cents for t in titres if t.run_id == b.run_id)


def test_verify_names_a_bordereau_that_no_longer_matches_its_titres(tmp_path):
    path = schema1_copy(tmp_path)
    with open_ledger(path) as ledger:
        assert ledger.verify() == []
    con = duckdb.connect(str(path))
    con.execute("UPDATE bordereaux SET total_cents = total_cents + 1 WHERE exercice = 2024 AND serie = 'titres' "
                "AND numero = 2")
    con.execute("DELETE FROM bordereaux WHERE exercice = 2024 AND serie = 'titres' AND numero = 3")
    con.execute("UPDATE bordereaux SET numero = 4 WHERE exercice = 2023")
    con.close()
    with open_ledger(path, readonly=True) as ledger:
        found = ledger.verify()
    assert found == [
        "bordereaux des titres 2023 : numérotation interrompue (4)",
        "bordereau n° 2 des titres 2024 : 1 pièce(s) pour 2501 centimes enregistrées, 1 pour 2500 dans les titres",
        next(f for f in found if f.endswith("sans bordereau")),
    ]
    assert found[2].startswith("1 titre(s) titres 2024 du traitement ")


def test_reading_commands_migrate_a_schema_1_ledger_after_an_upgrade(tmp_path):
    """`titres`, `verify`, `compute` open read-only: after an upgrade they must not wait for the next issue."""
    path = schema1_copy(tmp_path)
    with open_ledger(path, readonly=True) as ledger:
        assert ledger.readonly and ledger.schema_version == 4
        assert [t.seq for t in ledger.titres(2024)] == list(range(1, 8))
        assert [(b.serie, b.numero) for b in ledger.bordereaux(2024)] == \
               [("reductions", 1), ("titres", 1), ("titres", 2), ("titres", 3)]
        assert ledger.verify() == []
