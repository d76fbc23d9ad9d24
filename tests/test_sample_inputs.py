"""The bundled sample (inputs/ and billing/sample/) is well formed and says what the contract says.

Read with polars and tomllib only, on purpose: these tests check the committed files,
not the readers that will consume them. The commune register is the package's parquet.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
import unicodedata
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ROOT / "inputs"
PACKAGE_SAMPLE = ROOT / "billing" / "sample"
REGISTER = ROOT / "billing" / "inputs" / "data" / "communes.parquet"
FILES = ["LISEZMOI.md", "adhesions.csv", "budget.csv", "effectifs.csv", "paiements.csv", "syndicat.toml",
         "tarifs.toml"]
EXPORT_HEADER = [
    "Rentrée scolaire", "Région académique", "Académie", "Département", "Commune", "Numéro de l'école",
    "Dénomination principale", "Patronyme", "Secteur", "REP", "REP +", "Nombre total de classes",
    "Nombre total d'élèves", "Nombre d'élèves en pré-élémentaire hors ULIS",
    "Nombre d'élèves en élémentaire hors ULIS", "Nombre d'élèves en ULIS", "Nombre d'élèves en CP hors ULIS",
    "Nombre d'élèves en CE1 hors ULIS", "Nombre d'élèves en CE2 hors ULIS", "Nombre d'élèves en CM1 hors ULIS",
    "Nombre d'élèves en CM2 hors ULIS", "tri", "Code Postal",
]
ADHESIONS_HEADER = ["code_insee", "commune", "statut", "date_effet", "date_retrait", "deliberation_commune",
                    "deliberation_syndicat", "groupe", "siret", "delegue"]
BOM = b"\xef\xbb\xbf"


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def uai_ok(uai: str) -> bool:
    return bool(re.fullmatch(r"\d{7}[A-Z]", uai)) and uai[7] == "ABCDEFGHJKLMNPRSTUVWXYZ"[int(uai[:7]) % 23]


def fold(text: str) -> str:
    text = text.replace("œ", "oe").replace("Œ", "OE")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[-'’]", " ", text).lower().split())


def french_cents(text: str) -> int:
    """« 1 234,56 » -> 123456 (a regular, no-break or narrow no-break space groups thousands)."""
    assert re.fullmatch(r"\d{1,3}([ \u00a0\u202f]\d{3})*,\d{2}", text), text
    return int(re.sub(r"[ \u00a0\u202f,]", "", text))


def read_csv(name: str, separator: str) -> pl.DataFrame:
    return pl.read_csv(INPUTS / name, separator=separator, infer_schema=False)


@pytest.fixture(scope="module")
def adhesions() -> pl.DataFrame:
    return read_csv("adhesions.csv", ";")


@pytest.fixture(scope="module")
def effectifs() -> pl.DataFrame:
    return read_csv("effectifs.csv", ";").with_columns(
        pl.col("Rentrée scolaire", "Nombre total d'élèves").cast(pl.Int64))


@pytest.fixture(scope="module")
def register() -> pl.DataFrame:
    return pl.read_parquet(REGISTER, columns=["code_insee", "type", "libelle", "code_parent", "codes_postaux"])


@pytest.fixture(scope="module")
def school_commune(register) -> dict[tuple[str, str], str]:
    """(folded export name, postal code) -> the COM code the school counts for (associated -> parent)."""
    nord = register.filter(pl.col("code_insee").str.starts_with("59"))
    postcodes = {c: p for c, t, p in nord.filter(pl.col("type") == "COM")
                 .select("code_insee", "type", "codes_postaux").iter_rows()}
    found = {}
    for code, kind, libelle, parent, _ in nord.iter_rows():
        owner = parent if kind != "COM" else code
        for postcode in postcodes.get(owner) or []:
            found[(fold(libelle), postcode)] = owner
    return found


def test_package_copy_is_byte_identical():
    assert sorted(p.name for p in INPUTS.iterdir()) == FILES
    assert sorted(p.name for p in PACKAGE_SAMPLE.iterdir()) == FILES
    for name in FILES:
        assert (INPUTS / name).read_bytes() == (PACKAGE_SAMPLE / name).read_bytes(), name


def test_every_file_is_utf8():
    for name in FILES:
        (INPUTS / name).read_bytes().decode("utf-8")


def test_syndicat_is_the_design_example_with_valid_keys():
    data = tomllib.loads((INPUTS / "syndicat.toml").read_text(encoding="utf-8"))
    assert data == {
        "syndicat": {"nom": "Syndicat mixte Nord - Pas-de-Calais Numérique",
                     "adresse": "151 avenue du Président Hoover, 59555 Lille Cedex", "siret": "25590019600031",
                     "president": "Christophe COULON", "qualite": "Président", "prefixe_titre": "ENT",
                     "delai_paiement_jours": 30, "tribunal": "Tribunal administratif de Lille",
                     "imputation": "7474"},
        "comptable": {"nom": "Service de gestion comptable de Lille Métropole",
                      "iban": "FR7630001007941234567890185", "bic": "BDFEFRPPCCT"},
        # PES V2 export enabled with placeholder codes, marked « à convenir avec le comptable » in the file
        "pes": {"id_post": "059000", "cod_col": "123", "cod_bud": "00", "cod_prod_loc": "ENT", "fonction": "213",
                "ref_bdf": "123456", "centre_encaissement": {"adresse": "TSA 50000, 35908 Rennes Cedex 9"},
                "centre_finances": {"nom": "Service de gestion comptable de Lille Métropole",
                                    "adresse": "82 avenue Kennedy, 59000 Lille"}},
    }
    assert (INPUTS / "syndicat.toml").read_text(encoding="utf-8").count("à convenir avec le comptable") >= 6
    assert luhn_ok(data["syndicat"]["siret"])
    iban = data["comptable"]["iban"]
    assert int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97 == 1


def test_tariffs_2024_and_2023_are_exact():
    data = tomllib.loads((INPUTS / "tarifs.toml").read_text(encoding="utf-8"), parse_float=Decimal)
    assert data["2024"] == {"deliberation": "2023-05 du 13 décembre 2023", "rentree": 2023, "mode": "bareme",
                            "part_fixe": "0.00", "part_ecole": "150.00", "part_eleve": "1.20",
                            "plancher": "100.00", "prorata": "jours", "echeance_jours": 30, "imputation": "7474",
                            "date_emission": date(2024, 4, 15)}
    assert data["2023"]["rentree"] == 2022 and data["2023"]["part_eleve"] == "1.10"
    assert sorted(data) == ["2023", "2024"]


def test_adhesions_header_bom_and_statuts(adhesions):
    raw = (INPUTS / "adhesions.csv").read_bytes()
    assert raw.startswith(BOM) and raw.count(b"\r\n") == 92  # as French Excel saves « CSV (point-virgule) »
    assert adhesions.columns == ADHESIONS_HEADER
    assert adhesions.height == 91 and adhesions["code_insee"].n_unique() == 91
    assert adhesions["code_insee"].str.contains(r"^59\d{3}$").all()
    assert dict(adhesions["statut"].value_counts().iter_rows()) == {"adherente": 70, "conditionnelle": 21}
    members = adhesions.filter(pl.col("statut") == "adherente")
    assert members["date_effet"].unique().to_list() == ["01/03/2024"]
    assert adhesions.filter(pl.col("statut") == "conditionnelle")["date_effet"].null_count() == 21
    assert adhesions["date_retrait"].null_count() == 91
    assert adhesions["deliberation_syndicat"].unique().to_list() == ["2024-01 du 21/02/2024"]


def test_adhesions_keep_the_deliberation_spellings(adhesions):
    typed = dict(adhesions.select("code_insee", "commune").iter_rows())
    assert typed["59522"] == "Saily-lez-Lannoy"
    assert typed["59146"] == "Chérengh"
    assert typed["59470"] == "Prêmesques"
    assert typed["59378"] == "MARCQ-EN-BAROEUL"
    row = adhesions.filter(pl.col("code_insee") == "59367").row(0, named=True)
    assert (row["commune"], row["statut"], row["deliberation_commune"]) == ("Lys-lez-Lannoy", "adherente",
                                                                           "13/12/2023")
    hantay = adhesions.filter(pl.col("code_insee") == "59281").row(0, named=True)
    assert (hantay["statut"], hantay["groupe"]) == ("conditionnelle", "hors groupe")


def test_adhesions_codes_exist_and_sirets_are_the_communes(adhesions, register):
    communes = set(register.filter(pl.col("type") == "COM")["code_insee"])
    assert set(adhesions["code_insee"]) <= communes
    sirets = adhesions.filter(pl.col("siret").is_not_null()).select("code_insee", "siret")
    assert sirets.height == 70
    for code, siret in sirets.iter_rows():
        assert re.fullmatch(r"\d{14}", siret) and luhn_ok(siret) and luhn_ok(siret[:9]), siret
        assert siret.startswith(f"21{code[:2]}0{code[2:]}"), (code, siret)


def test_effectifs_is_the_official_export_form(effectifs):
    raw = (INPUTS / "effectifs.csv").read_bytes()
    assert raw.startswith(BOM)
    assert raw[3:].split(b"\n", 1)[0].decode("utf-8") == ";".join(EXPORT_HEADER)
    assert effectifs.columns == EXPORT_HEADER
    assert sorted(effectifs["Rentrée scolaire"].unique()) == [2022, 2023]
    assert set(effectifs["Secteur"]) == {"PUBLIC", "PRIVE"}
    assert all(uai_ok(u) and u.startswith("059") for u in effectifs["Numéro de l'école"])
    assert effectifs.select(pl.struct("Rentrée scolaire", "Numéro de l'école").is_unique().all()).item()
    assert all(re.fullmatch(r"[A-Z' -]+", name) for name in effectifs["Commune"])
    parts = [pl.col(c).cast(pl.Int64) for c in EXPORT_HEADER[13:16]]
    levels = [pl.col(c).cast(pl.Int64) for c in EXPORT_HEADER[16:21]]
    check = effectifs.select(
        (pl.col("Nombre total d'élèves") == pl.sum_horizontal(parts)).all().alias("total"),
        (pl.col(EXPORT_HEADER[14]).cast(pl.Int64) == pl.sum_horizontal(levels)).all().alias("levels"),
        (pl.col("Nombre total d'élèves") > 0).all().alias("positive"),
    )
    assert check.row(0) == (True, True, True)


def test_lys_lez_lannoy_has_its_real_2023_counts(effectifs):
    lys = effectifs.filter((pl.col("Commune") == "LYS-LEZ-LANNOY") & (pl.col("Rentrée scolaire") == 2023)
                           & (pl.col("Secteur") == "PUBLIC"))
    assert lys.height == 5 and lys["Nombre total d'élèves"].sum() == 1_100
    assert set(lys["Code Postal"]) == {"59390"}


def test_every_school_resolves_and_every_member_has_counts(effectifs, adhesions, school_commune):
    keys = list(zip(effectifs["Commune"].map_elements(fold, return_dtype=pl.Utf8), effectifs["Code Postal"]))
    unresolved = sorted({k for k in keys if k not in school_commune})
    assert unresolved == []
    located = effectifs.with_columns(pl.Series("code", [school_commune[k] for k in keys]))
    in_2023 = set(located.filter(pl.col("Rentrée scolaire") == 2023)["code"])
    members = set(adhesions["code_insee"])
    assert members <= in_2023
    assert sorted(in_2023 - members) == ["59011", "59332"]  # Annœullin, Lannoy: neighbours, not members
    lille_places = set(located.filter(pl.col("code") == "59350").select("Commune", "Code Postal").iter_rows())
    assert {("LOMME", "59160"), ("HELLEMMES-LILLE", "59260")} <= lille_places
    wicres = located.filter(pl.col("code") == "59658")
    assert set(wicres["Secteur"]) == {"PRIVE"}


def test_expected_2024_total_recomputed_from_the_files(effectifs, adhesions, school_commune):
    """150 € a public school, 1.20 € a pupil, floor 100 €, 306 days of 366, half-up: the cross-check figure."""
    keys = zip(effectifs["Commune"].map_elements(fold, return_dtype=pl.Utf8), effectifs["Code Postal"])
    counts = (
        effectifs.with_columns(pl.Series("code", [school_commune[k] for k in keys]))
        .filter((pl.col("Rentrée scolaire") == 2023) & (pl.col("Secteur") == "PUBLIC"))
        .group_by("code").agg(pl.len().alias("ecoles"), pl.col("Nombre total d'élèves").sum().alias("eleves"))
    )
    by_code = {c: (e, p) for c, e, p in counts.iter_rows()}
    total = ecoles = eleves = 0
    for code in adhesions.filter(pl.col("statut") == "adherente")["code_insee"]:
        e, p = by_code.get(code, (0, 0))
        annual = max(15_000 * e + 120 * p, 10_000)
        total += (2 * annual * 306 + 366) // (2 * 366)
        ecoles, eleves = ecoles + e, eleves + p
    assert (ecoles, eleves, total) == (325, 65_141, 10_619_640)
    assert "106 196,40 €" in (INPUTS / "LISEZMOI.md").read_text(encoding="utf-8")


def test_budget_has_the_contributions_account():
    budget = read_csv("budget.csv", ",")
    assert budget.columns == ["annee", "compte", "libelle", "montant_prevu"]
    lines = {(a, c): french_cents(m) for a, c, _, m in budget.iter_rows()}
    assert lines[("2024", "7474")] == 10_700_000
    assert {a for a, _ in lines} == {"2023", "2024"}
    assert all(re.fullmatch(r"74\d\d", c) for _, c in lines)


def test_payments_are_plausible(adhesions):
    raw = (INPUTS / "paiements.csv").read_bytes()
    assert not raw.startswith(BOM)
    payments = read_csv("paiements.csv", ";")
    assert payments.columns == ["numero_titre", "date", "montant", "code_insee", "reference"]
    billed = set(adhesions.filter(pl.col("statut") == "adherente")["code_insee"])
    assert set(payments["code_insee"]) <= billed
    numbers = payments["numero_titre"].drop_nulls()
    assert numbers.str.contains(r"^ENT-2024-\d{4}$").all() and numbers.n_unique() == numbers.len()
    assert payments["numero_titre"].null_count() == 1  # matched by commune and exact amount
    assert payments["reference"].n_unique() == payments.height
    dates = payments["date"].str.to_date("%d/%m/%Y")
    assert dates.is_sorted() and dates.dt.year().unique().to_list() == [2024]
    assert all(french_cents(m) > 0 for m in payments["montant"])
