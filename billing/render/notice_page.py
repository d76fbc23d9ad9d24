"""The page of an avis: where every cell goes, its style, and the two ways to write it (DESIGN §6, §8).

``build_workbook`` writes a page through plain openpyxl (the reference); ``page_bytes`` is the
fast path: one openpyxl workbook per number of lines, built once as a template with
placeholder cells, then per notice only the sheet XML is patched (inline strings, numbers,
formulas) and deflated; the other parts, compressed once with their zip headers, are copied
as they are. The values come from
``billing.render.notice``: a slot name -> str, int, Decimal, date, ``Formula`` or None.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, PatternFill, Side
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.properties import PageSetupProperties

from billing.core.money import cents_to_decimal
from billing.render.files import font

EUROS = '#,##0.00 "€"'
RATE = '#,##0.00## "€"'
QUANTITY = "#,##0"
DATE = "DD/MM/YYYY"

@dataclass(frozen=True)
class Formula:
    """A formula without its « = », with the cents upstream computed for it (the cached value previewers show)."""

    text: str
    cents: int


# ----- the page layout, shared by both writers ------------------------------------------

FIRST_LINE_ROW = 22
LAST_COLUMN = "E"
WIDTHS = {"A": 31, "B": 42, "C": 10, "D": 12, "E": 16}

_THIN = Side(style="thin", color="808080")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_NAVY = "1F3864"


def _styles() -> dict[str, dict]:
    wrap_top = Alignment(wrap_text=True, vertical="top")
    return {
        "issuer": dict(font=font(bold=True, size=11, color=_NAVY)),
        "text": dict(font=font(size=10), alignment=Alignment(vertical="top")),
        "small": dict(font=font(size=9), alignment=Alignment(vertical="top")),
        "label": dict(font=font(bold=True, size=10), alignment=Alignment(vertical="top")),
        "label_r": dict(font=font(bold=True, size=10), alignment=Alignment(horizontal="right", vertical="top")),
        "value_r": dict(font=font(bold=True, size=10), alignment=Alignment(horizontal="right", vertical="top")),
        "date_r": dict(font=font(bold=True, size=10), alignment=Alignment(horizontal="right", vertical="top"),
                       number_format=DATE),
        "wrap": dict(font=font(size=10), alignment=wrap_top),
        "wrap_bold": dict(font=font(bold=True, size=10), alignment=wrap_top),
        "date_l": dict(font=font(bold=True, size=10), alignment=Alignment(horizontal="left", vertical="top",
                                                                           wrap_text=True), number_format=DATE),
        "title": dict(font=font(bold=True, size=16, color=_NAVY), alignment=Alignment(horizontal="center")),
        "projet": dict(font=font(bold=True, size=13, color="C00000"), alignment=Alignment(horizontal="center")),
        "origine": dict(font=font(bold=True, size=11), alignment=Alignment(horizontal="center")),
        "section": dict(font=font(bold=True, size=10, color="FFFFFF"), fill=PatternFill("solid", fgColor=_NAVY)),
        "th": dict(font=font(bold=True, size=10), fill=PatternFill("solid", fgColor="DDE5F0"), border=_BOX,
                   alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)),
        "td": dict(font=font(size=10), border=_BOX, alignment=wrap_top),
        "td_qty": dict(font=font(size=10), border=_BOX, alignment=Alignment(vertical="top"), number_format=QUANTITY),
        "td_rate": dict(font=font(size=10), border=_BOX, alignment=Alignment(vertical="top"), number_format=RATE),
        "td_eur": dict(font=font(size=10), border=_BOX, alignment=Alignment(vertical="top"), number_format=EUROS),
        "total_label": dict(font=font(bold=True, size=11), border=_BOX, alignment=Alignment(horizontal="right"),
                            fill=PatternFill("solid", fgColor="DDE5F0")),
        "total": dict(font=font(bold=True, size=11), border=Border(left=_THIN, right=_THIN, top=_THIN,
                                                                    bottom=Side(style="double")),
                      number_format=EUROS, fill=PatternFill("solid", fgColor="DDE5F0")),
        "arrete": dict(font=font(italic=True, size=10), alignment=Alignment(wrap_text=True, vertical="top")),
        "signature": dict(font=font(bold=True, size=10), alignment=Alignment(horizontal="center")),
        "signature_l": dict(font=font(size=10), alignment=Alignment(horizontal="center")),
        "legal": dict(font=font(size=8.5), alignment=Alignment(wrap_text=True, vertical="top")),
        "legal_title": dict(font=font(bold=True, size=9)),
    }


@dataclass(frozen=True)
class _Cell:
    ref: str
    content: str  # static text, or the slot name when ``slot``
    style: str
    slot: bool = False


@dataclass(frozen=True)
class _Page:
    cells: tuple[_Cell, ...]
    merges: tuple[str, ...]
    heights: tuple[tuple[int, float], ...]
    last_row: int



class _Layout:
    """The cells, merges and row heights of a page, as its sections add them."""

    def __init__(self) -> None:
        self.cells: list[_Cell] = []
        self.merges: list[str] = []
        self.heights: dict[int, float] = {}

    def static(self, ref: str, text: str, style: str, merge_to: str | None = None) -> None:
        self.cells.append(_Cell(ref, text, style))
        if merge_to:
            self.merges.append(f"{ref}:{merge_to}")

    def slot(self, ref: str, name: str, style: str, merge_to: str | None = None) -> None:
        self.cells.append(_Cell(ref, name, style, slot=True))
        if merge_to:
            self.merges.append(f"{ref}:{merge_to}")

    def section(self, row: int, text: str) -> None:
        self.static(f"A{row}", text, "section", f"E{row}")
        self.heights[row] = 16


@functools.cache
def _page(n_lines: int) -> _Page:
    """Where everything goes on a notice of ``n_lines`` lines: rows below the table shift with it."""
    page = _Layout()
    _issuer_and_title(page)
    _debtor_and_object(page)
    t = _bases_de_liquidation(page, n_lines)
    _payment_and_signature(page, t)
    _legal_mentions(page, t)
    return _Page(tuple(page.cells), tuple(page.merges), tuple(sorted(page.heights.items())), t + 18)


def _issuer_and_title(page: _Layout) -> None:
    page.slot("A1", "emetteur_nom", "issuer", "B1")
    page.static("D1", "Exercice", "label_r")
    page.slot("E1", "exercice", "value_r")
    page.slot("A2", "emetteur_adresse", "text", "B2")
    page.static("D2", "Titre n°", "label_r")
    page.slot("E2", "numero", "value_r")
    page.slot("A3", "emetteur_siret", "text", "B3")
    page.static("D3", "Date d'émission", "label_r")
    page.slot("E3", "date_emission", "date_r")
    page.slot("A4", "ordonnateur", "text", "B4")
    page.slot("A6", "intitule", "title", "E6")
    page.heights[6] = 24
    page.slot("A7", "projet", "projet", "E7")
    page.heights[7] = 19
    page.slot("A8", "origine", "origine", "E8")


def _debtor_and_object(page: _Layout) -> None:
    page.section(10, "DÉBITEUR")
    page.static("A11", "Nom", "label")
    page.slot("B11", "debiteur_nom", "wrap_bold", "E11")
    page.static("A12", "Adresse", "label")
    page.slot("B12", "debiteur_adresse", "wrap", "E12")
    page.heights[12] = 27
    page.static("A13", "SIRET", "label")
    page.slot("B13", "debiteur_siret", "text")
    page.static("C13", "Code INSEE", "label_r", "D13")
    page.slot("E13", "debiteur_code_insee", "value_r")

    page.section(15, "OBJET DE LA CRÉANCE")
    page.static("A16", "Objet", "label")
    page.slot("B16", "objet", "wrap", "E16")
    page.heights[16] = 27
    page.static("A17", "Fondement", "label")
    page.slot("B17", "fondement", "wrap", "E17")
    page.heights[17] = 27
    page.static("A18", "Effectifs retenus", "label")
    page.slot("B18", "rentree", "wrap", "E18")


def _bases_de_liquidation(page: _Layout, n_lines: int) -> int:
    """The table of lines and its total; returns the total's row, which the rows below follow."""
    page.section(20, "BASES DE LIQUIDATION")
    for column, text in zip("ABCDE", ("Libellé", "Détail du calcul", "Quantité", "Taux", "Montant")):
        page.static(f"{column}21", text, "th")
    page.heights[21] = 18
    for index in range(n_lines):
        row = FIRST_LINE_ROW + index
        page.slot(f"A{row}", f"l{index}_libelle", "td")
        page.slot(f"B{row}", f"l{index}_detail", "td")
        page.slot(f"C{row}", f"l{index}_quantite", "td_qty")
        page.slot(f"D{row}", f"l{index}_taux", "td_rate")
        page.slot(f"E{row}", f"l{index}_montant", "td_eur")
        page.heights[row] = 27
    t = FIRST_LINE_ROW + n_lines
    page.slot(f"A{t}", "total_libelle", "total_label", f"D{t}")
    for column in "BCD":  # the merged cells keep their border
        page.cells.append(_Cell(f"{column}{t}", "", "total_label"))
    page.slot(f"E{t}", "total", "total")
    page.heights[t] = 20
    page.slot(f"A{t + 1}", "arrete", "arrete", f"E{t + 1}")
    page.heights[t + 1] = 27
    page.slot(f"A{t + 2}", "imputation", "text", f"E{t + 2}")
    return t


