"""Pure: what is owed now + what was issued -> the titres to issue (DESIGN §5).

An issued titre is never changed. When the amount owed by a commune moves after issue,
the difference becomes a new titre: a titre complémentaire when it grows, a réduction
(credit note) citing the original when it shrinks, an annulation of each remaining titre
when nothing is owed any more. Issuing the same claims twice plans nothing: a second
titre for the same claim would be a legal defect.

Vocabulary: a *debit* titre is a ``titre`` or a ``complementaire``; a *credit* is a
``reduction`` or an ``annulation`` and always cites one debit titre (``origine_numero``).
What remains of a debit titre is its amount minus the credits citing it; a commune's net
is the sum of what remains of its debit titres.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol, Sequence

from billing.core.money import format_euros
from billing.core.natures import CREDITS, DEBITS, NATURE_LABELS, NATURES, Nature, nature_label, signed

__all__ = ["CREDITS", "DEBITS", "NATURE_LABELS", "NATURES", "Nature", "Claim", "IssuedTitre", "PlannedTitre",
           "TitreHead", "below_seuil", "net_by_commune", "plan_titres", "remaining_by_titre"]

_NATURE_RANK = {nature: rank for rank, nature in enumerate(NATURES)}


@dataclass(frozen=True)
class Claim:
    """What a commune owes now for the year, with the notice lines that explain it.

    Line dicts carry ``ordre, code, libelle, quantite, taux_units, montant_cents, formule,
    detail`` (the columns of ``billing.core.pricing.LINE_SCHEMA`` without ``code_insee``).
    """

    code_insee: str
    commune: str
    montant_cents: int
    lines: tuple[dict, ...] = ()
    seuil_cents: int = 0  # seuil de recouvrement (DESIGN §4b): a titre or complément below it is not issued


class TitreHead(Protocol):
    """What planning reads of an issued titre (``IssuedTitre`` and the ledger's lighter rows have it)."""

    numero: str
    exercice: int
    seq: int
    code_insee: str
    commune: str
    nature: str
    origine_numero: str | None
    montant_cents: int
    date_emission: date


@dataclass(frozen=True)
class IssuedTitre:
    """One titre as the ledger holds it, lines decoded. Never modified once written."""

    numero: str
    exercice: int
    seq: int
    code_insee: str
    commune: str
    nature: str
    origine_numero: str | None
    montant_cents: int
    date_emission: date
    date_echeance: date | None
    run_id: str
    deliberation: str | None
    objet: str | None
    imputation: str | None
    lines: tuple[dict, ...]
    prev_hash: str
    hash: str

    @property
    def signed_cents(self) -> int:
        return signed(self.nature, self.montant_cents)


@dataclass(frozen=True)
class PlannedTitre:
    """A titre to issue; ``montant_cents`` is always > 0, the nature gives the direction."""

    nature: Nature
    code_insee: str
    commune: str
    montant_cents: int
    origine_numero: str | None
    lines: tuple[dict, ...]

    @property
    def signed_cents(self) -> int:
        """What this titre adds to the commune's net (negative for a credit)."""
        return signed(self.nature, self.montant_cents)


def remaining_by_titre(issued: Sequence[TitreHead]) -> dict[str, int]:
    """Debit titre number -> its amount minus the credits that cite it."""
    remaining = {t.numero: t.montant_cents for t in issued if t.nature in DEBITS}
    for titre in issued:
        if titre.nature in CREDITS and titre.origine_numero in remaining:
            remaining[titre.origine_numero] -= titre.montant_cents
    return remaining


def net_by_commune(issued: Sequence[TitreHead]) -> dict[str, int]:
    """code_insee -> debits minus credits: what the commune has been titled for, net."""
    net: dict[str, int] = {}
    for titre in issued:
        net[titre.code_insee] = net.get(titre.code_insee, 0) + signed(titre.nature, titre.montant_cents)
    return net


def plan_titres(claims: Sequence[Claim], issued: Sequence[TitreHead]) -> list[PlannedTitre]:
    """The titres that bring each commune's net to what it owes now, and nothing else.

    ``issued`` are the titres of the same exercice. A commune absent from ``claims`` owes
    nothing: its remaining titres are cancelled. Order: code_insee, then nature.
    A titre or titre complémentaire strictly below its claim's seuil is not planned (see
    ``below_seuil``): the difference stays owed and is planned once it reaches the seuil.
    Réductions and annulations are always planned.
    """
    return [item for item, under in _plan_all(claims, issued) if not under]


def below_seuil(claims: Sequence[Claim], issued: Sequence[TitreHead]) -> list[PlannedTitre]:
    """The titres and compléments ``plan_titres`` leaves out because they are below the seuil de recouvrement."""
    return [item for item, under in _plan_all(claims, issued) if under]


def _plan_all(claims: Sequence[Claim], issued: Sequence[TitreHead]) -> list[tuple[PlannedTitre, bool]]:
    """Every titre that would bring the nets to the claims, each with « below the seuil »."""
    by_code: dict[str, Claim] = {}
    for claim in claims:
        if claim.montant_cents < 0:
            raise ValueError(f"montant négatif pour {claim.code_insee} : {claim.montant_cents}")
        if claim.code_insee in by_code:
            raise ValueError(f"la commune {claim.code_insee} figure deux fois dans les montants à titrer")
        by_code[claim.code_insee] = claim

    issued_by_code: dict[str, list] = {}
    for titre in issued:
        issued_by_code.setdefault(titre.code_insee, []).append(titre)

    planned: list[tuple[tuple, PlannedTitre]] = []
    for code in sorted(set(by_code) | set(issued_by_code)):
        claim = by_code.get(code)
        titres = sorted(issued_by_code.get(code, []), key=lambda t: (t.exercice, t.seq))
        for index, item in enumerate(_plan_commune(claim, titres)):
            planned.append(((code, _NATURE_RANK[item.nature], index), item))
    planned.sort(key=lambda pair: pair[0])
    return [(item, item.nature in DEBITS and by_code.get(item.code_insee) is not None
             and item.montant_cents < by_code[item.code_insee].seuil_cents) for _, item in planned]


def _plan_commune(claim: Claim | None, titres: list) -> list[PlannedTitre]:
    owed = claim.montant_cents if claim is not None else 0
    remaining = remaining_by_titre(titres)
    open_debits = [t for t in titres if t.nature in DEBITS and remaining[t.numero] > 0]
    net = sum(remaining[t.numero] for t in open_debits)
    commune = claim.commune if claim is not None else (titres[-1].commune if titres else "")
    code = claim.code_insee if claim is not None else titres[-1].code_insee

    if owed == net:
        return []
    if net == 0:
        # Nothing left standing (never issued, or everything cancelled): a fresh titre.
        return [PlannedTitre("titre", code, commune, owed, None, tuple(claim.lines))]
    if owed > net:
        first = next((t for t in open_debits if t.nature == "titre"), open_debits[0])
        difference = owed - net
        line = {
            "ordre": 1, "code": "complement",
            "libelle": f"Complément : montant recalculé {format_euros(owed)} − déjà titré {format_euros(net)}",
            "quantite": 1, "taux_units": difference * 100, "montant_cents": difference, "formule": "valeur",
            "detail": (f"complément du titre {first.numero} du {_french_date(first.date_emission)} : "
                       f"{format_euros(owed)} − {format_euros(net)} = {format_euros(difference)}"),
        }
        return [PlannedTitre("complementaire", code, commune, difference, first.numero, (line,))]
    if owed == 0:
        return [_credit("annulation", t, remaining[t.numero], owed=owed, net=net)
                for t in reversed(open_debits)]
    # owed < net: reduce the newest titres first, each within what remains of it.
    to_reduce = net - owed
    out = []
    for titre in reversed(open_debits):
        if to_reduce == 0:
            break
        part = min(to_reduce, remaining[titre.numero])
        out.append(_credit("reduction", titre, part, owed=owed, net=net))
        to_reduce -= part
    return out


def _credit(nature: Nature, origin, amount: int, *, owed: int, net: int) -> PlannedTitre:
    word = nature_label(nature, capitalized=True)
    line = {
        "ordre": 1, "code": nature,
        "libelle": f"{word} du titre {origin.numero} du {_french_date(origin.date_emission)}",
        "quantite": 1, "taux_units": amount * 100, "montant_cents": amount, "formule": "valeur",
        "detail": (f"montant recalculé {format_euros(owed)} − déjà titré {format_euros(net)} ; "
                   f"imputé sur ce titre : {format_euros(amount)}"),
    }
    return PlannedTitre(nature, origin.code_insee, origin.commune, amount, origin.numero, (line,))


def _french_date(value) -> str:
    return value.strftime("%d/%m/%Y") if value is not None else "?"
