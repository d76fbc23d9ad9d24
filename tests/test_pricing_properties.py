"""Invariants of pricing, by hypothesis: totals, order independence, lines that add up, determinism."""

from __future__ import annotations

import random
from datetime import date, timedelta
from fractions import Fraction

import polars as pl
from hypothesis import HealthCheck, given, settings, strategies as st

from billing.core.model import Band, Tariff
from billing.core.money import format_euros
from billing.core.money import format_count_column as _int_text, format_euros_column as _euros_text
from billing.core.pricing import membership_period, price_year
from tests.test_pricing import (
    base_frame,
    check_against_reference,
    check_lines_follow_the_formulas,
    half_up,
    member_days,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ANNEES = st.sampled_from([2023, 2024])


@st.composite
def members(draw, *, annee: int, max_size: int = 15) -> list[dict]:
    """Members around ``annee``: entries and withdrawals on any day, conditional ones, zero counts."""
    count = draw(st.integers(1, max_size))
    codes = draw(st.lists(st.integers(1001, 97_699), min_size=count, max_size=count, unique=True))
    rows = []
    for code in codes:
        statut = draw(st.sampled_from(["adherente", "adherente", "retiree", "conditionnelle"]))
        effet = date(annee, 1, 1) + timedelta(days=draw(st.integers(-400, 400)))
        retrait = None
        if statut == "retiree" or draw(st.booleans()):
            retrait = effet + timedelta(days=draw(st.integers(1, 700)))
        if statut == "conditionnelle":
            effet = draw(st.none() | st.just(effet))
        rows.append({"code_insee": f"{code:05d}", "commune": f"Commune {code}", "statut": statut,
                     "date_effet": effet, "date_retrait": retrait, "ecoles": draw(st.integers(0, 40)),
                     "eleves": draw(st.integers(0, 25_000)), "population": draw(st.integers(0, 300_000))})
    return rows


@st.composite
def bareme_tariffs(draw, *, annee: int) -> Tariff:
    price = st.integers(0, 3_000_000)
    bands = ()
    if draw(st.booleans()):
        bounds = sorted(draw(st.sets(st.integers(1, 20_000), min_size=0, max_size=3)))
        rates = draw(st.lists(st.integers(0, 50_000), min_size=len(bounds) + 1, max_size=len(bounds) + 1))
        bands = tuple(Band(b, r) for b, r in zip([*bounds, None], rates))
    plancher = draw(st.none() | st.integers(0, 500_000))
    plafond = draw(st.none() | st.integers(plancher or 0, 5_000_000))
    return Tariff(annee=annee, deliberation="d", rentree=annee - 1, part_fixe_cents=draw(st.integers(0, 100_000)),
                  part_ecole_units=draw(price), part_eleve_units=None if bands else draw(st.integers(0, 50_000)),
                  tranches=bands, tranches_mode=draw(st.sampled_from(["progressif", "global"])),
                  plancher_cents=plancher, plafond_cents=plafond,
                  prorata=draw(st.sampled_from(["jours", "mois", "aucun"])))


@st.composite
def repartition_tariffs(draw, *, annee: int) -> Tariff:
    criteria = draw(st.lists(st.sampled_from(["eleves", "ecoles", "population", "forfait"]), min_size=1, max_size=4,
                             unique=True))
    raw = draw(st.lists(st.integers(1, 10), min_size=len(criteria), max_size=len(criteria)))
    weights = tuple((k, Fraction(w, sum(raw))) for k, w in zip(criteria, raw))
    return Tariff(annee=annee, deliberation="d", rentree=annee - 1, mode="repartition",
                  montant_total_cents=draw(st.integers(0, 10**11)), poids=weights,
                  prorata=draw(st.sampled_from(["jours", "mois", "aucun"])))


@st.composite
def years(draw, tariffs):
    annee = draw(ANNEES)
    rows = draw(members(annee=annee))
    t = draw(tariffs(annee=annee))
    if t.mode == "repartition":  # every weighted criterion must be held by some billed member
        for row in rows:
            row["ecoles"] = max(row["ecoles"], 1)
            row["eleves"] = max(row["eleves"], 1)
            row["population"] = max(row["population"], 1)
    return annee, rows, t


@SETTINGS
@given(years(bareme_tariffs))
def test_bareme_equals_the_naive_reference_to_the_cent(year):
    annee, rows, t = year
    check_against_reference(rows, t, annee)


@SETTINGS
@given(years(repartition_tariffs))
def test_repartition_equals_the_naive_reference_and_adds_up(year):
    annee, rows, t = year
    priced = check_against_reference(rows, t, annee)
    c = priced.contributions
    billed = c.filter(pl.col("situation") == "facturee")
    if billed.height == 0:
        return
    sums = {k: sum(1 if k == "forfait" else r[k] for r in billed.iter_rows(named=True)) for k, _ in t.poids}
    exact = Fraction(0)
    for r in billed.iter_rows(named=True):
        share = sum((w * Fraction(1 if k == "forfait" else r[k], sums[k]) for k, w in t.poids), Fraction(0))
        exact += t.montant_total_cents * share * Fraction(r["facteur_num"], r["facteur_den"])
    assert billed["montant_cents"].sum() == half_up(exact)
    if (billed["facteur_num"] == billed["facteur_den"]).all():
        assert billed["montant_cents"].sum() == t.montant_total_cents


@SETTINGS
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=40), st.integers(0, 10**12),
       st.sampled_from(["eleves", "population", "forfait"]))
