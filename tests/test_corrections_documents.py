"""Corrections show why and how: motif, recalculated bases in full, what was already issued, the difference.

The reference amounts are written out by hand here (Fraction-free integer cents), never taken from the product.
"""

from __future__ import annotations

from datetime import date

from billing.core.corrections import Claim, IssuedTitre, correction_motif, plan_titres

NBSP = "\u00a0"
NNBSP = "\u202f"


def _lines(pupils: int, *, period: str | None = None) -> tuple[dict, ...]:
    fixe = {"ordre": 1, "code": "part_fixe", "libelle": "Part fixe", "quantite": None, "taux_units": None,
            "montant_cents": 150_00, "formule": "valeur", "detail": "forfait par commune membre"}
    eleves = {"ordre": 2, "code": "part_eleve", "libelle": "Part par élève", "quantite": pupils,
              "taux_units": 1_2000, "montant_cents": pupils * 120, "formule": "produit",
              "detail": f"rentrée 2023 : {pupils} élèves"}
    lines = [fixe, eleves]
    if period:
        lines.append({"ordre": 3, "code": "prorata", "libelle": "Prorata temporis", "quantite": None,
                      "taux_units": None, "montant_cents": -100_00, "formule": "prorata", "detail": period,
                      "facteur_num": 1, "facteur_den": 2})
    return tuple(lines)


def _titre(numero: str, nature: str, cents: int, lines, origine=None, seq=1) -> IssuedTitre:
    return IssuedTitre(numero, 2024, seq, "59098", "Bousbecque", nature, origine, cents, date(2024, 4, 15),
                       date(2024, 5, 15), "run", None, None, None, tuple(lines), "", "")


def test_raised_pupils_give_a_complementaire_with_motif_full_bases_and_the_difference():
    original = _titre("ENT-2024-0001", "titre", 150_00 + 1100 * 120, _lines(1100))
    claim = Claim("59098", "Bousbecque", 150_00 + 1150 * 120, _lines(1150))
    (planned,) = plan_titres([claim], [original])
    assert planned.nature == "complementaire" and planned.montant_cents == 50 * 120
    assert sum(line["montant_cents"] for line in planned.lines) == planned.montant_cents  # total = lines shown
    codes = [line["code"] for line in planned.lines]
    assert codes == ["motif", "base", "base", "recalcule", "deja_titre", "deja_titre_total", "complement"]
    motif = planned.lines[0]["detail"]
    assert motif == f"effectifs corrigés : 1{NNBSP}150 élèves au lieu de 1{NNBSP}100"
    bases = [line for line in planned.lines if line["code"] == "base"]
    assert bases[1]["detail"] == (f"1{NNBSP}150 × 1,20{NBSP}€ = 1{NNBSP}380,00{NBSP}€ (rentrée 2023 : 1150 élèves)")
    assert planned.lines[3]["detail"] == f"= 1{NNBSP}530,00{NBSP}€"
    assert planned.lines[4]["libelle"] == "Déjà titré — titre ENT-2024-0001 du 15/04/2024"
    assert planned.lines[4]["detail"] == f"1{NNBSP}470,00{NBSP}€"


def test_withdrawal_gives_a_reduction_whose_motif_is_the_withdrawal_date():
    original = _titre("ENT-2024-0001", "titre", 150_00 + 1000 * 120 - 100_00,
                      _lines(1000, period="du 01/03/2024 au 31/12/2024"))
    claim = Claim("59098", "Bousbecque", 150_00 + 1000 * 120 - 500_00,
                  _lines(1000, period="du 01/03/2024 au 30/06/2024"))
    (planned,) = plan_titres([claim], [original])
    assert planned.nature == "reduction" and planned.montant_cents == 400_00
    assert planned.lines[0]["detail"] == "retrait au 01/07/2024 (adhésion jusqu'au 30/06/2024)"
    assert sum(line["montant_cents"] for line in planned.lines) == 400_00


def test_a_commune_that_left_gets_an_annulation_motivated_by_the_end_of_its_membership():
    original = _titre("ENT-2024-0001", "titre", 1_470_00, _lines(1100))
    reduced = _titre("ENT-2024-0002", "reduction", 70_00, [], origine="ENT-2024-0001", seq=2)
    (planned,) = plan_titres([], [original, reduced])
    assert (planned.nature, planned.montant_cents, planned.origine_numero) == ("annulation", 1_400_00, "ENT-2024-0001")
    assert planned.lines[0]["detail"].startswith("fin d'adhésion")
    already = next(line for line in planned.lines if line["code"] == "deja_titre")
    assert already["detail"] == f"1{NNBSP}470,00{NBSP}€ − réductions 70,00{NBSP}€ = 1{NNBSP}400,00{NBSP}€"
    assert not [line for line in planned.lines if line["code"] == "base"]  # nothing recalculated: nothing owed
    assert sum(line["montant_cents"] for line in planned.lines) == 1_400_00


def test_motif_without_stored_lines_says_the_amount_was_recalculated():
    claim = Claim("59098", "Bousbecque", 100, _lines(1))
    assert correction_motif(claim, None) == "montant recalculé"
