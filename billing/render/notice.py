"""The « avis des sommes à payer »: one Excel notice per titre, one A4 page (DESIGN §5, §6, §8).

The notice carries what French law asks of a titre de recettes (CGCT L. 1617-5; CE
17 mars 2016, Commune de Ris-Orangis): the ordonnateur's name, first name and capacity,
the number and date of the titre, the debtor, the object, the legal basis, the bases de
liquidation with live formulas that recompute to the same cents, the total in words,
payment instructions, the executory mention and the « voies et délais de recours ».

Every amount shown is the one pricing (or the ledger) computed: a line's cents are written
as the cached value of its formula, never recomputed here. This module turns a ``Notice``
into slot values; ``billing.render.notice_page`` places them on the page and writes it, by
plain openpyxl (``write_notice_openpyxl``, the reference) or by the fast template path of
``write_notices`` — some 35 000 notices must be written at ≥ 1 000 per second (§8).
"""

from __future__ import annotations

import io
import os
import re
import secrets
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable, Sequence

from billing.core.model import Syndicat
from billing.core.money import amount_in_words, cents_to_decimal, rate_units_to_decimal
from billing.core.natures import CREDITS, NATURES
from billing.core.text import slug
from billing.render.files import fsync_dir, make_durable, safe_child, write_bytes_atomic
from billing.render.notice_page import FIRST_LINE_ROW, Formula, build_workbook, page_bytes, prepare

FORMULES = ("produit", "prorata", "ajustement", "valeur", "info")
PROJET_MARK = "PROJET — sans valeur de titre exécutoire"
EXECUTORY_MENTION = ("Titre de recettes émis et rendu exécutoire en application de l'article L. 252 A du livre "
                     "des procédures fiscales et de l'article L. 1617-5 du CGCT")

PARALLEL_ABOVE = 200  # below this, starting processes costs more than it saves
CHUNK = 500

# ----- values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeLine:
    """One line of the bases de liquidation, as pricing (or the ledger) computed it.

    ``formule`` says how the spreadsheet recomputes ``montant_cents``: « produit »
    (quantité × taux), « prorata » (subtotal × facteur_num / facteur_den − subtotal),
    « ajustement » (plancher/plafond target − subtotal), « valeur » (the amount itself), « info » (a
    correction's motif, recalculated bases and titres already issued: shown, never summed, no amount).
    """

    libelle: str
    detail: str | None
    quantite: int | None
    taux_units: int | None
    montant_cents: int
    formule: str
    facteur_num: int | None = None
    facteur_den: int | None = None
    groupe: str | None = None  # the competence (DESIGN §4c): a prorata or an adjustment applies to its group's lines


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
    motif: str | None = None  # why a correction was issued (its « motif » line), shown beside the titre it cites

    def __post_init__(self) -> None:
        """Refuse a notice that cannot be written as given: a line without what its formula reads,
        or a total that is not the sum of the lines shown. The cents themselves are pricing's."""
        where = f"avis {self.numero or 'PROJET'} ({self.debiteur_code_insee})"
        if self.nature not in NATURES:
            raise ValueError(f"{where} : nature « {self.nature} » inconnue (attendu : {', '.join(NATURES)})")
        if self.nature != "titre" and not self.origine_numero:
            raise ValueError(f"{where} : un avis « {self.nature} » doit citer le titre d'origine (origine_numero)")
        for index, line in enumerate(self.lines, start=1):
            _check_line(line, where=f"{where}, ligne {index}")
        subtotal = sum(line.montant_cents for line in self.lines)
        if self.lines and subtotal != self.total_cents:
            raise ValueError(f"{where} : le total {self.total_cents} centimes n'est pas la somme des lignes "
                             f"({subtotal} centimes)")
        if not self.lines and self.total_cents != 0:
            raise ValueError(f"{where} : un avis de {self.total_cents} centimes sans ligne de liquidation")


def _check_line(line: NoticeLine, *, where: str) -> None:
    if line.formule not in FORMULES:
        raise ValueError(f"{where} : formule « {line.formule} » inconnue (attendu : {', '.join(FORMULES)})")
    if line.formule == "produit" and (line.quantite is None or line.taux_units is None):
        raise ValueError(f"{where} : une ligne « produit » demande une quantité et un taux")
    if line.formule == "info" and line.montant_cents != 0:
        raise ValueError(f"{where} : une ligne d'information ne porte pas de montant")
    if line.formule == "prorata" and (not line.facteur_den or line.facteur_num is None):
        raise ValueError(f"{where} : une ligne « prorata » demande facteur_num et facteur_den (> 0)")


