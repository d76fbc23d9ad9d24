"""Bordereaux: the numbered batches the ordonnateur signs and the comptable loads (DESIGN §6c).

One bordereau per ``issue`` run and per series: ``titres`` (titres and titres
complémentaires, PES TypBord 01) and ``reductions`` (réductions and annulations, TypBord 02).
Numbers are continuous per exercice and series, allocated as max + 1 inside the same
transaction as the titres they carry, so a killed run leaves neither titres without a
bordereau nor a gap. A bordereau once numbered is never renumbered: its pièces are the
titres of its run and series, read back from the titres table (whose hash chain protects
them); the row records its count and total so ``verify`` can compare.

Once its PES file is written, the row also keeps the file's SHA-256 and the debtors as the
file named them (``pes_debiteurs_json``): a re-write reads them back, so a commune that later
leaves ``adhesions.csv`` (and takes its SIRET with it) does not change a file already sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from billing.core.natures import CREDITS, DEBITS

SERIES = ("titres", "reductions")
TYP_BORD = {"titres": "01", "reductions": "02"}


def series_of(nature: str) -> str:
    """The series (and so the bordereau) a titre of this nature goes in."""
    if nature in DEBITS:
        return "titres"
    if nature in CREDITS:
        return "reductions"
    raise ValueError(f"nature de titre inconnue : {nature!r}")


def _natures(serie: str) -> tuple[str, ...]:
    return tuple(sorted(DEBITS if serie == "titres" else CREDITS))


@dataclass(frozen=True)
class Bordereau:
    exercice: int
    serie: str            # "titres" or "reductions"
    numero: int           # continuous per exercice and series
    run_id: str
    date_bordereau: date  # the date of its titres
    nb_pieces: int
    total_cents: int      # positive: the sum of its pièces' amounts
    premier_seq: int
    dernier_seq: int
    pes_sha256: str | None = None  # the hash of the PES file written for it, once written
    pes_debiteurs_json: str | None = None  # the debtors that file named, by pièce (canonical JSON)

    @property
    def typ_bord(self) -> str:
        return TYP_BORD[self.serie]

    @property
    def label(self) -> str:
        kind = "titres" if self.serie == "titres" else "réductions et annulations"
        return f"bordereau n° {self.numero} des {kind} de l'exercice {self.exercice}"


FIELDS = ("exercice", "serie", "numero", "run_id", "date_bordereau", "nb_pieces", "total_cents", "premier_seq",
          "dernier_seq", "pes_sha256", "pes_debiteurs_json")


def create_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE TABLE bordereaux (
            exercice INTEGER NOT NULL, serie TEXT NOT NULL, numero INTEGER NOT NULL, run_id TEXT NOT NULL,
            date_bordereau DATE NOT NULL, nb_pieces INTEGER NOT NULL, total_cents BIGINT NOT NULL,
            premier_seq INTEGER NOT NULL, dernier_seq INTEGER NOT NULL, pes_sha256 TEXT, pes_debiteurs_json TEXT,
            PRIMARY KEY (exercice, serie, numero), UNIQUE (exercice, serie, run_id))""")


def allocate(con: duckdb.DuckDBPyConnection, exercice: int, run_id: str) -> list[Bordereau]:
    """Number the bordereaux of one run (inside its transaction): one per series that has pièces."""
    made = []
    for serie in SERIES:
        natures = _natures(serie)
        marks = ", ".join("?" for _ in natures)
        row = con.execute(
            f"SELECT COUNT(*), COALESCE(SUM(montant_cents), 0), MIN(seq), MAX(seq), MIN(date_emission) "
            f"FROM titres WHERE exercice = ? AND run_id = ? AND nature IN ({marks})",
            [exercice, run_id, *natures]).fetchall()[0]
        count, total, first, last, when = row
        if not count:
            continue
        numero = con.execute("SELECT COALESCE(MAX(numero), 0) + 1 FROM bordereaux WHERE exercice = ? AND serie = ?",
                             [exercice, serie]).fetchall()[0][0]
        item = Bordereau(exercice, serie, int(numero), run_id, when, int(count), int(total), int(first), int(last))
        con.execute(f"INSERT INTO bordereaux ({', '.join(FIELDS)}) VALUES ({', '.join('?' for _ in FIELDS)})",
                    [getattr(item, name) for name in FIELDS]).fetchall()  # leave no open result on the connection
        made.append(item)
    return made


