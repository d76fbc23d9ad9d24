"""A ledger or an output folder that works against us: every command refuses in French, writes nothing.

Each case runs the real command in its own process (``python -m billing.cli``) on a copy
of the bundled inputs and of a ledger issued once from them, damaged the way files get
damaged: truncated by a full disk or a half-finished copy, emptied, replaced by another
file, edited by hand with SQL, held by another process, written by a newer version.
Each asserts exit code 1, no traceback, a message naming the culprit and what to do,
and that not one byte changed anywhere in the working folder (inputs, ledger, output).
Each process's wall time and peak memory (``wait4``) are kept and bounded.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import pytest
from click.testing import CliRunner

from billing.cli import main

# Each case runs the real command in a subprocess (about 45 s in all): the full suite, not the quick loop.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
MAX_SECONDS = 5.0
MAX_MB = 300.0
MEASURED: list[tuple[str, float, float, bool]] = []  # (case, seconds, peak MB, handled)


# ----- building blocks --------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_ledger(tmp_path_factory) -> bytes:
    """The ledger of the bundled sample issued once (ENT-2024-0001 … 0070), as bytes."""
    work = tmp_path_factory.mktemp("bon")
    shutil.copytree(ROOT / "inputs", work / "inputs")
    result = CliRunner().invoke(main, ["--inputs", str(work / "inputs"), "--out", str(work / "out"),
                                       "--ledger", str(work / "ent-bill.duckdb"), "issue", "2024"])
    assert result.exit_code == 0, result.output
    assert not (work / "ent-bill.duckdb.wal").exists()  # CHECKPOINT after the commit: the file alone is complete
    return (work / "ent-bill.duckdb").read_bytes()


@pytest.fixture(scope="module", autouse=True)
def report_measures():
    yield
    if MEASURED:
        slowest = max(MEASURED, key=lambda m: m[1])
        largest = max(MEASURED, key=lambda m: m[2])
        handled = sum(1 for m in MEASURED if m[3])
        print(f"\n[registre hostile] {handled}/{len(MEASURED)} cas traités ; le plus lent {slowest[0]} "
              f"{slowest[1]:.2f} s ; le plus gros {largest[0]} {largest[2]:.0f} Mo")
        for name, seconds, mb, ok in sorted(MEASURED):
            print(f"  {'ok ' if ok else 'KO '} {name:<40} {seconds:5.2f} s {mb:6.0f} Mo")


@pytest.fixture()
def work(tmp_path, good_ledger) -> Path:
    shutil.copytree(ROOT / "inputs", tmp_path / "inputs")
    (tmp_path / "ent-bill.duckdb").write_bytes(good_ledger)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "deja-la.txt").write_text("écrit avant\n", encoding="utf-8")
    return tmp_path


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``folder``: its bytes (None for a folder)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        found[key] = None if path.is_dir() else path.read_bytes()
    return found


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


# The command run by a wrapper that writes its peak resident memory (VmHWM, in kB) at exit: wait4's
# ru_maxrss would count the pytest process the child was forked from.
_WRAPPER = """
import atexit, runpy, sys
def _peak(path=sys.argv[1]):
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                with open(path, 'w') as out:
                    out.write(line.split()[1])
