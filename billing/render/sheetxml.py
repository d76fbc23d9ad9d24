"""Big tables streamed as sheet XML into a workbook openpyxl laid out (DESIGN §8).

At national scale the contributions workbook holds ~1.4 million cells; openpyxl spends
some 20 s building a Python object per cell. Here openpyxl still lays out everything a
reader sees (widths, frozen panes, filters, fonts, fills, number formats, the other
sheets): each big sheet gets its header row and one *prototype* row per form of row
(data, total), one cell per column carrying that column's style. The saved workbook is
then cut at the prototypes, and the real rows are written as sheet XML, cell by cell,
with the style each prototype cell received — inline strings, exact decimal numbers,
date serials, formulas with their cached values — streamed into the zip.

``Column.kind`` says how a value is written, for both writers (this one and the plain
openpyxl reference the tests compare it with):

- ``text``: a string, always text (« =1+1 » in a name never becomes a formula);
- ``int``: a whole number; ``date``: a date, as its serial with a date format;
- ``euros``: integer cents, written as the exact decimal « 1234.50 »;
- ``rate``: integer rate units, written as the exact decimal of ``rate_units_to_decimal``;
- ``formula``: a ``Formula`` (text without « = », plus its cached value in cents).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence
from xml.sax.saxutils import escape

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel

from billing.core.money import cents_to_decimal, cents_to_str, rate_units_to_decimal
from billing.render.files import BOLD, HEADER_FILL, print_setup, save_workbook, write_atomic

KINDS = ("text", "int", "date", "euros", "rate", "formula")
PROTOTYPE = "\u27e6prototype\u27e7"
# what XML 1.0 cannot carry (openpyxl refuses the same characters)
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ROWS_PER_CHUNK = 2_000


@dataclass(frozen=True)
class Formula:
    """A formula (without « = ») and the value it computes, in cents, cached in the file
    (``cents`` None: no cached value, as openpyxl writes one, for a count or a ratio)."""

    text: str
    cents: int | None


@dataclass(frozen=True)
class Column:
    kind: str
    number_format: str | None = None
    bold: bool = False
    wrap: bool = False  # long text wraps in its column (the row grows) instead of running into the next
    align: str | None = None  # « center » / « right »: text set apart from the number on its left

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"type de colonne inconnu : {self.kind}")


_TOP = Alignment(vertical="top")
_WRAP_TOP = Alignment(wrap_text=True, vertical="top")
LINE_POINTS = 14.5  # one line of 11-point text


def wrapped_height(texts: Sequence[tuple[object, int]]) -> float | None:
    """The row height (points) that shows every wrapped text whole, from (text, column width) pairs; None for
    one line. LibreOffice keeps the default height of a row it did not measure, so wrapped text would
    overprint the next row: the height is written, estimated from the length (a width unit ≈ one character)."""
    lines = 1
    for text, width in texts:
        if text is None:
            continue
        per_line = max(4, int(width) - 2)
        count = sum(max(1, -(-len(part) // per_line)) for part in str(text).split("\n"))
        lines = max(lines, count)
    return None if lines == 1 else round(lines * LINE_POINTS + 2, 1)


def _row_height(form: Sequence[Column | None], values: Sequence, widths: Sequence[int]) -> float | None:
    return wrapped_height([(value, widths[index]) for index, (column, value) in enumerate(zip(form, values))
                           if column is not None and column.wrap and index < len(widths)])


# ----- the reference: plain openpyxl cells --------------------------------------------------


def openpyxl_value(column: Column, value):
    if value is None:
        return None
    if column.kind == "euros":
        return cents_to_decimal(value)
    if column.kind == "rate":
        return rate_units_to_decimal(value)
    if column.kind == "formula":
        return f"={value.text}"
    return value


def openpyxl_cell(sheet, column: Column, value, *, font=None) -> WriteOnlyCell:
    """The cell the plain way (also the prototype's: same format, same font)."""
    cell = WriteOnlyCell(sheet, value=openpyxl_value(column, value))
    if column.kind == "text" and value is not None:
        cell.data_type = "s"
    if column.number_format:
        cell.number_format = column.number_format
    if font is not None:
        cell.font = font
    # every cell top-aligned, long text wrapped: a row grown for a wrapped text reads along its top line
    if column.align:
        cell.alignment = Alignment(horizontal=column.align, wrap_text=column.wrap or None, vertical="top")
    else:
        cell.alignment = _WRAP_TOP if column.wrap else _TOP
    return cell


# ----- the fast path ----------------------------------------------------------------------


def _text_xml(ref: str, style: str, value: str) -> str:
    value = escape(value)
    if value[:1].isspace() or value[-1:].isspace() or "\n" in value:
        return f'<c r="{ref}"{style} t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>'
    return f'<c r="{ref}"{style} t="inlineStr"><is><t>{value}</t></is></c>'


def _encoder(kind: str) -> Callable[[str, str, object], str]:
    if kind == "text":
        return lambda ref, style, value: _text_xml(ref, style, str(value))
    if kind == "int":
        return lambda ref, style, value: f'<c r="{ref}"{style}><v>{int(value)}</v></c>'
    if kind == "date":
        return lambda ref, style, value: f'<c r="{ref}"{style}><v>{to_excel(value)}</v></c>'
    if kind == "euros":
        return lambda ref, style, value: f'<c r="{ref}"{style}><v>{_shortest(cents_to_str(value))}</v></c>'
    if kind == "rate":
        return lambda ref, style, value: f'<c r="{ref}"{style}><v>{_shortest(str(rate_units_to_decimal(value)))}</v></c>'
    return _formula_xml


def _formula_xml(ref: str, style: str, value: Formula) -> str:
    if value.cents is None:
        return f'<c r="{ref}"{style}><f>{escape(value.text)}</f><v></v></c>'
    return f'<c r="{ref}"{style}><f>{escape(value.text)}</f><v>{_shortest(cents_to_str(value.cents))}</v></c>'



def _shortest(decimal_text: str) -> str:
    """« 150.00 » -> « 150 », « 321.60 » -> « 321.6 »: the same exact number, written as openpyxl writes it."""
    if "." in decimal_text:
        decimal_text = decimal_text.rstrip("0").rstrip(".")
    return decimal_text


@dataclass(frozen=True)
class StreamedSheet:
    """Replace, in ``part``, every row from ``first_row`` on with ``rows``.

    ``forms[i]`` (a kind of row: its columns) is the prototype written at row
    ``first_row + i``; ``rows`` yields ``(row number, form index, values)`` in increasing
    row order, from ``first_row``. A sheet of an ordinary (not write-only) workbook carries
    a ``<dimension>``: ``dimension`` gives the real one (« A1:M35000 »), which replaces it.
    """

    part: str
    forms: tuple[tuple[Column | None, ...], ...]
    rows: Iterable[tuple[int, int, Sequence]]
    first_row: int = 2
    widths: tuple[int, ...] = ()  # the columns' widths: a row with wrapped text gets the height it needs
    dimension: str | None = None


_DIMENSION = re.compile(r'<dimension ref="[^"]*"\s*/>')
_ROW = re.compile(r'<row r="([0-9]+)"[^>]*>(.*?)</row>|<row r="([0-9]+)"[^>]*/>', re.S)
_CELL_STYLE = re.compile(r'<c r="([A-Z]+)([0-9]+)"((?: s="[0-9]+")?)[^>]*>')


def _prototype_styles(sheet_xml: str, sheet: StreamedSheet) -> tuple[str, str, list[list[str]]]:
    """(XML up to the first prototype row, XML from </sheetData>, style attribute per form and column)."""
    forms, part, first = sheet.forms, sheet.part, sheet.first_row
    if "<dimension " in sheet_xml:
        if sheet.dimension is None:
            raise RuntimeError(f"{part} : un classeur en écriture seule (write_only) est attendu, sans <dimension>, "
                               "ou la dimension réelle de la feuille")
        sheet_xml = _DIMENSION.sub(f'<dimension ref="{sheet.dimension}"/>', sheet_xml, count=1)
    start = sheet_xml.find(f'<row r="{first}"')
    end = sheet_xml.find("</sheetData>")
    if start < 0 or end < 0:
        raise RuntimeError(f"{part} : lignes prototypes introuvables (l'écriture par openpyxl a-t-elle changé ?)")
    prototypes = {int(m.group(1) or m.group(3)): m.group(2) or "" for m in _ROW.finditer(sheet_xml, start, end)}
    styles: list[list[str]] = []
    for index, form in enumerate(forms):
        cells = prototypes.get(first + index)
        if cells is None:
            raise RuntimeError(f"{part} : ligne prototype {first + index} absente")
        found = {m.group(1): m.group(3) for m in _CELL_STYLE.finditer(cells)}
        marks = cells.count(PROTOTYPE) + cells.count("&#10214;prototype&#10215;")
        expected = sum(1 for column in form if column is not None)
        if marks != expected:
            raise RuntimeError(f"{part} : {marks} cellules prototypes sur {expected} en ligne {first + index}")
        styles.append([found.get(get_column_letter(i), "") for i in range(1, len(form) + 1)])
    if len(prototypes) != len(forms):
        raise RuntimeError(f"{part} : {len(prototypes)} lignes après l'en-tête, {len(forms)} prototypes attendus")
    return sheet_xml[:start], sheet_xml[end:], styles


def _rows_xml(sheet: StreamedSheet, styles: list[list[str]]) -> Iterable[str]:
    """The rows as XML, in chunks. Text and euros, most of the cells, are written inline (no call per
    cell: ~1.4 million cells nationally); the other kinds through their encoder."""
    letters = [get_column_letter(i) for i in range(1, max(len(form) for form in sheet.forms) + 1)]
    plans = []
    for form, form_styles in zip(sheet.forms, styles):
        plans.append([(i, f'<c r="{letters[i]}', form_styles[i], column.kind, _encoder(column.kind))
                      for i, column in enumerate(form) if column is not None])
    chunk: list[str] = []
    previous = sheet.first_row - 1
    for number, form_index, values in sheet.rows:
        if number <= previous:
            raise ValueError(f"{sheet.part} : ligne {number} après la ligne {previous}")
        previous = number
        cells = []
        for index, opening, style, kind, encode in plans[form_index]:
            value = values[index]
            if value is None:
                if style:
                    cells.append(f'{opening}{number}"{style}/>')
            elif kind == "text":
                text = str(value)
                if "&" in text or "<" in text or ">" in text:
                    text = escape(text)
                if text[:1].isspace() or text[-1:].isspace() or "\n" in text:
                    cells.append(f'{opening}{number}"{style} t="inlineStr"><is><t xml:space="preserve">{text}'
                                 '</t></is></c>')
                else:
                    cells.append(f'{opening}{number}"{style} t="inlineStr"><is><t>{text}</t></is></c>')
            elif kind == "euros":
                cells.append(f'{opening}{number}"{style}><v>{_euros(value)}</v></c>')
            else:
                cells.append(encode(f"{opening[6:]}{number}", style, value))
        height = _row_height(sheet.forms[form_index], values, sheet.widths) if sheet.widths else None
        row_open = f'<row r="{number}" ht="{height}" customHeight="1">' if height else f'<row r="{number}">'
        chunk.append(f'{row_open}{"".join(cells)}</row>')
        if len(chunk) >= _ROWS_PER_CHUNK:
            yield _checked("".join(chunk), sheet.part)
            chunk = []
    if chunk:
        yield _checked("".join(chunk), sheet.part)


def _euros(cents: int) -> str:
    """``_shortest(cents_to_str(cents))`` without the strings: « 150 », « 321.6 », « -0.05 »."""
    whole, part = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    if part == 0:
        return f"{sign}{whole}"
    if part % 10 == 0:
        return f"{sign}{whole}.{part // 10}"
    return f"{sign}{whole}.{part:02d}"


def _checked(xml: str, part: str) -> str:
    bad = _ILLEGAL.search(xml)
    if bad:
        raise ValueError(f"{part} : caractère de contrôle {bad.group()!r} impossible à écrire dans un classeur")
    return xml


def stream_sheets(workbook, streamed: Sequence[StreamedSheet], stream) -> None:
    """Save ``workbook`` (openpyxl) into ``stream`` with the rows of ``streamed`` written as XML."""
    laid_out = io.BytesIO()
    workbook.save(laid_out)
    by_part = {sheet.part: sheet for sheet in streamed}
    with zipfile.ZipFile(laid_out) as source, zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED,
                                                              compresslevel=1) as target:
        names = source.namelist()
        missing = set(by_part) - set(names)
        if missing:
            raise RuntimeError(f"parties absentes du classeur : {sorted(missing)}")
        for info in source.infolist():
            data = source.read(info)
            sheet = by_part.get(info.filename)
            if sheet is None:
                target.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
                continue
            head, tail, styles = _prototype_styles(data.decode("utf-8"), sheet)
            with target.open(info.filename, "w", force_zip64=True) as out:
                out.write(head.encode("utf-8"))
                for piece in _rows_xml(sheet, styles):
                    out.write(piece.encode("utf-8"))
                out.write(tail.encode("utf-8"))


