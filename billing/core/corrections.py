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

import re
from dataclasses import dataclass
from datetime import date
from typing import Protocol, Sequence

from billing.core.money import format_count, format_euros, format_rate
from billing.core.natures import CREDITS, DEBITS, NATURE_LABELS, NATURES, Nature, nature_label, signed

__all__ = ["CREDITS", "DEBITS", "NATURE_LABELS", "NATURES", "Nature", "Claim", "IssuedTitre", "PlannedTitre",
           "TitreHead", "below_seuil", "correction_motif", "net_by_commune", "plan_titres", "remaining_by_titre"]

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
    membres: tuple[tuple[str, int], ...] = ()  # DESIGN §4c: (member, part in this titre's direction), summing to it

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


def plan_titres(claims: Sequence[Claim], issued: Sequence[TitreHead],
                parts: dict[str, dict[str, int]] | None = None) -> list[PlannedTitre]:
    """The titres that bring each commune's net to what it owes now, and nothing else.

    ``issued`` are the titres of the same exercice. A commune absent from ``claims`` owes
    nothing: its remaining titres are cancelled. Order: code_insee, then nature.
    A titre or titre complémentaire strictly below its claim's seuil is not planned (see
    ``below_seuil``): the difference stays owed and is planned once it reaches the seuil.
    Réductions and annulations are always planned.

    ``parts`` (numero -> {member: part}, the ledger's record) lets each planned titre say which members it
    is for (DESIGN §4c): a debtor's titre may pay for several; without a record a titre is its debtor's own.
    """
    planned = [item for item, under in _plan_all(claims, issued) if not under]
    return member_parts(planned, claims, issued, parts or {})


def claim_members(claim: Claim | None) -> dict[str, int]:
    """What each member owes within a claim: its lines marked ``membre`` (a debtor paying for several),
    else the whole claim for its own code."""
    if claim is None:
        return {}
    out: dict[str, int] = {}
    for line in claim.lines:
        if line.get("membre") is not None:
            out[line["membre"]] = out.get(line["membre"], 0) + line["montant_cents"]
    return out or {claim.code_insee: claim.montant_cents}


def member_parts(planned: list[PlannedTitre], claims: Sequence[Claim], issued: Sequence[TitreHead],
                 parts: dict[str, dict[str, int]]) -> list[PlannedTitre]:
    """Each planned titre with the members it is for: per debtor, what each member owes now minus its net
    in the debtor's titres, shared over that debtor's planned titres so that each one's parts add up to it."""
    by_code = {claim.code_insee: claim for claim in claims}
    nets: dict[str, dict[str, int]] = {}
    for titre in issued:
        own = parts.get(titre.numero) or {titre.code_insee: titre.montant_cents}
        for member, cents in own.items():
            debtor = nets.setdefault(titre.code_insee, {})
            debtor[member] = debtor.get(member, 0) + signed(titre.nature, cents)
    by_debtor: dict[str, list[PlannedTitre]] = {}  # grouped once: a scan per debtor was quadratic (40 s nationally)
    for item in planned:
        by_debtor.setdefault(item.code_insee, []).append(item)
    out: list[PlannedTitre] = []
    for debtor, items in by_debtor.items():
        owed, net = claim_members(by_code.get(debtor)), nets.get(debtor, {})
        diffs = {m: owed.get(m, 0) - net.get(m, 0) for m in sorted({*owed, *net})}
        out += _share(items, {m: d for m, d in diffs.items() if d})
    return out  # planned is sorted by debtor first: each debtor's titres are together, in order


