"""Input tables (CSV, XLSX) -> frames of text: the only place that knows raw headers and file formats.

Every table comes out the same way whatever its source: one Utf8 column per recognised
canonical column (stripped, empty -> null) and ``_row``, the row number the spreadsheet
shows, so that every later problem can point at a cell. Nothing here raises on bad
input: problems are collected as values, in French, with file, row and column.

Hostile files are refused before anything expands them: size limits, zip bombs, XML
DTDs/entities (openpyxl parses sheets with the standard library's ``iterparse``, which
defusedxml does not cover, so every XML part is checked here first).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import math
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable, Collection, Iterable, Mapping, Sequence
from xml.etree.ElementTree import ParseError

import polars as pl

from billing.core import problems as P
from billing.core.money import MoneyError, parse_decimal_text
from billing.core.problems import Problem

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_XLSX_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
MAX_XLSX_RATIO = 200  # deflate tops out near 1 000:1; real sheets stay well under 50:1
RATIO_CHECK_FLOOR_BYTES = 1024 * 1024  # small parts may compress absurdly well, harmlessly
MAX_XLSX_PARTS = 10_000
MAX_CELL_CHARS = 1_000
HEADER_SEARCH_ROWS = 20
MANY_WARNINGS = 10  # beyond this, one warning per column instead of one per cell

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
INPUT_SUFFIXES = (".csv", ".xlsx", ".xlsm")
SEPARATORS = (";", ",", "\t")
ACCEPTED_SEPARATORS = "point-virgule « ; », virgule « , » ou tabulation"
PASTE_VALUES = "collez les valeurs (Collage spécial → Valeurs)"
RETYPE = "Retapez la valeur (le caractère vient souvent d'un copier-coller)."

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_CONTROL_CHARS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"
_LINE_BREAKS = r"[\r\n]"
_ODD_CHARS = r"[\x00-\x08\x0A-\x1F\x7F]"  # control characters and line breaks; tab is fine
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")  # how a workbook stores a control character (_x0007_)
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


@dataclass(frozen=True, eq=False)
class PupilCounts:
    """effectifs.csv/.xlsx in whichever of its three forms (``export_officiel``, ``par_ecole``, ``par_commune``)."""

    table: Table
    form: str
    problems: tuple[Problem, ...] = ()


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


# --------------------------------------------------------------------------- tables


def _sentence(message: str, suggestion: str | None) -> str:
    """A message followed by a suggestion ends with a full stop, so that the rendered line reads well."""
    return message if not suggestion or message.endswith((".", "?", "!")) else message + "."


def _error(file: str, row: int | None, column: str | None, message: str, *, value: str | None = None,
           suggestion: str | None = None) -> Problem:
    return P.error(file, row, column, _sentence(message, suggestion), value=value, suggestion=suggestion)


def _warning(file: str, row: int | None, column: str | None, message: str, *, value: str | None = None,
             suggestion: str | None = None) -> Problem:
    return P.warning(file, row, column, _sentence(message, suggestion), value=value, suggestion=suggestion)


def read_table(path: Path, *, display: str, columns: Mapping[str, Sequence[str]],
               required: Collection[str]) -> Table:
    """Read a CSV or XLSX table; ``columns`` maps each canonical name to the header spellings accepted."""
    grid = _read_grid(Path(path), display=display, columns=columns, required=required)
    problems = list(grid.problems)
    if grid.readable:
        problems += _missing_columns(grid, display=display, columns=columns, required=[(name,) for name in required])
    return _table(grid, display=display, problems=problems)


def _table(grid: _Grid, *, display: str, problems: Iterable[Problem]) -> Table:
    headers = {name: grid.headers[pos] for name, pos in grid.positions.items()}
    return Table(display, grid.frame, headers, grid.sheet, tuple(problems))


def _spellings(columns: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Folded spelling -> canonical name (the canonical name itself is always accepted)."""
    lookup: dict[str, str] = {}
    for name, spellings in columns.items():
        for spelling in (name, *spellings):
            lookup.setdefault(fold_header(spelling), name)
    return lookup