# ----- what each cell of the page holds -------------------------------------------------


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


INTITULES = {"titre": "AVIS DES SOMMES À PAYER", "complementaire": "AVIS DES SOMMES À PAYER — TITRE COMPLÉMENTAIRE",
             "reduction": "AVIS DE RÉDUCTION DE TITRE", "annulation": "AVIS D'ANNULATION DE TITRE"}
ORIGINES = {"complementaire": "Titre complémentaire au titre {}", "reduction": "Réduction du titre {}",
            "annulation": "Annulation du titre {}"}
TOTAL_LIBELLES = {"titre": "Montant total à payer", "complementaire": "Montant complémentaire à payer",
                  "reduction": "Montant de la réduction", "annulation": "Montant annulé"}


def notice_words(notice: Notice) -> dict[str, object]:
    """Every text of the page but the lines, as the workbook words it: the PDF notice shows the same words
    (one wording, so a change here changes both)."""
    origine = f"n° {notice.origine_numero} du {_fr_date(notice.origine_date)}"
    return {**_heading_values(notice, origine), **_payment_values(notice, origine)}


def _slot_values(notice: Notice) -> dict[str, object]:
    """Slot name -> value (str, int, Decimal, date, Formula or None) for this notice's page."""
    origine = f"n° {notice.origine_numero} du {_fr_date(notice.origine_date)}"
    values = {**_heading_values(notice, origine), **_payment_values(notice, origine), **_line_values(notice)}
    return {key: (_text(value) if isinstance(value, str) else value) for key, value in values.items()}


def _heading_values(notice: Notice, origine: str) -> dict[str, object]:
    syndicat = notice.syndicat
    draft = notice.numero is None
    return {
        "emetteur_nom": syndicat.nom,
        "emetteur_adresse": syndicat.adresse,
        "emetteur_siret": f"SIRET : {syndicat.siret}",
        "ordonnateur": f"Ordonnateur : {_signataire(syndicat)}",
        "exercice": str(notice.annee),
        "numero": notice.numero if not draft else "PROJET",
        "date_emission": notice.date_emission,
        "intitule": INTITULES[notice.nature],
        "projet": PROJET_MARK if draft else None,
        "origine": _origine_text(notice, origine),
        "debiteur_nom": notice.debiteur_nom,
        "debiteur_adresse": notice.debiteur_adresse or "adresse non communiquée",
        "debiteur_siret": notice.debiteur_siret or "non communiqué",
        "debiteur_code_insee": notice.debiteur_code_insee,
        "objet": notice.objet,
        "fondement": notice.fondement,
        "rentree": (f"Effectifs de la rentrée {notice.rentree} (année scolaire {notice.rentree}-{notice.rentree + 1})"
                    if notice.rentree is not None else "sans objet"),
        "total_libelle": TOTAL_LIBELLES[notice.nature],
        "arrete": f"Arrêté la présente somme à {amount_in_words(notice.total_cents)}.",
        "imputation": _imputation_text(notice.imputation),
        "comptable": syndicat.comptable_nom or "le comptable public assignataire du syndicat",
        "iban": _iban_display(syndicat.iban) or "—",
        "bic": syndicat.bic or "—",
        "signature": _signataire(syndicat),
        "recours": _recours(syndicat.tribunal),
    }


def _origine_text(notice: Notice, origine: str) -> str | None:
    """« Réduction du titre n° … du … — motif : … »; the motif only when the line still fits the page width
    (it is always on the first line of the bases de liquidation)."""
    if notice.nature not in ORIGINES:
        return None
    text = ORIGINES[notice.nature].format(origine)
    with_motif = f"{text} — motif : {notice.motif}" if notice.motif else text
    return with_motif if len(with_motif) <= 120 else text


