"""The « avis des sommes à payer »: one Excel notice per titre, one A4 page (DESIGN §5, §6, §8).

The notice carries what French law asks of a titre de recettes (CGCT L. 1617-5; CE
17 mars 2016, Commune de Ris-Orangis): the ordonnateur's name, first name and capacity,
the number and date of the titre, the debtor, the object, the legal basis, the bases de
liquidation with live formulas that recompute to the same cents, the total in words,
payment instructions, the executory mention and the « voies et délais de recours ».

Two writers produce the same cells: ``write_notice_openpyxl`` (plain, the reference) and
the fast path of ``write_notices``, which builds one openpyxl workbook per number of lines
as a template with placeholder cells, then per notice only patches the sheet XML (inline
strings, numbers, formulas) and re-zips the other parts byte for byte — some 35 000
notices must be written at ≥ 1 000 per second (§8).
"""

from __future__ import annotations

import functools
import io
import os
import re
import secrets
import struct
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable, Sequence
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.properties import PageSetupProperties

from billing.core.model import Syndicat
from billing.core.money import amount_in_words, cents_to_decimal, div_half_up, line_cents, rate_units_to_decimal
from billing.core.text import slug
from billing.core.natures import CREDITS, NATURES
from billing.render.files import fsync_dir, safe_child, write_bytes_atomic

FORMULES = ("produit", "prorata", "ajustement", "valeur")
PROJET_MARK = "PROJET — sans valeur de titre exécutoire"
EXECUTORY_MENTION = ("Titre de recettes émis et rendu exécutoire en application de l'article L. 252 A du livre "
                     "des procédures fiscales et de l'article L. 1617-5 du CGCT")

EUROS = '#,##0.00 "€"'
RATE = '#,##0.00## "€"'
QUANTITY = "#,##0"
DATE = "DD/MM/YYYY"

PARALLEL_ABOVE = 200  # below this, starting processes costs more than it saves
CHUNK = 500
FSYNC_THREADS = 8  # fsync costs ~0.6 ms of waiting here; overlapped, ~0.15 ms per file

# ----- values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeLine:
    """One line of the bases de liquidation, as pricing (or the ledger) computed it.

    ``formule`` says how the spreadsheet recomputes ``montant_cents``: « produit »
    (quantité × taux), « prorata » (subtotal × facteur_num / facteur_den − subtotal),
    « ajustement » (plancher/plafond target − subtotal), « valeur » (the amount itself).
    """

    libelle: str
    detail: str | None
    quantite: int | None
    taux_units: int | None
    montant_cents: int
    formule: str
    facteur_num: int | None = None
    facteur_den: int | None = None


@dataclass(frozen=True)
class Notice:
    """Everything one avis shows. ``numero`` None is a draft (PROJET, no executory value).

    For a réduction or an annulation, ``total_cents`` is the positive amount reduced and
    ``origine_numero``/``origine_date`` name the titre it reduces.
    """

    numero: str | None
    nature: str
    origine_numero: str | None
    origine_date: date | None
    annee: int
    date_emission: date
    date_echeance: date | None
    objet: str
    fondement: str
    rentree: int | None
    imputation: str | None
    debiteur_nom: str
    debiteur_code_insee: str
    debiteur_adresse: str | None
    debiteur_siret: str | None
    lines: tuple[NoticeLine, ...]
    total_cents: int
    syndicat: Syndicat

    def __post_init__(self) -> None:
        """Refuse a notice whose formulas would not recompute to its own cents: it must add up."""
        where = f"avis {self.numero or 'PROJET'} ({self.debiteur_code_insee})"
        if self.nature not in NATURES:
            raise ValueError(f"{where} : nature « {self.nature} » inconnue (attendu : {', '.join(NATURES)})")
        if self.nature != "titre" and not self.origine_numero:
            raise ValueError(f"{where} : un avis « {self.nature} » doit citer le titre d'origine (origine_numero)")
        subtotal = 0
        for index, line in enumerate(self.lines, start=1):
            expected = _expected_cents(line, subtotal, where=f"{where}, ligne {index}")
            if expected != line.montant_cents:
                raise ValueError(f"{where}, ligne {index} « {line.libelle} » : montant {line.montant_cents} centimes, "
                                 f"la formule « {line.formule} » donne {expected} centimes")
            subtotal += line.montant_cents
        if self.lines and subtotal != self.total_cents:
            raise ValueError(f"{where} : le total {self.total_cents} centimes n'est pas la somme des lignes "
                             f"({subtotal} centimes)")
        if not self.lines and self.total_cents != 0:
            raise ValueError(f"{where} : un avis de {self.total_cents} centimes sans ligne de liquidation")


