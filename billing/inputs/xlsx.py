"""The safe workbook reader: an .xlsx/.xlsm -> a grid of text cells, one located problem per bad cell.

Hostile files are refused before anything expands them: zip bombs, encrypted parts, XML
DTDs/entities (openpyxl parses sheets with the standard library's ``iterparse``, which
defusedxml does not cover, so every XML part is checked here first).
"""

from __future__ import annotations

import math
import re
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
