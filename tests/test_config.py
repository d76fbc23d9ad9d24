"""syndicat.toml and tarifs.toml: exact values, one failing fixture per rule with its exact message,
and the --set overrides going through the same validation."""

from __future__ import annotations

import json
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.inputs.config import (
    Tariffs,
    apply_overrides,
    describe_tariff,
    read_syndicat,
    read_tariffs,
    tariff_for_year,
    tariff_to_dict,
)
from billing.core.model import Band, Syndicat, Tariff
from billing.core.problems import render_list

SYNDICAT = """\
[syndicat]
nom = "Syndicat mixte Nord - Pas-de-Calais Numérique"
adresse = "151 avenue du Président Hoover, 59555 Lille Cedex"
siret = "25590019600031"
president = "Christophe COULON"
qualite = "Président"
prefixe_titre = "ENT"
delai_paiement_jours = 30
tribunal = "Tribunal administratif de Lille"
imputation = "7474"
[comptable]
nom = "Service de gestion comptable de Lille Métropole"
iban = "FR7630001007941234567890185"
bic = "BDFEFRPPCCT"
"""

MINIMAL_SYNDICAT = """\
[syndicat]
nom = "S"
adresse = "A"
siret = "25590019600031"
president = "P"
[comptable]
nom = "C"
iban = "FR7630001007941234567890185"
bic = "BDFEFRPPCCT"
"""

HEAD = '[2024]\ndeliberation = "2023-05 du 13 décembre 2023"\nrentree = 2023\n'  # lines 1-3

EUR = "\u00a0€"  # format_euros ends with a no-break space and the euro sign
NNBSP = "\u202f"  # French thousands separator


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def syndicat(tmp_path, text):
    return read_syndicat(write(tmp_path, text, "syndicat.toml"), display="inputs/syndicat.toml")


def tariffs(tmp_path, text):
    return read_tariffs(write(tmp_path, text, "tarifs.toml"), display="inputs/tarifs.toml")


def tariff_2024(tmp_path, body, head=HEAD):
    found, problems = tariffs(tmp_path, head + body)
    return found.get(2024), render_list(problems)


def lines(problems):
    return render_list(problems)


# --------------------------------------------------------------------------- syndicat.toml


def test_the_contract_example_reads_exactly(tmp_path):
    value, problems = syndicat(tmp_path, SYNDICAT)
    assert problems == []
    assert value == Syndicat(
        nom="Syndicat mixte Nord - Pas-de-Calais Numérique",
        adresse="151 avenue du Président Hoover, 59555 Lille Cedex", siret="25590019600031",
        president="Christophe COULON", qualite="Président", prefixe_titre="ENT", delai_paiement_jours=30,
        tribunal="Tribunal administratif de Lille", imputation="7474",
        comptable_nom="Service de gestion comptable de Lille Métropole", iban="FR7630001007941234567890185",
        bic="BDFEFRPPCCT")


def test_optional_keys_take_their_defaults(tmp_path):
    value, problems = syndicat(tmp_path, MINIMAL_SYNDICAT)
    assert problems == []
    assert (value.qualite, value.prefixe_titre, value.delai_paiement_jours, value.tribunal, value.imputation) == (
        "Président", "ENT", 30, "Tribunal administratif de Lille", None)


def test_identifiers_typed_with_spaces_or_as_numbers_are_normalised(tmp_path):
    text = (MINIMAL_SYNDICAT.replace('"25590019600031"', "25590019600031")
            .replace('"FR7630001007941234567890185"', '"fr76 3000 1007 9412 3456 7890 185"')
            .replace('"BDFEFRPPCCT"', '"bdfefrppcct"'))
    value, problems = syndicat(tmp_path, text)
    assert problems == []
    assert (value.siret, value.iban, value.bic) == ("25590019600031", "FR7630001007941234567890185", "BDFEFRPPCCT")


def test_missing_file(tmp_path):
    value, problems = read_syndicat(tmp_path / "syndicat.toml", display="inputs/syndicat.toml")
    assert value is None
    assert lines(problems) == [
        "inputs/syndicat.toml : fichier introuvable. « ent-bill init » crée un dossier d'exemple complet."]


def test_invalid_toml_is_one_french_error_on_its_line(tmp_path):
    value, problems = syndicat(tmp_path, MINIMAL_SYNDICAT.replace('president = "P"', "president = Christophe COULON"))
    assert value is None
    assert lines(problems) == [
        "inputs/syndicat.toml, ligne 5, colonne « syndicat.president » : « president = Christophe COULON » : "
        "syntaxe TOML invalide au caractère 13 : valeur illisible (un texte s'écrit entre guillemets). "
        "Écrivez : president = \"Christophe COULON\""]


def test_accented_key_is_a_syntax_error_with_the_plain_key_suggested(tmp_path):
    value, problems = syndicat(tmp_path, MINIMAL_SYNDICAT.replace('president = "P"', 'president = "P"\nqualité = "Présidente"'))
    assert value is None
    assert lines(problems) == [
        "inputs/syndicat.toml, ligne 6 : « qualité = \"Présidente\" » : syntaxe TOML invalide au caractère 7 : "
        "« = » attendu après le nom de la clé. Les noms de clé s'écrivent sans accents : qualite = \"Présidente\""]


def test_file_not_in_utf8(tmp_path):
    path = tmp_path / "syndicat.toml"
    path.write_bytes(MINIMAL_SYNDICAT.replace('"S"', '"Numérique"').encode("cp1252"))
    value, problems = read_syndicat(path, display="inputs/syndicat.toml")
    assert value is None
    assert lines(problems) == ["inputs/syndicat.toml : le fichier n'est pas encodé en UTF-8. "
                               "Enregistrez-le en UTF-8 (« Enregistrer sous », codage UTF-8)."]


