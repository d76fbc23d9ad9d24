"""What the notices show, built once from the priced year (drafts) or from the ledger (issued titres).

Renderers receive these values and display them; they never price or look anything up.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from billing.core.model import Syndicat, Tariff
from billing.core.pricing import Priced
from billing.year import YearData


def objet_for(annee: int) -> str:
    return f"Contribution {annee} — compétence usages numériques / NTIC en matière de numérique éducatif (ENT)"


def fondement_for(tariff: Tariff) -> str:
    return f"Délibération du comité syndical n° {tariff.deliberation}"


def imputation_for(tariff: Tariff, syndicat: Syndicat) -> str:
    account = tariff.imputation or syndicat.imputation or "7474"
    return f"Compte {account}"


def issue_date_for(tariff: Tariff, today: date | None = None) -> date:
    return tariff.date_emission or today or date.today()


def due_date_for(tariff: Tariff, emission: date) -> date:
    """``echeance_jours`` after the issue date, moved to the next working day off a weekend or a
    French public holiday (a debtor cannot be late on a day the Treasury is closed)."""
    return next_working_day(emission + timedelta(days=tariff.echeance_jours))


def next_working_day(day: date) -> date:
    import holidays

    closed = holidays.France(years=range(day.year, day.year + 2))
    while day.weekday() >= 5 or day in closed:
        day += timedelta(days=1)
    return day


def issue_date_warning(annee: int, emission: date, *, fixed: bool) -> str | None:
    """A sentence when titres of ``annee`` would be dated outside that exercice (None when inside)."""
    if emission.year == annee:
        return None
    origin = "date_emission de tarifs.toml" if fixed else "date du jour"
    return (f"les titres de l'exercice {annee} seraient datés du {emission.strftime('%d/%m/%Y')} ({origin}), "
            f"hors de l'exercice")


def draft_notices(data: YearData, *, today: date | None = None) -> list:
    """One draft notice (PROJET) per billed commune, straight from the priced frames."""
    from billing.render.notice import Notice

    priced = data.priced
    emission = issue_date_for(data.tariff, today)
    due = due_date_for(data.tariff, emission)
    lines_by_commune = line_dicts(priced)
    notices = []
    # no draft for a fiscalised member (no titre at all); one under the seuil says so (``issue`` skips it)
    billed = priced.contributions.filter(titled())
    if "code_debiteur" in billed.columns:  # DESIGN §4c: a member paid for by another debtor is in its draft
        notices += debtor_drafts(data, billed, emission=emission, due=due)
        billed = billed.filter(pl.col("code_debiteur") == pl.col("code_insee"))
    for row in billed.iter_rows(named=True):
        lines = notice_lines(lines_by_commune.get(row["code_insee"], []))
        notices.append(Notice(
            numero=None, nature="titre", origine_numero=None, origine_date=None, annee=data.annee,
            date_emission=emission, date_echeance=due, objet=objet_for(data.annee) + below_seuil_note(data.tariff, row),
            fondement=fondement_for(data.tariff), rentree=data.tariff.rentree,
            imputation=imputation_for(data.tariff, data.syndicat),
            debiteur_nom=row.get("debiteur") or f"Commune de {row['commune']}",
            debiteur_code_insee=row["code_insee"], debiteur_adresse=row.get("mairie_adresse") or "",
            debiteur_siret=row.get("siret"), lines=lines, total_cents=row["montant_cents"],
            syndicat=data.syndicat,
        ))
    return notices


def debtor_drafts(data: YearData, billed: pl.DataFrame, *, emission: date, due: date) -> list:
    """One draft per debtor of debiteurs.csv: one block per member it pays for (DESIGN §4c)."""
    from billing.render.notice import Notice

    others = billed.filter(pl.col("code_debiteur") != pl.col("code_insee"))
    codes = set(others["code_debiteur"].to_list())
    claims = [c for c in claims_of(data.priced, data.debtors) if c.code_insee in codes]
    facts = debtor_facts(data, codes)
    notices = []
    for claim in claims:
        debtor = facts.get(claim.code_insee, {})
        note = below_seuil_note(data.tariff, {"sous_seuil": claim.montant_cents < claim.seuil_cents})
        notices.append(Notice(
            numero=None, nature="titre", origine_numero=None, origine_date=None, annee=data.annee,
            date_emission=emission, date_echeance=due, objet=objet_for(data.annee) + note,
            fondement=fondement_for(data.tariff), rentree=data.tariff.rentree,
            imputation=imputation_for(data.tariff, data.syndicat), debiteur_nom=debtor.get("debiteur") or claim.commune,
            debiteur_code_insee=claim.code_insee, debiteur_adresse=debtor.get("mairie_adresse") or "",
            debiteur_siret=debtor.get("siret"), lines=notice_lines(claim.lines), total_cents=claim.montant_cents,
            syndicat=data.syndicat))
    return notices


def below_seuil_note(tariff: Tariff, row: dict) -> str:
    """What a draft under the seuil de recouvrement says after its objet (DESIGN §4b); empty otherwise."""
    if not row.get("sous_seuil"):
        return ""
    from billing.core.money import format_euros

    return (f" — SOUS LE SEUIL DE RECOUVREMENT de {format_euros(tariff.seuil_cents)} (CGCT D1611-1) : aucun titre "
            f"ne sera émis tant que la somme due n'atteint pas ce seuil")


def claims_of(priced: Priced, debtors: pl.DataFrame | None = None) -> list:
    """What each debtor owes now, with its lines (prorata lines carry their factor): a billed commune that
    pays for itself is its own debtor, as before; a debtor of debiteurs.csv (DESIGN §4c) owes one claim,
    keyed by its code, whose lines are one block per member it pays for."""
    from billing.core.corrections import Claim

    lines = line_dicts(priced)
    billed = priced.contributions.filter(titled())
    seuil = getattr(priced.tariff, "seuil_cents", 0)
    if "code_debiteur" not in billed.columns:
        return [Claim(r["code_insee"], r["commune"], r["montant_cents"], tuple(lines.get(r["code_insee"], ())), seuil)
                for r in billed.iter_rows(named=True)]
    names = dict(debtors.select("code", "nom").iter_rows()) if debtors is not None else {}
    claims = []
    for (code,), members in billed.sort("code_debiteur", "code_insee").group_by("code_debiteur", maintain_order=True):
        rows = list(members.iter_rows(named=True))
        if code not in names and len(rows) == 1 and rows[0]["code_insee"] == code:
            row = rows[0]
            claims.append(Claim(code, row["commune"], row["montant_cents"], tuple(lines.get(code, ())), seuil))
            continue
        blocks = [line for row in rows for line in member_block(row, lines.get(row["code_insee"], []))]
        claims.append(Claim(code, names.get(code, code), sum(r["montant_cents"] for r in rows),
                            tuple({**line, "ordre": n} for n, line in enumerate(blocks, start=1)), seuil))
    return sorted(claims, key=lambda claim: claim.code_insee)


def member_block(row: dict, lines: list[dict]) -> list[dict]:
    """A member's lines within its debtor's titre: a heading, its lines (marked with the member, so that a
    prorata applies to its own lines), its total; heading and total are « info » lines (no amount)."""
    from billing.core.money import format_euros

    code = row["code_insee"]
    name = row.get("debiteur") or f"Commune de {row['commune']}"  # the register's « Commune d'Aubers »
    head = {"code": "membre", "libelle": f"{name} ({code})", "quantite": None,
            "taux_units": None, "montant_cents": 0, "formule": "info", "detail": None, "membre": code}
    total = {"code": "total_membre", "libelle": f"Total {name}", "quantite": None,
             "taux_units": None, "montant_cents": 0, "formule": "info",
             "detail": f"= {format_euros(row['montant_cents'])}", "membre": code}
    return [head, *({**line, "membre": code} for line in lines), total]


def line_dicts(priced: Priced) -> dict[str, list[dict]]:
    """Each member's notice lines as dicts (prorata lines carry their factor; a year « à la carte » groups
    them by competence)."""
    factors = {r["code_insee"]: (r["facteur_num"], r["facteur_den"])
               for r in priced.contributions.iter_rows(named=True)}
    imputations = {c.nom: c.imputation for c in priced.tariff.competences}
    lines: dict[str, list[dict]] = {}
    for line in priced.lines.iter_rows(named=True):
        item = {k: line[k] for k in ("ordre", "code", "libelle", "quantite", "taux_units", "montant_cents",
                                      "formule", "detail")}
        if line["formule"] == "prorata":
            item["facteur_num"], item["facteur_den"] = line_factor(line, factors)
        if line.get("competence"):
            item["competence"] = line["competence"]
            if imputations.get(line["competence"]):  # stored with the titre: its PES line (DESIGN §4c)
                item["imputation"] = imputations[line["competence"]]
        lines.setdefault(line["code_insee"], []).append(item)
    if priced.tariff.competences:
        lines = {code: competence_groups(items, priced.tariff) for code, items in lines.items()}
    return lines


def line_factor(line: dict, factors: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """A prorata line's factor: its competence's (DESIGN §4c), else its member's."""
    if line.get("facteur_den"):
        return line["facteur_num"], line["facteur_den"]
    return factors[line["code_insee"]]


