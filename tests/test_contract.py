"""The typed contract of a priced year (billing.core.contract): what pricing produces passes, broken frames fail."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from billing.cli import main
from billing.core.contract import Contributions, Lines, PricedContractError, check_priced
from billing.core.pricing import price_year
from billing.year import prepare_year
from tests.test_pricing import base_frame, member, tariff
from tests.test_pricing_properties import SETTINGS, bareme_tariffs, repartition_tariffs, years


@pytest.fixture(scope="module")
def sample_priced(tmp_path_factory):
    inputs = tmp_path_factory.mktemp("contract") / "donnees"
    assert CliRunner().invoke(main, ["init", str(inputs)]).exit_code == 0
    return prepare_year(inputs, 2024).priced


def small_priced():
    rows = [member("59001", 2, 300), member("59002", 1, 40, statut="conditionnelle", effet=None),
            member("59003", 1, 95, statut="retiree", effet=date(2024, 3, 1), retrait=date(2024, 7, 1)),
            member("59004", 3, 500, effet=date(2025, 1, 1))]
    return price_year(base_frame(rows), tariff(plancher_cents=10_000), annee=2024)


def failures_of(priced) -> list[str]:
    with pytest.raises(PricedContractError) as caught:
        check_priced(priced)
    return [f"{f.table} | {f.check}" for f in caught.value.failures]


def test_the_sample_priced_year_keeps_the_contract(sample_priced):
    assert check_priced(sample_priced) is sample_priced
    c = sample_priced.contributions
    assert c.filter(pl.col("situation") == "facturee").height == 70  # the sample's README figure
    assert c["montant_cents"].sum() == 106_196_40


def test_a_small_year_with_every_situation_keeps_the_contract():
    priced = small_priced()
    assert sorted(priced.contributions["situation"].to_list()) == ["facturee", "facturee", "hors_periode",
                                                                   "indicative"]
    check_priced(priced)


@settings(SETTINGS, max_examples=30)  # the same strategies as the pricing properties, checked there at 60
@given(st.one_of(years(bareme_tariffs), years(repartition_tariffs)))
def test_every_priced_year_keeps_the_contract(year):
    annee, rows, t = year
    check_priced(price_year(base_frame(rows), t, annee=annee))


def test_a_float_amount_column_breaks_the_contract():
    priced = small_priced()
    as_float = replace(priced,
                       contributions=priced.contributions.with_columns(pl.col("montant_cents").cast(pl.Float64)))
    assert any("colonne montant_cents" in f and "Int64" in f for f in failures_of(as_float))
    lines_float = replace(priced, lines=priced.lines.with_columns(pl.col("montant_cents").cast(pl.Float64)))
    assert any(f.startswith("lignes | colonne montant_cents") for f in failures_of(lines_float))


def test_a_negative_amount_breaks_the_contract():
    priced = small_priced()
    negative = replace(priced, contributions=priced.contributions.with_columns(
        pl.when(pl.col("code_insee") == "59001").then(-pl.col("montant_cents")).otherwise(pl.col("montant_cents"))
        .alias("montant_cents")))
    found = failures_of(negative)
    assert any("colonne montant_cents" in f and "greater_than_or_equal_to(0)" in f for f in found)
    assert any("somme des lignes" in f for f in found)  # and the notice no longer adds up


def test_every_broken_rule_is_reported_at_once():
    priced = small_priced()
    broken = replace(
        priced,
        contributions=priced.contributions.with_columns(
            pl.when(pl.col("code_insee") == "59004").then(pl.lit(5)).otherwise(pl.col("jours")).alias("jours"),
            pl.when(pl.col("code_insee") == "59002").then(None).otherwise(pl.col("statut")).alias("statut")),
        lines=priced.lines.with_columns(
            pl.when(pl.col("code") == "part_eleve").then(pl.col("montant_cents") + 1)
            .otherwise(pl.col("montant_cents")).alias("montant_cents")))
    found = failures_of(broken)
    assert any("colonne statut" in f for f in found)
    assert any("jours et mois" in f for f in found)
    assert any("« produit »" in f for f in found)
    assert any("somme des lignes" in f for f in found)


def test_line_order_and_membership_are_part_of_the_contract():
    priced = small_priced()
    shuffled = replace(priced, lines=priced.lines.reverse())
    assert any("triées" in f for f in failures_of(shuffled))
    orphan = priced.lines.head(1).with_columns(pl.lit("59999").alias("code_insee"))
    with_orphan = replace(priced, lines=pl.concat([priced.lines, orphan]))
    assert any("appartient" in f for f in failures_of(with_orphan))


def test_the_models_can_be_used_alone(sample_priced):
    Contributions.validate(sample_priced.contributions, lazy=True)
    Lines.validate(sample_priced.lines, lazy=True)
    extra = sample_priced.lines.with_columns(pl.lit(1).alias("surplus"))
    with pytest.raises(Exception):
        Lines.validate(extra, lazy=True)  # strict: pricing selects exactly these columns
