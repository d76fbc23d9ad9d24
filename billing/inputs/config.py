"""The two TOML inputs: the issuer (syndicat.toml) and the committee's tariffs (tarifs.toml).

Numbers are read with ``parse_float=Decimal`` so « 1.4375 » stays exact, then turned
into integer cents / rate units by ``billing.core.money``. Every value goes through one
converter per kind (amount, unit price, bands, weights…): the file and the
``simulate --set`` overrides share it, so they share the rules and the messages.
Problems are collected, each located by file, TOML key (the « colonne ») and, when the
key can be found in the text, its line.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from billing.core import problems as P
from billing.core.identifiers import IBAN_LENGTHS, bic_ok, compact, iban_ok, siret_ok
from billing.core.model import BAND_MODES, CRITERIA, PRORATA_MODES, TARIFF_MODES, Band, Syndicat, Tariff
from billing.core.money import (
    MoneyError,
    cents_to_str,
    decimal_to_cents,
    decimal_to_rate_units,
    format_euros,
    format_rate,
    parse_decimal_text,
    rate_units_to_decimal,
)
from billing.core.problems import Problem
from billing.inputs.pes_config import read_pes

SYNDICAT_KEYS = ("nom", "adresse", "siret", "president", "qualite", "prefixe_titre", "delai_paiement_jours",
                 "tribunal", "imputation")
COMPTABLE_KEYS = ("nom", "iban", "bic")
BAREME_KEYS = ("part_fixe", "part_ecole", "part_eleve", "tranches_eleve", "tranches", "plancher", "plafond")
REPARTITION_KEYS = ("montant_total", "poids")
TARIFF_KEYS = ("deliberation", "rentree", "mode", *BAREME_KEYS, "prorata", "echeance_jours", "imputation",
               "date_emission", *REPARTITION_KEYS)
OVERRIDE_KEYS = ("part_fixe", "part_ecole", "part_eleve", "plancher", "plafond", "prorata", "tranches",
                 "tranches_eleve", "mode", "montant_total", "poids", "rentree", "echeance_jours")
BAND_KEYS = ("jusqu_a", "prix")

FIRST_YEAR, LAST_YEAR = 1990, 2100
MAX_AMOUNT = Decimal(1_000_000_000)  # € — far above any syndicate budget, far below Int64 cents
MAX_RATE = Decimal(1_000_000)  # € per pupil or school

CRITERION_LABELS = {"eleves": "élèves", "ecoles": "écoles publiques", "population": "population municipale",
                    "forfait": "forfait (part égale par commune)"}
PRORATA_LABELS = {"aucun": "aucun (année entière due)", "mois": "par mois commencé d'adhésion",
                  "jours": "au jour près"}
BAND_MODE_LABELS = {"progressif": "progressif (chaque tranche à son prix)",
                    "global": "global (tous les élèves au prix de la tranche atteinte)"}

_MISSING = object()


# --------------------------------------------------------------------------- locating keys


_HEADER = re.compile(r"\s*\[\[?\s*(?P<name>[^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""\s*(?P<q>["']?)(?P<key>[A-Za-z0-9_-]+)(?P=q)\s*(?:\.|=)""")


def _table_path(name: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in name.split("."))


class _Locator:
    """Where each table header and each ``key =`` sits in the text: a line scan, no second parser."""

    def __init__(self, text: str = ""):
        self.lines = text.splitlines()
        self.seen: dict[tuple[str, ...], list[int]] = {}
        self.path_on_line: dict[int, tuple[str, ...]] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(self.lines, start=1):
            header = _HEADER.match(line)
            if header:
                table = _table_path(header["name"])
                self.seen.setdefault(table, []).append(number)
                self.path_on_line[number] = table
                continue
            key = _KEY.match(line)
            if key:
                path = (*table, key["key"])
                self.seen.setdefault(path, []).append(number)
                self.path_on_line[number] = path

    def line(self, path: Sequence[str]) -> int | None:
        found = self.seen.get(tuple(path))
        return found[0] if found else None

    def text(self, line: int | None) -> str | None:
        if line is None or not 1 <= line <= len(self.lines):
            return None
        text = _without_comment(self.lines[line - 1]).strip()
        return text if len(text) <= 80 else text[:79] + "…"


def _without_comment(line: str) -> str:
    """The line without its trailing « # … » comment (a « # » inside quotes is text)."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:index].rstrip()
    return line


class _Report:
    """Collects the problems of one file (or of the --set options), located by key path."""

    def __init__(self, display: str, locator: _Locator | None = None):
        self.display = display
        self.locator = locator or _Locator()
        self.problems: list[Problem] = []

    def add(self, severity: str, path: Sequence[str], message: str, *, value: Any = _MISSING,
            suggestion: str | None = None, row: int | None | object = _MISSING) -> None:
        path = tuple(path)
        if row is _MISSING:
            row = self.locator.line(path) if path else None
        column = ".".join(path) or None
        make = P.error if severity == "erreur" else P.warning
        self.problems.append(make(self.display, row, column, message,
                                  value=None if value is _MISSING else _show(value), suggestion=suggestion))

    def error(self, path: Sequence[str], message: str, **kw) -> None:
        self.add("erreur", path, message, **kw)

    def warning(self, path: Sequence[str], message: str, **kw) -> None:
        self.add("avertissement", path, message, **kw)

    def missing(self, path: Sequence[str], what: str, *, example: str | None = None) -> None:
        """A required key is absent: point at its table's header, the place to add it."""
        self.error(path, f"clé manquante : {what}", row=self.locator.line(path[:-1]) if len(path) > 1 else None,
                   suggestion=f"Ajoutez par exemple : {example}" if example else None)

    def error_count(self) -> int:
        return len(P.errors_of(self.problems))


