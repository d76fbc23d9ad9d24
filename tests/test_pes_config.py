"""The [pes] table of syndicat.toml: one test per rule, exact French messages."""

from __future__ import annotations

import tomllib

import pytest

from billing.core.pes_model import PesAddress
from billing.inputs.pes_config import read_pes

SIRET = "25590019600031"
FILE = "inputs/syndicat.toml"

GOOD = """
[pes]
id_post = "059000"
cod_col = "123"
cod_bud = "00"
cod_prod_loc = "ENT"
ref_bdf = "123456"
[pes.centre_encaissement]
adresse = "TSA 50000, 35908 Rennes Cedex 9"
[pes.centre_finances]
nom = "Service de gestion comptable de Lille Métropole"
adresse = "82 avenue Kennedy, 59000 Lille"
"""


def table(text: str = GOOD, **changes) -> dict:
    data = tomllib.loads(text)["pes"]
    for key, new in changes.items():
        if new is None:
            data.pop(key, None)
        else:
            data[key] = new
    return data


def problems_of(data, siret=SIRET):
    config, problems = read_pes(data, display=FILE, siret=siret)
    return config, problems


def only(problems, column):
    found = [p for p in problems if p.column == column]
    assert found, [p.render() for p in problems]
    return found[0]


def test_good_table_and_defaults():
    config, problems = problems_of(table())
    assert problems == []
    assert (config.id_post, config.cod_col, config.cod_bud, config.cod_prod_loc) == ("059000", "123", "00", "ENT")
    assert config.id_coll == SIRET  # default: the syndicate's SIRET
    assert config.fonction is None and config.edition is None
    assert config.centre_encaissement.nom == "CENTRE D'ENCAISSEMENT"
    assert config.centre_finances.adresse == PesAddress(("82 avenue Kennedy",), "59000", "Lille")


def test_absent_table_means_no_export():
    assert read_pes(None, display=FILE, siret=SIRET) == (None, [])


@pytest.mark.parametrize("bad", ["59000", "05900012", "05900A"])
def test_id_post_six_or_seven_digits(bad):
    config, problems = problems_of(table(id_post=bad))
    assert config is None
    problem = only(problems, "pes.id_post")
    assert problem.is_error and problem.value == bad
    assert "6 ou 7 chiffres" in problem.message


def test_seven_digit_id_post_accepted():
    config, _ = problems_of(table(id_post="0590001"))
    assert config.id_post == "0590001"


def test_code_typed_as_a_number_is_refused_with_the_fix():
    _, problems = problems_of(table(cod_col=123))
    problem = only(problems, "pes.cod_col")
    assert problem.message.startswith("écrivez ce code entre guillemets")
    assert problem.suggestion == 'Exemple : cod_col = "123"'


@pytest.mark.parametrize("key, bad", [("cod_col", "12"), ("cod_bud", "0A"), ("cod_bud", "000"),
                                      ("cod_prod_loc", "ENT-1"), ("fonction", "21.3"), ("ref_bdf", "A" * 14)])
def test_formats(key, bad):
    config, problems = problems_of(table(**{key: bad}))
    assert config is None
    assert only(problems, f"pes.{key}").message.startswith("valeur invalide")


def test_cod_bud_letter_then_digit_accepted():
    config, _ = problems_of(table(cod_bud="B1", fonction="213"))
    assert (config.cod_bud, config.fonction) == ("B1", "213")


@pytest.mark.parametrize("key", ["id_post", "cod_col", "cod_bud", "cod_prod_loc", "ref_bdf"])
def test_required_keys(key):
    _, problems = problems_of(table(**{key: None}))
    problem = only(problems, f"pes.{key}")
    assert problem.message.startswith("clé manquante")
    assert problem.suggestion.startswith("Ajoutez par exemple")


def test_id_coll_key_checked():
    _, problems = problems_of(table(id_coll="25590019600032"))
    assert "clé de contrôle du SIRET fausse" in only(problems, "pes.id_coll").message
    config, _ = problems_of(table(id_coll="255 900 196 00031"))
    assert config.id_coll == "25590019600031"
    _, problems = problems_of(table(id_coll="1234"))
    assert only(problems, "pes.id_coll").message == "le SIRET de la collectivité compte 14 chiffres"


def test_id_coll_needed_when_the_syndicate_siret_is_unknown():
    _, problems = problems_of(table(), siret="")
    assert only(problems, "pes.id_coll").message.startswith("clé manquante")


@pytest.mark.parametrize("good", ["01", "02"])
def test_edition_values(good):
    config, _ = problems_of(table(edition=good))
    assert config.edition == good


def test_edition_other_value_refused():
    _, problems = problems_of(table(edition="1"))
    assert only(problems, "pes.edition").value == "1"


def test_centres_need_an_address_with_postal_code():
    data = table()
    data["centre_finances"] = {"nom": "SGC Lille", "adresse": "82 avenue Kennedy Lille"}
    del data["centre_encaissement"]
    _, problems = problems_of(data)
    assert "voie, code postal (5 chiffres) ville" in only(problems, "pes.centre_finances.adresse").message
    assert only(problems, "pes.centre_encaissement").message.startswith("section manquante")


def test_centre_finances_needs_a_name_and_a_street():
    data = table()
    data["centre_finances"] = {"adresse": "59000 Lille"}
    _, problems = problems_of(data)
    assert only(problems, "pes.centre_finances.nom").message.startswith("clé manquante ou vide")
    assert "la voie" in only(problems, "pes.centre_finances.adresse").message


def test_centre_must_be_a_table():
    _, problems = problems_of(table(centre_finances="SGC Lille"))
    assert only(problems, "pes.centre_finances").message.startswith("« centre_finances » doit être une section")


def test_unknown_keys_are_warnings_with_a_suggestion():
    data = table(cod_bugd="00")
    data["centre_finances"]["telephone"] = "03 20 00 00 00"
    config, problems = problems_of(data)
    assert config is not None
    warning = only(problems, "pes.cod_bugd")
    assert not warning.is_error and warning.suggestion == "Vouliez-vous dire « cod_bud » ?"
    assert not only(problems, "pes.centre_finances.telephone").is_error


def test_all_problems_at_once():
    _, problems = problems_of(table(id_post="1", cod_col="x", cod_bud=None))
    assert {p.column for p in problems if p.is_error} == {"pes.id_post", "pes.cod_col", "pes.cod_bud"}
    assert all(p.file == FILE for p in problems)


def test_pes_not_a_table():
    config, problems = read_pes("oui", display=FILE, siret=SIRET)
    assert config is None and problems[0].message == "« pes » doit être une section [pes]"
