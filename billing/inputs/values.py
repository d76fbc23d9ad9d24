"""One converter per kind of TOML value (text, year, amount, unit price, bands, weights, SIRET, IBAN…).

A converter returns the value in the program's units (integer cents, 1/10 000 €, Fraction)
or raises ``_Invalid`` with the French reason. The file and the ``simulate --set``
overrides share them, so they share the rules and the messages.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, Callable, Sequence

from billing.core.identifiers import IBAN_LENGTHS, bic_ok, compact, iban_ok, siret_ok
from billing.core.model import CRITERIA, Band, Strate
from billing.core.money import MoneyError, decimal_to_cents, decimal_to_rate_units, format_euros, parse_decimal_text
from billing.inputs.tomlfile import _Invalid, _closest, _fold, _fraction_display, _show


BAND_KEYS = ("jusqu_a", "prix")
FIRST_YEAR, LAST_YEAR = 1990, 2100
MAX_AMOUNT = Decimal(1_000_000_000)  # € — far above any syndicate budget, far below Int64 cents
MAX_RATE = Decimal(1_000_000)  # € per pupil or school


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


STRATE_KEYS = ("jusqu_a", "montant")


def _strates(value: Any, complain: Callable[[str], None]) -> tuple[Strate, ...] | None:
    """[{jusqu_a = 499, montant = "50.00"}, …, {montant = "300.00"}]: population bands, bounds inclusive and
    increasing, the last one without bound; every problem reported, not just the first."""
    example = "[{jusqu_a = 499, montant = \"50.00\"}, …, {montant = \"300.00\"}]"
    if not isinstance(value, list) or not value:
        complain(f"une liste de strates de population est attendue : {example}")
        return None
    strates: list[Strate] = []
    failed = False
    previous: int | None = None
    for index, item in enumerate(value, start=1):
        last = index == len(value)
        if not isinstance(item, dict):
            complain(f"strate {index} : une table {{jusqu_a = …, montant = …}} est attendue")
            failed = True
            continue
        for key in item:
            if key not in STRATE_KEYS:
                near = _closest(key, STRATE_KEYS)
                complain(f"strate {index} : clé « {key} » inconnue (attendu : jusqu_a, montant)"
                         + (f" ; vouliez-vous dire « {near} » ?" if near else ""))
                failed = True
        amount = None
        if "montant" not in item:
            complain(f"strate {index} : « montant » manque")
            failed = True
        else:
            try:
                amount = _amount(item["montant"])
            except _Invalid as exc:
                complain(f"strate {index}, montant « {_show(item['montant'])} » : {exc.message}")
                failed = True
        bound = item.get("jusqu_a")
        if bound is None:
            if not last:
                complain(f"strate {index} : seule la dernière strate peut être sans « jusqu_a »")
                failed = True
        else:
            try:
                bound = _integer(bound, 0, 100_000_000)
            except _Invalid as exc:
                complain(f"strate {index}, jusqu_a « {_show(bound)} » : {exc.message} (un nombre d'habitants)")
                failed, bound = True, None
            if bound is not None and previous is not None and bound <= previous:
                complain(f"strate {index} : « jusqu_a » ({bound}) doit dépasser celui de la strate précédente "
                         f"({previous}) : les strates vont croissant")
                failed = True
            if bound is not None:
                previous = bound
            if last:
                complain("la dernière strate ne doit pas avoir de « jusqu_a » : elle couvre toutes les populations "
                         "au-delà (ajoutez une dernière strate {montant = \"…\"})")
                failed = True
        if amount is not None:
            strates.append(Strate(bound, amount))
    return None if failed else tuple(strates)


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
