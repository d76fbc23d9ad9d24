"""paiements.csv -> a clean frame of payments, every bad row a located problem.

Two shapes arrive: the form of DESIGN §3 (``numero_titre, date, montant, code_insee,
reference``) and the comptable public's export as it usually comes (``;``-separated,
« N° titre », « Date encaissement », « Montant encaissé » in French figures, the debtor's
code or name). Both go through ``billing.inputs.readers`` so that every problem points at the
cell the officer sees.

Rules a finance officer expects (written down in the README):

- a payment is dated within the exercice of the titre it pays or the following year (the
  comptable keeps collecting the « restes à recouvrer » after 31 December); without a
  titre number, within the reconciled year or the following one;
- a titre number is compared with the ledger's after folding case and spaces and then
  written as the ledger spells it; a number the ledger does not hold is kept as typed: the
  reconciliation sets that payment aside (« Non rapprochés ») with a warning suggesting the
  payer's own titres, so one mistyped number never blocks the others;
- without a ledger (``known_titres``/``known_communes`` of ``None``, e.g. ``validate``
  before the first ``issue``) only the form of each cell is checked;
- the amount is strictly positive: a reversed receipt is removed from the export, not
  entered as a negative payment;
- a reference identifies one payment: the second row with the same reference is an
  error citing the first. When the only reference column is a « libellé » (free text,
  often the same on every row), a row is a duplicate only if date and amount match too.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Collection, Mapping

import polars as pl

from billing.core import problems as P
from billing.core.money import MoneyError, decimal_to_cents, format_euros, parse_decimal_text
from billing.core.problems import Problem
from billing.inputs.readers import coerce, fold_header, read_table

PAYMENT_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "numero_titre": ("numero_titre", "n° titre", "n_titre", "no_titre", "num_titre", "numero_de_titre",
                     "numero_du_titre", "titre", "piece", "n° piece", "numero_piece", "n_piece"),
    "date": ("date", "date_encaissement", "date_d_encaissement", "date_paiement", "date_de_paiement",
             "date_reglement"),
    "montant": ("montant", "montant_encaisse", "montant_ttc", "montant_paye", "montant_regle"),
    "code_insee": ("code_insee", "code_commune", "debiteur", "code_debiteur", "insee"),
    "commune": ("commune", "nom_commune", "nom_debiteur"),
    "reference": ("reference", "ref", "reference_paiement", "libelle"),
}
PAYMENT_REQUIRED = ("date", "montant")
PAYMENT_OUTPUT = ("numero_titre", "date", "montant_cents", "code_insee", "commune", "reference", "_row", "source")

_CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_COMMUNE_PREFIX = re.compile(r"^(commune|mairie|ville)_(de_|d_|du_|des_)?")


def payment_window(exercice: int) -> tuple[date, date]:
    """The dates a payment of an exercice's titre may carry: that year and the following one."""
    return date(exercice, 1, 1), date(exercice + 1, 12, 31)


def normalize_titre_number(text: str) -> str:
    """« ent 2024 0001 », « ENT_2024_0001 » -> « ENT-2024-0001 » (case and separators are not meaning)."""
    return re.sub(r"[\s_\u00a0\u202f]+", "-", text.strip()).upper()


@dataclass(frozen=True, eq=False)
class PaymentFile:
    """paiements.csv as read: the clean payments, every problem, and each column's header as the file shows it
    (canonical name -> header), so that later checks point at the column the officer sees."""

    frame: pl.DataFrame
    problems: list[Problem]
    headers: dict[str, str]


def read_payments(path: Path, *, display: str, annee: int, known_titres: Collection[str] | None,
                  known_communes: Collection[str] | None, titre_exercices: Mapping[str, int] | None = None,
                  commune_names: Mapping[str, str] | None = None) -> tuple[pl.DataFrame, list[Problem]]:
    """Read and check paiements.csv/.xlsx; return the clean payments and every problem found."""
    read = read_payment_file(path, display=display, annee=annee, known_titres=known_titres,
                             known_communes=known_communes, titre_exercices=titre_exercices,
                             commune_names=commune_names)
    return read.frame, read.problems