def test_unknown_keys_are_warnings_with_the_nearest_key(tmp_path):
    text = MINIMAL_SYNDICAT.replace('president = "P"', 'president = "P"\npresidnet = "Q"\ncouleur = "bleu"')
    value, problems = syndicat(tmp_path, text + "[banque]\n")
    assert value is not None and value.president == "P"
    assert lines(problems) == [
        "inputs/syndicat.toml, ligne 6, colonne « syndicat.presidnet » : clé inconnue, ignorée. "
        "Vouliez-vous dire « president » ?",
        "inputs/syndicat.toml, ligne 7, colonne « syndicat.couleur » : clé inconnue, ignorée. Clés reconnues : nom, "
        "adresse, siret, president, qualite, prefixe_titre, delai_paiement_jours, tribunal, imputation, notices.",
        "inputs/syndicat.toml, ligne 12, colonne « banque » : section inconnue, ignorée (attendu : [syndicat] et "
        "[comptable])",
    ]
    assert all(not p.is_error for p in problems)


@pytest.mark.parametrize(("line", "wanted", "error"), [
    ('notices = ["xlsx", "pdf"]', ("xlsx", "pdf"), None),
    ('notices = ["pdf"]', ("xlsx", "pdf"), None),
    ('notices = ["xlsx", "docx"]', None, "format d'avis inconnu « docx » (attendu : xlsx, pdf)"),
    ('notices = "pdf"', None, "une liste de formats est attendue"),
])
def test_notice_formats(tmp_path, line, wanted, error):
    text = MINIMAL_SYNDICAT.replace('president = "P"', f'president = "P"\n{line}')
    value, problems = syndicat(tmp_path, text)
    if error is None:
        assert value is not None and value.notices == wanted and value.wants_pdf
    else:
        assert value is None and any(error in p.render() for p in problems), lines(problems)


def test_missing_required_key_points_at_its_section(tmp_path):
    value, problems = syndicat(tmp_path, MINIMAL_SYNDICAT.replace('siret = "25590019600031"\n', ""))
    assert value is None
    assert lines(problems) == [
        "inputs/syndicat.toml, ligne 1, colonne « syndicat.siret » : clé manquante : le SIRET du syndicat "
        "(14 chiffres). Ajoutez par exemple : siret = \"25590019600031\""]


def test_missing_comptable_section(tmp_path):
    value, problems = syndicat(tmp_path, MINIMAL_SYNDICAT.split("[comptable]")[0])
    assert value is None
    assert lines(problems) == ["inputs/syndicat.toml : section [comptable] absente (nom, iban, bic)"]


@pytest.mark.parametrize("siret,message", [
    ("25590019600032", "« 25590019600032 » : clé de contrôle du SIRET fausse (formule de Luhn) : un chiffre est sans "
                       "doute mal recopié. Vérifiez-le sur annuaire-entreprises.data.gouv.fr."),
    ("2559001960003", "« 2559001960003 » : un SIRET compte 14 chiffres, celui-ci en a 13"),
    ("2559001960003O", "« 2559001960003O » : un SIRET ne contient que des chiffres (14)"),
])
def test_siret_checks(tmp_path, siret, message):
    value, problems = syndicat(tmp_path, MINIMAL_SYNDICAT.replace("25590019600031", siret))
    assert value is None
    assert lines(problems) == [f"inputs/syndicat.toml, ligne 4, colonne « syndicat.siret » : {message}"]


@pytest.mark.parametrize("line,message", [
    ('prefixe_titre = "ENT-"', "colonne « syndicat.prefixe_titre » : « ENT- » : lettres et chiffres seulement, 10 au "
                               "plus (les titres sont numérotés ENT-2024-0001)"),
    ('prefixe_titre = "CONTRIBUTION"', "colonne « syndicat.prefixe_titre » : « CONTRIBUTION » : lettres et chiffres "
                                       "seulement, 10 au plus (les titres sont numérotés ENT-2024-0001)"),
    ("delai_paiement_jours = 400", "colonne « syndicat.delai_paiement_jours » : « 400 » : valeur attendue entre 1 et 365"),
    ('delai_paiement_jours = "trente"', "colonne « syndicat.delai_paiement_jours » : « trente » : un nombre entier est "
                                        "attendu"),
    ("qualite = 3", "colonne « syndicat.qualite » : « 3 » : un texte entre guillemets est attendu. "
                    "Écrivez : qualite = \"3\""),
    ('imputation = "74-74"', "colonne « syndicat.imputation » : « 74-74 » : un compte M57 s'écrit en chiffres "
                             "(ex. 7474)"),
])
def test_optional_syndicat_values_are_checked(tmp_path, line, message):
    value, problems = syndicat(tmp_path, MINIMAL_SYNDICAT.replace('president = "P"', f'president = "P"\n{line}'))
    assert value is None
    assert lines(problems) == [f"inputs/syndicat.toml, ligne 6, {message}"]