def _payment_values(notice: Notice, origine: str) -> dict[str, object]:
    """What to pay and by when (nothing, for a credit), and the executory mention."""
    draft = notice.numero is None
    values: dict[str, object] = {}
    if notice.nature in CREDITS:
        values["echeance_libelle"] = "Aucun paiement à effectuer"
        values["echeance"] = f"ce montant vient en déduction du titre {origine}"
        values["reference"] = notice.numero if not draft else "numéro attribué lors de l'émission"
        values["paiement_note"] = (f"Si le titre {origine} a déjà été réglé, le comptable public rembourse "
                                   f"la somme trop perçue ; sinon, elle est déduite du montant restant à payer.")
        verb = "annule" if notice.nature == "annulation" else "réduit à due concurrence"
        values["executoire"] = (f"Le présent avis {verb} le titre {origine}, émis et rendu exécutoire en application "
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
    return values


def _line_values(notice: Notice) -> dict[str, object]:
    """The bases de liquidation: each line as given, its amount as the cached value of its formula."""
    values: dict[str, object] = {}
    first = start = FIRST_LINE_ROW
    subtotal = 0
    for index, line in enumerate(notice.lines):
        row = first + index
        if index and line.groupe != notice.lines[index - 1].groupe:
            start, subtotal = row, 0  # a new competence: its prorata and adjustments apply to its own lines
        values[f"l{index}_libelle"] = line.libelle
        values[f"l{index}_detail"] = line.detail
        values[f"l{index}_quantite"] = line.quantite
        values[f"l{index}_taux"] = rate_units_to_decimal(line.taux_units) if line.taux_units is not None else None
        values[f"l{index}_montant"] = _amount_cell(line, row=row, first=start, subtotal=subtotal)
        subtotal += line.montant_cents
    if notice.lines:
        last = first + len(notice.lines) - 1
        values["total"] = Formula(f"SUM(E{first}:E{last})", notice.total_cents)
    else:
        values["total"] = Decimal("0.00")
    return values


def _amount_cell(line: NoticeLine, *, row: int, first: int, subtotal: int) -> object:
    """The montant cell: a formula that recomputes the line's cents in Excel and LibreOffice.

    Sums are brought back to integer cents (ROUND(…*100,0)) before any rounding so that a
    binary 0.004999… can never decide a half cent; Excel's ROUND is half away from zero,
    the product's rule.
    """
    above = f"SUM(E{first}:E{row - 1})" if row > first else "0"
    if line.formule == "produit":
        return Formula(f"ROUND(C{row}*ROUND(D{row}*10000,0)/100,0)/100", line.montant_cents)
    if line.formule == "prorata":
        cents = f"ROUND({above}*100,0)"
        return Formula(f"(ROUND({cents}*{line.facteur_num}/{line.facteur_den},0)-{cents})/100", line.montant_cents)
    if line.formule == "ajustement":
        target = subtotal + line.montant_cents
        return Formula(f"({target}-ROUND({above}*100,0))/100", line.montant_cents)
    if line.formule == "info":
        return None  # information only: an empty Montant cell, so the total is the sum of the amounts shown
    return cents_to_decimal(line.montant_cents)


def _recours(tribunal: str) -> str:
    return ("Dans le délai de deux mois suivant la réception du présent avis, vous pouvez contester la somme "
            f"mentionnée en saisissant directement le {tribunal or 'tribunal administratif compétent'} "
            "(article L. 1617-5, 2° du code général des collectivités territoriales), y compris par l'application "
            "Télérecours (www.telerecours.fr). Cette contestation suspend la force exécutoire du titre (article "
            "L. 1617-5, 1° du même code). La régularité d'un acte de poursuite se conteste dans les deux mois de sa "
            "notification devant le juge de l'exécution.")


# ----- the plain writer (reference) -----------------------------------------------------


def write_notice_openpyxl(notice: Notice, path: Path) -> Path:
    """The notice through plain openpyxl: slow (~5 ms), the reference the fast writer is tested against."""
    workbook = build_workbook(len(notice.lines), _slot_values(notice))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return write_bytes_atomic(Path(path), buffer.getvalue())


def notice_bytes(notice: Notice) -> bytes:
    """The .xlsx file of one notice, from its line count's template (≈ 0.5 ms)."""
    return page_bytes(len(notice.lines), _slot_values(notice))


# ----- file names and batch writing -----------------------------------------------------

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9-]+")
_COMMUNE_PREFIX = re.compile(r"^\s*commune\s+(de\s+la\s+|de\s+l['’]\s*|de\s+|d['’]\s*|du\s+|des\s+)?", re.I)


def notice_filename(notice: Notice) -> str:
    """« ENT-2024-0001_59367_lys-lez-lannoy.xlsx », « PROJET_59367_lys-lez-lannoy.xlsx » for a draft.

    Every piece is reduced to [A-Za-z0-9-], so no input can make the name leave its folder.
    """
    draft = "PROJET" if notice.nature == "titre" else f"PROJET-{notice.nature}-{notice.origine_numero or ''}"
    numero = _UNSAFE_NAME_CHARS.sub("-", notice.numero or draft).strip("-")
    code = _UNSAFE_NAME_CHARS.sub("-", notice.debiteur_code_insee or "").strip("-") or "sans-code"
    commune = _COMMUNE_PREFIX.sub("", notice.debiteur_nom or "")
    return f"{numero or 'sans-numero'}_{code}_{slug(commune)}.xlsx"