def _expected_cents(line: NoticeLine, subtotal: int, *, where: str) -> int:
    if line.formule not in FORMULES:
        raise ValueError(f"{where} : formule « {line.formule} » inconnue (attendu : {', '.join(FORMULES)})")
    if line.formule == "produit":
        if line.quantite is None or line.taux_units is None:
            raise ValueError(f"{where} : une ligne « produit » demande une quantité et un taux")
        return line_cents(line.quantite, line.taux_units)
    if line.formule == "prorata":
        if not line.facteur_den or line.facteur_num is None:
            raise ValueError(f"{where} : une ligne « prorata » demande facteur_num et facteur_den (> 0)")
        return div_half_up(subtotal * line.facteur_num, line.facteur_den) - subtotal
    return line.montant_cents  # ajustement (target − subtotal, target taken from the line) and valeur


# ----- what each cell of the page holds -------------------------------------------------


@dataclass(frozen=True)
class _Formula:
    """A formula without its « = », with the cents it evaluates to (cached for previewers)."""

    text: str
    cents: int


_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value) -> str | None:
    """Input text as it will be shown: control characters XML cannot hold are dropped."""
    if value is None:
        return None
    text = _ILLEGAL_XML.sub("", str(value))
    return text or None


def _fr_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value is not None else "?"


def _signataire(syndicat: Syndicat) -> str:
    """« Le Président, Christophe COULON »: capacity, first name and name of the ordonnateur (Ris-Orangis)."""
    qualite = (syndicat.qualite or "Président").strip()
    lowered = qualite.lower()
    if lowered.startswith(("le ", "la ", "l'", "l’")):
        article = ""
    elif lowered.endswith("ente") or lowered.endswith("rice"):
        article = "La "
    else:
        article = "Le "
    return f"{article}{qualite}, {syndicat.president}"


def _iban_display(iban: str) -> str:
    compact = re.sub(r"\s+", "", iban or "")
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def _imputation_text(imputation: str | None) -> str:
    account = (imputation or "").strip()
    if not account:
        return "Imputation budgétaire : non précisée"
    if account.lower().startswith("compte "):
        account = "compte " + account[7:]
    else:
        account = f"compte {account}"
    return f"Imputation budgétaire : {account}"