def read_payment_file(path: Path, *, display: str, annee: int, known_titres: Collection[str] | None,
                      known_communes: Collection[str] | None, titre_exercices: Mapping[str, int] | None = None,
                      commune_names: Mapping[str, str] | None = None) -> PaymentFile:
    """Read and check paiements.csv/.xlsx (see :func:`read_payments`), keeping the file's headers.

    ``known_titres``: every titre number of the ledger, ``None`` without a ledger (numbers are
    then kept as typed); ``titre_exercices`` (optional) their exercice, so that a payment of an
    older titre is dated against that titre's exercice; ``known_communes``: the INSEE codes of
    the members, ``None`` without a ledger (codes are then checked for their form only);
    ``commune_names`` (optional, code -> name) lets a debtor column that holds a name rather
    than a code be read. Rows with an error are left out of the frame (the run stops on any
    error anyway).
    """
    table = read_table(Path(path), display=display, columns=PAYMENT_COLUMNS, required=PAYMENT_REQUIRED)
    problems: list[Problem] = list(table.problems)
    if any(p.is_error and p.row is None for p in problems):
        return PaymentFile(_empty_payments(), problems, dict(table.headers))
    frame = table.frame
    for column in PAYMENT_COLUMNS:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(column))
    if "numero_titre" not in table.headers and "code_insee" not in table.headers:
        problems.append(_error(display, None, None,
                               "il faut une colonne « numero_titre » ou « code_insee » pour savoir ce que paie "
                               "chaque ligne",
                               suggestion=f"Colonnes trouvées : {', '.join(table.headers.values())}."))
        return PaymentFile(_empty_payments(), problems, dict(table.headers))
    table = replace(table, frame=frame)
    header = {name: table.headers.get(name, name) for name in PAYMENT_COLUMNS}

    typed, found = coerce(table, {"date": "date", "montant": "decimal"})
    problems += found
    refused = {(p.row, p.column) for p in found if p.is_error}

    original = dict(table.frame.select("_row", "montant").iter_rows())
    typed = _payer_columns(typed, header, original, known_titres=known_titres, known_communes=known_communes,
                           commune_names=commune_names, display=display, problems=problems, refused=refused)
    problems += _schema_problems(typed, table, header=header, original=original, refused=refused)

    problems += _window_problems(typed, annee=annee, titre_exercices=titre_exercices, display=display,
                                 header=header["date"], refused=refused)
    problems += _duplicate_problems(typed, display=display, header=header["reference"],
                                    free_text=fold_header(table.headers.get("reference", "")) == "libelle")

    bad_rows = {p.row for p in problems if p.is_error and p.row is not None}
    clean = (
        typed.filter(~pl.col("_row").is_in(sorted(bad_rows)))
        .with_columns(pl.lit(display).alias("source"))
        .select(PAYMENT_OUTPUT)
    )
    return PaymentFile(clean, P.sort_problems(problems), header)


def _payer_columns(typed: pl.DataFrame, header: Mapping[str, str], original: Mapping[int, str], *,
                   known_titres: Collection[str] | None, known_communes: Collection[str] | None,
                   commune_names: Mapping[str, str] | None, display: str, problems: list[Problem],
                   refused: set) -> pl.DataFrame:
    """montant_cents, numero_titre (as the ledger writes it, or as typed) and code_insee, each cell checked."""
    known = None if known_titres is None else {normalize_titre_number(n): n for n in known_titres}
    cents, numbers, codes = [], [], []
    for rec in typed.select("_row", "montant", "numero_titre", "code_insee").iter_rows(named=True):
        row = rec["_row"]
        cents.append(_amount_cents(rec["montant"], original.get(row), display=display, row=row,
                                   header=header["montant"], problems=problems, refused=refused))
        numbers.append(_titre_number(rec["numero_titre"], known))
        codes.append(_commune_code(rec["code_insee"], known_communes, commune_names, display=display, row=row,
                                   header=header["code_insee"], problems=problems, refused=refused))
    return typed.with_columns(
        pl.Series("montant_cents", cents, dtype=pl.Int64),
        pl.Series("numero_titre", numbers, dtype=pl.Utf8),
        pl.Series("code_insee", codes, dtype=pl.Utf8),
    )


def _schema_problems(typed: pl.DataFrame, table, *, header: Mapping[str, str], original: Mapping[int, str],
                     refused: set) -> list[Problem]:
    """The rules of schemas.inputs.Payments, skipping the cells already refused with a more precise message."""
    from billing.inputs.members import schema_problems
    from schemas.inputs import Payments

    found = []
    payer_cells = (header["numero_titre"], header["code_insee"])
    names = {**header, "montant_cents": header["montant"]}
    for problem in schema_problems(Payments, typed, table, column_names=names):
        if (problem.row, problem.column) in refused:
            continue  # the cell was already refused with a more precise message
        if problem.column == header["numero_titre"] and any((problem.row, cell) in refused for cell in payer_cells):
            continue  # « who pays? » is already answered by the refused titre number or commune
        if problem.column == header["montant"]:
            shown = original.get(problem.row)
            problem = replace(problem, value=shown, message=problem.message + ".",
                              suggestion="Un encaissement annulé se retire de l'export ; il ne s'inscrit pas en "
                                         "montant négatif.")
        found.append(problem)
        refused.add((problem.row, problem.column))
    return found


def _error(file: str, row: int | None, column: str | None, message: str, *, value: str | None = None,
           suggestion: str | None = None) -> Problem:
    """A located error whose message ends with a full stop when a suggestion follows it."""
    if suggestion and not message.endswith((".", "?", "!")):
        message += "."
    return P.error(file, row, column, message, value=value, suggestion=suggestion)


def _empty_payments() -> pl.DataFrame:
    return pl.DataFrame(schema={"numero_titre": pl.Utf8, "date": pl.Date, "montant_cents": pl.Int64,
                                "code_insee": pl.Utf8, "commune": pl.Utf8, "reference": pl.Utf8,
                                "_row": pl.Int64, "source": pl.Utf8})