def _share(items: list[PlannedTitre], diffs: dict[str, int]) -> list[PlannedTitre]:
    """Members' differences (signed: + owed more) over a debtor's planned titres, in each titre's direction:
    the titres but the last are filled with parts of the members moving their way, the last takes the rest."""
    from dataclasses import replace

    if not items:
        return []
    direction = 1 if items[0].nature in DEBITS else -1
    pending = [[m, d * direction] for m, d in diffs.items()]
    shared = []
    for item in items[:-1]:
        room, own = item.montant_cents, []
        for entry in pending:
            if room and entry[1] > 0:
                take = min(room, entry[1])
                own.append((entry[0], take))
                entry[1] -= take
                room -= take
        shared.append(replace(item, membres=tuple(own)))
    rest = tuple((m, d) for m, d in pending if d)
    if sum(d for _, d in rest) != items[-1].montant_cents:  # not a single debtor's plan: leave it its own
        rest = ()
    shared.append(replace(items[-1], membres=rest))
    return shared


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
    context = _context_lines(claim, titres, open_debits, remaining, owed=owed, net=net)
    if owed > net:
        first = next((t for t in open_debits if t.nature == "titre"), open_debits[0])
        difference = owed - net
        line = _amount_line("complement", "Complément dû : montant recalculé − déjà titré", difference,
                            f"{format_euros(owed)} − {format_euros(net)} = {format_euros(difference)}")
        return [PlannedTitre("complementaire", code, commune, difference, first.numero,
                             (*context, {**line, "ordre": len(context) + 1}))]
    if owed == 0:
        return [_credit("annulation", t, remaining[t.numero], context, owed=owed, net=net)
                for t in reversed(open_debits)]
    # owed < net: reduce the newest titres first, each within what remains of it.
    to_reduce = net - owed
    out = []
    for titre in reversed(open_debits):
        if to_reduce == 0:
            break
        part = min(to_reduce, remaining[titre.numero])
        out.append(_credit("reduction", titre, part, context, owed=owed, net=net))
        to_reduce -= part
    return out


def _credit(nature: Nature, origin, amount: int, context: tuple[dict, ...], *, owed: int, net: int) -> PlannedTitre:
    word = nature_label(nature, capitalized=True)
    detail = f"déjà titré {format_euros(net)} − montant recalculé {format_euros(owed)} = {format_euros(net - owed)}"
    if amount != net - owed:
        detail += f" ; imputé sur ce titre : {format_euros(amount)}"
    line = _amount_line(nature, f"{word} du titre {origin.numero} du {_french_date(origin.date_emission)}", amount,
                        detail)
    return PlannedTitre(nature, origin.code_insee, origin.commune, amount, origin.numero,
                        (*context, {**line, "ordre": len(context) + 1}))


def _amount_line(code: str, libelle: str, cents: int, detail: str) -> dict:
    """The one line of a correction that carries its amount (the difference); every other line is information."""
    return {"ordre": 0, "code": code, "libelle": libelle, "quantite": 1, "taux_units": cents * 100,
            "montant_cents": cents, "formule": "valeur", "detail": detail}


def _info(code: str, libelle: str, detail: str | None, *, quantite=None, taux_units=None) -> dict:
    """A line shown for information: no amount in the Montant column, so the total stays the sum shown."""
    return {"ordre": 0, "code": code, "libelle": libelle, "quantite": quantite, "taux_units": taux_units,
            "montant_cents": 0, "formule": "info", "detail": detail}


def _context_lines(claim: Claim | None, titres: list, open_debits: list, remaining: dict[str, int], *,
                   owed: int, net: int) -> tuple[dict, ...]:
    """What a correction shows before its amount: the motif, the recalculated bases in full (every line of
    the new calculation), the recalculated amount, and each titre already issued that still stands."""
    original = next((t for t in titres if t.nature == "titre"), None)
    out = [_info("motif", "Motif de la correction", correction_motif(claim, original))]
    for line in (claim.lines if claim is not None else ()):
        out.append(_info("base", f"Base recalculée — {line['libelle']}", _line_text(line),
                         quantite=line.get("quantite"), taux_units=line.get("taux_units")))
    out.append(_info("recalcule", "Montant recalculé pour l'exercice", f"= {format_euros(owed)}"))
    for titre in open_debits:
        credited = titre.montant_cents - remaining[titre.numero]
        text = format_euros(remaining[titre.numero])
        if credited:
            text = (f"{format_euros(titre.montant_cents)} − réductions {format_euros(credited)} = "
                    f"{format_euros(remaining[titre.numero])}")
        label = "Déjà titré — " + ("titre" if titre.nature == "titre" else "titre complémentaire")
        out.append(_info("deja_titre", f"{label} {titre.numero} du {_french_date(titre.date_emission)}", text))
    out.append(_info("deja_titre_total", "Total déjà titré", f"= {format_euros(net)}"))
    return tuple({**line, "ordre": index} for index, line in enumerate(out, start=1))