def competence_groups(lines: list[dict], tariff: Tariff) -> list[dict]:
    """A member's lines of a year « à la carte » (DESIGN §4c): each competence's lines under a heading that
    names it and its imputation, closed by its subtotal; headings and subtotals are « info » lines (no
    amount), so the total stays the sum of the amounts shown. Numbered 1..n again."""
    from billing.core.money import format_euros

    by_name = {c.nom: c for c in tariff.competences}
    out: list[dict] = []
    for index, line in enumerate(lines):
        name = line.get("competence")
        if index == 0 or lines[index - 1].get("competence") != name:
            competence = by_name.get(name)
            label = competence.libelle if competence else name
            imputation = f"imputation {competence.imputation}" if competence and competence.imputation else None
            out.append({"code": "competence", "libelle": f"Compétence : {label}", "quantite": None,
                        "taux_units": None, "montant_cents": 0, "formule": "info", "detail": imputation,
                        "competence": name})
        out.append(line)
        if index == len(lines) - 1 or lines[index + 1].get("competence") != name:
            total = sum(l["montant_cents"] for l in lines if l.get("competence") == name)
            out.append({"code": "sous_total", "libelle": f"Sous-total {label}", "quantite": None, "taux_units": None,
                        "montant_cents": 0, "formule": "info", "detail": f"= {format_euros(total)}",
                        "competence": name})
    return [{**line, "ordre": number} for number, line in enumerate(out, start=1)]


