"""What every table looks like once read, whatever its file format.

A table comes out as one Utf8 column per recognised canonical column (stripped, empty ->
null) and ``_row``, the row number the spreadsheet shows, so that every later problem can
point at a cell. This module holds that shape (``Table``, ``_Grid``), the header matching
shared by the CSV and XLSX readers, the cleaning of cell text, and the problem helpers.
Nothing here raises on bad input: problems are collected as values, in French.
"""

from __future__ import annotations

import errno
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import polars as pl

from billing.core import problems as P
from billing.core.problems import Problem


MAX_CELL_CHARS = 1_000
MAX_SUSPECT_ROWS = 100
RETYPE = "Retapez la valeur (le caractère vient souvent d'un copier-coller)."
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_CONTROL_CHARS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"
_LINE_BREAKS = r"[\r\n]"
_ODD_CHARS = r"[\x00-\x08\x0A-\x1F\x7F]"  # control characters and line breaks; tab is fine
_SPACES = re.compile(r"[\s\u00a0\u202f]+")


def fold_header(text: str) -> str:
    """« Numéro de l'école » -> « numero_de_l_ecole »: headers compare after this, whoever typed them."""
    decomposed = unicodedata.normalize("NFKD", str(text).translate(_LIGATURES))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).lower()
    return _NON_ALNUM.sub("_", plain).strip("_")


@dataclass(frozen=True, eq=False)  # eq=False: a frame has no truth value, so no field-wise ==/hash
class Table:
    """A table as read: text columns named canonically, plus ``_row`` (the spreadsheet's row number)."""

    display: str
    frame: pl.DataFrame
    headers: dict[str, str]
    sheet: str | None = None
    problems: tuple[Problem, ...] = ()
    letters: Mapping[str, str] = field(default_factory=dict)  # canonical -> column letter (workbooks only)


@dataclass(frozen=True, eq=False)
class _Grid:
    """What a file holds before the required columns are checked."""

    headers: tuple[str, ...]  # every header text of the header row, by position ("" for an empty cell)
    positions: dict[str, int]  # canonical -> position of the header that names it
    frame: pl.DataFrame  # canonical Utf8 columns + _row
    sheet: str | None
    separator: str | None  # CSV only
    problems: tuple[Problem, ...]
    readable: bool = True


_OS_REASONS = {
    errno.EACCES: "accès refusé : vérifiez les droits sur le fichier",
    errno.EPERM: "accès refusé : vérifiez les droits sur le fichier",
    errno.EISDIR: "c'est un dossier, pas un fichier",
    errno.ELOOP: "lien symbolique en boucle",
    errno.ENOENT: "fichier introuvable",
    errno.EIO: "erreur de lecture du disque",
}


def os_reason(exc: OSError) -> str:
    """Why a file could not be read, in French (the system's own text is English)."""
    return _OS_REASONS.get(exc.errno, f"erreur système {exc.errno or ''}".strip())


def _sentence(message: str, suggestion: str | None) -> str:
    """A message followed by a suggestion ends with a full stop, so that the rendered line reads well."""
    return message if not suggestion or message.endswith((".", "?", "!")) else message + "."


def _error(file: str, row: int | None, column: str | None, message: str, *, value: str | None = None,
           suggestion: str | None = None) -> Problem:
    return P.error(file, row, column, _sentence(message, suggestion), value=value, suggestion=suggestion)


def _warning(file: str, row: int | None, column: str | None, message: str, *, value: str | None = None,
             suggestion: str | None = None) -> Problem:
    return P.warning(file, row, column, _sentence(message, suggestion), value=value, suggestion=suggestion)


def _table(grid: _Grid, *, display: str, problems: Iterable[Problem]) -> Table:
    headers = {name: grid.headers[pos] for name, pos in grid.positions.items()}
    return Table(display, grid.frame, headers, grid.sheet, tuple(problems), _letters(grid))


def _letters(grid: _Grid) -> dict[str, str]:
    """Column letters of a workbook's canonical columns, so that a typing problem can name its cell."""
    if grid.sheet is None:
        return {}
    return {name: _column_letter(pos) for name, pos in grid.positions.items()}


