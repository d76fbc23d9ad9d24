"""The safe workbook reader: an .xlsx/.xlsm -> a grid of text cells, one located problem per bad cell.

Hostile files are refused before anything expands them: zip bombs, encrypted parts, XML
DTDs/entities (openpyxl parses sheets with the standard library's ``iterparse``, which
defusedxml does not cover, so every XML part is checked here first).
"""

from __future__ import annotations

import math
import re
import warnings
import zipfile
import zlib
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Collection, Mapping
from xml.etree.ElementTree import ParseError

import polars as pl

from billing.core.problems import Problem
from billing.inputs.grid import (
    _Grid,
    _clean_text,
    _column_letter,
    _error,
    _header_positions,
    _recognised,
    _shorten,
    _unreadable,
    fold_header,
)


MAX_XLSX_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
MAX_XLSX_RATIO = 200  # deflate tops out near 1 000:1; real sheets stay well under 50:1
RATIO_CHECK_FLOOR_BYTES = 1024 * 1024  # small parts may compress absurdly well, harmlessly
MAX_XLSX_PARTS = 10_000
HEADER_SEARCH_ROWS = 20
MAX_CELL_DETAILS = 100
PASTE_VALUES = "collez les valeurs (Collage spécial → Valeurs)"
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")  # how a workbook stores a control character (_x0007_)


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
        # openpyxl warns on stderr about what it does not support (data validation, styles…): the
        # user can do nothing with an English warning, and whatever matters is reported per cell.
        with warnings.catch_warnings(), open(path, "rb") as stream:
            warnings.simplefilter("ignore")
            workbook = load_workbook(stream, read_only=True, data_only=False, keep_links=False)
            try:
                return _read_sheet(workbook, stem=path.stem, display=display, lookup=lookup, required=required)
            finally:
                workbook.close()
    except failures as exc:  # a damaged or hostile workbook: say so, never a traceback
        return _unreadable(display, f"classeur Excel illisible ({_reason(exc)})",
                           suggestion="Ouvrez-le dans Excel ou LibreOffice et enregistrez-le de nouveau au format "
                                      ".xlsx.")