def _payment_and_signature(page: _Layout, t: int) -> None:
    page.section(t + 4, "MODALITÉS DE PAIEMENT")
    page.slot(f"A{t + 5}", "echeance_libelle", "label")
    page.slot(f"B{t + 5}", "echeance", "date_l", f"E{t + 5}")
    page.static(f"A{t + 6}", "Comptable public", "label")
    page.slot(f"B{t + 6}", "comptable", "wrap", f"E{t + 6}")
    page.static(f"A{t + 7}", "IBAN", "label")
    page.slot(f"B{t + 7}", "iban", "text")
    page.static(f"C{t + 7}", "BIC", "label_r")
    page.slot(f"D{t + 7}", "bic", "text", f"E{t + 7}")
    page.static(f"A{t + 8}", "Référence à rappeler", "label")
    page.slot(f"B{t + 8}", "reference", "wrap_bold", f"E{t + 8}")
    page.slot(f"A{t + 9}", "paiement_note", "small", f"E{t + 9}")

    page.static(f"D{t + 11}", "L'ordonnateur,", "signature_l", f"E{t + 11}")
    page.slot(f"D{t + 12}", "signature", "signature", f"E{t + 12}")
    page.heights[t + 13] = 30  # room to sign


def _legal_mentions(page: _Layout, t: int) -> None:
    page.section(t + 15, "MENTIONS LÉGALES")
    page.slot(f"A{t + 16}", "executoire", "legal", f"E{t + 16}")
    page.heights[t + 16] = 26
    page.static(f"A{t + 17}", "Voies et délais de recours", "legal_title", f"E{t + 17}")
    page.slot(f"A{t + 18}", "recours", "legal", f"E{t + 18}")
    page.heights[t + 18] = 50

