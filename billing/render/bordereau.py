"""titres_<year>.csv, titres_<year>_excel.csv and bordereau_<year>.xlsx: the schedule of titres (DESIGN §6).

The CSV is for programs (``,``, ISO dates, ``.`` decimals, signed amounts as numbers); the ``_excel`` copy is
what an officer double-clicks in a French Excel (``;``, UTF-8 with BOM, decimal comma, dd/mm/yyyy). The
« Bases de liquidation » are text a person reads: French numbers in both (« 268 × 1,20 € = 321,60 € »).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path
from typing import Sequence

from openpyxl import Workbook

from billing.core.carte import titre_parts
from billing.core.money import cents_to_str, format_count, format_euros, format_rate
from billing.core.natures import CREDITS, nature_label
from billing.render.files import DATE, EUROS, TITLE, csv_text, write_bytes_atomic
from billing.render.sheetxml import Column, Formula, Table, add_table, save_with_tables

COLUMNS = ("numero", "exercice", "nature", "titre_origine", "date_emission", "date_echeance", "code_insee",
           "debiteur", "siret", "imputation", "objet", "bases_liquidation", "montant", "deliberation")
EXCEL_HEADERS = ("N° titre", "Exercice", "Nature", "Titre d'origine", "Émis le", "Échéance", "Code INSEE",
                 "Débiteur", "SIRET", "Imputation", "Objet", "Bases de liquidation", "Montant", "Délibération")
_NUMBERS = {COLUMNS.index("exercice"), COLUMNS.index("montant")}  # written as numbers, never prefixed
_DATES = {COLUMNS.index("date_emission"), COLUMNS.index("date_echeance")}


def _line_text(line: dict) -> str:
    """One line of the bases, as a person reads it: « Part par élève 268 × 1,20 € = 321,60 € »."""
    amount = format_euros(line["montant_cents"])
    if line.get("formule") == "produit" and line.get("quantite") is not None and line.get("taux_units") is not None:
        return f"{line['libelle']} {format_count(line['quantite'])} × {format_rate(line['taux_units'])} = {amount}"
    return f"{line['libelle']} = {amount}"


_BASES: dict[str, str] = {}  # titre hash -> its bases text: the CSV, its Excel copy and the bordereau share it


def _bases(titre) -> str:
    """The lines that carry an amount; for a correction, its motif first (its information lines stay on
    the notice). A titre never changes, so its text is made once per process (keyed by its hash)."""
    known = _BASES.get(titre.hash)
    if known is None:
        if len(_BASES) > 200_000:
            _BASES.clear()
        known = _BASES[titre.hash] = _bases_text(titre)
    return known


def _bases_text(titre) -> str:
    parts = []
    for line in titre.lines:
        if line.get("formule") == "info":
            if line.get("code") == "motif" and line.get("detail"):
                parts.append(f"Motif : {line['detail']}")
            continue
        parts.append(_line_text(line))
        if line.get("formule") == "valeur" and line.get("code") in ("complement", "reduction", "annulation") \
                and line.get("detail"):
            parts[-1] += f" ({line['detail']})"
    return " ; ".join(parts)


def rows_of(titres: Sequence, sirets: dict[str, str | None], debtors: dict[str, str], *,
            code_debiteur: bool = False) -> list[list]:
    """``code_debiteur`` (a year with debiteurs.csv, DESIGN §4c): a last column with the titre's debtor code,
    and the code_insee column left empty for a debtor that is not a commune."""
    rows = []
    for t in sorted(titres, key=lambda t: t.seq):
        commune_code = t.code_insee if not code_debiteur or re.fullmatch(r"\d{5}|2[AB]\d{3}", t.code_insee) else ""
        rows.append([t.numero, t.exercice, nature_label(t.nature), t.origine_numero or "",
                     t.date_emission.isoformat(), t.date_echeance.isoformat() if t.date_echeance else "", commune_code,
                     debtors.get(t.code_insee) or f"Commune de {t.commune}", sirets.get(t.code_insee) or "",
                     t.imputation or "", t.objet or "", _bases(t), cents_to_str(t.signed_cents), t.deliberation or "",
                     *((t.code_insee,) if code_debiteur else ())])
    return rows


def by_competence(titres: Sequence, rows: list[list]) -> list[list]:
    """A year « à la carte » (DESIGN §4c): one row per titre and competence, its imputation and its part
    (signed like the titre), the competence in a last column; the rows of a titre sum to its amount. A titre
    whose stored lines carry no competence (a correction, a titre issued before they did) stays one row with
    an empty competence."""
    imputation, amount = COLUMNS.index("imputation"), COLUMNS.index("montant")
    out = []
    for t, row in zip(sorted(titres, key=lambda t: t.seq), rows):
        parts = titre_parts(t.lines, t.montant_cents) if t.montant_cents else None
        if parts is None:
            out.append([*row, ""])
            continue
        sign = -1 if t.signed_cents < 0 else 1
        for name, account, cents in parts:
            part = list(row)
            part[imputation], part[amount] = account, cents_to_str(sign * cents)
            out.append([*part, name])
    return out


def _cells(row: list, *, excel: bool) -> list:
    """Numbers stay numbers (a negative amount is « -33.34 », not the text « '-33.34 »); only text cells get
    the formula guard. ``excel``: decimal comma and dd/mm/yyyy."""
    out = []
    for index, value in enumerate(row):
        if index in _NUMBERS:
            out.append(str(value).replace(".", ",") if excel else value)
        elif index in _DATES and excel and value:
            year, month, day = value.split("-")
            out.append(f"{day}/{month}/{year}")
        else:
            out.append(csv_text(value))
    return out


def _rows(titres, sirets, debtors, *, code_debiteur: bool, competences: bool) -> list[list]:
    rows = rows_of(titres, sirets, debtors, code_debiteur=code_debiteur)
    return by_competence(titres, rows) if competences else rows


def write_titres_csv(path: Path, *, titres, sirets, debtors, code_debiteur: bool = False,
                     competences: bool = False) -> Path:
    """UTF-8, ',' and signed amounts (a réduction is negative), in number order: byte-stable. ``competences``
    (a year « à la carte »): one row per titre and competence (``by_competence``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS + (("code_debiteur",) if code_debiteur else ()) + (("competence",) if competences else ()))
    for row in _rows(titres, sirets, debtors, code_debiteur=code_debiteur, competences=competences):
        writer.writerow(_cells(row, excel=False))
    return write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))