def _spellings(columns: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Folded spelling -> canonical name (the canonical name itself is always accepted)."""
    lookup: dict[str, str] = {}
    for name, spellings in columns.items():
        for spelling in (name, *spellings):
            lookup.setdefault(fold_header(spelling), name)
    return lookup


def _unreadable(display: str, message: str, suggestion: str | None = None) -> _Grid:
    problem = _error(display, None, None, message, suggestion=suggestion)
    return _Grid((), {}, _empty_frame(()), None, None, (problem,), readable=False)


def _empty_frame(names: Iterable[str]) -> pl.DataFrame:
    return pl.DataFrame(schema={**{name: pl.Utf8 for name in names}, "_row": pl.Int64})


def _recognised(texts: Iterable[str], lookup: Mapping[str, str]) -> set[str]:
    return {lookup[folded] for folded in map(fold_header, texts) if folded in lookup}


def _header_positions(headers: Sequence[str], lookup: Mapping[str, str], *, display: str,
                      letters: bool) -> tuple[dict[str, int], list[Problem]]:
    """canonical -> position of its header; a canonical named twice is an error (which one would count?)."""
    positions: dict[str, int] = {}
    problems = []
    for pos, text in enumerate(headers):
        name = lookup.get(fold_header(text))
        if name is None:
            continue
        if name in positions:
            first = positions[name]
            where = (lambda p: f"colonne {_column_letter(p)}") if letters else (lambda p: f"{p + 1}ᵉ colonne")
            problems.append(_error(
                display, None, None,
                f"la colonne « {name} » figure deux fois : « {headers[first]} » ({where(first)}) et "
                f"« {text} » ({where(pos)})",
                suggestion="Supprimez ou renommez l'une des deux colonnes."))
            continue
        positions[name] = pos
    order = list(dict.fromkeys(lookup.values()))  # columns come out in the order the caller listed them
    return dict(sorted(positions.items(), key=lambda item: order.index(item[0]))), problems


def _clean_text(frame: pl.DataFrame, positions: Mapping[str, int], headers: Sequence[str], *, display: str,
                cell_refs: bool) -> tuple[pl.DataFrame, list[Problem]]:
    """Strip, empty -> null; refuse invisible control characters and runaway cells; line breaks become spaces."""
    names = list(positions)
    if not names:
        return frame, []
    stripped = [pl.col(n).str.strip_chars() for n in names]
    frame = frame.with_columns(pl.when(s == "").then(None).otherwise(s).alias(n) for s, n in zip(stripped, names))
    odd = pl.any_horizontal([pl.col(n).str.contains(_ODD_CHARS) | (pl.col(n).str.len_chars() > MAX_CELL_CHARS)
                             for n in names])
    suspects = frame.filter(odd)  # one vectorised pass; the rare suspects are then looked at one by one
    if suspects.height == 0:
        return frame, []
    problems: list[Problem] = []
    if suspects.height > MAX_SUSPECT_ROWS:  # a whole file of them: the first ones say enough
        problems.append(_error(display, None, None,
                               f"{suspects.height - MAX_SUSPECT_ROWS} autres lignes contiennent des caractères "
                               f"invisibles, des sauts de ligne ou des textes trop longs (seules les "
                               f"{MAX_SUSPECT_ROWS} premières sont détaillées)",
                               suggestion="Exportez de nouveau le fichier depuis le logiciel d'origine."))
        suspects = suspects.head(MAX_SUSPECT_ROWS)
    for record in suspects.iter_rows(named=True):
        row = record["_row"]
        for name in names:
            value = record[name]
            if value is None or not (re.search(_ODD_CHARS, value) or len(value) > MAX_CELL_CHARS):
                continue
            pos = positions[name]
            place = f"cellule {_column_letter(pos)}{row} : " if cell_refs else ""
            shown = _shorten(value)
            control = re.search(_CONTROL_CHARS, value)
            if control:
                problems.append(_error(display, row, headers[pos],
                                       f"{place}caractère de contrôle invisible (U+{ord(control.group()):04X}) "
                                       f"dans « {shown} »",
                                       suggestion=RETYPE))
            if len(value) > MAX_CELL_CHARS:
                problems.append(_error(display, row, headers[pos],
                                       f"{place}texte de {len(value)} caractères (au plus {MAX_CELL_CHARS}) : "
                                       f"« {shown} »"))
            elif not control and re.search(_LINE_BREAKS, value):
                problems.append(_warning(display, row, headers[pos],
                                         f"{place}saut de ligne dans « {shown} » remplacé par une espace"))
    frame = frame.with_columns(pl.col(n).str.replace_all(r"\s*[\r\n]+\s*", " ") for n in names)
    return frame, problems


def _shorten(text: str, limit: int = 60) -> str:
    visible = re.sub(_CONTROL_CHARS, "�", text).replace("\r", " ").replace("\n", " ")
    return visible if len(visible) <= limit else visible[: limit - 1] + "…"


def _column_letter(pos: int) -> str:
    letters = ""
    number = pos + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