def _read_grid(path: Path, *, display: str, columns: Mapping[str, Sequence[str]],
               required: Collection[str]) -> _Grid:
    lookup = _spellings(columns)
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            head = stream.read(512)
    except OSError as exc:
        return _unreadable(display, f"fichier illisible ({exc.strerror or exc})")
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
            return _unreadable(display, f"fichier illisible ({exc.strerror or exc})")
        return _read_csv(data, display=display, lookup=lookup)
    if kind in ("pdf", "ole", "ods"):
        return _unreadable(display, *_wrong_kind(kind, expected=None))
    return _unreadable(display, f"format de fichier non pris en charge (« {path.suffix or 'sans extension'} »)",
                       suggestion="Enregistrez le tableau au format CSV ou Classeur Excel (.xlsx).")


def _unreadable(display: str, message: str, suggestion: str | None = None) -> _Grid:
    problem = _error(display, None, None, message, suggestion=suggestion)
    return _Grid((), {}, _empty_frame(()), None, None, (problem,), readable=False)


def _empty_frame(names: Iterable[str]) -> pl.DataFrame:
    return pl.DataFrame(schema={**{name: pl.Utf8 for name in names}, "_row": pl.Int64})


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
    problems = []
    for group in missing:
        names = f"« {group[0]} »" + "".join(f" (ou « {other} »)" for other in group[1:])
        problems.append(_error(display, None, None,
                               f"colonne obligatoire {names} absente ; colonnes trouvées : {listed or 'aucune'}",
                               suggestion=_nearest_header(group, grid.headers, grid.positions, columns)))
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


def _separator_problem(display: str, header_line: str) -> Problem:
    seen = _seen_separator(header_line)
    what = f"séparateur « {seen} » trouvé" if seen else "aucun séparateur trouvé"
    return _error(display, None, None,
                  f"la ligne d'en-tête ne se découpe pas en colonnes : {what} ; séparateurs acceptés : "
                  f"{ACCEPTED_SEPARATORS}",
                  suggestion="Dans Excel : Fichier → Enregistrer sous → « CSV (séparateur : point-virgule) ».")


def _seen_separator(line: str) -> str | None:
    counts = {char: line.count(char) for char in "|:/#!~^*+$%&"}
    char, count = max(counts.items(), key=lambda item: item[1])
    return char if count else None


# --------------------------------------------------------------------------- CSV


def _read_csv(data: bytes, *, display: str, lookup: Mapping[str, str]) -> _Grid:
    utf8 = _as_utf8(data)
    if utf8 is None:
        return _unreadable(display, "ce fichier n'est pas un tableau lisible (contenu binaire ou encodage inconnu)",
                           suggestion="Exportez les données au format CSV UTF-8 ou Classeur Excel (.xlsx).")
    if not utf8.strip():
        return _unreadable(display, "le fichier est vide")
    header_line = utf8.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    separator = _detect_separator(header_line, lookup)
    raw, problems = _csv_cells(utf8, separator, display=display)
    if raw is None:
        return _Grid((), {}, _empty_frame(()), None, separator, tuple(problems), readable=False)
    headers = tuple((value or "").strip() for value in raw.row(0)) if raw.height else ()
    positions, found = _header_positions(headers, lookup, display=display, letters=False)
    problems += found
    body = raw.slice(1).with_row_index("_row", offset=2).with_columns(pl.col("_row").cast(pl.Int64))
    # a row that holds nothing but blanks is skipped, keeping its number for the rows after it
    body = body.filter(pl.concat_str(raw.columns, ignore_nulls=True).str.contains(r"\S"))
    frame = body.select(*(pl.col(raw.columns[pos]).alias(name) for name, pos in positions.items()), "_row")
    frame, found = _clean_text(frame, positions, headers, display=display, cell_refs=False)
    problems += found
    return _Grid(headers, positions, frame, None, separator, tuple(problems))


def _as_utf8(data: bytes) -> bytes | None:
    """UTF-8 (BOM or not), UTF-16 with BOM (Excel « Texte Unicode »), else Windows-1252; None when binary."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data[:65_536]:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")  # what French Excel writes as « CSV (séparateur : point-virgule) »
        except UnicodeDecodeError:
            return None
        data = text.encode("utf-8")
    sample = text[:8_192]
    controls = sum(1 for char in sample if (ord(char) < 32 and char not in "\t\r\n") or char == "\x7f")
    if controls > max(2, len(sample) // 200):
        return None
    return data


def _detect_separator(header_line: str, lookup: Mapping[str, str]) -> str:
    """The separator that splits the header into the most recognised names (then the most fields)."""
    def score(separator: str) -> tuple[int, int]:
        fields = next(csv.reader([header_line], delimiter=separator), [])
        return len(_recognised(fields, lookup)), len(fields)

    return max(SEPARATORS, key=score)


def _csv_cells(data: bytes, separator: str, *, display: str) -> tuple[pl.DataFrame | None, list[Problem]]:
    """Every record as text columns ``c0…``, header included: polars, or Python's csv for ragged files."""
    try:
        raw = pl.read_csv(data, has_header=False, separator=separator, infer_schema=False, quote_char='"',
                          raise_if_empty=False)
    except pl.exceptions.ComputeError:
        return _csv_cells_slowly(data.decode("utf-8"), separator, display=display)
    return raw.rename({old: f"c{i}" for i, old in enumerate(raw.columns)}), []