class _Invalid(Exception):
    """A value that a converter refuses: the French reason, and a suggestion when there is one."""

    def __init__(self, message: str, suggestion: str | None = None):
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion


def _show(value: Any) -> str:
    """A value as the user wrote it, for « … » in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Fraction):
        return _fraction_text(value)
    return str(value)


def _fold(text: str) -> str:
    """Case and accents folded, so « Barème » is « bareme »."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _closest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(_fold(word), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    near = _closest(word, choices)
    return f"Vouliez-vous dire « {near} » ?" if near else None


# --------------------------------------------------------------------------- reading TOML


_TOML_MESSAGES = (
    (r"Cannot overwrite a value", "clé définie deux fois"),
    (r"Expected '=' after a key in a key/value pair", "« = » attendu après le nom de la clé"),
    (r"Expected '\]' at the end of a table declaration", "« ] » attendu à la fin du nom de section"),
    (r"Expected '\]\]' at the end of an array declaration", "« ]] » attendu à la fin du nom de section"),
    (r"Expected newline or end of document after a statement",
     "fin de ligne attendue après la valeur (un texte s'écrit entre guillemets)"),
    (r"Invalid date or datetime", "date invalide (forme attendue : 2024-04-15)"),
    (r"Invalid value", "valeur illisible (un texte s'écrit entre guillemets)"),
    (r"Invalid statement", "ligne illisible (attendu : cle = valeur, ou [section])"),
    (r"Invalid initial character for a key part", "nom de clé invalide (lettres, chiffres, _ et -)"),
    (r"Unclosed array", "liste non fermée (« ] » manquant)"),
    (r"Unclosed inline table", "table non fermée (« } » manquant)"),
    (r"Unterminated string", "texte non terminé (guillemet fermant manquant)"),
    (r"Illegal character '\\n'", "texte non terminé (guillemet fermant manquant avant la fin de la ligne)"),
    (r"Unescaped '\\' in a string",
     "« \\ » dans un texte entre guillemets doubles : doublez-le ou utilisez des apostrophes"),
    (r"Illegal character|Found invalid character", "caractère interdit à cet endroit"),
    (r"Cannot declare .* twice", "section déclarée deux fois"),
    (r"Duplicate inline table key", "clé répétée dans la même table"),
    (r"Cannot mutate immutable namespace|Cannot redefine namespace", "clé ou section déjà définie"),
    (r"Escaped character is not a Unicode scalar value|Invalid hex value", "séquence d'échappement invalide"),
    (r"Expected '(.*)'", r"« \1 » attendu"),
)


def _toml_problem(exc: tomllib.TOMLDecodeError, locator: _Locator, display: str) -> Problem:
    """tomllib's English message in French, located on its line, with a hint for the usual slips."""
    raw = str(exc)
    head = raw.split(" (at ")[0]
    french = f"erreur de syntaxe ({head})"
    for pattern, replacement in _TOML_MESSAGES:
        if re.match(pattern, head):
            french = re.sub(pattern, replacement, head, count=1) if "\\1" in replacement else replacement
            break
    where = re.search(r"at line (\d+), column (\d+)", raw)
    row = getattr(exc, "lineno", None) or (int(where[1]) if where else None)
    column_no = getattr(exc, "colno", None) or (int(where[2]) if where else None)
    path = locator.path_on_line.get(row) if row else None
    if head.startswith("Cannot overwrite a value") and path:
        first = locator.line(path)
        french = f"clé « {path[-1]} » définie deux fois" + (f" (déjà ligne {first})" if first and first != row else "")
    if row is None:
        message = f"syntaxe TOML invalide à la fin du fichier : {french}"
    elif column_no:
        message = f"syntaxe TOML invalide au caractère {column_no} : {french}"
    else:
        message = f"syntaxe TOML invalide : {french}"
    line_text = locator.text(row)
    value_slip = head.startswith(("Invalid value", "Expected newline", "Expected '='", "Invalid date"))
    return P.error(display, row, ".".join(path) if path else None, message, value=line_text,
                   suggestion=_toml_hint(line_text) if value_slip else None)


def _toml_hint(line: str | None) -> str:
    """`nom = Dupont` or `part_eleve = 1,20`: the same line, quoted; `qualité = …`: the key without accents."""
    generic = "Les textes s'écrivent entre guillemets (nom = \"…\"), un montant à virgule aussi (part_eleve = \"1,20\")."
    accented = re.fullmatch(r"([^=\s\"']+)\s*=\s*(.*)", line or "")
    if accented and not accented[1].isascii():
        return f"Les noms de clé s'écrivent sans accents : {_fold(accented[1])} = {accented[2]}"
    match = re.fullmatch(r"([A-Za-z0-9_-]+)\s*=\s*([^\"'\[{#][^#]*?)\s*(#.*)?", line or "")
    if not match:
        return generic
    try:
        tomllib.loads(f"x = {match[2]}")
        return generic
    except tomllib.TOMLDecodeError:
        return f"Écrivez : {match[1]} = \"{match[2]}\""


