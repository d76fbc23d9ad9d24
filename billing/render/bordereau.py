"""titres_<year>.csv and bordereau_<year>.xlsx: the schedule of titres for the finance software (DESIGN §6)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Sequence

from openpyxl import Workbook

from billing.core.natures import nature_label
from billing.core.money import cents_to_str
from billing.render.files import DATE, EUROS, TITLE, csv_text, write_bytes_atomic
from billing.render.sheetxml import Column, Formula, Table, add_table, save_with_tables

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


def rows_of(titres: Sequence, sirets: dict[str, str | None], debtors: dict[str, str]) -> list[list]:
    return [[t.numero, t.exercice, nature_label(t.nature), t.origine_numero or "",
             t.date_emission.isoformat(), t.date_echeance.isoformat() if t.date_echeance else "", t.code_insee,
             debtors.get(t.code_insee, f"Commune de {t.commune}"), sirets.get(t.code_insee) or "",
             t.imputation or "", t.objet or "", _bases(t), cents_to_str(t.signed_cents), t.deliberation or ""]
            for t in sorted(titres, key=lambda t: t.seq)]


def write_titres_csv(path: Path, *, titres, sirets, debtors) -> Path:
    """UTF-8, ',' and signed amounts (a réduction is negative), in number order: byte-stable."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows_of(titres, sirets, debtors):
        writer.writerow([csv_text(v) if isinstance(v, str) else v for v in row])
    return write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))


def _bordereau_table(annee: int, titres, sirets, debtors, issuer: str, generated_at: datetime) -> Table:
    ordered = sorted(titres, key=lambda t: t.seq)
    first = 5
    last = first + len(ordered) - 1
    text, day = Column("text"), Column("date", DATE)
    data = (text, Column("int"), text, text, day, day, text, text, text, text, text, text, Column("euros", EUROS),
            text)
    total = (None,) * 11 + (Column("text", bold=True), Column("formula", EUROS, bold=True))
    heading, plain = (Column("text", bold=True),), (Column("text"),)

    def rows():
        net = 0
        for t, row in zip(ordered, rows_of(ordered, sirets, debtors)):
            net += t.signed_cents
            yield 0, (row[0], row[1], row[2], row[3] or None, t.date_emission, t.date_echeance,
                      *(value or None for value in row[6:12]), t.signed_cents, row[13] or None)
        yield None, None
        yield 1, (None,) * 11 + ("Net émis sur l'exercice", Formula(f"SUM(M{first}:M{max(last, first)})", net))
        if ordered:
            anchor = f"{ordered[-1].numero}:{ordered[-1].hash}"
            yield None, None
            yield 2, ("Empreinte du registre des titres au dernier titre",)
            yield 3, (anchor,)
            yield 3, (f"À conserver hors du registre : « ent-bill verify --empreinte {anchor} » prouve qu'aucun "
                      "titre jusqu'à celui-ci n'a été modifié ni remplacé.",)

    return Table(
        "Bordereau",
        ("N° titre", "Exercice", "Nature", "Titre d'origine", "Émis le", "Échéance", "Code INSEE", "Débiteur",
         "SIRET", "Imputation", "Objet", "Bases de liquidation", "Montant", "Délibération"),
        (16, 9, 18, 16, 11, 11, 10, 34, 16, 10, 50, 80, 14, 30), (data, total, heading, plain), rows,
        freeze="B5", filter_ref=f"A4:N{last}" if ordered else None,
        preamble=(((f"Bordereau des titres de recettes — exercice {annee} — {issuer}", TITLE),),
                  ((f"Édité le {generated_at.strftime('%d/%m/%Y %H:%M')}", None),), ()),
        header_wrap=True)


def write_bordereau(path: Path, *, annee: int, titres, sirets, debtors, issuer: str, generated_at: datetime,
                    streamed: bool = True) -> Path:
    """The schedule of titres, one row each in number order, the net total and the ledger's last empreinte.

    ``streamed=False`` writes every cell through openpyxl (the reference the tests compare with).
    """
    workbook = Workbook(write_only=True)
    sheet = add_table(workbook, _bordereau_table(annee, titres, sirets, debtors, issuer, generated_at),
                      streamed=streamed)
    return save_with_tables(workbook, [sheet], path)
