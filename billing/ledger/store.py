"""The ledger of issued titres de recettes: an embedded DuckDB file (DESIGN §5).

French public accounting wants one uninterrupted series of numbers per exercice and a
titre that, once issued, is never modified: a change is a new titre (complémentaire) or a
réduction/annulation citing the original. So this module only ever appends:

- numbers are ``<prefixe>-<exercice>-<seq:04d>``, ``seq`` = max + 1 read *inside* the
  committing transaction (a DuckDB sequence does not roll back and would leave gaps);
  one ``issue`` is one transaction: a run killed at any point leaves all or nothing;
- each row carries ``hash`` = SHA-256 of the canonical JSON of its fields and of
  ``prev_hash``, the hash of the previous titre *of the same exercice* (``GENESIS`` for
  ``seq`` 1): one chain per exercice, so ``verify`` proves nothing was altered, inserted
  or deleted in the middle; each run also records the last number and hash it issued,
  which catches a titre deleted at the end of the series;
- DuckDB allows one writing process: a second ``issue`` waits a few seconds, then fails
  with ``LedgerBusy``; neither corrupts the file.

There is deliberately no delete API: titres are kept at least 10 years.
"""

from __future__ import annotations

import getpass
import platform
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import duckdb
import pyarrow as pa

from billing.core.corrections import Claim, IssuedTitre, PlannedTitre, plan_titres, remaining_by_titre
from billing.core.natures import CREDITS, DEBITS, NATURES, signed
from billing.core.money import format_euros
from billing.ledger import bordereaux as _bordereaux
from billing.ledger import guard
from billing.ledger.bordereaux import Bordereau
from billing.ledger.chain import (GENESIS, TITRE_FIELDS, canonical_json, decode_lines, format_numero, titre_hash,
                                  verify_rows)
from billing.ledger.guard import RESTORE, VERIFY, LedgerBusy, LedgerError, LedgerOutdated, damaged

__all__ = ["GENESIS", "SCHEMA_VERSION", "TITRE_FIELDS", "IssuedTitre", "Ledger", "LedgerBusy", "LedgerError",
           "RunInfo", "canonical_json", "check_chain_before_issue", "format_numero", "open_ledger", "titre_hash"]

SCHEMA_VERSION = 4

# ----- values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    """Who issued, when, with which program and inputs (the ``runs`` table)."""

    run_id: str
    annee: int
    started_at: datetime  # UTC, naive
    utilisateur: str
    machine: str
    version: str
    input_hashes: tuple[tuple[str, str], ...] = ()  # (file name, sha256)

    @classmethod
    def new(cls, annee: int, *, version: str, input_hashes: Sequence = ()) -> "RunInfo":
        """A run started now by this user on this machine; ``input_hashes``: InputHash or pairs."""
        pairs = tuple((h.name, h.sha256) if hasattr(h, "sha256") else (str(h[0]), str(h[1])) for h in input_hashes)
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no login name (container, service account)
            user = "inconnu"
        return cls(uuid.uuid4().hex, annee, datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0),
                   user, platform.node() or "inconnue", version, pairs)


# ----- schema and migrations ----------------------------------------------------------


def _v0_to_v1(con: duckdb.DuckDBPyConnection) -> None:
    """The first schema: runs and titres."""
    con.execute("""
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, annee INTEGER NOT NULL, started_at TIMESTAMP NOT NULL,
            utilisateur TEXT, machine TEXT, version TEXT, input_hashes_json TEXT,
            prefixe TEXT, premier_seq INTEGER, dernier_seq INTEGER, dernier_hash TEXT)""")
    con.execute("""
        CREATE TABLE titres (
            numero TEXT PRIMARY KEY, exercice INTEGER NOT NULL, seq INTEGER NOT NULL,
            code_insee TEXT NOT NULL, commune TEXT NOT NULL, nature TEXT NOT NULL, origine_numero TEXT,
            montant_cents BIGINT NOT NULL, date_emission DATE NOT NULL, date_echeance DATE,
            run_id TEXT NOT NULL, deliberation TEXT, objet TEXT, imputation TEXT,
            lignes_json TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
            UNIQUE (exercice, seq))""")


