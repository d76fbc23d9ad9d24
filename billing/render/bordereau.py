"""titres_<year>.csv and bordereau_<year>.xlsx: the schedule of titres for the finance software (DESIGN §6)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Sequence

from openpyxl import Workbook

from billing.corrections import NATURE_LABELS
from billing.money import cents_to_str
from billing.render.files import BOLD, EUROS, TITLE, csv_text, header_row, put_date, put_euros, put_text, \
    save_workbook, write_bytes_atomic

COLUMNS = ("numero", "exercice", "nature", "titre_origine", "date_emission", "date_echeance", "code_insee",
           "debiteur", "siret", "imputation", "objet", "bases_liquidation", "montant", "deliberation")


def _bases(titre) -> str:
    parts = []
    for line in titre.lines:
        if line.get("formule") == "produit" and line.get("quantite") is not None:
            rate = line["taux_units"] / 10_000
            parts.append(f"{line['libelle']} {line['quantite']} x {rate:.4f}".rstrip("0").rstrip(".")
                         + f" = {cents_to_str(line['montant_cents'])}")
        else:
            parts.append(f"{line['libelle']} {cents_to_str(line['montant_cents'])}")
    return " ; ".join(parts)


def _signed(titre) -> int:
    return -titre.montant_cents if titre.nature in ("reduction", "annulation") else titre.montant_cents


def rows_of(titres: Sequence, sirets: dict[str, str | None], debtors: dict[str, str]) -> list[list]:
    return [[t.numero, t.exercice, NATURE_LABELS.get(t.nature, t.nature), t.origine_numero or "",
             t.date_emission.isoformat(), t.date_echeance.isoformat() if t.date_echeance else "", t.code_insee,
             debtors.get(t.code_insee, f"Commune de {t.commune}"), sirets.get(t.code_insee) or "",
             t.imputation or "", t.objet or "", _bases(t), cents_to_str(_signed(t)), t.deliberation or ""]
            for t in sorted(titres, key=lambda t: t.seq)]


def write_titres_csv(path: Path, *, titres, sirets, debtors) -> Path:
    """UTF-8, ',' and signed amounts (a réduction is negative), in number order: byte-stable."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows_of(titres, sirets, debtors):
        writer.writerow([csv_text(v) if isinstance(v, str) else v for v in row])
    return write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))


def write_bordereau(path: Path, *, annee: int, titres, sirets, debtors, issuer: str, generated_at: datetime) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Bordereau"
    sheet["A1"] = f"Bordereau des titres de recettes — exercice {annee} — {issuer}"
    sheet["A1"].font = TITLE
    sheet["A2"] = f"Édité le {generated_at.strftime('%d/%m/%Y %H:%M')}"
    headers = ["N° titre", "Exercice", "Nature", "Titre d'origine", "Émis le", "Échéance", "Code INSEE", "Débiteur",
               "SIRET", "Imputation", "Objet", "Bases de liquidation", "Montant", "Délibération"]
    widths = [16, 9, 18, 16, 11, 11, 10, 34, 16, 10, 50, 80, 14, 30]
    header_row(sheet, 4, headers, widths=widths)
    ordered = sorted(titres, key=lambda t: t.seq)
    first = 5
    for offset, (t, row) in enumerate(zip(ordered, rows_of(ordered, sirets, debtors))):
        r = first + offset
        for column, value in enumerate(row, start=1):
            cell = sheet.cell(r, column)
            if column == 2:
                cell.value = value
            elif column in (5, 6):
                put_date(cell, t.date_emission if column == 5 else t.date_echeance)
            elif column == 13:
                put_euros(cell, _signed(t))
            else:
                put_text(cell, value or None)
    last = first + len(ordered) - 1
    total = sheet.cell(last + 2, 13, f"=SUM(M{first}:M{last})" if ordered else 0)
    total.number_format, total.font = EUROS, BOLD
    sheet.cell(last + 2, 12, "Net émis sur l'exercice").font = BOLD
    if ordered:
        anchor = f"{ordered[-1].numero}:{ordered[-1].hash}"
        sheet.cell(last + 4, 1, "Empreinte du registre des titres au dernier titre").font = BOLD
        put_text(sheet.cell(last + 5, 1), anchor)
        sheet.cell(last + 6, 1, "À conserver hors du registre : « ent-bill verify --empreinte " + anchor + " » "
                                "prouve qu'aucun titre jusqu'à celui-ci n'a été modifié ni remplacé.")
    sheet.freeze_panes = "B5"
    if ordered:
        sheet.auto_filter.ref = f"A4:N{last}"
    return save_workbook(workbook, path)
