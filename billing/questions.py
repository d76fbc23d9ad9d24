"""The questions asked of a prepared year: why a commune owes its amount, and what if the tariff changed.

Nothing is issued; ``simulate`` writes one comparison workbook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

from billing.core.problems import BillingError, Code
from billing.year import display_path, prepare_year, pricing_problems


@dataclass(frozen=True)
class Explanation:
    code_insee: str
    lines: list[str]
    contribution: dict

    def as_json(self) -> dict:
        return {"ok": True, "code_insee": self.code_insee, "explication": self.lines,
                "montant": self.contribution.get("montant"), "situation": self.contribution.get("situation")}


def explain(inputs_dir: Path, annee: int, commune: str) -> Explanation:
    """The full calculation of one member, by name or INSEE code."""
    from billing.core.money import cents_to_str
    from billing.core.pricing import explain_commune
    from billing.inputs.register import load_register, suggestion_text

    data = prepare_year(inputs_dir, annee)
    priced = data.priced
    debtor = _debtor_explanation(data, commune.strip())
    if debtor is not None:
        return debtor
    register = load_register()
    text = commune.strip()
    code = None
    if re.fullmatch(r"\d[0-9AB]\d{3}|\d{4}", text.upper()):
        res = register.resolve_code(text)
    else:
        res = register.resolve_name(text, departements=set(data.billing_base["departement"].drop_nulls().to_list()))
    if res.status == "ok" and res.commune is not None:
        code = res.commune.code_insee
    members = set(priced.contributions["code_insee"].to_list())
    if code is None or code not in members:
        hint = member_suggestions(text, priced.contributions) or (suggestion_text(res) if res.status != "ok" else None)
        if code is not None:
            raise BillingError.single(f"{res.commune.libelle} ({code}) n'est pas membre du syndicat dans "
                                      f"{display_path(inputs_dir / 'adhesions.csv', inputs_dir)}", code=Code.USAGE)
        raise BillingError.single(f"« {commune} » n'est pas une commune membre" + (f". {hint}" if hint else ""),
                                  code=Code.USAGE)
    row = priced.contributions.filter(pl.col("code_insee") == code).row(0, named=True)
    amount = row["montant_cents"] if row["situation"] == "facturee" else row["montant_indicatif_cents"]
    return Explanation(code, explain_commune(priced, code),
                       {"montant": cents_to_str(amount or 0), "situation": row["situation"]})


def _debtor_explanation(data, text: str) -> Explanation | None:
    """``explain YEAR CODE`` for a debtor of debiteurs.csv (DESIGN §4c): each member it pays for, then its total."""
    from billing.core.money import cents_to_str, format_euros
    from billing.core.pricing import explain_commune
    from billing.documents import titled

    debtors = data.debtors
    if debtors is None or "code_debiteur" not in data.priced.contributions.columns:
        return None
    match = debtors.filter((pl.col("code").str.to_lowercase() == text.lower())
                           | (pl.col("nom").str.to_lowercase() == text.lower()))
    if match.height == 0:
        return None
    code, nom = match["code"][0], match["nom"][0]
    members = data.priced.contributions.filter(pl.col("code_debiteur") == code)
    out = [f"{nom} (débiteur {code}) — contribution {data.annee} des membres dont il est le débiteur"]
    for row in members.iter_rows(named=True):
        out += [""] + explain_commune(data.priced, row["code_insee"])
    total = int(members.filter(titled())["montant_cents"].sum() or 0)
    out += ["", f"Total du titre de {nom} : {format_euros(total)} "
                f"({len(members)} membre{'s' if len(members) > 1 else ''})"]
    return Explanation(code, out, {"montant": cents_to_str(total), "situation": "debiteur"})


def member_suggestions(text: str, contributions: pl.DataFrame, *, limit: int = 3) -> str | None:
    """« Vouliez-vous dire … ? » among the syndicate's members first: the officer asks about a member."""
    from rapidfuzz import fuzz, process

    from billing.inputs.register import fold_name

    names = {fold_name(r["commune"]): (r["commune"], r["code_insee"]) for r in contributions.iter_rows(named=True)}
    wanted = fold_name(text)
    found = [names[key] for key in names if wanted and (key.startswith(wanted) or wanted in key)]
    if not found:
        found = [names[key] for key, score, _ in process.extract(wanted, list(names), scorer=fuzz.WRatio, limit=limit)
                 if score >= 80]
    if not found:
        return None
    listed = ", ".join(f"« {name} » ({code})" for name, code in sorted(found)[:limit])
    return f"Communes membres proches : {listed}."