def _csv_cells_slowly(text: str, separator: str, *, display: str) -> tuple[pl.DataFrame | None, list[Problem]]:
    """Rows longer than the header (a separator typed inside a value) or broken quoting, located."""
    records: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True):
            records.append(record)
    except csv.Error:
        return None, [_error(display, None, None,
                             f"guillemet « \" » mal placé ou non refermé à la ligne {len(records) + 1} : "
                             f"le découpage en colonnes est impossible",
                             suggestion="Ouvrez le fichier dans Excel ou LibreOffice et enregistrez-le de nouveau "
                                         "au format CSV.")]
    problems = []
    width = len(records[0]) if records else 0
    for number, record in enumerate(records[1:], start=2):
        if len(record) > width and any(value.strip() for value in record[width:]):
            problems.append(_error(display, number, None,
                                   f"{len(record)} valeurs alors que l'en-tête a {width} colonnes : une valeur "
                                   f"contient sans doute le séparateur « {_show_separator(separator)} »",
                                   suggestion="Mettez cette valeur entre guillemets ou retirez le séparateur."))
    columns = {f"c{i}": [(r[i] if i < len(r) and r[i] != "" else None) for r in records] for i in range(width)}
    return pl.DataFrame(columns, schema={name: pl.Utf8 for name in columns}), problems


def _show_separator(separator: str) -> str:
    return "tabulation" if separator == "\t" else separator


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


# --------------------------------------------------------------------------- XLSX


def _read_xlsx(path: Path, *, display: str, lookup: Mapping[str, str], required: Collection[str]) -> _Grid:
    refused = _check_archive(path)
    if refused is not None:
        return _unreadable(display, *refused)
    import openpyxl.xml  # openpyxl parses its small parts with defusedxml only when this says so
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    if not openpyxl.xml.DEFUSEDXML:
        return _unreadable(display, "lecture des classeurs Excel désactivée : la protection defusedxml n'est pas "
                                    "active", suggestion="Installez le paquet defusedxml (pip install defusedxml).")
    failures = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, IndexError, ValueError, TypeError,
                ParseError, InvalidFileException)
    try:
        with open(path, "rb") as stream:
            workbook = load_workbook(stream, read_only=True, data_only=False, keep_links=False)
            try:
                return _read_sheet(workbook, stem=path.stem, display=display, lookup=lookup, required=required)
            finally:
                workbook.close()
    except failures as exc:  # a damaged or hostile workbook: say so, never a traceback
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return _unreadable(display, f"classeur Excel illisible ({detail})",
                           suggestion="Ouvrez-le dans Excel ou LibreOffice et enregistrez-le de nouveau au format "
                                      ".xlsx.")


def _check_archive(path: Path) -> tuple[str, str | None] | None:
    """Refuse a zip bomb or an XML part with a DTD (entities) before openpyxl expands anything."""
    hostile = "N'ouvrez pas ce fichier : demandez-en une copie saine à son expéditeur."
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
            if len(parts) > MAX_XLSX_PARTS:
                return f"classeur refusé : {len(parts)} éléments dans l'archive (fichier piégé ?)", hostile
            total = sum(part.file_size for part in parts)
            if total > MAX_XLSX_UNCOMPRESSED_BYTES:
                return (f"classeur refusé : {total / 1_048_576:.0f} Mo une fois décompressé (au plus "
                        f"{MAX_XLSX_UNCOMPRESSED_BYTES // 1_048_576} Mo)",
                        "Pour un gros export, utilisez le fichier CSV tel que téléchargé.")
            for part in parts:
                ratio = part.file_size // max(part.compress_size, 1)
                if part.file_size > RATIO_CHECK_FLOOR_BYTES and ratio > MAX_XLSX_RATIO:
                    return (f"classeur refusé : l'élément « {part.filename} » se décompresse {ratio} fois "
                            f"(taux anormal : fichier piégé ?)", hostile)
                if part.flag_bits & 0x1:
                    return "classeur refusé : archive chiffrée", "Enregistrez-le de nouveau sans mot de passe."
            for part in parts:
                if part.filename.lower().endswith((".xml", ".rels", ".vml")) and _declares_dtd(archive, part):
                    return (f"classeur refusé : l'élément « {part.filename} » déclare une DTD (entités XML), ce "
                            f"qu'un classeur Excel ne contient jamais (fichier piégé ?)", hostile)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        return (f"ce fichier n'est pas un classeur Excel valide (archive illisible : {str(exc)[:80]})",
                "Ouvrez-le dans Excel ou LibreOffice et enregistrez-le de nouveau au format .xlsx.")
    return None


