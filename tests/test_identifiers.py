"""Check keys of UAI, SIREN/SIRET, IBAN and BIC, on real values and by properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.core.identifiers import (
    UAI_LETTERS,
    bic_ok,
    iban_ok,
    iban_remainder,
    luhn_ok,
    siren_ok,
    siret_ok,
    uai_key,
    uai_key_ok,
)

# --------------------------------------------------------------------------- UAI


@pytest.mark.parametrize("uai", ["0350103X", "0351981N", "0352358Y", "0351728N", "0350103x"])
def test_real_uai_from_the_education_extract_pass(uai):
    # the first four are rows of fr-en-ecoles-effectifs-nb_classes (Acigné, Amanlis), the last in lower case
    assert uai_key_ok(uai)


@pytest.mark.parametrize("uai", ["0350103Y", "0350104X", "350103X", "00350103X", "035010XX", "0350103", "", "0350103-"])
def test_wrong_or_malformed_uai_fail(uai):
    assert not uai_key_ok(uai)


def test_uai_key_is_the_letter_of_n_mod_23():
    assert uai_key("0350103") == "X"  # 350103 = 23 × 15221 + 20 -> UAI_LETTERS[20]
    assert UAI_LETTERS[350103 % 23] == "X"
    assert uai_key("0000000") == "A" and uai_key("0000022") == "Z"
    assert len(UAI_LETTERS) == 23 and not set("IOQ") & set(UAI_LETTERS)


@given(st.integers(0, 9_999_999))
def test_a_number_with_its_computed_key_always_passes(number):
    digits = f"{number:07d}"
    assert uai_key_ok(digits + UAI_LETTERS[number % 23])


@given(st.integers(0, 9_999_999), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
def test_any_other_letter_fails(number, letter):
    digits = f"{number:07d}"
    assert uai_key_ok(digits + letter) == (letter == UAI_LETTERS[number % 23])


# --------------------------------------------------------------------------- SIREN / SIRET


def test_the_syndicate_siret_of_the_contract_is_luhn_valid():
    assert luhn_ok("25590019600031")
    assert siret_ok("25590019600031")
    assert siret_ok("255 900 196 00031")


@pytest.mark.parametrize("text", ["25590019600032", "25590019600013", "2559001960003", "255900196000310",
                                  "2559001960003A", ""])
def test_wrong_siret_fail(text):
    assert not siret_ok(text)


def test_siren_and_siret_of_the_insee_example():
    # INSEE's own example: 732 829 320, seventh establishment 00074
    assert siren_ok("732829320") and siren_ok("732 829 320")
    assert siret_ok("73282932000074")
    assert not siren_ok("732829321")
    assert not siren_ok("73282932")


def test_la_poste_sirets_use_the_sum_of_digits_rule():
    assert siren_ok("356000000")
    assert siret_ok("35600000000048")  # the head office: the one La Poste SIRET that follows Luhn
    # an establishment: digit sum 45, a multiple of 5, although its Luhn sum is not a multiple of 10
    assert siret_ok("35600000049837") and not _luhn_reference("35600000049837")
    # Luhn-valid but digit sum 24: refused under La Poste's rule
    assert _luhn_reference("35600000000055") and not siret_ok("35600000000055")


def _luhn_reference(digits: str) -> bool:
    """Independent Luhn: double every second digit from the right, sum the digits of the products."""
    total = 0
    for position, char in enumerate(digits[::-1]):
        product = int(char) * (2 if position % 2 else 1)
        total += product // 10 + product % 10
    return total % 10 == 0


def _luhn_complete(body: str) -> str:
    return next(body + key for key in "0123456789" if _luhn_reference(body + key))


@given(st.text("0123456789", min_size=13, max_size=13).filter(lambda s: not s.startswith("356000000")),
       st.integers(0, 13), st.integers(1, 9))
def test_a_single_wrong_digit_is_always_caught(body, position, shift):
    siret = _luhn_complete(body)
    assert siret_ok(siret)
    changed = siret[:position] + str((int(siret[position]) + shift) % 10) + siret[position + 1:]
    assert not siret_ok(changed)


# --------------------------------------------------------------------------- IBAN / BIC


@pytest.mark.parametrize("iban", ["FR7630001007941234567890185", "FR76 3000 1007 9412 3456 7890 185",
                                  "fr76 3000 1007 9412 3456 7890 185", "DE89370400440532013000",
                                  "GB82WEST12345698765432"])
def test_valid_iban_pass(iban):
    assert iban_ok(iban)


@pytest.mark.parametrize("iban", ["FR7630001007941234567890186", "FR7730001007941234567890185",
                                  "FR763000100794123456789018", "FR76300010079412345678901850", "7630001007941234567890185",
                                  "FRXX30001007941234567890185", ""])
def test_invalid_iban_fail(iban):
    assert not iban_ok(iban)


@given(st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=23, max_size=23), st.data())
def test_computed_french_iban_pass_and_one_wrong_digit_fails(bban, data):
    key = 98 - iban_remainder("FR00" + bban)
    iban = f"FR{key:02d}{bban}"
    assert iban_ok(iban)
    positions = [i for i, c in enumerate(iban) if i >= 2 and c.isdigit()]
    position = data.draw(st.sampled_from(positions))
    shift = data.draw(st.integers(1, 9))
    changed = iban[:position] + str((int(iban[position]) + shift) % 10) + iban[position + 1:]
    assert not iban_ok(changed)


@pytest.mark.parametrize("bic,ok", [("BDFEFRPPCCT", True), ("BDFEFRPP", True), ("bdfe fr pp cct", True),
                                    ("BDFEFRPPCC", False), ("BDFE1RPPCCT", False), ("BDFEFRPPCCTX", False)])
def test_bic(bic, ok):
    assert bic_ok(bic) is ok
