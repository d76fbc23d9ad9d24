"""The « Hors titre » sheet of the budget summary (DESIGN §4b): what members owe that no titre carries.

Two lists, each with its SUM total: the fiscalised members (the contribution is levied through
local taxes, CGCT L5212-20: computed and counted, but no notice and no titre) and the members
whose amount is below the seuil de recouvrement (CGCT D1611-1: not titled until it reaches it).
Written only when the year has any: a year without them keeps its workbook as it was.
"""

from __future__ import annotations

import polars as pl
from openpyxl.utils import get_column_letter

from billing.core.money import format_euros
from billing.render.files import BOLD, EUROS, TITLE, TOTAL_BORDER, header_row, put_euros

SHEET = "Hors titre"


def not_titled_frames(contributions: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(fiscalised, below the seuil): code_insee, commune, montant_cents of the billed members of each kind."""
    if "mode_contribution" not in contributions.columns or "sous_seuil" not in contributions.columns:
        empty = contributions.head(0).select("code_insee", "commune", "montant_cents")
        return empty, empty
    billed = contributions.filter(pl.col("situation") == "facturee").sort("code_insee")
    fiscal = billed.filter(pl.col("mode_contribution") == "fiscalisee")
    below = billed.filter(pl.col("sous_seuil").fill_null(False))
    return (fiscal.select("code_insee", "commune", "montant_cents"),
            below.select("code_insee", "commune", "montant_cents"))


def add_not_titled_sheet(workbook, priced) -> None:
    """The sheet, after the others; nothing when no member is fiscalised nor below the seuil."""
    fiscal, below = not_titled_frames(priced.contributions)
    if fiscal.height == 0 and below.height == 0:
        return
    sheet = workbook.create_sheet(SHEET)
    sheet["A1"] = f"Contributions {priced.annee} sans titre de recettes"
    sheet["A1"].font = TITLE
    for column, width in enumerate((12, 34, 16), start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    row = 3
    seuil = format_euros(priced.tariff.seuil_cents)
    for title, frame in ((f"Contributions fiscalisées (CGCT L5212-20) : levées par l'impôt local, ni avis ni titre",
                          fiscal),
                         (f"Sous le seuil de recouvrement de {seuil} (CGCT D1611-1) : restent dues, titrées quand "
                          f"elles atteignent le seuil", below)):
        sheet.cell(row, 1, title).font = BOLD
        header_row(sheet, row + 1, ("Code INSEE", "Commune", "Montant"))
        first = row + 2
        for offset, (code, commune, cents) in enumerate(frame.iter_rows()):
            sheet.cell(first + offset, 1, code)
            sheet.cell(first + offset, 2, commune)
            put_euros(sheet.cell(first + offset, 3), cents)
        total = first + frame.height
        sheet.cell(total, 1, f"Total ({frame.height} membre{'s' if frame.height > 1 else ''})").font = BOLD
        cell = sheet.cell(total, 3, f"=SUM(C{first}:C{total - 1})" if frame.height else 0)
        cell.number_format, cell.font, cell.border = EUROS, BOLD, TOTAL_BORDER
        row = total + 2