def _declares_dtd(archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> bool:
    """A DTD can only stand before the root element: parse up to it, with defusedxml refusing any DTD."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    with archive.open(part) as stream:
        try:
            for _ in iterparse(stream, events=("start",), forbid_dtd=True, forbid_entities=True,
                               forbid_external=True):
                return False
        except DefusedXmlException:
            return True
        except ParseError:
            return False  # not XML at all: openpyxl will say the workbook is unreadable
    return False


def _read_sheet(workbook, *, stem: str, display: str, lookup: Mapping[str, str], required: Collection[str]) -> _Grid:
    from openpyxl.utils.cell import range_boundaries
    from openpyxl.worksheet.formula import ArrayFormula

    sheets = workbook.worksheets
    if not sheets:
        return _unreadable(display, "le classeur ne contient aucune feuille de calcul")
    sheet = next((s for s in sheets if fold_header(s.title) == fold_header(stem)), sheets[0])
    sheet.reset_dimensions()  # a wrong <dimension> would silently cut rows off
    rows = enumerate(sheet.iter_rows(), start=1)

    wanted = max(1, min(2, len(set(lookup.values()))))
    one_required = set(required) if len(required) == 1 else None
    scanned: list[tuple[int, tuple]] = []
    header_at: int | None = None
    arrays: list[tuple[int, int, int, int, str, str]] = []  # min_col, min_row, max_col, max_row, anchor, formula

    def note_arrays(cells: tuple) -> None:
        for cell in cells:
            if cell.data_type == "f" and isinstance(cell.value, ArrayFormula) and cell.value.ref:
                bounds = range_boundaries(cell.value.ref)
                arrays.append((*bounds, cell.coordinate, cell.value.text or "="))

    for number, cells in rows:
        note_arrays(cells)
        scanned.append((number, cells))
        texts = [_cell_text(c.value) or "" for c in cells if c.data_type != "f"]
        hits = _recognised(texts, lookup)
        if len(hits) >= wanted or (one_required and one_required <= hits):
            header_at = len(scanned) - 1
            break
        if number >= HEADER_SEARCH_ROWS:
            break
    if header_at is None:
        header_at = next((i for i, (_, cells) in enumerate(scanned) if not _empty_row(cells)), None)
        if header_at is None:
            return _unreadable(display, f"la feuille « {sheet.title} » est vide")
    header_cells = scanned[header_at][1]
    headers = tuple(("" if c.data_type == "f" else _cell_text(c.value) or "") for c in header_cells)
    positions, problems = _header_positions(headers, lookup, display=display, letters=True)
    columns: dict[str, list[str | None]] = {name: [] for name in positions}
    numbers: list[int] = []

    def take(number: int, cells: tuple) -> None:
        if _empty_row(cells):
            return
        numbers.append(number)
        for name, pos in positions.items():
            cell = cells[pos] if pos < len(cells) else None
            text = None
            if cell is not None and cell.value is not None:
                text = _kept_cell_text(cell, number, pos, arrays, display=display, header=headers[pos],
                                       problems=problems)
            columns[name].append(text)

    for number, cells in scanned[header_at + 1:]:
        take(number, cells)
    for number, cells in rows:
        note_arrays(cells)
        take(number, cells)
    frame = pl.DataFrame({**columns, "_row": numbers},
                         schema={**{name: pl.Utf8 for name in columns}, "_row": pl.Int64})
    frame, found = _clean_text(frame, positions, headers, display=display, cell_refs=True)
    problems += found
    return _Grid(headers, positions, frame, sheet.title, None, tuple(problems))


def _kept_cell_text(cell, number: int, pos: int, arrays: list, *, display: str, header: str,
                    problems: list[Problem]) -> str | None:
    """A value cell as text; a formula or an error cell is refused (never read as empty)."""
    where = f"{_column_letter(pos)}{number}"
    if cell.data_type == "f":
        problems.append(_error(display, number, header,
                               f"cellule {where} : une formule ({_formula_text(cell.value)}) au lieu d'une valeur ; "
                               f"{PASTE_VALUES}"))
        return None
    if cell.data_type == "e":
        problems.append(_error(display, number, header,
                               f"cellule {where} : une erreur Excel ({cell.value}) au lieu d'une valeur",
                               suggestion="Corrigez la formule d'origine, puis collez les valeurs."))
        return None
    column = pos + 1
    for min_col, min_row, max_col, max_row, anchor, formula in arrays:
        if min_col <= column <= max_col and min_row <= number <= max_row:
            problems.append(_error(display, number, header,
                                   f"cellule {where} : le résultat d'une formule matricielle ({_shorten(formula)}, "
                                   f"en {anchor}) au lieu d'une valeur ; {PASTE_VALUES}"))
            return None
    if isinstance(cell.value, str):
        return _cell_text(_OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), cell.value))
    return _cell_text(cell.value)


def _formula_text(value) -> str:
    text = getattr(value, "text", None) or (value if isinstance(value, str) else "table de données")
    return _shorten(str(text))


def _empty_row(cells: tuple) -> bool:
    return all(c.value is None or (isinstance(c.value, str) and not c.value.strip()) for c in cells)


def _cell_text(value) -> str | None:
    """An Excel value as the text a person typed: 12, 1.2, 2024-01-01, VRAI."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "VRAI" if value else "FAUX"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        if value.is_integer():
            return str(int(value))
        # The shortest text that reads back as the same double: what was typed, for ≤ 15 significant digits.
        return format(Decimal(repr(value)), "f")
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    text = str(value).strip()
    return text or None


# --------------------------------------------------------------------------- typing


@dataclass(frozen=True)
class _Parsed:
    value: object = None  # None: refused
    message: str | None = None  # error (or warning) text, the value in « »
    suggestion: str | None = None
    warning: bool = False


_OK_INT = re.compile(r"^[+-]?[\d.,]+$")
_AMBIGUOUS_THOUSANDS = re.compile(r"^[+-]?\d{1,3}([.,]\d{3})+$")
_OK_DECIMAL = re.compile(r"^[+-]?(\d[\d.,]*|[.,]\d+)$")
_ISO_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DMY_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d+)(?: +\d{1,2}:\d{2}(?::\d{2})?)?$")
_SERIAL = re.compile(r"^\d{1,7}(?:[.,]\d+)?$")
_WORD_DATE = re.compile(r"^(\d{1,2})(?:er)?\s+([a-z]+)\.?\s+(\d{4})$")
_MONTHS = {
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4, "avr": 4, "mai": 5,
    "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9, "sept": 9, "octobre": 10, "oct": 10,
    "novembre": 11, "nov": 11, "decembre": 12, "dec": 12,
}
_EXCEL_EPOCH = date(1899, 12, 30)  # 1900 date system, past its fictitious 29/02/1900 (serial 60)
_LAST_SERIAL = 2_958_465  # 31/12/9999
DATE_HINT = "Écrivez la date au format JJ/MM/AAAA (par exemple 13/12/2023)."


