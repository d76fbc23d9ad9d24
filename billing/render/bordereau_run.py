"""The bordereau the ordonnateur signs: one per ``issue`` run and series (DESIGN §6c, issue « documents » 4).

``bordereaux/bordereau_<exercice>_<T|R><nnn>.xlsx``: numbered like the ledger's bordereaux
(and the PES file of the same number), it lists the run's titres of one series, their count
and total, « Certifié exécutoire » and the signature block. Printed A4 portrait: the column
headers repeat on every page, long names wrap, the footer says « page n / N ».

The renderer receives values (``RunBordereau``) and looks nothing up.
"""

from __future__ import annotations

from copy import copy

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Side
from openpyxl.worksheet.page import PageMargins

from billing.core.money import cents_to_decimal, format_count, format_euros
from billing.render.files import BOLD, DATE, EUROS, HEADER_FILL, TITLE, TOTAL_BORDER, font, put_date, \
    put_euros, put_text, save_workbook

FOLDER = "bordereaux"
LETTERS = {"titres": "T", "reductions": "R"}
KINDS = {"titres": "titres de recettes et titres complémentaires",
         "reductions": "réductions et annulations de titres"}
CREDIT_LABELS = ("réduction", "annulation")
HEADERS = ("N° du titre", "Nature", "Titre d'origine", "Débiteur", "Échéance", "Montant")
WIDTHS = (15, 14, 15, 40, 11, 15)
WRAP = Alignment(wrap_text=True, vertical="top")
THIN = Side(style="thin", color="999999")
GRID = Border(bottom=THIN)


@dataclass(frozen=True)
class RunLine:
    numero: str
    nature: str          # label: « titre », « titre complémentaire », « réduction », « annulation »
    origine: str | None  # the titre a correction cites
    debiteur: str
    code_insee: str
    siret: str | None
    echeance: date | None
    montant_cents: int   # positive, as the bordereau carries it


@dataclass(frozen=True)
class RunBordereau:
    exercice: int
    serie: str           # "titres" or "reductions"
    numero: int
    date_bordereau: date
    issuer: str          # the syndicate
    signataire: str      # « Christophe COULON »
    qualite: str         # « Président »
    lieu: str            # where it is signed (« Lille »)
    objet: str
    imputation: str
    empreinte: str | None  # « NUMÉRO:hash » of the bordereau's last titre, to be kept outside the ledger
    lines: tuple[RunLine, ...]

    @property
    def total_cents(self) -> int:
        return sum(line.montant_cents for line in self.lines)


def run_bordereau_filename(exercice: int, serie: str, numero: int) -> str:
    """``bordereau_2024_T001.xlsx`` / ``bordereau_2024_R001.xlsx`` (the PES file's number)."""
    return f"bordereau_{exercice}_{LETTERS[serie]}{numero:03d}.xlsx"


def _title(item: RunBordereau) -> str:
    return f"Bordereau n° {item.numero} des {KINDS[item.serie]} — exercice {item.exercice}"


def write_run_bordereau(out_dir: Path, item: RunBordereau) -> Path:
    """Write the bordereau into ``out_dir/bordereaux/`` and return its path."""
    book = Workbook()
    sheet = book.active
    sheet.title = f"Bordereau {LETTERS[item.serie]}{item.numero:03d}"
    last_col = len(HEADERS)
    _head(sheet, item, last_col)
    first = 7
    for column, (title, width) in enumerate(zip(HEADERS, WIDTHS), start=1):
        cell = sheet.cell(first - 1, column, title)
        cell.font, cell.fill = BOLD, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center",
                                   horizontal="right" if column == last_col else "left")
        sheet.column_dimensions[cell.column_letter].width = width
    prototype = None
    for offset, line in enumerate(item.lines):
        _line(sheet, first + offset, line, prototype)
        prototype = prototype or [sheet.cell(first, column) for column in range(1, 7)]
    row = first + len(item.lines)
    _foot(sheet, item, row, last_col)
    _print_setup(sheet, item, first - 1, row + 9)
    return save_workbook(book, Path(out_dir) / FOLDER / run_bordereau_filename(item.exercice, item.serie,
                                                                              item.numero))