def _v1_to_v2(con: duckdb.DuckDBPyConnection) -> None:
    """Bordereaux (DESIGN §6c): the table, and the runs already issued numbered in the order they were issued."""
    _bordereaux.create_table(con)
    _bordereaux.backfill(con)


def _v2_to_v3(con: duckdb.DuckDBPyConnection) -> None:
    """The debtor's SIRET as issued, per titre: what was issued must come from the ledger, not from today's
    inputs (a commune removed from adhesions.csv keeps its SIRET on its annulation). Titres issued before
    this schema have no row; their notices fall back on the titres CSV written then."""
    con.execute("CREATE TABLE debiteurs (numero TEXT PRIMARY KEY, code_insee TEXT NOT NULL, siret TEXT)")


def _v3_to_v4(con: duckdb.DuckDBPyConnection) -> None:
    """The members each titre is for, with their part (DESIGN §4c: one titre per debtor, who may pay for
    several members), in the titre's own direction; the parts of a titre add up to its amount. A titre
    issued before this schema was for its own commune alone."""
    con.execute("CREATE TABLE membres (numero TEXT NOT NULL, code_insee TEXT NOT NULL, montant_cents BIGINT NOT NULL, "
                "PRIMARY KEY (numero, code_insee))")
    con.execute("INSERT INTO membres SELECT numero, code_insee, montant_cents FROM titres")


# MIGRATIONS[i] brings a ledger from schema i to schema i + 1; append, never edit.
MIGRATIONS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = (_v0_to_v1, _v1_to_v2, _v2_to_v3, _v3_to_v4)
assert len(MIGRATIONS) == SCHEMA_VERSION


_TABLES = {
    "runs": ("run_id", "annee", "started_at", "utilisateur", "machine", "version", "input_hashes_json", "prefixe",
             "premier_seq", "dernier_seq", "dernier_hash"),
    "titres": TITRE_FIELDS,
    "bordereaux": _bordereaux.FIELDS,
    "debiteurs": ("numero", "code_insee", "siret"),
    "membres": ("numero", "code_insee", "montant_cents"),
}