def _slot_values(notice: Notice) -> dict[str, object]:
    """Slot name -> value (str, int, Decimal, date, _Formula or None) for this notice's page."""
    syndicat = notice.syndicat
    credit = notice.nature in CREDITS
    draft = notice.numero is None
    origine = f"n° {notice.origine_numero} du {_fr_date(notice.origine_date)}"
    values: dict[str, object] = {
        "emetteur_nom": syndicat.nom,
        "emetteur_adresse": syndicat.adresse,
        "emetteur_siret": f"SIRET : {syndicat.siret}",
        "ordonnateur": f"Ordonnateur : {_signataire(syndicat)}",
        "exercice": str(notice.annee),
        "numero": notice.numero if not draft else "PROJET",
        "date_emission": notice.date_emission,
        "intitule": {"titre": "AVIS DES SOMMES À PAYER",
                     "complementaire": "AVIS DES SOMMES À PAYER — TITRE COMPLÉMENTAIRE",
                     "reduction": "AVIS DE RÉDUCTION DE TITRE",
                     "annulation": "AVIS D'ANNULATION DE TITRE"}[notice.nature],
        "projet": PROJET_MARK if draft else None,
        "origine": {"titre": None,
                    "complementaire": f"Titre complémentaire au titre {origine}",
                    "reduction": f"Réduction du titre {origine}",
                    "annulation": f"Annulation du titre {origine}"}[notice.nature],
        "debiteur_nom": notice.debiteur_nom,
        "debiteur_adresse": notice.debiteur_adresse or "adresse non communiquée",
        "debiteur_siret": notice.debiteur_siret or "non communiqué",
        "debiteur_code_insee": notice.debiteur_code_insee,
        "objet": notice.objet,
        "fondement": notice.fondement,
        "rentree": (f"Effectifs de la rentrée {notice.rentree} (année scolaire {notice.rentree}-{notice.rentree + 1})"
                    if notice.rentree is not None else "sans objet"),
        "total_libelle": {"titre": "Montant total à payer", "complementaire": "Montant complémentaire à payer",
                          "reduction": "Montant de la réduction", "annulation": "Montant annulé"}[notice.nature],
        "arrete": f"Arrêté la présente somme à {amount_in_words(notice.total_cents)}.",
        "imputation": _imputation_text(notice.imputation),
        "comptable": syndicat.comptable_nom or "le comptable public assignataire du syndicat",
        "iban": _iban_display(syndicat.iban) or "—",
        "bic": syndicat.bic or "—",
        "signature": _signataire(syndicat),
        "recours": _recours(syndicat.tribunal),
    }
    if credit:
        values["echeance_libelle"] = "Aucun paiement à effectuer"
        values["echeance"] = f"ce montant vient en déduction du titre {origine}"
        values["reference"] = notice.numero if not draft else "numéro attribué lors de l'émission"
        values["paiement_note"] = (f"Si le titre {origine} a déjà été réglé, le comptable public rembourse "
                                   f"la somme trop perçue ; sinon, elle est déduite du montant restant à payer.")
        values["executoire"] = (f"Le présent avis réduit le titre {origine}, émis et rendu exécutoire en application "
                                f"de l'article L. 252 A du livre des procédures fiscales et de l'article L. 1617-5 "
                                f"du CGCT.")
    else:
        values["echeance_libelle"] = "Date limite de paiement"
        values["echeance"] = notice.date_echeance
        values["reference"] = notice.numero if not draft else "numéro du titre, attribué lors de l'émission"
        values["paiement_note"] = ("Paiement par virement au comptable public, en rappelant la référence ci-dessus "
                                   "(les communes règlent par mandat administratif).")
        values["executoire"] = f"{EXECUTORY_MENTION}."
    if draft:
        values["executoire"] = (f"Projet soumis à vérification, sans valeur de titre exécutoire. Mention portée sur "
                                f"le titre une fois émis : {EXECUTORY_MENTION}.")
    first = FIRST_LINE_ROW
    subtotal = 0
    for index, line in enumerate(notice.lines):
        row = first + index
        values[f"l{index}_libelle"] = line.libelle
        values[f"l{index}_detail"] = line.detail
        values[f"l{index}_quantite"] = line.quantite
        values[f"l{index}_taux"] = rate_units_to_decimal(line.taux_units) if line.taux_units is not None else None
        values[f"l{index}_montant"] = _amount_cell(line, row=row, first=first, subtotal=subtotal)
        subtotal += line.montant_cents
    if notice.lines:
        last = first + len(notice.lines) - 1
        values["total"] = _Formula(f"SUM(E{first}:E{last})", notice.total_cents)
    else:
        values["total"] = Decimal("0.00")
    return {key: (_text(value) if isinstance(value, str) else value) for key, value in values.items()}


def _amount_cell(line: NoticeLine, *, row: int, first: int, subtotal: int) -> object:
    """The montant cell: a formula that recomputes the line's cents in Excel and LibreOffice.

    Sums are brought back to integer cents (ROUND(…*100,0)) before any rounding so that a
    binary 0.004999… can never decide a half cent; Excel's ROUND is half away from zero,
    the product's rule.
    """
    above = f"SUM(E{first}:E{row - 1})" if row > first else "0"
    if line.formule == "produit":
        return _Formula(f"ROUND(C{row}*ROUND(D{row}*10000,0)/100,0)/100", line.montant_cents)
    if line.formule == "prorata":
        cents = f"ROUND({above}*100,0)"
        return _Formula(f"(ROUND({cents}*{line.facteur_num}/{line.facteur_den},0)-{cents})/100", line.montant_cents)
    if line.formule == "ajustement":
        target = subtotal + line.montant_cents
        return _Formula(f"({target}-ROUND({above}*100,0))/100", line.montant_cents)
    return cents_to_decimal(line.montant_cents)


