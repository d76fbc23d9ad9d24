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
    sheets = workbook.worksheets
    if not sheets:
        return _unreadable(display, "le classeur ne contient aucune feuille de calcul")
    sheet = next((s for s in sheets if fold_header(s.title) == fold_header(stem)), sheets[0])
    rows = _sheet_rows(workbook, sheet)
    arrays: list[tuple[int, int, int, int, str, str]] = []  # min_col, min_row, max_col, max_row, anchor, formula
    scanned, header_at = _find_header(rows, arrays, lookup, required)
    if header_at is None:
        return _unreadable(display, f"la feuille « {sheet.title} » est vide")
    header_cells = scanned[header_at][1]
    width = max(header_cells, default=-1) + 1
    headers = tuple(_header_text(header_cells.get(pos)) for pos in range(width))
    positions, problems = _header_positions(headers, lookup, display=display, letters=True)
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
        _note_arrays(cells, arrays)
        take(number, cells)
    frame = pl.DataFrame({**columns, "_row": numbers},
                         schema={**{name: pl.Utf8 for name in columns}, "_row": pl.Int64})
    frame, found = _clean_text(frame, positions, headers, display=display, cell_refs=True)
    problems += found
    return _Grid(headers, positions, frame, sheet.title, None, tuple(problems))


def _find_header(rows, arrays: list, lookup: Mapping[str, str], required: Collection[str]
                 ) -> tuple[list[tuple[int, dict[int, dict]]], int | None]:
    """The rows read so far and the index of the header among them: the first row naming enough known
    columns in the first ``HEADER_SEARCH_ROWS``, else the first row that holds anything."""
    wanted = max(1, min(2, len(set(lookup.values()))))
    one_required = set(required) if len(required) == 1 else None
    scanned: list[tuple[int, dict[int, dict]]] = []
    for number, cells in rows:
        _note_arrays(cells, arrays)
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


def _note_arrays(cells: dict[int, dict], arrays: list) -> None:
    from openpyxl.utils.cell import range_boundaries
    from openpyxl.worksheet.formula import ArrayFormula

    for cell in cells.values():
        if cell["data_type"] == "f" and isinstance(cell["value"], ArrayFormula) and cell["value"].ref:
            bounds = range_boundaries(cell["value"].ref)
            arrays.append((*bounds, f"{_column_letter(cell['column'] - 1)}{cell['row']}", cell["value"].text or "="))


def _sheet_rows(workbook, sheet):
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

    with sheet._get_source() as source:
        parser = TolerantParser(source, sheet._shared_strings, data_only=False, epoch=workbook.epoch,
                                date_formats=workbook._date_formats, timedelta_formats=workbook._timedelta_formats)
        for number, cells in parser.parse():
            kept = {c["column"] - 1: c for c in cells if c["value"] is not None}
            if kept:
                yield number, kept


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
    where = f"{where}cellule {_column_letter(pos)}{number}"
    kind, value = cell["data_type"], cell["value"]
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
        return _cell_text(_OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value))
    return _cell_text(value)


def _formula_text(value) -> str:
    text = getattr(value, "text", None) or (value if isinstance(value, str) else "table de données")
    return _shorten(str(text))


def _empty_row(cells: dict[int, dict]) -> bool:
    return all(c["value"] is None or (isinstance(c["value"], str) and not c["value"].strip()) for c in cells.values())


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