def _parse_int(text: str) -> _Parsed:
    if text.isascii() and text.isdigit():
        return _Parsed(int(text))
    compact = _SPACES.sub("", text)
    if _AMBIGUOUS_THOUSANDS.match(compact):
        digits = re.sub(r"[.,]", "", compact)
        grouped = f"{int(digits):,}".replace(",", " ")
        return _Parsed(message=f"« {text} » : séparateur de milliers ambigu (nombre entier attendu)",
                       suggestion=f"Écrivez {digits} ou {grouped} si c'est bien ce nombre.")
    if _OK_INT.match(compact):
        try:
            number = parse_decimal_text(compact)
        except MoneyError:
            number = None
        if number is not None and number == number.to_integral_value():
            return _Parsed(int(number))
    return _Parsed(message=f"« {text} » n'est pas un nombre entier")


def _parse_decimal(text: str) -> _Parsed:
    compact = _SPACES.sub("", text).replace("€", "").replace("EUR", "").replace("eur", "")
    if _OK_DECIMAL.match(compact):
        try:
            number = parse_decimal_text(compact)
        except MoneyError:
            number = None
        if number is not None:
            if number == 0:
                number = number.copy_abs()
            return _Parsed(format(number, "f"))
    return _Parsed(message=f"« {text} » n'est pas un nombre",
                   suggestion="Écrivez par exemple 1 234,56 ou 1234.56.")