@pytest.mark.parametrize("key,typed,message", [
    ("iban", "FR76 3000 1007 9412 3456 7890 186", "« FR76 3000 1007 9412 3456 7890 186 » : clé de contrôle de "
     "l'IBAN fausse (ISO 13616, modulo 97) : un caractère est sans doute mal recopié"),
    ("iban", "FR76 3000 1007 9412 3456 7890 18", "« FR76 3000 1007 9412 3456 7890 18 » : un IBAN FR compte 27 "
     "caractères, celui-ci en a 26"),
    ("iban", "30001007941234567890185", "« 30001007941234567890185 » : un IBAN commence par le code du pays et "
     "deux chiffres de clé (ex. FR76 3000 1007 …)"),
    ("bic", "BDFEFRPPCC", "« BDFEFRPPCC » : un BIC compte 8 ou 11 caractères, celui-ci en a 10"),
    ("bic", "BDFE1RPPCCT", "« BDFE1RPPCCT » : BIC invalide : 4 lettres (banque), 2 lettres (pays), 2 caractères "
     "(lieu), 3 facultatifs (agence)"),
])
def test_bank_details_are_checked(tmp_path, key, typed, message):
    good = {"iban": "FR7630001007941234567890185", "bic": "BDFEFRPPCCT"}[key]
    value, problems = syndicat(tmp_path, MINIMAL_SYNDICAT.replace(good, typed))
    row = {"iban": 8, "bic": 9}[key]
    assert value is None
    assert lines(problems) == [f"inputs/syndicat.toml, ligne {row}, colonne « comptable.{key} » : {message}"]


def test_bic_of_another_country_than_the_iban_is_a_warning(tmp_path):
    value, problems = syndicat(tmp_path, MINIMAL_SYNDICAT.replace("BDFEFRPPCCT", "BDFEBEPPCCT"))
    assert value is not None
    assert lines(problems) == ["inputs/syndicat.toml, ligne 9, colonne « comptable.bic » : « BDFEBEPPCCT » : le pays du "
                               "BIC (BE) n'est pas celui de l'IBAN (FR)"]


# --------------------------------------------------------------------------- tarifs.toml


def test_the_contract_bareme_example_reads_exactly(tmp_path):
    found, problems = tariffs(tmp_path, """\
[2024]
deliberation = "2023-05 du 13 décembre 2023"
rentree = 2023              # counts of school year 2023-2024
mode = "bareme"
part_fixe = "0.00"
part_ecole = "150.00"
part_eleve = "1.20"
plancher = "100.00"
plafond = "50000.00"
prorata = "jours"
echeance_jours = 30
imputation = "7474"
date_emission = 2024-04-15
""")
    assert problems == []
    assert dict(found) == {2024: Tariff(
        annee=2024, deliberation="2023-05 du 13 décembre 2023", rentree=2023, mode="bareme", part_fixe_cents=0,
        part_ecole_units=1_500_000, part_eleve_units=12_000, tranches=(), tranches_mode="progressif",
        plancher_cents=10_000, plafond_cents=5_000_000, prorata="jours", echeance_jours=30, montant_total_cents=None,
        poids=(), imputation="7474", date_emission=date(2024, 4, 15))}


def test_defaults_of_a_short_tariff(tmp_path):
    tariff, problems = tariff_2024(tmp_path, 'part_eleve = "1.20"\n')
    assert problems == []
    assert tariff == Tariff(annee=2024, deliberation="2023-05 du 13 décembre 2023", rentree=2023, part_eleve_units=12_000)
    assert (tariff.mode, tariff.prorata, tariff.echeance_jours, tariff.tranches_mode) == (
        "bareme", "jours", 30, "progressif")


def test_band_tariff(tmp_path):
    tariff, problems = tariff_2024(tmp_path, 'part_ecole = 150\n'
                                   'tranches_eleve = [{jusqu_a = 500, prix = "1.50"}, {jusqu_a = 2000, prix = "1,20"}, '
                                   '{prix = 1.00}]\ntranches = "global"\n')
    assert problems == []
    assert tariff.tranches == (Band(500, 15_000), Band(2000, 12_000), Band(None, 10_000))
    assert (tariff.part_eleve_units, tariff.tranches_mode, tariff.uses_bands) == (None, "global", True)
    assert tariff_to_dict(tariff)["tranches_eleve"] == [
        {"jusqu_a": 500, "prix": "1.50"}, {"jusqu_a": 2000, "prix": "1.20"}, {"prix": "1.00"}]


def test_repartition_weights_are_exact(tmp_path):
    tariff, problems = tariff_2024(tmp_path, 'mode = "repartition"\nmontant_total = "250000.00"\n'
                                   'poids = {eleves = 0.7, ecoles = 0.2, population = 0.1}\n')
    assert problems == []
    assert tariff.mode == "repartition" and tariff.montant_total_cents == 25_000_000
    assert tariff.poids == (("eleves", Fraction(7, 10)), ("ecoles", Fraction(1, 5)), ("population", Fraction(1, 10)))
    assert sum(w for _, w in tariff.poids) == 1  # 0.7 + 0.2 + 0.1 in binary floats is 0.9999999999999999
    assert tariff_to_dict(tariff)["poids"] == {"eleves": "0.7", "ecoles": "0.2", "population": "0.1"}


def test_thirds_can_be_written_as_fractions(tmp_path):
    tariff, problems = tariff_2024(tmp_path, 'mode = "repartition"\nmontant_total = 90000\n'
                                   'poids = {eleves = "1/3", ecoles = "1/3", forfait = "1/3"}\n')
    assert problems == []
    assert tariff.poids == (("eleves", Fraction(1, 3)), ("ecoles", Fraction(1, 3)), ("forfait", Fraction(1, 3)))
    assert ("Poids du critère « élèves »", "33,33 % (1/3)") in describe_tariff(tariff)


def test_a_four_decimal_price_stays_exact(tmp_path):
    tariff, problems = tariff_2024(tmp_path, "part_eleve = 1.4375\n")
    assert problems == []
    assert tariff.part_eleve_units == 14_375
    assert tariff_to_dict(tariff)["part_eleve"] == "1.4375"
    assert ("Part par élève", f"1,4375{EUR}") in describe_tariff(tariff)


