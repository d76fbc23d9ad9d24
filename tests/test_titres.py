"""The ledger of titres: numbering without gaps, corrections instead of edits, tamper evidence."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.core.corrections import Claim, PlannedTitre, net_by_commune, plan_titres
from billing.core.errors import UserError
from billing.ledger.backup import backup_ledger
from billing.ledger.store import (GENESIS, SCHEMA_VERSION, LedgerBusy, LedgerError, RunInfo, check_chain_before_issue,
                                  open_ledger, titre_hash)

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "helpers" / "titres_driver.py"
NBSP = "\u00a0"
NNBSP = "\u202f"

ISSUE = dict(annee=2024, prefixe="ENT", date_emission=date(2024, 3, 1), date_echeance=date(2024, 3, 31),
             deliberation="2023-05 du 13 décembre 2023", objet="Contribution 2024 (ENT)", imputation="7474")


def _line(cents: int) -> dict:
    return {"ordre": 1, "code": "part_eleve", "libelle": "Part élèves", "quantite": 100, "taux_units": cents,
            "montant_cents": cents, "formule": "produit", "detail": "rentrée 2023 : 100 élèves"}


def claim(code: str, cents: int) -> Claim:
    return Claim(code, f"Commune {code}", cents, (_line(cents),) if cents else ())


def issue(ledger, claims, **overrides):
    options = {**ISSUE, **overrides}
    if "date_emission" in overrides and "date_echeance" not in overrides:
        options["date_echeance"] = overrides["date_emission"] + timedelta(days=30)
    return ledger.issue_claims(claims, run=RunInfo.new(options["annee"], version="test"), **options)


def driver_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


# ----- corrections (pure) ----------------------------------------------------------------


def test_first_issue_numbers_every_commune_in_code_order(tmp_path):
    with open_ledger(tmp_path / "l.duckdb") as ledger:
        issued = issue(ledger, [claim("59350", 500_00), claim("59009", 120_00), claim("59017", 0)])
        assert [(t.numero, t.code_insee, t.nature, t.montant_cents, t.origine_numero) for t in issued] == [
            ("ENT-2024-0001", "59009", "titre", 120_00, None),
            ("ENT-2024-0002", "59350", "titre", 500_00, None),
        ]
        assert issued[0].lines == (_line(120_00),)
        assert issued[0].prev_hash == GENESIS and issued[1].prev_hash == issued[0].hash
        assert ledger.titres(2024) == issued
        assert ledger.verify() == []


def test_same_claims_twice_issue_one_set_of_numbers(tmp_path):
    claims = [claim("59009", 120_00), claim("59350", 500_00)]
    with open_ledger(tmp_path / "l.duckdb") as ledger:
        first = issue(ledger, claims)
        assert plan_titres(claims, ledger.titres(2024)) == []
        assert issue(ledger, claims) == []
        assert [t.numero for t in ledger.titres()] == [t.numero for t in first] == ["ENT-2024-0001", "ENT-2024-0002"]
        assert len(ledger.runs()) == 1  # a run that issues nothing leaves no trace


def test_raise_gives_one_complementaire_citing_the_first_titre(tmp_path):
    with open_ledger(tmp_path / "l.duckdb") as ledger:
        issue(ledger, [claim("59009", 120_00)])
        (extra,) = issue(ledger, [claim("59009", 150_50)], date_emission=date(2024, 6, 1))
        assert (extra.numero, extra.nature, extra.montant_cents, extra.origine_numero) == (
            "ENT-2024-0002", "complementaire", 30_50, "ENT-2024-0001")
        *context, amount = extra.lines
        assert amount == {
            "ordre": len(context) + 1, "code": "complement",
            "libelle": "Complément dû : montant recalculé − déjà titré",
            "quantite": 1, "taux_units": 30_5000, "montant_cents": 30_50, "formule": "valeur",
            "detail": f"150,50{NBSP}€ − 120,00{NBSP}€ = 30,50{NBSP}€",
        }
        assert all(line["formule"] == "info" and line["montant_cents"] == 0 for line in context)
        assert [line["code"] for line in context] == ["motif", "base", "recalcule", "deja_titre", "deja_titre_total"]
        assert context[3]["libelle"] == "Déjà titré — titre ENT-2024-0001 du 01/03/2024"
        assert context[3]["detail"] == f"120,00{NBSP}€"
        # a further raise still cites the original titre, not the complément
        (again,) = issue(ledger, [claim("59009", 151_00)], date_emission=date(2024, 6, 1))
        assert (again.origine_numero, again.montant_cents) == ("ENT-2024-0001", 50)
        assert ledger.verify() == []


def test_lower_reduces_newest_first_within_each_titre(tmp_path):
    with open_ledger(tmp_path / "l.duckdb") as ledger:
        issue(ledger, [claim("59009", 100_00)])
        issue(ledger, [claim("59009", 130_00)])                      # 0002: complément 30,00
        reductions = issue(ledger, [claim("59009", 90_00)])           # − 40,00 = 30,00 on 0002 + 10,00 on 0001
        assert [(t.numero, t.nature, t.montant_cents, t.origine_numero) for t in reductions] == [
            ("ENT-2024-0003", "reduction", 30_00, "ENT-2024-0002"),
            ("ENT-2024-0004", "reduction", 10_00, "ENT-2024-0001"),
        ]
        assert reductions[1].lines[-1]["libelle"] == "Réduction du titre ENT-2024-0001 du 01/03/2024"
        assert reductions[1].lines[-1]["detail"] == (
            f"déjà titré 130,00{NBSP}€ − montant recalculé 90,00{NBSP}€ = 40,00{NBSP}€ ; "
            f"imputé sur ce titre : 10,00{NBSP}€")
        assert [sum(line["montant_cents"] for line in t.lines) for t in reductions] == [30_00, 10_00]
        assert ledger.net_by_commune(2024) == {"59009": 90_00}
        assert ledger.verify() == []


def test_withdrawn_commune_gets_an_annulation_of_each_remaining_titre(tmp_path):
    with open_ledger(tmp_path / "l.duckdb") as ledger:
        issue(ledger, [claim("59009", 100_00), claim("59350", 10_00)])
        issue(ledger, [claim("59009", 130_00), claim("59350", 10_00)])   # 0003: complément 30,00
        issue(ledger, [claim("59009", 120_00), claim("59350", 10_00)])   # 0004: réduction 10,00 of 0003
        cancelled = issue(ledger, [claim("59350", 10_00)])              # 59009 withdrawn
        assert [(t.numero, t.nature, t.montant_cents, t.origine_numero) for t in cancelled] == [
            ("ENT-2024-0005", "annulation", 20_00, "ENT-2024-0003"),
            ("ENT-2024-0006", "annulation", 100_00, "ENT-2024-0001"),
        ]
        assert cancelled[1].lines[-1]["libelle"] == "Annulation du titre ENT-2024-0001 du 01/03/2024"
        assert cancelled[1].lines[0]["detail"].startswith("fin d'adhésion")
        assert issue(ledger, [claim("59350", 10_00), claim("59009", 0)]) == []
        assert ledger.net_by_commune(2024) == {"59009": 0, "59350": 10_00}
        # owed again after everything was cancelled: a fresh titre, not a complément of a cancelled one
        (fresh,) = issue(ledger, [claim("59350", 10_00), claim("59009", 55_00)])
        assert (fresh.numero, fresh.nature, fresh.origine_numero) == ("ENT-2024-0007", "titre", None)
        assert ledger.verify() == []


def test_plan_is_ordered_by_code_then_nature_and_rejects_bad_claims():
    with pytest.raises(ValueError, match="59009 figure deux fois"):
        plan_titres([claim("59009", 1), claim("59009", 2)], [])
    with pytest.raises(ValueError, match="montant négatif"):
        plan_titres([Claim("59009", "X", -1)], [])
    planned = plan_titres([claim("59350", 1), claim("59009", 2)], [])
    assert [(p.code_insee, p.nature) for p in planned] == [("59009", "titre"), ("59350", "titre")]


def test_years_are_numbered_separately(tmp_path):
    with open_ledger(tmp_path / "l.duckdb") as ledger:
        issue(ledger, [claim("59009", 1_00)])
        other = ledger.issue_claims([claim("59009", 2_00)], annee=2025, prefixe="ENT",
                                    run=RunInfo.new(2025, version="t"), date_emission=date(2025, 3, 1),
                                    date_echeance=None, deliberation=None, objet=None, imputation=None)
        assert [t.numero for t in other] == ["ENT-2025-0001"]
        assert other[0].prev_hash == GENESIS
        assert [t.numero for t in ledger.titres(2024)] == ["ENT-2024-0001"]
        assert ledger.verify() == []


# ----- the ledger refuses stale plans and broken series ----------------------------------


def test_stale_plan_is_refused_inside_the_transaction(tmp_path):
    with open_ledger(tmp_path / "l.duckdb") as ledger:
        stale = plan_titres([claim("59009", 100_00)], [])
        ledger.issue(stale, run=RunInfo.new(2024, version="t"), **ISSUE)
        with pytest.raises(LedgerError) as err:
            ledger.issue(stale, run=RunInfo.new(2024, version="t"), **ISSUE)
        assert str(err.value) == (
            f"la commune Commune 59009 (59009) a déjà un titre en 2024 (100,00{NBSP}€ net) : "
            "recalculez les corrections au lieu d'émettre un second titre")
        too_much = [PlannedTitre("reduction", "59009", "Commune 59009", 100_01, "ENT-2024-0001", ())]
        with pytest.raises(LedgerError, match="dépasse ce qui reste du titre ENT-2024-0001"):
            ledger.issue(too_much, run=RunInfo.new(2024, version="t"), **ISSUE)
        with pytest.raises(LedgerError, match="le préfixe « TIT » interromprait la série"):
            issue(ledger, [claim("59009", 100_00), claim("59010", 1)], prefixe="TIT")
        with pytest.raises(LedgerError, match="antérieure au dernier titre émis"):
            issue(ledger, [claim("59009", 100_00), claim("59010", 1)], date_emission=date(2024, 2, 1))
        assert [t.numero for t in ledger.titres()] == ["ENT-2024-0001"]  # all rolled back
        assert len(ledger.runs()) == 1
        assert ledger.verify() == []


def test_a_failing_insert_rolls_back_everything(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import billing.ledger.store

    with open_ledger(tmp_path / "l.duckdb") as ledger:
        issue(ledger, [claim("59001", 1_00)])

        def explode(*args, **kwargs):
            raise RuntimeError("boom")
        # fails after the run row is written, before the titres are: both must vanish
        monkeypatch.setattr(billing.ledger.store, "pa", SimpleNamespace(Table=SimpleNamespace(from_pylist=explode)))
        with pytest.raises(RuntimeError, match="boom"):
            issue(ledger, [claim("59001", 1_00), claim("59002", 2_00)])
        monkeypatch.undo()
        assert [t.numero for t in ledger.titres()] == ["ENT-2024-0001"]
        assert len(ledger.runs()) == 1
        (next_one,) = issue(ledger, [claim("59001", 1_00), claim("59002", 2_00)])
        assert next_one.numero == "ENT-2024-0002"  # no gap left by the failed attempt


# ----- verify --------------------------------------------------------------------------


def _five(path: Path) -> None:
    with open_ledger(path) as ledger:
        issue(ledger, [claim(f"5900{i}", 100_00 + i) for i in range(1, 6)])


def _tamper(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    con.execute(sql)
    con.close()


def _verify(path: Path) -> list[str]:
    with open_ledger(path, readonly=True) as ledger:
        return ledger.verify()


def test_verify_names_a_titre_whose_amount_was_updated(tmp_path):
    path = tmp_path / "l.duckdb"
    _five(path)
    _tamper(path, "UPDATE titres SET montant_cents = 1 WHERE numero = 'ENT-2024-0003'")
    assert _verify(path) == ["le titre ENT-2024-0003 a été modifié après son émission (empreinte différente)"]


def test_verify_names_a_deleted_titre(tmp_path):
    path = tmp_path / "l.duckdb"
    _five(path)
    _tamper(path, "DELETE FROM titres WHERE numero = 'ENT-2024-0004'")
    assert _verify(path) == ["le titre ENT-2024-0004 manque : la numérotation est interrompue après ENT-2024-0003"]


def test_verify_names_a_titre_deleted_at_the_end_of_the_series(tmp_path):
    path = tmp_path / "l.duckdb"
    _five(path)
    _tamper(path, "DELETE FROM titres WHERE numero = 'ENT-2024-0005'")
    (finding,) = _verify(path)
    assert finding.startswith("le titre ENT-2024-0005 manque : le traitement du ")
    assert finding.endswith(" UTC l'a émis et il n'est plus dans le registre")


def test_verify_sees_a_rehashed_edit_through_the_chain(tmp_path):
    path = tmp_path / "l.duckdb"
    _five(path)
    con = duckdb.connect(str(path))
    columns = [d[0] for d in con.execute("SELECT * FROM titres WHERE seq = 2").description]
    row = dict(zip(columns, con.execute("SELECT * FROM titres WHERE seq = 2").fetchone()))
    row["montant_cents"] = 1
    con.execute("UPDATE titres SET montant_cents = 1, hash = ? WHERE seq = 2", [titre_hash(row)])
    con.close()
    assert _verify(path) == ["le chaînage du titre ENT-2024-0003 est rompu : il ne suit pas ENT-2024-0002 "
                             "(titre supprimé, inséré ou modifié)"]


def test_verify_checks_credits_against_their_titre(tmp_path):
    path = tmp_path / "l.duckdb"
    with open_ledger(path) as ledger:
        issue(ledger, [claim("59001", 100_00), claim("59002", 50_00)])
        issue(ledger, [claim("59001", 60_00), claim("59002", 50_00)])  # 0003: réduction 40,00 of 0001
    _tamper(path, "UPDATE titres SET origine_numero = 'ENT-2024-0002' WHERE seq = 3")
    assert _verify(path) == [
        "le titre ENT-2024-0003 a été modifié après son émission (empreinte différente)",
        "le titre ENT-2024-0003 (reduction) pour Commune 59001 cite le titre ENT-2024-0002 "
        "d'une autre commune (Commune 59002)",
    ]
    _tamper(path, "UPDATE titres SET origine_numero = 'ENT-2024-0001', montant_cents = 100001 WHERE seq = 3")
    assert _verify(path) == [
        "le titre ENT-2024-0003 a été modifié après son émission (empreinte différente)",
        f"les réductions du titre ENT-2024-0001 (1{NNBSP}000,01{NBSP}€) dépassent son montant (100,00{NBSP}€)",
        f"la commune 59001 a plus de réductions que de titres en 2024 (−900,01{NBSP}€ net)",
    ]


def test_verify_lists_empty_fields_and_unreadable_lines_beside_the_other_defects(tmp_path):
    path = tmp_path / "l.duckdb"
    _five(path)
    _tamper(path, "ALTER TABLE titres ALTER COLUMN montant_cents DROP NOT NULL")
    _tamper(path, "UPDATE titres SET montant_cents = NULL WHERE numero = 'ENT-2024-0002'")
    _tamper(path, "UPDATE titres SET lignes_json = '{\"pas\": \"une liste\"}' WHERE numero = 'ENT-2024-0004'")
    findings = _verify(path)
    assert "le titre ENT-2024-0002 a des champs vides (montant_cents) : il a été modifié après son émission" in findings
    assert ("les lignes de liquidation du titre ENT-2024-0004 sont illisibles (JSON invalide) : "
            "son avis ne peut plus être produit") in findings
    assert "le titre ENT-2024-0004 a été modifié après son émission (empreinte différente)" in findings
    with open_ledger(path, readonly=True) as ledger:
        with pytest.raises(LedgerError, match="les lignes de liquidation du titre ENT-2024-0004 sont illisibles"):
            ledger.titres()
        assert len(ledger.titres(lines=False)) == 5


def test_issue_is_refused_on_an_altered_exercice_only(tmp_path):
    path = tmp_path / "l.duckdb"
    _five(path)
    with open_ledger(path) as ledger:
        issue(ledger, [claim("59001", 5_00)], annee=2025, date_emission=date(2025, 3, 1))
    check_chain_before_issue(path, 2024)
    _tamper(path, "UPDATE titres SET montant_cents = 999 WHERE numero = 'ENT-2025-0001'")
    check_chain_before_issue(path, 2024)  # 2025's damage does not block 2024
    with pytest.raises(LedgerError) as err:
        check_chain_before_issue(path, 2025)
    assert str(err.value) == (f"le registre des titres {path} a été altéré pour l'exercice 2025 : le titre "
                              "ENT-2025-0001 a été modifié après son émission (empreinte différente). Aucun titre "
                              "n'a été émis : lancez ent-bill verify pour le détail, puis restaurez la dernière "
                              "sauvegarde (ent-bill sauvegarde)")
    check_chain_before_issue(tmp_path / "absent.duckdb", 2024)  # the first issue creates the ledger


def test_each_issue_is_checkpointed_so_the_file_alone_holds_it(tmp_path):
    path = tmp_path / "l.duckdb"
    with open_ledger(path) as ledger:
        issue(ledger, [claim("59001", 1_00), claim("59002", 2_00)])
        copy = tmp_path / "copie.duckdb"
        copy.write_bytes(path.read_bytes())  # the .duckdb file alone, taken while the ledger is still open
    with open_ledger(copy, readonly=True) as ledger:
        assert [t.numero for t in ledger.titres()] == ["ENT-2024-0001", "ENT-2024-0002"]
        assert ledger.verify() == []


def test_a_block_lost_after_opening_is_a_ledger_error_at_query_time(tmp_path):
    path = tmp_path / "l.duckdb"
    with open_ledger(path) as ledger:
        issue(ledger, [claim(f"59{i:03d}", 1_00 + i) for i in range(400)])
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with open_ledger(path, readonly=True) as ledger:  # the catalog is still readable
        with pytest.raises(LedgerError) as err:
            ledger.verify()
    assert str(err.value) == (f"le registre des titres {path} est endommagé : le fichier est tronqué (une partie "
                              "manque) ; restaurez la dernière sauvegarde (ent-bill sauvegarde), puis lancez "
                              "ent-bill verify")


def test_sauvegarde_is_a_verified_byte_copy_and_never_overwrites(tmp_path):
    path = tmp_path / "l.duckdb"
    _five(path)
    done = backup_ledger(path, now=datetime(2024, 3, 1, 9, 30, 5))
    assert done.path == tmp_path / "sauvegardes" / "ent-bill-20240301-093005.duckdb"
    assert done.path.read_bytes() == path.read_bytes() and done.titres == 5
    again = backup_ledger(path, tmp_path / "sauvegardes", now=datetime(2024, 3, 1, 9, 30, 5))
    assert again.path.name == "ent-bill-20240301-093005-2.duckdb"
    with pytest.raises(LedgerError, match="existe déjà"):
        backup_ledger(path, done.path)
    with pytest.raises(LedgerError, match="existe déjà"):
        backup_ledger(path, path)  # the ledger itself is never a backup's target


# ----- schema ------------------------------------------------------------------------


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "l.duckdb"
    _five(path)
    _tamper(path, f"UPDATE meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'")
    for readonly in (False, True):
        with pytest.raises(LedgerError) as err:
            open_ledger(path, readonly=readonly)
        assert str(err.value) == (f"le registre des titres {path} a été écrit par une version plus récente "
                                  f"d'ent-bill (schéma {SCHEMA_VERSION + 1}, celle-ci lit le schéma "
                                  f"{SCHEMA_VERSION}) ; mettez ent-bill à jour")
        assert isinstance(err.value, UserError)


def test_v0_file_is_migrated_on_open(tmp_path):
    path = tmp_path / "l.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '0')")
    con.close()
    with pytest.raises(LedgerError, match="est au schéma 0 ; il sera mis à jour"):
        open_ledger(path, readonly=True)
    check_chain_before_issue(path, 2024)  # issue's check lets the writing open migrate it
    with open_ledger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        issue(ledger, [claim("59001", 1_00)])
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [(str(SCHEMA_VERSION),)]
    assert con.execute("SELECT numero FROM titres").fetchall() == [("ENT-2024-0001",)]
    con.close()


def test_foreign_files_are_refused_with_a_hint(tmp_path):
    other = tmp_path / "autre.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE clients (id INT)")
    con.close()
    with pytest.raises(LedgerError) as err:
        open_ledger(other)
    assert str(err.value) == (f"le fichier {other} n'est pas un registre des titres d'ent-bill (tables clients) ; "
                              "indiquez le bon fichier avec --ledger")
    missing = tmp_path / "absent.duckdb"
    with pytest.raises(LedgerError, match="n'existe pas : aucun titre n'a encore été émis"):
        open_ledger(missing, readonly=True)
    assert not missing.exists()
    text = tmp_path / "texte.duckdb"
    text.write_text("pas une base")
    with pytest.raises(LedgerError, match="n'est pas un registre des titres d'ent-bill .ce n'est pas une base DuckDB"):
        open_ledger(text)
    assert text.read_text() == "pas une base"


def test_readonly_ledger_cannot_issue(tmp_path):
    path = tmp_path / "l.duckdb"
    _five(path)
    with open_ledger(path, readonly=True) as ledger:
        with pytest.raises(LedgerError, match="ouvert en lecture seule"):
            issue(ledger, [claim("59009", 1)])


# ----- a second process ------------------------------------------------------------------


def _start_holder(path: Path, hold: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(DRIVER), str(path), "--communes", "3", "--cycles", "1",
                             "--hold", str(hold)], env=driver_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "cycle 1 3"  # it holds the ledger from now on
    return proc


def test_second_writer_fails_fast_and_clearly(tmp_path):
    path = tmp_path / "l.duckdb"
    holder = _start_holder(path, hold=30)
    try:
        started = time.monotonic()
        with pytest.raises(LedgerBusy) as err:
            open_ledger(path, wait_seconds=0.3)
        assert 0.3 <= time.monotonic() - started < 3
        assert str(err.value) == (f"le registre des titres {path} est utilisé par un autre traitement "
                                  "(ent-bill issue en cours ?) ; réessayez quand il sera terminé")
    finally:
        holder.kill()
        holder.wait()
    with open_ledger(path) as ledger:
        assert [t.numero for t in ledger.titres()] == ["ENT-2024-0001", "ENT-2024-0002", "ENT-2024-0003"]


def test_a_file_another_process_is_creating_is_waited_for_not_called_empty(tmp_path):
    """Two first issues at once: the second sees 0 bytes under the first one's lock, not a truncated ledger."""
    path = tmp_path / "l.duckdb"
    path.write_bytes(b"")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time\n"
                               "f = open(sys.argv[1], 'r+b')\nfcntl.lockf(f, fcntl.LOCK_EX)\n"
                               "print('tenu', flush=True)\ntime.sleep(30)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "tenu"
        with pytest.raises(LedgerBusy):
            open_ledger(path, wait_seconds=0.3)
    finally:
        holder.kill()
        holder.wait()
    with pytest.raises(LedgerError, match="est vide"):  # nobody holds it: an emptied ledger
        open_ledger(path)


