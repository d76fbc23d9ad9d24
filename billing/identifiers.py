"""Check keys of the identifiers the inputs carry: UAI, SIREN/SIRET, IBAN."""

from __future__ import annotations

import re

UAI_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
LA_POSTE_SIREN = "356000000"


def uai_key(number: str) -> str:
    """The key letter of a 7-digit UAI number: UAI_LETTERS[n mod 23]."""
    return UAI_LETTERS[int(number) % 23]


def uai_key_ok(uai: str) -> bool:
    """0350103X: 7 digits then the key letter of those digits."""
    if not isinstance(uai, str) or not re.fullmatch(r"\d{7}[A-Z]", uai.upper()):
        return False
    return uai[7].upper() == uai_key(uai[:7])


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of SIREN (9 digits) and SIRET (14); La Poste's SIRETs use the sum-of-digits rule."""
    if not digits.isdigit():
        return False
    if len(digits) == 14 and digits.startswith(LA_POSTE_SIREN) and digits != LA_POSTE_SIREN + "00016":
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


def siret_ok(text: str) -> bool:
    digits = re.sub(r"\s", "", text)
    return len(digits) == 14 and luhn_ok(digits)


def iban_ok(text: str) -> bool:
    """ISO 13616 mod-97 check (spaces allowed)."""
    iban = re.sub(r"\s", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", iban):
        return False
    moved = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def bic_ok(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?", text.strip().upper()))
