"""The « avis des sommes à payer »: one Excel notice per titre, one A4 page (DESIGN §5, §6, §8).

A notice carries what French law asks of a titre de recettes (CGCT art. L. 1617-5;
CE 17 mars 2016, Commune de Ris-Orangis, n° 389613): who issued it (name, first name and
capacity of the ordonnateur), its number in the year's series and date, the debtor, the
object, the legal basis, the bases de liquidation in full, the amount in figures and in
words, payment instructions, the executory mention and the « voies et délais de recours ».

Every amount of the liquidation table is a live formula that recomputes, in Excel or
LibreOffice, exactly the integer cents pricing computed: sums are brought back to whole
cents (``ROUND(x*100,0)``) before any half-up rounding, so a binary 0.00499… never
decides a half cent.

Two writers give the same cells. ``write_notice_openpyxl`` is plain openpyxl (~5 ms a
notice): the reference. ``write_notices`` builds, once per layout (number of lines, draft
or not), an openpyxl workbook whose variable cells hold placeholders, cuts its sheet XML
at them, then per notice only writes those cells (inline strings, numbers, formulas) and
re-zips the other parts byte for byte — the whole of France, ~35,000 notices, must be
written at ≥ 1,000 a second on 2 cores (§8).

Corrections (DESIGN §5): a titre complémentaire is shown like a titre, citing the titre it
completes. A réduction or an annulation shows the amount it takes off as a *positive*
« Montant de la réduction » / « Montant annulé » under a heading that says so, citing the
original titre's number and date, as the paper « ordre de réduction » does: its lines are
the caller's difference lines, expressed as amounts reduced (≥ 0 in total). Nothing is
to be paid on a credit notice; its payment block says so.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import os
import re
import secrets
import struct
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable, Mapping, Sequence
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.properties import PageSetupProperties

from billing.model import Syndicat, Tariff
from billing.money import (
    amount_in_words, cents_to_decimal, div_half_up, format_euros, line_cents, rate_units_to_decimal,
)
from billing.register import slug
from billing.render.files import DATE, EUROS, INTEGER, RATE, fsync_dir

NATURES = ("titre", "complementaire", "reduction", "annulation")
CREDIT_NATURES = frozenset({"reduction", "annulation"})
FORMULES = ("produit", "prorata", "ajustement", "valeur")

PROJET_MARK = "PROJET — sans valeur de titre"
EXECUTORY_MENTION = (
    "Titre exécutoire en application de l'article L. 252 A du livre des procédures fiscales, pris, émis et "
    "rendu exécutoire conformément aux articles L. 1617-5 et R. 2342-4 du code général des collectivités "
    "territoriales."
)
FACTOR_DEN = '"/ "#,##0'  # the prorata denominator, shown « / 366 » in the rate column

PARALLEL_FROM = 150  # fewer notices are written in-process: starting workers would cost more
CHUNK_MAX = 300
WRITER_THREADS = 4  # fsync waits on the disk; a few at once share its journal commits


# ----- values -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeLine:
    """One line of the bases de liquidation.

    ``formule`` is how the sheet recomputes ``montant_cents``: « produit » (quantité ×
    taux, half-up to the cent), « prorata » (round(subtotal × facteur_num / facteur_den)
    − subtotal, subtotal = the lines above), « ajustement » (plancher or plafond − the
    lines above), « valeur » (the amount itself). ``taux_units`` is in 1/10 000 €.
    """

    libelle: str
    detail: str | None
    quantite: int | None
    taux_units: int | None
    montant_cents: int
    formule: str
    facteur_num: int | None = None
    facteur_den: int | None = None


@dataclass(frozen=True, kw_only=True)
class Notice:
    """Everything one avis shows. ``numero`` None is a draft: marked PROJET, no number.

    ``total_cents`` is what the debtor pays (titre, complémentaire) or the positive
    amount taken off the original titre (réduction, annulation). A notice that does not
    add up, or whose formulas would not give its own cents, is refused at construction.
    """

    numero: str | None
    nature: str = "titre"
    origine_numero: str | None = None
    origine_date: date | None = None
    annee: int
    date_emission: date
    date_echeance: date | None
    objet: str
    fondement: str
    rentree: int | None = None
    imputation: str | None = None
    debiteur_nom: str
    debiteur_code_insee: str
    debiteur_adresse: str | None = None
    debiteur_siret: str | None = None
    lines: tuple[NoticeLine, ...]
    total_cents: int
    syndicat: Syndicat

    def __post_init__(self) -> None:
        where = f"avis {self.numero or 'PROJET'} de {self.debiteur_nom} ({self.debiteur_code_insee})"
        if self.numero is not None and not self.numero.strip():
            raise ValueError(f"{where} : numéro de titre vide (None pour un projet)")
        if self.nature not in NATURES:
            raise ValueError(f"{where} : nature « {self.nature} » inconnue (attendu : {', '.join(NATURES)})")
        if self.nature != "titre" and not self.origine_numero:
            raise ValueError(f"{where} : un avis « {self.nature} » doit citer le titre d'origine (origine_numero)")
        if not self.lines:
            raise ValueError(f"{where} : aucune ligne de liquidation (un titre doit dire comment la somme est "
                             "calculée)")
        if self.total_cents < 0:
            raise ValueError(f"{where} : total négatif ({self.total_cents} centimes) ; une réduction s'émet avec "
                             "la nature « reduction » et un montant positif")
        if self.nature in CREDIT_NATURES and self.total_cents == 0:
            raise ValueError(f"{where} : une {self.nature} de 0,00 € n'a pas d'objet")
        subtotal = 0
        for index, line in enumerate(self.lines, start=1):
            expected = _recomputed_cents(line, subtotal, where=f"{where}, ligne {index}")
            if expected != line.montant_cents:
                raise ValueError(f"{where}, ligne {index} « {line.libelle} » : {line.montant_cents} centimes, "
                                 f"mais la formule « {line.formule} » en donne {expected}")
            subtotal += line.montant_cents
        if subtotal != self.total_cents:
            raise ValueError(f"{where} : le total ({self.total_cents} centimes) n'est pas la somme des lignes "
                             f"({subtotal} centimes)")


def _recomputed_cents(line: NoticeLine, subtotal: int, *, where: str) -> int:
    """What the sheet's formula for ``line`` will compute, by the product's integer rule."""
    if line.formule not in FORMULES:
        raise ValueError(f"{where} : formule « {line.formule} » inconnue (attendu : {', '.join(FORMULES)})")
    if line.formule == "produit":
        if line.quantite is None or line.taux_units is None:
            raise ValueError(f"{where} : une ligne « produit » demande une quantité et un taux")
        return line_cents(line.quantite, line.taux_units)
    if line.formule == "prorata":
        if line.facteur_num is None or not line.facteur_den or line.facteur_den < 0 or line.facteur_num < 0:
            raise ValueError(f"{where} : une ligne « prorata » demande facteur_num ≥ 0 et facteur_den > 0")
        return div_half_up(subtotal * line.facteur_num, line.facteur_den) - subtotal
    return line.montant_cents  # ajustement: its target is subtotal + montant; valeur: the amount itself


def default_objet(annee: int) -> str:
    return f"Contribution {annee} — compétence usages numériques / NTIC en matière de numérique éducatif (ENT)"


def notice_from_contribution(contribution: Mapping, lines: Sequence[Mapping], *, syndicat: Syndicat,
                             tariff: Tariff, debiteur_nom: str, date_emission: date, numero: str | None = None,
                             nature: str = "titre", origine_numero: str | None = None,
                             origine_date: date | None = None, date_echeance: date | None = None,
                             objet: str | None = None, fondement: str | None = None,
                             imputation: str | None = None) -> Notice:
    """A notice from one pricing contribution row and its line rows (or a correction's difference lines).

    Due date: ``date_emission`` + the tariff's ``echeance_jours`` unless given (none on a
    credit). Imputation: the tariff's account, else the syndicat's. For a titre the total
    is the contribution's ``montant_cents``; for a correction, the sum of the given lines.
    """
    code = str(contribution["code_insee"])
    if nature == "titre" and contribution.get("situation", "facturee") != "facturee":
        raise ValueError(f"{debiteur_nom} ({code}) n'est pas facturée (situation « {contribution.get('situation')} ») "
                         ": pas de titre à émettre")
    notice_lines = []
    for line in sorted(lines, key=lambda row: row.get("ordre") or 0):
        prorata = line["formule"] == "prorata"
        notice_lines.append(NoticeLine(
            libelle=line["libelle"], detail=line.get("detail"), quantite=line.get("quantite"),
            taux_units=line.get("taux_units"), montant_cents=int(line["montant_cents"]), formule=line["formule"],
            facteur_num=(line.get("facteur_num") or contribution.get("facteur_num")) if prorata else None,
            facteur_den=(line.get("facteur_den") or contribution.get("facteur_den")) if prorata else None,
        ))
    if nature == "titre":
        total = int(contribution["montant_cents"])
    else:
        total = sum(line.montant_cents for line in notice_lines)
    if date_echeance is None and nature not in CREDIT_NATURES:
        date_echeance = date_emission + timedelta(days=tariff.echeance_jours)
    account = imputation or tariff.imputation or syndicat.imputation
    if account and not account.lower().startswith("compte"):
        account = f"Compte {account}"
    return Notice(
        numero=numero, nature=nature, origine_numero=origine_numero, origine_date=origine_date, annee=tariff.annee,
        date_emission=date_emission, date_echeance=date_echeance, objet=objet or default_objet(tariff.annee),
        fondement=fondement or f"Délibération du comité syndical n° {tariff.deliberation}", rentree=tariff.rentree,
        imputation=account, debiteur_nom=debiteur_nom, debiteur_code_insee=code,
        debiteur_adresse=contribution.get("mairie_adresse"), debiteur_siret=contribution.get("siret"),
        lines=tuple(notice_lines), total_cents=total, syndicat=syndicat,
    )


# ----- what the page says -------------------------------------------------------------------

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _clean(value: str | None) -> str | None:
    """Input text as the page shows it: what XML cannot carry is dropped, line ends are \\n."""
    if value is None:
        return None
    text = str(value)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ILLEGAL.sub("", text)
    return text if text.strip() else None


def _fr_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value is not None else "date inconnue"


def signataire(syndicat: Syndicat) -> str:
    """« Le Président, Christophe COULON »: capacity, first name and name (CE Ris-Orangis)."""
    qualite = (syndicat.qualite or "Président").strip()
    first = qualite.split()[0].lower()
    if first in ("le", "la", "l'") or first.startswith(("l'", "l’")):
        article = ""
    elif first.endswith(("ente", "rice", "esse", "ière")):
        article = "La "
    else:
        article = "Le "
    return f"{article}{qualite}, {syndicat.president.strip()}"


def _iban(iban: str) -> str | None:
    compact = re.sub(r"\s+", "", iban or "").upper()
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4)) or None


def _siret(siret: str | None) -> str | None:
    compact = re.sub(r"\s+", "", siret or "")
    if re.fullmatch(r"[0-9]{14}", compact):
        return f"{compact[:3]} {compact[3:6]} {compact[6:9]} {compact[9:]}"
    return siret or None


def recours_text(tribunal: str | None) -> str:
    court = (tribunal or "").strip() or "tribunal administratif territorialement compétent"
    if court[:1].isupper() and not court.lower().startswith(("le ", "la ")):
        court = f"le {court}"
    return (
        "Dans le délai de deux mois suivant la réception du présent avis, vous pouvez contester le bien-fondé de la "
        f"somme réclamée en saisissant directement {court} (article L. 1617-5, 2° du code général des collectivités "
        "territoriales), y compris par l'application Télérecours (www.telerecours.fr). Ce recours suspend la force "
        "exécutoire du titre (article L. 1617-5, 1°). Un recours gracieux adressé à l'ordonnateur dans ce délai "
        "l'interrompt. La régularité d'un acte de poursuite se conteste devant le juge de l'exécution dans les deux "
        "mois suivant sa notification."
    )


_HEADINGS = {
    "titre": ("AVIS DES SOMMES À PAYER", "Titre de recettes"),
    "complementaire": ("AVIS DES SOMMES À PAYER", "Titre complémentaire"),
    "reduction": ("AVIS DE RÉDUCTION DE TITRE", "Réduction de titre"),
    "annulation": ("AVIS D'ANNULATION DE TITRE", "Annulation de titre"),
}
_TOTAL_LABELS = {
    "titre": "Montant total à payer",
    "complementaire": "Montant complémentaire à payer",
    "reduction": "Montant de la réduction",
    "annulation": "Montant annulé",
}


@dataclass(frozen=True)
class _Formula:
    """A formula (without « = ») and the cents it evaluates to (the fast writer caches the value)."""

    text: str
    cents: int


def _slot_values(notice: Notice) -> dict[str, object]:
    """Slot name -> what its cell holds: str (always text), int, Decimal, date, _Formula or None."""
    syndicat = notice.syndicat
    draft = notice.numero is None
    credit = notice.nature in CREDIT_NATURES
    origine = f"n° {notice.origine_numero} du {_fr_date(notice.origine_date)}"
    title, subtitle = _HEADINGS[notice.nature]
    reference = notice.numero if not draft else "le numéro du titre, attribué à son émission"
    values: dict[str, object] = {
        "emetteur_nom": syndicat.nom,
        "emetteur_adresse": syndicat.adresse,
        "emetteur_siret": f"SIRET {_siret(syndicat.siret)}" if syndicat.siret else None,
        "ordonnateur": f"Ordonnateur : {signataire(syndicat)}",
        "intitule": title,
        "sous_titre": f"{subtitle} — exercice {notice.annee}",
        "numero": "PROJET" if draft else notice.numero,
        "date_emission": notice.date_emission,
        "echeance_label": "Titre d'origine" if credit else "Date limite de paiement",
        "echeance_haut": notice.origine_numero if credit else notice.date_echeance,
        "projet": f"{PROJET_MARK} — montants à vérifier avant émission" if draft else None,
        "origine": {
            "titre": None,
            "complementaire": f"Titre complémentaire au titre {origine}",
            "reduction": f"Réduction du titre {origine}",
            "annulation": f"Annulation du titre {origine}",
        }[notice.nature],
        "debiteur_nom": notice.debiteur_nom,
        "debiteur_adresse": notice.debiteur_adresse or "(adresse de la mairie à compléter)",
        "debiteur_code_insee": notice.debiteur_code_insee,
        "siret_label": "SIRET" if notice.debiteur_siret else None,
        "debiteur_siret": _siret(notice.debiteur_siret),
        "objet": notice.objet,
        "fondement": notice.fondement,
        "rentree": (f"Rentrée {notice.rentree} (année scolaire {notice.rentree}-{notice.rentree + 1}) : écoles "
                    "publiques et élèves déclarés" if notice.rentree is not None else "Sans objet"),
        "total_label": _TOTAL_LABELS[notice.nature],
        "arrete": (f"Arrêté la présente somme à {amount_in_words(notice.total_cents)}." if not credit else
                   f"Arrêté le montant de la {'réduction' if notice.nature == 'reduction' else 'annulation'} à "
                   f"{amount_in_words(notice.total_cents)}."),
        "imputation": (f"Imputation budgétaire : {notice.imputation} — exercice {notice.annee}"
                       if notice.imputation else f"Imputation budgétaire : exercice {notice.annee}"),
        "comptable": syndicat.comptable_nom or "Le comptable public assignataire du syndicat",
        "iban": _iban(syndicat.iban) or "—",
        "bic": (syndicat.bic or "").strip() or "—",
        "reference": reference,
        "signature_date": f"Émis le {_fr_date(notice.date_emission)}, pour le syndicat, l'ordonnateur :",
        "signature": signataire(syndicat),
        "recours": recours_text(syndicat.tribunal),
    }
    if credit:
        values["paiement_label"] = "Paiement"
        values["paiement"] = "Aucun paiement à effectuer"
        values["paiement_note"] = (
            f"Ce montant vient en déduction du titre {origine}. S'il a déjà été réglé, le comptable public vous "
            "rembourse la somme trop perçue ; sinon, seul le montant restant dû est à payer.")
        values["executoire"] = (
            f"Le présent avis réduit le titre de recettes {origine}, émis et rendu exécutoire en application de "
            "l'article L. 252 A du livre des procédures fiscales et de l'article L. 1617-5 du code général des "
            "collectivités territoriales.")
    else:
        values["paiement_label"] = "Date limite de paiement"
        values["paiement"] = notice.date_echeance
        values["paiement_note"] = (
            "Règlement au comptable public ci-dessus (mandat administratif ou virement), en rappelant la référence "
            "du titre. À défaut de paiement à la date limite, le comptable public peut engager le recouvrement "
            "contentieux.")
        values["executoire"] = EXECUTORY_MENTION
    if draft:
        values["executoire"] = (f"{PROJET_MARK} : ce document de travail n'est ni un titre de recettes ni "
                                f"exécutoire. Le titre émis portera la mention : « {values['executoire']} »")
    subtotal = 0
    for index, line in enumerate(notice.lines):
        row = FIRST_LINE_ROW + index
        values[f"l{index}_libelle"] = line.libelle
        values[f"l{index}_detail"] = line.detail
        if line.formule == "prorata":
            values[f"l{index}_quantite"] = line.facteur_num
            values[f"l{index}_taux"] = line.facteur_den
        elif line.formule == "ajustement":
            values[f"l{index}_quantite"] = None
            values[f"l{index}_taux"] = cents_to_decimal(subtotal + line.montant_cents)  # the target
        else:
            values[f"l{index}_quantite"] = line.quantite
            values[f"l{index}_taux"] = rate_units_to_decimal(line.taux_units) if line.taux_units is not None else None
        values[f"l{index}_montant"] = _amount(line, row=row, subtotal=subtotal)
        subtotal += line.montant_cents
    last = FIRST_LINE_ROW + len(notice.lines) - 1
    values["total"] = _Formula(f"ROUND(SUM(E{FIRST_LINE_ROW}:E{last}),2)", notice.total_cents)
    return {name: (_clean(value) if isinstance(value, str) else value) for name, value in values.items()}


def _amount(line: NoticeLine, *, row: int, subtotal: int) -> object:
    """The montant cell: a formula giving exactly ``line.montant_cents`` in Excel and LibreOffice."""
    above = f"ROUND(SUM(E{FIRST_LINE_ROW}:E{row - 1})*100,0)" if row > FIRST_LINE_ROW else "0"
    if line.formule == "produit":  # the rate back to whole 1/10 000 €, the product to whole cents
        return _Formula(f"ROUND(C{row}*ROUND(D{row}*10000,0)/100,0)/100", line.montant_cents)
    if line.formule == "prorata":  # whole cents × num / den, rounded half away from zero like div_half_up
        return _Formula(f"(ROUND({above}*C{row}/D{row},0)-{above})/100", line.montant_cents)
    if line.formule == "ajustement":  # the plancher/plafond shown in D minus what the lines above add up to
        return _Formula(f"(ROUND(D{row}*100,0)-{above})/100", line.montant_cents)
    return cents_to_decimal(line.montant_cents)


# ----- the page layout, shared by both writers ----------------------------------------------

FIRST_LINE_ROW = 23
MAX_ROW_HEIGHT = 380.0
WIDTHS = {"A": 26.0, "B": 33.0, "C": 9.0, "D": 11.0, "E": 15.0}  # ≈ 18 cm: A4 at 100 %
_COLUMNS = "ABCDE"
_NAVY = "1F3864"
_FONT = "Arial"
_THIN = Side(style="thin", color="7F7F7F")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_PALE = PatternFill("solid", fgColor="DCE3EE")


def _font(size: float = 10, **kwargs) -> Font:
    return Font(name=_FONT, size=size, **kwargs)


_TOP = Alignment(vertical="top")
_WRAP = Alignment(vertical="top", wrap_text=True)
_RIGHT = Alignment(horizontal="right", vertical="top")

_STYLES: dict[str, dict] = {
    "issuer": dict(font=_font(12, bold=True, color=_NAVY), alignment=_TOP),
    "text": dict(font=_font(9.5), alignment=_TOP),
    "title": dict(font=_font(16, bold=True, color=_NAVY), alignment=Alignment(horizontal="center", vertical="center")),
    "subtitle": dict(font=_font(9.5, bold=True), alignment=_RIGHT),
    "ref_label": dict(font=_font(9.5), alignment=_RIGHT),
    "ref_value": dict(font=_font(10, bold=True), alignment=_RIGHT, border=_BOX),
    "ref_date": dict(font=_font(10, bold=True), alignment=_RIGHT, border=_BOX, number_format=DATE),
    "projet": dict(font=_font(13, bold=True, color="C00000"),
                   alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)),
    "origine": dict(font=_font(11, bold=True), alignment=Alignment(horizontal="center", vertical="top", wrap_text=True)),
    "section": dict(font=_font(10, bold=True, color="FFFFFF"), fill=PatternFill("solid", fgColor=_NAVY),
                    alignment=Alignment(vertical="center")),
    "label": dict(font=_font(10, bold=True), alignment=_TOP),
    "label_r": dict(font=_font(10, bold=True), alignment=_RIGHT),
    "value": dict(font=_font(10), alignment=_WRAP),
    "value_bold": dict(font=_font(11, bold=True), alignment=_WRAP),
    "value_left": dict(font=_font(10), alignment=Alignment(horizontal="left", vertical="top")),
    "date_left": dict(font=_font(10, bold=True), alignment=Alignment(horizontal="left", vertical="top"),
                      number_format=DATE),
    "th": dict(font=_font(10, bold=True), fill=_PALE, border=_BOX,
               alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)),
    "td": dict(font=_font(10), border=_BOX, alignment=_WRAP),
    "td_detail": dict(font=_font(9), border=_BOX, alignment=_WRAP),
    "td_qty": dict(font=_font(10), border=_BOX, alignment=_RIGHT, number_format=INTEGER),
    "td_rate": dict(font=_font(10), border=_BOX, alignment=_RIGHT, number_format=RATE),
    "td_factor": dict(font=_font(10), border=_BOX, alignment=_RIGHT, number_format=FACTOR_DEN),
    "td_base": dict(font=_font(10), border=_BOX, alignment=_RIGHT, number_format=EUROS),
    "td_eur": dict(font=_font(10), border=_BOX, alignment=_RIGHT, number_format=EUROS),
    "total_label": dict(font=_font(11, bold=True), fill=_PALE, border=_BOX,
                        alignment=Alignment(horizontal="right", vertical="center")),
    "total": dict(font=_font(11, bold=True), fill=_PALE, number_format=EUROS, alignment=Alignment(vertical="center"),
                  border=Border(left=_THIN, right=_THIN, top=_THIN, bottom=Side(style="double"))),
    "arrete": dict(font=_font(10, italic=True), alignment=_WRAP),
    "note": dict(font=_font(9), alignment=_WRAP),
    "sign": dict(font=_font(10), alignment=Alignment(horizontal="center", vertical="top")),
    "sign_name": dict(font=_font(10, bold=True), alignment=Alignment(horizontal="center", vertical="top")),
    "legal_title": dict(font=_font(9.5, bold=True), alignment=_TOP),
    "legal": dict(font=_font(9), alignment=Alignment(vertical="top", wrap_text=True, horizontal="justify")),
}


@dataclass(frozen=True)
class _Cell:
    ref: str
    content: str  # the static text, or the slot name when ``slot``
    style: str
    slot: bool
    last_column: str  # the merge's last column (== the cell's own column when not merged)


@dataclass(frozen=True)
class _Fit:
    """A wrapped cell whose row grows with its text: its slot (or static text), capacity and line height."""

    row: int
    slot: str | None
    text: str
    capacity: int
    line_height: float


@dataclass(frozen=True)
class _Page:
    cells: tuple[_Cell, ...]
    fixed_heights: tuple[tuple[int, float], ...]
    fitted_rows: tuple[int, ...]  # rows whose height follows their text, notice by notice
    fits: tuple[_Fit, ...]
    last_row: int
    draft: bool


def _layout(notice: Notice) -> tuple[tuple[str, ...], bool]:
    """What decides a notice's page: the formula of each line (a line's cell formats follow it), draft or not."""
    return tuple(line.formule for line in notice.lines), notice.numero is None


@functools.cache
def _page(formules: tuple[str, ...], draft: bool) -> _Page:
    """Where everything goes on a notice with these lines; the rows below the table move with them."""
    n_lines = len(formules)
    cells: list[_Cell] = []
    heights: dict[int, float] = {}
    fitted: set[int] = set()

    def put(ref: str, content: str, style: str, *, slot: bool = False, to: str | None = None, fit=False) -> None:
        cells.append(_Cell(ref, content, style, slot, to or ref[0]))
        if fit:
            fitted.add(int(ref[1:]))

    def section(row: int, text: str) -> None:
        put(f"A{row}", text, "section", to="E")
        heights[row] = 17

    put("A1", "emetteur_nom", "issuer", slot=True, to="B", fit=True)
    put("C1", "sous_titre", "subtitle", slot=True, to="E")
    put("A2", "emetteur_adresse", "text", slot=True, to="B", fit=True)
    put("C2", "Titre n°", "ref_label", to="D")
    put("E2", "numero", "ref_value", slot=True)
    put("A3", "emetteur_siret", "text", slot=True, to="B")
    put("C3", "Date d'émission", "ref_label", to="D")
    put("E3", "date_emission", "ref_date", slot=True)
    put("A4", "ordonnateur", "text", slot=True, to="B", fit=True)
    put("C4", "echeance_label", "ref_label", slot=True, to="D")
    put("E4", "echeance_haut", "ref_date", slot=True)
    heights[5] = 10
    put("A6", "intitule", "title", slot=True, to="E")
    heights[6] = 26
    put("A7", "projet", "projet", slot=True, to="E")
    heights[7] = 24 if draft else 3
    put("A8", "origine", "origine", slot=True, to="E", fit=True)

    section(10, "DÉBITEUR")
    put("A11", "Nom", "label")
    put("B11", "debiteur_nom", "value_bold", slot=True, to="E", fit=True)
    put("A12", "Adresse de la mairie", "label")
    put("B12", "debiteur_adresse", "value", slot=True, to="E", fit=True)
    put("A13", "Code INSEE", "label")
    put("B13", "debiteur_code_insee", "value_left", slot=True)
    put("C13", "siret_label", "label_r", slot=True)
    put("D13", "debiteur_siret", "value_left", slot=True, to="E")

    section(15, "OBJET DE LA CRÉANCE")
    put("A16", "Objet", "label")
    put("B16", "objet", "value", slot=True, to="E", fit=True)
    put("A17", "Fondement", "label")
    put("B17", "fondement", "value", slot=True, to="E", fit=True)
    put("A18", "Effectifs retenus", "label")
    put("B18", "rentree", "value", slot=True, to="E", fit=True)

    section(20, "BASES DE LIQUIDATION")
    heights[21] = 4
    for column, text in zip(_COLUMNS, ("Libellé", "Détail du calcul", "Quantité", "Taux ou base", "Montant")):
        put(f"{column}22", text, "th")
    heights[22] = 27
    for index, formule in enumerate(formules):
        row = FIRST_LINE_ROW + index
        put(f"A{row}", f"l{index}_libelle", "td", slot=True, fit=True)
        put(f"B{row}", f"l{index}_detail", "td_detail", slot=True, fit=True)
        put(f"C{row}", f"l{index}_quantite", "td_qty", slot=True)
        put(f"D{row}", f"l{index}_taux", _BASE_STYLE.get(formule, "td_rate"), slot=True)
        put(f"E{row}", f"l{index}_montant", "td_eur", slot=True)
    t = FIRST_LINE_ROW + n_lines
    put(f"A{t}", "total_label", "total_label", slot=True, to="D")
    put(f"E{t}", "total", "total", slot=True)
    heights[t] = 21
    put(f"A{t + 1}", "arrete", "arrete", slot=True, to="E", fit=True)
    put(f"A{t + 2}", "imputation", "text", slot=True, to="E")

    section(t + 4, "MODALITÉS DE PAIEMENT")
    put(f"A{t + 5}", "paiement_label", "label", slot=True)
    put(f"B{t + 5}", "paiement", "date_left", slot=True, to="E")
    put(f"A{t + 6}", "Comptable public", "label")
    put(f"B{t + 6}", "comptable", "value", slot=True, to="E", fit=True)
    put(f"A{t + 7}", "IBAN", "label")
    put(f"B{t + 7}", "iban", "value_left", slot=True)
    put(f"C{t + 7}", "BIC", "label_r")
    put(f"D{t + 7}", "bic", "value_left", slot=True, to="E")
    put(f"A{t + 8}", "Référence à rappeler", "label")
    put(f"B{t + 8}", "reference", "value_bold", slot=True, to="E", fit=True)
    put(f"A{t + 9}", "paiement_note", "note", slot=True, to="E", fit=True)

    put(f"B{t + 11}", "signature_date", "sign", slot=True, to="E")
    put(f"B{t + 12}", "signature", "sign_name", slot=True, to="E")
    heights[t + 13] = 8

    section(t + 14, "MENTIONS LÉGALES")
    put(f"A{t + 15}", "executoire", "legal", slot=True, to="E", fit=True)
    put(f"A{t + 16}", "Voies et délais de recours", "legal_title", to="E")
    put(f"A{t + 17}", "recours", "legal", slot=True, to="E", fit=True)
    fits = []
    for cell in cells:
        row = int(cell.ref[1:])
        if row in fitted:
            font = _STYLES[cell.style]["font"]
            fits.append(_Fit(row, cell.content if cell.slot else None, "" if cell.slot else cell.content,
                             _capacity(_span_width(cell), font.sz, bool(font.b)), round(font.sz * 1.27, 2)))
    return _Page(tuple(cells), tuple(sorted(heights.items())), tuple(sorted(fitted)), tuple(fits), t + 17, draft)


_BASE_STYLE = {"prorata": "td_factor", "ajustement": "td_base"}


def _span_width(cell: _Cell) -> float:
    first, last = _COLUMNS.index(cell.ref[0]), _COLUMNS.index(cell.last_column)
    return sum(WIDTHS[column] for column in _COLUMNS[first:last + 1])


def _capacity(width: float, size: float, bold: bool) -> int:
    """Characters per line in a cell ``width`` Excel units wide, on the safe side.

    An average character of French text in Arial is about 0.4 em, a column unit 7 px
    (the digit width of the workbook's Arial 10); bold is a little wider.
    """
    return max(8, int(width * 7 / (size * 96 / 72 * (0.47 if bold else 0.43))) - 1)


def _text_lines(text: str, capacity: int) -> int:
    """How many lines ``text`` wraps to, word by word, ``capacity`` characters a line."""
    if len(text) <= capacity and "\n" not in text:
        return 1
    return _wrapped_lines(text, capacity)


@functools.lru_cache(maxsize=4096)  # the legal texts, objet and fondement repeat on every notice
def _wrapped_lines(text: str, capacity: int) -> int:
    count = 0
    for paragraph in text.split("\n"):
        lines, used = 1, 0
        for word in paragraph.split():
            needed = len(word) if used == 0 else used + 1 + len(word)
            if needed <= capacity:
                used = needed
                continue
            if used:
                lines += 1
            used = len(word)
            while used > capacity:  # a word longer than the line breaks anywhere
                lines += 1
                used -= capacity
        count += lines
    return count


def _row_heights(page: _Page, values: Mapping[str, object]) -> dict[int, float]:
    """Height (points) of each fitted row, so that wrapped text is never cut off in print."""
    heights = dict.fromkeys(page.fitted_rows, 3.0)  # a row with nothing to say all but disappears
    for fit in page.fits:
        text = values.get(fit.slot) if fit.slot else fit.text
        if isinstance(text, str) and text:
            height = min(MAX_ROW_HEIGHT, round(_text_lines(text, fit.capacity) * fit.line_height + 3.0, 1))
            if height > heights[fit.row]:
                heights[fit.row] = height
    return heights


# ----- the plain openpyxl writer (the reference) --------------------------------------------


def _build_workbook(page: _Page, values: Mapping[str, object] | None,
                    heights: Mapping[int, float] | None) -> Workbook:
    """The workbook of a notice; ``values`` None writes placeholders and sentinel heights (the template)."""
    workbook = Workbook()
    _set_default_font(workbook)
    sheet = workbook.active
    sheet.title = "Avis"
    for column, width in WIDTHS.items():
        sheet.column_dimensions[column].width = width
    for row, height in page.fixed_heights:
        sheet.row_dimensions[row].height = height
    for index, row in enumerate(page.fitted_rows):
        sheet.row_dimensions[row].height = heights[row] if heights is not None else _sentinel_height(index)
    for spec in page.cells:
        cell = sheet[spec.ref]
        for attribute, value in _STYLES[spec.style].items():
            setattr(cell, attribute, value)
        if not spec.slot:
            if spec.content:
                cell.value = spec.content
                cell.data_type = "s"
        elif values is None:
            cell.value = f"{_MARK_OPEN}{spec.content}{_MARK_CLOSE}"
            cell.data_type = "s"
        else:
            _put(cell, values.get(spec.content))
    for spec in page.cells:  # merged after filling: a merge copies its first cell's border to its edges
        if spec.last_column != spec.ref[0]:
            sheet.merge_cells(f"{spec.ref}:{spec.last_column}{spec.ref[1:]}")
    sheet.print_area = f"A1:E{page.last_row}"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 1
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.page_margins.left = sheet.page_margins.right = 0.55
    sheet.page_margins.top = 0.6
    sheet.page_margins.bottom = 0.65
    sheet.page_margins.header = sheet.page_margins.footer = 0.25
    sheet.print_options.horizontalCentered = True
    sheet.sheet_view.showGridLines = False
    sheet.oddFooter.center.text = "Avis des sommes à payer — page &P / &N"
    sheet.oddFooter.center.size = 8
    sheet.oddFooter.center.font = _FONT
    if page.draft:
        sheet.oddHeader.center.text = PROJET_MARK
        sheet.oddHeader.center.size = 10
        sheet.oddHeader.center.font = f"{_FONT},Bold"
        sheet.oddHeader.center.color = "C00000"
    workbook.properties.title = "Avis des sommes à payer"
    workbook.properties.creator = "ent-bill"
    return workbook


def _set_default_font(workbook: Workbook) -> None:
    """Arial 10 as the workbook's own font: column widths are counted in its digits, and
    LibreOffice has Arial's metric twin where Calibri is often missing."""
    fonts = getattr(workbook, "_fonts", None)
    if fonts is not None and len(fonts) == 1:
        workbook._fonts = type(fonts)([_font(10)])


def _put(cell, value) -> None:
    """One slot value, as the fast writer writes it: input text is never a formula."""
    if value is None:
        return
    if isinstance(value, _Formula):
        cell.value = f"={value.text}"
    elif isinstance(value, str):
        cell.value = value
        cell.data_type = "s"  # « =HYPERLINK(…) » in a commune name stays a name
    elif isinstance(value, (bool, float)):
        raise TypeError(f"valeur inattendue en {cell.coordinate} : {value!r}")
    else:
        cell.value = value


def write_notice_openpyxl(notice: Notice, path: Path) -> Path:
    """The notice through plain openpyxl, saved as ``path`` (the benchmark baseline and the test reference)."""
    page = _page(*_layout(notice))
    values = _slot_values(notice)
    workbook = _build_workbook(page, values, _row_heights(page, values))
    buffer = io.BytesIO()
    workbook.save(buffer)
    path = Path(path)
    _write_file(path, buffer.getvalue())
    return path


# ----- the fast writer: one template per layout, the sheet XML filled per notice ------------

_MARK_OPEN, _MARK_CLOSE = "\u27e6", "\u27e7"  # ⟦slot⟧ in the template only; _clean keeps them in data
_SHEET = "xl/worksheets/sheet1.xml"
_SENTINEL_BASE = 390.0  # real heights stay below it (MAX_ROW_HEIGHT)


def _sentinel_height(index: int) -> float:
    return _SENTINEL_BASE + index / 4  # 390, 390.25, … : exact in binary, never a real height here


_SLOT = re.compile(
    '<c r="(?P<ref>[A-Z]+[0-9]+)"(?P<style> s="[0-9]+")? t="inlineStr"><is><t>'
    f"{_MARK_OPEN}(?P<slot>[a-z0-9_]+){_MARK_CLOSE}</t></is></c>"
    '|<row r="(?P<row>[0-9]+)" ht="(?P<ht>39[0-9](?:\\.[0-9]+)?)"'
)


@dataclass(frozen=True)
class _Template:
    """A notice's zip, cut so that only the sheet is made per notice.

    The sheet entry goes last, so everything before it (local headers and compressed
    data of the other parts, as openpyxl wrote them) is one constant prefix.
    """

    prefix: bytes
    central: bytes  # central-directory records of the prefix entries
    count: int
    pieces: tuple[str, ...]  # the sheet XML between the holes; len(holes) + 1
    holes: tuple[tuple[str, str, str], ...]  # ("cell", ref, style attr, slot) or ("row", row number)


_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_DOS_TIME, _DOS_DATE = 0, (1 << 5) | 1  # 1980-01-01: the same notice always gives the same bytes


def _zip_entry(name: bytes, data: bytes, method: int, crc: int, size: int, offset: int) -> tuple[bytes, bytes]:
    local = _LOCAL.pack(0x04034B50, 20, 0x0800, method, _DOS_TIME, _DOS_DATE, crc, len(data), size, len(name), 0)
    central = _CENTRAL.pack(0x02014B50, 20, 20, 0x0800, method, _DOS_TIME, _DOS_DATE, crc, len(data), size,
                            len(name), 0, 0, 0, 0, 0, offset)
    return local + name + data, central + name


def _raw_member(blob: bytes, info: zipfile.ZipInfo) -> bytes:
    """A member's compressed bytes exactly as stored (copied, never recompressed)."""
    name_len, extra_len = struct.unpack_from("<HH", blob, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    return blob[start:start + info.compress_size]


@functools.cache
def _template(formules: tuple[str, ...], draft: bool) -> _Template:
    """Built once per process and layout: openpyxl writes the page with placeholders, we cut it."""
    page = _page(formules, draft)
    buffer = io.BytesIO()
    _build_workbook(page, None, None).save(buffer)
    blob = buffer.getvalue()
    prefix, central, count = [], [], 0
    offset = 0
    sheet_xml = None
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        for info in archive.infolist():
            if info.filename == _SHEET:
                sheet_xml = archive.read(info).decode("utf-8")
                continue
            local, record = _zip_entry(info.filename.encode("utf-8"), _raw_member(blob, info), info.compress_type,
                                       info.CRC, info.file_size, offset)
            prefix.append(local)
            central.append(record)
            offset += len(local)
            count += 1
    if sheet_xml is None or "xl/sharedStrings.xml" in zipfile.ZipFile(io.BytesIO(blob)).namelist():
        raise RuntimeError("gabarit d'avis inattendu : feuille absente ou chaînes partagées (openpyxl a changé ?)")
    pieces, holes, position = [], [], 0
    for match in _SLOT.finditer(sheet_xml):
        pieces.append(sheet_xml[position:match.start()])
        if match.group("slot"):
            holes.append(("cell", match.group("ref"), match.group("style") or "", match.group("slot")))
        else:
            holes.append(("row", match.group("row")))
        position = match.end()
    pieces.append(sheet_xml[position:])
    slots = sum(1 for cell in page.cells if cell.slot)
    found_cells = sum(1 for hole in holes if hole[0] == "cell")
    found_rows = sum(1 for hole in holes if hole[0] == "row")
    if found_cells != slots or found_rows != len(page.fitted_rows) or _MARK_OPEN in "".join(pieces):
        raise RuntimeError(f"gabarit d'avis inattendu : {found_cells} emplacements sur {slots}, "
                           f"{found_rows} hauteurs sur {len(page.fitted_rows)} (openpyxl a-t-il changé ?)")
    return _Template(b"".join(prefix), b"".join(central), count, tuple(pieces), tuple(holes))


def _cell_xml(ref: str, style: str, value) -> str:
    if value is None:
        return f'<c r="{ref}"{style} />'
    if isinstance(value, str):
        space = ' xml:space="preserve"' if value != value.strip() or "\n" in value else ""
        return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{escape(value)}</t></is></c>'
    if isinstance(value, _Formula):
        return f'<c r="{ref}"{style}><f>{escape(value.text)}</f><v>{cents_to_decimal(value.cents)}</v></c>'
    if isinstance(value, date):
        return f'<c r="{ref}"{style} t="n"><v>{to_excel(value)}</v></c>'
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return f'<c r="{ref}"{style} t="n"><v>{value}</v></c>'
    raise TypeError(f"valeur inattendue en {ref} : {value!r}")


def notice_bytes(notice: Notice) -> bytes:
    """The .xlsx file of one notice, from its layout's template (a fraction of a millisecond)."""
    layout = _layout(notice)
    template = _template(*layout)
    values = _slot_values(notice)
    heights = _row_heights(_page(*layout), values)
    out = [template.pieces[0]]
    for hole, piece in zip(template.holes, template.pieces[1:]):
        if hole[0] == "cell":
            out.append(_cell_xml(hole[1], hole[2], values.get(hole[3])))
        else:
            out.append(f'<row r="{hole[1]}" ht="{heights[int(hole[1])]}"')
        out.append(piece)
    sheet = "".join(out).encode("utf-8")
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    packed = packer.compress(sheet) + packer.flush()
    local, record = _zip_entry(_SHEET.encode(), packed, zipfile.ZIP_DEFLATED, zlib.crc32(sheet), len(sheet),
                               len(template.prefix))
    central = template.central + record
    end = _END.pack(0x06054B50, 0, 0, template.count + 1, template.count + 1, len(central),
                    len(template.prefix) + len(local), 0)
    return b"".join((template.prefix, local, central, end))


# ----- file names and writing -----------------------------------------------------------------

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")
_COMMUNE_WORD = re.compile(r"^\s*commune\s+(?:de\s+(?:la\s+)?|d['’]\s*|du\s+|des\s+)?", re.IGNORECASE)


def _name_piece(text: str | None, fallback: str, limit: int) -> str:
    piece = _NAME_UNSAFE.sub("-", text or "").strip("-")[:limit].strip("-")
    return piece or fallback


def notice_filename(notice: Notice) -> str:
    """« ENT-2024-0001_59367_lys-lez-lannoy.xlsx », or « PROJET_59367_… » for a draft.

    Each piece is reduced to [A-Za-z0-9-]: no separator, no dot, so no input can make
    the name leave its folder.
    """
    numero = "PROJET" if notice.numero is None else _name_piece(notice.numero, "sans-numero", 40)
    code = _name_piece(notice.debiteur_code_insee, "sans-code", 10)
    return f"{numero}_{code}_{slug(_COMMUNE_WORD.sub('', notice.debiteur_nom or ''))}.xlsx"


def notice_path(out_dir: Path, notice: Notice) -> Path:
    """Where ``notice`` goes in ``out_dir``, checked to resolve inside it."""
    return _paths_in(Path(out_dir), [notice])[0]


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\.xlsx")


def _paths_in(out_dir: Path, notices: Sequence[Notice]) -> list[Path]:
    """The file of each notice, each checked to stay in ``out_dir``.

    ``out_dir`` is resolved once (symlinks and « .. » followed); each name is then made
    of [A-Za-z0-9_-] plus « .xlsx » (no separator, no dot segment) and checked to be a
    direct child of the resolved folder — a ``resolve()`` per file would cost more than
    writing it.
    """
    base = out_dir.resolve()
    paths = []
    for notice in notices:
        name = notice_filename(notice)
        target = base / name
        if not _SAFE_NAME.fullmatch(name) or target.parent != base or os.path.normpath(target) != str(target):
            raise ValueError(f"nom de fichier refusé, il sortirait du dossier {base} : {name!r}")
        paths.append(target)
    return paths


def _write_file(path: Path, data: bytes) -> None:
    """Temporary name in the same folder, fsync, rename: a reader never sees half a notice.

    ``os.open(…, 0o666)`` lets the umask apply without touching the process-wide umask.
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


def _write_batch(notices: Sequence[Notice], paths: Sequence[Path]) -> int:
    """Build each file in this thread; write and fsync in a few others, where the disk waits overlap."""
    with ThreadPoolExecutor(max_workers=WRITER_THREADS) as writers:
        pending = [writers.submit(_write_file, path, notice_bytes(notice)) for notice, path in zip(notices, paths)]
        for future in pending:
            future.result()
    return len(notices)


def _pool_context():
    """fork where there is one: workers inherit the built templates and start in milliseconds."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return None


def write_notices(notices: Sequence[Notice], out_dir: Path, *, workers: int | None = None,
                  progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write every notice into ``out_dir``; the paths come back in the notices' order.

    Each file is written to a temporary name, fsynced and renamed. From ``PARALLEL_FROM``
    notices on, chunks of at most ``CHUNK_MAX`` go to worker processes; ``progress``
    receives the number of notices written so far. Two notices that would share a file
    name are refused before anything is written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notices = list(notices)
    paths = _paths_in(out_dir, notices)
    owners: dict[Path, Notice] = {}
    for notice, path in zip(notices, paths):
        other = owners.setdefault(path, notice)
        if other is not notice:
            raise ValueError(f"deux avis auraient le même fichier « {path.name} » : {other.debiteur_nom} et "
                             f"{notice.debiteur_nom}")
    report = progress or (lambda done: None)
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for layout in sorted({_layout(notice) for notice in notices}):
        _template(*layout)  # built here once; forked workers inherit them
    amount_in_words(1)  # imports num2words once, here, rather than in every worker
    done = 0
    if workers <= 1 or len(notices) < PARALLEL_FROM:
        step = 100
        for start in range(0, len(notices), step):
            done += _write_batch(notices[start:start + step], paths[start:start + step])
            report(done)
    else:
        chunk = max(25, min(CHUNK_MAX, -(-len(notices) // (workers * 3))))
        with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
            futures = [pool.submit(_write_batch, notices[start:start + chunk], paths[start:start + chunk])
                       for start in range(0, len(notices), chunk)]
            for future in futures:
                done += future.result()
                report(done)
    fsync_dir(out_dir)
    return paths


def total_text(notice: Notice) -> str:
    """« 1 320,00 € » — the figure the notice shows, for logs and summaries."""
    return format_euros(notice.total_cents)
