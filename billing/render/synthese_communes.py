"""The « Communes » sheet of the summary: one row per member (and per leaver), streamed (DESIGN §8).

At national scale the sheet holds ~35 000 rows × 13 columns; one openpyxl cell per value
cost ~8 s. openpyxl lays out the title, the header and one prototype row per form of row
(a commune, the total, the closing note), each cell styled as the plain way styled it;
``billing.render.sheetxml`` then writes the real rows as XML with the prototypes' styles.
"""

from __future__ import annotations

import polars as pl
from openpyxl.worksheet.worksheet import Worksheet

from billing.core.model import SITUATION_LABELS, STATUT_LABELS
from billing.render.files import BOLD, EUROS, TITLE, TOTAL_BORDER, font, header_row
from billing.render.sheetxml import PROTOTYPE, Column, Formula, StreamedSheet, openpyxl_value, worksheet_part

PERCENT = "0.0 %"
COUNT = "#,##0"

_TEXT, _COUNT, _EUROS = Column("text"), Column("int", COUNT), Column("euros", EUROS)
_DELTA, _RATIO = Column("formula", EUROS), Column("formula", PERCENT)
_BORDERED = Column("text")  # an empty cell that carries the total row's border


def communes_sheet(workbook, sheet: Worksheet, year, *, previous_source: str | None, new: str,
                   departed: str, widths, streamed: bool = True) -> StreamedSheet | None:
    """Lay the sheet out and return the rows to stream into it when the workbook is saved.

    ``year`` is the summary's ``_Year``; ``new``/``departed`` the « mouvement » words;
    ``widths(sheet, widths)`` sets the column widths. The caller checks, before saving, that
    the rows add up to the year's billed total. ``streamed=False`` writes every cell through
    openpyxl instead (the reference the tests and the benchmark compare with) and returns None.
    """
    previous = year.annee - 1
    compared = year.comparison is not None
    if not compared:
        subtitle = (f"Pas de comparaison avec {previous} : ni titres {previous} dans le registre des titres, "
                    f"ni données {previous} dans le dossier des données.")
    else:
        subtitle = f"Montants {previous} : {previous_source or 'année précédente'}."
    sheet["A1"] = f"Contributions {year.annee} par commune"
    sheet["A1"].font = TITLE
    sheet["A2"] = subtitle
    sheet["A2"].font = font(italic=True)
    row = 4
    base = ["Code INSEE", "Commune", "Statut", "Situation", "Département", "EPCI", "Écoles publiques", "Élèves"]
    frame = year.comparison if compared else year.communes
    if compared:
        header_row(sheet, row, (*base, f"Montant {previous}", f"Montant {year.annee}", "Δ €", "Δ %", "Mouvement"))
    else:
        header_row(sheet, row, (*base, f"Montant {year.annee}", "Montant indicatif"))
    sheet.row_dimensions[row].height = 30  # two-line titles, clear of the first commune
    first = row + 1
    last = first + frame.height - 1
    total = last + 1
    forms = _forms(compared)
    rows = _rows(frame, year, first=first, compared=compared, new=new, departed=departed)
    if streamed:
        _prototypes(sheet, first, forms)
    else:
        for r, form, values in rows:
            _plain_row(sheet, r, forms[form], values, total=form == 1)
    if compared:
        widths(sheet, (11, 30, 14, 24, 12, 36, 10, 10, 16, 16, 14, 10, 12))
    else:
        widths(sheet, (11, 30, 14, 24, 12, 36, 10, 10, 16, 16))
    letter = "M" if compared else "J"
    sheet.freeze_panes = sheet.cell(first, 3)
    if frame.height:
        sheet.auto_filter.ref = f"A{row}:{letter}{last}"
    if not streamed:
        return None
    end = total + 2 if compared else total
    return StreamedSheet(worksheet_part(workbook, sheet.title), forms, rows, first, dimension=f"A1:{letter}{end}")