def test_full_year_repartition_adds_up_to_montant_total(values, total, criterion):
    rows = [{"code_insee": f"{59000 + i:05d}", "commune": "c", "statut": "adherente", "date_effet": date(2000, 1, 1),
             "date_retrait": None, "ecoles": 1, "eleves": max(v, 1), "population": v} for i, v in enumerate(values)]
    rows[0]["population"] = max(rows[0]["population"], 1)
    t = Tariff(annee=2024, deliberation="d", rentree=2023, mode="repartition", montant_total_cents=total,
               poids=((criterion, Fraction(1)),))
    priced = price_year(base_frame(rows), t, annee=2024)
    assert priced.contributions["montant_cents"].sum() == total
    check_lines_follow_the_formulas(priced)


@SETTINGS
@given(st.one_of(years(bareme_tariffs), years(repartition_tariffs)), st.randoms(use_true_random=False))
def test_nothing_depends_on_row_order_and_reruns_are_identical(year, rnd):
    annee, rows, t = year
    first = price_year(base_frame(rows), t, annee=annee)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    second = price_year(base_frame(shuffled), t, annee=annee)
    assert first.contributions.equals(second.contributions)
    assert first.lines.equals(second.lines)
    again = price_year(base_frame(rows), t, annee=annee)
    assert again.contributions.equals(first.contributions) and again.lines.equals(first.lines)


@SETTINGS
@given(st.one_of(years(bareme_tariffs), years(repartition_tariffs)))
def test_lines_add_up_and_no_amount_is_negative(year):
    annee, rows, t = year
    priced = price_year(base_frame(rows), t, annee=annee)
    check_lines_follow_the_formulas(priced)
    c = priced.contributions
    assert (c["montant_cents"] >= 0).all() and (c["montant_annuel_cents"] >= 0).all()
    assert (c["montant_indicatif_cents"].drop_nulls() >= 0).all()
    positive_parts = priced.lines.filter(pl.col("formule") == "produit")
    assert (positive_parts["montant_cents"] >= 0).all()
    totals = priced.lines.group_by("code_insee").agg(pl.col("montant_cents").sum())
    assert (totals["montant_cents"] >= 0).all()
    if t.mode == "bareme":  # a prorata never raises an amount (a répartition cent may)
        assert (c["montant_cents"] <= c["montant_annuel_cents"]).all()


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2015, 1, 1), date(2030, 12, 31)), st.none() | st.dates(date(2015, 1, 1), date(2030, 12, 31)),
       st.integers(2018, 2028))
def test_membership_period_equals_a_walk_through_the_calendar(effet, retrait, annee):
    days = member_days(effet, retrait, annee)
    period = membership_period(effet, retrait, annee)
    if not days:
        assert period is None
        return
    assert (period.debut, period.fin, period.jours, period.mois) == (
        days[0], days[-1], len(days), len({d.month for d in days}))
    assert period.jours_annee == (366 if annee % 4 == 0 else 365)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-10**15, 10**15), min_size=1, max_size=50))
def test_column_euros_text_is_the_money_module_text(values):
    texts = pl.DataFrame({"c": values}).select(_euros_text(pl.col("c")).alias("t"), _int_text(pl.col("c")).alias("i"))
    assert texts["t"].to_list() == [format_euros(v) for v in values]
    assert texts["i"].to_list() == [format_euros(v * 100)[:-5] for v in values]


def test_bands_at_every_bound_on_a_random_sample():
    rnd = random.Random(7)
    bands = (Band(100, 20_000), Band(500, 15_000), Band(2000, 12_000), Band(None, 10_000))
    rows = [{"code_insee": f"{59000 + i:05d}", "commune": "c", "statut": "adherente", "date_effet": date(2024, 1, 1),
             "date_retrait": None, "ecoles": rnd.randint(0, 9), "eleves": e, "population": 1}
            for i, e in enumerate([0, 1, 99, 100, 101, 499, 500, 501, 1999, 2000, 2001, 5000])]
    for mode in ("progressif", "global"):
        t = Tariff(annee=2024, deliberation="d", rentree=2023, part_ecole_units=1_500_000, part_eleve_units=None,
                   tranches=bands, tranches_mode=mode)
        check_against_reference(rows, t, 2024)
