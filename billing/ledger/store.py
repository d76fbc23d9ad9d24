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
import hashlib
import json
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
from billing.core.errors import UserError
from billing.core.money import format_euros

SCHEMA_VERSION = 1
GENESIS = "0" * 64

TITRE_FIELDS = ("numero", "exercice", "seq", "code_insee", "commune", "nature", "origine_numero", "montant_cents",
                "date_emission", "date_echeance", "run_id", "deliberation", "objet", "imputation", "lignes_json",
                "prev_hash", "hash")


_HASHED_FIELDS = TITRE_FIELDS[:-1]
_DATE_POSITIONS = (_HASHED_FIELDS.index("date_emission"), _HASHED_FIELDS.index("date_echeance"))


class LedgerError(UserError):
    """The ledger cannot be used as asked (newer schema, not a ledger, stale plan, …)."""


class LedgerBusy(UserError):
    """Another process holds the ledger (DuckDB allows one writer)."""


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


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))  # stateless, reusable


def canonical_json(value) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 kept (lines are stored this way)."""
    return _CANONICAL.encode(value)


def titre_hash(row: dict) -> str:
    """SHA-256 of the canonical JSON array of every stored field but ``hash``, in ``TITRE_FIELDS`` order.

    ``prev_hash`` is one of them, which chains the titre to the previous one of its exercice;
    dates are ISO ``YYYY-MM-DD``; ``lignes_json`` enters as the stored text.
    """
    payload = [row[name] for name in _HASHED_FIELDS]
    for index in _DATE_POSITIONS:
        if payload[index] is not None:
            payload[index] = payload[index].isoformat()
    return hashlib.sha256(_CANONICAL.encode(payload).encode("utf-8")).hexdigest()


def format_numero(prefixe: str, exercice: int, seq: int) -> str:
    return f"{prefixe}-{exercice}-{seq:04d}"


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


# MIGRATIONS[i] brings a ledger from schema i to schema i + 1; append, never edit.
MIGRATIONS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = (_v0_to_v1,)
assert len(MIGRATIONS) == SCHEMA_VERSION


def _read_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    tables = {row[0] for row in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    if "meta" not in tables:
        if tables:
            raise LedgerError(f"le fichier {path} n'est pas un registre des titres d'ent-bill "
                              f"(tables {', '.join(sorted(tables))}) ; indiquez le bon fichier avec --ledger")
        return 0
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return 0
    try:
        return int(row[0])
    except ValueError:
        raise LedgerError(f"le registre des titres {path} a une version de schéma illisible « {row[0]} »") from None


def _migrate(con: duckdb.DuckDBPyConnection, path: Path, *, readonly: bool) -> int:
    version = _read_version(con, path)
    if version > SCHEMA_VERSION:
        raise LedgerError(f"ce registre a été écrit par une version plus récente d'ent-bill (schéma {version}) ; "
                          "mettez ent-bill à jour")
    if version == SCHEMA_VERSION:
        return version
    if readonly:
        raise LedgerError(f"le registre des titres {path} est au schéma {version} ; il sera mis à jour "
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
        con.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


# ----- opening --------------------------------------------------------------------------


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def open_ledger(path: Path | str, *, readonly: bool = False, wait_seconds: float = 5.0) -> "Ledger":
    """Open (create, migrate) the ledger; use as a context manager.

    A second process gets DuckDB's lock error: retry with short sleeps for ``wait_seconds``,
    then ``LedgerBusy``. ``readonly`` never creates nor migrates the file.
    """
    path = Path(path)
    if readonly and not path.exists():
        raise LedgerError(f"le registre des titres {path} n'existe pas : aucun titre n'a encore été émis "
                          "(ou indiquez le bon fichier avec --ledger)")
    deadline = time.monotonic() + max(wait_seconds, 0.0)
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=readonly)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise LedgerError(f"le registre des titres {path} ne peut pas être ouvert : {exc}") from exc
            left = deadline - time.monotonic()
            if left <= 0:
                raise LedgerBusy(f"le registre des titres {path} est utilisé par un autre traitement "
                                 "(ent-bill issue en cours ?) ; réessayez quand il sera terminé") from exc
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.2)
    try:
        version = _migrate(con, path, readonly=readonly)
    except BaseException:
        con.close()
        raise
    return Ledger(con, path, readonly=readonly, schema_version=version)


_SELECT = f"SELECT {', '.join(TITRE_FIELDS)} FROM titres"


def _row_dict(row: tuple) -> dict:
    return dict(zip(TITRE_FIELDS, row))


def _to_issued(row: dict) -> IssuedTitre:
    fields = {name: row[name] for name in TITRE_FIELDS if name != "lignes_json"}
    return IssuedTitre(**fields, lines=tuple(json.loads(row["lignes_json"])))


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
        self._con.close()

    # --- reading

    def titres(self, annee: int | None = None) -> list[IssuedTitre]:
        """The issued titres (of one exercice, or all), in number order."""
        return [_to_issued(row) for row in self._rows(annee)]

    def _rows(self, annee: int | None) -> list[dict]:
        if annee is None:
            rows = self._con.execute(f"{_SELECT} ORDER BY exercice, seq").fetchall()
        else:
            rows = self._con.execute(f"{_SELECT} WHERE exercice = ? ORDER BY seq", [annee]).fetchall()
        return [_row_dict(row) for row in rows]

    def net_by_commune(self, annee: int) -> dict[str, int]:
        """code_insee -> net amount titled for ``annee`` (debits minus credits), for the diff ``compute`` shows."""
        rows = self._con.execute(
            "SELECT code_insee, nature, SUM(montant_cents) FROM titres WHERE exercice = ? "
            "GROUP BY code_insee, nature ORDER BY code_insee, nature", [annee]).fetchall()
        net: dict[str, int] = {}
        for code, nature, total in rows:
            net[code] = net.get(code, 0) + signed(nature, int(total))
        return net

    def runs(self) -> list[dict]:
        """The runs that issued titres, oldest first (who, when, which inputs)."""
        cursor = self._con.execute("SELECT * FROM runs ORDER BY started_at, run_id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    # --- issuing

    def issue(self, planned: Sequence[PlannedTitre], *, annee: int, prefixe: str, run: RunInfo,
              date_emission: date, date_echeance: date | None, deliberation: str | None, objet: str | None,
              imputation: str | None) -> list[IssuedTitre]:
        """Number and record ``planned`` in one transaction; all or nothing.

        The plan is checked against the ledger as it stands inside the transaction: a
        plan made from a stale read (a titre for a commune already titled, a credit beyond
        what remains of its titre) is refused rather than issued twice.
        """
        options = dict(annee=annee, prefixe=prefixe, run=run, date_emission=date_emission,
                       date_echeance=date_echeance, deliberation=deliberation, objet=objet, imputation=imputation)
        return self._in_transaction(lambda: self._issue_locked(list(planned), self._heads(annee), **options))

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

    def _heads(self, annee: int) -> list["_Head"]:
        """What planning and numbering need, without decoding lines (fast on 35 000 titres)."""
        rows = self._con.execute(f"SELECT {', '.join(_HEAD_FIELDS)} FROM titres WHERE exercice = ? ORDER BY seq",
                                 [annee]).fetchall()
        return [_Head(*row) for row in rows]

    def _in_transaction(self, work: Callable[[], list[IssuedTitre]]) -> list[IssuedTitre]:
        if self.readonly:
            raise LedgerError(f"le registre des titres {self.path} est ouvert en lecture seule")
        self._con.execute("BEGIN TRANSACTION")
        try:
            issued = work()
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
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
        stored = [name for name in TITRE_FIELDS if name != "lignes_json"]
        return [IssuedTitre(**{name: row[name] for name in stored}, lines=tuple(item.lines))
                for row, item in zip(rows, planned)]

    # --- verifying

    def verify(self) -> list[str]:
        """Findings in French, one per defect, naming the titre; empty when the ledger is intact."""
        rows = self._rows(None)
        runs = self.runs()
        findings: list[str] = []
        by_exercice: dict[int, list[dict]] = defaultdict(list)
        for row in rows:
            by_exercice[row["exercice"]].append(row)
        for exercice in sorted(by_exercice):
            findings.extend(_verify_exercice(exercice, by_exercice[exercice]))
        findings.extend(_verify_runs(rows, runs))
        return findings


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


def _verify_exercice(exercice: int, rows: list[dict]) -> list[str]:
    findings = []
    prefixe = rows[0]["numero"].rsplit("-", 2)[0]
    previous: dict | None = None
    for row in rows:
        expected_seq = previous["seq"] + 1 if previous else 1
        if row["seq"] > expected_seq:
            missing = format_numero(prefixe, exercice, expected_seq)
            if row["seq"] - expected_seq > 1:
                missing = f"{missing} à {format_numero(prefixe, exercice, row['seq'] - 1)}"
                verb = "manquent"
            else:
                verb = "manque"
            where = (f"après {previous['numero']}" if previous else "avant le premier titre")
            findings.append(f"le{'s titres' if verb == 'manquent' else ' titre'} {missing} {verb} : "
                            f"la numérotation est interrompue {where}")
        elif previous is not None and row["prev_hash"] != previous["hash"]:
            findings.append(f"le chaînage du titre {row['numero']} est rompu : il ne suit pas {previous['numero']} "
                            "(titre supprimé, inséré ou modifié)")
        elif previous is None and row["seq"] == 1 and row["prev_hash"] != GENESIS:
            findings.append(f"le chaînage du titre {row['numero']} est rompu : le premier titre de l'exercice "
                            "doit ouvrir la chaîne")
        if row["numero"] != format_numero(prefixe, exercice, row["seq"]):
            findings.append(f"le titre {row['numero']} ne porte pas le numéro attendu "
                            f"{format_numero(prefixe, exercice, row['seq'])} (exercice {exercice}, rang {row['seq']})")
        if titre_hash(row) != row["hash"]:
            findings.append(f"le titre {row['numero']} a été modifié après son émission (empreinte différente)")
        if row["nature"] not in NATURES:
            findings.append(f"le titre {row['numero']} a une nature inconnue « {row['nature']} »")
        if row["montant_cents"] <= 0:
            findings.append(f"le titre {row['numero']} a un montant non positif ({format_euros(row['montant_cents'])})")
        previous = row

    by_numero = {row["numero"]: row for row in rows}
    credited: dict[str, int] = defaultdict(int)
    net: dict[str, int] = defaultdict(int)
    for row in rows:
        net[row["code_insee"]] += signed(row["nature"], row["montant_cents"])
        if row["nature"] not in CREDITS and row["nature"] != "complementaire":
            continue
        origin = by_numero.get(row["origine_numero"] or "")
        if origin is None:
            findings.append(f"le titre {row['numero']} ({row['nature']}) cite le titre {row['origine_numero']} "
                            f"qui n'existe pas dans l'exercice {exercice}")
            continue
        if origin["code_insee"] != row["code_insee"]:
            findings.append(f"le titre {row['numero']} ({row['nature']}) pour {row['commune']} cite le titre "
                            f"{origin['numero']} d'une autre commune ({origin['commune']})")
        if row["nature"] in CREDITS:
            credited[origin["numero"]] += row["montant_cents"]
    for numero, total in credited.items():
        if total > by_numero[numero]["montant_cents"]:
            findings.append(f"les réductions du titre {numero} ({format_euros(total)}) dépassent son montant "
                            f"({format_euros(by_numero[numero]['montant_cents'])})")
    for code, amount in sorted(net.items()):
        if amount < 0:
            findings.append(f"la commune {code} a plus de réductions que de titres en {exercice} "
                            f"({format_euros(amount)} net)")
    return findings


def _verify_runs(rows: list[dict], runs: list[dict]) -> list[str]:
    """Each run recorded the last number and hash it issued: catches a deleted tail."""
    findings = []
    by_key = {(row["exercice"], row["seq"]): row for row in rows}
    known_runs = {run["run_id"] for run in runs}
    for run in runs:
        if run["dernier_seq"] is None:
            continue
        numero = format_numero(run["prefixe"], run["annee"], run["dernier_seq"])
        row = by_key.get((run["annee"], run["dernier_seq"]))
        when = f"{run['started_at']:%d/%m/%Y %H:%M} UTC"
        if row is None:
            findings.append(f"le titre {numero} manque : le traitement du {when} l'a émis "
                            "et il n'est plus dans le registre")
        elif row["hash"] != run["dernier_hash"] or row["run_id"] != run["run_id"]:
            findings.append(f"le titre {numero} ne correspond plus à celui émis par le traitement du {when}")
    orphan = sorted({row["run_id"] for row in rows} - known_runs)
    for run_id in orphan:
        first = next(row["numero"] for row in rows if row["run_id"] == run_id)
        findings.append(f"le titre {first} renvoie à un traitement inconnu ({run_id}) : "
                        "journal des traitements altéré")
    return findings

