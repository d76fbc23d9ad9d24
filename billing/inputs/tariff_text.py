"""A tariff shown to people: the « Paramètres » rows of the workbooks and notices, and its JSON form."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from billing.core.model import DEFAULT_SEUIL_CENTS, Tariff
from billing.core.money import format_euros, format_rate
from billing.inputs.tariffs import tariff_source
from billing.inputs.tomlfile import _fraction_text


CRITERION_LABELS = {"eleves": "élèves", "ecoles": "écoles publiques", "population": "population municipale",
                    "forfait": "forfait (part égale par commune)"}
PRORATA_LABELS = {"aucun": "aucun (année entière due)", "mois": "par mois commencé d'adhésion",
                  "jours": "au jour près"}
BAND_MODE_LABELS = {"progressif": "progressif (chaque tranche à son prix)",
                    "global": "global (tous les élèves au prix de la tranche atteinte)"}


def tariff_to_dict(tariff: Tariff) -> dict[str, Any]:
    """JSON-friendly form for manifests and --json: money as strings with their decimals (« 1.20 », « 1.4375 »)."""
    data = {"annee": tariff.annee, **tariff_source(tariff)}
    if tariff.date_emission:
        data["date_emission"] = tariff.date_emission.isoformat()
    return data


def _percent(weight: Fraction) -> str:
    text = _fraction_text(weight * 100)
    if "/" in text:
        text = str((Decimal(weight.numerator) * 100 / Decimal(weight.denominator)).quantize(Decimal("0.01")))
        return f"{text.replace('.', ',')} % ({_fraction_text(weight)})"
    return f"{text.replace('.', ',')} %"


def describe_tariff(tariff: Tariff) -> list[tuple[str, str]]:
    """(French label, display value) pairs for the « Paramètres » sheet and the notices."""
    rows = [("Exercice", str(tariff.annee)),
            ("Délibération", tariff.deliberation),
            ("Effectifs de la rentrée", f"{tariff.rentree} (année scolaire {tariff.rentree}-{tariff.rentree + 1})"),
            ("Mode", "barème" if tariff.mode == "bareme" else "répartition d'un montant total")]
    if tariff.mode == "repartition":
        rows.append(("Montant à répartir", format_euros(tariff.montant_total_cents or 0)))
        for criterion, weight in tariff.poids:
            rows.append((f"Poids du critère « {CRITERION_LABELS.get(criterion, criterion)} »", _percent(weight)))
    else:
        rows.append(("Part fixe par commune", format_euros(tariff.part_fixe_cents)))
        rows.append(("Part par école publique", format_rate(tariff.part_ecole_units)))
        if tariff.tranches:
            low = 1
            for index, band in enumerate(tariff.tranches, start=1):
                upper = f"à {band.jusqu_a}" if band.jusqu_a is not None else "et au-delà"
                rows.append((f"Tranche {index} (élèves {low} {upper})", format_rate(band.rate_units)))
                low = (band.jusqu_a or 0) + 1
            rows.append(("Calcul des tranches", BAND_MODE_LABELS.get(tariff.tranches_mode, tariff.tranches_mode)))
        else:
            rows.append(("Part par élève", format_rate(tariff.part_eleve_units or 0)))
        rows += _section_4b_rows(tariff)
        rows.append(("Plancher", format_euros(tariff.plancher_cents) if tariff.plancher_cents is not None else "aucun"))
        rows.append(("Plafond", format_euros(tariff.plafond_cents) if tariff.plafond_cents is not None else "aucun"))
    rows.append(("Prorata temporis", PRORATA_LABELS.get(tariff.prorata, tariff.prorata)))
    rows.append(("Échéance", f"{tariff.echeance_jours} jours après l'émission"))
    if tariff.imputation:
        rows.append(("Imputation", f"compte {tariff.imputation}"))
    if tariff.date_emission:
        rows.append(("Date d'émission", f"{tariff.date_emission:%d/%m/%Y}"))
    if tariff.seuil_cents != DEFAULT_SEUIL_CENTS or tariff.uses_population or tariff.groupes:
        rows.append(("Seuil de recouvrement", format_euros(tariff.seuil_cents) + " (CGCT D1611-1)"
                     if tariff.seuil_cents else "aucun (0,00 €)"))
    return rows


def _section_4b_rows(tariff: Tariff) -> list[tuple[str, str]]:
    """Classes, inhabitants, population bands and group overrides (DESIGN §4b): only the keys the year sets."""
    from billing.core.pricing import strate_text

    rows = []
    if tariff.part_classe_units:
        rows.append(("Part par classe", format_rate(tariff.part_classe_units)))
    if tariff.part_habitant_units:
        rows.append(("Part par habitant", format_rate(tariff.part_habitant_units)))
    for number, strate in enumerate(tariff.strates, start=1):
        rows.append((f"Strate {number} ({strate_text(tariff, number)})", format_euros(strate.montant_cents)))
    for group in tariff.groupes:
        rows.append((f"Groupe « {group.nom} »", " ; ".join(_group_text(name, value) for name, value in group.fields)))
    return rows


GROUP_LABELS = {"part_fixe_cents": "part fixe", "part_ecole_units": "par école", "part_eleve_units": "par élève",
                "part_classe_units": "par classe", "part_habitant_units": "par habitant", "plancher_cents": "plancher",
                "plafond_cents": "plafond"}


def _group_text(name: str, value) -> str:
    """One overridden price of a group, as the notice and the Paramètres sheet say it."""
    if name == "tranches":
        return "tranches d'élèves " + ", ".join(
            f"{'jusqu’à ' + str(b.jusqu_a) if b.jusqu_a is not None else 'au-delà'} : {format_rate(b.rate_units)}"
            for b in value)
    if name == "strates":
        return "strates " + ", ".join(
            f"{'jusqu’à ' + str(s.jusqu_a) if s.jusqu_a is not None else 'au-delà'} : {format_euros(s.montant_cents)}"
            for s in value)
    if value is None:
        return f"{GROUP_LABELS.get(name, name)} : aucun"
    amount = format_euros(value) if name.endswith("_cents") else format_rate(value)
    return f"{GROUP_LABELS.get(name, name)} {amount}"