def _forms(compared: bool) -> tuple[tuple[Column | None, ...], ...]:
    """The forms of row: a commune, the total, (compared) the closing note."""
    people = (_TEXT,) * 6 + (_COUNT, _COUNT)
    total_counts = (Column("formula", COUNT, bold=True),) * 2
    total_euros = Column("formula", EUROS, bold=True)
    if not compared:
        return (people + (_EUROS, _EUROS),
                (Column("text", bold=True),) + (_BORDERED,) * 5 + total_counts + (total_euros,) * 2)
    return (people + (_EUROS, _EUROS, _DELTA, _RATIO, _TEXT),
            (Column("text", bold=True),) + (_BORDERED,) * 5 + total_counts + (total_euros,) * 3 +
            (Column("formula", PERCENT, bold=True), _BORDERED),
            (_TEXT,))


def _prototypes(sheet: Worksheet, first: int, forms) -> None:
    """One row per form, each cell styled as the plain way styles it."""
    for offset, form in enumerate(forms):
        for index, column in enumerate(form, start=1):
            if column is not None:
                _styled(sheet.cell(first + offset, index, PROTOTYPE), column, total=offset == 1).data_type = "s"


def _plain_row(sheet: Worksheet, r: int, form, values, *, total: bool) -> None:
    """One row through openpyxl cells: the same values, the same styles (an empty cell keeps its style)."""
    for index, (column, value) in enumerate(zip(form, values), start=1):
        if column is None or (value is None and not (column.number_format or column.bold or total)):
            continue
        cell = _styled(sheet.cell(r, index), column, total=total)
        if value is not None:
            cell.value = openpyxl_value(column, value)
            if column.kind == "text":
                cell.data_type = "s"


def _styled(cell, column: Column, *, total: bool):
    if column.number_format:
        cell.number_format = column.number_format
    if column.bold:
        cell.font = BOLD
    if total:
        cell.border = TOTAL_BORDER
    return cell


def _rows(frame: pl.DataFrame, year, *, first: int, compared: bool, new: str, departed: str):
    """(row, form, values) of every commune, then the total, then (compared) the note; checks the sum."""
    annee = year.annee
    fields = ["code_insee", "commune", "statut", "situation", "departement", "epci_nom", "ecoles", "eleves"]
    fields += ["precedent_cents", "facture_cents", "mouvement"] if compared else ["facture_cents", "indicatif_cents"]
    r = first - 1
    billed = before = 0
    for code, commune, statut, situation, departement, epci, ecoles, eleves, *money in frame.select(fields).iter_rows():
        r += 1
        values = [code, commune, STATUT_LABELS.get(statut, statut) if statut else "—",
                  SITUATION_LABELS.get(situation, situation) if situation else f"non membre en {annee}",
                  departement, epci, ecoles, eleves if ecoles is not None else None]
        if compared:
            precedent, facture, mouvement = money
            before += precedent
            billed += facture
            values += [precedent, facture, Formula(f"J{r}-I{r}", facture - precedent),
                       Formula(f'IF(I{r}=0,"",K{r}/I{r})', None), mouvement]
        else:
            facture, indicatif = money
            billed += facture
            values += [facture, indicatif]
        yield r, 0, values
    last, total = r, r + 1
    sums = [Formula(f"SUM({c}{first}:{c}{last})" if last >= first else "0", None) for c in "GH"]
    if compared:
        euros = [Formula(f"SUM({c}{first}:{c}{last})" if last >= first else "0", cents)
                 for c, cents in (("I", before), ("J", billed), ("K", billed - before))]
        ratio = Formula(f'IF(I{total}=0,"",K{total}/I{total})', None)
        yield total, 1, ["Total", None, None, None, None, None, *sums, *euros, ratio, None]
        joined = int((frame["mouvement"] == new).sum())
        left = int((frame["mouvement"] == departed).sum())
        yield total + 2, 2, [f"Nouvelles communes facturées : {joined} ; communes sorties (facturées en "
                             f"{annee - 1}, plus en {annee}) : {left}."]
    else:
        indicative = int(frame["indicatif_cents"].sum() or 0)
        euros = [Formula(f"SUM({c}{first}:{c}{last})" if last >= first else "0", cents)
                 for c, cents in (("I", billed), ("J", indicative))]
        yield total, 1, ["Total", None, None, None, None, None, *sums, *euros]

