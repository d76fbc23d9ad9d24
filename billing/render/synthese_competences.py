"""The « Par compétence » sheet of the summary of a year « à la carte » (DESIGN §4c): totals by competence
and by imputation (billed, indicative, members), each total a SUM over the displayed lines and checked in
Python against the year's billed and indicative totals before writing."""

from __future__ import annotations

from typing import Callable

import polars as pl
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from billing.render.files import BOLD, EUROS, TITLE, TOTAL_BORDER, header_row, put_euros, put_text

COMPETENCES = "Par compétence"
COUNT = "#,##0"


def competence_parts(by_competence: pl.DataFrame, contributions: pl.DataFrame) -> pl.DataFrame:
    """One row per member and competence: billed cents when the member is billed, indicative cents when it
    is indicative (the same rule as the year's totals)."""
    situation = contributions.select("code_insee", "situation")
    return by_competence.join(situation, on="code_insee", how="left").with_columns(
        pl.when(pl.col("situation") == "facturee").then(pl.col("montant_cents").fill_null(0))
        .otherwise(0).cast(pl.Int64).alias("facture_cents"),
        pl.when(pl.col("situation") == "indicative").then(pl.col("montant_indicatif_cents").fill_null(0))
        .otherwise(0).cast(pl.Int64).alias("indicatif_cents"),
        pl.col("imputation").fill_null(""))


def competence_sheet(sheet: Worksheet, parts: pl.DataFrame, *, annee: int, billed_cents: int,
                     indicative_cents: int, check: Callable[[str, int, int], None]) -> None:
    """Two tables: by competence (in the year's order), then by imputation."""
    sheet["A1"] = f"Contributions {annee} par compétence et par imputation"
    sheet["A1"].font = TITLE
    sheet["A2"] = ("Membres : ceux qui paient la compétence ; montant indicatif : communes conditionnelles "
                   "(non facturé).")
    order = parts.select("competence").unique(maintain_order=True).with_row_index("_rang")
    by_name = (parts.group_by("competence").agg(pl.col("imputation").first(), pl.col("code_insee").n_unique()
                                                .alias("membres"), pl.col("facture_cents").sum(),
                                                pl.col("indicatif_cents").sum())
               .join(order, on="competence").sort("_rang"))
    after = _table(sheet, 4, ("Compétence", "Imputation", "Membres", "Montant facturé", "Montant indicatif"),
                   [(r["competence"], r["imputation"], r["membres"], r["facture_cents"], r["indicatif_cents"])
                    for r in by_name.iter_rows(named=True)])
    by_account = (parts.group_by("imputation").agg(
        pl.col("competence").unique(maintain_order=True).str.join(", ").alias("competences"),
        pl.col("code_insee").n_unique().alias("membres"), pl.col("facture_cents").sum(),
        pl.col("indicatif_cents").sum()).sort("imputation"))
    _table(sheet, after + 2, ("Imputation", "Compétences", "Membres", "Montant facturé", "Montant indicatif"),
           [(r["imputation"], r["competences"], r["membres"], r["facture_cents"], r["indicatif_cents"])
            for r in by_account.iter_rows(named=True)])
    for label, frame in (("par compétence", by_name), ("par imputation", by_account)):
        check(f"total facturé {label}", int(frame["facture_cents"].sum() or 0), billed_cents)
        check(f"total indicatif {label}", int(frame["indicatif_cents"].sum() or 0), indicative_cents)
    for column, width in enumerate((30, 30, 12, 18, 18), start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _table(sheet: Worksheet, row: int, headers: tuple[str, ...], rows: list[tuple]) -> int:
    """A header, the rows, a bold total row of SUMs (members not summed: a member pays several competences);
    returns the total's row."""
    header_row(sheet, row, headers)
    first = row + 1
    for offset, (key, name, members, billed, indicative) in enumerate(rows):
        r = first + offset
        put_text(sheet.cell(r, 1), key)
        put_text(sheet.cell(r, 2), name)
        sheet.cell(r, 3, int(members)).number_format = COUNT
        put_euros(sheet.cell(r, 4), billed)
        put_euros(sheet.cell(r, 5), indicative)
    last = first + len(rows) - 1
    total = last + 1
    sheet.cell(total, 1, "Total").font = BOLD
    for column in (1, 2, 3):
        sheet.cell(total, column).border = TOTAL_BORDER
    for column in (4, 5):
        letter = get_column_letter(column)
        cell = sheet.cell(total, column, f"=SUM({letter}{first}:{letter}{last})" if last >= first else 0)
        cell.number_format, cell.font, cell.border = EUROS, BOLD, TOTAL_BORDER
    return total