atexit.register(_peak)
sys.argv = ['ent-bill'] + sys.argv[2:]
runpy.run_module('billing.cli', run_name='__main__', alter_sys=True)
"""


def ent_bill(work: Path, *args: str, out: str | None = None, ledger: Path | None = None) -> Run:
    """Run the command in a fresh process, measuring its wall time and its own peak memory."""
    peak = work.parent / f"{work.name}.peak"
    command = [sys.executable, "-c", _WRAPPER, str(peak), "--inputs", str(work / "inputs"),
               "--out", str(work / "out") if out is None else out,
               "--ledger", str(ledger or work / "ent-bill.duckdb"), *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=work, env=env, timeout=60)
    seconds = time.monotonic() - started
    peak_mb = int(peak.read_text()) / 1024 if peak.exists() else float("inf")
    return Run(done.returncode, done.stdout, done.stderr, seconds, peak_mb)


@dataclass
class Case:
    name: str
    args: tuple[str, ...]
    expected: tuple[str, ...]  # fragments the message must hold (the culprit, what to do)
    damage: Callable[[Path], None] = lambda work: None
    out: Callable[[Path], str] | None = None
    names_ledger: bool = True
    extra: dict = field(default_factory=dict)


def sql(*statements: str) -> Callable[[Path], None]:
    def damage(work: Path) -> None:
        con = duckdb.connect(str(work / "ent-bill.duckdb"))
        for statement in statements:
            con.execute(statement)
        con.execute("CHECKPOINT")
        con.close()
    return damage


def truncate(size: int | float) -> Callable[[Path], None]:
    def damage(work: Path) -> None:
        path = work / "ent-bill.duckdb"
        data = path.read_bytes()
        path.write_bytes(data[:int(size if isinstance(size, int) else len(data) * size)])
    return damage


def replace_with(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def damage(work: Path) -> None:
        (work / "ent-bill.duckdb").unlink()
        make(work / "ent-bill.duckdb")
    return damage


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(13).randbytes(300_000))


def _sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE titres (numero TEXT, montant REAL)")
    con.execute("INSERT INTO titres VALUES ('ENT-2024-0001', 12.5)")
    con.commit()
    con.close()


def _foreign_duckdb(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE clients (id INTEGER, nom TEXT)")
    con.execute("INSERT INTO clients VALUES (1, 'Durand')")
    con.close()


RESTORE = "restaurez la dernière sauvegarde (ent-bill sauvegarde)"
TRUNCATED = ("est endommagé", "tronqué", RESTORE, "lancez ent-bill verify")

LEDGER_CASES = [
    Case("tronqué à 100 octets / issue", ("issue", "2024"), TRUNCATED, truncate(100)),
    Case("tronqué à 8000 octets / verify", ("verify",), TRUNCATED, truncate(8000)),
    Case("tronqué après les en-têtes / titres", ("titres", "2024"), TRUNCATED, truncate(12288)),
    Case("tronqué après un bloc / issue --dry-run", ("issue", "2024", "--dry-run"), TRUNCATED,
         truncate(12288 + 262144)),
    Case("tronqué à moitié / reconcile", ("reconcile", "2024"), TRUNCATED, truncate(0.5)),
    Case("tronqué à moitié / issue", ("issue", "2024"), TRUNCATED, truncate(0.5)),
    Case("tronqué à moitié / sauvegarde", ("sauvegarde",), TRUNCATED, truncate(0.5)),
    Case("vide (0 octet) / issue", ("issue", "2024"), ("est vide (0 octet)", RESTORE), truncate(0)),
    Case("octets aléatoires / verify", ("verify",), ("n'est pas un registre des titres", "--ledger", RESTORE),
         replace_with(_random_bytes)),
    Case("base SQLite / issue", ("issue", "2024"), ("est une base SQLite", "--ledger"), replace_with(_sqlite)),
    Case("fichier texte / titres", ("titres", "2024"), ("n'est pas un registre des titres", "pas une base DuckDB"),
         replace_with(lambda p: p.write_text("numero;montant\nENT-2024-0001;12,50\n", encoding="utf-8"))),
    Case("DuckDB d'une autre application / issue", ("issue", "2024"),
         ("n'est pas un registre des titres d'ent-bill (tables clients)", "--ledger"), replace_with(_foreign_duckdb)),
    Case("table titres supprimée / verify", ("verify",), ("la table « titres » a disparu", RESTORE),
         sql("DROP TABLE titres")),
    Case("table runs supprimée / issue", ("issue", "2024"), ("la table « runs » a disparu", RESTORE),
         sql("DROP TABLE runs")),
    Case("table meta supprimée / titres", ("titres", "2024"), ("la table « meta »", RESTORE),
         sql("DROP TABLE meta")),
    Case("colonne hash supprimée / verify", ("verify",), ("a perdu des colonnes (hash)",),
         sql("ALTER TABLE titres DROP COLUMN hash")),
    Case("montant retypé en texte / verify", ("verify",), ("montant_cents de type VARCHAR au lieu de BIGINT",),
         sql("ALTER TABLE titres ALTER COLUMN montant_cents TYPE VARCHAR")),
    Case("lignes JSON illisibles / verify", ("verify",), ("ENT-2024-0007", "JSON invalide"),
         sql("UPDATE titres SET lignes_json = '[{\"libelle\": ' WHERE numero = 'ENT-2024-0007'")),
    Case("lignes JSON illisibles / issue", ("issue", "2024"), ("ENT-2024-0007", "JSON invalide", "ent-bill verify"),
         sql("UPDATE titres SET lignes_json = 'pas du json' WHERE numero = 'ENT-2024-0007'")),
    Case("empreinte NULL / verify", ("verify",), ("ENT-2024-0003", "champs vides (hash)"),
         sql("ALTER TABLE titres ALTER COLUMN hash DROP NOT NULL",
             "UPDATE titres SET hash = NULL WHERE numero = 'ENT-2024-0003'")),
    Case("empreinte NULL / issue", ("issue", "2024"), ("ENT-2024-0003", "champs vides (hash)", "ent-bill verify"),
         sql("ALTER TABLE titres ALTER COLUMN hash DROP NOT NULL",
             "UPDATE titres SET hash = NULL WHERE numero = 'ENT-2024-0003'")),
    Case("schéma 99 / issue", ("issue", "2024"), ("version plus récente d'ent-bill (schéma 99", "mettez ent-bill à jour"),
         sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'")),
    Case("schéma 99 / verify", ("verify",), ("schéma 99",),
         sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'")),
    Case("montant falsifié puis issue", ("issue", "2024"),
         ("altéré pour l'exercice 2024", "ENT-2024-0005 a été modifié", "Aucun titre n'a été émis", "ent-bill verify"),
         sql("UPDATE titres SET montant_cents = montant_cents + 100000 WHERE numero = 'ENT-2024-0005'")),
    Case("montant falsifié puis issue --dry-run", ("issue", "2024", "--dry-run"),
         ("ENT-2024-0005 a été modifié", "ent-bill verify"),
         sql("UPDATE titres SET montant_cents = montant_cents + 100000 WHERE numero = 'ENT-2024-0005'")),
    Case("titre supprimé puis issue", ("issue", "2024"), ("ENT-2024-0010 manque", "ent-bill verify"),
         sql("DELETE FROM titres WHERE numero = 'ENT-2024-0010'")),
    Case("dernier titre supprimé puis issue", ("issue", "2024"), ("ENT-2024-0070 manque", "ent-bill verify"),
         sql("DELETE FROM titres WHERE numero = 'ENT-2024-0070'")),
    Case("titre supprimé / verify", ("verify",), ("ENT-2024-0010 manque",),
         sql("DELETE FROM titres WHERE numero = 'ENT-2024-0010'")),
    Case("registre absent / verify", ("verify",), ("n'existe pas", "--ledger"),
         lambda work: (work / "ent-bill.duckdb").unlink()),
    Case("registre absent / titres", ("titres", "2024"), ("n'existe pas",),
         lambda work: (work / "ent-bill.duckdb").unlink()),
    Case("registre est un dossier / issue", ("issue", "2024"), ("est un dossier, pas un fichier", "--ledger"),
         lambda work: ((work / "ent-bill.duckdb").unlink(), (work / "ent-bill.duckdb").mkdir())),
]


def check_refused(work: Path, case: Case, run_case: Callable[[], Run], culprit: str) -> Run:
    """Run, then assert: exit 1, no traceback, the culprit and the advice named, nothing written."""
    before = snapshot(work)
    result = run_case()
    after = snapshot(work)
    handled = (result.code == 1 and "Traceback" not in result.output and culprit in result.stderr
               and all(fragment in result.stderr for fragment in case.expected) and after == before)
    MEASURED.append((case.name, result.seconds, result.peak_mb, handled))
    assert result.code == 1, result.output
    assert "Traceback" not in result.output, result.output
    assert culprit in result.stderr, result.stderr
    for fragment in case.expected:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert after.keys() == before.keys(), set(after) ^ set(before)
    assert after == before, [k for k in after if after[k] != before[k]]
    assert result.seconds < MAX_SECONDS and result.peak_mb < MAX_MB, (result.seconds, result.peak_mb)
    return result


@pytest.mark.parametrize("case", LEDGER_CASES, ids=[c.name for c in LEDGER_CASES])
def test_a_damaged_ledger_is_refused_by_name_and_nothing_is_written(work, case):
    case.damage(work)
    ledger = work / "ent-bill.duckdb"
    check_refused(work, case, lambda: ent_bill(work, *case.args), str(ledger))


def test_a_ledger_locked_by_another_process_is_refused_after_a_short_wait(work):
    ledger = work / "ent-bill.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time\n"
                               "con = duckdb.connect(sys.argv[1])\nprint('tenu', flush=True)\ntime.sleep(60)",
                               str(ledger)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "tenu"
        case = Case("verrouillé par un autre processus / issue", ("issue", "2024"),
                    ("est utilisé par un autre traitement", "réessayez"))
        check_refused(work, case, lambda: ent_bill(work, "issue", "2024"), str(ledger))
    finally:
        holder.kill()
        holder.wait()


# ----- the output folder -------------------------------------------------------------------


def _ro_mount(work: Path) -> str:
    source, target = work / "ro-source", work / "ro"
    source.mkdir()
    target.mkdir()
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("montage en lecture seule impossible ici (il faut être root)")
    return str(target)


OUT_CASES = [
    Case("--out vide / issue", ("issue", "2024"), ("le dossier de sortie est vide", "variable non définie"),
         out=lambda work: ""),
    Case("--out vide / compute", ("compute", "2024"), ("le dossier de sortie est vide",), out=lambda work: ""),
    Case("--out est un fichier / compute", ("compute", "2024"), ("désigne un fichier existant",),
         out=lambda work: str(work / "out" / "deja-la.txt")),
    Case("--out sous un fichier / issue", ("issue", "2024"), ("ne peut pas être créé", "est un fichier"),
         out=lambda work: str(work / "out" / "deja-la.txt" / "2024")),
    Case("--out = inputs / compute", ("compute", "2024"), ("le dossier des données",),
         out=lambda work: str(work / "inputs")),
    Case("--out dans inputs / issue", ("issue", "2024"), ("le dossier des données",),
         out=lambda work: str(work / "inputs" / "sorties")),
    Case("--out en lecture seule / issue", ("issue", "2024"), ("n'est pas accessible en écriture",),
         out=_ro_mount),
    Case("--out non créable en lecture seule / compute", ("compute", "2024"), ("ne peut pas être créé",),
         out=lambda work: str(Path(_ro_mount(work)) / "2024")),
]


@pytest.mark.parametrize("case", OUT_CASES, ids=[c.name for c in OUT_CASES])
def test_a_bad_output_folder_is_refused_before_anything_is_numbered(work, case):
    out = case.out(work)
    try:
        culprit = out if out else "--out"
        check_refused(work, case, lambda: ent_bill(work, *case.args, out=out), culprit)
    finally:
        if case.out is _ro_mount or "lecture seule" in case.name:
            subprocess.run(["umount", str(work / "ro")], capture_output=True)


# ----- after the commit, and the commands that keep working --------------------------------


def test_rendering_that_fails_after_the_commit_says_the_titres_exist_and_how_to_finish(work):
    (work / "ent-bill.duckdb").unlink()  # a first issue: 70 titres to number, commit, then render
    (work / "out" / "titres_2024.csv").mkdir()  # a folder where the CSV must go: the rename fails
    result = ent_bill(work, "issue", "2024")
    MEASURED.append(("rendu impossible après validation", result.seconds, result.peak_mb,
                     result.code == 1 and "Traceback" not in result.output))
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert "70 titres émis et enregistrés ; avis non écrits : " in result.stderr
    assert "relancez `ent-bill issue` pour les écrire" in result.stderr
    con = duckdb.connect(str(work / "ent-bill.duckdb"), read_only=True)
    assert con.execute("SELECT count(*), max(numero) FROM titres").fetchone() == (70, "ENT-2024-0070")
    con.close()
    (work / "out" / "titres_2024.csv").rmdir()
    again = ent_bill(work, "issue", "2024")
    assert again.code == 0, again.output
    assert "Rien à émettre" in again.stdout
    assert len(list((work / "out" / "avis").glob("ENT-2024-*.xlsx"))) == 70
    assert result.seconds < MAX_SECONDS and result.peak_mb < MAX_MB, (result.seconds, result.peak_mb)
    with open(work / "out" / "titres_2024.csv", encoding="utf-8") as stream:
        assert sum(1 for _ in stream) == 71


def test_compute_refuses_a_truncated_ledger_and_writes_nothing(work):
    """A damaged ledger is named, never built upon: drafts of corrections would be planned against it."""
    truncate(0.5)(work)
    ledger_bytes = (work / "ent-bill.duckdb").read_bytes()
    result = ent_bill(work, "compute", "2024")
    MEASURED.append(("registre tronqué / compute", result.seconds, result.peak_mb,
                     result.code == 1 and "Traceback" not in result.output))
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert str(work / "ent-bill.duckdb") in result.output and "tronqué" in result.output
    assert (work / "ent-bill.duckdb").read_bytes() == ledger_bytes
    assert sorted(p.name for p in (work / "out").rglob("*")) == ["deja-la.txt"]
    assert result.seconds < MAX_SECONDS and result.peak_mb < MAX_MB, (result.seconds, result.peak_mb)


def test_compute_refuses_an_altered_ledger(work):
    import duckdb

    with duckdb.connect(str(work / "ent-bill.duckdb")) as con:
        con.execute("UPDATE titres SET montant_cents = montant_cents + 100 WHERE seq = 5")
    result = ent_bill(work, "compute", "2024")
    assert result.code == 1, result.output
    assert "a été altéré" in result.output and "ENT-2024-0005" in result.output and "Traceback" not in result.output
    assert not (work / "out" / "contributions_2024.csv").exists()


def test_sauvegarde_copies_a_ledger_that_reopens_and_verifies(work, good_ledger):
    result = ent_bill(work, "sauvegarde")
    assert result.code == 0, result.output
    copies = list((work / "sauvegardes").glob("ent-bill-*.duckdb"))
    assert len(copies) == 1 and copies[0].name[9:24].replace("-", "").isdigit()
    assert copies[0].read_bytes() == good_ledger
    assert "70 titre(s)" in result.stdout and str(copies[0].name) in result.stdout
    assert list((work / "sauvegardes").glob(".*")) == []  # no temporary file left behind
    verify = ent_bill(work, "verify", ledger=copies[0])
    assert verify.code == 0 and "Registre intact : 70 titre(s)" in verify.stdout
    named = ent_bill(work, "sauvegarde", str(work / "cle.duckdb"))
    assert named.code == 0 and (work / "cle.duckdb").read_bytes() == good_ledger
    twice = ent_bill(work, "sauvegarde", str(work / "cle.duckdb"))
    assert twice.code == 1 and "existe déjà" in twice.stderr


def test_sauvegarde_of_an_altered_ledger_keeps_no_copy(work):
    sql("UPDATE titres SET montant_cents = 1 WHERE numero = 'ENT-2024-0005'")(work)
    result = ent_bill(work, "sauvegarde", str(work / "copie.duckdb"))
    assert result.code == 1 and "Traceback" not in result.output
    assert "ENT-2024-0005 a été modifié" in result.stderr and "aucune sauvegarde n'a été gardée" in result.stderr
    assert not (work / "copie.duckdb").exists()