def _recours(tribunal: str) -> str:
    return ("Dans le délai de deux mois suivant la réception du présent avis, vous pouvez contester la somme "
            f"mentionnée en saisissant directement le {tribunal or 'tribunal administratif compétent'} "
            "(article L. 1617-5, 2° du code général des collectivités territoriales), y compris par l'application "
            "Télérecours (www.telerecours.fr). Cette contestation suspend la force exécutoire du titre (article "
            "L. 1617-5, 1° du même code). La régularité d'un acte de poursuite se conteste dans les deux mois de sa "
            "notification devant le juge de l'exécution.")


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
        "issuer": dict(font=Font(bold=True, size=11, color=_NAVY)),
        "text": dict(font=Font(size=10), alignment=Alignment(vertical="top")),
        "small": dict(font=Font(size=9), alignment=Alignment(vertical="top")),
        "label": dict(font=Font(bold=True, size=10), alignment=Alignment(vertical="top")),
        "label_r": dict(font=Font(bold=True, size=10), alignment=Alignment(horizontal="right", vertical="top")),
        "value_r": dict(font=Font(bold=True, size=10), alignment=Alignment(horizontal="right", vertical="top")),
        "date_r": dict(font=Font(bold=True, size=10), alignment=Alignment(horizontal="right", vertical="top"),
                       number_format=DATE),
        "wrap": dict(font=Font(size=10), alignment=wrap_top),
        "wrap_bold": dict(font=Font(bold=True, size=10), alignment=wrap_top),
        "date_l": dict(font=Font(bold=True, size=10), alignment=Alignment(horizontal="left", vertical="top",
                                                                           wrap_text=True), number_format=DATE),
        "title": dict(font=Font(bold=True, size=16, color=_NAVY), alignment=Alignment(horizontal="center")),
        "projet": dict(font=Font(bold=True, size=13, color="C00000"), alignment=Alignment(horizontal="center")),
        "origine": dict(font=Font(bold=True, size=11), alignment=Alignment(horizontal="center")),
        "section": dict(font=Font(bold=True, size=10, color="FFFFFF"), fill=PatternFill("solid", fgColor=_NAVY)),
        "th": dict(font=Font(bold=True, size=10), fill=PatternFill("solid", fgColor="DDE5F0"), border=_BOX,
                   alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)),
        "td": dict(font=Font(size=10), border=_BOX, alignment=wrap_top),
        "td_qty": dict(font=Font(size=10), border=_BOX, alignment=Alignment(vertical="top"), number_format=QUANTITY),
        "td_rate": dict(font=Font(size=10), border=_BOX, alignment=Alignment(vertical="top"), number_format=RATE),
        "td_eur": dict(font=Font(size=10), border=_BOX, alignment=Alignment(vertical="top"), number_format=EUROS),
        "total_label": dict(font=Font(bold=True, size=11), border=_BOX, alignment=Alignment(horizontal="right"),
                            fill=PatternFill("solid", fgColor="DDE5F0")),
        "total": dict(font=Font(bold=True, size=11), border=Border(left=_THIN, right=_THIN, top=_THIN,
                                                                    bottom=Side(style="double")),
                      number_format=EUROS, fill=PatternFill("solid", fgColor="DDE5F0")),
        "arrete": dict(font=Font(italic=True, size=10), alignment=Alignment(wrap_text=True, vertical="top")),
        "signature": dict(font=Font(bold=True, size=10), alignment=Alignment(horizontal="center")),
        "signature_l": dict(font=Font(size=10), alignment=Alignment(horizontal="center")),
        "legal": dict(font=Font(size=8.5), alignment=Alignment(wrap_text=True, vertical="top")),
        "legal_title": dict(font=Font(bold=True, size=9)),
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


