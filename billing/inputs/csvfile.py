"""CSV bytes -> a grid of text cells: encoding, separator, ragged rows, broken quotes."""

from __future__ import annotations

import codecs
import csv
import io
import re
from typing import Mapping

import polars as pl

from billing.core.problems import Problem
from billing.inputs.grid import _Grid, _clean_text, _empty_frame, _error, _header_positions, _recognised, _unreadable


SEPARATORS = (";", ",", "\t")
MAX_HEADER_CHARS = 65_536  # a header of 1 000 long column names; a longer first line is no header
MAX_COLUMNS = 5_000  # polars makes one column per field: 2 million fields on one line would exhaust memory
ACCEPTED_SEPARATORS = "point-virgule « ; », virgule « , » ou tabulation"


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


def _read_csv(data: bytes, *, display: str, lookup: Mapping[str, str]) -> _Grid:
    mixed = _mixed_encoding(data, display=display)  # then read as UTF-8, « � » for the bad bytes, all checked
    utf8 = _as_utf8(data) if mixed is None else data.decode("utf-8-sig", errors="replace").encode("utf-8")
    if utf8 is None:
        return _unreadable(display, "ce fichier n'est pas un tableau lisible (contenu binaire ou encodage inconnu)",
                           suggestion="Exportez les données au format CSV UTF-8 ou Classeur Excel (.xlsx).")
    if not utf8.strip():
        return _unreadable(display, "le fichier est vide")
    if b"\n" not in utf8 and b"\r" in utf8:
        utf8 = utf8.replace(b"\r", b"\n")  # Excel for Mac « CSV Macintosh »: lines end with CR alone
    utf8 = utf8.replace(codecs.BOM_UTF8, b"")  # a BOM inside the file (two exports pasted together) is invisible
    utf8, problems = _without_nul(utf8, display=display)
    problems = problems if mixed is None else [mixed, *problems]
    header_line = utf8.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    if len(header_line) > MAX_HEADER_CHARS:
        return _unreadable(display, f"la première ligne fait {len(header_line)} caractères (au plus "
                                    f"{MAX_HEADER_CHARS} pour une ligne d'en-tête) : les fins de ligne manquent ou ce "
                                    f"n'est pas un tableau", suggestion="Ouvrez le fichier dans Excel ou LibreOffice "
                                                                        "et enregistrez-le de nouveau au format CSV.")
    separator = _detect_separator(header_line, lookup)
    if header_line.count(separator) >= MAX_COLUMNS:
        return _unreadable(display, f"{header_line.count(separator) + 1} colonnes dans la ligne d'en-tête (au plus "
                                    f"{MAX_COLUMNS})", suggestion="Ne gardez que les colonnes utiles.")
    raw, found = _csv_cells(utf8, separator, display=display)
    problems += found
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


MAX_NUL_LINES = 10


def _without_nul(data: bytes, *, display: str) -> tuple[bytes, list[Problem]]:
    """A NUL byte (a damaged copy, a bad export) is an error naming its line; the bytes are then dropped
    so that the rest of the file is still checked."""
    if b"\x00" not in data:
        return data, []
    lines = [number for number, line in enumerate(data.split(b"\n"), start=1) if b"\x00" in line]
    shown = ", ".join(map(str, lines[:MAX_NUL_LINES])) + (f"… (+{len(lines) - MAX_NUL_LINES})"
                                                         if len(lines) > MAX_NUL_LINES else "")
    problem = _error(display, lines[0], None,
                     f"octet nul (U+0000) dans le fichier, ligne{'s' if len(lines) > 1 else ''} {shown} : un texte "
                     f"n'en contient jamais (copie endommagée ou export défectueux)",
                     suggestion="Exportez de nouveau le fichier depuis le logiciel d'origine.")
    return data.replace(b"\x00", b""), [problem]


def _mixed_encoding(data: bytes, *, display: str) -> Problem | None:
    """UTF-8 accents and bytes invalid in UTF-8 in the same file (two files pasted together, a line typed in
    another program): read whole as Windows-1252, every UTF-8 accent would turn into « Ã© ». The lines are named."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or data.isascii():
        return None
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    if not _UTF8_ACCENT.search(data):
        return None  # no valid UTF-8 accent at all: a Windows-1252 file, read as such
    lines = [number for number, line in enumerate(data.split(b"\n"), start=1) if not _is_utf8(line)]
    if not lines:
        return None
    one = len(lines) == 1
    shown = ", ".join(map(str, lines[:MAX_NUL_LINES])) + (f"… (+{len(lines) - MAX_NUL_LINES})"
                                                         if len(lines) > MAX_NUL_LINES else "")
    return _error(display, lines[0], None,
                  f"le fichier est en UTF-8 mais {'la ligne' if one else 'les lignes'} {shown} "
                  f"{'contient' if one else 'contiennent'} des octets invalides en UTF-8 (deux encodages mélangés : "
                  f"un copier-coller depuis un autre logiciel ?)",
                  suggestion="Ouvrez le fichier dans LibreOffice (jeu de caractères UTF-8), corrigez les caractères "
                             "affichés « � » et enregistrez-le en CSV UTF-8.")


_UTF8_ACCENT = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _as_utf8(data: bytes) -> bytes | None:
    """UTF-8 (BOM or not), UTF-16 with BOM (Excel « Texte Unicode »), else Windows-1252; None when binary."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    elif data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: same first two bytes
        try:
            return data.decode("utf-32").encode("utf-8")
        except UnicodeDecodeError:
            return None
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return None
    head = data[:65_536]
    if head.count(b"\x00") > max(8, len(head) // 1_000):
        return None  # binary, or UTF-16 without its BOM
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")  # what French Excel writes as « CSV (séparateur : point-virgule) »
        except UnicodeDecodeError:
            return None
        data = text.encode("utf-8")
    sample = text[:8_192]
    controls = sum(1 for char in sample if (0 < ord(char) < 32 and char not in "\t\r\n") or char == "\x7f")
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
    csv.field_size_limit(max(131_072, len(text) + 1))  # a long cell is checked later, with its row and column
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True):
            records.append(record)
    except csv.Error:
        return None, [_error(display, None, None,  # no row: the whole file is refused, not one line
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