def test_second_writer_waits_for_the_first_to_finish(tmp_path):
    path = tmp_path / "l.duckdb"
    holder = _start_holder(path, hold=0.5)
    with open_ledger(path, wait_seconds=10) as ledger:
        assert holder.wait(timeout=5) == 0
        assert len(ledger.titres()) == 3


@pytest.mark.parametrize("wait", [0.0, 15.0])
def test_two_drivers_at_once_never_number_the_same_claims_twice(tmp_path, wait):
    path = tmp_path / "l.duckdb"
    command = [sys.executable, str(DRIVER), str(path), "--communes", "50", "--cycles", "1", "--fixed",
               "--hold", "0.3", "--wait", str(wait)]
    procs = [subprocess.Popen(command, env=driver_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in procs]
    for proc in procs:
        proc.stdout.close()
        proc.stderr.close()
    codes = sorted(code for code, _, _ in results)
    outputs = sorted(out for _, out, _ in results)
    if wait == 0.0:
        # both may start before the other holds the lock; whoever loses fails with the message, or waits none
        assert codes in ([0, 3], [0, 0]), results
        if codes == [0, 3]:
            assert "est utilisé par un autre traitement" in next(err for c, _, err in results if c == 3)
    else:
        assert codes == [0, 0], results
        assert outputs == ["cycle 1 0\n", "cycle 1 50\n"]
    with open_ledger(path) as ledger:
        titres = ledger.titres()
        assert [t.seq for t in titres] == list(range(1, 51))
        assert len({t.code_insee for t in titres}) == 50
        assert len(ledger.runs()) == 1
        assert ledger.verify() == []


# ----- property: any history of changes keeps the ledger consistent -------------------------


amounts = st.one_of(st.none(), st.just(0), st.integers(min_value=1, max_value=5_000_00))
cycles = st.lists(st.fixed_dictionaries({code: amounts for code in ("59001", "59002", "59003", "59004")}),
                  min_size=1, max_size=6)


@pytest.mark.slow  # ~2.5 s: 40 random histories against a real ledger
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=cycles)
def test_random_histories_keep_net_equal_to_latest_claim(history):
    with tempfile.TemporaryDirectory() as folder, open_ledger(Path(folder) / "l.duckdb") as ledger:
        for step, owed in enumerate(history, start=1):
            claims = [claim(code, cents) for code, cents in owed.items() if cents is not None]
            issue(ledger, claims, date_emission=date(2024, 1, step))
            titres = ledger.titres(2024)
            net = net_by_commune(titres)
            expected = {code: cents or 0 for code, cents in owed.items()}
            assert {code: net.get(code, 0) for code in expected} == expected
            assert ledger.net_by_commune(2024) == {code: value for code, value in net.items()}
            assert [t.seq for t in titres] == list(range(1, len(titres) + 1))
            assert all(t.montant_cents > 0 for t in titres)
            assert ledger.verify() == []
            assert plan_titres(claims, titres) == []  # same inputs again: nothing to issue


@pytest.mark.slow  # ~10 s: waits on a ledger held by another process
def test_compute_drafts_while_an_issue_holds_the_ledger(tmp_path):
    """Drafts never need the ledger: a busy one only skips the comparison, and says so."""
    import shutil

    from click.testing import CliRunner

    from billing.cli import main

    path = tmp_path / "l.duckdb"
    shutil.copytree(Path(__file__).resolve().parents[1] / "inputs", tmp_path / "inputs")
    holder = _start_holder(path, hold=60)
    try:
        result = CliRunner().invoke(main, ["--inputs", str(tmp_path / "inputs"), "--out", str(tmp_path / "out"),
                                           "--ledger", str(path), "compute", "2024"], catch_exceptions=False)
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 0, result.output
    assert "comparaison avec les titres déjà émis impossible" in result.output
    assert "est utilisé par un autre traitement" in result.output
    assert len(list((tmp_path / "out" / "avis").glob("PROJET_*.xlsx"))) == 70