@functools.cache
def _page(n_lines: int) -> _Page:
    """Where everything goes on a notice of ``n_lines`` lines: rows below the table shift with it."""
    cells: list[_Cell] = []
    merges: list[str] = []
    heights: dict[int, float] = {}

    def static(ref: str, text: str, style: str, merge_to: str | None = None) -> None:
        cells.append(_Cell(ref, text, style))
        if merge_to:
            merges.append(f"{ref}:{merge_to}")

    def slot(ref: str, name: str, style: str, merge_to: str | None = None) -> None:
        cells.append(_Cell(ref, name, style, slot=True))
        if merge_to:
            merges.append(f"{ref}:{merge_to}")

    def section(row: int, text: str) -> None:
        static(f"A{row}", text, "section", f"E{row}")
        heights[row] = 16

    slot("A1", "emetteur_nom", "issuer", "B1")
    static("D1", "Exercice", "label_r")
    slot("E1", "exercice", "value_r")
    slot("A2", "emetteur_adresse", "text", "B2")
    static("D2", "Titre n°", "label_r")
    slot("E2", "numero", "value_r")
    slot("A3", "emetteur_siret", "text", "B3")
    static("D3", "Date d'émission", "label_r")
    slot("E3", "date_emission", "date_r")
    slot("A4", "ordonnateur", "text", "B4")
    slot("A6", "intitule", "title", "E6")
    heights[6] = 24
    slot("A7", "projet", "projet", "E7")
    heights[7] = 19
    slot("A8", "origine", "origine", "E8")

    section(10, "DÉBITEUR")
    static("A11", "Nom", "label")
    slot("B11", "debiteur_nom", "wrap_bold", "E11")
    static("A12", "Adresse", "label")
    slot("B12", "debiteur_adresse", "wrap", "E12")
    heights[12] = 27
    static("A13", "SIRET", "label")
    slot("B13", "debiteur_siret", "text")
    static("C13", "Code INSEE", "label_r", "D13")
    slot("E13", "debiteur_code_insee", "value_r")

    section(15, "OBJET DE LA CRÉANCE")
    static("A16", "Objet", "label")
    slot("B16", "objet", "wrap", "E16")
    heights[16] = 27
    static("A17", "Fondement", "label")
    slot("B17", "fondement", "wrap", "E17")
    heights[17] = 27
    static("A18", "Effectifs retenus", "label")
    slot("B18", "rentree", "wrap", "E18")

    section(20, "BASES DE LIQUIDATION")
    for column, text in zip("ABCDE", ("Libellé", "Détail du calcul", "Quantité", "Taux", "Montant")):
        static(f"{column}21", text, "th")
    heights[21] = 18
    for index in range(n_lines):
        row = FIRST_LINE_ROW + index
        slot(f"A{row}", f"l{index}_libelle", "td")
        slot(f"B{row}", f"l{index}_detail", "td")
        slot(f"C{row}", f"l{index}_quantite", "td_qty")
        slot(f"D{row}", f"l{index}_taux", "td_rate")
        slot(f"E{row}", f"l{index}_montant", "td_eur")
        heights[row] = 27
    t = FIRST_LINE_ROW + n_lines
    slot(f"A{t}", "total_libelle", "total_label", f"D{t}")
    for column in "BCD":  # the merged cells keep their border
        cells.append(_Cell(f"{column}{t}", "", "total_label"))
    slot(f"E{t}", "total", "total")
    heights[t] = 20
    slot(f"A{t + 1}", "arrete", "arrete", f"E{t + 1}")
    heights[t + 1] = 27
    slot(f"A{t + 2}", "imputation", "text", f"E{t + 2}")

    section(t + 4, "MODALITÉS DE PAIEMENT")
    slot(f"A{t + 5}", "echeance_libelle", "label")
    slot(f"B{t + 5}", "echeance", "date_l", f"E{t + 5}")
    static(f"A{t + 6}", "Comptable public", "label")
    slot(f"B{t + 6}", "comptable", "wrap", f"E{t + 6}")
    static(f"A{t + 7}", "IBAN", "label")
    slot(f"B{t + 7}", "iban", "text")
    static(f"C{t + 7}", "BIC", "label_r")
    slot(f"D{t + 7}", "bic", "text", f"E{t + 7}")
    static(f"A{t + 8}", "Référence à rappeler", "label")
    slot(f"B{t + 8}", "reference", "wrap_bold", f"E{t + 8}")
    slot(f"A{t + 9}", "paiement_note", "small", f"E{t + 9}")

    static(f"D{t + 11}", "L'ordonnateur,", "signature_l", f"E{t + 11}")
    slot(f"D{t + 12}", "signature", "signature", f"E{t + 12}")
    heights[t + 13] = 30  # room to sign

    section(t + 15, "MENTIONS LÉGALES")
    slot(f"A{t + 16}", "executoire", "legal", f"E{t + 16}")
    heights[t + 16] = 26
    static(f"A{t + 17}", "Voies et délais de recours", "legal_title", f"E{t + 17}")
    slot(f"A{t + 18}", "recours", "legal", f"E{t + 18}")
    heights[t + 18] = 50
    return _Page(tuple(cells), tuple(merges), tuple(sorted(heights.items())), t + 18)


