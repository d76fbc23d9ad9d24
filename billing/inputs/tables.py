"""Reading one input table (CSV or XLSX) by its canonical columns, and finding input files.

``read_table`` picks the reader from what the bytes are (not only the name), then checks
that the required columns are present, with the nearest header as a hint.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Collection, Mapping, Sequence

from billing.core.problems import Problem
from billing.inputs.csvfile import _as_utf8, _read_csv, _separator_problem
from billing.inputs.grid import Table, _Grid, _error, _spellings, _table, _unreadable, fold_header, os_reason
from billing.inputs.xlsx import _read_xlsx


MAX_FILE_BYTES = 200 * 1024 * 1024
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
INPUT_SUFFIXES = (".csv", ".xlsx", ".xlsm")


def read_table(path: Path, *, display: str, columns: Mapping[str, Sequence[str]],
               required: Collection[str]) -> Table:
    """Read a CSV or XLSX table; ``columns`` maps each canonical name to the header spellings accepted."""
    grid = _read_grid(Path(path), display=display, columns=columns, required=required)
    problems = list(grid.problems)
    if grid.readable:
        problems += _missing_columns(grid, display=display, columns=columns, required=[(name,) for name in required])
    return _table(grid, display=display, problems=problems)


def _read_grid(path: Path, *, display: str, columns: Mapping[str, Sequence[str]],
               required: Collection[str]) -> _Grid:
    lookup = _spellings(columns)
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            head = stream.read(512)
    except OSError as exc:
        return _unreadable(display, f"fichier illisible ({os_reason(exc)})")
    if size > MAX_FILE_BYTES:
        return _unreadable(display, f"fichier trop volumineux ({size / 1_048_576:.0f} Mo ; au plus "
                                    f"{MAX_FILE_BYTES // 1_048_576} Mo)",
                           suggestion="Ne gardez que les lignes utiles (par exemple votre département).")
    if size == 0:
        return _unreadable(display, "le fichier est vide")
    suffix = path.suffix.lower()
    kind = _sniff(head)
    if suffix in XLSX_SUFFIXES:
        if kind == "zip":
            return _read_xlsx(path, display=display, lookup=lookup, required=required)
        if kind == "text" and _as_utf8(head) is not None:
            return _unreadable(display, f"ce fichier est un texte (CSV ?) alors que son nom se termine par {suffix}",
                               suggestion="Renommez-le en .csv, ou ouvrez-le et enregistrez-le au format .xlsx.")
        return _unreadable(display, *_wrong_kind(kind, expected="xlsx"))
    if suffix in CSV_SUFFIXES:
        if kind != "text":
            return _unreadable(display, *_wrong_kind(kind, expected="csv"))
        try:
            data = path.read_bytes()
        except OSError as exc:
            return _unreadable(display, f"fichier illisible ({os_reason(exc)})")
        return _read_csv(data, display=display, lookup=lookup)
    if kind in ("pdf", "ole", "ods"):
        return _unreadable(display, *_wrong_kind(kind, expected=None))
    return _unreadable(display, f"format de fichier non pris en charge (« {path.suffix or 'sans extension'} »)",
                       suggestion="Enregistrez le tableau au format CSV ou Classeur Excel (.xlsx).")


def _sniff(head: bytes) -> str:
    """What the first bytes say the file is, whatever its name claims."""
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"  # Excel 97-2003, or an .xlsx encrypted with a password
    if head.startswith(b"PK\x03\x04"):
        return "ods" if b"opendocument" in head[:120] else "zip"
    if head.startswith((b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    return "text"


def _wrong_kind(kind: str, *, expected: str | None) -> tuple[str, str]:
    if kind == "pdf":
        return ("ce fichier est un document PDF, pas un tableau",
                "Exportez les données au format CSV ou Classeur Excel (.xlsx).")
    if kind == "ole":
        return ("ce fichier est au format Excel 97-2003 (.xls) ou protégé par un mot de passe",
                "Ouvrez-le et enregistrez-le sans mot de passe au format Classeur Excel (.xlsx) ou CSV.")
    if kind == "ods":
        return ("ce fichier est un classeur LibreOffice (.ods)",
                "Enregistrez-le au format Classeur Excel (.xlsx) ou CSV.")
    if kind == "zip" and expected == "csv":
        return ("ce fichier est un classeur Excel (.xlsx) alors que son nom se termine par .csv",
                "Renommez-le en .xlsx, ou enregistrez-le au format CSV.")
    return ("ce fichier n'est pas un classeur Excel valide",
            "Ouvrez-le dans Excel ou LibreOffice et enregistrez-le de nouveau au format .xlsx.")


def _missing_columns(grid: _Grid, *, display: str, columns: Mapping[str, Sequence[str]],
                     required: Sequence[Sequence[str]]) -> list[Problem]:
    """One error per required column (or group of alternatives) absent, with the nearest header as a hint."""
    missing = [group for group in required if not any(name in grid.positions for name in group)]
    if not missing:
        return []
    found = [h for h in grid.headers if h]
    if _single_column(grid):
        return [_separator_problem(display, grid.headers[0] if grid.headers else "")]
    listed = ", ".join(f"« {h} »" for h in found[:30]) + (" …" if len(found) > 30 else "")
    sheet = f" de la feuille « {grid.sheet} »" if grid.sheet else ""
    problems = []
    for group in missing:
        names = f"« {group[0]} »" + "".join(f" (ou « {other} »)" for other in group[1:])
        hint = _nearest_header(group, grid.headers, grid.positions, columns)
        if hint is None and grid.sheet:  # the workbook's data may sit on another sheet than the one read
            hint = (f"La feuille lue est la première visible, ou celle nommée « {Path(display).stem} » : placez-y "
                    f"le tableau, ou renommez ainsi la feuille qui le contient.")
        problems.append(_error(display, None, None,
                               f"colonne obligatoire {names} absente{sheet} ; colonnes trouvées : {listed or 'aucune'}",
                               suggestion=hint))
    return problems


def _single_column(grid: _Grid) -> bool:
    """A CSV header that did not split at all: the separator is the likely culprit, not the names."""
    return grid.separator is not None and len(grid.headers) <= 1 and not grid.positions


def _nearest_header(group: Sequence[str], headers: Sequence[str], positions: Mapping[str, int],
                    columns: Mapping[str, Sequence[str]]) -> str | None:
    """The unrecognised header closest to a missing column, when close enough to be a typo."""
    taken = set(positions.values())
    best: tuple[float, str, str] | None = None
    for pos, text in enumerate(headers):
        folded = fold_header(text)
        if pos in taken or not folded:
            continue
        for name in group:
            for spelling in (name, *columns.get(name, ())):
                score = difflib.SequenceMatcher(None, folded, fold_header(spelling)).ratio()
                if score >= 0.75 and (best is None or score > best[0]):
                    best = (score, text, name)
    if best is None:
        return None
    return f"Colonne « {best[1]} » : vouliez-vous dire « {best[2]} » ?"


def find_input(folder: Path, stem: str) -> tuple[Path | None, list[Problem]]:
    """``stem``.csv/.xlsx/.xlsm in ``folder``, whatever the case; two candidates are an error, not a guess.

    An entry of that name that is no readable file (a folder, a broken or looping link) is an
    error naming it, not a silent « absent »."""
    folder = Path(folder)
    where = f"{folder.name}/{stem}" if folder.name else stem
    try:
        entries = [p for p in folder.iterdir() if p.suffix.lower() in INPUT_SUFFIXES and p.stem.lower() == stem.lower()]
    except OSError:
        return None, []
    problems = [_not_a_file(p, where) for p in entries if not p.is_file()]
    matches = sorted((p for p in entries if p.is_file()),
                     key=lambda p: (INPUT_SUFFIXES.index(p.suffix.lower()), p.name))
    if len(matches) <= 1:
        return (matches[0] if matches else None), problems
    names = [f"« {p.name} »" for p in matches]
    listed = ", ".join(names[:-1]) + " et " + names[-1]
    return matches[0], problems + [_error(where, None, None, f"plusieurs fichiers pour les mêmes données : {listed}",
                                          suggestion="Gardez-en un seul dans le dossier : le programme ne choisit "
                                                     "pas à votre place.")]


def _not_a_file(path: Path, where: str) -> Problem:
    if path.is_dir():
        return _error(where, None, None, f"« {path.name} » est un dossier, pas un fichier",
                      suggestion=f"Mettez le fichier {path.name} à la place de ce dossier.")
    try:
        path.stat()
        reason = "ce n'est pas un fichier ordinaire"
    except OSError as exc:
        reason = os_reason(exc)
    return _error(where, None, None, f"« {path.name} » ne peut pas être lu ({reason})",
                  suggestion="Remplacez ce lien par le fichier lui-même.")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks (inputs are listed with their hash in every report)."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
