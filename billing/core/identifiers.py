"""Check keys of the identifiers the inputs carry: UAI, SIREN/SIRET, IBAN, BIC.

A typo in one of these goes unnoticed until a Treasury rejection; the keys catch it at
reading time. Functions are pure and answer yes/no; the readers word the message.
"""

from __future__ import annotations

import re

UAI_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # 23 letters: no I, O, Q
LA_POSTE_SIREN = "356000000"
LA_POSTE_HEAD_OFFICE_SIRET = "35600000000048"  # the one La Poste SIRET that follows Luhn

# ISO 13616 lengths of the countries a French public accountant's account can be in (SEPA, common).
IBAN_LENGTHS = {
    "FR": 27, "MC": 27, "DE": 22, "BE": 16, "LU": 20, "NL": 18, "ES": 24, "IT": 27, "PT": 25,
    "CH": 21, "GB": 22, "IE": 22, "AT": 20,
}


def compact(text: str) -> str:
    """An identifier as typed (« FR76 3000 1007 … », « 255 900 196 00031 ») without its spaces."""
    return re.sub(r"[\s\u00a0\u202f]", "", text)


def uai_key(number: str) -> str:
    """The key letter of a 7-digit UAI number: UAI_LETTERS[n mod 23]."""
    return UAI_LETTERS[int(number) % 23]


def uai_key_ok(uai: str) -> bool:
    """0350103X: 7 digits then the key letter of those digits (case-insensitive)."""
    if not isinstance(uai, str) or not re.fullmatch(r"\d{7}[A-Za-z]", uai):
        return False
    return uai[7].upper() == uai_key(uai[:7])


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of SIREN (9 digits) and SIRET (14 digits).

    La Poste's establishments all share the SIREN 356 000 000 and are too many for
    Luhn keys: their SIRET is valid when the sum of its 14 digits is a multiple of 5
    (INSEE rule); only the head office, 356 000 000 00048, follows Luhn.
    """
    if not isinstance(digits, str) or not digits.isascii() or not digits.isdigit():
        return False
    if len(digits) == 14 and digits.startswith(LA_POSTE_SIREN) and digits != LA_POSTE_HEAD_OFFICE_SIRET:
        return sum(int(d) for d in digits) % 5 == 0
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def siren_ok(text: str) -> bool:
    """9 digits with a valid Luhn key (spaces allowed)."""
    digits = compact(text)
    return len(digits) == 9 and luhn_ok(digits)


def siret_ok(text: str) -> bool:
    """14 digits with a valid key over all 14 (Luhn, or La Poste's rule); spaces allowed."""
    digits = compact(text)
    return len(digits) == 14 and luhn_ok(digits)


def iban_ok(text: str) -> bool:
    """ISO 13616: country, 2 key digits, account; the mod-97 remainder is 1 (spaces allowed)."""
    iban = compact(text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", iban):
        return False
    if IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    return iban_remainder(iban) == 1


def iban_remainder(iban: str) -> int:
    """The mod-97 remainder of an IBAN (letters A=10 … Z=35, first four characters moved to the end)."""
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in moved)) % 97


def bic_ok(text: str) -> bool:
    """A BIC (ISO 9362): bank (4 letters), country (2 letters), place (2), optional branch (3)."""
    return bool(re.fullmatch(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?", compact(text).upper()))