def _build_workbook(n_lines: int, values: dict[str, object] | None) -> Workbook:
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
    sheet.oddFooter.center.text = "Avis des sommes à payer — page &P / &N"
    sheet.oddFooter.center.size = 8
    return workbook


def _put(cell, value) -> None:
    """Write one slot value the way the fast writer does: text always as text."""
    if value is None:
        return
    if isinstance(value, _Formula):
        cell.value = "=" + value.text
    elif isinstance(value, str):
        cell.value = value
        cell.data_type = "s"  # « =HYPERLINK(…) » in a name stays a name
    elif isinstance(value, date):
        cell.value = value
    else:
        cell.value = value


# ----- the plain writer (reference) -----------------------------------------------------


def write_notice_openpyxl(notice: Notice, path: Path) -> Path:
    """The notice through plain openpyxl: slow (~5 ms), the reference the fast writer is tested against."""
    workbook = _build_workbook(len(notice.lines), _slot_values(notice))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return write_bytes_atomic(Path(path), buffer.getvalue())


# ----- the fast writer: a template per line count, patched sheet XML ---------------------

_MARK = "\u27e6"  # ⟦name⟧ marks a slot cell in the template (and only there)
_SHEET = "xl/worksheets/sheet1.xml"
_SST = "xl/sharedStrings.xml"  # openpyxl 3.1.5 writes inline strings: the template must have none


def _placeholder(name: str) -> str:
    return f"{_MARK}{name}\u27e7"


@dataclass(frozen=True)
class _Template:
    """A zip as (name, raw entry) pieces plus the sheet XML cut at its slots."""

    before: tuple[tuple[str, bytes, int, int, int, int], ...]  # static entries: name, data, method, crc, size, csize
    after: tuple[tuple[str, bytes, int, int, int, int], ...]
    sheet_pieces: tuple[str, ...]  # len = len(slots) + 1
    slots: tuple[tuple[str, str, str], ...]  # (slot name, cell ref, style attribute « s="n" » or "")


_SLOT_CELL = re.compile('<c r="([A-Z]+[0-9]+)"((?: s="[0-9]+")?) t="inlineStr"><is><t>'
                        f'{_MARK}([a-z0-9_]+)\u27e7</t></is></c>')


@functools.cache
def _template(n_lines: int) -> _Template:
    """Build once per process and per line count: openpyxl writes the page, we cut it at the slots."""
    buffer = io.BytesIO()
    _build_workbook(n_lines, None).save(buffer)
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
    entries = [(name, *_deflate(parts[name])) for name in order if name != _SHEET]
    sheet_at = order.index(_SHEET)
    return _Template(tuple(entries[:sheet_at]), tuple(entries[sheet_at:]), tuple(pieces), tuple(slots))


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
    if isinstance(value, _Formula):
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


def notice_bytes(notice: Notice) -> bytes:
    """The .xlsx file of one notice, from its line count's template (≈ 0.5 ms)."""
    template = _template(len(notice.lines))
    values = _slot_values(notice)
    pieces = template.sheet_pieces
    out = [pieces[0]]
    for (name, ref, style), piece in zip(template.slots, pieces[1:]):
        out.append(_cell_xml(ref, style, values.get(name)))
        out.append(piece)
    sheet = (_SHEET, *_deflate("".join(out).encode("utf-8")))
    return _zip((*template.before, sheet, *template.after))


