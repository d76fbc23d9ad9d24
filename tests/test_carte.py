"""DESIGN §4c: several competences, several debtors. Every amount is checked against a reference computed
here with Fraction (each competence priced alone, répartitions apportioned by the largest remainders)."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest

from billing.core.carte import apply_debtor_seuil, price_carte
from billing.core.model import Competence, Tariff
from billing.core.problems import BillingError, render_list
from billing.inputs.tariffs import read_tariffs

SAMPLE = Path(__file__).parent.parent / "billing" / "sample"


def half_up(value: Fraction) -> int:
    """Cents, half-up, from an exact amount in euros."""
    return int(value * 100 + Fraction(1, 2))


def largest_remainders(total_cents: int, weights: dict[str, Fraction]) -> dict[str, int]:
    """Exact parts of total_cents by weight, floored, the missing cents to the largest remainders (ties: code)."""
    whole = sum(weights.values())
    exact = {code: Fraction(total_cents) * w / whole for code, w in weights.items()}
    parts = {code: int(value) for code, value in exact.items()}
    missing = half_up(sum(exact.values()) / 100) - sum(parts.values())
    for code in sorted(exact, key=lambda c: (-(exact[c] - parts[c]), c))[:missing]:
        parts[code] += 1
    return parts


def base(rows: list[dict]) -> pl.DataFrame:
    defaults = {"commune": "X", "statut": "adherente", "date_effet": date(2020, 1, 1), "date_retrait": None,
                "ecoles": 1, "eleves": 100, "classes": 4, "population": 1000, "population_source": "referentiel",
                "groupe": None, "mode_contribution": "titre", "competences": None, "code_debiteur": None}
    return pl.DataFrame([defaults | row for row in rows],
                        schema_overrides={"date_retrait": pl.Date, "competences": pl.Utf8, "code_debiteur": pl.Utf8})


def competence(nom: str, *, pour_tous: bool = False, imputation: str = "7474", **kw) -> Competence:
    return Competence(nom, nom.upper(), Tariff(annee=2024, deliberation="D", rentree=2023,
                                               **({"part_eleve_units": 0} | kw)), imputation, pour_tous)


def carte(*competences: Competence, seuil_cents: int = 1500) -> Tariff:
    return Tariff(annee=2024, deliberation="D", rentree=2023, part_eleve_units=0, competences=competences,
                  seuil_cents=seuil_cents)


ENT = competence("ent", imputation="74748", part_ecole_units=1_500_000, part_eleve_units=12_000)  # 150 €, 1,20 €
SIG = competence("sig", imputation="74741", part_habitant_units=500)                             # 0,05 €/hab
ADMIN = competence("administration", pour_tous=True, imputation="74740", mode="repartition",
                   montant_total_cents=4_000_000, poids=(("population", Fraction(1)),))


def by_competence(priced) -> dict[tuple[str, str], int]:
    return {(c, k): m for c, k, m in priced.by_competence.select("code_insee", "competence", "montant_cents")
            .iter_rows()}


def test_a_member_pays_each_competence_it_transferred_plus_administration():
    members = base([
        {"code_insee": "59001", "competences": "ent, sig", "ecoles": 2, "eleves": 333, "population": 4321},
        {"code_insee": "59002", "competences": "ent", "ecoles": 1, "eleves": 57, "population": 777},
        {"code_insee": "59003", "competences": "sig", "ecoles": 0, "eleves": 0, "population": 12_345},
        {"code_insee": "59004", "competences": "", "ecoles": 3, "eleves": 401, "population": 999},
    ])
    priced = price_carte(members, carte(ENT, SIG, ADMIN), annee=2024)
    rows = {r["code_insee"]: r for r in members.iter_rows(named=True)}
    ent = {c: half_up(150 * Fraction(r["ecoles"])) + half_up(Fraction("1.20") * r["eleves"])
           for c, r in rows.items() if c in ("59001", "59002", "59004")}
    sig = {c: half_up(Fraction("0.05") * r["population"]) for c, r in rows.items() if c in ("59001", "59003", "59004")}
    admin = largest_remainders(4_000_000, {c: Fraction(r["population"]) for c, r in rows.items()})
    expected = {(c, "ent"): v for c, v in ent.items()} | {(c, "sig"): v for c, v in sig.items()} \
        | {(c, "administration"): v for c, v in admin.items()}
    assert by_competence(priced) == expected
    totals = dict(priced.contributions.select("code_insee", "montant_cents").iter_rows())
    assert totals == {c: ent.get(c, 0) + sig.get(c, 0) + admin[c] for c in rows}
    assert sum(admin.values()) == 4_000_000
    # the lines of each member add up to its total, competence by competence
    lines = priced.lines.group_by("code_insee", "competence").agg(pl.col("montant_cents").sum())
    assert {(c, k): m for c, k, m in lines.iter_rows()} == expected
    first = priced.lines.filter(pl.col("code_insee") == "59001")
    assert first["competence"].to_list()[:4] == ["ent", "ent", "sig", "administration"]  # then an « arrondi », maybe
    assert first["ordre"].to_list() == list(range(1, first.height + 1))


def test_a_repartition_is_shared_over_the_subscribers_of_its_competence_only():
    sig = competence("sig", mode="repartition", montant_total_cents=1_000_000,
                     poids=(("population", Fraction(2, 3)), ("forfait", Fraction(1, 3))))
    members = base([
        {"code_insee": "59001", "competences": "sig", "population": 1000},
        {"code_insee": "59002", "competences": "ent", "population": 50_000},
        {"code_insee": "59003", "competences": "ent,sig", "population": 333},
        {"code_insee": "59004", "competences": "sig", "population": 7},
    ])
    priced = price_carte(members, carte(ENT, sig), annee=2024)
    subscribers = {"59001": 1000, "59003": 333, "59004": 7}
    total_pop = sum(subscribers.values())
    weights = {c: Fraction(2, 3) * Fraction(p, total_pop) + Fraction(1, 3) * Fraction(1, 3)
               for c, p in subscribers.items()}
    expected = largest_remainders(1_000_000, weights)
    got = {c: m for (c, k), m in by_competence(priced).items() if k == "sig"}
    assert got == expected and sum(got.values()) == 1_000_000
    assert ("59002", "sig") not in by_competence(priced)


def test_an_epci_paying_for_three_communes_with_prorata_for_one():
    members = base([
        {"code_insee": "59001", "code_debiteur": "EPCI", "eleves": 10, "ecoles": 0},
        {"code_insee": "59002", "code_debiteur": "EPCI", "eleves": 20, "ecoles": 0,
         "date_effet": date(2024, 3, 1)},
        {"code_insee": "59003", "code_debiteur": "EPCI", "eleves": 5, "ecoles": 0},
        {"code_insee": "59004", "code_debiteur": "59004", "eleves": 7, "ecoles": 0},
    ])
    priced = price_carte(members, carte(ENT), annee=2024)
    contributions = apply_debtor_seuil(priced.contributions, 1500)
    expected = {"59001": half_up(Fraction("1.20") * 10),
                "59003": half_up(Fraction("1.20") * 5),
                "59004": half_up(Fraction("1.20") * 7)}
    annual = half_up(Fraction("1.20") * 20)
    expected["59002"] = half_up(Fraction(annual, 100) * Fraction(306, 366))  # 1 March to 31 December 2024
    got = dict(contributions.select("code_insee", "montant_cents").iter_rows())
    assert got == expected
    # the seuil applies to the titre: the EPCI's total (12 + 20,07 + 6 €) is issued, the commune's 8,40 € is not
    below = dict(contributions.select("code_insee", "sous_seuil").iter_rows())
    assert below == {"59001": False, "59002": False, "59003": False, "59004": True}
    assert expected["59001"] < 1500 and expected["59003"] < 1500


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


CARTE_TOML = """
[2024]
deliberation = "2023-05 du 13 décembre 2023"
rentree = 2023
imputation = "7474"
date_emission = 2024-04-15
[2024.competences.ent]
libelle = "Espace numérique de travail des écoles"
imputation = "74748"
part_ecole = "150.00"
part_eleve = "1.20"
[2024.competences.sig]
libelle = "Système d'information géographique"
part_habitant = "0.05"
[2024.competences.administration]
libelle = "Administration générale"
pour_tous = true
mode = "repartition"
montant_total = "40000.00"
poids = {population = 1}
"""


def test_competence_tables_are_validated_like_a_year(tmp_path):
    path = tmp_path / "tarifs.toml"
    write(path, CARTE_TOML)
    tariffs, problems = read_tariffs(path, display="tarifs.toml")
    assert not [p for p in problems if p.is_error]
    names = [(c.nom, c.imputation, c.pour_tous, c.tariff.rentree) for c in tariffs[2024].competences]
    assert names == [("ent", "74748", False, 2023), ("sig", "7474", False, 2023),
                     ("administration", "7474", True, 2023)]
    write(path, CARTE_TOML.replace('part_habitant = "0.05"', 'part_habitant = "0.05"\npart_habitants = "1"\n'
                                   'seuil_recouvrement = "5.00"').replace('rentree = 2023\nimputation',
                                                                          'rentree = 2023\npart_eleve = "1"\nimputation'))
    tariffs, problems = read_tariffs(path, display="tarifs.toml")
    errors = {p.column: p.message for p in problems if p.is_error}
    assert 2024 not in tariffs
    assert "clé inconnue" in errors["2024.competences.sig.part_habitants"]
    assert "clé de l'année" in errors["2024.competences.sig.seuil_recouvrement"]
    assert "clé inconnue" in errors["2024.part_eleve"]


def carte_inputs(tmp_path: Path, *, debtors: str | None, competences, debiteur) -> Path:
    inputs = tmp_path / "inputs"
    shutil.copytree(SAMPLE, inputs)
    write(inputs / "tarifs.toml", CARTE_TOML)
    with open(inputs / "adhesions.csv", encoding="utf-8-sig") as stream:
        rows = list(csv.reader(stream, delimiter=";"))
    rows[0] += ["competences", "debiteur"]
    for index, row in enumerate(rows[1:]):
        row += [competences(index), debiteur(index)]
    with open(inputs / "adhesions.csv", "w", encoding="utf-8", newline="") as stream:
        csv.writer(stream, delimiter=";").writerows(rows)
    if debtors is not None:
        write(inputs / "debiteurs.csv", debtors)
    return inputs


DEBTORS = ("code,nom,categorie,siret,adresse,email\n"
           "MEL,Métropole européenne de Lille,epci,20004167400017,\"2 boulevard des Cités Unies, 59040 Lille\",\n")


@pytest.mark.slow
def test_compute_writes_one_row_per_member_and_competence_that_adds_up(tmp_path):
    from billing.compute import compute

    inputs = carte_inputs(tmp_path, debtors=DEBTORS, competences=lambda i: ("ent", "sig", "")[i % 3],
                          debiteur=lambda i: "MEL" if i < 3 else "")
    compute(inputs, 2024, out_dir=tmp_path / "out", ledger_path=tmp_path / "l.duckdb")
    with open(tmp_path / "out" / "contributions_2024.csv", encoding="utf-8") as stream:
        totals = {r["code_insee"]: Fraction(r["montant"]) for r in csv.DictReader(stream)}
    with open(tmp_path / "out" / "contributions_2024_competences.csv", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    sums: dict[str, Fraction] = {}
    for row in rows:
        sums[row["code_insee"]] = sums.get(row["code_insee"], Fraction(0)) + Fraction(row["montant"])
    assert sums == totals
    kinds = {}
    for row in rows:
        kinds.setdefault(row["code_insee"], []).append(row["competence"])
    assert kinds["59005"] == ["ent", "administration"]          # first member: ent
    assert kinds["59013"] == ["sig", "administration"]          # second: sig
    assert kinds["59017"] == ["ent", "sig", "administration"]   # third: empty, every competence not pour_tous
    billed_admin = sum(Fraction(r["montant"]) for r in rows if r["competence"] == "administration")
    assert billed_admin < 40000  # conditionnelles pay nothing and the members joined on 1 March (prorata)


def test_bad_competences_and_debtors_are_reported_together_in_french(tmp_path):
    from billing.year import prepare_year

    debtors = DEBTORS + "SIVOS,SIVOS des écoles,sivos,12345678901234,,\n"
    inputs = carte_inputs(tmp_path, debtors=debtors, competences=lambda i: "ent, cantine" if i == 0 else "",
                          debiteur=lambda i: "CCPC" if i == 1 else "")
    with pytest.raises(BillingError) as raised:
        prepare_year(inputs, 2024)
    text = "\n".join(render_list(raised.value.problems, limit=1000))
    assert "compétence « cantine » inconnue pour 2024" in text and "ent, sig, administration" in text
    assert "ligne 2" in text and "ligne 3" in text
    assert "débiteur inconnu" in text and "CCPC" in text
    assert "catégorie de débiteur inconnue" in text
    assert "n'est pas un SIRET valide" in text
    assert "ne paie pour aucun membre" in text  # MEL and SIVOS are used by no member: warnings


def test_a_year_without_competences_names_only_ent(tmp_path):
    from billing.year import prepare_year

    inputs = carte_inputs(tmp_path, debtors=None, competences=lambda i: "sig" if i == 4 else "ent",
                          debiteur=lambda i: "")
    shutil.copy(SAMPLE / "tarifs.toml", inputs / "tarifs.toml")
    with pytest.raises(BillingError) as raised:
        prepare_year(inputs, 2024)
    text = "\n".join(render_list(raised.value.problems, limit=1000))
    assert "compétence « sig » inconnue" in text and "ligne 6" in text


@pytest.mark.slow
@pytest.mark.libreoffice
def test_a_notice_with_several_competences_recalculates_in_libreoffice(tmp_path):
    """Each competence's prorata applies to its own lines only: LibreOffice, from spoiled cached values, finds
    every line and the total of the CSV (59009: three competences, member from 1 March)."""
    from decimal import Decimal

    from openpyxl import load_workbook

    from billing.compute import compute
    from tests.libreoffice import notice_total, recalculate, spoil_cached_values

    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LIBREOFFICE ABSENT : `soffice` introuvable, l'avis à plusieurs compétences n'est PAS recalculé")
    inputs = carte_inputs(tmp_path, debtors=None, competences=lambda i: "", debiteur=lambda i: "")
    compute(inputs, 2024, out_dir=tmp_path / "out", ledger_path=tmp_path / "l.duckdb")
    with open(tmp_path / "out" / "contributions_2024_competences.csv", encoding="utf-8") as stream:
        parts = {r["competence"]: Decimal(r["montant"]) for r in csv.DictReader(stream) if r["code_insee"] == "59009"}
    source = next((tmp_path / "out" / "avis").glob("PROJET_59009_*.xlsx"))
    poisoned = tmp_path / "poisoned" / source.name
    poisoned.parent.mkdir()
    assert spoil_cached_values(source, poisoned) >= 7
    recalculated = recalculate(soffice, [poisoned], tmp_path / "recalc", tmp_path)[0]
    assert notice_total(recalculated) == sum(parts.values())
    sheet = load_workbook(recalculated, data_only=True).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    start = next(i for i, r in enumerate(rows) if r[0] == "Libellé") + 1
    group, sums = None, {}
    for row in rows[start:]:
        label = str(row[0] or "")
        if label.startswith("Montant total"):
            break
        if label.startswith("Compétence : "):
            group = label.removeprefix("Compétence : ")
            continue
        amount = next((v for v in reversed(row) if isinstance(v, (int, float))), None)
        if amount is not None and not label.startswith("Sous-total"):
            sums[group] = sums.get(group, Decimal(0)) + Decimal(str(amount))
    assert {k: round(v, 2) for k, v in sums.items()} == {
        "Espace numérique de travail des écoles": parts["ent"], "Système d'information géographique": parts["sig"],
        "Administration générale": parts["administration"]}


def test_explain_accepts_a_debtor_and_totals_the_members_it_pays_for(tmp_path):
    from billing.questions import explain
    from billing.year import prepare_year

    inputs = carte_inputs(tmp_path, debtors=DEBTORS, competences=lambda i: "",
                          debiteur=lambda i: "MEL" if i < 3 else "")
    priced = prepare_year(inputs, 2024).priced
    members = priced.contributions.filter(pl.col("code_debiteur") == "MEL")
    assert members["code_insee"].to_list() == ["59005", "59013", "59017"]
    explanation = explain(inputs, 2024, "MEL")
    total = sum(Fraction(m, 100) for m in members["montant_cents"].to_list())
    assert Fraction(explanation.contribution["montant"]) == total
    text = "\n".join(explanation.lines)
    assert text.count("Compétence « Administration générale » (imputation 7474)") == 3
    assert "Total du titre de Métropole européenne de Lille" in text and "(3 membres)" in text
    assert explain(inputs, 2024, "59009").code_insee == "59009"  # a member still works


def test_the_carte_sample_bills_an_epci_for_three_communes_one_prorated(tmp_path):
    """`init --exemple carte` then compute 2025: the ENT part of the three communes the Métropole pays for,
    against a Fraction reference (Le Maisnil joins on 1 July 2025: 184 days of 365)."""
    from click.testing import CliRunner

    from billing.cli import main

    runner = CliRunner()
    assert runner.invoke(main, ["init", "--exemple", "carte", str(tmp_path / "in")]).exit_code == 0
    result = runner.invoke(main, ["--inputs", str(tmp_path / "in"), "compute", "2025", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out" / "contributions_2025_competences.csv", encoding="utf-8") as stream:
        parts = {(r["code_insee"], r["competence"]): Fraction(r["montant"]) for r in csv.DictReader(stream)}
    with open(tmp_path / "in" / "effectifs.csv", encoding="utf-8-sig") as stream:
        counts = {r["code_insee"]: (int(r["ecoles"]), int(r["eleves"])) for r in csv.DictReader(stream, delimiter=";")}

    def ent(code: str, factor: Fraction = Fraction(1)) -> Fraction:
        schools, pupils = counts[code]
        annual = half_up(150 * Fraction(schools)) + half_up(Fraction("1.20") * pupils)
        return Fraction(half_up(Fraction(annual, 100) * factor), 100)

    assert parts[("59025", "ent")] == ent("59025")
    assert parts[("59257", "ent")] == ent("59257")
    assert parts[("59371", "ent")] == ent("59371", Fraction(184, 365))
    assert ("59279", "ent") not in parts and "59279" not in counts  # Halluin: « sig » only, no counts needed
    # 12 000 € shared over the six members; Le Maisnil's prorata shortfall is not spread over the others
    assert 11_000 < sum(v for (c, k), v in parts.items() if k == "administration") < 12_000
    result = runner.invoke(main, ["--inputs", str(tmp_path / "in"), "explain", "2025", "MEL"])
    assert result.exit_code == 0 and "(3 membres)" in result.output, result.output
    from billing.questions import explain

    mel = sum(v for (c, k), v in parts.items() if c in ("59025", "59257", "59371"))
    assert Fraction(explain(tmp_path / "in", 2025, "MEL").contribution["montant"]) == mel


def move_debtor(inputs: Path, code: str, debtor: str) -> None:
    with open(inputs / "adhesions.csv", encoding="utf-8-sig") as stream:
        rows = list(csv.reader(stream, delimiter=";"))
    column = rows[0].index("debiteur")
    for row in rows[1:]:
        if row[0] == code:
            row[column] = debtor
    with open(inputs / "adhesions.csv", "w", encoding="utf-8", newline="") as stream:
        csv.writer(stream, delimiter=";").writerows(rows)


@pytest.mark.slow
def test_a_member_changing_debtor_between_two_issues(tmp_path):
    """One titre per debtor; Fromelles leaves the Métropole's titre to pay for itself: a réduction on the
    Métropole, a titre for Fromelles, and the ledger's nets per debtor equal the recomputed amounts."""
    from click.testing import CliRunner

    from billing.cli import main
    from billing.core.corrections import net_by_commune
    from billing.issuing import issue, issued_titres
    from billing.year import prepare_year

    runner = CliRunner()
    inputs, ledger = tmp_path / "in", tmp_path / "l.duckdb"
    assert runner.invoke(main, ["init", "--exemple", "carte", str(inputs)]).exit_code == 0

    def owed() -> dict[str, int]:
        """Recomputed now, independently of the claims: each debtor's sum of its billed members' amounts."""
        contributions = prepare_year(inputs, 2025).priced.contributions
        out: dict[str, int] = {}
        for row in contributions.filter(pl.col("situation") == "facturee").iter_rows(named=True):
            out[row["code_debiteur"]] = out.get(row["code_debiteur"], 0) + row["montant_cents"]
        return out

    first = issue(inputs, 2025, out_dir=tmp_path / "out", ledger_path=ledger)
    assert sorted(t.code_insee for t in first.issued) == ["59201", "59279", "59658", "MEL"]
    before = owed()
    assert net_by_commune(issued_titres(ledger, 2025)) == before
    mel = next(t for t in first.issued if t.code_insee == "MEL")
    assert [l["libelle"] for l in mel.lines if l["code"] == "membre"] == [
        "Commune d'Aubers (59025)", "Commune de Fromelles (59257)", "Commune du Maisnil (59371)"]
    assert sum(l["montant_cents"] for l in mel.lines) == mel.montant_cents == before["MEL"]

    from billing.compute import compute

    assert compute(inputs, 2025, out_dir=tmp_path / "c1", ledger_path=ledger).differences == ()
    move_debtor(inputs, "59257", "")
    shown = compute(inputs, 2025, out_dir=tmp_path / "c2", ledger_path=ledger).differences
    assert [(code, issued, now) for code, _, issued, now in shown] == [
        ("59257", 0, owed()["59257"]), ("MEL", before["MEL"], owed()["MEL"])]
    second = issue(inputs, 2025, out_dir=tmp_path / "out", ledger_path=ledger)
    after = owed()
    moved = before["MEL"] - after["MEL"]
    assert moved > 0 and after["59257"] == moved
    kinds = sorted((t.nature, t.code_insee, t.montant_cents, t.origine_numero) for t in second.issued)
    assert kinds == [("reduction", "MEL", moved, mel.numero), ("titre", "59257", moved, None)]
    assert net_by_commune(issued_titres(ledger, 2025)) == after
    from billing.ledger.store import open_ledger

    with open_ledger(ledger, readonly=True) as opened:  # per member, whoever pays: the recomputed amounts
        members = dict(prepare_year(inputs, 2025).priced.contributions.select("code_insee", "montant_cents")
                       .iter_rows())
        assert opened.net_by_member(2025) == members
        assert opened.member_parts(2025)[second.issued[0].numero if second.issued[0].code_insee == "MEL"
                                         else second.issued[1].numero] == {"59257": moved}
    with open(tmp_path / "out" / "titres_2025.csv", encoding="utf-8") as stream:
        by_titre: dict[tuple, Fraction] = {}  # one row per titre and competence (DESIGN §4c): summed per titre
        for r in csv.DictReader(stream):
            key = (r["numero"], r["code_insee"], r["code_debiteur"])
            by_titre[key] = by_titre.get(key, Fraction(0)) + Fraction(r["montant"])
        written = [(*key, amount) for key, amount in by_titre.items()]
    assert written[3] == (mel.numero, "", "MEL", Fraction(before["MEL"], 100))
    assert written[4][1:] == ("59257", "59257", Fraction(moved, 100))
    assert written[5][1:] == ("", "MEL", -Fraction(moved, 100))
    third = issue(inputs, 2025, out_dir=tmp_path / "out", ledger_path=ledger)
    assert not third.issued  # the same inputs issue nothing new


