"""rapprochement_<year>.xlsx: per titre, issued, reduced, paid, outstanding; what did not match; whom to remind.

The renderer reads a ``billing.core.reconcile.Reconciliation`` and never recomputes an amount:
it writes the figures the reconciliation balanced, with SUM formulas for the totals and
the balance identity as live formulas, so that Excel or LibreOffice show the same cents
the code checked. Text from the inputs (names, references, numbers) is written as text,
never as a formula.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from billing.core.model import Syndicat
from billing.core.money import format_euros
from billing.core.natures import nature_label
from billing.core.reconcile import Reconciliation, Totals, check_balance
from billing.render.files import (
    BOLD, EUROS, TITLE, font, header_row, TOTAL_BORDER, print_setup, put_date, put_euros, put_text, save_workbook,
)
from billing.render.sheetxml import wrapped_height

DAYS = "0"
CENTRED = Alignment(horizontal="center")

TITRES = "Titres"
UNMATCHED = "Non rapprochés"
OVERPAID = "Trop-perçus"
REMINDERS = "Relances"
PAYMENTS = "Paiements"



def write_rapprochement(path: Path, *, reconciliation: Reconciliation, syndicat: Syndicat, annee: int,
                        generated_at: datetime) -> Path:
    """Write the reconciliation workbook to ``path`` (temporary name, fsync, rename); return ``path``."""
    check_balance(reconciliation.titres, reconciliation.totals)  # never render figures that do not balance
    workbook = Workbook()
    titres = workbook.active
    titres.title = TITRES
    heading = _Heading(syndicat.nom, annee, reconciliation.as_of, generated_at)
    unmatched_total, other_total = _unmatched_sheet(workbook.create_sheet(UNMATCHED), reconciliation, heading)
    _overpaid_sheet(workbook.create_sheet(OVERPAID), reconciliation, heading)
    _reminders_sheet(workbook.create_sheet(REMINDERS), reconciliation, heading)
    payments_total = _payments_sheet(workbook.create_sheet(PAYMENTS), reconciliation, heading)
    _titres_sheet(titres, reconciliation, heading, unmatched_total=unmatched_total, other_total=other_total,
                  payments_total=payments_total)
    return save_workbook(workbook, Path(path))


# --------------------------------------------------------------------------- sheets


class _Heading:
    """The three lines every sheet opens with."""

    def __init__(self, issuer: str, annee: int, as_of: date, generated_at: datetime):
        self.issuer, self.annee, self.as_of, self.generated_at = issuer, annee, as_of, generated_at

    def write(self, sheet: Worksheet, title: str) -> int:
        """Write the heading; return the first free row."""
        sheet["A1"] = f"{title} — exercice {self.annee}"
        sheet["A1"].font = TITLE
        put_text(sheet.cell(2, 1), self.issuer)
        sheet["A3"] = (f"Situation au {self.as_of:%d/%m/%Y} — établi le {self.generated_at:%d/%m/%Y à %H:%M} "
                       f"par ent-bill")
        sheet["A3"].font = font(italic=True)
        return 5


def _titres_sheet(sheet: Worksheet, rec: Reconciliation, heading: _Heading, *, unmatched_total: str,
                  other_total: str, payments_total: str) -> None:
    row = heading.write(sheet, "Rapprochement des titres de recettes")
    headers = ["N° titre", "Nature", "Exercice", "Code INSEE", "Commune", "Émis le", "Échéance", "Émis",
               "Réduit", "Payé", "Reste à recouvrer", "Trop-perçu", "Jours de retard", "Réductions / annulations",
               "Paiements"]
    header_row(sheet, row, headers)
    first = row + 1
    _titre_rows(sheet, rec.titres, first)
    last = first + rec.titres.height - 1
    total = last + 1
    sheet.cell(total, 1, f"Total ({rec.titres.height} titres)").font = BOLD
    for column in range(8, 13):
        _sum_cell(sheet, total, column, first, last)
    _total_style(sheet, total, 1, 15)

    _balance_checks(sheet, rec.totals, total, unmatched_total=unmatched_total, other_total=other_total,
                    payments_total=payments_total)

    _widths(sheet, [16, 20, 9, 11, 28, 11, 11, 14, 14, 14, 16, 14, 10, 28, 40])
    sheet.freeze_panes = sheet.cell(first, 2)
    if rec.titres.height:
        sheet.auto_filter.ref = f"A{first - 1}:O{last}"
    _landscape(sheet)


def _titre_rows(sheet: Worksheet, titres: pl.DataFrame, first: int) -> None:
    for offset, rec_row in enumerate(titres.iter_rows(named=True)):
        r = first + offset
        put_text(sheet.cell(r, 1), rec_row["numero"])
        put_text(sheet.cell(r, 2), nature_label(rec_row["nature"], capitalized=True))
        sheet.cell(r, 3, rec_row["exercice"]).alignment = CENTRED  # « 2024 59005 » read as one number
        put_text(sheet.cell(r, 4), rec_row["code_insee"])
        put_text(sheet.cell(r, 5), rec_row["commune"])
        put_date(sheet.cell(r, 6), rec_row["date_emission"])
        put_date(sheet.cell(r, 7), rec_row["date_echeance"])
        for column, key in zip(range(8, 13), ("emis_cents", "reduit_cents", "paye_cents", "reste_cents",
                                              "trop_percu_cents")):
            put_euros(sheet.cell(r, column), rec_row[key])
        if rec_row["jours"] is not None:
            sheet.cell(r, 13, rec_row["jours"]).number_format = DAYS
            sheet.cell(r, 13).alignment = CENTRED  # « 932 ENT-2024-0072 » beside the corrections
        put_text(sheet.cell(r, 14), rec_row["corrections"])
        put_text(sheet.cell(r, 15), rec_row["paiements"])


def _balance_checks(sheet: Worksheet, t: Totals, total: int, *, unmatched_total: str, other_total: str,
                    payments_total: str) -> None:
    """Below the titres: the two balances as live formulas, and the figures ent-bill checked."""
    letter = {name: get_column_letter(c) for name, c in
              (("emis", 8), ("reduit", 9), ("paye", 10), ("reste", 11), ("trop", 12))}
    ref = {name: f"{col}{total}" for name, col in letter.items()}
    r = total + 2
    sheet.cell(r, 1, "Contrôle de l'équilibre (au centime)").font = BOLD
    checks = [
        ("Émis − réduit", f"={ref['emis']}-{ref['reduit']}"),
        ("Payé + reste à recouvrer − trop-perçu", f"={ref['paye']}+{ref['reste']}-{ref['trop']}"),
        ("Écart (doit être nul)", f"=ROUND(H{r + 1}-H{r + 2},2)"),
    ]
    for i, (label, formula) in enumerate(checks, start=1):
        sheet.cell(r + i, 1, label)
        sheet.cell(r + i, 8, formula).number_format = EUROS
    sheet.cell(r + 4, 1, "Résultat")
    sheet.cell(r + 4, 8, f'=IF(H{r + 3}=0,"Équilibré","DÉSÉQUILIBRE")').font = BOLD
    sheet.cell(r + 5, 1, f"Vérifié par ent-bill : émis {format_euros(t.emis)} − réduit {format_euros(t.reduit)} "
                         f"= {format_euros(t.net)} = payé {format_euros(t.paye)} + reste "
                         f"{format_euros(t.reste)} − trop-perçu {format_euros(t.trop_percu)}.").font = font(italic=True)

    r += 7
    sheet.cell(r, 1, "Encaissements du fichier des paiements").font = BOLD
    lines = [
        ("Paiements reçus", f"={payments_total}"),
        ("dont rapprochés sur les titres de l'exercice (payé)", f"={ref['paye']}"),
        ("dont non rapprochés (feuille « Non rapprochés »)", f"={unmatched_total}"),
        ("dont titres d'autres exercices (écartés)", f"={other_total}"),
        ("Écart (doit être nul)", f"=ROUND(H{r + 1}-H{r + 2}-H{r + 3}-H{r + 4},2)"),
    ]
    for i, (label, formula) in enumerate(lines, start=1):
        sheet.cell(r + i, 1, label)
        sheet.cell(r + i, 8, formula).number_format = EUROS
    sheet.cell(r + 6, 1, f"Vérifié par ent-bill : reçu {format_euros(t.recu)} = rapproché {format_euros(t.paye)} "
                         f"+ non rapproché {format_euros(t.non_rapproche)} + autres exercices "
                         f"{format_euros(t.autres_exercices)}.").font = font(italic=True)


def _unmatched_sheet(sheet: Worksheet, rec: Reconciliation, heading: _Heading) -> tuple[str, str]:
    """Payments that found no titre, then payments of other exercices; return both total cells."""
    row = heading.write(sheet, "Paiements non rapprochés")
    headers = ["Ligne", "Date", "Montant", "Code INSEE", "N° titre indiqué", "Référence", "Motif"]
    total_unmatched = _payment_table(sheet, row, headers, rec.unmatched, last_key="motif",
                                     empty="Tous les paiements ont été rapprochés.")
    row = int(total_unmatched[1:]) + 3
    sheet.cell(row, 1, "Paiements de titres d'autres exercices (à rapprocher avec l'exercice du titre)").font = BOLD
    headers = ["Ligne", "Date", "Montant", "Code INSEE", "N° titre indiqué", "Référence", "Exercice du titre"]
    total_other = _payment_table(sheet, row + 1, headers, rec.other_years, last_key="exercice",
                                 empty="Aucun.")
    _widths(sheet, [8, 11, 14, 11, 18, 22, 50])
    _landscape(sheet)
    quoted = f"'{sheet.title}'!"
    return quoted + total_unmatched, quoted + total_other


def _payment_table(sheet: Worksheet, row: int, headers: list[str], frame: pl.DataFrame, *, last_key: str,
                   empty: str) -> str:
    header_row(sheet, row, headers)
    first = row + 1
    for offset, pay in enumerate(frame.iter_rows(named=True)):
        r = first + offset
        sheet.cell(r, 1, pay["_row"]).alignment = CENTRED  # « 8 15/07/2024 » read as one value
        put_date(sheet.cell(r, 2), pay["date"])
        put_euros(sheet.cell(r, 3), pay["montant_cents"])
        put_text(sheet.cell(r, 4), pay["code_insee"])
        sheet.cell(r, 4).alignment = CENTRED  # « 4 769,59 € 59650 » too
        put_text(sheet.cell(r, 5), pay["numero_titre"])
        put_text(sheet.cell(r, 6), pay["reference"])
        value = pay[last_key]
        if isinstance(value, str):
            put_text(sheet.cell(r, 7), value)
        else:
            sheet.cell(r, 7, value)
    if frame.height == 0:
        sheet.cell(first, 1, empty).font = font(italic=True)
        first += 1
    last = first + frame.height - 1
    total = max(last, first - 1) + 1
    sheet.cell(total, 1, "Total").font = BOLD
    _sum_cell(sheet, total, 3, first, last)
    _total_style(sheet, total, 1, 7)
    return f"C{total}"


def _overpaid_sheet(sheet: Worksheet, rec: Reconciliation, heading: _Heading) -> None:
    row = heading.write(sheet, "Trop-perçus (à rembourser ou à imputer)")
    headers = ["N° titre", "Code INSEE", "Commune", "Émis", "Réduit", "Payé", "Trop-perçu", "Paiements"]
    header_row(sheet, row, headers)
    first = row + 1
    overpaid = rec.overpaid
    for offset, t in enumerate(overpaid.iter_rows(named=True)):
        r = first + offset
        put_text(sheet.cell(r, 1), t["numero"])
        put_text(sheet.cell(r, 2), t["code_insee"])
        put_text(sheet.cell(r, 3), t["commune"])
        for column, key in zip(range(4, 8), ("emis_cents", "reduit_cents", "paye_cents", "trop_percu_cents")):
            put_euros(sheet.cell(r, column), t[key])
        put_text(sheet.cell(r, 8), t["paiements"])
    if overpaid.height == 0:
        sheet.cell(first, 1, "Aucun trop-perçu.").font = font(italic=True)
        first += 1
    last = first + overpaid.height - 1
    total = max(last, first - 1) + 1
    sheet.cell(total, 1, "Total").font = BOLD
    for column in range(4, 8):
        _sum_cell(sheet, total, column, first, last)
    _total_style(sheet, total, 1, 8)
    _widths(sheet, [16, 11, 28, 14, 14, 14, 14, 40])
    _landscape(sheet)


def _reminders_sheet(sheet: Worksheet, rec: Reconciliation, heading: _Heading) -> None:
    row = heading.write(sheet, "Communes à relancer (reste à recouvrer échu)")
    headers = ["Code INSEE", "Commune", "Titres", "Reste dû", "Échéance la plus ancienne", "Jours de retard"]
    header_row(sheet, row, headers)
    first = row + 1
    for offset, c in enumerate(rec.reminders.iter_rows(named=True)):
        r = first + offset
        put_text(sheet.cell(r, 1), c["code_insee"])
        put_text(sheet.cell(r, 2), c["commune"])
        put_text(sheet.cell(r, 3), c["titres"])
        put_euros(sheet.cell(r, 4), c["reste_cents"])
        put_date(sheet.cell(r, 5), c["echeance"])
        sheet.cell(r, 6, c["jours"]).number_format = DAYS
    if rec.reminders.height == 0:
        sheet.cell(first, 1, "Aucune commune à relancer.").font = font(italic=True)
        first += 1
    last = first + rec.reminders.height - 1
    total = max(last, first - 1) + 1
    sheet.cell(total, 1, f"Total ({rec.reminders.height} communes)").font = BOLD
    _sum_cell(sheet, total, 4, first, last)
    _total_style(sheet, total, 1, 6)
    _widths(sheet, [11, 28, 34, 14, 14, 10])
    _landscape(sheet)


def _payments_sheet(sheet: Worksheet, rec: Reconciliation, heading: _Heading) -> str:
    """Every payment read, and where it went: the audit trail of the matching. Returns the total cell."""
    row = heading.write(sheet, "Paiements reçus et leur imputation")
    headers = ["Ligne", "Date", "Montant", "Code INSEE", "N° titre indiqué", "Référence", "Imputé sur",
               "Règle appliquée"]
    header_row(sheet, row, headers)
    shares: dict[int, list[dict]] = {}
    for share in rec.allocations.iter_rows(named=True):
        shares.setdefault(share["_row"], []).append(share)
    unmatched = {r: m for r, m in rec.unmatched.select("_row", "motif").iter_rows()}
    others = {r: e for r, e in rec.other_years.select("_row", "exercice").iter_rows()}
    received = pl.concat([
        rec.allocations.group_by("_row").agg(pl.col("date", "code_insee", "numero_titre", "reference").first(),
                                             pl.col("montant_cents").sum()),
        rec.unmatched.select("_row", "date", "montant_cents", "code_insee", "numero_titre", "reference"),
        rec.other_years.select("_row", "date", "montant_cents", "code_insee", "numero_titre", "reference"),
    ], how="diagonal_relaxed").sort("date", "_row")
    first = row + 1
    for offset, pay in enumerate(received.iter_rows(named=True)):
        r = first + offset
        source_row = pay["_row"]
        sheet.cell(r, 1, source_row).alignment = CENTRED
        put_date(sheet.cell(r, 2), pay["date"])
        put_euros(sheet.cell(r, 3), pay["montant_cents"])
        put_text(sheet.cell(r, 4), pay["code_insee"])
        sheet.cell(r, 4).alignment = CENTRED
        put_text(sheet.cell(r, 5), pay["numero_titre"])
        parts = shares.get(source_row, [])
        put_text(sheet.cell(r, 6), pay["reference"])
        if parts:
            put_text(sheet.cell(r, 7), ", ".join(
                p["numero"] if len(parts) == 1 else f"{p['numero']} ({format_euros(p['montant_cents'])})"
                for p in parts))
            put_text(sheet.cell(r, 8), " ; ".join(dict.fromkeys(p["mode"] for p in parts)))
        elif source_row in others:
            put_text(sheet.cell(r, 7), f"exercice {others[source_row]} (écarté)")
        else:
            put_text(sheet.cell(r, 7), "non rapproché")
            put_text(sheet.cell(r, 8), unmatched.get(source_row))
    if received.height == 0:
        sheet.cell(first, 1, "Aucun paiement.").font = font(italic=True)
        first += 1
    last = first + received.height - 1
    total = max(last, first - 1) + 1
    sheet.cell(total, 1, "Total").font = BOLD
    _sum_cell(sheet, total, 3, first, last)
    _total_style(sheet, total, 1, 8)
    _widths(sheet, [8, 11, 14, 11, 18, 22, 40, 32])
    _landscape(sheet)
    return f"'{sheet.title}'!C{total}"


# --------------------------------------------------------------------------- cells and files








def _sum_cell(sheet: Worksheet, row: int, column: int, first: int, last: int) -> None:
    letter = get_column_letter(column)
    cell = sheet.cell(row, column, f"=SUM({letter}{first}:{letter}{last})" if last >= first else 0)
    cell.number_format = EUROS
    cell.font = BOLD




def _total_style(sheet: Worksheet, row: int, first_column: int, last_column: int) -> None:
    for column in range(first_column, last_column + 1):
        sheet.cell(row, column).border = TOTAL_BORDER


def _widths(sheet: Worksheet, widths: list[int]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _landscape(sheet: Worksheet) -> None:
    """A4 landscape fitted to the width, the sheet's title and year on top, « page n / N », the header row
    (row 5, under the three heading lines) repeated, long text wrapped in its column."""
    print_setup(sheet, title=str(sheet["A1"].value or sheet.title), title_rows="5:5")
    wide = {index for index in range(1, sheet.max_column + 1)
            if (sheet.column_dimensions[get_column_letter(index)].width or 0) >= 28}
    for row in sheet.iter_rows(min_row=6):
        texts = []
        for cell in row:
            if cell.column in wide and isinstance(cell.value, str) and not cell.value.startswith("="):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
                texts.append((cell.value, sheet.column_dimensions[cell.column_letter].width))
            elif cell.value is not None:  # on the wrapped text's top line: bottom-aligned, the commune stood higher
                cell.alignment = Alignment(vertical="top", horizontal=cell.alignment.horizontal)
        height = wrapped_height(texts)
        if height and row:
            sheet.row_dimensions[row[0].row].height = height
    headers = [(cell.value, sheet.column_dimensions[cell.column_letter].width or 10) for cell in sheet[5]
               if isinstance(cell.value, str)]
    height = wrapped_height(headers)
    if height:
        sheet.row_dimensions[5].height = height

