"""Pricing checked to the cent against a deliberately naive reference written here.

The reference shares no code with billing.core.pricing nor billing.core.money: it walks the calendar
day by day, counts pupils one by one into their bands, and rounds with Fractions. It is
slow and obvious on purpose; billing.core.pricing is fast and column-wise.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from fractions import Fraction

import polars as pl
import pytest

from billing.core.model import Band, Tariff
from billing.core.pricing import (
    CONTRIBUTION_SCHEMA,
    LINE_SCHEMA,
    PASSTHROUGH,
    TARIFF_COLUMNS,
    Period,
    PricingError,
    explain_commune,
    membership_period,
    price_year,
)

NNBSP, NBSP = "\u202f", "\u00a0"


# ----- the naive reference -------------------------------------------------------------------


def half_up(value: Fraction) -> int:
    """Round half away from zero: floor(x + 1/2) for x ≥ 0 (not the formula billing.core.money uses)."""
    if value < 0:
        return -half_up(-value)
    return math.floor(value + Fraction(1, 2))


def member_days(date_effet, date_retrait, annee) -> list[date]:
    """Every day of ``annee`` on which the commune was a member, one by one."""
    if date_effet is None:
        return []
    day, days = date(annee, 1, 1), []
    while day.year == annee:
        if date_effet <= day and (date_retrait is None or day < date_retrait):
            days.append(day)
        day += timedelta(days=1)
    return days


def reference_factor(row: dict, tariff: Tariff, annee: int) -> Fraction | None:
    """The prorata factor, or None when nothing is due (not billable, no day in the year)."""
    if row["statut"] == "conditionnelle":
        return Fraction(1)
    days = member_days(row["date_effet"], row["date_retrait"], annee)
    if not days:
        return None
    if tariff.prorata == "jours":
        year_length = (date(annee + 1, 1, 1) - date(annee, 1, 1)).days
        return Fraction(len(days), year_length)
    if tariff.prorata == "mois":
        return Fraction(len({d.month for d in days}), 12)
    return Fraction(1)


def reference_annual_bareme(ecoles: int, eleves: int, tariff: Tariff) -> int:
    """Annual cents, by hand: each line rounded, bands counted pupil by pupil."""
    cents = tariff.part_fixe_cents
    cents += half_up(Fraction(ecoles * tariff.part_ecole_units, 100))
    if tariff.tranches:
        def band_of(pupil: int) -> int:
            for index, band in enumerate(tariff.tranches):
                if band.jusqu_a is None or pupil <= band.jusqu_a:
                    return index
            raise AssertionError("no band")

        if tariff.tranches_mode == "progressif":
            per_band = [0] * len(tariff.tranches)
            for pupil in range(1, eleves + 1):
                per_band[band_of(pupil)] += 1
            cents += sum(half_up(Fraction(n * band.rate_units, 100)) for n, band in zip(per_band, tariff.tranches))
        else:
            rate = tariff.tranches[band_of(max(eleves, 1))].rate_units
            cents += half_up(Fraction(eleves * rate, 100))
    else:
        cents += half_up(Fraction(eleves * (tariff.part_eleve_units or 0), 100))
    if tariff.plancher_cents is not None and cents < tariff.plancher_cents:
        cents = tariff.plancher_cents
    if tariff.plafond_cents is not None and cents > tariff.plafond_cents:
        cents = tariff.plafond_cents
    return cents


def reference_bareme(rows: list[dict], tariff: Tariff, annee: int) -> dict[str, tuple[int, int | None]]:
    """code -> (billed cents, indicative cents or None)."""
    out = {}
    for row in rows:
        factor = reference_factor(row, tariff, annee)
        if factor is None:
            out[row["code_insee"]] = (0, None)
            continue
        annual = reference_annual_bareme(row["ecoles"], row["eleves"], tariff)
        if row["statut"] == "conditionnelle":
            out[row["code_insee"]] = (0, annual)
        else:
            out[row["code_insee"]] = (half_up(annual * factor), None)
    return out


def reference_repartition(rows: list[dict], tariff: Tariff, annee: int) -> dict[str, tuple[int, int | None]]:
    """Shares as Fractions, exact parts, largest remainders (ties by code), one commune at a time."""
    def value(row, criterion):
        return 1 if criterion == "forfait" else row[criterion]

    billed = [r for r in rows if r["statut"] != "conditionnelle" and reference_factor(r, tariff, annee) is not None]
    sums = {k: sum(value(r, k) for r in billed) for k, _ in tariff.poids}
    exact = {}
    for row in billed:
        share = sum((w * Fraction(value(row, k), sums[k]) for k, w in tariff.poids if w), Fraction(0))
        exact[row["code_insee"]] = tariff.montant_total_cents * share * reference_factor(row, tariff, annee)
    parts = {code: math.floor(x) for code, x in exact.items()}
    missing = half_up(sum(exact.values(), Fraction(0))) - sum(parts.values())
    by_remainder = sorted(exact, key=lambda code: (parts[code] - exact[code], code))
    for code in by_remainder[:missing]:
        parts[code] += 1
    out = {}
    for row in rows:
        code = row["code_insee"]
        if code in parts:
            out[code] = (parts[code], None)
        elif row["statut"] == "conditionnelle":
            share = Fraction(0)
            for k, w in tariff.poids:
                total = sums[k] + value(row, k)
                if w and total:
                    share += w * Fraction(value(row, k), total)
            out[code] = (0, half_up(tariff.montant_total_cents * share))
        else:
            out[code] = (0, None)
    return out


def check_lines_follow_the_formulas(priced) -> None:
    """What the notice renderer will do with each line, redone here: every line recomputes."""
    contributions = {r["code_insee"]: r for r in priced.contributions.iter_rows(named=True)}
    by_commune: dict[str, list[dict]] = {}
    for line in priced.lines.iter_rows(named=True):
        by_commune.setdefault(line["code_insee"], []).append(line)
    tariff = priced.tariff
    for code, c in contributions.items():
        lines = by_commune.get(code, [])
        assert [l["ordre"] for l in lines] == list(range(1, len(lines) + 1))
        subtotal = 0
        for line in lines:
            if line["formule"] == "produit":
                assert line["montant_cents"] == half_up(Fraction(line["quantite"] * line["taux_units"], 100))
            elif line["formule"] == "prorata":
                expected = half_up(Fraction(subtotal * c["facteur_num"], c["facteur_den"])) - subtotal
                assert line["montant_cents"] == expected
            elif line["formule"] == "ajustement":
                target = tariff.plancher_cents if line["code"] == "plancher" else tariff.plafond_cents
                assert subtotal + line["montant_cents"] == target
            else:
                assert line["formule"] == "valeur" and line["quantite"] is None
            subtotal += line["montant_cents"]
        if c["situation"] == "facturee":
            assert subtotal == c["montant_cents"] and c["montant_indicatif_cents"] is None
        elif c["situation"] == "indicative":
            assert subtotal == c["montant_indicatif_cents"] and c["montant_cents"] == 0
        else:
            assert lines == [] and c["montant_cents"] == 0 and c["montant_indicatif_cents"] is None


# ----- builders (also used by tests/test_simulate.py) -------------------------------------------


def base_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"code_insee": pl.Utf8, "commune": pl.Utf8, "statut": pl.Utf8,
                                      "date_effet": pl.Date, "date_retrait": pl.Date, "ecoles": pl.Int64,
                                      "eleves": pl.Int64, "population": pl.Int64})


def member(code, ecoles, eleves, *, statut="adherente", effet=date(2020, 1, 1), retrait=None, population=1000):
    return {"code_insee": code, "commune": f"Commune {code}", "statut": statut, "date_effet": effet,
            "date_retrait": retrait, "ecoles": ecoles, "eleves": eleves, "population": population}


def tariff(**overrides) -> Tariff:
    values = dict(annee=2024, deliberation="2023-05 du 13 décembre 2023", rentree=2023, part_ecole_units=1_500_000,
                  part_eleve_units=12_000, prorata="jours")
    values.update(overrides)
    return Tariff(**values)


BANDS = (Band(500, 15_000), Band(2000, 12_000), Band(None, 10_000))


def check_against_reference(rows: list[dict], t: Tariff, annee: int = 2024):
    priced = price_year(base_frame(rows), t, annee=annee)
    reference = (reference_repartition if t.mode == "repartition" else reference_bareme)(rows, t, annee)
    got = {r["code_insee"]: (r["montant_cents"], r["montant_indicatif_cents"])
           for r in priced.contributions.iter_rows(named=True)}
    assert got == reference
    check_lines_follow_the_formulas(priced)
    return priced


def amounts(priced) -> list[int]:
    return priced.contributions["montant_cents"].to_list()


def lines_of(priced, code: str) -> list[tuple]:
    return [(l["code"], l["quantite"], l["taux_units"], l["montant_cents"], l["formule"])
            for l in priced.lines.filter(pl.col("code_insee") == code).iter_rows(named=True)]


# ----- barème --------------------------------------------------------------------------------


def test_flat_bareme_lys_lez_lannoy_full_year():
    # 5 × 150,00 € + 1 100 × 1,20 € = 750,00 + 1 320,00 = 2 070,00 €
    priced = check_against_reference([member("59367", 5, 1100)], tariff())
    assert amounts(priced) == [207_000]
    assert lines_of(priced, "59367") == [("part_ecole", 5, 1_500_000, 75_000, "produit"),
                                         ("part_eleve", 1100, 12_000, 132_000, "produit")]
    row = priced.contributions.row(0, named=True)
    assert (row["situation"], row["jours"], row["jours_annee"], row["mois"], row["facteur_num"],
            row["facteur_den"]) == ("facturee", 366, 366, 12, 366, 366)


def test_unit_price_with_four_decimals_rounds_each_line_half_up():
    # 3 × 1,4375 € = 4,3125 € → 4,31 € ; 7 × 1,4375 € = 10,0625 € → 10,06 € ; 2 × 0,0025 € = 0,005 € → 0,01 €
    t = tariff(part_ecole_units=0, part_eleve_units=14_375)
    priced = check_against_reference([member("59001", 1, 3), member("59002", 1, 7)], t)
    assert amounts(priced) == [431, 1006]
    priced = check_against_reference([member("59001", 1, 2)], tariff(part_ecole_units=0, part_eleve_units=25))
    assert amounts(priced) == [1]


def test_zero_price_has_no_line_but_zero_quantity_keeps_its_line():
    t = tariff(part_fixe_cents=0, part_ecole_units=1_500_000, part_eleve_units=12_000)
    priced = check_against_reference([member("59001", 0, 40)], t)
    assert lines_of(priced, "59001") == [("part_ecole", 0, 1_500_000, 0, "produit"),
                                         ("part_eleve", 40, 12_000, 4_800, "produit")]
    t = tariff(part_fixe_cents=5_000, part_ecole_units=0, part_eleve_units=12_000)
    priced = check_against_reference([member("59001", 3, 40)], t)
    assert lines_of(priced, "59001") == [("part_fixe", None, None, 5_000, "valeur"),
                                         ("part_eleve", 40, 12_000, 4_800, "produit")]


@pytest.mark.parametrize("mode", ["progressif", "global"])
@pytest.mark.parametrize("pupils", [0, 1, 499, 500, 501, 1999, 2000, 2001, 12_345])
def test_bands_against_reference(mode, pupils):
    t = tariff(part_eleve_units=None, tranches=BANDS, tranches_mode=mode, part_ecole_units=0)
    check_against_reference([member("59001", 1, pupils)], t)


@pytest.mark.parametrize(("pupils", "expected"), [
    (0, [("tranche_1", 0, 15_000, 0, "produit")]),
    (500, [("tranche_1", 500, 15_000, 75_000, "produit")]),
    (501, [("tranche_1", 500, 15_000, 75_000, "produit"), ("tranche_2", 1, 12_000, 120, "produit")]),
    (2000, [("tranche_1", 500, 15_000, 75_000, "produit"), ("tranche_2", 1500, 12_000, 180_000, "produit")]),
    (2001, [("tranche_1", 500, 15_000, 75_000, "produit"), ("tranche_2", 1500, 12_000, 180_000, "produit"),
            ("tranche_3", 1, 10_000, 100, "produit")]),
])
def test_progressive_bands_one_line_per_band_used(pupils, expected):
    t = tariff(part_eleve_units=None, tranches=BANDS, part_ecole_units=0)
    priced = price_year(base_frame([member("59001", 1, pupils)]), t, annee=2024)
    assert lines_of(priced, "59001") == expected


@pytest.mark.parametrize(("pupils", "band", "rate", "cents"), [
    (0, 1, 15_000, 0), (500, 1, 15_000, 75_000), (501, 2, 12_000, 60_120), (2000, 2, 12_000, 240_000),
    (2001, 3, 10_000, 200_100),
])
def test_global_bands_all_pupils_at_the_rate_reached(pupils, band, rate, cents):
    t = tariff(part_eleve_units=None, tranches=BANDS, tranches_mode="global", part_ecole_units=0)
    priced = price_year(base_frame([member("59001", 1, pupils)]), t, annee=2024)
    assert lines_of(priced, "59001") == [(f"tranche_{band}", pupils, rate, cents, "produit")]


def test_band_labels_in_french():
    t = tariff(part_eleve_units=None, tranches=BANDS, part_ecole_units=0)
    priced = price_year(base_frame([member("59001", 1, 2500)]), t, annee=2024)
    assert priced.lines["libelle"].to_list() == [
        "Élèves de 1 à 500 (tranche 1)", f"Élèves de 501 à 2{NNBSP}000 (tranche 2)",
        f"Élèves au-delà de 2{NNBSP}000 (tranche 3)"]
    priced = price_year(base_frame([member("59001", 1, 501)]), tariff(
        part_eleve_units=None, tranches=BANDS, tranches_mode="global", part_ecole_units=0), annee=2024)
    assert priced.lines["libelle"].to_list() == [f"Élèves, tous au tarif de la tranche 2 (de 501 à 2{NNBSP}000)"]
    assert priced.lines["detail"].to_list() == ["rentrée 2023 : 501 élèves, tranche 2 atteinte"]


def test_plancher_and_plafond_apply_before_prorata():
    t = tariff(plancher_cents=10_000, plafond_cents=500_000)
    rows = [member("59001", 0, 10),                               # 12,00 € → plancher 100,00 €
            member("59002", 10, 5000),                            # 7 500,00 € → plafond 5 000,00 €
            member("59003", 0, 10, effet=date(2024, 7, 1)),       # plancher, then 184/366
            member("59004", 10, 5000, statut="retiree", retrait=date(2024, 7, 1))]  # plafond, then 182/366
    priced = check_against_reference(rows, t)
    assert lines_of(priced, "59001")[-1] == ("plancher", None, None, 10_000 - 1_200, "ajustement")
    assert lines_of(priced, "59002")[-1] == ("plafond", None, None, 500_000 - 750_000, "ajustement")
    # 100,00 € × 184/366 = 50,2732… → 50,27 € ; 5 000,00 € × 182/366 = 2 486,3387… → 2 486,34 €
    assert amounts(priced) == [10_000, 500_000, 5_027, 248_634]
    annual = priced.contributions["montant_annuel_cents"].to_list()
    assert annual == [10_000, 500_000, 10_000, 500_000]
    assert priced.lines.filter(pl.col("code_insee") == "59003")["libelle"].to_list()[-2:] == [
        f"Ajustement au plancher de 100,00{NBSP}€", "Prorata temporis : 184 jours d'adhésion sur 366"]
    assert priced.lines.filter(pl.col("code") == "plafond")["libelle"].to_list()[0] == \
        f"Écrêtement au plafond de 5{NNBSP}000,00{NBSP}€"


def test_amount_exactly_at_the_plancher_has_no_adjustment_line():
    t = tariff(part_ecole_units=0, part_eleve_units=10_000, plancher_cents=10_000)  # 100 pupils × 1 € = 100 €
    priced = check_against_reference([member("59001", 0, 100)], t)
    assert [l[0] for l in lines_of(priced, "59001")] == ["part_eleve"]


# ----- periods and prorata -------------------------------------------------------------------


def test_membership_period_examples():
    assert membership_period(date(2024, 3, 1), None, 2024) == Period(date(2024, 3, 1), date(2024, 12, 31), 306, 366, 10)
    assert membership_period(date(2023, 3, 1), None, 2023) == Period(date(2023, 3, 1), date(2023, 12, 31), 306, 365, 10)
    assert membership_period(date(2020, 1, 1), date(2024, 7, 1), 2024) == \
        Period(date(2024, 1, 1), date(2024, 6, 30), 182, 366, 6)
    assert membership_period(date(2020, 1, 1), date(2023, 7, 1), 2023) == \
        Period(date(2023, 1, 1), date(2023, 6, 30), 181, 365, 6)
    assert membership_period(date(2024, 12, 31), None, 2024) == Period(date(2024, 12, 31), date(2024, 12, 31), 1, 366, 1)
    assert membership_period(date(2025, 1, 1), None, 2024) is None
    assert membership_period(date(2020, 1, 1), date(2024, 1, 1), 2024) is None  # first day no longer member
    assert membership_period(date(2020, 1, 1), date(2024, 1, 2), 2024) == Period(date(2024, 1, 1), date(2024, 1, 1), 1, 366, 1)
    assert membership_period(date(2024, 5, 1), date(2024, 3, 1), 2024) is None
    assert membership_period(None, None, 2024) is None


@pytest.mark.parametrize(("prorata", "annee", "expected"), [
    # 2 070,00 € from 1 March: 306/366 (2024) or 306/365 (2023), 10/12, or the whole year
    ("jours", 2024, 173_066), ("jours", 2023, 173_540), ("mois", 2024, 172_500), ("mois", 2023, 172_500),
    ("aucun", 2024, 207_000), ("aucun", 2023, 207_000),
])
def test_entry_on_1_march_each_prorata_mode(prorata, annee, expected):
    priced = check_against_reference([member("59367", 5, 1100, effet=date(annee, 3, 1))],
                                     tariff(prorata=prorata, annee=annee), annee=annee)
    assert amounts(priced) == [expected]
    row = priced.contributions.row(0, named=True)
    assert (row["date_debut"], row["date_fin"], row["jours"], row["mois"]) == \
        (date(annee, 3, 1), date(annee, 12, 31), 306, 10)
    factor = {"jours": (306, 366 if annee == 2024 else 365), "mois": (10, 12), "aucun": (1, 1)}[prorata]
    assert (row["facteur_num"], row["facteur_den"]) == factor
    codes = [l[0] for l in lines_of(priced, "59367")]
    assert codes == (["part_ecole", "part_eleve"] if prorata == "aucun" else ["part_ecole", "part_eleve", "prorata"])


@pytest.mark.parametrize(("prorata", "annee", "expected"), [
    # 2 070,00 € until 30 June: 182/366, 181/365, 6/12
    ("jours", 2024, 102_934), ("jours", 2023, 102_649), ("mois", 2024, 103_500), ("aucun", 2024, 207_000),
])
def test_withdrawal_on_1_july(prorata, annee, expected):
    rows = [member("59367", 5, 1100, statut="retiree", retrait=date(annee, 7, 1))]
    priced = check_against_reference(rows, tariff(prorata=prorata), annee=annee)
    assert amounts(priced) == [expected]
    row = priced.contributions.row(0, named=True)
    assert (row["date_fin"], row["situation"]) == (date(annee, 6, 30), "facturee")


def test_prorata_line_wording_and_detail():
    priced = price_year(base_frame([member("59367", 5, 1100, statut="retiree", retrait=date(2024, 7, 1))]),
                        tariff(), annee=2024)
    line = priced.lines.filter(pl.col("code") == "prorata").row(0, named=True)
    assert (line["libelle"], line["detail"], line["montant_cents"]) == (
        "Prorata temporis : 182 jours d'adhésion sur 366", "du 01/01/2024 au 30/06/2024", 102_934 - 207_000)
    priced = price_year(base_frame([member("59367", 5, 1100, effet=date(2024, 12, 31))]), tariff(), annee=2024)
    assert priced.lines["libelle"].to_list()[-1] == "Prorata temporis : 1 jour d'adhésion sur 366"
    priced = price_year(base_frame([member("59367", 5, 1100, effet=date(2024, 3, 31))]), tariff(prorata="mois"),
                        annee=2024)
    assert priced.lines["libelle"].to_list()[-1] == "Prorata temporis : 10 mois d'adhésion sur 12"


def test_half_cent_prorata_rounds_up():
    # 1,83 € for one day of 2024: 1,83/366 = 0,005 € exactly → 0,01 € ; 1,82/366 = 0,00497… → 0,00 €
    rows = [member("59001", 1, 0, effet=date(2024, 12, 31)), member("59002", 1, 0, effet=date(2024, 12, 31))]
    t = tariff(part_ecole_units=18_300, part_eleve_units=0)
    priced = check_against_reference(rows[:1], t)
    assert amounts(priced) == [1]
    assert lines_of(priced, "59001") == [("part_ecole", 1, 18_300, 183, "produit"),
                                         ("prorata", None, None, -182, "prorata")]
    priced = check_against_reference(rows[1:], tariff(part_ecole_units=18_200, part_eleve_units=0))
    assert amounts(priced) == [0]


def test_situations_and_their_amounts():
    t = tariff(plancher_cents=10_000)
    rows = [
        member("59001", 2, 130),
        member("59002", 1, 40, statut="conditionnelle", effet=None),
        member("59003", 1, 40, statut="conditionnelle", effet=date(2024, 6, 1)),  # still not billed
        member("59004", 1, 40, statut="retiree", retrait=date(2023, 7, 1)),
        member("59005", 1, 40, effet=date(2025, 1, 1)),
    ]
    priced = check_against_reference(rows, t)
    c = priced.contributions
    assert c["situation"].to_list() == ["facturee", "indicative", "indicative", "hors_periode", "hors_periode"]
    assert c["montant_cents"].to_list() == [45_600, 0, 0, 0, 0]
    assert c["montant_indicatif_cents"].to_list() == [None, 19_800, 19_800, None, None]
    assert c["montant_annuel_cents"].to_list() == [45_600, 19_800, 19_800, 0, 0]
    assert c["date_debut"].to_list() == [date(2024, 1, 1), None, None, None, None]
    assert c["jours"].to_list() == [366, 0, 0, 0, 0]
    assert list(zip(c["facteur_num"], c["facteur_den"])) == [(366, 366), (1, 1), (1, 1), (0, 366), (0, 366)]
    assert set(priced.lines["code_insee"]) == {"59001", "59002", "59003"}


@pytest.mark.parametrize("prorata", ["jours", "mois", "aucun"])
@pytest.mark.parametrize("annee", [2023, 2024])
def test_mixed_year_against_reference(prorata, annee):
    t = tariff(prorata=prorata, annee=annee, part_fixe_cents=2_500, plancher_cents=10_000, plafond_cents=300_000)
    rows = [
        member("59001", 3, 321, effet=date(annee, 3, 15)),
        member("59002", 2, 111, statut="retiree", retrait=date(annee, 7, 1)),
        member("59003", 1, 50, effet=date(annee - 3, 1, 1)),
        member("59004", 4, 700, statut="conditionnelle", effet=None),
        member("59005", 1, 20, effet=date(annee + 1, 1, 1)),
        member("59006", 1, 20, statut="retiree", retrait=date(annee, 1, 1)),
        member("59007", 2, 99, effet=date(annee, 2, 28), retrait=date(annee, 3, 1)),
        member("59008", 12, 4000, effet=date(annee, 12, 31)),
    ]
    check_against_reference(rows, t, annee=annee)


# ----- répartition ---------------------------------------------------------------------------


def repartition(**overrides) -> Tariff:
    values = dict(mode="repartition", montant_total_cents=100, part_ecole_units=0, part_eleve_units=0,
                  poids=(("forfait", Fraction(1)),))
    values.update(overrides)
    return tariff(**values)


def test_repartition_ties_go_by_code_insee():
    # 100 cents over 3 equal members: 33,33… each; the missing cent goes to the smallest code
    rows = [member(code, 1, 10) for code in ("59350", "59009", "59128")]
    priced = check_against_reference(rows, repartition())
    assert priced.contributions["code_insee"].to_list() == ["59009", "59128", "59350"]
    assert amounts(priced) == [34, 33, 33]
    assert sum(amounts(priced)) == 100
    # 200 cents over 3: 66,66… each, two cents missing → the two smallest codes
    priced = check_against_reference(rows, repartition(montant_total_cents=200))
    assert amounts(priced) == [67, 67, 66]


def test_repartition_weighted_criteria_add_up_to_the_total():
    t = repartition(montant_total_cents=25_000_000, poids=(("eleves", Fraction(7, 10)), ("ecoles", Fraction(1, 5)),
                                                           ("population", Fraction(1, 10))))
    rows = [member("59367", 5, 1100, population=2_755), member("59350", 120, 21_000, population=236_234),
            member("59009", 7, 1_900, population=15_000), member("62041", 1, 35, population=410)]
    priced = check_against_reference(rows, t)
    assert sum(amounts(priced)) == 25_000_000
    # Lys-lez-Lannoy by hand: 0,7 × 1100/24035 + 0,2 × 5/133 + 0,1 × 2755/254399
    share = Fraction(7, 10) * Fraction(1100, 24_035) + Fraction(1, 5) * Fraction(5, 133) \
        + Fraction(1, 10) * Fraction(2_755, 254_399)
    exact = 25_000_000 * share
    got = priced.contributions.filter(pl.col("code_insee") == "59367")["montant_cents"][0]
    assert got in (math.floor(exact), math.floor(exact) + 1)
    line = priced.lines.filter((pl.col("code_insee") == "59367") & (pl.col("code") == "repartition")).row(0, named=True)
    assert line["libelle"] == "Quote-part de la répartition"
    assert line["detail"] == (f"4,0638 % de 250{NNBSP}000,00{NBSP}€ : élèves 1{NNBSP}100 / 24{NNBSP}035 × 70 % "
                              f"+ écoles 5 / 133 × 20 % + population 2{NNBSP}755 / 254{NNBSP}399 × 10 %")


def test_repartition_mixed_prorata_shortfall_is_not_spread():
    t = repartition(montant_total_cents=120_000, poids=(("eleves", Fraction(1)),))
    rows = [member("59001", 1, 100), member("59002", 1, 100, effet=date(2024, 7, 1)),
            member("59003", 1, 100, statut="retiree", retrait=date(2024, 3, 1))]
    priced = check_against_reference(rows, t)
    # each whole-year part 400,00 €; 184/366 and 60/366 of it are billed, the rest is not spread:
    # exact 400,00 + 201,0929… + 65,5737… = 666,6666… → 666,67 €; floors 666,66 €, the missing cent
    # goes to the largest remainder (0,5737… cent, 59003), not to a rounding of each part
    assert amounts(priced) == [40_000, 20_109, 6_558]
    assert sum(amounts(priced)) == 66_667 < 120_000
    assert lines_of(priced, "59002") == [("repartition", None, None, 40_000, "valeur"),
                                         ("prorata", None, None, 20_109 - 40_000, "prorata")]
    assert lines_of(priced, "59003") == [("repartition", None, None, 40_000, "valeur"),
                                         ("prorata", None, None, 6_557 - 40_000, "prorata"),
                                         ("arrondi", None, None, 1, "valeur")]


@pytest.mark.parametrize("prorata", ["jours", "mois", "aucun"])
def test_repartition_mixed_prorata_against_reference(prorata):
    t = repartition(montant_total_cents=9_999_999, prorata=prorata,
                    poids=(("eleves", Fraction(1, 3)), ("forfait", Fraction(1, 3)), ("population", Fraction(1, 3))))
    rows = [member(f"59{i:03d}", 1 + i % 4, 37 * i + 5, population=1000 + 97 * i,
                   effet=date(2024, 1 + i % 12, 1 + i % 28),
                   statut="retiree" if i % 5 == 0 else "adherente",
                   retrait=date(2024, 11, 15) if i % 5 == 0 else None) for i in range(1, 40)]
    rows.append(member("59900", 2, 300, statut="conditionnelle", effet=None, population=5000))
    priced = check_against_reference(rows, t)
    arrondis = priced.lines.filter(pl.col("code") == "arrondi")
    assert arrondis["montant_cents"].abs().max() <= 1 if arrondis.height else True
    assert arrondis.height < len(rows)


def test_repartition_indicative_amount_is_the_part_if_it_joined():
    t = repartition(montant_total_cents=100_000, poids=(("eleves", Fraction(1)),))
    rows = [member("59001", 1, 300), member("59002", 1, 100, statut="conditionnelle", effet=None)]
    priced = check_against_reference(rows, t)
    # joined, it would hold 100 of 400 pupils: 250,00 €; the billed member keeps the whole 1 000,00 €
    assert priced.contributions["montant_indicatif_cents"].to_list() == [None, 25_000]
    assert amounts(priced) == [100_000, 0]


def test_repartition_with_a_zero_criterion_is_refused():
    t = repartition(montant_total_cents=1000, poids=(("eleves", Fraction(1, 2)), ("forfait", Fraction(1, 2))))
    with pytest.raises(PricingError) as caught:
        price_year(base_frame([member("59001", 0, 0), member("59002", 3, 0)]), t, annee=2024)
    assert str(caught.value) == ("répartition impossible : le critère « eleves » (poids 50 %) vaut 0 pour toutes les "
                                 "communes facturées ; changez les poids du tarif ou vérifiez les effectifs")


def test_repartition_without_population_is_refused():
    t = repartition(poids=(("population", Fraction(1)),))
    rows = [member("59001", 1, 10), member("59002", 1, 10, population=None)]
    with pytest.raises(PricingError, match="la commune 59002 n'a pas de valeur pour le critère « population »"):
        price_year(base_frame(rows), t, annee=2024)


# ----- frames, contract ----------------------------------------------------------------------


def test_frames_have_the_contract_columns_and_pass_extra_columns_through():
    frame = base_frame([member("59002", 1, 10), member("59001", 2, 20, statut="conditionnelle", effet=None)])
    frame = frame.with_columns(pl.lit("59").alias("departement"), pl.lit("Mairie, 1 place").alias("mairie_adresse"),
                               pl.Series("source_row", [3, 2]), pl.lit("Commune de X").alias("debiteur"))
    priced = price_year(frame, tariff(), annee=2024)
    expected = [*CONTRIBUTION_SCHEMA, *PASSTHROUGH, *TARIFF_COLUMNS, "source_row", "debiteur"]
    assert priced.contributions.columns == expected
    assert [priced.contributions.schema[k] for k in CONTRIBUTION_SCHEMA] == list(CONTRIBUTION_SCHEMA.values())
    assert dict(priced.lines.schema) == LINE_SCHEMA
    assert priced.contributions["source_row"].to_list() == [2, 3]
    assert priced.contributions["epci_nom"].to_list() == [None, None]  # absent passthrough: null, same schema


def test_empty_billing_base():
    priced = price_year(base_frame([]), tariff(), annee=2024)
    assert priced.contributions.height == 0 and priced.lines.height == 0
    assert dict(priced.lines.schema) == LINE_SCHEMA
    priced = price_year(base_frame([]), repartition(), annee=2024)
    assert priced.contributions.height == 0 and priced.lines.height == 0


def test_bad_inputs_are_refused_in_french():
    with pytest.raises(PricingError, match="la commune 59001 figure deux fois"):
        price_year(base_frame([member("59001", 1, 1), member("59001", 1, 1)]), tariff(), annee=2024)
    with pytest.raises(PricingError, match="statut « membre » inconnu"):
        price_year(base_frame([member("59001", 1, 1, statut="membre")]), tariff(), annee=2024)
    with pytest.raises(PricingError, match="la dernière tranche être sans borne"):
        price_year(base_frame([member("59001", 1, 1)]),
                   tariff(part_eleve_units=None, tranches=(Band(500, 1),)), annee=2024)


# ----- explanation ---------------------------------------------------------------------------


def test_explanation_read_aloud_to_the_mayor():
    row = member("59367", 5, 1100, effet=date(2024, 3, 1))
    row["commune"] = "Lys-lez-Lannoy"
    priced = price_year(base_frame([row]), tariff(part_fixe_cents=5_000, plancher_cents=10_000), annee=2024)
    assert explain_commune(priced, "59367") == [
        "Lys-lez-Lannoy (59367) — contribution 2024",
        "Tarif : délibération 2023-05 du 13 décembre 2023, barème ; effectifs de la rentrée 2023 "
        "(année scolaire 2023-2024).",
        f"Effectifs retenus : 5 écoles publiques, 1{NNBSP}100 élèves.",
        "Adhésion du 01/03/2024 au 31/12/2024 : 306 jours sur 366, 10 mois sur 12.",
        "Calcul :",
        f"  1. Part fixe : 50,00{NBSP}€ (forfait par commune membre)",
        f"  2. Part par école publique : 5 × 150,00{NBSP}€ = 750,00{NBSP}€ (rentrée 2023 : 5 écoles publiques)",
        f"  3. Part par élève : 1{NNBSP}100 × 1,20{NBSP}€ = 1{NNBSP}320,00{NBSP}€ (rentrée 2023 : 1{NNBSP}100 élèves)",
        f"  4. Prorata temporis : 306 jours d'adhésion sur 366 : 2{NNBSP}120,00{NBSP}€ × 306/366 = "
        f"1{NNBSP}772,46{NBSP}€, soit −347,54{NBSP}€ (du 01/03/2024 au 31/12/2024)",
        f"Montant dû : 1{NNBSP}772,46{NBSP}€",
    ]


def test_explanation_of_the_other_situations():
    rows = [member("59001", 0, 3), member("59002", 1, 10, statut="conditionnelle", effet=None),
            member("59003", 1, 10, statut="retiree", retrait=date(2024, 1, 1))]
    priced = price_year(base_frame(rows), tariff(plancher_cents=10_000), annee=2024)
    assert explain_commune(priced, "59001")[3:] == [
        "Adhésion du 01/01/2024 au 31/12/2024 : 366 jours sur 366, 12 mois sur 12 ; membre toute l'année : "
        "contribution annuelle entière.",
        "Calcul :",
        f"  1. Part par école publique : 0 × 150,00{NBSP}€ = 0,00{NBSP}€ (rentrée 2023 : 0 école publique)",
        f"  2. Part par élève : 3 × 1,20{NBSP}€ = 3,60{NBSP}€ (rentrée 2023 : 3 élèves)",
        f"  3. Ajustement au plancher de 100,00{NBSP}€ : +96,40{NBSP}€ (contribution calculée 3,60{NBSP}€, "
        "portée au plancher)",
        f"Montant dû : 100,00{NBSP}€",
    ]
    text = explain_commune(priced, "59002")
    assert text[3] == "Adhésion conditionnelle : rien n'est facturé ; montant indicatif pour une année entière."
    assert text[-1] == f"Montant indicatif (non facturé) : 162,00{NBSP}€"
    assert explain_commune(priced, "59003")[3:] == [
        "Aucun jour d'adhésion en 2024 (retrait au 01/01/2024) : rien n'est dû.", f"Montant dû : 0,00{NBSP}€"]
    with pytest.raises(KeyError):
        explain_commune(priced, "99999")