@pytest.mark.slow
@pytest.mark.libreoffice
def test_the_notice_of_a_debtor_paying_for_three_members_recalculates_in_libreoffice(tmp_path):
    """The Métropole's draft: one block per commune, inside one group per competence; LibreOffice, from spoiled
    cached values, finds each commune's amount of the CSV and the titre's total, to the cent."""
    from decimal import Decimal

    from click.testing import CliRunner
    from openpyxl import load_workbook

    from billing.cli import main
    from tests.libreoffice import notice_total, recalculate, spoil_cached_values

    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LIBREOFFICE ABSENT : `soffice` introuvable, l'avis du débiteur n'est PAS recalculé")
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--exemple", "carte", str(tmp_path / "in")]).exit_code == 0
    result = runner.invoke(main, ["--inputs", str(tmp_path / "in"), "compute", "2025", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out" / "contributions_2025.csv", encoding="utf-8") as stream:
        amounts = {r["code_insee"]: Decimal(r["montant"]) for r in csv.DictReader(stream)}
    drafts = sorted(p.name for p in (tmp_path / "out" / "avis").glob("PROJET_*.xlsx"))
    assert [name.split("_")[1] for name in drafts] == ["59201", "59279", "59658", "MEL"]  # no draft per paid member
    source = tmp_path / "out" / "avis" / drafts[-1]
    poisoned = tmp_path / "poisoned" / source.name
    poisoned.parent.mkdir()
    assert spoil_cached_values(source, poisoned) >= 10
    recalculated = recalculate(soffice, [poisoned], tmp_path / "recalc", tmp_path)[0]
    assert notice_total(recalculated) == amounts["59025"] + amounts["59257"] + amounts["59371"]
    sheet = load_workbook(recalculated, data_only=True).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    start = next(i for i, r in enumerate(rows) if r[0] == "Libellé") + 1
    member, sums = None, {}
    for row in rows[start:]:
        label = str(row[0] or "")
        if label.startswith("Montant total"):
            break
        if label.endswith(")") and label.startswith("Commune"):
            member = label[-6:-1]
            continue
        amount = next((v for v in reversed(row) if isinstance(v, (int, float))), None)
        if amount is not None:
            sums[member] = sums.get(member, Decimal(0)) + Decimal(str(amount))
    assert {k: round(v, 2) for k, v in sums.items()} == {c: amounts[c] for c in ("59025", "59257", "59371")}


# Written by ent-bill at commit 87cf8a9 (schema 3, before §4c): `init` then `issue 2024` of the « mel » sample.
SCHEMA3 = Path(__file__).parent / "fixtures" / "ledger_schema3.duckdb.gz"


@pytest.mark.slow
def test_a_schema_3_ledger_is_migrated_each_titre_for_its_own_commune(tmp_path):
    import gzip

    import duckdb

    from billing.issuing import issue, issued_titres
    from billing.ledger.store import SCHEMA_VERSION, open_ledger

    ledger = tmp_path / "ent-bill.duckdb"
    with gzip.open(SCHEMA3, "rb") as source, ledger.open("wb") as target:
        shutil.copyfileobj(source, target)
    con = duckdb.connect(str(ledger), read_only=True)
    try:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
        before = dict(con.execute("SELECT code_insee, montant_cents FROM titres WHERE exercice = 2024").fetchall())
    finally:
        con.close()
    assert len(before) == 70
    with open_ledger(ledger) as opened:  # writable: migrated
        assert opened.schema_version == SCHEMA_VERSION == 4
        assert not opened.verify(2024)
        parts = opened.member_parts(2024)
        numbers = {t.numero: t.code_insee for t in opened.titres(2024, lines=False)}
        assert {numero: p for numero, p in parts.items()} == {
            numero: {code: before[code]} for numero, code in numbers.items()}
        assert opened.net_by_member(2024) == before
    inputs = tmp_path / "in"
    shutil.copytree(SAMPLE, inputs)
    again = issue(inputs, 2024, out_dir=tmp_path / "out", ledger_path=ledger)
    assert not again.issued and len(issued_titres(ledger, 2024)) == 70  # the same inputs issue nothing new