def _reason(exc: BaseException) -> str:
    """Why a workbook cannot be read, in French: the library's English words mean nothing to the officer."""
    text = str(exc)
    lower = text.lower()
    if isinstance(exc, zipfile.BadZipFile) or "zip file" in lower:
        if "crc" in lower:
            return "données corrompues : somme de contrôle fausse"
        return "archive zip incomplète ou endommagée : fichier tronqué ou mal copié ?"
    if isinstance(exc, zlib.error):
        return "données compressées corrompues"
    if isinstance(exc, EOFError):
        return "fin de fichier inattendue : fichier tronqué ?"
    if isinstance(exc, KeyError) and "no item named" in lower:
        missing = text.split("named", 1)[1].split("in the archive")[0].strip(" '\"")
        return f"élément « {missing} » absent de l'archive"
    if isinstance(exc, OSError):
        return f"erreur de lecture : {exc.strerror or 'accès impossible'}"
    if isinstance(exc, ParseError) or type(exc).__name__ == "InvalidFileException":  # openpyxl imported lazily
        return "contenu XML invalide"
    return f"structure interne invalide ({type(exc).__name__})"


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
        return (f"ce fichier n'est pas un classeur Excel valide (archive illisible : {_reason(exc)})",
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
    sheets = workbook.worksheets
    if not sheets:
        return _unreadable(display, "le classeur ne contient aucune feuille de calcul")
    visible = [s for s in sheets if s.sheet_state == "visible"] or sheets  # a hidden sheet is no one's data
    sheet = next((s for s in sheets if fold_header(s.title) == fold_header(stem)), visible[0])
    arrays: list[tuple[int, int, int, int, str, str]] = []  # min_col, min_row, max_col, max_row, anchor, formula
    rows = _sheet_rows(workbook, sheet, arrays)
    scanned, header_at = _find_header(rows, lookup, required)
    if header_at is None:
        return _unreadable(display, f"la feuille « {sheet.title} » est vide")
    header_cells = scanned[header_at][1]
    width = max(header_cells, default=-1) + 1
    headers = tuple(_header_text(header_cells.get(pos)) for pos in range(width))
    positions, found = _header_positions(headers, lookup, display=display, letters=True)
    problems = _CappedProblems(found)
    columns: dict[str, list[str | None]] = {name: [] for name in positions}
    numbers: list[int] = []
    where = f"feuille « {sheet.title} », "

    def take(number: int, cells: dict[int, dict]) -> None:
        if _empty_row(cells):
            return
        numbers.append(number)
        for name, pos in positions.items():
            cell = cells.get(pos)
            text = None
            if cell is not None and cell["value"] is not None:
                text = _kept_cell_text(cell, number, pos, arrays, display=display, header=headers[pos],
                                       problems=problems, where=where)
            columns[name].append(text)

    for number, cells in scanned[header_at + 1:]:
        take(number, cells)
    for number, cells in rows:
        take(number, cells)
    frame = pl.DataFrame({**columns, "_row": numbers},
                         schema={**{name: pl.Utf8 for name in columns}, "_row": pl.Int64})
    frame, found = _clean_text(frame, positions, headers, display=display, cell_refs=True)
    return _Grid(headers, positions, frame, sheet.title, None, (*problems, *problems.summaries(display), *found))


class _CappedProblems(list):
    """Cell problems, at most ``MAX_CELL_DETAILS`` per column: the rest are counted, not kept (a sheet of
    300 000 formulas gives a readable list and no 300 000 objects)."""

    def __init__(self, problems=()):
        super().__init__(problems)
        self.counts: dict[str | None, int] = {}

    def append(self, problem: Problem) -> None:
        count = self.counts[problem.column] = self.counts.get(problem.column, 0) + 1
        if count <= MAX_CELL_DETAILS:
            super().append(problem)

    def summaries(self, display: str) -> list[Problem]:
        return [_error(display, None, column, f"{count - MAX_CELL_DETAILS} autres cellules refusées dans cette colonne "
                                              f"(seules les {MAX_CELL_DETAILS} premières sont détaillées ; {count} en "
                                              f"tout)")
                for column, count in self.counts.items() if count > MAX_CELL_DETAILS]


def _find_header(rows, lookup: Mapping[str, str], required: Collection[str]
                 ) -> tuple[list[tuple[int, dict[int, dict]]], int | None]:
    """The rows read so far and the index of the header among them: the first row naming enough known
    columns in the first ``HEADER_SEARCH_ROWS``, else the first row that holds anything."""
    wanted = max(1, min(2, len(set(lookup.values()))))
    one_required = set(required) if len(required) == 1 else None
    scanned: list[tuple[int, dict[int, dict]]] = []
    for number, cells in rows:
        scanned.append((number, cells))
        hits = _recognised([_header_text(c) for c in cells.values()], lookup)
        if len(hits) >= wanted or (one_required and one_required <= hits):
            return scanned, len(scanned) - 1
        if number >= HEADER_SEARCH_ROWS:
            break
    return scanned, next((i for i, (_, cells) in enumerate(scanned) if not _empty_row(cells)), None)


def _header_text(cell: dict | None) -> str:
    if cell is None or cell["data_type"] in ("f", "bad"):
        return ""
    return _cell_text(cell["value"]) or ""


def _note_array(cell: dict, arrays: list) -> None:
    from openpyxl.utils.cell import range_boundaries
    from openpyxl.worksheet.formula import ArrayFormula

    if isinstance(cell["value"], ArrayFormula) and cell["value"].ref:
        bounds = range_boundaries(cell["value"].ref)
        arrays.append((*bounds, f"{_column_letter(cell['column'] - 1)}{cell['row']}", cell["value"].text or "="))


def _sheet_rows(workbook, sheet, arrays: list):
    """(row number, {position: cell}) for every row that holds at least one value, streamed.

    openpyxl's own row iterator would fill every row up to the sheet's last formatted one
    (1 048 576 when a whole column was formatted), and stops at the first cell it cannot
    convert; this one keeps only cells with a value and hands every cell over, converted or not.
    """
    from openpyxl.worksheet._reader import WorkSheetParser

    class TolerantParser(WorkSheetParser):
        def parse_row(self, row):  # no row_dimensions: a million formatted rows would each keep a dict
            number = row.get("r")
            self.row_counter = int(number) if number and number.isdigit() else self.row_counter + 1
            self.col_counter = 0
            return self.row_counter, [self.parse_cell(el) for el in row if len(el) or el.text]

        def parse_cell(self, element):
            try:
                cell = super().parse_cell(element)
            except (ValueError, TypeError, KeyError, IndexError, OverflowError):
                return _raw_cell(element, self)
            if cell["data_type"] == "e" and element.get("t", "n") == "n":
                return _raw_cell(element, self)  # a number in a date-formatted cell, out of the date range
            return cell

    source = _UpToLastValue(lambda: workbook._archive.open(sheet._worksheet_path))
    if source.empty:
        return
    parser = TolerantParser(source, sheet._shared_strings, data_only=False, epoch=workbook.epoch,
                            date_formats=workbook._date_formats, timedelta_formats=workbook._timedelta_formats)
    for number, cells in _parsed_rows(source, parser, arrays):
        kept = {c["column"] - 1: c for c in cells if c["value"] is not None}
        if kept:
            yield number, kept


def _parsed_rows(source, parser, arrays: list):
    """Rows parsed by lxml (C speed, no entity resolution, no network: DTDs were refused before), each
    plain value cell converted here, every other cell (formula, date format, inline text, error, anything
    odd) by openpyxl's own cell parser: 300 000 rows in a few seconds instead of twenty."""
    from lxml import etree
    from openpyxl.worksheet._reader import _cast_number

    columns: dict[str, int] = {}
    shared, dates = parser.shared_strings, parser.date_formats
    for _, row in etree.iterparse(source, events=("end",), tag="{*}row", resolve_entities=False, no_network=True,
                                  remove_comments=True, remove_pis=True):
        number = row.get("r")
        parser.row_counter = int(number) if number and number.isdigit() else parser.row_counter + 1
        parser.col_counter = 0
        cells = []
        for element in row:
            if not len(element):
                continue  # formatting only
            kind, style = element.get("t", "n"), element.get("s")
            value = element[0]
            if len(element) == 1 and value.tag.endswith("}v") and kind in ("n", "s", "str") and (
                    kind != "n" or not style or int(style) not in dates):
                ref = element.get("r") or ""
                letters = ref.rstrip("0123456789")
                column = columns.get(letters)
                if column is None and letters:
                    column = columns[letters] = _column_index(letters)
                text = value.text
                try:
                    converted = shared[int(text)] if kind == "s" else text if kind == "str" else _cast_number(text)
                except (ValueError, TypeError, IndexError):
                    cells.append(parser.parse_cell(element))
                    continue
                if column is None or not ref[len(letters):].isdigit():
                    cells.append(parser.parse_cell(element))
                    continue
                parser.col_counter = column
                cells.append({"row": parser.row_counter, "column": column, "value": converted,
                              "data_type": "n" if kind == "n" else "s", "style_id": 0})
            elif kind == "inlineStr" and len(element) == 1 and value.tag.endswith("}is") and not any(
                    child.tag.endswith(("}rPh", "}phoneticPr")) for child in value):
                ref = element.get("r") or ""
                letters = ref.rstrip("0123456789")
                column = columns.get(letters) or (_column_index(letters) if letters else parser.col_counter + 1)
                parser.col_counter = column
                cells.append({"row": parser.row_counter, "column": column, "value": "".join(value.itertext()),
                              "data_type": "s", "style_id": 0})
            else:
                cell = parser.parse_cell(element)
                if cell["data_type"] == "f":
                    _note_array(cell, arrays)
                cells.append(cell)
        yield parser.row_counter, cells
        row.clear()
        while row.getprevious() is not None:
            del row.getparent()[0]


def _column_index(letters: str) -> int:
    """« A » -> 1, « AB » -> 28."""
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index


_NAME = rb"(?:[A-Za-z_][\w.-]*:)?"  # an optional namespace prefix (« x: » from some generators)
_VALUE_TAG = re.compile(rb"<" + _NAME + rb"(?:v|is|f)[\s>/]")  # a value, an inline string or a formula
_SHEET_DATA = re.compile(rb"<(" + _NAME + rb")sheetData[\s>/]")
_SHEET_DATA_END = re.compile(rb"</" + _NAME + rb"sheetData>")
_ROW_END = re.compile(rb"</" + _NAME + rb"row>")
_CHUNK = 1 << 16


class _UpToLastValue:
    """The sheet's XML cut after the row holding its last value, as a stream for the parser.

    A sheet whose formatting runs down to row 1 048 576 holds a million empty ``<row>``
    elements after its data: a first pass finds, at C speed, where the last value stands
    (about 0.6 s for 85 MB); the parser then reads no further, and the document is closed
    right there. Whatever follows the rows (merged cells, validations) is never needed.
    """

    def __init__(self, open_part):
        self.open_part = open_part
        self.last, self.prefix = self._scan()
        self.empty = self.last is None
        self._chunks = None if self.empty else self._cut()
        self._buffer = b""

    def _scan(self) -> tuple[int | None, bytes]:
        last, prefix, offset, tail = None, b"", 0, b""
        with self.open_part() as stream:
            while chunk := stream.read(_CHUNK):
                data, base = tail + chunk, offset - len(tail)
                if not prefix and (opening := _SHEET_DATA.search(data)):
                    prefix = opening.group(1) or b"\0"
                closing = _SHEET_DATA_END.search(data)
                for match in _VALUE_TAG.finditer(data, 0, closing.start() if closing else len(data)):
                    last = base + match.start()
                if closing:
                    break
                tail, offset = data[-64:], offset + len(chunk)
        return last, prefix.replace(b"\0", b"")

    def _cut(self):
        with self.open_part() as stream:
            remaining = self.last
            while remaining > 0 and (chunk := stream.read(min(_CHUNK, remaining))):
                remaining -= len(chunk)
                yield chunk
            pending = b""
            while True:
                chunk = stream.read(1 << 16)
                pending += chunk
                end = _ROW_END.search(pending)
                if end or not chunk:
                    yield pending[:end.end()] if end else pending
                    break
        yield b"</" + self.prefix + b"sheetData></" + self.prefix + b"worksheet>"

    def read(self, size: int = -1) -> bytes:
        while self._chunks is not None and (size < 0 or len(self._buffer) < size):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._chunks = None
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        self._chunks = None


def _raw_cell(element, parser) -> dict:
    """A cell openpyxl could not convert: its stored text, kept for the typing step to judge in French."""
    from openpyxl.utils.cell import coordinate_to_tuple

    try:
        row, column = coordinate_to_tuple(element.get("r") or "")
    except (ValueError, TypeError):
        row, column = parser.row_counter, parser.col_counter + 1
    parser.col_counter = column
    text = "".join(element.itertext()).strip() or None
    kind = element.get("t", "n")
    return {"row": row, "column": column, "value": text, "data_type": "bad" if kind == "s" else "n",
            "style_id": 0}


def _kept_cell_text(cell: dict, number: int, pos: int, arrays: list, *, display: str, header: str,
                    problems: list[Problem], where: str = "") -> str | None:
    """A value cell as text; a formula or an error cell is refused (never read as empty)."""
    kind, value = cell["data_type"], cell["value"]
    if kind in ("n", "s") and not arrays:  # the common case, first
        return _cell_text(_OOXML_ESCAPE.sub(_unescape, value) if isinstance(value, str) and "_x" in value else value)
    where = f"{where}cellule {_column_letter(pos)}{number}"
    if kind == "f":
        problems.append(_error(display, number, header,
                               f"{where} : une formule ({_formula_text(value)}) au lieu d'une valeur ; {PASTE_VALUES}"))
        return None
    if kind == "e":
        problems.append(_error(display, number, header,
                               f"{where} : une erreur Excel ({value}) au lieu d'une valeur",
                               suggestion="Corrigez la formule d'origine, puis collez les valeurs."))
        return None
    if kind == "bad":
        problems.append(_error(display, number, header,
                               f"{where} : texte introuvable dans le classeur (référence « {_shorten(str(value))} » "
                               f"vers un texte partagé qui n'existe pas) : classeur endommagé",
                               value=str(value)[:60],
                               suggestion="Ouvrez-le dans Excel ou LibreOffice et enregistrez-le de nouveau."))
        return None
    column = pos + 1
    for min_col, min_row, max_col, max_row, anchor, formula in arrays:
        if min_col <= column <= max_col and min_row <= number <= max_row:
            problems.append(_error(display, number, header,
                                   f"{where} : le résultat d'une formule matricielle ({_shorten(formula)}, "
                                   f"en {anchor}) au lieu d'une valeur ; {PASTE_VALUES}"))
            return None
    if isinstance(value, str):
        return _cell_text(_OOXML_ESCAPE.sub(_unescape, value))
    return _cell_text(value)


def _unescape(match: re.Match) -> str:
    return chr(int(match.group(1), 16))


def _formula_text(value) -> str:
    text = getattr(value, "text", None) or (value if isinstance(value, str) else "table de données")
    return _shorten(str(text))


def _empty_row(cells: dict[int, dict]) -> bool:
    return all(c["value"] is None or (isinstance(c["value"], str) and not c["value"].strip()) for c in cells.values())


def _cell_text(value) -> str | None:
    """An Excel value as the text a person typed: 12, 1.2, 2024-01-01, VRAI."""
    if value is None:
        return None
    if type(value) is str:
        return value.strip() or None
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