def worksheet_part(workbook, title: str) -> str:
    """The zip part openpyxl writes the sheet ``title`` to (sheets are numbered in order)."""
    return f"xl/worksheets/sheet{workbook.sheetnames.index(title) + 1}.xml"


# ----- tables: one description, two writers -------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A big sheet, described once for both writers.

    ``preamble``: rows above the header, each a tuple of ``(text, font or None)``.
    ``rows()`` yields ``(form, values)``: ``forms[form]`` gives each value's column (its
    kind, format and boldness); ``(None, None)`` is a blank row.
    """

    title: str
    headers: tuple[str, ...]
    widths: tuple[int, ...]
    forms: tuple[tuple[Column | None, ...], ...]
    rows: Callable[[], Iterator[tuple[int | None, Sequence | None]]]
    freeze: str | None = None
    filter_ref: str | None = None
    preamble: tuple[tuple[tuple[str, object], ...], ...] = ()
    header_wrap: bool = False
    landscape: bool = True  # printed on A4 landscape, as wide as the page, the header row on every page
    print_title: str | None = None  # the page header when printed (title and year); the sheet's title otherwise


def header_cells(sheet, titles: Sequence[str], *, wrap: bool = False) -> list[WriteOnlyCell]:
    """A table header for a write-only sheet: bold on the header fill."""
    cells = []
    for title in titles:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        if wrap:
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        cells.append(cell)
    return cells


def _font(column: Column):
    return BOLD if column.bold else None


def _lay_out(workbook, table: Table):
    sheet = workbook.create_sheet(table.title)
    for index, width in enumerate(table.widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    if table.freeze:
        sheet.freeze_panes = table.freeze
    if table.filter_ref:
        sheet.auto_filter.ref = table.filter_ref
    header = len(table.preamble) + 1
    print_setup(sheet, title=table.print_title or table.title, landscape=table.landscape,
                title_rows=f"{header}:{header}")
    for row in table.preamble:
        cells = []
        for text, font in row:
            cell = WriteOnlyCell(sheet, value=text)
            cell.data_type = "s"
            if font is not None:
                cell.font = font
            cells.append(cell)
        sheet.append(cells)
    if table.header_wrap:
        height = wrapped_height(list(zip(table.headers, table.widths)))
        if height:
            sheet.row_dimensions[header].height = height
    sheet.append(header_cells(sheet, table.headers, wrap=table.header_wrap))
    return sheet


def add_table(workbook, table: Table, *, streamed: bool = True) -> StreamedSheet | None:
    """Add ``table`` to a write-only ``workbook``.

    Plain (``streamed=False``): one openpyxl cell per value, the reference. Streamed: the
    header and one prototype row per form by openpyxl; the returned ``StreamedSheet``
    writes the rows as XML when the workbook is saved with ``save_with_tables``.
    """
    sheet = _lay_out(workbook, table)
    if not streamed:
        number = len(table.preamble) + 1
        for form, values in table.rows():
            number += 1
            if form is None:
                sheet.append([])
                continue
            height = _row_height(table.forms[form], values, table.widths)
            if height:
                sheet.row_dimensions[number].height = height
            sheet.append([None if column is None else openpyxl_cell(sheet, column, value, font=_font(column))
                          for column, value in zip(table.forms[form], values)])
        return None
    for columns in table.forms:
        sheet.append([None if column is None else openpyxl_cell(sheet, Column("text", column.number_format,
                                                                       wrap=column.wrap, align=column.align),
                                                                PROTOTYPE, font=_font(column))
                      for column in columns])
    first = len(table.preamble) + 2

    def numbered():
        number = first - 1
        for form, values in table.rows():
            number += 1
            if form is not None:
                yield number, form, values

    return StreamedSheet(worksheet_part(workbook, table.title), table.forms, numbered(), first, widths=tuple(table.widths))


def save_with_tables(workbook, streamed: Sequence[StreamedSheet | None], path: Path) -> Path:
    """Save atomically, writing the streamed tables' rows on the way."""
    sheets = [sheet for sheet in streamed if sheet is not None]
    if not sheets:
        return save_workbook(workbook, path)
    return write_atomic(path, lambda stream: stream_sheets(workbook, sheets, stream))