def titled() -> pl.Expr:
    """The members that get a titre: billed and not paying through local taxes (DESIGN §4b, fiscalisée)."""
    fiscal = (pl.col("mode_contribution") == "fiscalisee").fill_null(False)
    return (pl.col("situation") == "facturee") & ~fiscal


def debtor_facts(data: YearData, codes, recorded: dict[str, str] | None = None) -> dict[str, dict]:
    """The register's facts of each debtor (name, town-hall address) and its SIRET.

    The SIRET is the one recorded when the commune's titres were issued (``recorded``, code_insee -> SIRET,
    see ``recorded_sirets``) when there is one: what was issued does not change with today's inputs (a
    commune removed from adhesions.csv keeps its SIRET on its annulation). Otherwise, today's inputs.
    The ledger records it at issue (schema 3, table ``debiteurs``); titres issued before that fall back on
    the titres CSV written then.
    """
    from billing.inputs.register import load_register

    facts = {r["code_insee"]: r for r in load_register().facts_frame(set(codes)).iter_rows(named=True)}
    for row in data.billing_base.select("code_insee", "siret").iter_rows(named=True):
        if row["code_insee"] in facts and row["siret"]:
            facts[row["code_insee"]]["siret"] = row["siret"]
    if data.debtors is not None:  # the debtors of debiteurs.csv (DESIGN §4c): their own name, address, SIRET
        for row in data.debtors.iter_rows(named=True):
            if row["code"] in set(codes):
                facts[row["code"]] = {"code_insee": row["code"], "debiteur": row["nom"],
                                      "mairie_adresse": row["adresse"] or "", "siret": row["siret"]}
    for code, siret in (recorded or {}).items():
        if code in facts and siret:
            facts[code]["siret"] = siret
    return facts


def recorded_sirets(titres_csv: Path, titres) -> dict[str, str]:
    """code_insee -> the SIRET written for its titres when they were issued, read back from the titres CSV
    that ``issue`` wrote then (its ``siret`` column, by titre number). Empty when there is no such file."""
    import csv

    if not Path(titres_csv).exists():
        return {}
    codes = {t.numero: t.code_insee for t in titres}
    out: dict[str, str] = {}
    with Path(titres_csv).open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            code = codes.get(row.get("numero") or "")
            siret = (row.get("siret") or "").strip()
            if code and siret and code not in out:
                out[code] = siret  # the first titre's: what was issued first stays
    return out


