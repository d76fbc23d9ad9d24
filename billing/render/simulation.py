"""simulation_<year>_<slug>.xlsx: the current tariff and each simulated one side by side."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Sequence

import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter

from billing.core.model import SITUATION_LABELS
from billing.render.files import BOLD, EUROS, TITLE, header_row, print_setup, put_euros, put_text, save_workbook
from billing.render.sheetxml import wrapped_height

BILLED = SITUATION_LABELS["facturee"]  # the label shown in « Situation », which the totals' SUMIF selects


def write_simulation(path: Path, *, annee: int, current, scenarios: Sequence, comparison: pl.DataFrame,
                     tariff_descriptions: Sequence[Sequence[tuple[str, str]]], solution=None,
                     generated_at: datetime) -> Path:
    """The comparison sheet and the « Tarifs » sheet; ``tariff_descriptions``: the (label, value)
    rows of the current tariff then of each scenario's, in that order (``describe_tariff``)."""
    if len(tariff_descriptions) != 1 + len(scenarios):
        raise ValueError("une description de tarif par colonne : le tarif actuel puis chaque scénario")
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Comparaison"
    sheet["A1"] = f"Simulation des contributions {annee} — aucun titre n'est émis"
    sheet["A1"].font = TITLE
    sheet["A2"] = f"Produit le {generated_at.strftime('%d/%m/%Y %H:%M')} ; montants facturés (indicatifs pour les conditionnelles)"
    headers = ["Code INSEE", "Commune", "Situation", "Tarif actuel"]
    for scenario in scenarios:
        headers += [scenario.name, f"Écart {scenario.name}", f"Écart % {scenario.name}"]
    widths = [11, 28, 22, 14] + [18] * (len(headers) - 4)  # « Écart % cible part_eleve=2.5608 » in two lines
    header_row(sheet, 4, headers, widths=widths)
    # as tall as the longest header: at a fixed two lines a third was clipped, accents and all (« Ecart »)
    sheet.row_dimensions[4].height = max(30, wrapped_height(list(zip(headers, widths))) or 0)
    first = 5
    for offset, row in enumerate(comparison.iter_rows(named=True)):
        r = first + offset
        put_text(sheet.cell(r, 1), row["code_insee"])
        put_text(sheet.cell(r, 2), row["commune"])
        put_text(sheet.cell(r, 3), SITUATION_LABELS.get(row["situation"], row["situation"]))
        put_euros(sheet.cell(r, 4), row["montant_actuel"])
        for index in range(len(scenarios)):
            base = 5 + 3 * index
            put_euros(sheet.cell(r, base), row[f"montant_{index}"])
            amount, delta = get_column_letter(base), get_column_letter(base + 1)
            sheet.cell(r, base + 1, f"={amount}{r}-D{r}").number_format = EUROS
            sheet.cell(r, base + 2, f'=IF(D{r}=0,"",{delta}{r}/D{r})').number_format = "0.0%"
    last = first + comparison.height - 1
    total_row = last + 2
    sheet.cell(total_row, 1, "TOTAL facturé").font = BOLD
    for column in [4] + [5 + 3 * i for i in range(len(scenarios))] + [6 + 3 * i for i in range(len(scenarios))]:
        letter = get_column_letter(column)
        cell = sheet.cell(total_row, column,
                          f'=SUMIF(C{first}:C{last},"{BILLED}",{letter}{first}:{letter}{last})')
        cell.number_format, cell.font = EUROS, BOLD
    sheet.freeze_panes = "C5"
    sheet.auto_filter.ref = f"A4:{get_column_letter(len(headers))}{last}"
    print_setup(sheet, title=f"Simulation des contributions {annee} — comparaison", title_rows="4:4")

    _tariffs_sheet(workbook.create_sheet("Tarifs"), scenarios, tariff_descriptions, solution, annee=annee)
    return save_workbook(workbook, path)


def _tariffs_sheet(params, scenarios: Sequence, tariff_descriptions: Sequence[Sequence[tuple[str, str]]],
                   solution, *, annee: int) -> None:
    """One column per tariff (current, then each scenario), one row per label; the solved rate below."""
    params.column_dimensions["A"].width = 36
    print_setup(params, title=f"Simulation des contributions {annee} — tarifs comparés", landscape=len(scenarios) > 1,
                title_rows="1:1")
    column = 2
    put_text(params.cell(1, 2), "Tarif actuel")
    for scenario in scenarios:
        column += 1
        put_text(params.cell(1, column), scenario.name)
    for cell in params[1]:
        cell.font = BOLD
    rows: dict[str, int] = {}
    for tariff_index, description in enumerate(tariff_descriptions):
        for label, value in description:
            if label not in rows:
                rows[label] = len(rows) + 2
                put_text(params.cell(rows[label], 1), label)
            put_text(params.cell(rows[label], 2 + tariff_index), value)
        params.column_dimensions[get_column_letter(2 + tariff_index)].width = 30
    for row in params.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        height = wrapped_height([(cell.value, 36 if cell.column == 1 else 30) for cell in row])
        if height:
            params.row_dimensions[row[0].row].height = height
    if solution is not None:
        r = len(rows) + 3
        put_text(params.cell(r, 1), "Tarif résolu pour la cible")
        put_text(params.cell(r, 2), f"{solution.parameter} = {solution.value_text.replace('.', ',')} €")  # French
        put_text(params.cell(r + 1, 1), "Cible")
        put_euros(params.cell(r + 1, 2), solution.target_cents)
        put_text(params.cell(r + 2, 1), "Total à ce tarif")
        put_euros(params.cell(r + 2, 2), solution.total_cents)
        put_text(params.cell(r + 3, 1), "Total au pas suivant")
        put_euros(params.cell(r + 3, 2), solution.next_total_cents)
