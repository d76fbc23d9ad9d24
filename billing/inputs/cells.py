"""Typing text cells: French numbers, dates, INSEE codes, UAI, SIRET -> typed columns.

No float ever: decimals stay canonical Decimal strings. Every cell that does not parse
becomes null plus one problem naming its row, column and value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Mapping

import polars as pl

from billing.core.money import MoneyError, parse_decimal_text
from billing.core.problems import Problem
from billing.inputs.grid import Table, _SPACES, _error, _sentence, _warning, fold_header


MANY_WARNINGS = 10  # beyond this, one warning per column instead of one per cell
MAX_DETAILS = 100  # errors per column: beyond, the bad cells are counted, not listed


@dataclass(frozen=True)
class _Parsed:
    value: object = None  # None: refused
    message: str | None = None  # error (or warning) text, the value in « »
    suggestion: str | None = None
    warning: bool = False


_OK_INT = re.compile(r"^[+-]?[\d.,]+$")
_AMBIGUOUS_THOUSANDS = re.compile(r"^[+-]?\d{1,3}([.,]\d{3})+$")
_OK_DECIMAL = re.compile(r"^[+-]?(\d[\d.,]*|[.,]\d+)$")
_ISO_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DMY_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d+)(?: +\d{1,2}:\d{2}(?::\d{2})?)?$")
_SERIAL = re.compile(r"^\d{1,7}(?:[.,]\d+)?$")
_WORD_DATE = re.compile(r"^(\d{1,2})(?:er)?\s+([a-z]+)\.?\s+(\d{4})$")
_MONTHS = {
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4, "avr": 4, "mai": 5,
    "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9, "sept": 9, "octobre": 10, "oct": 10,
    "novembre": 11, "nov": 11, "decembre": 12, "dec": 12,
}
_EXCEL_EPOCH = date(1899, 12, 30)  # 1900 date system, past its fictitious 29/02/1900 (serial 60)
_LAST_SERIAL = 2_958_465  # 31/12/9999
DATE_HINT = "Écrivez la date au format JJ/MM/AAAA (par exemple 13/12/2023)."


def _parse_int(text: str) -> _Parsed:
    if text.isascii() and text.isdigit():
        return _Parsed(int(text))
    compact = _SPACES.sub("", text)
    if _AMBIGUOUS_THOUSANDS.match(compact):
        digits = re.sub(r"[.,]", "", compact)
        grouped = f"{int(digits):,}".replace(",", " ")
        return _Parsed(message=f"« {text} » : séparateur de milliers ambigu (nombre entier attendu)",
                       suggestion=f"Écrivez {digits} ou {grouped} si c'est bien ce nombre.")
    if _OK_INT.match(compact):
        try:
            number = parse_decimal_text(compact)
        except MoneyError:
            number = None
        if number is not None and number == number.to_integral_value():
            return _Parsed(int(number))
    return _Parsed(message=f"« {text} » n'est pas un nombre entier")


def _parse_decimal(text: str) -> _Parsed:
    compact = _SPACES.sub("", text).replace("€", "").replace("EUR", "").replace("eur", "")
    if _OK_DECIMAL.match(compact):
        try:
            number = parse_decimal_text(compact)
        except MoneyError:
            number = None
        if number is not None:
            if number == 0:
                number = number.copy_abs()
            return _Parsed(format(number, "f"))
    return _Parsed(message=f"« {text} » n'est pas un nombre",
                   suggestion="Écrivez par exemple 1 234,56 ou 1234.56.")


def _parse_date(text: str) -> _Parsed:
    compact = text.strip()
    iso = _ISO_DATE.match(compact)
    if iso:
        return _make_date(text, int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    dmy = _DMY_DATE.match(compact)
    if dmy:
        day, month, year = dmy.group(1), dmy.group(2), dmy.group(3)
        if len(year) == 2:
            return _Parsed(message=f"« {text} » : l'année doit avoir 4 chiffres",
                           suggestion=f"Écrivez « {int(day):02d}/{int(month):02d}/20{year} » (ou 19{year}).")
        if len(year) == 4:
            return _make_date(text, int(year), int(month), int(day))
    words = _WORD_DATE.match(fold_header(compact).replace("_", " "))
    if words and words.group(2) in _MONTHS:
        return _make_date(text, int(words.group(3)), _MONTHS[words.group(2)], int(words.group(1)))
    if _SERIAL.match(compact):
        serial = int(compact.replace(",", ".").split(".")[0])
        if len(compact) == 4 and 1900 <= serial <= 2100:
            return _Parsed(message=f"« {text} » : une année seule n'est pas une date",
                           suggestion=f"Indiquez le jour, par exemple « 01/01/{serial} ».")
        if serial == 60:
            return _Parsed(message=f"« {text} » : date impossible (le 29/02/1900 d'Excel n'existe pas)",
                           suggestion=DATE_HINT)
        if 1 <= serial <= _LAST_SERIAL:
            return _Parsed(_EXCEL_EPOCH + timedelta(days=serial + (1 if serial < 60 else 0)))
    return _Parsed(message=f"« {text} » n'est pas une date", suggestion=DATE_HINT)


def _make_date(text: str, year: int, month: int, day: int) -> _Parsed:
    try:
        return _Parsed(date(year, month, day))
    except ValueError:
        return _Parsed(message=f"« {text} » : date impossible",
                       suggestion="Vérifiez le jour et le mois (format JJ/MM/AAAA).")


def _parse_code_insee(text: str) -> _Parsed:
    code = _SPACES.sub("", text).upper()
    if re.fullmatch(r"\d{5}|2[AB]\d{3}", code):
        return _Parsed(code)
    if re.fullmatch(r"\d{4}", code):
        return _Parsed(f"0{code}", message=f"« {text} » : le zéro initial a été rétabli (« 0{code} »)",
                       warning=True)
    return _Parsed(message=f"« {text} » n'est pas un code INSEE (5 caractères, par exemple 59350 ou 2A004)")


def _parse_uai(text: str) -> _Parsed:
    code = _SPACES.sub("", text).upper()
    if re.fullmatch(r"\d{7}[A-Z]", code):
        return _Parsed(code)
    return _Parsed(message=f"« {text} » n'est pas un UAI (7 chiffres et une lettre, par exemple 0350103X)")


def _parse_siret(text: str) -> _Parsed:
    code = _SPACES.sub("", text)
    if re.fullmatch(r"\d{14}", code):
        return _Parsed(code)
    hint = ("C'est un SIREN (9 chiffres) : ajoutez les 5 chiffres de l'établissement (NIC)."
            if re.fullmatch(r"\d{9}", code) else None)
    return _Parsed(message=f"« {text} » n'est pas un SIRET (14 chiffres)", suggestion=hint)


_PARSERS: dict[str, tuple[Callable[[str], _Parsed], pl.DataType]] = {
    "int": (_parse_int, pl.Int64),
    "decimal": (_parse_decimal, pl.Utf8),
    "date": (_parse_date, pl.Date),
    "code_insee": (_parse_code_insee, pl.Utf8),
    "uai": (_parse_uai, pl.Utf8),
    "siret": (_parse_siret, pl.Utf8),
}


def coerce(table: Table, types: Mapping[str, str]) -> tuple[pl.DataFrame, list[Problem]]:
    """Type the named text columns; every cell that does not parse becomes null plus one located problem.

    Kinds: text, int, decimal (kept as a canonical Decimal string: no float ever), date,
    code_insee, uai, siret (format only). Each distinct value is parsed once, then mapped.
    """
    frame = table.frame
    problems: list[Problem] = []
    typed = []
    for name, kind in types.items():
        if kind != "text" and kind not in _PARSERS:
            raise ValueError(f"type de colonne inconnu : {kind!r}")
        if kind == "text" or name not in frame.columns:
            continue
        parse, dtype = _PARSERS[kind]
        results = {value: parse(value) for value in frame.get_column(name).drop_nulls().unique().to_list()}
        mapping = {value: r.value for value, r in results.items() if r.value is not None}
        typed.append(pl.col(name).replace_strict(mapping, default=None, return_dtype=dtype))
        flagged = {value: r for value, r in results.items() if r.message}
        if flagged:
            problems += _coerce_problems(table, name, flagged)
    return (frame.with_columns(typed) if typed else frame), problems


def _coerce_problems(table: Table, name: str, flagged: Mapping[str, _Parsed]) -> list[Problem]:
    header = table.headers.get(name, name)
    cells = table.frame.filter(pl.col(name).is_in(list(flagged))).select("_row", name).sort("_row")
    letter = table.letters.get(name)
    errors, warnings = [], []
    error_count = 0
    for row, value in cells.iter_rows():
        parsed = flagged[value]
        if not parsed.warning:
            error_count += 1
            if error_count > MAX_DETAILS:
                continue  # counted, not kept: 300 000 bad cells must not make 300 000 messages
        message = parsed.message
        if letter and table.sheet:
            message = f"feuille « {table.sheet} », cellule {letter}{row} : {message}"
        severity = "avertissement" if parsed.warning else "erreur"
        problem = Problem(table.display, row, header, _sentence(message, parsed.suggestion), value,
                          parsed.suggestion, severity)
        (warnings if parsed.warning else errors).append(problem)
    if error_count > MAX_DETAILS:
        errors.append(_error(table.display, None, header,
                             f"{error_count - MAX_DETAILS} autres valeurs refusées dans cette colonne (seules les "
                             f"{MAX_DETAILS} premières sont détaillées ; {error_count} en tout)",
                             suggestion="Vérifiez que la colonne contient bien ce qu'annonce son en-tête."))
    if len(warnings) > MANY_WARNINGS:  # e.g. a whole département typed as numbers: one line, not thousands
        rows = [w.row for w in warnings]
        shown = ", ".join(str(r) for r in rows[:8]) + (f"… (+{len(rows) - 8})" if len(rows) > 8 else "")
        warnings = [_warning(table.display, rows[0], header,
                             f"le zéro initial a été rétabli dans {len(rows)} codes à 4 chiffres (lignes {shown})",
                             suggestion="Mettez la colonne au format Texte dans Excel pour garder les zéros.")]
    return errors + warnings