def _read_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    tables = {row[0] for row in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    ours = tables & set(_TABLES)
    if "meta" not in tables:
        if ours:  # our tables without their version: damaged, not foreign
            raise damaged(path, "la table « meta » (version du schéma) a disparu")
        if tables:
            raise LedgerError(f"le fichier {path} n'est pas un registre des titres d'ent-bill "
                              f"(tables {', '.join(sorted(tables))}) ; indiquez le bon fichier avec --ledger")
        return 0
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        if ours:
            raise damaged(path, "la version du schéma a disparu de la table « meta »")
        return 0
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise damaged(path, f"la version du schéma « {row[0]} » est illisible") from None


# Columns whose type the checks compute with: a column retyped by hand would make them fail.
_TYPES = {("titres", "exercice"): "INTEGER", ("titres", "seq"): "INTEGER", ("titres", "montant_cents"): "BIGINT",
          ("titres", "date_emission"): "DATE", ("titres", "date_echeance"): "DATE", ("runs", "annee"): "INTEGER",
          ("runs", "started_at"): "TIMESTAMP", ("runs", "dernier_seq"): "INTEGER"}


def _check_tables(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """The tables of this schema are all there with all their columns, typed as created (a hand edit may not)."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for table, column, kind in con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                                           "WHERE table_schema = 'main'").fetchall():
        found[table][column] = kind
    for table, columns in _TABLES.items():
        if table not in found:
            raise damaged(path, f"la table « {table} » a disparu")
        missing = [name for name in columns if name not in found[table]]
        if missing:
            raise damaged(path, f"la table « {table} » a perdu des colonnes ({', '.join(missing)})")
        retyped = [f"{name} de type {found[table][name]} au lieu de {kind}" for (owner, name), kind in _TYPES.items()
                   if owner == table and found[table][name] != kind]
        if retyped:
            raise damaged(path, f"la table « {table} » a été modifiée ({', '.join(retyped)})")


def _migrate(con: duckdb.DuckDBPyConnection, path: Path, *, readonly: bool) -> int:
    version = _read_version(con, path)
    if version > SCHEMA_VERSION:
        raise LedgerError(f"le registre des titres {path} a été écrit par une version plus récente d'ent-bill "
                          f"(schéma {version}, celle-ci lit le schéma {SCHEMA_VERSION}) ; mettez ent-bill à jour")
    if version == SCHEMA_VERSION:
        _check_tables(con, path)
        return version
    if readonly:
        raise LedgerOutdated(f"le registre des titres {path} est au schéma {version} ; il sera mis à jour "
                             f"(schéma {SCHEMA_VERSION}) à la prochaine émission (ent-bill issue)")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for step in MIGRATIONS[version:]:
            step(con)
        con.execute("DELETE FROM meta WHERE key = 'schema_version'")
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    con.execute("CHECKPOINT")
    return SCHEMA_VERSION


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back; a connection DuckDB has already invalidated has nothing left to undo."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


# ----- opening --------------------------------------------------------------------------


def open_ledger(path: Path | str, *, readonly: bool = False, wait_seconds: float = 2.0) -> "Ledger":
    """Open (create, migrate) the ledger; use as a context manager.

    A second process gets DuckDB's lock error: retry with short sleeps for ``wait_seconds``,
    then ``LedgerBusy``. ``readonly`` never creates nor migrates the file. Whatever is
    wrong with the file (see ``guard``) is a ``LedgerError`` naming it, never a DuckDB error.
    """
    path = Path(path)
    try:
        guard.precheck_file(path, readonly=readonly)
    except LedgerError:
        if not (guard.could_be_in_creation(path) and _held_by_another(path)):
            raise
        # else another process is creating it this very moment (0 bytes so far): wait for it below
    deadline = time.monotonic() + max(wait_seconds, 0.0)
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=readonly)
            break
        except duckdb.Error as exc:
            if not guard.is_lock_error(exc):
                raise guard.translate(exc, path) from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise guard.busy(path) from None
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.2)
    try:
        version = guard.run(path, lambda: _migrate(con, path, readonly=readonly))
    except LedgerOutdated:
        _close_quietly(con)
        if _read_only_version(path) < 1:
            raise  # schema 0 holds no titres: nothing to read until issue creates them
        # titres written by an older ent-bill: bring the file up to date once (additive, all or nothing),
        # so that reading commands keep working after an upgrade without waiting for the next issue
        open_ledger(path, wait_seconds=wait_seconds).close()
        return open_ledger(path, readonly=True, wait_seconds=wait_seconds)
    except BaseException:
        _close_quietly(con)
        raise
    return Ledger(con, path, readonly=readonly, schema_version=version)


def _read_only_version(path: Path) -> int:
    def read() -> int:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return _read_version(con, path)
        finally:
            con.close()
    return guard.run(path, read)


def _held_by_another(path: Path) -> bool:
    """Whether another process holds DuckDB's lock on ``path`` (a read-only probe writes nothing)."""
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.Error as exc:
        return guard.is_lock_error(exc)
    return False


def _close_quietly(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.close()
    except duckdb.Error:
        pass


def check_chain_before_issue(path: Path | str, annee: int) -> None:
    """Refuse to plan against an exercice whose titres were altered, deleted or reordered.

    Planning reads the amounts already titled: against a forged amount it would issue a
    correction of the forgery. Called before anything is computed or numbered; a missing
    ledger has nothing to check (the first ``issue`` creates it).
    """
    path = Path(path)
    if not path.exists():
        return
    try:
        with open_ledger(path, readonly=True) as ledger:
            findings = ledger.verify(annee)
    except LedgerOutdated:
        return  # schema 0 holds no titres (a read-only open migrates any later one); issue's open migrates it
    if findings:
        shown = " ; ".join(findings[:5]) + (f" ; et {len(findings) - 5} autre(s)" if len(findings) > 5 else "")
        raise LedgerError(f"le registre des titres {path} a été altéré pour l'exercice {annee} : {shown}. "
                          f"Aucun titre n'a été émis : {VERIFY} pour le détail, puis {RESTORE}")


_SELECT = f"SELECT {', '.join(TITRE_FIELDS)} FROM titres"


def _row_dict(row: tuple) -> dict:
    return dict(zip(TITRE_FIELDS, row))


def _to_issued(row: dict, path: Path, *, decode: bool = True) -> IssuedTitre:
    fields = {name: row[name] for name in TITRE_FIELDS if name != "lignes_json"}
    lines = decode_lines(row["lignes_json"]) if decode else ()
    if lines is None:
        raise damaged(path, f"les lignes de liquidation du titre {row['numero']} sont illisibles (JSON invalide)")
    return IssuedTitre(**fields, lines=lines)


_ARROW_SCHEMA = pa.schema([
    ("numero", pa.string()), ("exercice", pa.int32()), ("seq", pa.int32()), ("code_insee", pa.string()),
    ("commune", pa.string()), ("nature", pa.string()), ("origine_numero", pa.string()),
    ("montant_cents", pa.int64()), ("date_emission", pa.date32()), ("date_echeance", pa.date32()),
    ("run_id", pa.string()), ("deliberation", pa.string()), ("objet", pa.string()), ("imputation", pa.string()),
    ("lignes_json", pa.string()), ("prev_hash", pa.string()), ("hash", pa.string()),
])


_HEAD_FIELDS = ("numero", "exercice", "seq", "code_insee", "commune", "nature", "origine_numero", "montant_cents",
                "date_emission", "hash")


@dataclass(frozen=True)
class _Head:
    """The fields of an issued titre that planning and numbering read."""

    numero: str
    exercice: int
    seq: int
    code_insee: str
    commune: str
    nature: str
    origine_numero: str | None
    montant_cents: int
    date_emission: date
    hash: str

    @property
    def signed_cents(self) -> int:
        return signed(self.nature, self.montant_cents)


class Ledger:
    """An open ledger. Append-only: ``issue`` adds titres; nothing updates or deletes them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, *, readonly: bool, schema_version: int):
        self._con = con
        self.path = path
        self.readonly = readonly
        self.schema_version = schema_version

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        _close_quietly(self._con)

    def checkpoint(self) -> None:
        """Fold the .wal into the .duckdb file, which alone is then complete (before a copy)."""
        guard.run(self.path, lambda: self._con.execute("CHECKPOINT"))

    def _query(self, sql: str, params: list | None = None) -> list[tuple]:
        """Every read goes through here: a damaged block surfaces at query time, as a ``LedgerError``."""
        return guard.run(self.path, lambda: self._con.execute(sql, params or []).fetchall())

    # --- reading

    def titres(self, annee: int | None = None, *, lines: bool = True) -> list[IssuedTitre]:
        """The issued titres (of one exercice, or all), in number order; ``lines=False`` leaves lines empty.

        A titre whose stored lines cannot be decoded is a ``LedgerError`` naming it, unless
        ``lines=False`` (what ``verify`` reads, to list that defect among the others).
        """
        return [_to_issued(row, self.path, decode=lines) for row in self._rows(annee)]

    def _rows(self, annee: int | None) -> list[dict]:
        if annee is None:
            rows = self._query(f"{_SELECT} ORDER BY exercice, seq")
        else:
            rows = self._query(f"{_SELECT} WHERE exercice = ? ORDER BY seq", [annee])
        return [_row_dict(row) for row in rows]

    def net_by_commune(self, annee: int) -> dict[str, int]:
        """code_insee -> net amount titled for ``annee`` (debits minus credits), for the diff ``compute`` shows."""
        rows = self._query(
            "SELECT code_insee, SUM(CASE WHEN nature IN ('reduction', 'annulation') THEN -montant_cents "
            "ELSE montant_cents END) FROM titres WHERE exercice = ? GROUP BY code_insee ORDER BY code_insee",
            [annee])
        return {code: int(total) for code, total in rows}

    def runs(self) -> list[dict]:
        """The runs that issued titres, oldest first (who, when, which inputs)."""
        def read() -> list[dict]:
            cursor = self._con.execute("SELECT * FROM runs ORDER BY started_at, run_id")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        return guard.run(self.path, read)

    # --- issuing

    def issue(self, planned: Sequence[PlannedTitre], *, annee: int, prefixe: str, run: RunInfo,
              date_emission: date, date_echeance: date | None, deliberation: str | None, objet: str | None,
              imputation: str | None, sirets: dict[str, str] | None = None) -> list[IssuedTitre]:
        """Number and record ``planned`` in one transaction; all or nothing.

        The plan is checked against the ledger as it stands inside the transaction: a
        plan made from a stale read (a titre for a commune already titled, a credit beyond
        what remains of its titre) is refused rather than issued twice. ``sirets``
        (code_insee -> SIRET) records each debtor's SIRET as issued, in the same transaction.
        """
        options = dict(annee=annee, prefixe=prefixe, run=run, date_emission=date_emission,
                       date_echeance=date_echeance, deliberation=deliberation, objet=objet, imputation=imputation)

        def work() -> list[IssuedTitre]:
            issued = self._issue_locked(list(planned), self._heads(annee), **options)
            if issued:  # one Arrow insert: executemany costs seconds for a national run
                known = sirets or {}
                table = pa.table({"numero": [t.numero for t in issued], "code_insee": [t.code_insee for t in issued],
                                  "siret": [known.get(t.code_insee) for t in issued]},
                                 schema=pa.schema([("numero", pa.string()), ("code_insee", pa.string()),
                                                   ("siret", pa.string())]))
                self._con.register("_nouveaux_debiteurs", table)
                try:
                    self._con.execute(
                        "INSERT INTO debiteurs SELECT numero, code_insee, siret FROM _nouveaux_debiteurs").fetchall()
                finally:
                    self._con.unregister("_nouveaux_debiteurs")
            parts = [(t.numero, code, cents) for t, item in zip(issued, planned)
                     for code, cents in (getattr(item, "membres", ()) or ((t.code_insee, t.montant_cents),))]
            if parts:  # one Arrow insert, as above
                self._con.register("_nouveaux_membres", pa.table(
                    {"numero": [p[0] for p in parts], "code_insee": [p[1] for p in parts],
                     "montant_cents": [p[2] for p in parts]},
                    schema=pa.schema([("numero", pa.string()), ("code_insee", pa.string()),
                                      ("montant_cents", pa.int64())])))
                try:
                    self._con.execute("INSERT INTO membres SELECT numero, code_insee, montant_cents "
                                      "FROM _nouveaux_membres").fetchall()
                finally:
                    self._con.unregister("_nouveaux_membres")
            return issued
        return self._in_transaction(work)

    def member_parts(self, annee: int) -> dict[str, dict[str, int]]:
        """numero -> {code_insee: part}: the members each titre of ``annee`` is for (DESIGN §4c)."""
        rows = self._query("SELECT m.numero, m.code_insee, m.montant_cents FROM membres m JOIN titres t USING (numero) "
                           "WHERE t.exercice = ? ORDER BY t.seq, m.code_insee", [annee])
        out: dict[str, dict[str, int]] = {}
        for numero, code, cents in rows:
            out.setdefault(numero, {})[code] = int(cents)
        return out

    def net_by_member(self, annee: int) -> dict[str, int]:
        """code_insee -> net titled for that member in ``annee``, whoever its debtor (debits minus credits)."""
        rows = self._query(
            "SELECT m.code_insee, SUM(CASE WHEN t.nature IN ('reduction', 'annulation') THEN -m.montant_cents "
            "ELSE m.montant_cents END) FROM membres m JOIN titres t USING (numero) WHERE t.exercice = ? "
            "GROUP BY m.code_insee ORDER BY m.code_insee", [annee])
        return {code: int(total) for code, total in rows}

    def recorded_sirets(self, annee: int) -> dict[str, str]:
        """code_insee -> the SIRET its first titre of ``annee`` was issued with (where one was known)."""
        rows = self._query("SELECT d.code_insee, d.siret FROM debiteurs d JOIN titres t USING (numero) "
                           "WHERE t.exercice = ? AND d.siret IS NOT NULL ORDER BY t.seq", [annee])
        out: dict[str, str] = {}
        for code, siret in rows:
            out.setdefault(code, siret)
        return out

    def issue_claims(self, claims: Sequence[Claim], *, annee: int, prefixe: str, run: RunInfo,
                     date_emission: date, date_echeance: date | None, deliberation: str | None,
                     objet: str | None, imputation: str | None) -> list[IssuedTitre]:
        """Plan against the ledger and issue, both inside one transaction (what ``issue`` runs)."""
        options = dict(annee=annee, prefixe=prefixe, run=run, date_emission=date_emission,
                       date_echeance=date_echeance, deliberation=deliberation, objet=objet, imputation=imputation)

        def work() -> list[IssuedTitre]:
            heads = self._heads(annee)
            return self._issue_locked(plan_titres(claims, heads), heads, **options)
        return self._in_transaction(work)

    def bordereaux(self, annee: int | None = None) -> list[Bordereau]:
        """The numbered bordereaux (of one exercice, or all), by exercice, series and number."""
        return guard.run(self.path, lambda: _bordereaux.listing(self._con, annee))

    def record_pes(self, item: Bordereau, sha256: str, debiteurs_json: str | None = None) -> bool:
        """Keep the hash of the PES file written for ``item`` and the debtors it named (set once, never
        overwritten); True when recorded by this call."""
        if self.readonly:
            raise LedgerError(f"le registre des titres {self.path} est ouvert en lecture seule")
        return guard.run(self.path, lambda: _bordereaux.record_pes(self._con, item, sha256, debiteurs_json))

    def _heads(self, annee: int) -> list["_Head"]:
        """What planning and numbering need, without decoding lines (fast on 35 000 titres)."""
        rows = self._query(f"SELECT {', '.join(_HEAD_FIELDS)} FROM titres WHERE exercice = ? ORDER BY seq",
                           [annee])
        return [_Head(*row) for row in rows]

    def _in_transaction(self, work: Callable[[], list[IssuedTitre]]) -> list[IssuedTitre]:
        if self.readonly:
            raise LedgerError(f"le registre des titres {self.path} est ouvert en lecture seule")
        try:
            self._con.execute("BEGIN TRANSACTION")
            issued = work()
            self._con.execute("COMMIT")
        except duckdb.Error as exc:
            _rollback(self._con)
            raise guard.translate(exc, self.path) from None
        except BaseException:
            _rollback(self._con)
            raise
        try:  # write the commit into the .duckdb file itself: a copy of that file alone is then complete
            self._con.execute("CHECKPOINT")
        except duckdb.Error:
            pass  # the commit is durable in the .wal all the same; DuckDB replays it at the next open
        return issued

    def _issue_locked(self, planned: list[PlannedTitre], existing: list["_Head"], *, annee: int, prefixe: str,
                      run: RunInfo, date_emission: date, date_echeance: date | None, deliberation: str | None,
                      objet: str | None, imputation: str | None) -> list[IssuedTitre]:
        if not planned:
            return []
        if run.annee != annee:
            raise ValueError(f"le traitement porte sur {run.annee}, pas sur {annee}")
        if date_echeance is not None and date_echeance < date_emission:
            raise ValueError("la date d'échéance précède la date d'émission")
        _check_plan(planned, existing, annee=annee, prefixe=prefixe, date_emission=date_emission)
        last = existing[-1] if existing else None
        seq = last.seq if last else 0
        prev_hash = last.hash if last else GENESIS
        rows = []
        for item in planned:
            seq += 1
            row = {
                "numero": format_numero(prefixe, annee, seq), "exercice": annee, "seq": seq,
                "code_insee": item.code_insee, "commune": item.commune, "nature": item.nature,
                "origine_numero": item.origine_numero, "montant_cents": item.montant_cents,
                "date_emission": date_emission, "date_echeance": date_echeance, "run_id": run.run_id,
                "deliberation": deliberation, "objet": objet, "imputation": imputation,
                "lignes_json": canonical_json(list(item.lines)), "prev_hash": prev_hash,
            }
            row["hash"] = prev_hash = titre_hash(row)
            rows.append(row)
        self._con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run.run_id, run.annee, run.started_at, run.utilisateur, run.machine, run.version,
             canonical_json(dict(run.input_hashes)), prefixe, rows[0]["seq"], rows[-1]["seq"], rows[-1]["hash"]])
        table = pa.Table.from_pylist(rows, schema=_ARROW_SCHEMA)
        self._con.register("_nouveaux_titres", table)
        try:
            self._con.execute(f"INSERT INTO titres ({', '.join(TITRE_FIELDS)}) "
                              f"SELECT {', '.join(TITRE_FIELDS)} FROM _nouveaux_titres")
        finally:
            self._con.unregister("_nouveaux_titres")
        _bordereaux.allocate(self._con, annee, run.run_id)  # same transaction: no titre without its bordereau
        stored = [name for name in TITRE_FIELDS if name != "lignes_json"]
        return [IssuedTitre(**{name: row[name] for name in stored}, lines=tuple(item.lines))
                for row, item in zip(rows, planned)]

    # --- verifying

    def verify(self, annee: int | None = None) -> list[str]:
        """Findings in French, one per defect, naming the titre; empty when the ledger (or exercice) is intact."""
        found = verify_rows(self._rows(annee), self.runs(), annee=annee)
        if found:  # altered titres: their findings say it; the bordereaux would only echo them
            return found
        return guard.run(self.path, lambda: _bordereaux.findings(self._con, annee))


# ----- checks -------------------------------------------------------------------------


def _check_plan(planned: list[PlannedTitre], issued: list[_Head], *, annee: int, prefixe: str,
                date_emission: date) -> None:
    """Refuse a plan that no longer fits the ledger (read before another run issued)."""
    if not prefixe or "-" in prefixe:
        raise LedgerError(f"préfixe de titre « {prefixe} » invalide : lettres et chiffres, sans tiret")
    if issued:
        used = issued[-1].numero.rsplit("-", 2)[0]
        if used != prefixe:
            raise LedgerError(f"les titres de {annee} sont numérotés « {used}-{annee}-… » ; "
                              f"le préfixe « {prefixe} » interromprait la série : "
                              "gardez le même préfixe jusqu'à la fin de l'exercice")
        last_date = max(t.date_emission for t in issued)
        if date_emission < last_date:
            raise LedgerError(f"date d'émission {date_emission:%d/%m/%Y} antérieure au dernier titre émis "
                              f"({last_date:%d/%m/%Y}) : la numérotation doit suivre l'ordre chronologique")
    remaining = remaining_by_titre(issued)
    by_numero = {t.numero: t for t in issued}
    net: dict[str, int] = defaultdict(int)
    for titre in issued:
        net[titre.code_insee] += titre.signed_cents
    for item in planned:
        if item.nature not in NATURES or item.montant_cents <= 0:
            raise ValueError(f"titre prévu invalide : {item}")
        if item.nature == "titre":
            if net[item.code_insee] != 0:
                raise LedgerError(f"la commune {item.commune} ({item.code_insee}) a déjà un titre en {annee} "
                                  f"({format_euros(net[item.code_insee])} net) : recalculez les corrections "
                                  "au lieu d'émettre un second titre")
        else:
            origin = by_numero.get(item.origine_numero or "")
            if origin is None or origin.code_insee != item.code_insee or origin.nature not in DEBITS:
                raise LedgerError(f"le titre {item.origine_numero} cité par une correction pour {item.commune} "
                                  f"({item.code_insee}) n'est pas un titre de cette commune en {annee}")
            if item.nature in CREDITS:
                if item.montant_cents > remaining[origin.numero]:
                    raise LedgerError(f"la {item.nature} de {format_euros(item.montant_cents)} dépasse ce qui reste "
                                      f"du titre {origin.numero} ({format_euros(remaining[origin.numero])})")
                remaining[origin.numero] -= item.montant_cents
        net[item.code_insee] += item.signed_cents
