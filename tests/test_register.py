"""The commune register: folding, debtor names, slugs, code and name resolution, school attribution."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.inputs.register import (
    REGISTER_PATH,
    Commune,
    Register,
    Resolution,
    debtor_name,
    debtor_name_expr,
    fold_name,
    fold_name_expr,
    load_register,
    normalize_code,
    slug,
    suggestion_text,
    uai_prefix,
)
from billing.inputs.schools import attribute_schools

FIXTURES = Path(__file__).parent / "fixtures"
EFFECTIFS_EXTRACT = FIXTURES / "fr-en-ecoles-effectifs-nb_classes_extrait.csv"


@pytest.fixture(scope="module")
def register() -> Register:
    return load_register()


# ----- the shipped data ------------------------------------------------------------------


def test_shipped_register_is_typed_and_small():
    assert REGISTER_PATH.stat().st_size < 3 * 1024 * 1024
    frame = pl.read_parquet(REGISTER_PATH)
    assert frame.schema == pl.Schema({
        "code_insee": pl.Utf8, "type": pl.Utf8, "libelle": pl.Utf8, "nom": pl.Utf8, "tncc": pl.Int8,
        "code_parent": pl.Utf8, "population": pl.Int64, "codes_postaux": pl.List(pl.Utf8),
        "departement": pl.Utf8, "departement_nom": pl.Utf8, "region": pl.Utf8, "region_nom": pl.Utf8,
        "epci_siren": pl.Utf8, "epci_nom": pl.Utf8, "mairie_adresse": pl.Utf8, "cle": pl.Utf8,
    })
    assert frame.height == 37_530
    assert frame.filter(pl.col("type") == "COM").height == 34_875
    assert frame["cle"].to_list() == frame.select(fold_name_expr(pl.col("libelle")))["libelle"].to_list()


def test_commune_keeps_leading_zeros_corsica_and_postal_codes(register):
    assert register.commune("01001") == Commune(
        code_insee="01001", type="COM", libelle="L'Abergement-Clémenciat", nom="Abergement-Clémenciat", tncc=5,
        code_parent=None, population=register.commune("01001").population, codes_postaux=("01400",),
        departement="01", departement_nom="Ain", region="84", region_nom="Auvergne-Rhône-Alpes",
        epci_siren="200069193", epci_nom="Communauté de communes de la Dombes",
        mairie_adresse="119 route de la Fontaine, 01400 L'Abergement-Clémenciat",
    )
    assert register.commune("2A004").libelle == "Ajaccio"
    assert register.commune("01050").codes_postaux == ("01190", "01380")
    assert register.commune("59355") is None  # Lomme is a commune associée, not a COM
    assert register.commune("") is None


def test_facts_frame_gives_the_billing_base_columns(register):
    facts = register.facts_frame(["59371", "59350", "00000"]).sort("code_insee")
    assert facts.columns == ["code_insee", "commune", "nom", "tncc", "debiteur", "population", "departement",
                             "departement_nom", "region", "region_nom", "epci_siren", "epci_nom", "mairie_adresse"]
    assert facts.select("code_insee", "commune", "debiteur", "epci_siren").rows() == [
        ("59350", "Lille", "Commune de Lille", "200093201"),
        ("59371", "Le Maisnil", "Commune du Maisnil", "200093201"),
    ]


# ----- folding ---------------------------------------------------------------------------


@pytest.mark.parametrize("one, other", [
    ("La Madeleine", "Madeleine"),
    ("La Madeleine", "LA MADELEINE"),
    ("La Madeleine", "madeleine"),
    ("Marcq-en-Barœul", "MARCQ EN BAROEUL"),
    ("L'HERMITAGE", "Hermitage"),
    ("L’Hermitage", "l‘hermitage"),
    ("LA CHAPELLE DU LOU DU LAC", "La Chapelle-du-Lou-du-Lac"),
    ("ST MALO", "Saint-Malo"),
    ("St-Malo", "SAINT MALO"),
    ("STE MARIE AUX MINES", "Sainte-Marie-aux-Mines"),
    ("Les Rues-des-Vignes", "RUES DES VIGNES"),
    ("Aux Marais", "Marais"),
    ("Læti", "LAETI"),
    ("  Lille  ", "lille"),
])
def test_fold_name_equates_spellings_of_one_name(one, other):
    assert fold_name(one) == fold_name(other)


@pytest.mark.parametrize("one, other", [
    ("Lille", "Lisle"),
    ("Saint-Malo", "Sainte-Malo"),
    ("Croix", "Croixx"),
])
def test_fold_name_keeps_different_names_apart(one, other):
    assert fold_name(one) != fold_name(other)


def test_fold_name_values():
    assert fold_name("Marcq-en-Barœul") == "marcqenbaroeul"
    assert fold_name("La Madeleine") == "madeleine"
    assert fold_name("La Madeleine", keep_article=True) == "lamadeleine"
    assert fold_name("Les") == "les"  # a lone word is a name, not an article
    assert fold_name(" - ' ") == ""


def test_fold_name_expr_matches_fold_name_on_the_whole_register(register):
    names = register.frame["libelle"].to_list()
    assert register.frame["cle"].to_list() == [fold_name(n) for n in names]  # cle was built by the expression
    assert register.frame.select(fold_name_expr(pl.col("nom")))["nom"].to_list() == register.frame["cle"].to_list()
    some = register.frame.gather_every(7)
    assert some.select(fold_name_expr(pl.col("libelle"), keep_article=True))["libelle"].to_list() == [
        fold_name(n, keep_article=True) for n in some["libelle"]]


FRENCHISH = st.text(alphabet="aAbcdeEéÉèêëfghiIîïlLmnoOôœŒæÆpqrsStTuùûüvwxyzçÇ-'’‘ .,0123456789ß()\n", max_size=40)
ARTICLE_AFTER = st.builds(lambda name, space, article, tail: f"{name}{space}({article}){tail}", FRENCHISH,
                          st.sampled_from(["", " ", "  "]),
                          st.sampled_from(["La", "LE", "les", "L'", "l’", "L", " la ", "Aux", "Lo", ""]),
                          st.sampled_from(["", " ", "\n", " x"]))


@settings(max_examples=300, deadline=None)
@given(FRENCHISH | ARTICLE_AFTER)
def test_fold_name_expr_matches_fold_name_on_any_french_text(text):
    assert pl.select(fold_name_expr(pl.lit(text))).item() == fold_name(text)
    assert pl.select(fold_name_expr(pl.lit(text), keep_article=True)).item() == fold_name(text, keep_article=True)


@pytest.mark.parametrize("typed, official", [
    ("Madeleine (La)", "La Madeleine"), ("MADELEINE (LA)", "La Madeleine"), ("Quesnoy (Le)", "Le Quesnoy"),
    ("Haÿ-les-Roses (L')", "L'Haÿ-les-Roses"), ("Haÿ-les-Roses (L’)", "L'Haÿ-les-Roses"),
])
def test_the_article_written_after_the_name_is_the_same_name_without_warning(register, typed, official):
    resolution = register.resolve_name(typed)
    assert resolution.ok and resolution.commune.libelle == official
    assert not resolution.spelling_differs


# ----- names on documents ----------------------------------------------------------------


@pytest.mark.parametrize("code, expected", [
    ("59350", "Commune de Lille"),
    ("59368", "Commune de La Madeleine"),
    ("59371", "Commune du Maisnil"),
    ("59517", "Commune des Rues-des-Vignes"),
    ("01001", "Commune de L'Abergement-Clémenciat"),
    ("59017", "Commune d'Armentières"),
    ("59299", "Commune de Hem"),  # h aspiré: INSEE tncc 0
    ("02381", "Commune d'Hirson"),  # h muet: INSEE tncc 1
    ("60703", "Commune d'Aux Marais"),
    ("66104", "Commune de Los Masos"),
    ("59009", "Commune de Villeneuve-d'Ascq"),
])
def test_debtor_name(register, code, expected):
    assert debtor_name(register.commune(code)) == expected


def test_debtor_name_expr_matches_debtor_name(register):
    com = register.frame.filter(pl.col("type") == "COM")
    by_expr = com.select("code_insee", debtor_name_expr().alias("debiteur"))
    sample = by_expr.gather_every(97)
    for code, name in sample.iter_rows():
        assert name == debtor_name(register.commune(code))
    tncc_6_to_8 = by_expr.filter(pl.col("code_insee").is_in(["60703", "66104"])).sort("code_insee")
    assert tncc_6_to_8["debiteur"].to_list() == ["Commune d'Aux Marais", "Commune de Los Masos"]


@pytest.mark.parametrize("text, expected", [
    ("Marcq-en-Barœul", "marcq-en-baroeul"),
    ("L'Abergement-Clémenciat", "l-abergement-clemenciat"),
    ("../../etc/passwd", "etc-passwd"),
    ("..", "sans-nom"),
    ("", "sans-nom"),
    (None, "sans-nom"),
    ("Ÿ", "y"),
    ("a" * 70, "a" * 60),
    ("a" * 59 + " b", "a" * 59),
])
def test_slug(text, expected):
    assert slug(text) == expected


@given(st.text())
def test_any_text_gives_a_safe_slug(text):
    made = slug(text)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", made)
    assert 0 < len(made) <= 60
    assert made not in (".", "..")


# ----- codes -----------------------------------------------------------------------------


def test_resolve_code_of_a_commune(register):
    res = register.resolve_code("59350")
    assert (res.status, res.commune.libelle, res.via, res.code_corrected) == ("ok", "Lille", "code", False)


def test_resolve_code_of_a_commune_associee_gives_its_parent(register):
    res = register.resolve_code("59355")  # Lomme
    assert (res.status, res.commune.code_insee, res.via) == ("ok", "59350", "code_delegue")


def test_resolve_code_shared_by_a_commune_deleguee_prefers_the_commune(register):
    # 35062 is both La Chapelle-Fleurigné (COM) and La Chapelle-Janson (its COMD).
    res = register.resolve_code("35062")
    assert (res.commune.libelle, res.via) == ("La Chapelle-Fleurigné", "code")
    assert register.resolve_code("35112").commune.libelle == "La Chapelle-Fleurigné"  # Fleurigné


@pytest.mark.parametrize("typed, code", [("1001", "01001"), (1001, "01001"), ("59350.0", "59350")])
def test_resolve_code_repairs_a_lost_leading_zero_with_a_flag(register, typed, code):
    res = register.resolve_code(typed)
    assert (res.status, res.commune.code_insee, res.code_corrected) == ("ok", code, True)


def test_resolve_code_accepts_spaces_and_lower_case_corsica(register):
    assert register.resolve_code(" 2a004 ").commune.libelle == "Ajaccio"
    assert register.resolve_code("59 350").commune.libelle == "Lille"
    assert register.resolve_code("59 350").code_corrected is False


def test_unknown_code_says_so_with_suggestions(register):
    assert register.resolve_code("99999") == Resolution("inconnu")
    postal = register.resolve_code("59000")  # Lille's postal code typed as its INSEE code
    assert (postal.status, postal.suggestions) == ("inconnu", (("Lille", "59350"),))
    assert suggestion_text(postal) == "Vouliez-vous dire « Lille » (59350) ?"
    assert register.resolve_code("20004").suggestions == (("Ajaccio", "2A004"),)
    # otherwise the codes of the same département one keystroke away
    assert register.resolve_code("59999").suggestions == (("Bousies", "59099"), ("Erchin", "59199"), ("Hem", "59299"))
    assert register.resolve_code(None).status == "inconnu"


def test_normalize_code():
    assert normalize_code("1001") == ("01001", True)
    assert normalize_code(" 2b033") == ("2B033", False)
    assert normalize_code(None) == ("", False)


# ----- names -----------------------------------------------------------------------------


def test_misspelt_name_is_unknown_with_the_right_suggestion(register):
    res = register.resolve_name("Saily-lez-Lannoy")
    assert (res.status, res.commune, res.suggestions) == ("inconnu", None, (("Sailly-lez-Lannoy", "59522"),))
    assert suggestion_text(res) == "Vouliez-vous dire « Sailly-lez-Lannoy » (59522) ?"
    res = register.resolve_name("Chérengh")
    assert (res.status, res.suggestions) == ("inconnu", (("Chéreng", "59146"),))


def test_suggestions_prefer_the_given_departements(register):
    assert register.resolve_name("Lile", departements={"59"}).suggestions == (("Lille", "59350"),)
    nationwide = register.resolve_name("Lile").suggestions
    assert ("Lille", "59350") in nationwide and len(nationwide) == 3


def test_name_shared_by_two_communes(register):
    res = register.resolve_name("Croix", departements={"59"})
    assert (res.status, res.commune.code_insee, res.via) == ("ok", "59163", "nom")
    assert [c.code_insee for c in res.candidates] == ["59163", "90030"]  # the homonym set, for a warning
    res = register.resolve_name("Croix")
    assert res.status == "ambigu" and res.commune is None
    assert [c.code_insee for c in res.candidates] == ["59163", "90030"]
    assert suggestion_text(res) == "Vouliez-vous dire « Croix » (59163) ou « Croix » (90030) ?"
    res = register.resolve_name("Croix", code_postal="90100")
    assert res.commune.code_insee == "90030"
    # départements that hold none of them leave the choice open
    assert register.resolve_name("Croix", departements={"62"}).status == "ambigu"


def test_name_of_a_commune_associee_gives_its_parent(register):
    res = register.resolve_name("Lomme")
    assert (res.status, res.commune.code_insee, res.via, res.spelling_differs) == ("ok", "59350", "nom_delegue", False)
    res = register.resolve_name("FLEURIGNE")
    assert (res.commune.libelle, res.via, res.spelling_differs) == ("La Chapelle-Fleurigné", "nom_delegue", True)


@pytest.mark.parametrize("typed, differs", [
    ("La Madeleine", False),
    ("Madeleine", False),
    ("LA MADELEINE", False),
    ("  la madeleine ", False),
    ("La-Madeleine", True),
    ("LA MADELEINE ", False),
])
def test_article_and_case_are_no_spelling_difference(register, typed, differs):
    res = register.resolve_name(typed)
    assert (res.status, res.commune.code_insee, res.spelling_differs) == ("ok", "59368", differs)


def test_accents_and_hyphens_are_a_spelling_difference(register):
    assert register.resolve_name("Marcq en Baroeul").spelling_differs is True
    assert register.resolve_name("Marcq-en-Barœul").spelling_differs is False
    assert register.resolve_name("L’Abergement-Clémenciat").spelling_differs is False


def test_name_written_with_its_article_breaks_a_tie(register):
    # Vergné (17464) and La Vergne (17465) fold alike in one département.
    assert register.resolve_name("Vergné").commune.code_insee == "17464"
    assert register.resolve_name("LA VERGNE").commune.code_insee == "17465"
    assert register.resolve_name("Vergne", code_postal="17400").commune.code_insee == "17465"


def test_empty_name_is_unknown_without_suggestion(register):
    res = register.resolve_name("  ")
    assert res == Resolution("inconnu")
    assert suggestion_text(res) is None


def test_suggestion_text_lists_up_to_three():
    res = Resolution("inconnu", suggestions=(("A", "59001"), ("B", "62001"), ("C", "80001")))
    assert suggestion_text(res) == "Vouliez-vous dire « A » (59001), « B » (62001) ou « C » (80001) ?"
    res = Resolution("inconnu", suggestions=(("A", "59001"), ("B", "62001")))
    assert suggestion_text(res) == "Vouliez-vous dire « A » (59001) ou « B » (62001) ?"
    assert suggestion_text(Resolution("inconnu")) is None


# ----- schools ---------------------------------------------------------------------------


def test_uai_prefix():
    assert [uai_prefix(d) for d in ("35", "59", "2A", "2B", "971")] == ["035", "059", "620", "720", "971"]


def read_effectifs_extract() -> pl.DataFrame:
    raw = pl.read_csv(EFFECTIFS_EXTRACT, separator=";", infer_schema=False, encoding="utf8")
    assert raw.columns[0] == "Rentrée scolaire"  # the BOM did not stick to the first header
    return raw.select(
        pl.col("Numéro de l'école").alias("uai"),
        pl.col("Commune").alias("commune_nom"),
        pl.col("Code Postal").alias("code_postal"),
        pl.col("Secteur").alias("secteur"),
    )


def test_real_extract_every_school_is_attributed_by_name(register):
    schools = read_effectifs_extract()
    attributed = attribute_schools(register, schools)
    assert attributed.height == 120
    assert attributed.columns == ["uai", "commune_nom", "code_postal", "secteur",
                                  "code_insee_resolu", "attribution", "candidats"]
    assert attributed["uai"].to_list() == schools["uai"].to_list()  # same rows, same order
    assert attributed["code_insee_resolu"].null_count() == 0
    assert attributed["attribution"].value_counts().rows() == [("nom", 120)]
    assert attributed["candidats"].null_count() == 120
    by_uai = dict(attributed.select("uai", "code_insee_resolu").iter_rows())
    # The INSEE codes the official annuaire gives for the schools of the extract it also holds.
    assert {uai: by_uai[uai] for uai in ("0350122T", "0350165P", "0350192U", "0350196Y", "0351012K",
                                         "0351013L", "0351014M")} == {
        "0350122T": "35016", "0350165P": "35050", "0350192U": "35076", "0350196Y": "35080",
        "0351012K": "35012", "0351013L": "35049", "0351014M": "35051"}
    assert by_uai["0351645Y"] == "35070"  # CHATEAUNEUF-D'ILLE-ET-VILAINE
    assert by_uai["0351752P"] == "35082"  # COESMES: Coësmes


SCHOOLS = [
    # uai, commune_nom, code_postal, code_insee hint, expected code, expected rule
    ("0350999A", "FLEURIGNE", "35133", None, "35062", "nom_delegue"),
    ("0590001C", "LOMME", "59160", None, "59350", "nom_delegue"),
    # 59170 is Croix's postal code and Dechy's INSEE code: the name does not confirm Dechy.
    ("0590002D", "CROIX", "59170", "59170", "59163", "nom"),
    ("0590003E", "LILLE", "59000", "59355", "59350", "code_delegue"),
    ("0590010W", "QUELQUE PART", "59000", "59009", "59009", "code"),  # a valid hint wins
    ("0590004F", "ANCIEN NOM", "59170", None, "59163", "code_postal"),  # renamed: postal code alone
    ("0620001G", "MAISNIL", "62130", None, "62539", "nom"),
    ("0590005H", "LE MAISNIL", "59134", None, "59371", "nom"),
    ("6200001J", "AJACCIO", "20000", None, "2A004", "nom"),
    ("7200001K", "BASTIA", "20200", None, "2B033", "nom"),
    ("0590006L", "CROIX", None, "1001", "59163", "nom"),  # a code of another département is no hint
    ("0250001M", "LONGEVILLE", "25330", None, "25346", "code_postal"),
    ("0170001N", "VERGNE", None, None, "17464", "nom"),
    ("0350103X", "ACIGNE", None, "35690", "35001", "nom"),  # a postal code in the code column
    ("0750001S", "PARIS 15E ARRONDISSEMENT", "75015", None, "75056", "nom_delegue"),
    ("9710001U", "LES ABYMES", "97139", None, "97101", "nom"),
]


def test_attribution_rules(register):
    frame = pl.DataFrame([row[:4] for row in SCHOOLS], schema=["uai", "commune_nom", "code_postal", "code_insee"],
                         orient="row")
    attributed = attribute_schools(register, frame)
    assert attributed.select("uai", "code_insee_resolu", "attribution").rows() == [
        (uai, code, rule) for uai, _, _, _, code, rule in SCHOOLS]
    assert attributed["code_insee"].to_list() == frame["code_insee"].to_list()  # the hint is carried through


def test_unattributed_schools_are_kept_with_their_candidates(register):
    frame = pl.DataFrame({
        "uai": ["0590007Q", "0590008R", None, "0590009V"],
        "commune_nom": ["SAILY LEZ LANNOY", "NULLE PART", "CROIX", "CROIX"],
        "code_postal": ["59390", None, None, "62000"],
        "ecole": ["A", "B", "C", "D"],
    })
    attributed = attribute_schools(register, frame)
    assert attributed.select("ecole", "code_insee_resolu", "attribution", "candidats").rows() == [
        ("A", None, None, "Lannoy (59332), Lys-lez-Lannoy (59367), Sailly-lez-Lannoy (59522), Toufflers (59598)"),
        ("B", None, None, None),
        ("C", None, None, "Croix (59163), Croix (90030)"),
        ("D", "59163", "nom", None),
    ]


def test_annuaire_wins_over_everything(register):
    frame = pl.DataFrame({"uai": ["0590002D", "0590008R", "0590011X"], "commune_nom": ["CROIX", "NULLE PART", "LILLE"],
                          "code_postal": ["59170", None, "59000"], "code_insee": ["59163", None, None]})
    annuaire = pl.DataFrame({"uai": ["0590002d", "0590008R", "0590011X"], "code_insee": ["59350", "59355", "99999"]})
    attributed = attribute_schools(register, frame, annuaire=annuaire)
    assert attributed.select("code_insee_resolu", "attribution").rows() == [
        ("59350", "annuaire"), ("59350", "annuaire"), ("59350", "nom")]  # an unknown annuaire code is ignored


def test_every_name_of_the_register_attributes_to_its_commune(register):
    """COM, COMD, COMA and ARM names, upper-case as in the export, within their département."""
    rows = register.frame.filter(pl.col("type") != "SRM").select(
        (pl.col("departement").map_elements(uai_prefix, return_dtype=pl.Utf8) + "0001X").alias("uai"),
        pl.col("libelle").str.to_uppercase().alias("commune_nom"),
        pl.when(pl.col("type") == "COM").then(pl.col("code_insee")).otherwise(pl.col("code_parent")).alias("attendu"),
    )
    attributed = attribute_schools(register, rows)
    wrong = attributed.filter(pl.col("code_insee_resolu").ne_missing(pl.col("attendu")))
    assert wrong.height == 0, wrong.head(10)


def test_empty_school_frame(register):
    empty = pl.DataFrame(schema={"uai": pl.Utf8, "commune_nom": pl.Utf8, "code_postal": pl.Utf8})
    attributed = attribute_schools(register, empty)
    assert attributed.height == 0
    assert attributed.schema["code_insee_resolu"] == pl.Utf8


def test_uai_departement_is_the_inverse_of_the_prefix():
    from billing.inputs.register import departement_of_uai, load_register, uai_prefix

    for departement in load_register().departements:
        assert departement_of_uai(uai_prefix(departement) + "0001A") == departement
    assert departement_of_uai("X12") is None


# ----- renamed communes and names alone (DESIGN §3) ------------------------------------------


def test_a_renamed_commune_is_found_among_the_communes_of_its_postal_code(register):
    """The export keeps the old name; the postal code is shared: the official name that holds the old
    one as whole words decides (« nom_ancien »), several such names stay undecided, all listed."""
    frame = pl.DataFrame({
        "uai": ["0350002B", "0350003C", "0350004D", "0350006F"],
        "commune_nom": ["MONTAUBAN", "LOU DU LAC", "VILAINE", "BOISGERVILLY"],
        "code_postal": ["35360", "35360", "35530", "35360"],
    })
    attributed = attribute_schools(register, frame)
    assert attributed.select("code_insee_resolu", "attribution", "candidats").rows() == [
        ("35184", "nom_ancien", None),  # Montauban-de-Bretagne: the old name begins the new one
        ("35060", "nom_ancien", None),  # La Chapelle du Lou du Lac: contained in it
        (None, None, "Noyal-sur-Vilaine (35207), Servon-sur-Vilaine (35327)"),
        ("35027", "nom", None),  # a current name never goes through the rule
    ]


def test_real_extract_with_one_commune_under_its_old_name(register):
    """The Ille-et-Vilaine extract, Andouillé-Neuville's school written « ANDOUILLE » (a commune of
    Mayenne, not of 35): attributed to 35003 by the renamed-commune rule, every other school unchanged."""
    schools = read_effectifs_extract()
    before = attribute_schools(register, schools)
    target = schools["commune_nom"] == "ANDOUILLE-NEUVILLE"
    assert target.sum() >= 1
    renamed = schools.with_columns(pl.when(target).then(pl.lit("ANDOUILLE")).otherwise(pl.col("commune_nom"))
                                   .alias("commune_nom"))
    after = attribute_schools(register, renamed)
    assert after.filter(target).select("code_insee_resolu", "attribution").unique().rows() == [("35003", "nom_ancien")]
    assert after.filter(~target)["code_insee_resolu"].to_list() == before.filter(~target)["code_insee_resolu"].to_list()
    assert set(after.filter(~target)["attribution"].to_list()) == {"nom"}


def test_the_renamed_commune_rule_is_a_warning_that_names_it(register, tmp_path):
    from billing.inputs.counts import attribute_counts
    from billing.inputs.readers import read_pupil_counts

    path = tmp_path / "effectifs.csv"
    path.write_text("rentree;uai;commune;code_postal;secteur;eleves\n"
                    "2023;0350002B;MONTAUBAN;35360;PUBLIC;120\n", encoding="utf-8")
    counted = attribute_counts(read_pupil_counts(path, display="effectifs.csv"), register)
    assert counted.schools["code_insee"].to_list() == ["35184"]
    warning = next(p for p in counted.problems if not p.is_error)
    assert (warning.file, warning.row, warning.column, warning.value) == ("effectifs.csv", 2, "commune", "MONTAUBAN")
    assert warning.message.startswith("« MONTAUBAN » n'est plus le nom d'une commune : école rattachée à "
                                      "Montauban-de-Bretagne (35184), la seule commune du code postal 35360 dont "
                                      "le nom officiel contient ce nom (règle « commune renommée »)")


def members_from(tmp_path, rows: list[str], register):
    from billing.inputs.members import ADHESIONS_COLUMNS, ADHESIONS_TYPES, resolve_members
    from billing.inputs.readers import coerce, read_table

    path = tmp_path / "adhesions.csv"
    path.write_text("code_insee;commune;statut;date_effet\n" + "".join(f";{name};adherente;01/01/2024\n" for name in rows),
                    encoding="utf-8")
    table = read_table(path, display="adhesions.csv", columns=ADHESIONS_COLUMNS, required=("statut",))
    typed, _ = coerce(table, {k: v for k, v in ADHESIONS_TYPES.items() if k in table.frame.columns})
    return resolve_members(typed, table, register)


@pytest.mark.parametrize(("names", "croix"), [
    (["Roubaix", "Croix", "Wattrelos"], "59163"),  # Nord
    (["Croix", "Belfort", "Danjoutin"], "90030"),  # Territoire de Belfort, the name of the member after it
])
def test_names_alone_resolve_a_shared_name_in_two_passes(tmp_path, register, names, croix):
    resolved = members_from(tmp_path, names, register)
    codes = dict(zip(names, resolved.members["code_insee"].to_list()))
    assert codes["Croix"] == croix
    assert not [p for p in resolved.problems if p.is_error]
    warning = next(p for p in resolved.problems if p.value == "Croix")
    other = "90030" if croix == "59163" else "59163"
    assert f"homonymes écartés : Croix ({other})" in warning.message


def test_a_shared_name_among_members_of_both_departements_stays_an_error(tmp_path, register):
    resolved = members_from(tmp_path, ["Roubaix", "Croix", "Belfort"], register)
    errors = [p for p in resolved.problems if p.is_error]
    assert [(p.row, p.column, p.value) for p in errors] == [(3, "commune", "Croix")]
    assert "Croix » (59163, Nord) ou « Croix » (90030, Territoire de Belfort)" in errors[0].suggestion