def build_workbook(n_lines: int, values: dict[str, object] | None) -> Workbook:
    """The workbook of a notice; ``values`` None writes placeholders (the fast writer's template)."""
    page = _page(n_lines)
    styles = _styles()
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Avis"
    for column, width in WIDTHS.items():
        sheet.column_dimensions[column].width = width
    for row, height in page.heights:
        sheet.row_dimensions[row].height = height
    for spec in page.cells:
        cell = sheet[spec.ref]
        for attribute, value in styles[spec.style].items():
            setattr(cell, attribute, value)
        if not spec.slot:
            if spec.content:
                cell.value = spec.content
                cell.data_type = "s"
        elif values is None:
            cell.value = _placeholder(spec.content)
        else:
            _put(cell, values.get(spec.content))
    for merge in page.merges:
        sheet.merge_cells(merge)
    sheet.print_area = f"A1:{LAST_COLUMN}{page.last_row}"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 1
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.page_margins.header = sheet.page_margins.footer = 0.3
    sheet.print_options.horizontalCentered = True
    sheet.sheet_view.showGridLines = False
    sheet.oddFooter.center.text = "page &P / &N"  # the same for a credit: its title says what it is
    sheet.oddFooter.center.size = 8
    return workbook


def _put(cell, value) -> None:
    """Write one slot value the way the fast writer does: text always as text."""
    if value is None:
        return
    if isinstance(value, Formula):
        cell.value = "=" + value.text
    elif isinstance(value, str):
        cell.value = value
        cell.data_type = "s"  # « =HYPERLINK(…) » in a name stays a name
    elif isinstance(value, date):
        cell.value = value
    else:
        cell.value = value