def write_titres_excel_csv(path: Path, *, titres, sirets, debtors, code_debiteur: bool = False,
                           competences: bool = False) -> Path:
    """The same titres for a French Excel: ';', UTF-8 with BOM, « -33,34 », « 15/04/2024 », French headers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(EXCEL_HEADERS + (("Code débiteur",) if code_debiteur else ())
                    + (("Compétence",) if competences else ()))
    for row in _rows(titres, sirets, debtors, code_debiteur=code_debiteur, competences=competences):
        writer.writerow(_cells(row, excel=True))
    return write_bytes_atomic(path, ("\ufeff" + buffer.getvalue()).encode("utf-8"))


WIDTHS = (15, 9, 14, 15, 12, 12, 9, 24, 16, 11, 36, 56, 15, 20)  # objet and bases in three lines, not four


def _bordereau_table(annee: int, titres, sirets, debtors, issuer: str, generated_at: datetime,
                     competences: bool = False) -> Table:
    ordered = sorted(titres, key=lambda t: t.seq)
    lines = list(_bordereau_lines(ordered, sirets, debtors, competences))
    first = 5
    last = first + len(lines) - 1
    text, wrapped, day = Column("text"), Column("text", wrap=True), Column("date", DATE)
    # exercice, code INSEE and délibération centred: beside a right-aligned number or date they read on from
    # it (« 2024 titre », « 15/05/2024 59005 », « 394,29 € 2023-05 du … »)
    data = (text, Column("int", align="center"), wrapped, text, day, day, Column("text", align="center"), wrapped,
            text, wrapped, wrapped, wrapped, Column("euros", EUROS), Column("text", wrap=True, align="center"))
    total = (None,) * 11 + (Column("text", bold=True), Column("formula", EUROS, bold=True))
    heading, plain = (Column("text", bold=True),), (Column("text"),)

    def rows():
        net = 0
        for values in lines:
            net += values[12]
            yield 0, values
        yield None, None
        yield 1, (None,) * 11 + ("Net émis sur l'exercice", Formula(f"SUM(M{first}:M{max(last, first)})", net))
        if ordered:
            anchor = f"{ordered[-1].numero}:{ordered[-1].hash}"
            yield None, None
            yield 2, ("Empreinte du registre des titres au dernier titre",)
            yield 3, (anchor,)
            yield 3, (f"À conserver hors du registre : « ent-bill verify --empreinte {anchor} » prouve qu'aucun "
                      "titre jusqu'à celui-ci n'a été modifié ni remplacé.",)

    title = f"Bordereau des titres de recettes — exercice {annee} — {issuer}"
    return Table(
        "Bordereau", EXCEL_HEADERS, WIDTHS, (data, total, heading, plain), rows,
        freeze="B5", filter_ref=f"A4:N{last}" if ordered else None,
        preamble=(((title, TITLE),), ((f"Édité le {generated_at.strftime('%d/%m/%Y %H:%M')}", None),), ()),
        header_wrap=True, print_title=f"Bordereau des titres de recettes — exercice {annee}")


def _bordereau_lines(ordered, sirets, debtors, competences: bool):
    """The rows of the schedule: one per titre, or, in a year « à la carte » (DESIGN §4c), one per titre and
    competence with that competence's imputation, its part (signed like the titre) and its name after the
    object; the rows of a titre add up to its amount."""
    for t, row in zip(ordered, rows_of(ordered, sirets, debtors)):
        # a réduction or an annulation asks for no payment: no due date here (the CSV keeps the ledger's)
        due = None if t.nature in CREDITS else t.date_echeance
        values = (row[0], row[1], row[2], row[3] or None, t.date_emission, due,
                  *(value or None for value in row[6:12]), t.signed_cents, row[13] or None)
        parts = titre_parts(t.lines, t.montant_cents) if competences and t.montant_cents else None
        if parts is None:
            yield values
            continue
        sign = -1 if t.signed_cents < 0 else 1
        for name, account, cents in parts:
            yield (*values[:9], account, f"{values[10] or ''} — compétence « {name} »", *values[11:12],
                   sign * cents, values[13])


def write_bordereau(path: Path, *, annee: int, titres, sirets, debtors, issuer: str, generated_at: datetime,
                    streamed: bool = True, competences: bool = False) -> Path:
    """The schedule of titres, one row each in number order, the net total and the ledger's last empreinte.

    ``streamed=False`` writes every cell through openpyxl (the reference the tests compare with).
    """
    workbook = Workbook(write_only=True)
    sheet = add_table(workbook, _bordereau_table(annee, titres, sirets, debtors, issuer, generated_at, competences),
                      streamed=streamed)
    return save_with_tables(workbook, [sheet], path)
