"""The hash chain of the titres and the checks ``verify`` runs over raw ledger rows (DESIGN §5).

Each row carries ``hash`` = SHA-256 of the canonical JSON of its fields and of
``prev_hash``, the hash of the previous titre *of the same exercice* (``GENESIS`` for
``seq`` 1). The checks take rows as stored, which a damaged or hand-edited ledger may
leave with empty fields or unreadable lines: each defect becomes a finding naming the
titre, never an exception.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

from billing.core.natures import CREDITS, NATURES
from billing.core.money import format_euros

GENESIS = "0" * 64

TITRE_FIELDS = ("numero", "exercice", "seq", "code_insee", "commune", "nature", "origine_numero", "montant_cents",
                "date_emission", "date_echeance", "run_id", "deliberation", "objet", "imputation", "lignes_json",
                "prev_hash", "hash")


_HASHED_FIELDS = TITRE_FIELDS[:-1]
_DATE_POSITIONS = (_HASHED_FIELDS.index("date_emission"), _HASHED_FIELDS.index("date_echeance"))


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


# ----- reading stored lines -----------------------------------------------------------


def decode_lines(text) -> tuple[dict, ...] | None:
    """The stored ``lignes_json`` as a tuple of dicts, or None when it is not that (damaged row)."""
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        return None
    return tuple(value)


# ----- verifying ------------------------------------------------------------------------

# Without these a row cannot be placed in its series; the others are caught by the hash.
_STRUCTURAL = ("numero", "exercice", "seq", "code_insee", "nature", "montant_cents", "date_emission")
_NOT_NULL = _STRUCTURAL + ("commune", "run_id", "lignes_json", "prev_hash", "hash")


def _label(row: dict) -> str:
    if row.get("numero"):
        return f"le titre {row['numero']}"
    return f"le titre de rang {row.get('seq')} de l'exercice {row.get('exercice')}"


def _row_findings(row: dict) -> list[str]:
    """Defects one row shows on its own: empty required fields, unreadable lines."""
    findings = []
    empty = [name for name in _NOT_NULL if row.get(name) is None]
    if empty:
        findings.append(f"{_label(row)} a des champs vides ({', '.join(empty)}) : il a été modifié après son émission")
    # A row whose hash holds was written by ``canonical_json``: only an altered one needs decoding (35 000 rows).
    if not row["_intact"] and row.get("lignes_json") is not None and decode_lines(row["lignes_json"]) is None:
        findings.append(f"les lignes de liquidation du {_label(row)[3:]} sont illisibles (JSON invalide) : "
                        "son avis ne peut plus être produit")
    return findings


def verify_rows(rows: list[dict], runs: list[dict], *, annee: int | None = None) -> list[str]:
    """Every finding over the stored rows and runs (of ``annee`` only, when given), in series order."""
    if annee is not None:
        rows = [row for row in rows if row.get("exercice") == annee]
        runs = [run for run in runs if run.get("annee") == annee]
    findings: list[str] = []
    placed: list[dict] = []
    for row in rows:
        row = {**row, "_intact": row.get("hash") is not None and titre_hash(row) == row["hash"]}
        findings.extend(_row_findings(row))
        if all(row.get(name) is not None for name in _STRUCTURAL):
            placed.append(row)
    by_exercice: dict[int, list[dict]] = defaultdict(list)
    for row in sorted(placed, key=lambda r: (r["exercice"], r["seq"])):
        by_exercice[row["exercice"]].append(row)
    for exercice in sorted(by_exercice):
        findings.extend(_verify_exercice(exercice, by_exercice[exercice]))
    findings.extend(_verify_runs(placed, runs))
    return findings


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
        if not row["_intact"]:
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
        sign = -1 if row["nature"] in CREDITS else 1
        net[row["code_insee"]] += sign * row["montant_cents"]
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
        if run.get("dernier_seq") is None or run.get("annee") is None:
            continue
        numero = format_numero(run.get("prefixe") or "?", run["annee"], run["dernier_seq"])
        row = by_key.get((run["annee"], run["dernier_seq"]))
        started = run.get("started_at")
        when = f"{started:%d/%m/%Y %H:%M} UTC" if started is not None else "(date effacée)"
        if row is None:
            findings.append(f"le titre {numero} manque : le traitement du {when} l'a émis "
                            "et il n'est plus dans le registre")
        elif row["hash"] != run["dernier_hash"] or row["run_id"] != run["run_id"]:
            findings.append(f"le titre {numero} ne correspond plus à celui émis par le traitement du {when}")
    orphan = sorted({row["run_id"] for row in rows if row.get("run_id") is not None} - known_runs)
    for run_id in orphan:
        first = next(row["numero"] for row in rows if row["run_id"] == run_id)
        findings.append(f"le titre {first} renvoie à un traitement inconnu ({run_id}) : "
                        "journal des traitements altéré")
    return findings