def _parse_date(text: str) -> _Parsed:
    compact = text.strip()
    iso = _ISO_DATE.match(compact)
    if iso:
        return _make_date(text, int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    dmy = _DMY_DATE.match(compact)
    if dmy:
        day, month, year = dmy.group(1), dmy.group(2), dmy.group(3)
        if len(year) == 2:
            return _Parsed(message=f"« {text} » : l'année doit avoir 4 chiffres",
                           suggestion=f"Écrivez « {int(day):02d}/{int(month):02d}/20{year} » (ou 19{year}).")
        if len(year) == 4:
            return _make_date(text, int(year), int(month), int(day))
    words = _WORD_DATE.match(fold_header(compact).replace("_", " "))
    if words and words.group(2) in _MONTHS:
        return _make_date(text, int(words.group(3)), _MONTHS[words.group(2)], int(words.group(1)))
    if _SERIAL.match(compact):
        serial = int(compact.replace(",", ".").split(".")[0])
        if len(compact) == 4 and 1900 <= serial <= 2100:
            return _Parsed(message=f"« {text} » : une année seule n'est pas une date",
                           suggestion=f"Indiquez le jour, par exemple « 01/01/{serial} ».")
        if serial == 60:
            return _Parsed(message=f"« {text} » : date impossible (le 29/02/1900 d'Excel n'existe pas)",
                           suggestion=DATE_HINT)
        if 1 <= serial <= _LAST_SERIAL:
            return _Parsed(_EXCEL_EPOCH + timedelta(days=serial + (1 if serial < 60 else 0)))
    return _Parsed(message=f"« {text} » n'est pas une date", suggestion=DATE_HINT)


def _make_date(text: str, year: int, month: int, day: int) -> _Parsed:
    try:
        return _Parsed(date(year, month, day))
    except ValueError:
        return _Parsed(message=f"« {text} » : date impossible",
                       suggestion="Vérifiez le jour et le mois (format JJ/MM/AAAA).")


def _parse_code_insee(text: str) -> _Parsed:
    code = _SPACES.sub("", text).upper()
    if re.fullmatch(r"\d{5}|2[AB]\d{3}", code):
        return _Parsed(code)
    if re.fullmatch(r"\d{4}", code):
        return _Parsed(f"0{code}", message=f"« {text} » : le zéro initial a été rétabli (« 0{code} »)",
                       warning=True)
    return _Parsed(message=f"« {text} » n'est pas un code INSEE (5 caractères, par exemple 59350 ou 2A004)")


def _parse_uai(text: str) -> _Parsed:
    code = _SPACES.sub("", text).upper()
    if re.fullmatch(r"\d{7}[A-Z]", code):
        return _Parsed(code)
    return _Parsed(message=f"« {text} » n'est pas un UAI (7 chiffres et une lettre, par exemple 0350103X)")


def _parse_siret(text: str) -> _Parsed:
    code = _SPACES.sub("", text)
    if re.fullmatch(r"\d{14}", code):
        return _Parsed(code)
    hint = ("C'est un SIREN (9 chiffres) : ajoutez les 5 chiffres de l'établissement (NIC)."
            if re.fullmatch(r"\d{9}", code) else None)
    return _Parsed(message=f"« {text} » n'est pas un SIRET (14 chiffres)", suggestion=hint)


_PARSERS: dict[str, tuple[Callable[[str], _Parsed], pl.DataType]] = {
    "int": (_parse_int, pl.Int64),
    "decimal": (_parse_decimal, pl.Utf8),
    "date": (_parse_date, pl.Date),
    "code_insee": (_parse_code_insee, pl.Utf8),
    "uai": (_parse_uai, pl.Utf8),
    "siret": (_parse_siret, pl.Utf8),
}


def coerce(table: Table, types: Mapping[str, str]) -> tuple[pl.DataFrame, list[Problem]]:
    """Type the named text columns; every cell that does not parse becomes null plus one located problem.

    Kinds: text, int, decimal (kept as a canonical Decimal string: no float ever), date,
    code_insee, uai, siret (format only). Each distinct value is parsed once, then mapped.
    """
    frame = table.frame
    problems: list[Problem] = []
    typed = []
    for name, kind in types.items():
        if kind != "text" and kind not in _PARSERS:
            raise ValueError(f"type de colonne inconnu : {kind!r}")
        if kind == "text" or name not in frame.columns:
            continue
        parse, dtype = _PARSERS[kind]
        results = {value: parse(value) for value in frame.get_column(name).drop_nulls().unique().to_list()}
        mapping = {value: r.value for value, r in results.items() if r.value is not None}
        typed.append(pl.col(name).replace_strict(mapping, default=None, return_dtype=dtype))
        flagged = {value: r for value, r in results.items() if r.message}
        if flagged:
            problems += _coerce_problems(table, name, flagged)
    return (frame.with_columns(typed) if typed else frame), problems


def _coerce_problems(table: Table, name: str, flagged: Mapping[str, _Parsed]) -> list[Problem]:
    header = table.headers.get(name, name)
    cells = table.frame.filter(pl.col(name).is_in(list(flagged))).select("_row", name).sort("_row")
    errors, warnings = [], []
    for row, value in cells.iter_rows():
        parsed = flagged[value]
        severity = "avertissement" if parsed.warning else "erreur"
        problem = Problem(table.display, row, header, _sentence(parsed.message, parsed.suggestion), value,
                          parsed.suggestion, severity)
        (warnings if parsed.warning else errors).append(problem)
    if len(warnings) > MANY_WARNINGS:  # e.g. a whole département typed as numbers: one line, not thousands
        rows = [w.row for w in warnings]
        shown = ", ".join(str(r) for r in rows[:8]) + (f"… (+{len(rows) - 8})" if len(rows) > 8 else "")
        warnings = [_warning(table.display, rows[0], header,
                             f"le zéro initial a été rétabli dans {len(rows)} codes à 4 chiffres (lignes {shown})",
                             suggestion="Mettez la colonne au format Texte dans Excel pour garder les zéros.")]
    return errors + warnings


# --------------------------------------------------------------------------- effectifs, annuaire


PUPIL_COUNT_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "rentree": ("rentree", "rentree_scolaire", "annee_scolaire"),
    "uai": ("uai", "numero_ecole", "numero_de_l_ecole", "numero_uai", "code_uai"),
    "denomination": ("denomination_principale",),
    "patronyme": ("patronyme", "patronyme_uai"),
    "ecole": ("ecole", "nom_ecole", "nom_de_l_ecole", "nom_etablissement"),
    "commune_nom": ("commune_nom", "commune", "nom_commune", "libelle_commune"),
    "code_postal": ("code_postal", "cp"),
    "code_insee": ("code_insee", "code_commune_insee", "code_commune", "insee", "cog"),
    "secteur": ("secteur", "secteur_public_prive", "statut_public_prive"),
    "eleves": ("eleves", "nombre_total_eleves", "nombre_total_d_eleves", "nb_eleves", "nombre_d_eleves",
               "effectif"),
    "classes": ("classes", "nombre_total_classes", "nombre_total_de_classes", "nb_classes", "nombre_de_classes"),
    "ecoles": ("ecoles", "nombre_ecoles", "nombre_d_ecoles", "nb_ecoles"),
}
PUPIL_COUNT_OUTPUT = ("rentree", "uai", "ecole", "commune_nom", "code_postal", "code_insee", "secteur", "eleves",
                      "classes", "ecoles")