def _zip(entries: Iterable[tuple[str, bytes, int, int, int, int]]) -> bytes:
    """A plain zip (no data descriptors, no zip64): the parts are small and their number fixed."""
    body: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    count = 0
    for name, data, method, crc, size, packed in entries:
        encoded = name.encode("ascii")
        header = _LOCAL.pack(0x04034B50, 20, 0, method, *_DOS_TIME, crc, packed, size, len(encoded), 0) + encoded
        central.append(_CENTRAL.pack(0x02014B50, 20, 20, 0, method, *_DOS_TIME, crc, packed, size, len(encoded),
                                     0, 0, 0, 0, 0, offset) + encoded)
        body.append(header)
        body.append(data)
        offset += len(header) + len(data)
        count += 1
    directory = b"".join(central)
    return b"".join(body) + directory + _END.pack(0x06054B50, 0, 0, count, count, len(directory), offset, 0)


# ----- file names and batch writing -----------------------------------------------------

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9-]+")
_COMMUNE_PREFIX = re.compile(r"^\s*commune\s+(de\s+la\s+|de\s+l['’]\s*|de\s+|d['’]\s*|du\s+|des\s+)?", re.I)


def notice_filename(notice: Notice) -> str:
    """« ENT-2024-0001_59367_lys-lez-lannoy.xlsx », « PROJET_59367_lys-lez-lannoy.xlsx » for a draft.

    Every piece is reduced to [A-Za-z0-9-], so no input can make the name leave its folder.
    """
    numero = _UNSAFE_NAME_CHARS.sub("-", notice.numero).strip("-") if notice.numero else "PROJET"
    code = _UNSAFE_NAME_CHARS.sub("-", notice.debiteur_code_insee or "").strip("-") or "sans-code"
    commune = _COMMUNE_PREFIX.sub("", notice.debiteur_nom or "")
    return f"{numero or 'sans-numero'}_{code}_{slug(commune)}.xlsx"


def _notice_path(out_dir: Path, notice: Notice) -> Path:
    return safe_child(out_dir, notice_filename(notice))


def _write_atomic(path: Path, data: bytes) -> None:
    """Temporary name beside ``path``, fsync, rename: like ``files.write_bytes_atomic`` but thread-safe.

    ``os.open(…, 0o666)`` lets the kernel apply the umask, so no process-wide umask is
    touched while several threads write.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _write_chunk(notices: Sequence[Notice], paths: Sequence[Path]) -> int:
    """Build in this thread, write and fsync in a few others: fsync waits on the disk, not on the CPU."""
    with ThreadPoolExecutor(max_workers=FSYNC_THREADS) as pool:
        pending = [pool.submit(_write_atomic, path, notice_bytes(notice)) for notice, path in zip(notices, paths)]
        for future in pending:
            future.result()
    return len(notices)


def write_notices(notices: Sequence[Notice], out_dir: Path, *, workers: int | None = None,
                  progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write every notice into ``out_dir`` (temporary name, fsync, rename); paths in the notices' order.

    Above a few hundred notices the work is spread over processes in chunks; ``progress``
    receives the number of notices written so far.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notices = list(notices)
    paths = [_notice_path(out_dir, notice) for notice in notices]
    seen: dict[Path, Notice] = {}
    for notice, path in zip(notices, paths):
        if path in seen:
            raise ValueError(f"deux avis auraient le même fichier « {path.name} » "
                             f"({seen[path].debiteur_nom} et {notice.debiteur_nom})")
        seen[path] = notice
    report = progress or (lambda done: None)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    done = 0
    for count in sorted({len(notice.lines) for notice in notices}):
        _template(count)  # built once here; forked workers inherit it
    if workers <= 1 or len(notices) <= PARALLEL_ABOVE:
        for start in range(0, len(notices), 100):
            done += _write_chunk(notices[start:start + 100], paths[start:start + 100])
            report(done)
    else:
        chunk = max(50, min(CHUNK, -(-len(notices) // (workers * 4))))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_write_chunk, notices[start:start + chunk], paths[start:start + chunk])
                       for start in range(0, len(notices), chunk)]
            for future in as_completed(futures):
                done += future.result()
                report(done)
    fsync_dir(out_dir)
    return paths
