from datetime import date

import polars as pl
import pytest

from billing.core.errors import UserError
from billing.core.model import Tariff
from billing.core.pricing import price_year
from billing.core.problems import InputError
from billing.core.simulate import simulate as simulate_tariff, solve_rate
from billing.inputs.scenarios import apply_settings


def simulate(base, t, settings, *, annee, name="simulation"):
    """What questions.simulate does: the settings validated onto the tariff, then priced again."""
    return simulate_tariff(base, apply_settings(t, settings), annee=annee, name=name)

from tests.test_pricing import base_frame, member, reference_bareme


def small_base():
    return base_frame([
        member("59001", 2, 130, effet=date(2024, 3, 1)),
        member("59002", 1, 7),
        member("59003", 5, 1100, statut="retiree", retrait=date(2024, 10, 1)),
        member("59004", 1, 40, statut="conditionnelle", effet=None),
    ])


def tariff(**kw):
    values = dict(annee=2024, deliberation="d", rentree=2023, part_ecole_units=1_500_000, part_eleve_units=12_000,
                  plancher_cents=10_000, plafond_cents=150_000, prorata="jours")
    values.update(kw)
    return Tariff(**values)


def reference_total(base, t):
    """The billed total by the independent hand computation of test_pricing."""
    return sum(billed for billed, _ in reference_bareme(base.to_dicts(), t, 2024).values())


def check_solution(base, t, target, solution, parameter="part_eleve"):
    """The solver's answer, checked with the independent reference: the finest rate whose total
    does not exceed the target is maximal, and no coarser rate reaches the same total."""
    from billing.core.simulate import with_rate

    def ref(units):
        return reference_total(base, with_rate(t, parameter, units))

    best_total = solution.total_cents
    assert ref(solution.units) == best_total <= target
    finest = solution.units
    while ref(finest + 1) <= target:  # walk to the finest maximal rate (a few steps at most)
        finest += 1
        assert ref(finest) == best_total
    assert ref(finest + 1) > target
    for step in (10_000, 1_000, 100, 10, 1):
        candidate = finest - finest % step
        if ref(candidate) == best_total:
            assert candidate == solution.units
            break


@pytest.mark.parametrize("target", [2_000_00, 2_345_67, 3_100_00])
@pytest.mark.parametrize("kw", [{}, {"plancher_cents": 50_000}, {"prorata": "mois"}, {"plafond_cents": 60_000}])
def test_solved_rate_matches_brute_force(target, kw):
    base, t = small_base(), tariff(**kw)
    try:
        solution = solve_rate(base, t, target, annee=2024)
    except UserError:
        from billing.core.simulate import with_rate

        # unreachable: even a huge rate stays under the target, or zero already exceeds it
        assert (reference_total(base, with_rate(t, "part_eleve", 10**9)) <= target
                or reference_total(base, with_rate(t, "part_eleve", 0)) > target)
        return
    check_solution(base, t, target, solution)
    assert solution.next_total_cents > target


def test_no_rate_reaches_a_target_above_every_plafond():
    base, t = small_base(), tariff(plafond_cents=20_000)
    with pytest.raises(UserError, match="aucun tarif ne permet d'atteindre"):
        solve_rate(base, t, 10_000_000, annee=2024)


def test_fixed_parts_already_above_target():
    with pytest.raises(UserError, match="même à 0"):
        solve_rate(small_base(), tariff(), 100, annee=2024)


def test_same_tariff_reproduces_computed_amounts():
    base, t = small_base(), tariff()
    scenario = simulate(base, t, [], annee=2024)
    assert scenario.priced.contributions.equals(price_year(base, t, annee=2024).contributions)


def test_override_changes_only_what_is_asked():
    scenario = simulate(small_base(), tariff(), ["part_eleve=1.35", "part_fixe=50"], annee=2024)
    assert scenario.tariff.part_eleve_units == 13_500 and scenario.tariff.part_fixe_cents == 5_000
    assert scenario.tariff.part_ecole_units == 1_500_000


@pytest.mark.parametrize("setting,message", [
    ("part_elev=1.3", "paramètre inconnu"),
    ("part_eleve=-1", "un prix ne peut pas être négatif"),
    ("part_eleve=beaucoup", "n'est pas un nombre"),
    ("prorata=semaines", "prorata attendu"),
    ("tranches_eleve=500:1.5,300:1.2,:1", "jusqu_a"),
    ("part_eleve", "forme attendue"),
])
def test_invalid_overrides_are_clear(setting, message):
    with pytest.raises(InputError) as info:
        simulate(small_base(), tariff(), [setting], annee=2024)
    assert any(message in p.message for p in info.value.errors), [p.render() for p in info.value.errors]


def test_bands_can_be_simulated():
    scenario = simulate(small_base(), tariff(), ["tranches_eleve=500:1.50,:1.00"], annee=2024)
    assert scenario.tariff.tranches and scenario.tariff.part_eleve_units is None
    assert set(scenario.priced.lines["code"].to_list()) >= {"tranche_1", "tranche_2"}
    assert (scenario.priced.contributions.filter(pl.col("code_insee") == "59003")["montant_annuel_cents"].item()
            == 150_000 - 150_000 + min(150_000, 75_000 + 750_00 + 60_000))