def _head(sheet, item: RunBordereau, last_col: int) -> None:
    put_text(sheet.cell(1, 1), item.issuer)
    sheet.cell(1, 1).font = BOLD
    put_text(sheet.cell(2, 1), _title(item))
    sheet.cell(2, 1).font = TITLE
    imputation = item.imputation[:1].lower() + item.imputation[1:]  # « Compte 7474 » inside the sentence
    put_text(sheet.cell(3, 1), f"Date du bordereau : {item.date_bordereau:%d/%m/%Y} · imputation : {imputation}")
    put_text(sheet.cell(4, 1), f"Objet : {item.objet}")
    for row in (2, 4):
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last_col)
        sheet.cell(row, 1).alignment = WRAP
    sheet.row_dimensions[2].height = 20
    sheet.row_dimensions[4].height = 30  # the objet takes two lines at this width


def _line(sheet, row: int, line: RunLine, prototype: list | None) -> None:
    """One pièce. The first line is styled cell by cell; the others copy its cells' styles (a national
    bordereau has 35 000 lines: styling each cell through openpyxl took 15 s, copying takes well under 1)."""
    who = f"{line.debiteur}\nINSEE {line.code_insee}" + (f" · SIRET {line.siret}" if line.siret else "")
    # a réduction or an annulation asks for no payment: no due date (its notice shows none either)
    echeance = None if line.nature in CREDIT_LABELS else line.echeance
    values = (line.numero, line.nature, line.origine or "", who, echeance, line.montant_cents)
    if prototype is not None:
        for column, (value, model) in enumerate(zip(values, prototype), start=1):
            cell = sheet.cell(row, column)
            if column == 6:
                cell.value = cents_to_decimal(int(value))
            elif column == 5:
                cell.value = value
            else:
                cell.value, cell.data_type = str(value), "s"
            cell._style = copy(model._style)
        sheet.row_dimensions[row].height = 30
        return
    for column, value in enumerate(values[:4], start=1):
        put_text(sheet.cell(row, column), value)
    put_date(sheet.cell(row, 5), echeance)
    put_euros(sheet.cell(row, 6), line.montant_cents)
    for column in range(1, 7):
        sheet.cell(row, column).alignment = WRAP
        sheet.cell(row, column).border = GRID
    sheet.cell(row, 5).number_format = DATE
    sheet.cell(row, 6).number_format = EUROS
    sheet.row_dimensions[row].height = 30  # two lines: the debtor, then its identifiers


def _foot(sheet, item: RunBordereau, row: int, last_col: int) -> None:
    count = len(item.lines)
    put_text(sheet.cell(row, 4), f"Total du bordereau : {format_count(count)} pièce{'s' if count > 1 else ''}")
    put_euros(sheet.cell(row, last_col), item.total_cents)
    for column in (4, last_col):
        sheet.cell(row, column).font = BOLD
        sheet.cell(row, column).border = TOTAL_BORDER
    if item.serie == "titres":
        kind = "titre" if count == 1 else "titres"
    else:
        kind = "pièce de réduction ou d'annulation" if count == 1 else "pièces de réduction ou d'annulation"
    lines = [
        (row + 2, f"Certifié exécutoire le présent bordereau n° {item.numero} de {format_count(count)} {kind}, "
                  f"arrêté à la somme de {format_euros(item.total_cents)}.", True),
        (row + 3, f"Fait à {item.lieu}, le {item.date_bordereau:%d/%m/%Y}", False),
        (row + 5, f"Le {item.qualite}, {item.signataire}", True),
        (row + 6, "Signature et cachet :", False),
    ]
    if item.empreinte:
        lines.append((row + 10, f"Empreinte du registre à conserver : {item.empreinte}", False))
    for at, text, bold in lines:
        put_text(sheet.cell(at, 1), text)
        sheet.merge_cells(start_row=at, start_column=1, end_row=at, end_column=last_col)
        sheet.cell(at, 1).alignment = WRAP
        if bold:
            sheet.cell(at, 1).font = BOLD
    sheet.row_dimensions[row + 2].height = 30
    for blank in (row + 7, row + 8, row + 9):  # room for the signature
        sheet.row_dimensions[blank].height = 22
    if item.empreinte:
        sheet.cell(row + 10, 1).font = font(size=8)
        sheet.row_dimensions[row + 10].height = 24


def _print_setup(sheet, item: RunBordereau, header_row: int, last_row: int) -> None:
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.print_area = f"A1:F{last_row + 1}"
    sheet.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.7, header=0.3, footer=0.3)
    sheet.oddHeader.right.text = f"Bordereau {LETTERS[item.serie]}{item.numero:03d} — exercice {item.exercice}"
    sheet.oddFooter.center.text = "page &P / &N"
    sheet.freeze_panes = sheet.cell(header_row + 1, 1)