@dataclass(frozen=True)
class SimulationResult:
    annee: int
    current: object  # Priced
    scenarios: tuple
    solution: object | None
    path: Path

    def as_json(self) -> dict:
        from billing.inputs.config import tariff_to_dict
        from billing.core.money import cents_to_str
        from billing.core.simulate import billed_total, comparison_frame

        main = self.scenarios[0]
        comparison = comparison_frame(self.current, [main])
        payload = {
            "ok": True, "annee": self.annee, "parametres": tariff_to_dict(main.tariff),
            "total": cents_to_str(main.total_cents), "total_actuel": cents_to_str(billed_total(self.current)),
            "communes": [{"code_insee": r["code_insee"], "commune": r["commune"],
                          "montant_actuel": cents_to_str(r["montant_actuel"] or 0),
                          "montant": cents_to_str(r["montant_0"] or 0)} for r in comparison.iter_rows(named=True)],
            "fichier": str(self.path),
        }
        if len(self.scenarios) > 1:
            payload["scenarios"] = [{"nom": s.name, "parametres": tariff_to_dict(s.tariff),
                                     "total": cents_to_str(s.total_cents)} for s in self.scenarios]
        if self.solution is not None:
            payload.update({"cible": cents_to_str(self.solution.target_cents), "parametre": self.solution.parameter,
                            "valeur": self.solution.value_text,
                            "total_pas_suivant": cents_to_str(self.solution.next_total_cents or 0)})
        return payload

    def summary_lines(self, *, top: int = 10) -> list[str]:
        from billing.core.money import format_euros
        from billing.core.simulate import billed_total, comparison_frame

        lines = [f"Simulation {self.annee} (rien n'est émis) — total facturé actuel : "
                 f"{format_euros(billed_total(self.current))}"]
        for scenario in self.scenarios:
            delta = scenario.total_cents - billed_total(self.current)
            lines.append(f"  {scenario.name:<24} total {format_euros(scenario.total_cents):>18}  "
                         f"(écart {'+' if delta >= 0 else ''}{format_euros(delta)})")
        if self.solution is not None:
            s = self.solution
            lines.append(f"  Cible {format_euros(s.target_cents)} : {s.parameter} = {_comma(s.value_text)} € donne "
                         f"{format_euros(s.total_cents)} ; au pas suivant ({_comma(s.next_value_text)} €) : "
                         f"{format_euros(s.next_total_cents or 0)}")
        billed = self.current.contributions.filter(pl.col("situation") == "facturee")["code_insee"]
        comparison = comparison_frame(self.current, [self.scenarios[0]]).filter(
            pl.col("code_insee").is_in(billed.implode())).with_columns(
            (pl.col("montant_0") - pl.col("montant_actuel")).alias("ecart"))
        biggest = comparison.sort(pl.col("ecart").abs(), descending=True).head(top)
        lines.append(f"  Plus grands écarts des communes facturées ({self.scenarios[0].name}) :")
        for r in biggest.iter_rows(named=True):
            lines.append(f"    {r['commune']:<30} {format_euros(r['montant_actuel'] or 0):>14} → "
                         f"{format_euros(r['montant_0'] or 0):>14}  ({'+' if r['ecart'] >= 0 else ''}"
                         f"{format_euros(r['ecart'] or 0)})")
        lines.append(f"  Classeur : {self.path}")
        return lines


def run_simulation(inputs_dir: Path, annee: int, *, settings: list[str], out_dir: Path,
                   scenario_file: Path | None = None, cible: str | None = None, cible_sur: str = "part_eleve",
                   today: date | None = None) -> SimulationResult:
    """Price the year again with modified tariffs; write the comparison workbook; issue nothing."""
    from billing.core.simulate import comparison_frame
    from billing.inputs.config import describe_tariff
    from billing.render.simulation import write_simulation

    data = prepare_year(inputs_dir, annee)
    current = data.priced
    with pricing_problems(data):
        scenarios, solution = _scenarios(data, settings, scenario_file, cible, cible_sur)
    path = Path(out_dir) / f"simulation_{annee}_{simulation_label(settings, scenario_file, cible, cible_sur)}.xlsx"
    write_simulation(path, annee=annee, current=current, scenarios=scenarios,
                     tariff_descriptions=[describe_tariff(t) for t in (current.tariff, *(s.tariff for s in scenarios))],
                     comparison=comparison_frame(current, scenarios), solution=solution,
                     generated_at=datetime.now().replace(microsecond=0))
    return SimulationResult(annee, current, tuple(scenarios), solution, path)


def simulation_label(settings: list[str], scenario_file: Path | None, cible: str | None, cible_sur: str) -> str:
    """The file's name after what changed (« part-eleve-1-35 », « cible-part-eleve-180000 »), so two
    simulations never overwrite each other; a long list keeps its start and a short digest of the whole."""
    import hashlib

    from billing.core.text import slug

    parts = [*settings]
    if scenario_file is not None:
        parts.insert(0, f"scenarios-{scenario_file.stem}")
    if cible is not None:
        parts.append(f"cible-{cible_sur}-{cible}")
    whole = "_".join(slug(p) for p in parts) or "tarif-actuel"
    if len(whole) <= 60:
        return whole
    return f"{whole[:50].rstrip('-_')}-{hashlib.sha256(whole.encode()).hexdigest()[:8]}"


def _scenarios(data, settings: list[str], scenario_file: Path | None, cible: str | None, cible_sur: str):
    """Each variant priced, and the solved rate when a target is asked (first in the list)."""
    from billing.core.simulate import Scenario, parse_target, simulate, solve_rate, with_solution
    from billing.inputs.scenarios import apply_settings, read_scenarios

    annee = data.annee
    scenarios = []
    if scenario_file is not None:
        for name, variant in read_scenarios(scenario_file):
            tariff = apply_settings(data.tariff, [*settings, *variant], members=data.billing_base)
            scenarios.append(simulate(data.billing_base, tariff, annee=annee, name=name))
    elif settings or cible is None:
        scenarios.append(simulate(data.billing_base, apply_settings(data.tariff, settings, members=data.billing_base),
                                  annee=annee,
                                  name="simulation" if settings else "tarif actuel"))
    solution = None
    if cible is not None:
        base_tariff = scenarios[0].tariff if scenarios else data.tariff
        solution = solve_rate(data.billing_base, base_tariff, parse_target(cible), annee=annee, parameter=cible_sur)
        solved = with_solution(base_tariff, solution)
        scenarios.insert(0, simulate(data.billing_base, solved, annee=annee,
                                     name=f"cible {solution.parameter}={solution.value_text}"))
    return scenarios, solution


def _comma(decimal_text: str) -> str:
    """« 2.5608 » as a French reader writes a rate: « 2,5608 » (the JSON keeps the dot)."""
    return decimal_text.replace(".", ",")