# ----- the fast writer: a template per line count, patched sheet XML ---------------------

_MARK = "\u27e6"  # ⟦name⟧ marks a slot cell in the template (and only there)
_SHEET = "xl/worksheets/sheet1.xml"
_SST = "xl/sharedStrings.xml"  # openpyxl 3.1.5 writes inline strings: the template must have none


def _placeholder(name: str) -> str:
    return f"{_MARK}{name}\u27e7"


@dataclass(frozen=True)
class _Template:
    """The zip of a page but its sheet, ready to copy, plus the sheet XML cut at its slots.

    The constant parts (styles, theme, workbook, rels, content types, properties) are
    deflated once: ``head`` is their local headers and data, ``central`` their central
    directory entries, and the sheet is the last member, so a notice is ``head`` + the
    sheet's header and deflated XML + ``central`` + the sheet's entry + the end record.
    """

    head: bytes
    central: bytes
    count: int  # members, the sheet included
    sheet_pieces: tuple[str, ...]  # len = len(slots) + 1
    slots: tuple[tuple[str, str, str], ...]  # (slot name, cell ref, style attribute « s="n" » or "")


_SLOT_CELL = re.compile('<c r="([A-Z]+[0-9]+)"((?: s="[0-9]+")?) t="inlineStr"><is><t>'
                        f'{_MARK}([a-z0-9_]+)\u27e7</t></is></c>')


@functools.cache
def _template(n_lines: int) -> _Template:
    """Build once per process and per line count: openpyxl writes the page, we cut it at the slots."""
    buffer = io.BytesIO()
    build_workbook(n_lines, None).save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
        order = [info.filename for info in archive.infolist()]
    # openpyxl through lxml writes non-ASCII text as character references: bring the slot marks back
    sheet_xml = parts[_SHEET].decode("utf-8").replace("&#10214;", _MARK).replace("&#10215;", "\u27e7")
    pieces: list[str] = []
    slots: list[tuple[str, str, str]] = []
    position = 0
    for match in _SLOT_CELL.finditer(sheet_xml):
        pieces.append(sheet_xml[position:match.start()])
        slots.append((match.group(3), match.group(1), match.group(2)))
        position = match.end()
    pieces.append(sheet_xml[position:])
    expected = sum(1 for cell in _page(n_lines).cells if cell.slot)
    if len(slots) != expected or _MARK in "".join(pieces) or _SST in parts:
        raise RuntimeError(f"gabarit d'avis inattendu : {len(slots)} emplacements trouvés sur {expected} "
                           "(l'écriture des cellules par openpyxl a-t-elle changé ?)")
    head, central = _constant_members([(name, parts[name]) for name in order if name != _SHEET])
    return _Template(head, central, len(order), tuple(pieces), tuple(slots))