def backfill(con: duckdb.DuckDBPyConnection) -> None:
    """Give the runs of a ledger written before bordereaux existed their numbers, in the order they were issued."""
    runs = con.execute("""
        SELECT exercice, run_id, MIN(seq) AS first FROM titres GROUP BY exercice, run_id ORDER BY exercice, first
    """).fetchall()
    for exercice, run_id, _ in runs:
        allocate(con, exercice, run_id)


def listing(con: duckdb.DuckDBPyConnection, exercice: int | None = None) -> list[Bordereau]:
    where, params = ("WHERE exercice = ?", [exercice]) if exercice is not None else ("", [])
    rows = con.execute(f"SELECT {', '.join(FIELDS)} FROM bordereaux {where} ORDER BY exercice, serie, numero",
                       params).fetchall()
    return [Bordereau(*row) for row in rows]


def record_pes(con: duckdb.DuckDBPyConnection, item: Bordereau, sha256: str, debiteurs_json: str | None = None) -> bool:
    """Keep the hash of the PES file written for a bordereau and the debtors it named (set once; a re-write
    must give the same bytes). True when this call recorded them, False when they already were."""
    row = con.execute("UPDATE bordereaux SET pes_sha256 = ?, pes_debiteurs_json = ? WHERE exercice = ? AND serie = ? "
                      "AND numero = ? AND pes_sha256 IS NULL RETURNING numero",
                      [sha256, debiteurs_json, item.exercice, item.serie, item.numero]).fetchall()
    return bool(row)


_SERIE_SQL = "CASE WHEN nature IN ('reduction', 'annulation') THEN 'reductions' ELSE 'titres' END"


def findings(con: duckdb.DuckDBPyConnection, exercice: int | None = None) -> list[str]:
    """What ``verify`` reports about the bordereaux: numbering gaps, counts or totals that no longer match
    their titres, titres that no bordereau carries (French, one finding per defect)."""
    where, params = ("WHERE exercice = ?", [exercice]) if exercice is not None else ("", [])
    found = []
    numbers: dict[tuple[int, str], list[int]] = {}
    for item in listing(con, exercice):
        numbers.setdefault((item.exercice, item.serie), []).append(item.numero)
    for (year, serie), seen in numbers.items():
        if seen != list(range(1, len(seen) + 1)):
            found.append(f"bordereaux des {serie} {year} : numérotation interrompue ({', '.join(map(str, seen))})")
    rows = con.execute(f"""
        WITH t AS (SELECT exercice, run_id, {_SERIE_SQL} AS serie, COUNT(*) AS n, SUM(montant_cents) AS total
                   FROM titres {where} GROUP BY ALL)
        SELECT COALESCE(b.exercice, t.exercice), COALESCE(b.serie, t.serie), b.numero, b.nb_pieces, b.total_cents,
               t.n, t.total, t.run_id
        FROM (SELECT * FROM bordereaux {where}) b FULL OUTER JOIN t
             ON b.exercice = t.exercice AND b.run_id = t.run_id AND b.serie = t.serie
        ORDER BY 1, 2, 3""", params + params).fetchall()
    for year, serie, numero, count, total, real_count, real_total, run_id in rows:
        if numero is None:
            found.append(f"{real_count} titre(s) {serie} {year} du traitement {run_id[:8]} sans bordereau")
        elif (count, total) != (real_count or 0, real_total or 0):
            found.append(f"bordereau n° {numero} des {serie} {year} : {count} pièce(s) pour {total} centimes "
                         f"enregistrées, {real_count or 0} pour {real_total or 0} dans les titres")
    return found