@pytest.mark.parametrize("typed,cents", [('"1,20"', 120), ('"1 100,00 €"', 110_000), ("1100", 110_000),
                                         ('"1\u00a0100,5"', 110_050), ("12.5", 1_250)])
def test_amounts_as_typed_by_a_person(tmp_path, typed, cents):
    tariff, problems = tariff_2024(tmp_path, f'part_fixe = {typed}\npart_eleve = "1"\n')
    assert problems == []
    assert tariff.part_fixe_cents == cents


def test_mode_and_choices_are_read_without_case_or_accents(tmp_path):
    tariff, problems = tariff_2024(tmp_path, 'mode = "Barème"\nprorata = "Mois"\npart_eleve = "1"\n')
    assert problems == []
    assert (tariff.mode, tariff.prorata) == ("bareme", "mois")


# One failing fixture per rule: (lines after the [2024] head, exact rendered problems).
RULES = {
    "negative price": (
        'part_eleve = "-1.20"\n',
        ["inputs/tarifs.toml, ligne 4, colonne « 2024.part_eleve » : « -1.20 » : un prix ne peut pas être négatif"]),
    "negative amount": (
        'part_eleve = "1"\npart_fixe = -5\n',
        ["inputs/tarifs.toml, ligne 5, colonne « 2024.part_fixe » : « -5 » : un montant ne peut pas être négatif"]),
    "amount with 3 decimals": (
        'part_eleve = "1"\nplancher = "100.005"\n',
        ["inputs/tarifs.toml, ligne 5, colonne « 2024.plancher » : « 100.005 » a plus de deux décimales "
         "(un montant s'exprime au centime)"]),
    "price with 5 decimals": (
        "part_eleve = 1.43755\n",
        ["inputs/tarifs.toml, ligne 4, colonne « 2024.part_eleve » : « 1.43755 » a plus de quatre décimales "
         "(un prix unitaire s'exprime au 1/10 000 €)"]),
    "text instead of a number": (
        'part_eleve = "un euro vingt"\n',
        ["inputs/tarifs.toml, ligne 4, colonne « 2024.part_eleve » : « un euro vingt » n'est pas un nombre"]),
    "absurd amount": (
        'part_eleve = "1"\nplafond = 1e12\n',
        [f"inputs/tarifs.toml, ligne 5, colonne « 2024.plafond » : « 1E+12 » : montant hors limites (moins de "
         f"1{NNBSP}000{NNBSP}000{NNBSP}000,00{EUR} attendu)"]),
    "part_eleve and bands together": (
        'part_eleve = "1.20"\ntranches_eleve = [{prix = "1.00"}]\n',
        ["inputs/tarifs.toml, ligne 5, colonne « 2024.tranches_eleve » : « part_eleve » et « tranches_eleve » "
         "s'excluent : gardez l'un des deux"]),
    "bounds not increasing": (
        'tranches_eleve = [{jusqu_a = 500, prix = "1.50"}, {jusqu_a = 500, prix = "1.20"}, {prix = "1"}]\n',
        ["inputs/tarifs.toml, ligne 4, colonne « 2024.tranches_eleve » : tranche 2 : « jusqu_a » (500) doit dépasser "
         "celui de la tranche précédente (500)"]),
    "last band bounded": (
        'tranches_eleve = [{jusqu_a = 500, prix = "1.50"}, {jusqu_a = 2000, prix = "1.20"}]\n',
        ["inputs/tarifs.toml, ligne 4, colonne « 2024.tranches_eleve » : la dernière tranche ne doit pas avoir de "
         "« jusqu_a » : elle couvre tous les élèves au-delà (ajoutez une dernière tranche {prix = \"…\"})"]),
    "open band in the middle": (
        'tranches_eleve = [{prix = "1.50"}, {prix = "1.20"}]\n',
        ["inputs/tarifs.toml, ligne 4, colonne « 2024.tranches_eleve » : tranche 1 : seule la dernière tranche peut "
         "être sans « jusqu_a »"]),
    "band problems are all reported": (
        'tranches_eleve = [{jusqua = 500, prix = "-1.50"}, {jusqu_a = "beaucoup", prix = "1.20"}, {tarif = "1"}]\n',
        ["inputs/tarifs.toml, ligne 4, colonne « 2024.tranches_eleve » : tranche 1 : clé « jusqua » inconnue "
         "(attendu : jusqu_a, prix) ; vouliez-vous dire « jusqu_a » ?",
         "inputs/tarifs.toml, ligne 4, colonne « 2024.tranches_eleve » : tranche 1 : seule la dernière tranche peut "
         "être sans « jusqu_a »",
         "inputs/tarifs.toml, ligne 4, colonne « 2024.tranches_eleve » : tranche 1, prix « -1.50 » : un prix ne peut "
         "pas être négatif",
         "inputs/tarifs.toml, ligne 4, colonne « 2024.tranches_eleve » : tranche 2, jusqu_a « beaucoup » : un nombre "
         "entier est attendu",
         "inputs/tarifs.toml, ligne 4, colonne « 2024.tranches_eleve » : tranche 3 : clé « tarif » inconnue "
         "(attendu : jusqu_a, prix)",
         "inputs/tarifs.toml, ligne 4, colonne « 2024.tranches_eleve » : tranche 3 : « prix » manque"]),
    "empty band list": (
        "tranches_eleve = []\n",
        ["inputs/tarifs.toml, ligne 4, colonne « 2024.tranches_eleve » : une liste de tranches est attendue : "
         "[{jusqu_a = 500, prix = \"1.50\"}, …, {prix = \"1.00\"}]"]),
    "band mode": (
        'tranches_eleve = [{prix = "1"}]\ntranches = "degressif"\n',
        ["inputs/tarifs.toml, ligne 5, colonne « 2024.tranches » : « degressif » : calcul des tranches attendu : "
         "« progressif » ou « global »"]),
    "plancher above plafond": (
        'part_eleve = "1"\nplancher = "500"\nplafond = "100"\n',
        [f"inputs/tarifs.toml, ligne 5, colonne « 2024.plancher » : « 500 » : le plancher (500,00{EUR}) dépasse le "
         f"plafond (100,00{EUR}). Le plafond doit être au moins égal au plancher : vérifiez les deux montants dans "
         f"la délibération."]),
    "prorata": (
        'part_eleve = "1"\nprorata = "semaines"\n',
        ["inputs/tarifs.toml, ligne 5, colonne « 2024.prorata » : « semaines » : prorata attendu : « aucun », "
         "« mois » ou « jours »"]),
    "mode": (
        'mode = "forfait"\n',
        ["inputs/tarifs.toml, ligne 4, colonne « 2024.mode » : « forfait » : mode attendu : « bareme » ou "
         "« repartition »"]),
    "echeance": (
        'part_eleve = "1"\necheance_jours = 0\n',
        ["inputs/tarifs.toml, ligne 5, colonne « 2024.echeance_jours » : « 0 » : valeur attendue entre 1 et 365"]),
    "date with a time": (
        'part_eleve = "1"\ndate_emission = 2024-04-15T10:00:00\n',
        ["inputs/tarifs.toml, ligne 5, colonne « 2024.date_emission » : « 2024-04-15T10:00:00 » : une date sans "
         "heure est attendue (ex. date_emission = 2024-04-15)"]),
    "impossible date": (
        'part_eleve = "1"\ndate_emission = "31/02/2024"\n',
        ["inputs/tarifs.toml, ligne 5, colonne « 2024.date_emission » : « 31/02/2024 » : date inexistante"]),
    "weights not summing to 1": (
        'mode = "repartition"\nmontant_total = "1000"\npoids = {eleves = 0.7, ecoles = 0.2, population = 0.05}\n',
        ["inputs/tarifs.toml, ligne 6, colonne « 2024.poids » : la somme des poids doit valoir exactement 1 ; "
         "elle vaut 0,95"]),
    "negative weight": (
        'mode = "repartition"\nmontant_total = "1000"\npoids = {eleves = 1.2, ecoles = -0.2}\n',
        ["inputs/tarifs.toml, ligne 6, colonne « 2024.poids » : le poids de « ecoles » ne peut pas être négatif "
         "(-0.2)"]),
    "unknown criterion": (
        'mode = "repartition"\nmontant_total = "1000"\npoids = {eleve = 1}\n',
        ["inputs/tarifs.toml, ligne 6, colonne « 2024.poids » : critère inconnu « eleve » (attendu : eleves, ecoles, "
         "population, forfait) ; vouliez-vous dire « eleves » ?"]),
    "nothing to share": (
        'mode = "repartition"\nmontant_total = "0"\npoids = {eleves = 1}\n',
        ["inputs/tarifs.toml, ligne 5, colonne « 2024.montant_total » : « 0 » : le montant doit être supérieur à "
         "zéro"]),
    "repartition without its keys": (
        'mode = "repartition"\n',
        ["inputs/tarifs.toml, ligne 1, colonne « 2024.montant_total » : clé manquante : le montant total à répartir "
         "(mode « repartition »). Ajoutez par exemple : montant_total = \"250000.00\"",
         "inputs/tarifs.toml, ligne 1, colonne « 2024.poids » : clé manquante : les poids des critères (mode "
         "« repartition »). Ajoutez par exemple : poids = {eleves = 0.7, ecoles = 0.2, population = 0.1}"]),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_each_rule_has_its_exact_message(tmp_path, rule):
    body, expected = RULES[rule]
    tariff, problems = tariff_2024(tmp_path, body)
    assert tariff is None
    assert problems == expected


def test_required_keys(tmp_path):
    found, problems = tariffs(tmp_path, '[2024]\npart_eleve = "1"\n')
    assert dict(found) == {} and found.rejected == {2024}
    assert lines(problems) == [
        "inputs/tarifs.toml, ligne 1, colonne « 2024.deliberation » : clé manquante : la référence de la délibération "
        "du comité qui fixe ce tarif. Ajoutez par exemple : deliberation = \"2023-05 du 13 décembre 2023\"",
        "inputs/tarifs.toml, ligne 1, colonne « 2024.rentree » : clé manquante : l'année de la rentrée dont les "
        "effectifs sont facturés. Ajoutez par exemple : rentree = 2023",
    ]


def test_rentree_other_than_the_previous_year_is_a_warning(tmp_path):
    tariff, problems = tariff_2024(tmp_path, 'part_eleve = "1"\n', head=HEAD.replace("2023\n", "2022\n"))
    assert tariff is not None and tariff.rentree == 2022
    assert problems == [
        "inputs/tarifs.toml, ligne 3, colonne « 2024.rentree » : « 2022 » : la rentrée 2022 n'est pas celle qui "
        "précède l'exercice 2024 (habituellement 2023) : les effectifs de l'année scolaire 2022-2023 seront facturés"]


def test_unknown_keys_are_errors_and_keys_of_the_other_mode_are_warnings(tmp_path):
    tariff, problems = tariff_2024(tmp_path, 'part_eleve = "1"\nparts_ecole = "150"\nmontant_total = "1000"\n'
                                             'tranches = "global"\n')
    assert tariff is None  # a voted price is never dropped on a warning (DESIGN §4b)
    assert problems[0].startswith(
        "inputs/tarifs.toml, ligne 5, colonne « 2024.parts_ecole » : clé inconnue : un tarif voté ne peut pas être "
        "ignoré ; clés reconnues : deliberation, rentree, mode, part_fixe,")
    assert problems[0].endswith("Vouliez-vous dire « part_ecole » ?")
    assert problems[1:] == [
        "inputs/tarifs.toml, ligne 6, colonne « 2024.montant_total » : sans effet en mode « bareme », ignoré",
        "inputs/tarifs.toml, ligne 7, colonne « 2024.tranches » : sans effet sans « tranches_eleve », ignoré",
    ]
    tariff, problems = tariff_2024(tmp_path, 'mode = "repartition"\nmontant_total = 1000\npoids = {forfait = 1}\n'
                                             'plancher = "100"\n')
    assert tariff is not None and tariff.plancher_cents is None
    assert problems == ["inputs/tarifs.toml, ligne 7, colonne « 2024.plancher » : sans effet en mode « repartition », "
                        "ignoré"]


def test_a_tariff_that_bills_nothing_is_a_warning(tmp_path):
    tariff, problems = tariff_2024(tmp_path, 'part_fixe = "0.00"\n')
    assert tariff is not None
    assert problems == ["inputs/tarifs.toml, ligne 1, colonne « 2024 » : ce tarif ne facture rien : part fixe, part "
                        "par école, part par élève et plancher sont nuls ou absents"]


def test_issue_date_outside_the_year_is_a_warning_and_french_dates_are_read(tmp_path):
    tariff, problems = tariff_2024(tmp_path, 'part_eleve = "1"\ndate_emission = "15/01/2025"\n')
    assert tariff.date_emission == date(2025, 1, 15)
    assert problems == ["inputs/tarifs.toml, ligne 5, colonne « 2024.date_emission » : « 15/01/2025 » : la date "
                        "d'émission 15/01/2025 est hors de l'exercice 2024"]


def test_section_names_must_be_years(tmp_path):
    found, problems = tariffs(tmp_path, 'deliberation = "x"\n[tarif2024]\nrentree = 2023\n[2023]\n'
                                        'deliberation = "d"\nrentree = 2022\npart_eleve = "1.10"\n')
    assert sorted(found) == [2023]
    assert lines(problems) == [
        "inputs/tarifs.toml, ligne 1, colonne « deliberation » : clé hors de toute section : placez-la sous la "
        "section de son exercice, ex. [2024]",
        "inputs/tarifs.toml, ligne 2, colonne « tarif2024 » : « tarif2024 » n'est pas un exercice : une section de "
        "tarif porte le nom de l'exercice sur 4 chiffres, ex. [2024]",
    ]


def test_a_french_decimal_comma_outside_quotes(tmp_path):
    found, problems = tariffs(tmp_path, HEAD + "part_eleve = 1,20   # € par élève\n")
    assert dict(found) == {} and found.unreadable
    assert lines(problems) == [
        "inputs/tarifs.toml, ligne 4, colonne « 2024.part_eleve » : « part_eleve = 1,20 » : syntaxe TOML invalide au "
        "caractère 15 : fin de ligne attendue après la valeur (un texte s'écrit entre guillemets). "
        "Écrivez : part_eleve = \"1,20\""]
    assert tariff_for_year(found, 2024, display="inputs/tarifs.toml") == (None, [])  # not a second error


def test_a_key_given_twice(tmp_path):
    _, problems = tariffs(tmp_path, HEAD + 'part_eleve = "1.20"\npart_eleve = "1.30"\n')
    assert lines(problems) == [
        "inputs/tarifs.toml, ligne 5, colonne « 2024.part_eleve » : « part_eleve = \"1.30\" » : syntaxe TOML invalide "
        "au caractère 20 : clé « part_eleve » définie deux fois (déjà ligne 4)"]


def test_tariff_for_year(tmp_path):
    found, _ = tariffs(tmp_path, HEAD + 'part_eleve = "1"\n' + HEAD.replace("2024", "2023").replace("2023\n", "2022\n")
                       + 'part_eleve = "1"\n')
    assert isinstance(found, Tariffs) and sorted(found) == [2023, 2024] and found.rejected == frozenset()
    assert tariff_for_year(found, 2024, display="inputs/tarifs.toml")[0].annee == 2024
    tariff, problems = tariff_for_year(found, 2025, display="inputs/tarifs.toml")
    assert tariff is None
    assert lines(problems) == [
        "inputs/tarifs.toml : aucun tarif pour 2025 dans inputs/tarifs.toml (années présentes : 2023, 2024). "
        "Ajoutez une section [2025] reprenant la délibération du comité qui fixe le tarif 2025."]


def test_a_rejected_year_is_not_reported_missing_a_second_time(tmp_path):
    found, problems = tariffs(tmp_path, HEAD + 'part_eleve = "-1"\n')
    assert len(problems) == 1 and found.rejected == {2024}
    assert tariff_for_year(found, 2024, display="inputs/tarifs.toml") == (None, [])
    assert tariff_for_year({}, 2024, display="t.toml")[1][0].message == (
        "aucun tarif pour 2024 dans t.toml (aucune année présente)")


# --------------------------------------------------------------------------- --set overrides


BASE = Tariff(annee=2024, deliberation="2023-05", rentree=2023, part_ecole_units=1_500_000, part_eleve_units=12_000,
              plancher_cents=10_000)


def test_override_changes_only_what_is_asked():
    tariff, problems = apply_overrides(BASE, ["part_eleve=1,35", "part_fixe=50"])
    assert problems == []
    assert tariff == Tariff(annee=2024, deliberation="2023-05", rentree=2023, part_fixe_cents=5_000,
                            part_ecole_units=1_500_000, part_eleve_units=13_500, plancher_cents=10_000)


def test_no_override_gives_back_the_same_tariff():
    assert apply_overrides(BASE, []) == (BASE, [])


def test_bands_replace_the_flat_rate_and_back():
    banded, problems = apply_overrides(BASE, ["tranches_eleve=500:1.50,2000:1.20,:1.00", "tranches=global"])
    assert problems == []
    assert banded.tranches == (Band(500, 15_000), Band(2000, 12_000), Band(None, 10_000))
    assert (banded.part_eleve_units, banded.tranches_mode) == (None, "global")
    # with decimal commas, « ; » separates the bands
    assert apply_overrides(BASE, ["tranches_eleve=500:1,50;:1,00"])[0].tranches == (Band(500, 15_000),
                                                                                      Band(None, 10_000))
    flat, problems = apply_overrides(banded, ["part_eleve=1.4375"])
    assert problems == []
    assert (flat.part_eleve_units, flat.tranches, flat.tranches_mode) == (14_375, (), "progressif")


def test_aucun_removes_plancher_and_plafond():
    tariff, problems = apply_overrides(replace_plafond(BASE), ["plancher=aucun", "plafond=Aucun"])
    assert problems == []
    assert (tariff.plancher_cents, tariff.plafond_cents) == (None, None)


def replace_plafond(tariff):
    from dataclasses import replace

    return replace(tariff, plafond_cents=5_000_000)


def test_switching_to_repartition():
    tariff, problems = apply_overrides(BASE, ["mode=repartition", "montant_total=250 000",
                                              "poids=eleves:0.7,ecoles:0.2,population:0.1"])
    assert problems == []
    assert (tariff.mode, tariff.montant_total_cents) == ("repartition", 25_000_000)
    assert tariff.poids == (("eleves", Fraction(7, 10)), ("ecoles", Fraction(1, 5)), ("population", Fraction(1, 10)))
    assert (tariff.part_ecole_units, tariff.plancher_cents) == (0, None)  # bareme values do not leak in
    _, problems = apply_overrides(BASE, ["mode=repartition"])
    assert [p.column for p in problems] == ["montant_total", "poids"]


@pytest.mark.parametrize("setting,expected", [
    ("part_elev=1.3", "--set, colonne « part_elev » : paramètre inconnu (modifiables : part_fixe, part_ecole, "
                      "part_eleve, plancher, plafond, prorata, tranches, tranches_eleve, mode, montant_total, poids, "
                      "rentree, echeance_jours, part_classe, part_habitant, strates, seuil_recouvrement). "
                      "Vouliez-vous dire « part_eleve » ?"),
    ("part_eleve=beaucoup", "--set, colonne « part_eleve » : « beaucoup » n'est pas un nombre"),
    ("part_eleve=-1", "--set, colonne « part_eleve » : « -1 » : un prix ne peut pas être négatif"),
    ("part_eleve=1.23456", "--set, colonne « part_eleve » : « 1.23456 » a plus de quatre décimales (un prix "
                           "unitaire s'exprime au 1/10 000 €)"),
    ("part_fixe=10.001", "--set, colonne « part_fixe » : « 10.001 » a plus de deux décimales (un montant "
                         "s'exprime au centime)"),
    ("rentree=deux mille", "--set, colonne « rentree » : « deux mille » : un nombre entier est attendu"),
    ("prorata=semaines", "--set, colonne « prorata » : « semaines » : prorata attendu : « aucun », « mois » ou "
                         "« jours »"),
    ("plafond=50", f"--set, colonne « plancher » : « 100.00 » : le plancher (100,00{EUR}) dépasse le plafond "
                   f"(50,00{EUR}). Le plafond doit être au moins égal au plancher : vérifiez les deux montants dans "
                   f"la délibération."),
    ("tranches_eleve=500:1.5,300:1.2,:1", "--set, colonne « tranches_eleve » : tranche 2 : « jusqu_a » (300) doit "
                                          "dépasser celui de la tranche précédente (500)"),
    ("tranches_eleve=500-1.5", "--set, colonne « tranches_eleve » : « 500-1.5 » : tranches attendues sous la forme "
                               "« 500:1.50,2000:1.20,:1.00 » (jusqu_a:prix, la dernière sans borne)"),
    ("poids=eleves", "--set, colonne « poids » : « eleves » : poids attendus sous la forme "
                     "« eleves:0.7,ecoles:0.2,population:0.1 »"),
    ("part_eleve", "--set : « part_eleve » : forme attendue : cle=valeur (ex. --set part_eleve=1.35)"),
    ("part_eleve=", "--set, colonne « part_eleve » : valeur manquante après « = »"),
])
def test_invalid_overrides_have_exact_messages(setting, expected):
    tariff, problems = apply_overrides(BASE, [setting])
    assert tariff is None
    assert lines(problems) == [expected]


def test_all_override_problems_are_reported_together():
    tariff, problems = apply_overrides(BASE, ["part_eleve=abc", "x=1", "prorata=an"])
    assert tariff is None
    assert sorted(p.column for p in problems if p.is_error) == ["part_eleve", "prorata", "x"]


def test_override_warnings_concern_only_what_was_set():
    late = Tariff(annee=2024, deliberation="d", rentree=2020, part_eleve_units=10_000)
    tariff, problems = apply_overrides(late, ["part_eleve=1.10"])
    assert tariff.part_eleve_units == 11_000 and problems == []  # the file already warned about rentree 2020
    tariff, problems = apply_overrides(BASE, ["rentree=2021"])
    assert tariff.rentree == 2021
    assert lines(problems) == ["--set, colonne « rentree » : « 2021 » : la rentrée 2021 n'est pas celle qui précède "
                               "l'exercice 2024 (habituellement 2023) : les effectifs de l'année scolaire 2021-2022 "
                               "seront facturés"]


# --------------------------------------------------------------------------- showing a tariff


def test_tariff_to_dict_is_json_with_exact_strings():
    tariff = Tariff(annee=2024, deliberation="2023-05", rentree=2023, part_ecole_units=1_500_000,
                    part_eleve_units=14_375, plancher_cents=10_000, imputation="7474",
                    date_emission=date(2024, 4, 15))
    data = tariff_to_dict(tariff)
    assert data == {"annee": 2024, "deliberation": "2023-05", "rentree": 2023, "mode": "bareme", "part_fixe": "0.00",
                    "part_ecole": "150.00", "part_eleve": "1.4375", "plancher": "100.00", "prorata": "jours",
                    "echeance_jours": 30, "imputation": "7474", "date_emission": "2024-04-15"}
    assert json.loads(json.dumps(data)) == data


def test_describe_tariff_in_french():
    tariff = Tariff(annee=2024, deliberation="2023-05 du 13 décembre 2023", rentree=2023, part_ecole_units=1_500_000,
                    part_eleve_units=12_000, plancher_cents=10_000, plafond_cents=5_000_000, imputation="7474")
    assert describe_tariff(tariff) == [
        ("Exercice", "2024"),
        ("Délibération", "2023-05 du 13 décembre 2023"),
        ("Effectifs de la rentrée", "2023 (année scolaire 2023-2024)"),
        ("Mode", "barème"),
        ("Part fixe par commune", f"0,00{EUR}"),
        ("Part par école publique", f"150,00{EUR}"),
        ("Part par élève", f"1,20{EUR}"),
        ("Plancher", f"100,00{EUR}"),
        ("Plafond", f"50{NNBSP}000,00{EUR}"),
        ("Prorata temporis", "au jour près"),
        ("Échéance", "30 jours après l'émission"),
        ("Imputation", "compte 7474"),
    ]
    banded = Tariff(annee=2024, deliberation="d", rentree=2023, part_eleve_units=None,
                    tranches=(Band(500, 15_000), Band(None, 10_000)))
    assert describe_tariff(banded)[6:9] == [
        ("Tranche 1 (élèves 1 à 500)", f"1,50{EUR}"),
        ("Tranche 2 (élèves 501 et au-delà)", f"1,00{EUR}"),
        ("Calcul des tranches", "progressif (chaque tranche à son prix)"),
    ]
    shared = Tariff(annee=2024, deliberation="d", rentree=2023, mode="repartition", montant_total_cents=25_000_000,
                    poids=(("eleves", Fraction(7, 10)), ("ecoles", Fraction(1, 5)), ("population", Fraction(1, 10))))
    assert describe_tariff(shared)[4:8] == [
        ("Montant à répartir", f"250{NNBSP}000,00{EUR}"),
        ("Poids du critère « élèves »", "70 %"),
        ("Poids du critère « écoles publiques »", "20 %"),
        ("Poids du critère « population municipale »", "10 %"),
    ]


# --------------------------------------------------------------------------- one path: file = overrides

prices = st.integers(0, 99_999_999)  # 1/10 000 €
amounts = st.integers(0, 10_000_000)  # cents


@st.composite
def valid_tariffs(draw):
    common = dict(annee=2024, deliberation=draw(st.sampled_from(["2023-05", "2023-05 du 13 décembre 2023"])),
                  rentree=draw(st.integers(2015, 2024)), prorata=draw(st.sampled_from(["aucun", "mois", "jours"])),
                  echeance_jours=draw(st.integers(1, 365)),
                  imputation=draw(st.sampled_from([None, "7474"])),
                  date_emission=draw(st.sampled_from([None, date(2024, 4, 15)])))
    if draw(st.booleans()):
        weights = draw(st.lists(st.integers(0, 1000), min_size=4, max_size=4).filter(lambda w: sum(w) > 0))
        poids = tuple((c, Fraction(w, sum(weights))) for c, w in zip(("eleves", "ecoles", "population", "forfait"),
                                                                    weights) if w)
        return Tariff(mode="repartition", montant_total_cents=draw(st.integers(1, 10**10)), poids=poids, **common)
    floor = draw(st.none() | amounts)
    ceiling = draw(st.none() | st.integers(max(floor or 0, 1), 20_000_000))  # a plafond of 0 is refused
    values = dict(part_fixe_cents=draw(amounts), part_ecole_units=draw(prices), plancher_cents=floor,
                  plafond_cents=ceiling)
    if draw(st.booleans()):
        bounds = sorted(draw(st.sets(st.integers(1, 100_000), max_size=3)))
        rates = draw(st.lists(prices, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
        values |= dict(part_eleve_units=None, tranches=tuple(Band(b, r) for b, r in zip([*bounds, None], rates)),
                       tranches_mode=draw(st.sampled_from(["progressif", "global"])))
    else:
        values["part_eleve_units"] = draw(prices)
    return Tariff(**values, **common)


@settings(max_examples=150, deadline=None)
@given(valid_tariffs())
def test_a_tariff_survives_its_own_source_form(tariff):
    """tariff_to_dict -> the validation of tarifs.toml -> the same tariff, exactly (weights of 1/3 included)."""
    again, problems = apply_overrides(tariff, [])
    assert again == tariff
    assert problems == []