def _load(path: Path, display: str) -> tuple[dict | None, _Report]:
    """The parsed document, or None with one clear problem (missing, not UTF-8, not TOML)."""
    report = _Report(display)
    path = Path(path)
    if not path.is_file():
        report.error((), "fichier introuvable", suggestion="« ent-bill init » crée un dossier d'exemple complet.")
        return None, report
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        report.error((), "le fichier n'est pas encodé en UTF-8",
                     suggestion="Enregistrez-le en UTF-8 (« Enregistrer sous », codage UTF-8).")
        return None, report
    except OSError as exc:
        report.error((), f"lecture impossible ({exc.strerror or exc})")
        return None, report
    report.locator = _Locator(text)
    try:
        return tomllib.loads(text, parse_float=Decimal), report
    except tomllib.TOMLDecodeError as exc:
        report.problems.append(_toml_problem(exc, report.locator, display))
        return None, report


# --------------------------------------------------------------------------- converters (file and --set)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("un texte entre guillemets est attendu")
    if not value.strip():
        raise _Invalid("texte vide")
    return " ".join(value.split())


def _integer(value: Any, low: int, high: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("un nombre entier est attendu")
    if not low <= value <= high:
        raise _Invalid(f"valeur attendue entre {low} et {high}")
    return value


def _year(value: Any) -> int:
    return _integer(value, FIRST_YEAR, LAST_YEAR)


def _days(value: Any) -> int:
    return _integer(value, 1, 365)


def _choice(value: Any, choices: Sequence[str], what: str) -> str:
    expected = " ou ".join(", ".join(f"« {c} »" for c in choices).rsplit(", ", 1))
    if isinstance(value, str) and _fold(value) in choices:
        return _fold(value)
    raise _Invalid(f"{what} attendu : {expected}")  # the few choices are all listed: no guess


def _number(value: Any) -> Decimal:
    """A TOML number (Decimal, int) or a number as typed in a string (« 1,20 », « 1 100,00 € »)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _Invalid("un nombre est attendu (ex. \"1.20\")")
    if isinstance(value, str):
        if not value.strip():
            raise _Invalid("valeur vide : un nombre est attendu")
        try:
            number = parse_decimal_text(value)
        except MoneyError as exc:
            raise _Invalid(str(exc)) from None
    else:
        number = Decimal(value)
    if not number.is_finite():
        raise _Invalid(f"« {value} » n'est pas un nombre")
    return number


def _exact(convert: Callable[[Decimal], int], number: Decimal) -> int:
    """money's conversion with enough precision that no digit typed is rounded away before the check."""
    with localcontext() as context:
        context.prec = max(28, len(number.as_tuple().digits) + 12)
        try:
            return convert(number)
        except MoneyError as exc:
            raise _Invalid(str(exc)) from None


def _amount(value: Any, *, positive: bool = False) -> int:
    """An amount in euros (2 decimals at most) -> cents."""
    number = _number(value)
    if number < 0:
        raise _Invalid("un montant ne peut pas être négatif")
    if positive and number == 0:
        raise _Invalid("le montant doit être supérieur à zéro")
    if number >= MAX_AMOUNT:
        raise _Invalid(f"montant hors limites (moins de {format_euros(int(MAX_AMOUNT) * 100)} attendu)")
    return _exact(decimal_to_cents, number)


def _price(value: Any) -> int:
    """A unit price in euros (4 decimals at most) -> 1/10 000 €."""
    number = _number(value)
    if number < 0:
        raise _Invalid("un prix ne peut pas être négatif")
    if number >= MAX_RATE:
        raise _Invalid(f"prix hors limites (moins de {format_euros(int(MAX_RATE) * 100)} attendu)")
    return _exact(decimal_to_rate_units, number)


def _positive_amount(value: Any) -> int:
    return _amount(value, positive=True)


def _imputation(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(r"\d{2,8}", value.strip()):
        raise _Invalid("un compte M57 s'écrit en chiffres (ex. 7474)")
    return value.strip()


def _issue_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise _Invalid("une date sans heure est attendue (ex. date_emission = 2024-04-15)")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        french = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*", value)
        iso = re.fullmatch(r"\s*(\d{4})-(\d{2})-(\d{2})\s*", value)
        if french or iso:
            day, month, year = (int(x) for x in (french.groups() if french else reversed(iso.groups())))
            try:
                return date(year, month, day)
            except ValueError:
                raise _Invalid("date inexistante") from None
    raise _Invalid("une date est attendue (ex. date_emission = 2024-04-15)")


def _bands(value: Any, complain: Callable[[str], None]) -> tuple[Band, ...] | None:
    """[{jusqu_a = 500, prix = "1.50"}, …, {prix = "1.00"}]: every band problem is reported, not just the first."""
    if not isinstance(value, list) or not value:
        complain("une liste de tranches est attendue : [{jusqu_a = 500, prix = \"1.50\"}, …, {prix = \"1.00\"}]")
        return None
    bands: list[Band] = []
    failed = False
    previous: int | None = None
    for index, item in enumerate(value, start=1):
        last = index == len(value)
        if not isinstance(item, dict):
            complain(f"tranche {index} : une table {{jusqu_a = …, prix = …}} est attendue")
            failed = True
            continue
        for key in item:
            if key not in BAND_KEYS:
                near = _closest(key, BAND_KEYS)
                complain(f"tranche {index} : clé « {key} » inconnue (attendu : jusqu_a, prix)"
                         + (f" ; vouliez-vous dire « {near} » ?" if near else ""))
                failed = True
        rate = None
        if "prix" not in item:
            complain(f"tranche {index} : « prix » manque")
            failed = True
        else:
            try:
                rate = _price(item["prix"])
            except _Invalid as exc:
                complain(f"tranche {index}, prix « {_show(item['prix'])} » : {exc.message}")
                failed = True
        bound = item.get("jusqu_a")
        if bound is None:
            if not last:
                complain(f"tranche {index} : seule la dernière tranche peut être sans « jusqu_a »")
                failed = True
        else:
            try:
                bound = _integer(bound, 1, 10_000_000)
            except _Invalid as exc:
                complain(f"tranche {index}, jusqu_a « {_show(bound)} » : {exc.message}")
                failed, bound = True, None
            if bound is not None and previous is not None and bound <= previous:
                complain(f"tranche {index} : « jusqu_a » ({bound}) doit dépasser celui de la tranche "
                         f"précédente ({previous})")
                failed = True
            if bound is not None:
                previous = bound
            if last:
                complain("la dernière tranche ne doit pas avoir de « jusqu_a » : elle couvre tous les élèves au-delà "
                         "(ajoutez une dernière tranche {prix = \"…\"})")
                failed = True
        if rate is not None:
            bands.append(Band(bound, rate))
    return None if failed else tuple(bands)


def _weight(value: Any) -> Fraction:
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*/\s*\d+\s*", value):
        numerator, denominator = (int(x) for x in value.split("/"))
        if denominator == 0:
            raise _Invalid("division par zéro")
        return Fraction(numerator, denominator)
    return Fraction(_number(value))


def _weights(value: Any, complain: Callable[[str], None]) -> tuple[tuple[str, Fraction], ...] | None:
    """{eleves = 0.7, ecoles = 0.2, population = 0.1}: weights ≥ 0 whose exact sum is 1."""
    if not isinstance(value, dict) or not value:
        complain("une table de poids est attendue : {eleves = 0.7, ecoles = 0.2, population = 0.1}")
        return None
    weights: dict[str, Fraction] = {}
    failed = False
    for name, raw in value.items():
        criterion = _fold(name)
        if criterion not in CRITERIA:
            near = _closest(name, CRITERIA)
            complain(f"critère inconnu « {name} » (attendu : {', '.join(CRITERIA)})"
                     + (f" ; vouliez-vous dire « {near} » ?" if near else ""))
            failed = True
            continue
        try:
            weight = _weight(raw)
        except _Invalid as exc:
            complain(f"poids de « {criterion} » : {exc.message}")
            failed = True
            continue
        if weight < 0:
            complain(f"le poids de « {criterion} » ne peut pas être négatif ({_show(raw)})")
            failed = True
            continue
        if criterion in weights:
            complain(f"critère « {criterion} » donné deux fois")
            failed = True
        weights[criterion] = weight
    if failed:
        return None
    total = sum(weights.values(), Fraction(0))
    if total != 1:
        complain(f"la somme des poids doit valoir exactement 1 ; elle vaut {_fraction_display(total)}")
        return None
    return tuple((c, weights[c]) for c in CRITERIA if c in weights)


def _fraction_text(value: Fraction) -> str:
    """« 0.7 », « 1 », or « 1/3 » when no finite decimal is exact."""
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fraction_display(value: Fraction) -> str:
    return _fraction_text(value).replace(".", ",")


# --------------------------------------------------------------------------- syndicat.toml


_SYNDICAT_WHAT = {
    ("syndicat", "nom"): ("le nom du syndicat", 'nom = "Syndicat mixte …"'),
    ("syndicat", "adresse"): ("l'adresse du syndicat", 'adresse = "151 avenue du Président Hoover, 59555 Lille Cedex"'),
    ("syndicat", "siret"): ("le SIRET du syndicat (14 chiffres)", 'siret = "25590019600031"'),
    ("syndicat", "president"): ("le prénom et le nom de l'ordonnateur", 'president = "Prénom NOM"'),
    ("comptable", "nom"): ("le nom du comptable public", 'nom = "Service de gestion comptable de …"'),
    ("comptable", "iban"): ("l'IBAN du comptable public", 'iban = "FR76 3000 1007 …"'),
    ("comptable", "bic"): ("le BIC du comptable public", 'bic = "BDFEFRPPCCT"'),
}


def _siret(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _Invalid("un SIRET de 14 chiffres est attendu")
    digits = compact(value)
    if not digits.isascii() or not digits.isdigit():
        raise _Invalid("un SIRET ne contient que des chiffres (14)")
    if len(digits) != 14:
        raise _Invalid(f"un SIRET compte 14 chiffres, celui-ci en a {len(digits)}")
    if not siret_ok(digits):
        raise _Invalid("clé de contrôle du SIRET fausse (formule de Luhn) : un chiffre est sans doute mal recopié",
                       suggestion="Vérifiez-le sur annuaire-entreprises.data.gouv.fr.")
    return digits


def _prefix(value: Any) -> str:
    text = _text(value)
    if not re.fullmatch(r"[A-Za-z0-9]{1,10}", text):
        raise _Invalid("lettres et chiffres seulement, 10 au plus (les titres sont numérotés ENT-2024-0001)")
    return text


def _iban(value: Any) -> str:
    iban = compact(_text(value)).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", iban):
        raise _Invalid("un IBAN commence par le code du pays et deux chiffres de clé (ex. FR76 3000 1007 …)")
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected and len(iban) != expected:
        raise _Invalid(f"un IBAN {iban[:2]} compte {expected} caractères, celui-ci en a {len(iban)}")
    if not iban_ok(iban):
        raise _Invalid("clé de contrôle de l'IBAN fausse (ISO 13616, modulo 97) : un caractère est sans doute "
                       "mal recopié")
    return iban


def _bic(value: Any) -> str:
    bic = compact(_text(value)).upper()
    if len(bic) not in (8, 11):
        raise _Invalid(f"un BIC compte 8 ou 11 caractères, celui-ci en a {len(bic)}")
    if not bic_ok(bic):
        raise _Invalid("BIC invalide : 4 lettres (banque), 2 lettres (pays), 2 caractères (lieu), "
                       "3 facultatifs (agence)")
    return bic


class _Fields:
    """Reads one TOML table key by key through the converters, reporting at ``where + key``."""

    def __init__(self, report: _Report, data: Mapping[str, Any], where: tuple[str, ...]):
        self.report, self.data, self.where = report, data, where

    def path(self, key: str) -> tuple[str, ...]:
        return (*self.where, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get(self, key: str, convert: Callable[[Any], Any], *, default: Any = None,
            missing: tuple[str, str | None] | None = None) -> Any:
        """``convert(data[key])``; ``default`` when absent (``missing`` = (what, example): absent is an error)."""
        if not self.has(key):
            if missing:
                self.report.missing(self.path(key), missing[0], example=missing[1])
            return default
        value = self.data[key]
        try:
            return convert(value)
        except _Invalid as exc:
            suggestion = exc.suggestion
            if exc.message.startswith("un texte entre guillemets") and isinstance(value, (int, Decimal)):
                suggestion = f"Écrivez : {key} = \"{_show(value)}\""
            self.report.error(self.path(key), exc.message, value=value if _scalar(value) else _MISSING,
                              suggestion=suggestion)
            return default

    def complainer(self, key: str) -> Callable[[str], None]:
        return lambda message: self.report.error(self.path(key), message)

    def unknown_keys(self, known: Sequence[str]) -> None:
        for key in self.data:
            if key not in known:
                self.report.warning(self.path(key), "clé inconnue, ignorée",
                                    suggestion=_did_you_mean(key, known)
                                    or f"Clés reconnues : {', '.join(known)}.")


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, Decimal, date, bool))


def read_syndicat(path: Path, *, display: str) -> tuple[Syndicat | None, list[Problem]]:
    """syndicat.toml -> Syndicat, or None when an error stands; unknown keys are warnings."""
    data, report = _load(path, display)
    if data is None:
        return None, report.problems
    for key, value in data.items():
        if key == "pes":
            continue  # [pes] (PES V2 export) is checked by read_pes below
        if key in ("syndicat", "comptable"):
            if not isinstance(value, dict):
                report.error((key,), f"« {key} » doit être une section [{key}]")
        elif not isinstance(value, dict) and key in {*SYNDICAT_KEYS, *COMPTABLE_KEYS}:
            report.warning((key,), "clé hors de toute section, ignorée : placez-la sous [syndicat] ou [comptable]")
        else:
            report.warning((key,), "section inconnue, ignorée (attendu : [syndicat] et [comptable])",
                           suggestion=_did_you_mean(key, ("syndicat", "comptable")))
    tables = {name: data.get(name) if isinstance(data.get(name), dict) else None for name in ("syndicat", "comptable")}
    for name, keys in (("syndicat", "nom, adresse, siret, president"), ("comptable", "nom, iban, bic")):
        if name not in data:
            report.error((), f"section [{name}] absente ({keys})")
    synd = _Fields(report, tables["syndicat"] or {}, ("syndicat",))
    compt = _Fields(report, tables["comptable"] or {}, ("comptable",))
    if tables["syndicat"] is not None:
        synd.unknown_keys(SYNDICAT_KEYS)
    if tables["comptable"] is not None:
        compt.unknown_keys(COMPTABLE_KEYS)

    def required(fields: _Fields, key: str, convert: Callable[[Any], Any]) -> Any:
        present = fields.where[0] in data and isinstance(data[fields.where[0]], dict)
        return fields.get(key, convert, missing=_SYNDICAT_WHAT[(*fields.where, key)] if present else None)

    values = dict(
        nom=required(synd, "nom", _text),
        adresse=required(synd, "adresse", _text),
        siret=required(synd, "siret", _siret),
        president=required(synd, "president", _text),
        qualite=synd.get("qualite", _text, default="Président"),
        prefixe_titre=synd.get("prefixe_titre", _prefix, default="ENT"),
        delai_paiement_jours=synd.get("delai_paiement_jours", _days, default=30),
        tribunal=synd.get("tribunal", _text, default="Tribunal administratif de Lille"),
        imputation=synd.get("imputation", _imputation),
        comptable_nom=required(compt, "nom", _text),
        iban=required(compt, "iban", _iban),
        bic=required(compt, "bic", _bic),
    )
    if values["iban"] and values["bic"] and values["iban"][:2] != values["bic"][4:6]:
        report.warning(("comptable", "bic"), f"le pays du BIC ({values['bic'][4:6]}) n'est pas celui de l'IBAN "
                                             f"({values['iban'][:2]})", value=values["bic"])
    # [pes]: the PES V2 export settings (billing.inputs.pes_config); absent = no PES file written
    pes, pes_problems = read_pes(data.get("pes"), display=display, siret=values["siret"] or "")
    report.problems.extend(pes_problems)
    if report.error_count():
        return None, report.problems
    return Syndicat(**values, pes=pes), report.problems


# --------------------------------------------------------------------------- tarifs.toml


class Tariffs(dict):
    """{exercice: Tariff} as read, remembering the years whose section was refused (``rejected``) and
    whether the file could be read at all, so that asking for such a year adds no second,
    misleading « aucun tarif » error to the ones already reported."""

    def __init__(self, tariffs: Mapping[int, Tariff] | Iterable = (), *, rejected: Iterable[int] = (),
                 unreadable: bool = False):
        super().__init__(tariffs)
        self.rejected = frozenset(rejected)
        self.unreadable = unreadable


def _build_tariff(annee: int, data: Mapping[str, Any], report: _Report, where: tuple[str, ...]) -> Tariff | None:
    """One year's table -> Tariff (None if it holds an error). The one validation path of file and --set."""
    errors_before = report.error_count()
    fields = _Fields(report, data, where)
    fields.unknown_keys(TARIFF_KEYS)
    deliberation = fields.get("deliberation", _text, missing=(
        "la référence de la délibération du comité qui fixe ce tarif",
        'deliberation = "2023-05 du 13 décembre 2023"'))
    rentree = fields.get("rentree", _year, missing=(
        "l'année de la rentrée dont les effectifs sont facturés", f"rentree = {annee - 1}"))
    if rentree is not None and rentree != annee - 1:
        report.warning(fields.path("rentree"),
                       f"la rentrée {rentree} n'est pas celle qui précède l'exercice {annee} (habituellement "
                       f"{annee - 1}) : les effectifs de l'année scolaire {rentree}-{rentree + 1} seront facturés",
                       value=rentree)
    mode = fields.get("mode", lambda v: _choice(v, TARIFF_MODES, "mode"), default="bareme")
    prorata = fields.get("prorata", lambda v: _choice(v, PRORATA_MODES, "prorata"), default="jours")
    echeance = fields.get("echeance_jours", _days, default=30)
    imputation = fields.get("imputation", _imputation)
    date_emission = fields.get("date_emission", _issue_date)
    if date_emission is not None and date_emission.year != annee:
        report.warning(fields.path("date_emission"),
                       f"la date d'émission {date_emission:%d/%m/%Y} est hors de l'exercice {annee}",
                       value=data["date_emission"])

    values: dict[str, Any] = {}
    if mode == "repartition":
        for key in BAREME_KEYS:
            if fields.has(key):
                report.warning(fields.path(key), "sans effet en mode « repartition », ignoré")
        values["montant_total_cents"] = fields.get("montant_total", _positive_amount, missing=(
            "le montant total à répartir (mode « repartition »)", 'montant_total = "250000.00"'))
        if fields.has("poids"):
            values["poids"] = _weights(data["poids"], fields.complainer("poids")) or ()
        else:
            report.missing(fields.path("poids"), "les poids des critères (mode « repartition »)",
                           example="poids = {eleves = 0.7, ecoles = 0.2, population = 0.1}")
    elif mode == "bareme":
        for key in REPARTITION_KEYS:
            if fields.has(key):
                report.warning(fields.path(key), "sans effet en mode « bareme », ignoré")
        values["part_fixe_cents"] = fields.get("part_fixe", _amount, default=0)
        values["part_ecole_units"] = fields.get("part_ecole", _price, default=0)
        if fields.has("part_eleve") and fields.has("tranches_eleve"):
            report.error(fields.path("tranches_eleve"),
                         "« part_eleve » et « tranches_eleve » s'excluent : gardez l'un des deux")
        elif fields.has("tranches_eleve"):
            values["tranches"] = _bands(data["tranches_eleve"], fields.complainer("tranches_eleve")) or ()
            values["part_eleve_units"] = None
        else:
            values["part_eleve_units"] = fields.get("part_eleve", _price, default=0)
        values["tranches_mode"] = fields.get("tranches", lambda v: _choice(v, BAND_MODES, "calcul des tranches"),
                                             default="progressif")
        if fields.has("tranches") and not fields.has("tranches_eleve"):
            report.warning(fields.path("tranches"), "sans effet sans « tranches_eleve », ignoré")
        plancher = values["plancher_cents"] = fields.get("plancher", _amount)
        plafond = values["plafond_cents"] = fields.get("plafond", _amount)
        if plancher is not None and plafond is not None and plancher > plafond:
            report.error(fields.path("plancher"),
                         f"le plancher ({format_euros(plancher)}) dépasse le plafond ({format_euros(plafond)})")
        charges = (values["part_fixe_cents"], values["part_ecole_units"], values.get("part_eleve_units") or 0,
                   *(band.rate_units for band in values.get("tranches", ())), plancher or 0)
        if not any(charges) and report.error_count() == errors_before:
            report.warning(where, "ce tarif ne facture rien : part fixe, part par école, part par élève et "
                                  "plancher sont nuls ou absents")

    if report.error_count() > errors_before:
        return None
    return Tariff(annee=annee, deliberation=deliberation, rentree=rentree, mode=mode, prorata=prorata,
                  echeance_jours=echeance, imputation=imputation, date_emission=date_emission, **values)


def read_tariffs(path: Path, *, display: str) -> tuple[Tariffs, list[Problem]]:
    """tarifs.toml -> {exercice: Tariff}; each table [2024] is one committee deliberation.

    A year whose table holds an error is left out (and listed in ``rejected``)."""
    data, report = _load(path, display)
    if data is None:
        return Tariffs(unreadable=True), report.problems
    found: dict[int, Tariff] = {}
    rejected: set[int] = set()
    for key, table in data.items():
        if not re.fullmatch(r"\d{4}", key) or not FIRST_YEAR <= int(key) <= LAST_YEAR:
            if key in TARIFF_KEYS and not isinstance(table, dict):
                report.error((key,), "clé hors de toute section : placez-la sous la section de son exercice, "
                                     "ex. [2024]")
            else:
                report.error((key,), f"« {key} » n'est pas un exercice : une section de tarif porte le nom de "
                                     "l'exercice sur 4 chiffres, ex. [2024]")
            continue
        if not isinstance(table, dict):
            report.error((key,), f"une section [{key}] est attendue")
            rejected.add(int(key))
            continue
        tariff = _build_tariff(int(key), table, report, (key,))
        if tariff is None:
            rejected.add(int(key))
        else:
            found[int(key)] = tariff
    return Tariffs(found, rejected=rejected), report.problems


def tariff_for_year(tariffs: Mapping[int, Tariff], annee: int, *, display: str) -> tuple[Tariff | None, list[Problem]]:
    """The tariff of ``annee``; an error naming the years present when there is none."""
    if annee in tariffs:
        return tariffs[annee], []
    if getattr(tariffs, "unreadable", False) or annee in getattr(tariffs, "rejected", ()):
        return None, []  # its errors are already reported
    years = sorted({*tariffs, *getattr(tariffs, "rejected", ())})
    present = f"années présentes : {', '.join(map(str, years))}" if years else "aucune année présente"
    return None, [P.error(display, None, None, f"aucun tarif pour {annee} dans {display} ({present})",
                          suggestion=f"Ajoutez une section [{annee}] reprenant la délibération du comité qui fixe "
                                     f"le tarif {annee}.")]


# --------------------------------------------------------------------------- simulate --set


def _split_list(text: str) -> list[str]:
    """« a:1,b:2 » or, when decimals are typed with commas, « a:1,5;b:2 »."""
    return [part for part in text.split(";" if ";" in text else ",")]


def _override_value(key: str, text: str) -> Any:
    """The tarifs.toml value that ``--set key=text`` stands for (None: remove the key)."""
    text = text.strip()
    if key in ("plancher", "plafond") and _fold(text) == "aucun":
        return None
    if key == "tranches_eleve":
        bands = []
        for part in _split_list(text):
            bound, colon, price = part.partition(":")
            if not colon:
                raise _Invalid("tranches attendues sous la forme « 500:1.50,2000:1.20,:1.00 » "
                               "(jusqu_a:prix, la dernière sans borne)")
            bands.append(({"jusqu_a": bound.strip()} if bound.strip() else {}) | {"prix": price.strip()})
        return bands
    if key == "poids":
        weights = {}
        for part in _split_list(text):
            name, colon, weight = part.partition(":")
            if not colon:
                raise _Invalid("poids attendus sous la forme « eleves:0.7,ecoles:0.2,population:0.1 »")
            weights[name.strip()] = weight.strip()
        return weights
    return text


def tariff_source(tariff: Tariff) -> dict[str, Any]:
    """The tariff back in the form of its tarifs.toml table: money as exact strings, weights as « 0.7 » or « 1/3 »."""
    data: dict[str, Any] = {"deliberation": tariff.deliberation, "rentree": tariff.rentree, "mode": tariff.mode}
    if tariff.mode == "repartition":
        if tariff.montant_total_cents is not None:
            data["montant_total"] = cents_to_str(tariff.montant_total_cents)
        data["poids"] = {criterion: _fraction_text(weight) for criterion, weight in tariff.poids}
    else:
        data["part_fixe"] = cents_to_str(tariff.part_fixe_cents)
        data["part_ecole"] = str(rate_units_to_decimal(tariff.part_ecole_units))
        if tariff.tranches:
            data["tranches_eleve"] = [
                ({"jusqu_a": band.jusqu_a} if band.jusqu_a is not None else {})
                | {"prix": str(rate_units_to_decimal(band.rate_units))}
                for band in tariff.tranches
            ]
            data["tranches"] = tariff.tranches_mode
        else:
            data["part_eleve"] = str(rate_units_to_decimal(tariff.part_eleve_units or 0))
        if tariff.plancher_cents is not None:
            data["plancher"] = cents_to_str(tariff.plancher_cents)
        if tariff.plafond_cents is not None:
            data["plafond"] = cents_to_str(tariff.plafond_cents)
    data["prorata"] = tariff.prorata
    data["echeance_jours"] = tariff.echeance_jours
    if tariff.imputation:
        data["imputation"] = tariff.imputation
    if tariff.date_emission:
        data["date_emission"] = tariff.date_emission
    return data


def apply_overrides(tariff: Tariff, settings: Sequence[str], *, source: str = "--set"
                    ) -> tuple[Tariff | None, list[Problem]]:
    """``part_eleve=1.35`` … applied to a tariff and validated exactly like tarifs.toml.

    Setting part_eleve drops the bands and vice versa; « aucun » removes plancher/plafond.
    Warnings are kept only for the keys set here (the file's own were reported with it).
    """
    report = _Report(source)
    data = tariff_source(tariff)
    touched: set[str] = set()
    for setting in settings:
        key, sep, text = setting.partition("=")
        key = key.strip()
        if not sep or not key:
            report.error((), "forme attendue : cle=valeur (ex. --set part_eleve=1.35)", value=setting)
            continue
        if key not in OVERRIDE_KEYS:
            report.error((key,), f"paramètre inconnu (modifiables : {', '.join(OVERRIDE_KEYS)})",
                         suggestion=_did_you_mean(key, OVERRIDE_KEYS))
            continue
        if not text.strip():
            report.error((key,), "valeur manquante après « = »")
            continue
        try:
            value = _override_value(key, text)
        except _Invalid as exc:
            report.error((key,), exc.message, value=text.strip())
            continue
        touched.add(key)
        if key == "part_eleve":
            data.pop("tranches_eleve", None)
            data.pop("tranches", None)
        elif key == "tranches_eleve":
            data.pop("part_eleve", None)
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    checked = _Report(source)
    result = _build_tariff(tariff.annee, data, checked, ())
    problems = report.problems + [p for p in checked.problems
                                  if p.is_error or p.column in touched or (p.column is None and touched)]
    return (None if P.errors_of(problems) else result), problems


def with_rate(tariff: Tariff, parameter: str, units: int) -> Tariff:
    """The same tariff with one unit price (or part_fixe in cents) replaced: used by the rate solver."""
    if parameter == "part_eleve":
        return replace(tariff, part_eleve_units=units, tranches=())
    if parameter == "part_ecole":
        return replace(tariff, part_ecole_units=units)
    if parameter == "part_fixe":
        return replace(tariff, part_fixe_cents=units)
    raise ValueError(parameter)


# --------------------------------------------------------------------------- showing a tariff


def tariff_to_dict(tariff: Tariff) -> dict[str, Any]:
    """JSON-friendly form for manifests and --json: money as strings with their decimals (« 1.20 », « 1.4375 »)."""
    data = {"annee": tariff.annee, **tariff_source(tariff)}
    if tariff.date_emission:
        data["date_emission"] = tariff.date_emission.isoformat()
    return data


def _percent(weight: Fraction) -> str:
    text = _fraction_text(weight * 100)
    if "/" in text:
        text = str((Decimal(weight.numerator) * 100 / Decimal(weight.denominator)).quantize(Decimal("0.01")))
        return f"{text.replace('.', ',')} % ({_fraction_text(weight)})"
    return f"{text.replace('.', ',')} %"


def describe_tariff(tariff: Tariff) -> list[tuple[str, str]]:
    """(French label, display value) pairs for the « Paramètres » sheet and the notices."""
    rows = [("Exercice", str(tariff.annee)),
            ("Délibération", tariff.deliberation),
            ("Effectifs de la rentrée", f"{tariff.rentree} (année scolaire {tariff.rentree}-{tariff.rentree + 1})"),
            ("Mode", "barème" if tariff.mode == "bareme" else "répartition d'un montant total")]
    if tariff.mode == "repartition":
        rows.append(("Montant à répartir", format_euros(tariff.montant_total_cents or 0)))
        for criterion, weight in tariff.poids:
            rows.append((f"Poids du critère « {CRITERION_LABELS.get(criterion, criterion)} »", _percent(weight)))
    else:
        rows.append(("Part fixe par commune", format_euros(tariff.part_fixe_cents)))
        rows.append(("Part par école publique", format_rate(tariff.part_ecole_units)))
        if tariff.tranches:
            low = 1
            for index, band in enumerate(tariff.tranches, start=1):
                upper = f"à {band.jusqu_a}" if band.jusqu_a is not None else "et au-delà"
                rows.append((f"Tranche {index} (élèves {low} {upper})", format_rate(band.rate_units)))
                low = (band.jusqu_a or 0) + 1
            rows.append(("Calcul des tranches", BAND_MODE_LABELS.get(tariff.tranches_mode, tariff.tranches_mode)))
        else:
            rows.append(("Part par élève", format_rate(tariff.part_eleve_units or 0)))
        rows.append(("Plancher", format_euros(tariff.plancher_cents) if tariff.plancher_cents is not None else "aucun"))
        rows.append(("Plafond", format_euros(tariff.plafond_cents) if tariff.plafond_cents is not None else "aucun"))
    rows.append(("Prorata temporis", PRORATA_LABELS.get(tariff.prorata, tariff.prorata)))
    rows.append(("Échéance", f"{tariff.echeance_jours} jours après l'émission"))
    if tariff.imputation:
        rows.append(("Imputation", f"compte {tariff.imputation}"))
    if tariff.date_emission:
        rows.append(("Date d'émission", f"{tariff.date_emission:%d/%m/%Y}"))
    return rows