OFFICIAL_EXPORT_HEADERS = frozenset({
    "rentree_scolaire", "numero_ecole", "numero_de_l_ecole", "denomination_principale", "nombre_total_eleves",
    "nombre_total_d_eleves", "nombre_total_classes", "nombre_total_de_classes",
})
_WHERE = ("code_insee", "commune_nom")
PUPIL_COUNT_REQUIRED = {
    "export_officiel": (("rentree",), ("uai",), _WHERE, ("secteur",), ("eleves",)),
    "par_ecole": (("rentree",), ("uai",), _WHERE, ("secteur",), ("eleves",)),
    "par_commune": (("rentree",), _WHERE, ("ecoles",), ("eleves",)),
}


def read_pupil_counts(path: Path, *, display: str) -> PupilCounts:
    """effectifs: the official export (labelled or API headers), one row per school, or one per commune."""
    grid = _read_grid(Path(path), display=display, columns=PUPIL_COUNT_COLUMNS, required=("eleves",))
    if not grid.readable:
        return PupilCounts(_table(grid, display=display, problems=grid.problems), "inconnue")
    folded = {fold_header(h) for h in grid.headers}
    if folded & OFFICIAL_EXPORT_HEADERS:
        form = "export_officiel"
    elif "uai" in grid.positions:
        form = "par_ecole"
    elif "ecoles" in grid.positions:
        form = "par_commune"
    else:
        table = _table(grid, display=display, problems=grid.problems)
        return PupilCounts(table, "inconnue", (_unknown_form(grid, display=display),))
    problems = list(grid.problems)
    problems += _missing_columns(grid, display=display, columns=PUPIL_COUNT_COLUMNS,
                                 required=PUPIL_COUNT_REQUIRED[form])
    frame, headers = grid.frame, {name: grid.headers[pos] for name, pos in grid.positions.items()}
    if form == "export_officiel" and "ecole" not in frame.columns and (
            "denomination" in frame.columns or "patronyme" in frame.columns):
        parts = [name for name in ("denomination", "patronyme") if name in frame.columns]
        frame = frame.with_columns(
            pl.concat_str([pl.col(p) for p in parts], separator=" ", ignore_nulls=True).alias("ecole"))
        headers["ecole"] = " + ".join(headers[p] for p in parts)
    frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(name)
                               for name in PUPIL_COUNT_OUTPUT if name not in frame.columns)
    frame = frame.with_columns(pl.when(pl.col("ecole") == "").then(None).otherwise(pl.col("ecole")).alias("ecole"))
    for name in ("denomination", "patronyme"):
        headers.pop(name, None)
    table = Table(display, frame.select(*PUPIL_COUNT_OUTPUT, "_row"), headers, grid.sheet, tuple(problems))
    return PupilCounts(table, form)