def _amount_cents(value: str | None, original: str | None, *, display: str, row: int, header: str,
                  problems: list[Problem], refused: set) -> int | None:
    if value is None:
        if (row, header) not in refused:
            problems.append(P.error(display, row, header, "le montant du paiement est obligatoire"))
            refused.add((row, header))
        return None
    try:
        return decimal_to_cents(parse_decimal_text(value))
    except MoneyError:
        problems.append(_error(display, row, header, "un montant s'exprime au centime (deux décimales au plus)",
                               value=original or value, suggestion="Écrivez par exemple 1 234,56."))
        refused.add((row, header))
        return None


def _titre_number(value: str | None, known: Mapping[str, str] | None) -> str | None:
    """The ledger's spelling of a number it holds; any other number as typed (the matching sets it aside)."""
    if value is None:
        return None
    if known is None:
        return value.strip()
    return known.get(normalize_titre_number(value), value.strip())


def _commune_code(value: str | None, known_communes: Collection[str] | None, names: Mapping[str, str] | None, *,
                  display: str, row: int, header: str, problems: list[Problem], refused: set) -> str | None:
    if value is None:
        return None
    compact = _SPACES.sub("", value).upper()
    if re.fullmatch(r"\d{4}", compact):
        compact = "0" + compact  # the leading zero a spreadsheet drops
    if _CODE.match(compact):
        if known_communes is None or compact in known_communes:
            return compact
        hint = None
        if names:
            close = difflib.get_close_matches(compact, sorted(known_communes), n=3, cutoff=0.8)
            if close:
                hint = "Vouliez-vous dire " + " ou ".join(f"« {c} » ({names.get(c, '')})" for c in close) + " ?"
        problems.append(_error(display, row, header, "n'est pas le code INSEE d'une commune membre", value=value,
                                suggestion=hint))
        refused.add((row, header))
        return None
    if names and known_communes is not None:
        wanted = _COMMUNE_PREFIX.sub("", fold_header(value))
        matches = [code for code, name in names.items()
                   if code in known_communes and _COMMUNE_PREFIX.sub("", fold_header(name)) == wanted]
        if len(matches) == 1:
            return matches[0]
        folded = {_COMMUNE_PREFIX.sub("", fold_header(n)): (c, n) for c, n in names.items() if c in known_communes}
        close = difflib.get_close_matches(wanted, sorted(folded), n=3, cutoff=0.75)
        hint = ("Vouliez-vous dire " + " ou ".join(f"« {folded[k][1]} » ({folded[k][0]})" for k in close) + " ?"
                if close else "Indiquez le code INSEE de la commune (5 caractères, par exemple 59360).")
        problems.append(_error(display, row, header, "n'est ni le code INSEE ni le nom d'une commune membre",
                                value=value, suggestion=hint))
    else:
        problems.append(_error(display, row, header,
                                "n'est pas un code INSEE (5 caractères, par exemple 59360)", value=value,
                                suggestion="Indiquez le code INSEE de la commune qui paie."))
    refused.add((row, header))
    return None


def _window_problems(typed: pl.DataFrame, *, annee: int, titre_exercices: Mapping[str, int] | None,
                     display: str, header: str, refused: set) -> list[Problem]:
    found = []
    for row, paid_on, number in typed.select("_row", "date", "numero_titre").iter_rows():
        if paid_on is None or (row, header) in refused:
            continue
        exercice = (titre_exercices or {}).get(number, annee) if number else annee
        first, last = payment_window(exercice)
        if first <= paid_on <= last:
            continue
        whose = f"d'un titre de l'exercice {exercice}" if number else f"rapproché sur l'exercice {annee}"
        found.append(_error(
            display, row, header,
            f"date hors de la période admise : un paiement {whose} doit être daté entre le {first:%d/%m/%Y} et "
            f"le {last:%d/%m/%Y} (l'exercice et l'année qui suit)",
            value=paid_on.strftime("%d/%m/%Y"),
            suggestion="Vérifiez l'année de la date (faute de frappe ?) ou le numéro du titre."))
    return found


def _duplicate_problems(typed: pl.DataFrame, *, display: str, header: str, free_text: bool) -> list[Problem]:
    found = []
    first_seen: dict[tuple, int] = {}
    for row, reference, paid_on, cents in typed.select("_row", "reference", "date", "montant_cents").iter_rows():
        if reference is None:
            continue
        key = (reference.casefold(), paid_on, cents) if free_text else (reference.casefold(),)
        if key in first_seen:
            first = first_seen[key]
            what = (f"même libellé, même date et même montant ({format_euros(cents)}) que la ligne {first}"
                    if free_text and cents is not None else f"référence déjà utilisée ligne {first}")
            found.append(_error(display, row, header, f"{what} : paiement en double ?", value=reference,
                                 suggestion="Supprimez la ligne en double, ou donnez à chaque paiement sa propre "
                                            "référence."))
        else:
            first_seen[key] = row
    return found