def _notice_path(out_dir: Path, notice: Notice) -> Path:
    return safe_child(out_dir, notice_filename(notice))


def _write_chunk(notices: Sequence[Notice], paths: Sequence[Path]) -> int:
    """Write a chunk as a reader (or a killed run) never sees half a notice: every file under a
    temporary name beside its own, one durability barrier for them all, then each renamed.

    The barrier is ``files.make_durable`` (one syncfs), not one fsync per file: at ~35 000
    notices the per-file fsync was most of the time. ``os.open(…, 0o666)`` lets the kernel
    apply the umask.
    """
    token = secrets.token_hex(6)
    written: list[tuple[Path, Path]] = []
    renamed = 0
    try:
        for notice, path in zip(notices, paths):
            temporary = path.with_name(f".{path.name}.{token}.tmp")
            data = notice_bytes(notice)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            written.append((temporary, path))
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        if written:
            make_durable(written[0][1].parent, [temporary for temporary, _ in written])
        for temporary, path in written:
            os.replace(temporary, path)
            renamed += 1
    except BaseException:
        for temporary, _ in written[renamed:]:
            temporary.unlink(missing_ok=True)
        raise
    return len(notices)


def write_notices(notices: Sequence[Notice], out_dir: Path, *, workers: int | None = None,
                  progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write every notice into ``out_dir`` (temporary name, on disk, rename); paths in the notices' order.

    Above a few hundred notices the work is spread over processes in chunks; ``progress``
    receives the number of notices written so far.
    """
    return start_notices(notices, out_dir, workers=workers, progress=progress).wait()


class PendingNotices:
    """Notices being written by worker processes while the caller does something else.

    ``wait()`` (or leaving a ``with`` block) waits for every chunk, reports progress, makes
    the renames durable and returns the paths in the notices' order; a worker's error is
    raised there. Leaving the block on an exception cancels the chunks not yet started.
    """

    def __init__(self, out_dir: Path, paths: list[Path], futures: list, pool, report, done: int) -> None:
        self.out_dir, self.paths, self._futures, self._pool = out_dir, paths, futures, pool
        self._report, self._done, self._finished = report, done, False

    def wait(self) -> list[Path]:
        if not self._finished:
            try:
                for future in as_completed(self._futures):
                    self._done += future.result()
                    self._report(self._done)
            finally:
                if self._pool is not None:
                    self._pool.shutdown(wait=True, cancel_futures=True)
                self._finished = True
            fsync_dir(self.out_dir)
        return self.paths

    def __enter__(self) -> "PendingNotices":
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            self.wait()
        elif self._pool is not None and not self._finished:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._finished = True


def check_distinct(notices: Sequence[Notice], paths: Sequence[Path]) -> None:
    """Two notices must never share a file (the second would replace the first)."""
    seen: dict[Path, Notice] = {}
    for notice, path in zip(notices, paths):
        if path in seen:
            raise ValueError(f"deux avis auraient le même fichier « {path.name} » "
                             f"({seen[path].debiteur_nom} et {notice.debiteur_nom})")
        seen[path] = notice


def start_notices(notices: Sequence[Notice], out_dir: Path, *, workers: int | None = None,
                  progress: Callable[[int], None] | None = None) -> PendingNotices:
    """Start writing the notices (as ``write_notices``) and return at once, the workers busy.

    On a 2-core machine the caller's own single-threaded work (the contributions workbook, the
    summary) then runs while the workers write, instead of leaving a core idle:

        with start_notices(notices, out_dir) as pending:
            write_contributions_workbook(…)
        paths = pending.paths
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notices = list(notices)
    paths = [_notice_path(out_dir, notice) for notice in notices]
    check_distinct(notices, paths)
    report = progress or (lambda done: None)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    for count in sorted({len(notice.lines) for notice in notices}):
        prepare(count)  # built once here; forked workers inherit it
    if workers <= 1 or len(notices) <= PARALLEL_ABOVE:
        done = 0
        for start in range(0, len(notices), 100):
            done += _write_chunk(notices[start:start + 100], paths[start:start + 100])
            report(done)
        return PendingNotices(out_dir, paths, [], None, report, done)
    chunk = max(50, min(CHUNK, -(-len(notices) // (workers * 4))))
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(_write_chunk, notices[start:start + chunk], paths[start:start + chunk])
                   for start in range(0, len(notices), chunk)]
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    return PendingNotices(out_dir, paths, futures, pool, report, 0)
