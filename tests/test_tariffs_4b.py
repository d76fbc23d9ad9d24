"""DESIGN §4b: classes, inhabitants, population bands, group overrides, the seuil de recouvrement,
fiscalised members. Every amount is checked against a reference computed here with Fraction."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.core.corrections import Claim, below_seuil, plan_titres
from billing.core.model import GroupOverride, Strate, Tariff
from billing.core.pricing import price_year
from billing.core.problems import BillingError, render_list
from billing.inputs.tariffs import apply_overrides, read_tariffs

HERE = Path(__file__).parent


def half_up(value: Fraction) -> int:
    """Cents, half-up, from an exact amount in euros."""
    cents = value * 100
    return int(cents + Fraction(1, 2)) if cents >= 0 else -int(-cents + Fraction(1, 2))


def base(rows: list[dict]) -> pl.DataFrame:
    defaults = {"commune": "X", "statut": "adherente", "date_effet": date(2020, 1, 1), "date_retrait": None,
                "ecoles": 1, "eleves": 100, "classes": 4, "population": 1000, "population_source": "referentiel",
                "groupe": None, "mode_contribution": "titre"}
    return pl.DataFrame([defaults | row for row in rows], schema_overrides={"date_retrait": pl.Date})


def tariff(**kw) -> Tariff:
    return Tariff(annee=2024, deliberation="D", rentree=2023, **({"part_eleve_units": 0} | kw))


def amounts(priced) -> dict[str, int]:
    return dict(priced.contributions.select("code_insee", "montant_cents").iter_rows())


STRATES = (Strate(499, 5000), Strate(1999, 12000), Strate(None, 30000))


def reference_strate(population: int) -> Fraction:
    if population <= 499:
        return Fraction(50)
    return Fraction(120) if population <= 1999 else Fraction(300)


@pytest.mark.parametrize("population", [0, 1, 499, 500, 1999, 2000, 123_456])
def test_band_bounds_are_inclusive_and_inhabitants_and_classes_are_priced(population):
    t = tariff(part_habitant_units=1000, part_classe_units=200_000, strates=STRATES)  # 0,10 €/hab, 20 €/classe
    priced = price_year(base([{"code_insee": "59001", "population": population, "classes": 7}]), t, annee=2024)
    expected = (half_up(Fraction(population) * Fraction("0.10")) + half_up(7 * Fraction(20))
                + half_up(reference_strate(population)))
    assert amounts(priced) == {"59001": expected}
    row = priced.contributions.row(0, named=True)
    assert row["strate"] == (1 if population <= 499 else 2 if population <= 1999 else 3)
    codes = priced.lines["code"].to_list()
    assert codes == ["part_classe", "part_habitant", "strate"]
    assert sum(priced.lines["montant_cents"]) == expected


def test_499_and_500_inhabitants_fall_in_two_bands():
    t = tariff(strates=STRATES)
    priced = price_year(base([{"code_insee": "59001", "population": 499}, {"code_insee": "59002", "population": 500}]),
                        t, annee=2024)
    assert amounts(priced) == {"59001": 5000, "59002": 12000}
    assert priced.lines["libelle"].to_list() == ["Strate 1 de population (jusqu'à 499 habitants)",
                                                 "Strate 2 de population (de 500 à 1\u202f999 habitants)"]


def test_a_group_override_with_prorata():
    group = GroupOverride("second groupe", (("part_eleve_units", 10_500),), ("part_eleve",))
    t = tariff(part_eleve_units=12_000, part_ecole_units=1_500_000, groupes=(group,), prorata="jours")
    rows = [{"code_insee": "59001", "groupe": "second groupe", "date_effet": date(2024, 3, 1), "eleves": 333},
            {"code_insee": "59002", "groupe": "premier groupe", "date_effet": date(2024, 3, 1), "eleves": 333}]
    priced = price_year(base(rows), t, annee=2024)
    days = (date(2024, 12, 31) - date(2024, 3, 1)).days + 1

    def reference(rate: str) -> int:
        annual = half_up(Fraction(150)) + half_up(333 * Fraction(rate))
        return half_up(Fraction(annual, 100) * Fraction(days, 366))

    assert amounts(priced) == {"59001": reference("1.05"), "59002": reference("1.20")}
    lines = priced.lines.filter(pl.col("code_insee") == "59001")
    eleve = lines.filter(pl.col("code") == "part_eleve").row(0, named=True)
    assert eleve["taux_units"] == 10_500 and "tarif du groupe « second groupe »" in eleve["detail"]
    assert sum(lines["montant_cents"]) == reference("1.05")


def test_a_group_may_set_a_key_the_year_does_not_and_plancher_applies_before_prorata():
    group = GroupOverride("g", (("part_habitant_units", 2000), ("plancher_cents", 50_000)), ("part_habitant", "plancher"))
    t = tariff(part_fixe_cents=10_000, groupes=(group,), prorata="mois")
    rows = [{"code_insee": "59001", "groupe": "g", "population": 100, "date_effet": date(2024, 7, 15)},
            {"code_insee": "59002", "population": 100}]
    priced = price_year(base(rows), t, annee=2024)
    annual = max(half_up(Fraction(100)) + half_up(100 * Fraction("0.20")), 50_000)
    assert amounts(priced) == {"59001": half_up(Fraction(annual, 100) * Fraction(6, 12)), "59002": 10_000}


def test_repartition_by_population_uses_the_population_given():
    t = tariff(mode="repartition", montant_total_cents=100_000, poids=(("population", Fraction(1)),), prorata="aucun")
    pops = {"59001": 650, "59002": 775, "59003": 498}
    priced = price_year(base([{"code_insee": c, "population": p} for c, p in pops.items()]), t, annee=2024)
    total = sum(pops.values())
    exact = {c: Fraction(100_000 * p, total) for c, p in pops.items()}
    floors = {c: int(v) for c, v in exact.items()}
    missing = 100_000 - sum(floors.values())
    for c in sorted(exact, key=lambda c: (-(exact[c] - floors[c]), c))[:missing]:
        floors[c] += 1
    assert amounts(priced) == floors


# ----- the seuil de recouvrement, in pure planning ---------------------------------------


class Head:
    def __init__(self, numero, code, nature, cents, origine=None, seq=1):
        self.numero, self.code_insee, self.nature, self.montant_cents = numero, code, nature, cents
        self.origine_numero, self.exercice, self.seq, self.commune = origine, 2024, seq, "X"
        self.date_emission = date(2024, 4, 15)


def test_a_titre_of_14_99_is_not_issued_and_15_00_is():
    claims = [Claim("59001", "A", 1499, (), 1500), Claim("59002", "B", 1500, (), 1500)]
    assert [(p.code_insee, p.montant_cents) for p in plan_titres(claims, [])] == [("59002", 1500)]
    assert [(p.code_insee, p.montant_cents) for p in below_seuil(claims, [])] == [("59001", 1499)]
    assert [p.code_insee for p in plan_titres([Claim("59001", "A", 1499, (), 0)], [])] == ["59001"]  # "0.00" disables


def test_a_small_complement_stays_owed_until_it_reaches_the_seuil_and_reductions_always_go():
    issued = [Head("ENT-2024-0001", "59001", "titre", 10_000)]
    assert plan_titres([Claim("59001", "A", 11_499, (), 1500)], issued) == []
    assert [p.montant_cents for p in below_seuil([Claim("59001", "A", 11_499, (), 1500)], issued)] == [1499]
    planned = plan_titres([Claim("59001", "A", 11_500, (), 1500)], issued)
    assert [(p.nature, p.montant_cents) for p in planned] == [("complementaire", 1500)]
    planned = plan_titres([Claim("59001", "A", 9_999, (), 1500)], issued)
    assert [(p.nature, p.montant_cents) for p in planned] == [("reduction", 1)]
    assert [p.nature for p in plan_titres([], issued)] == ["annulation"]


# ----- reading tarifs.toml ---------------------------------------------------------------

HEAD = '[2024]\ndeliberation = "D"\nrentree = 2023\n'


def read(tmp_path, body: str):
    path = tmp_path / "tarifs.toml"
    path.write_text(HEAD + body, encoding="utf-8")
    tariffs, problems = read_tariffs(path, display="inputs/tarifs.toml")
    return tariffs.get(2024), render_list(problems)


def test_part_habitant_is_read_not_dropped(tmp_path):
    tariff_, problems = read(tmp_path, 'part_habitant = "1.10"\n')
    assert problems == [] and tariff_.part_habitant_units == 11_000 and tariff_.seuil_cents == 1500


def test_an_unknown_key_of_a_year_or_a_group_is_an_error_with_its_line(tmp_path):
    tariff_, problems = read(tmp_path, 'part_habitants = "1.10"\n[2024.groupes.g]\npart_elev = "1"\n')
    assert tariff_ is None
    assert problems[0].startswith("inputs/tarifs.toml, ligne 4, colonne « 2024.part_habitants » : clé inconnue")
    assert "Vouliez-vous dire « part_habitant » ?" in problems[0]
    assert problems[1].startswith("inputs/tarifs.toml, ligne 6, colonne « 2024.groupes.g.part_elev » : clé inconnue")


def test_every_new_key_is_checked_all_at_once(tmp_path):
    tariff_, problems = read(tmp_path, 'part_classe = "-1"\npart_habitant = "0.12345"\nseuil_recouvrement = "abc"\n'
                                       'strates = [{jusqu_a = 500, montant = "50"}, {jusqu_a = 400, montant = "60"},'
                                       ' {montant = "70"}]\n')
    assert tariff_ is None
    text = "\n".join(problems)
    assert "ligne 4, colonne « 2024.part_classe » : « -1 » : un prix ne peut pas être négatif" in text
    assert "ligne 5, colonne « 2024.part_habitant » : « 0.12345 » a plus de quatre décimales" in text
    assert "ligne 6, colonne « 2024.seuil_recouvrement »" in text
    assert "ligne 7, colonne « 2024.strates » : strate 2 : « jusqu_a » (400) doit dépasser celui de la strate " \
           "précédente (500)" in text


def test_seuil_zero_disables_and_groups_are_read(tmp_path):
    tariff_, problems = read(tmp_path, 'part_eleve = "1.20"\nseuil_recouvrement = "0.00"\n'
                                       '[2024.groupes."second groupe"]\npart_eleve = "1.05"\n')
    assert problems == [] and tariff_.seuil_cents == 0
    assert tariff_.for_group("second groupe").part_eleve_units == 10_500
    assert tariff_.groupes[0].ligne == 6


def test_set_accepts_the_new_keys():
    t = tariff(part_eleve_units=12_000)
    changed, problems = apply_overrides(t, ["part_habitant=0.12", 'groupes."second groupe".part_eleve=1.05',
                                            "strates=499:50,:120"])
    assert [p for p in problems if p.is_error] == []
    assert changed.part_habitant_units == 1200
    assert changed.for_group("second groupe").part_eleve_units == 10_500
    assert changed.strates == (Strate(499, 5000), Strate(None, 12000))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 60), st.integers(0, 200_000)), min_size=1, max_size=6),
       st.sampled_from(["part_classe_units", "part_habitant_units", "strates"]))
def test_adding_a_key_with_a_zero_price_changes_no_amount(rows, key):
    frame = base([{"code_insee": f"59{i:03d}", "eleves": e, "classes": c, "population": p}
                  for i, (e, c, p) in enumerate(rows)])
    plain = tariff(part_eleve_units=12_000, part_ecole_units=1_500_000, plancher_cents=10_000)
    zero = {"strates": (Strate(499, 0), Strate(None, 0))}.get(key, 0)
    before, after = price_year(frame, plain, annee=2024), price_year(frame, tariff(
        part_eleve_units=12_000, part_ecole_units=1_500_000, plancher_cents=10_000, **{key: zero}), annee=2024)
    assert amounts(before) == amounts(after)


# ----- end to end: the samples -------------------------------------------------------------


def test_the_habitants_sample_computes_to_the_cent(tmp_path):
    from billing.sample import write_sample
    from billing.year import prepare_year

    write_sample(tmp_path / "in", "habitants")
    data = prepare_year(tmp_path / "in", 2025)
    c = {r["code_insee"]: r for r in data.priced.contributions.iter_rows(named=True)}
    # Le Maisnil: 650 inhabitants from adhesions.csv, 3 classes, band 2, whole year
    assert c["59371"]["population_source"] == "adhesions"
    assert c["59371"]["montant_cents"] == half_up(650 * Fraction("0.10") + 3 * 20 + 120)
    # Halluin, second groupe: 0,05 € per inhabitant, band 3
    assert c["59279"]["montant_cents"] == half_up(20800 * Fraction("0.05") + 88 * 20 + 300)
    # Wicres: 498 inhabitants, band 1
    assert c["59658"]["montant_cents"] == half_up(Fraction(498, 10)) + 4000 + 5000
    # Bouvines joins on 20/12/2025: 12 days of 365, under the seuil
    annual = half_up(4 * Fraction(20)) + half_up(775 * Fraction("0.10")) + half_up(Fraction(120))
    assert c["59106"]["montant_cents"] == half_up(Fraction(annual, 100) * Fraction(12, 365))
    assert c["59106"]["sous_seuil"] is True and c["59106"]["montant_cents"] < 1500
    assert c["59560"]["mode_contribution"] == "fiscalisee"
    from billing.documents import claims_of, draft_notices

    assert sorted(cl.code_insee for cl in claims_of(data.priced)) == sorted(set(c) - {"59560"})
    drafts = {n.debiteur_code_insee: n for n in draft_notices(data)}
    assert set(drafts) == set(c) - {"59560"}  # the fiscalised member has none
    assert "SOUS LE SEUIL DE RECOUVREMENT de 15,00" in drafts["59106"].objet
    assert "SEUIL" not in drafts["59025"].objet


def test_a_group_naming_no_member_and_part_classe_without_classes_are_errors(tmp_path):
    from billing.sample import write_sample
    from billing.year import prepare_year

    write_sample(tmp_path / "in", "habitants")
    tarifs = tmp_path / "in" / "tarifs.toml"
    tarifs.write_text(tarifs.read_text(encoding="utf-8").replace('"second groupe"]', '"troisième groupe"]'),
                      encoding="utf-8")
    effectifs = tmp_path / "in" / "effectifs.csv"
    effectifs.write_text("\n".join(line.rsplit(";", 1)[0] for line in
                                   effectifs.read_text(encoding="utf-8-sig").splitlines()) + "\n", encoding="utf-8")
    with pytest.raises(BillingError) as caught:
        prepare_year(tmp_path / "in", 2025)
    text = "\n".join(render_list(caught.value.problems))
    assert "colonne « 2025.groupes.troisième groupe » : le groupe « troisième groupe » ne correspond à aucun " \
           "membre d'adhesions.csv" in text
    assert "« part_classe » facture chaque classe" in text and "ligne 10, colonne « 2025.part_classe »" in text


def test_a_population_that_is_not_a_whole_number_is_refused(tmp_path):
    from billing.sample import write_sample
    from billing.year import prepare_year

    write_sample(tmp_path / "in", "habitants")
    adhesions = tmp_path / "in" / "adhesions.csv"
    adhesions.write_text(adhesions.read_text(encoding="utf-8-sig").replace(";650;", ";650,5;"), encoding="utf-8")
    with pytest.raises(BillingError) as caught:
        prepare_year(tmp_path / "in", 2025)
    assert any("colonne « population » : « 650,5 » n'est pas un nombre entier" in line
               for line in render_list(caught.value.problems))


@pytest.mark.slow
def test_the_bundled_sample_csv_is_byte_identical_to_before_section_4b(tmp_path):
    from click.testing import CliRunner

    from billing.cli import main

    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path / "inputs")]).exit_code == 0
    result = runner.invoke(main, ["--inputs", str(tmp_path / "inputs"), "--out", str(tmp_path / "out"), "--quiet",
                                  "compute", "2024"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "contributions_2024.csv").read_bytes() == \
        (HERE / "fixtures" / "sample_contributions_2024_before_4b.csv").read_bytes()


# ----- end to end through the command line: issue, explain, the workbooks --------------------


def _cli(*args):
    from click.testing import CliRunner

    from billing.cli import main

    return CliRunner().invoke(main, list(args))


@pytest.mark.slow
def test_issue_skips_the_titre_below_the_seuil_and_the_fiscalised_member_then_titles_the_difference(tmp_path):
    import csv

    inputs, out, ledger = tmp_path / "in", tmp_path / "out", tmp_path / "titres.duckdb"
    assert _cli("init", "--exemple", "habitants", str(inputs)).exit_code == 0
    result = _cli("--inputs", str(inputs), "--out", str(out), "--ledger", str(ledger), "issue", "2025")
    assert result.exit_code == 0, result.output
    assert "Sous le seuil de recouvrement (15,00 €, CGCT D1611-1) : 1 titre(s) non émis, 9,12 € en tout" \
        in result.output.replace("\u202f", " ").replace("\xa0", " ")
    assert "Contributions fiscalisées (CGCT L5212-20) : 1 membre(s)" in result.output
    with open(out / "titres_2025.csv", encoding="utf-8-sig") as stream:
        rows = list(csv.reader(stream, delimiter=";" if ";" in stream.readline() else ","))
    titled = {cell for row in rows for cell in row if cell in ("59106", "59560", "59025")}
    assert titled == {"59025"}  # Bouvines (under the seuil) and Seclin (fiscalised) have no titre
    assert sorted(p.name[:5] for p in (out / "avis").glob("*.xlsx")) == ["ENT-2"] * 6
    result = _cli("--inputs", str(inputs), "--out", str(out), "--ledger", str(ledger), "compute", "2025")
    assert "Rien à corriger" in result.output and "Écarts" not in result.output  # neither is a pending correction

    # Bouvines now joins on 01/12/2025: 31 days, 23,57 € — its titre reaches the seuil and is issued
    adhesions = inputs / "adhesions.csv"
    adhesions.write_text(adhesions.read_text(encoding="utf-8-sig").replace("20/12/2025", "01/12/2025"),
                         encoding="utf-8")
    result = _cli("--inputs", str(inputs), "--out", str(out), "--ledger", str(ledger), "issue", "2025")
    assert result.exit_code == 0, result.output
    annual = half_up(4 * Fraction(20)) + half_up(775 * Fraction("0.10")) + half_up(Fraction(120))
    expected = half_up(Fraction(annual, 100) * Fraction(31, 365))
    assert expected >= 1500
    line = next(line for line in result.output.splitlines() if "59106" in line)
    assert "titre" in line and f"{expected // 100},{expected % 100:02d}" in line
    assert "Sous le seuil" not in result.output


@pytest.mark.slow
def test_the_workbooks_and_explain_show_population_source_group_and_why_no_titre(tmp_path):
    import csv

    from openpyxl import load_workbook

    inputs, out = tmp_path / "in", tmp_path / "out"
    assert _cli("init", "--exemple", "habitants", str(inputs)).exit_code == 0
    assert _cli("--inputs", str(inputs), "--out", str(out), "--quiet", "compute", "2025").exit_code == 0
    with open(out / "contributions_2025.csv", encoding="utf-8") as stream:
        rows = {r["code_insee"]: r for r in csv.DictReader(stream)}
    assert rows["59371"]["population"] == "650" and rows["59371"]["population_source"] == "adhesions.csv"
    assert rows["59658"]["strate"] == "1" and rows["59279"]["groupe_tarif"] == "second groupe"
    assert rows["59560"]["mode_contribution"] == "fiscalisée" and rows["59106"]["sous_seuil"].startswith("sous le")
    sheet = load_workbook(out / "synthese_2025.xlsx")["Hors titre"]
    values = [row for row in sheet.iter_rows(values_only=True) if row[0] in ("59560", "59106")]
    assert values == [("59560", "Seclin", Decimal("1960.70")), ("59106", "Bouvines", Decimal("9.12"))] or \
        [(a, b, round(c, 2)) for a, b, c in values] == [("59560", "Seclin", 1960.7), ("59106", "Bouvines", 9.12)]
    text = _cli("--inputs", str(inputs), "explain", "2025", "59279").output
    assert "Population retenue : 20\u202f800 (population municipale du référentiel)." in text
    assert "Groupe « second groupe » : tarif propre pour part_habitant" in text
    assert "20\u202f800 × 0,05" in text.replace("\xa0", " ")
    text = _cli("--inputs", str(inputs), "explain", "2025", "59106").output
    assert "Sous le seuil de recouvrement de 15,00" in text


def test_a_repartition_by_population_reads_the_population_column(tmp_path):
    from billing.sample import write_sample
    from billing.year import prepare_year

    write_sample(tmp_path / "in", "habitants")
    tarifs = tmp_path / "in" / "tarifs.toml"
    tarifs.write_text('[2025]\ndeliberation = "R"\nrentree = 2024\nmode = "repartition"\nprorata = "aucun"\n'
                      'montant_total = "10000.00"\npoids = {population = 1}\n', encoding="utf-8")
    data = prepare_year(tmp_path / "in", 2025)
    from billing.inputs.register import load_register

    register = load_register()
    pops = {r["code_insee"]: r["population"] for r in
            register.facts_frame(list(data.priced.contributions["code_insee"])).iter_rows(named=True)}
    pops["59371"] = 650  # the population column of adhesions.csv wins over the register
    total = sum(pops.values())
    exact = {c: Fraction(1_000_000 * p, total) for c, p in pops.items()}
    parts = {c: int(v) for c, v in exact.items()}
    for c in sorted(exact, key=lambda c: (-(exact[c] - parts[c]), c))[:1_000_000 - sum(parts.values())]:
        parts[c] += 1
    assert amounts(data.priced) == parts
    assert sum(parts.values()) == 1_000_000


def test_a_scenario_file_sets_bands_and_group_keys(tmp_path):
    from billing.inputs.scenarios import apply_settings, read_scenarios

    path = tmp_path / "scenarios.toml"
    path.write_text('[strates]\nstrates = [{jusqu_a = 499, montant = "60"}, {montant = "200"}]\n'
                    'part_habitant = "0.12"\n[strates.groupes."second groupe"]\npart_eleve = "1.05"\n', encoding="utf-8")
    (name, settings), = read_scenarios(path)
    changed = apply_settings(tariff(part_eleve_units=12_000), settings)
    assert changed.strates == (Strate(499, 6000), Strate(None, 20000)) and changed.part_habitant_units == 1200
    assert changed.for_group("second groupe").part_eleve_units == 10_500


@pytest.mark.parametrize("parameter,column", [("part_habitant", "population"), ("part_classe", "classes")])
def test_cible_solves_part_habitant_and_part_classe(parameter, column):
    from billing.core.simulate import solve_rate

    values = {"59001": 650, "59002": 775, "59003": 498}
    frame = base([{"code_insee": c, column: v} for c, v in values.items()])
    target = 30_000 if parameter == "part_habitant" else 30_000_00

    def reference(units: int) -> int:
        return sum(half_up(v * Fraction(units, 10_000)) for v in values.values())

    best = max(reference(u) for u in range(0, 20_001 if parameter == "part_habitant" else 200_001, 1)
               if reference(u) <= target) if parameter == "part_habitant" else None
    solution = solve_rate(frame, tariff(seuil_cents=0), target, annee=2024, parameter=parameter)
    assert solution.total_cents == reference(solution.units) <= target
    if best is not None:
        assert solution.total_cents == best
    assert reference(solution.units + 1) > target or solution.total_cents == target


def test_set_on_a_group_no_member_belongs_to_is_an_error():
    from billing.inputs.scenarios import apply_settings

    members = base([{"code_insee": "59001", "groupe": "premier groupe"}])
    with pytest.raises(BillingError) as caught:
        apply_settings(tariff(), ['groupes."troisième".part_eleve=1'], members=members)
    assert "le groupe « troisième » ne correspond à aucun membre" in render_list(caught.value.problems)[0]


@pytest.mark.slow
def test_classes_are_summed_over_the_public_schools_counted(tmp_path):
    """The official export's « Nombre total de classes » of the member's public schools with pupils; a private
    school's classes never count (Armentières, Bousbecque and Capinghem have both kinds)."""
    import csv

    from billing.sample import write_sample
    from billing.year import prepare_year

    write_sample(tmp_path / "in", "mel")
    tarifs = tmp_path / "in" / "tarifs.toml"
    tarifs.write_text(tarifs.read_text(encoding="utf-8").replace('part_eleve = "1.20"         # € par élève',
                                                                 'part_eleve = "1.20"\npart_classe = "12.5"'),
                      encoding="utf-8")
    data = prepare_year(tmp_path / "in", 2024)
    with open(tmp_path / "in" / "effectifs.csv", encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream, delimiter=";"))
    c = {r["code_insee"]: r for r in data.priced.contributions.iter_rows(named=True)}
    for code, name in (("59017", "ARMENTIERES"), ("59098", "BOUSBECQUE"), ("59128", "CAPINGHEM")):
        classes = sum(int(r["Nombre total de classes"]) for r in rows if r["Commune"] == name
                      and r["Rentrée scolaire"] == "2023" and r["Secteur"] == "PUBLIC"
                      and int(r["Nombre total d'élèves"]) > 0)
        assert c[code]["classes"] == classes
        line = data.priced.lines.filter((pl.col("code_insee") == code) & (pl.col("code") == "part_classe")).row(
            0, named=True)
        assert (line["quantite"], line["montant_cents"]) == (classes, half_up(classes * Fraction("12.5")))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 50_000), st.booleans()), min_size=1, max_size=6),
       st.integers(0, 30_000))
def test_a_group_override_equal_to_the_year_changes_nothing_and_members_outside_keep_the_year(rows, rate):
    frame = base([{"code_insee": f"59{i:03d}", "eleves": e, "population": p, "groupe": "g" if in_group else None}
                  for i, (e, p, in_group) in enumerate(rows)])
    year = dict(part_eleve_units=12_000, part_habitant_units=1000, strates=STRATES)
    same = price_year(frame, tariff(groupes=(GroupOverride("g", (("part_eleve_units", 12_000),)),), **year), annee=2024)
    assert amounts(same) == amounts(price_year(frame, tariff(**year), annee=2024))
    other = price_year(frame, tariff(groupes=(GroupOverride("g", (("part_habitant_units", rate),)),), **year),
                       annee=2024)
    for i, (e, p, in_group) in enumerate(rows):
        expected = half_up(e * Fraction("1.20")) + half_up(p * Fraction(rate if in_group else 1000, 10_000)) \
            + half_up(reference_strate(p))
        assert amounts(other)[f"59{i:03d}"] == expected