def ledger_sirets(ledger_path: Path, annee: int) -> dict[str, str]:
    """The SIRETs the ledger recorded at issue (titres issued before schema 3 have none)."""
    from billing.ledger.store import open_ledger

    with open_ledger(ledger_path, readonly=True) as ledger:
        return ledger.recorded_sirets(annee)


def notice_lines(lines) -> tuple:
    """The stored (or planned) line dicts as notice lines."""
    from billing.render.notice import NoticeLine

    return tuple(NoticeLine(libelle=l["libelle"], detail=l.get("detail"), quantite=l.get("quantite"),
                            taux_units=l.get("taux_units"), montant_cents=l["montant_cents"], formule=l["formule"],
                            facteur_num=l.get("facteur_num"), facteur_den=l.get("facteur_den"),
                            groupe=_group_of(l))
                 for l in lines)


def _group_of(line: dict) -> str | None:
    """The lines a prorata or an adjustment applies to: the same member and competence (DESIGN §4c)."""
    if line.get("membre") is None and line.get("competence") is None:
        return None
    return f"{line.get('membre') or ''}/{line.get('competence') or ''}"


def motif_of(lines) -> str | None:
    """A correction's motif, from its « motif » line (None for a titre)."""
    return next((l.get("detail") for l in lines if l.get("code") == "motif" and l.get("formule") == "info"), None)


def notice_for_titre(titre, data: YearData, facts: dict[str, dict], origin_dates: dict[str, date]):
    """The notice of an issued titre, rebuilt from the ledger alone (plus the debtor's address)."""
    from billing.render.notice import Notice

    debtor = facts.get(titre.code_insee, {})
    lines = notice_lines(titre.lines)
    return Notice(
        numero=titre.numero, nature=titre.nature, origine_numero=titre.origine_numero,
        origine_date=origin_dates.get(titre.origine_numero) if titre.origine_numero else None,
        annee=titre.exercice, date_emission=titre.date_emission, date_echeance=titre.date_echeance,
        objet=titre.objet or objet_for(titre.exercice), fondement=fondement_for(data.tariff),
        rentree=data.tariff.rentree, imputation=titre.imputation or imputation_for(data.tariff, data.syndicat),
        debiteur_nom=debtor.get("debiteur") or f"Commune de {titre.commune}", debiteur_code_insee=titre.code_insee,
        debiteur_adresse=debtor.get("mairie_adresse") or "", debiteur_siret=debtor.get("siret"), lines=lines,
        total_cents=titre.montant_cents, syndicat=data.syndicat, motif=motif_of(titre.lines))


def correction_drafts(data: YearData, planned, issued, *, today: date | None = None,
                      recorded: dict[str, str] | None = None) -> list:
    """PROJET notices of the pièces ``issue`` would emit now, as it would write them (no number yet).

    ``recorded``: the SIRETs written when the titres were issued (``recorded_sirets``)."""
    from billing.render.notice import Notice

    emission = issue_date_for(data.tariff, today)
    facts = debtor_facts(data, {p.code_insee for p in planned}, recorded)
    origin_dates = {t.numero: t.date_emission for t in issued}
    notices = []
    for item in planned:
        debtor = facts.get(item.code_insee, {})
        lines = notice_lines(item.lines)
        notices.append(Notice(
            numero=None, nature=item.nature, origine_numero=item.origine_numero,
            origine_date=origin_dates.get(item.origine_numero), annee=data.annee, date_emission=emission,
            date_echeance=due_date_for(data.tariff, emission), objet=objet_for(data.annee),
            fondement=fondement_for(data.tariff), rentree=data.tariff.rentree,
            imputation=imputation_for(data.tariff, data.syndicat),
            debiteur_nom=debtor.get("debiteur") or f"Commune de {item.commune}", debiteur_code_insee=item.code_insee,
            debiteur_adresse=debtor.get("mairie_adresse") or "", debiteur_siret=debtor.get("siret"), lines=lines,
            total_cents=item.montant_cents, syndicat=data.syndicat, motif=motif_of(item.lines)))
    return notices
