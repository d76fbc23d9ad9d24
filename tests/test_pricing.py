"""Pricing against a deliberately naive, independent reference (Fractions, one commune at a time)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from fractions import Fraction

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from billing.model import Band, Tariff
from billing.pricing import PricingError, apportion, explain_commune, price_year


def half_up(value: Fraction) -> int:
    """Reference rounding, written differently from billing.money: floor(x + 1/2) for x ≥ 0."""
    if value < 0:
        return -half_up(-value)
    shifted = value + Fraction(1, 2)
    return shifted.numerator // shifted.denominator


def reference_amount(*, ecoles, eleves, statut, date_effet, date_retrait, annee, tariff: Tariff) -> int | None:
    """What a careful officer computes by hand, in euros as Fractions."""
    start, end = date(annee, 1, 1), date(annee, 12, 31)
    if statut == "conditionnelle":
        factor = Fraction(1)
    else:
        if date_effet is None or date_effet > end or (date_retrait is not None and date_retrait <= start):
            return None
        first = max(date_effet, start)
        last = min(date_retrait - timedelta(days=1), end) if date_retrait else end
        days = (last - first).days + 1
        months = last.month - first.month + 1
        factor = {"jours": Fraction(days, (end - start).days + 1), "mois": Fraction(months, 12),
                  "aucun": Fraction(1)}[tariff.prorata]
    cents = tariff.part_fixe_cents
    cents += half_up(Fraction(ecoles * tariff.part_ecole_units, 100))
    if tariff.tranches:
        if tariff.tranches_mode == "progressif":
            lower = 0
            for band in tariff.tranches:
                upper = band.jusqu_a if band.jusqu_a is not None else 10**12
                inside = max(0, min(eleves, upper) - lower)
                cents += half_up(Fraction(inside * band.rate_units, 100))
                lower = upper
        else:
            lower = 0
            rate = tariff.tranches[0].rate_units
            for band in tariff.tranches:
                if eleves > lower:
                    rate = band.rate_units
                lower = band.jusqu_a if band.jusqu_a is not None else lower
            cents += half_up(Fraction(eleves * rate, 100))
    else:
        cents += half_up(Fraction(eleves * (tariff.part_eleve_units or 0), 100))
    if tariff.plancher_cents is not None:
        cents = max(cents, tariff.plancher_cents)
    if tariff.plafond_cents is not None:
        cents = min(cents, tariff.plafond_cents)
    return half_up(cents * factor)


def base_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"code_insee": pl.Utf8, "commune": pl.Utf8, "statut": pl.Utf8,
                                      "date_effet": pl.Date, "date_retrait": pl.Date, "ecoles": pl.Int64,
                                      "eleves": pl.Int64, "population": pl.Int64})


def tariff(**overrides) -> Tariff:
    values = dict(annee=2024, deliberation="2023-05 du 13 décembre 2023", rentree=2023, part_ecole_units=1_500_000,
                  part_eleve_units=12_000, prorata="jours")
    values.update(overrides)
    return Tariff(**values)


def check_against_reference(rows, t: Tariff, annee=2024):
    priced = price_year(base_frame(rows), t, annee=annee)
    by_code = {r["code_insee"]: r for r in priced.contributions.iter_rows(named=True)}
    sums = dict(priced.lines.group_by("code_insee").agg(pl.col("montant_cents").sum()).iter_rows())
    for row in rows:
        expected = reference_amount(annee=annee, tariff=t, **{k: row[k] for k in (
            "ecoles", "eleves", "statut", "date_effet", "date_retrait")})
        got = by_code[row["code_insee"]]
        if expected is None:
            assert got["situation"] == "hors_periode" and got["montant_cents"] == 0
            continue
        amount = got["montant_indicatif_cents"] if row["statut"] == "conditionnelle" else got["montant_cents"]
        assert amount == expected, row
        assert sums.get(row["code_insee"], 0) == amount
    return priced


def member(code, ecoles, eleves, *, statut="adherente", effet=date(2020, 1, 1), retrait=None, population=1000):
    return {"code_insee": code, "commune": f"Commune {code}", "statut": statut, "date_effet": effet,
            "date_retrait": retrait, "ecoles": ecoles, "eleves": eleves, "population": population}


def test_lys_lez_lannoy_from_1_march_2024():
    priced = check_against_reference([member("59367", 5, 1100, effet=date(2024, 3, 1))], tariff())
    row = priced.contributions.row(0, named=True)
    # 5 × 150 + 1100 × 1.20 = 2070.00 €; × 306/366 = 1730.655… → 1730.66 €
    assert (row["montant_annuel_cents"], row["montant_cents"], row["jours"]) == (207000, 173066, 306)
    assert priced.lines["montant_cents"].to_list() == [75000, 132000, -33934]
    assert priced.lines["formule"].to_list() == ["produit", "produit", "prorata"]


def test_half_cent_prorata_rounds_up():
    # 1.83 € for one day of a leap year: 1.83/366 = 0.005 € exactly → 0.01 €
    t = tariff(part_ecole_units=18_300, part_eleve_units=0)
    priced = price_year(base_frame([member("59001", 1, 0, effet=date(2024, 12, 31))]), t, annee=2024)
    assert priced.contributions["montant_cents"].to_list() == [1]


@pytest.mark.parametrize("mode", ["progressif", "global"])
@pytest.mark.parametrize("pupils", [0, 1, 499, 500, 501, 1999, 2000, 2001, 12345])
def test_bands(mode, pupils):
    t = tariff(part_eleve_units=None, tranches=(Band(500, 15_000), Band(2000, 12_000), Band(None, 10_000)),
               tranches_mode=mode, part_ecole_units=0)
    check_against_reference([member("59001", 1, pupils)], t)


def test_progressive_bands_one_line_per_band_used():
    t = tariff(part_eleve_units=None, tranches=(Band(500, 15_000), Band(2000, 12_000), Band(None, 10_000)),
               part_ecole_units=0)
    priced = price_year(base_frame([member("59001", 1, 600)]), t, annee=2024)
    assert priced.lines["code"].to_list() == ["tranche_1", "tranche_2"]
    assert priced.lines["quantite"].to_list() == [500, 100]
    assert priced.lines["montant_cents"].to_list() == [75000, 12000]


def test_plancher_and_plafond_before_prorata():
    t = tariff(plancher_cents=10_000, plafond_cents=50_000)
    rows = [member("59001", 0, 10), member("59002", 10, 5000), member("59003", 1, 100, effet=date(2024, 7, 1))]
    priced = check_against_reference(rows, t)
    codes = dict(zip(priced.lines["code_insee"] + ":" + priced.lines["code"], priced.lines["montant_cents"]))
    assert codes["59001:plancher"] == 10_000 - 1_200
    assert codes["59002:plafond"] == 50_000 - (150_000 + 600_000)


@pytest.mark.parametrize("prorata", ["jours", "mois", "aucun"])
@pytest.mark.parametrize("annee", [2023, 2024])
def test_prorata_modes_with_entries_and_withdrawals(prorata, annee):
    t = tariff(prorata=prorata, annee=annee)
    rows = [
        member("59001", 3, 321, effet=date(annee, 3, 15)),
        member("59002", 2, 111, statut="retiree", retrait=date(annee, 7, 1)),
        member("59003", 1, 50, effet=date(annee - 3, 1, 1)),
        member("59004", 4, 700, statut="conditionnelle", effet=None),
        member("59005", 1, 20, effet=date(annee + 1, 1, 1)),
        member("59006", 1, 20, statut="retiree", retrait=date(annee, 1, 1)),
        member("59007", 2, 99, effet=date(annee, 2, 29) if annee == 2024 else date(annee, 2, 28),
               retrait=date(annee, 3, 1)),
    ]
    check_against_reference(rows, t, annee=annee)


def test_month_prorata_counts_started_months():
    t = tariff(prorata="mois")
    priced = price_year(base_frame([member("59001", 1, 100, effet=date(2024, 3, 31))]), t, annee=2024)
    row = priced.contributions.row(0, named=True)
    assert (row["mois"], row["facteur_num"], row["facteur_den"]) == (10, 10, 12)


def test_repartition_adds_up_exactly_with_ties_by_code():
    t = tariff(mode="repartition", montant_total_cents=100, part_ecole_units=0, part_eleve_units=0,
               poids=(("forfait", Fraction(1)),))
    rows = [member(f"5900{i}", 1, 10) for i in range(1, 4)]
    priced = price_year(base_frame(rows), t, annee=2024)
    # 100 cents / 3 = 33.33 each: the missing cent goes to the smallest code (tie)
    assert priced.contributions["montant_cents"].to_list() == [34, 33, 33]


def test_repartition_prorata_shortfall_is_not_spread():
    t = tariff(mode="repartition", montant_total_cents=120_000, poids=(("eleves", Fraction(1)),))
    rows = [member("59001", 1, 100), member("59002", 1, 100, effet=date(2024, 7, 1))]
    priced = price_year(base_frame(rows), t, annee=2024)
    amounts = priced.contributions["montant_cents"].to_list()
    assert amounts[0] == 60_000
    assert amounts[1] == half_up(Fraction(60_000 * 184, 366))


def test_repartition_with_zero_criterion_is_refused():
    t = tariff(mode="repartition", montant_total_cents=1000, poids=(("eleves", Fraction(1)),))
    with pytest.raises(PricingError, match="critère « eleves » vaut 0"):
        price_year(base_frame([member("59001", 0, 0)]), t, annee=2024)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 20_000), st.integers(1, 200_000),
                          st.integers(1, 366)), min_size=1, max_size=25),
       st.integers(1, 10**9), st.sampled_from(["jours", "mois", "aucun"]))
def test_repartition_parts_sum_to_rounded_exact_total(items, total, prorata):
    rows = [member(f"{59000 + i:05d}", e or 1, p, population=pop,
                   effet=date(2024, 1, 1) + timedelta(days=day - 1)) for i, (e, p, pop, day) in enumerate(items)]
    t = tariff(mode="repartition", montant_total_cents=total, prorata=prorata,
               poids=(("ecoles", Fraction(1, 5)), ("forfait", Fraction(1, 10)), ("population", Fraction(7, 10))))
    priced = price_year(base_frame(rows), t, annee=2024)
    c = priced.contributions
    shares = []
    sums = {"ecoles": sum(r["ecoles"] for r in rows), "population": sum(r["population"] for r in rows)}
    for row, out in zip(rows, c.iter_rows(named=True)):
        share = Fraction(1, 5) * Fraction(row["ecoles"], sums["ecoles"]) + Fraction(1, 10) * Fraction(1, len(rows))
        share += Fraction(7, 10) * Fraction(row["population"], sums["population"])
        shares.append(total * share * Fraction(out["facteur_num"], out["facteur_den"]))
    assert sum(c["montant_cents"]) == half_up(sum(shares))
    for exact, got in zip(shares, c["montant_cents"]):
        assert abs(exact - got) < 1
    if all(out["facteur_num"] == out["facteur_den"] for out in c.iter_rows(named=True)):
        assert sum(c["montant_cents"]) == total


@given(st.dictionaries(st.text("0123456789", min_size=5, max_size=5),
                       st.fractions(min_value=0, max_value=10**6), min_size=1, max_size=30))
def test_apportion_properties(exact):
    parts = apportion(exact)
    assert sum(parts.values()) == half_up(sum(exact.values(), Fraction(0)))
    assert all(abs(parts[c] - exact[c]) < 1 for c in exact)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 5000), st.integers(0, 400),
                          st.sampled_from(["adherente", "conditionnelle", "retiree"])), min_size=1, max_size=20),
       st.randoms(use_true_random=False))
def test_amounts_do_not_depend_on_row_order_and_lines_add_up(items, rnd):
    rows = []
    for i, (e, p, day, statut) in enumerate(items):
        effet = None if statut == "conditionnelle" else date(2023, 6, 1) + timedelta(days=day)
        retrait = date(2024, 9, 1) if statut == "retiree" else None
        rows.append(member(f"{59000 + i:05d}", e, p, statut=statut, effet=effet, retrait=retrait))
    t = tariff(plancher_cents=10_000, part_fixe_cents=5_000)
    first = check_against_reference(rows, t)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    second = price_year(base_frame(shuffled), t, annee=2024)
    assert first.contributions.equals(second.contributions)
    assert first.lines.equals(second.lines)
    assert (first.lines["montant_cents"].filter(first.lines["code"] != "prorata") >= 0).all()
    assert (first.contributions["montant_cents"] >= 0).all()


def test_explanation_reads_like_the_notice():
    priced = price_year(base_frame([member("59367", 5, 1100, effet=date(2024, 3, 1))]), tariff(), annee=2024)
    text = explain_commune(priced, "59367")
    assert text[0] == "Commune 59367 (59367) — contribution 2024"
    assert "Adhésion du 01/03/2024 au 31/12/2024 : 306 jours sur 366, 10 mois sur 12." in text
    assert "  1. Part par école publique : 5 × 150,00\u00a0€ = 750,00\u00a0€" in text
    assert "  2. Part par élève : 1\u202f100 × 1,20\u00a0€ = 1\u202f320,00\u00a0€" in text
    assert text[-1] == "Montant dû : 1\u202f730,66\u00a0€"


def test_national_scale_prices_quickly():
    rng = random.Random(1)
    rows = [member(f"{10000 + i:05d}", rng.randint(0, 12), rng.randint(0, 3000),
                   effet=date(2024, rng.randint(1, 12), 1)) for i in range(35_000)]
    frame = base_frame(rows)
    import time

    start = time.perf_counter()
    priced = price_year(frame, tariff(plancher_cents=10_000), annee=2024)
    elapsed = time.perf_counter() - start
    assert priced.contributions.height == 35_000
    print(f"35 000 communes priced in {elapsed:.3f} s")