def _unknown_form(grid: _Grid, *, display: str) -> Problem:
    if _single_column(grid):
        return _separator_problem(display, grid.headers[0] if grid.headers else "")
    found = ", ".join(f"« {h} »" for h in grid.headers if h) or "aucune"
    return _error(display, None, None,
                  f"forme du fichier d'effectifs non reconnue ; colonnes trouvées : {found}",
                  suggestion="Attendu : l'export « Effectifs d'élèves par école » de l'Éducation nationale tel que "
                             "téléchargé, ou les colonnes rentree, uai, ecole, code_insee, secteur, eleves, classes "
                             "(une ligne par école), ou rentree, code_insee, ecoles, eleves (une ligne par commune).")


ANNUAIRE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "uai": ("uai", "identifiant_de_l_etablissement", "numero_uai", "numero_ecole"),
    "ecole": ("ecole", "nom_etablissement", "appellation_officielle"),
    "secteur": ("secteur", "statut_public_prive", "secteur_public_prive"),
    "code_postal": ("code_postal",),
    "code_insee": ("code_insee", "code_commune", "code_commune_insee"),
    "commune_nom": ("commune_nom", "nom_commune", "libelle_commune"),
    "siret": ("siret", "siren_siret"),
}


def read_annuaire(path: Path, *, display: str) -> Table:
    """The « Annuaire de l'éducation » export: UAI -> INSEE code of the school's commune (and its SIRET)."""
    return read_table(path, display=display, columns=ANNUAIRE_COLUMNS, required=("uai", "code_insee"))


# --------------------------------------------------------------------------- files


def find_input(folder: Path, stem: str) -> tuple[Path | None, list[Problem]]:
    """``stem``.csv/.xlsx/.xlsm in ``folder``, whatever the case; two candidates are an error, not a guess."""
    folder = Path(folder)
    try:
        entries = [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return None, []
    matches = sorted((p for p in entries if p.suffix.lower() in INPUT_SUFFIXES and p.stem.lower() == stem.lower()),
                     key=lambda p: (INPUT_SUFFIXES.index(p.suffix.lower()), p.name))
    if len(matches) <= 1:
        return (matches[0] if matches else None), []
    names = [f"« {p.name} »" for p in matches]
    listed = ", ".join(names[:-1]) + " et " + names[-1]
    return matches[0], [_error(f"{folder.name}/{stem}" if folder.name else stem, None, None,
                               f"plusieurs fichiers pour les mêmes données : {listed}",
                               suggestion="Gardez-en un seul dans le dossier : le programme ne choisit pas à "
                                           "votre place.")]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks (inputs are listed with their hash in every report)."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