def _line_text(line: dict) -> str:
    """« 1 150 × 1,20 € = 1 380,00 € (rentrée 2023 : 1 150 élèves) »: a line of the calculation, in French."""
    amount = format_euros(line["montant_cents"])
    if line.get("formule") == "produit" and line.get("quantite") is not None and line.get("taux_units") is not None:
        text = f"{format_count(line['quantite'])} × {format_rate(line['taux_units'])} = {amount}"
    else:
        text = amount
    return f"{text} ({line['detail']})" if line.get("detail") else text


_PERIOD = re.compile(r"du (\d{2}/\d{2}/\d{4}) au (\d{2}/\d{2}/\d{4})")
_PUPIL_CODES = ("part_eleve", "tranche_")


def correction_motif(claim: Claim | None, original) -> str:
    """Why the amount moved, from the new claim's lines against the original titre's stored lines.

    « fin d'adhésion » when nothing is owed any more; « retrait au 01/07/2024 » or « adhésion au … » when the
    period changed; « effectifs corrigés : 1 150 élèves au lieu de 1 100 », « écoles : … » when the bases did;
    « tarif modifié » when a unit price did; otherwise « montant recalculé ».
    """
    if claim is None or claim.montant_cents == 0:
        return "fin d'adhésion"
    old = tuple(original.lines) if original is not None and getattr(original, "lines", None) else ()
    if not old:
        return "montant recalculé"
    reasons = []
    new_period, old_period = _period(claim.lines), _period(old)
    if new_period != old_period and new_period is not None:
        if old_period is None or new_period[1] != old_period[1]:
            reasons.append(_withdrawal(new_period[1]) if not new_period[1].startswith("31/12")
                           else f"période d'adhésion : du {new_period[0]} au {new_period[1]}")
        if old_period is not None and new_period[0] != old_period[0]:
            reasons.append(f"adhésion au {new_period[0]}")
    elif new_period is None and old_period is not None:
        reasons.append("adhésion sur l'année entière")
    pupils_new, pupils_old = _quantity(claim.lines, _PUPIL_CODES), _quantity(old, _PUPIL_CODES)
    if pupils_new != pupils_old:
        reasons.append(f"effectifs corrigés : {format_count(pupils_new)} élèves au lieu de {format_count(pupils_old)}")
    schools_new, schools_old = _quantity(claim.lines, ("part_ecole",)), _quantity(old, ("part_ecole",))
    if schools_new != schools_old:
        reasons.append(f"écoles : {format_count(schools_new)} au lieu de {format_count(schools_old)}")
    old_rates = {l["code"]: l.get("taux_units") for l in old}
    for line in claim.lines:
        before = old_rates.get(line["code"])
        if line.get("taux_units") is not None and before is not None and before != line["taux_units"]:
            reasons.append(f"tarif modifié : {line['libelle']} {format_rate(line['taux_units'])} "
                           f"au lieu de {format_rate(before)}")
    return " ; ".join(reasons) or "montant recalculé"


def _withdrawal(last_day: str) -> str:
    """« retrait au 01/07/2024 (adhésion jusqu'au 30/06/2024) »: the withdrawal takes effect the day after the
    last day billed."""
    from datetime import datetime, timedelta

    effect = datetime.strptime(last_day, "%d/%m/%Y").date() + timedelta(days=1)
    return f"retrait au {effect:%d/%m/%Y} (adhésion jusqu'au {last_day})"


def _period(lines) -> tuple[str, str] | None:
    for line in lines:
        if line.get("code") == "prorata":
            found = _PERIOD.search(line.get("detail") or "")
            if found:
                return found.group(1), found.group(2)
    return None


def _quantity(lines, codes: tuple[str, ...]) -> int:
    return sum(line.get("quantite") or 0 for line in lines if str(line.get("code", "")).startswith(codes))


def _french_date(value) -> str:
    return value.strftime("%d/%m/%Y") if value is not None else "?"