def _constant_members(members: list[tuple[str, bytes]]) -> tuple[bytes, bytes]:
    """(local headers and data, central directory entries) of parts every notice carries unchanged."""
    body: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, content in members:
        data, method, crc, size, packed = _deflate(content)
        local, entry = _headers(name.encode("ascii"), method, crc, size, packed, offset)
        body += (local, data)
        central.append(entry)
        offset += len(local) + len(data)
    return b"".join(body), b"".join(central)


def _headers(name: bytes, method: int, crc: int, size: int, packed: int, offset: int) -> tuple[bytes, bytes]:
    """A member's local header and its central directory entry (no data descriptor, no zip64)."""
    local = _LOCAL.pack(0x04034B50, 20, 0, method, *_DOS_TIME, crc, packed, size, len(name), 0) + name
    entry = _CENTRAL.pack(0x02014B50, 20, 20, 0, method, *_DOS_TIME, crc, packed, size, len(name),
                          0, 0, 0, 0, 0, offset) + name
    return local, entry


def _deflate(data: bytes) -> tuple[bytes, int, int, int, int]:
    """(stored data, method, crc, size, compressed size): small parts are stored, the rest deflated."""
    crc = zlib.crc32(data)
    if len(data) < 512:
        return data, zipfile.ZIP_STORED, crc, len(data), len(data)
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    packed = compressor.compress(data) + compressor.flush()
    return packed, zipfile.ZIP_DEFLATED, crc, len(data), len(packed)


def _cell_xml(ref: str, style: str, value) -> str:
    if value is None:
        return f'<c r="{ref}"{style}/>'
    if isinstance(value, str):
        space = ' xml:space="preserve"' if value != value.strip() or "\n" in value else ""
        return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{escape(value)}</t></is></c>'
    if isinstance(value, Formula):
        return f'<c r="{ref}"{style}><f>{escape(value.text)}</f><v>{cents_to_decimal(value.cents)}</v></c>'
    if isinstance(value, bool):
        raise TypeError(f"valeur booléenne inattendue en {ref}")
    if isinstance(value, (datetime, date)):
        return f'<c r="{ref}"{style}><v>{to_excel(value)}</v></c>'
    if isinstance(value, (int, Decimal)):
        return f'<c r="{ref}"{style}><v>{value}</v></c>'
    raise TypeError(f"valeur inattendue en {ref} : {value!r}")


_DOS_TIME = (0, (1 << 5) | 1)  # 1980-01-01 00:00: the same notice always gives the same bytes
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")


def page_bytes(n_lines: int, values: dict[str, object]) -> bytes:
    """The .xlsx file of a page of ``n_lines`` lines holding ``values``, from its template (≈ 0.15 ms)."""
    return package(n_lines, sheet_xml(n_lines, values))


def sheet_xml(n_lines: int, values: dict[str, object]) -> bytes:
    """The page's sheet XML: the template's, with each slot cell written from ``values``."""
    template = _template(n_lines)
    pieces = template.sheet_pieces
    out = [pieces[0]]
    for (name, ref, style), piece in zip(template.slots, pieces[1:]):
        out.append(_cell_xml(ref, style, values.get(name)))
        out.append(piece)
    return "".join(out).encode("utf-8")


_SHEET_NAME = _SHEET.encode("ascii")


def package(n_lines: int, sheet: bytes) -> bytes:
    """The zip of a page around its sheet XML: the constant parts copied as compressed once, the sheet deflated."""
    template = _template(n_lines)
    packed = zlib.compress(sheet, 1, -15)
    offset = len(template.head)
    local, entry = _headers(_SHEET_NAME, zipfile.ZIP_DEFLATED, zlib.crc32(sheet), len(sheet), len(packed), offset)
    directory = len(template.central) + len(entry)
    end = _END.pack(0x06054B50, 0, 0, template.count, template.count, directory,
                    offset + len(local) + len(packed), 0)
    return b"".join((template.head, local, packed, template.central, entry, end))


def prepare(n_lines: int) -> None:
    """Build the template of this line count now (before forking workers, which then inherit it)."""
    _template(n_lines)
