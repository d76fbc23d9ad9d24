"""``ent-bill explain``: a member's calculation as a finance officer reads it aloud to the mayor.

Reads a priced year (``billing.core.pricing.Priced``); never prices anything itself.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from billing.core.money import format_count, format_euros, format_rate


def _fmt_date(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def _words(n: int, singular: str, plural: str) -> str:
    return f"{format_count(n)} {singular if abs(n) < 2 else plural}"



def explain_commune(priced: Priced, code_insee: str) -> list[str]:
    """The calculation as a finance officer reads it aloud to the mayor: facts, each line, the total."""
    found = priced.contributions.filter(pl.col("code_insee") == code_insee)
    if found.height == 0:
        raise KeyError(code_insee)
    c = found.row(0, named=True)
    tariff, annee = priced.tariff, priced.annee
    mode = "répartition" if tariff.mode == "repartition" else "barème"
    out = [
        f"{c['commune']} ({c['code_insee']}) — contribution {annee}",
        f"Tarif : délibération {tariff.deliberation}, {mode} ; effectifs de la rentrée {tariff.rentree} "
        f"(année scolaire {tariff.rentree}-{tariff.rentree + 1}).",
    ]
    out += _counts(tariff, c)
    situation = c["situation"]
    if situation == "hors_periode":
        reason = ""
        if c["date_effet"] is not None and c["date_effet"].year > annee:
            reason = f" (adhésion à compter du {_fmt_date(c['date_effet'])})"
        elif c["date_retrait"] is not None:
            reason = f" (retrait au {_fmt_date(c['date_retrait'])})"
        out.append(f"Aucun jour d'adhésion en {annee}{reason} : rien n'est dû.")
        out.append("Montant dû : " + format_euros(0))
        return out
    if situation == "indicative":
        out.append("Adhésion conditionnelle : rien n'est facturé ; montant indicatif pour une année entière.")
    else:
        period = (f"Adhésion du {_fmt_date(c['date_debut'])} au {_fmt_date(c['date_fin'])} : "
                  f"{_words(c['jours'], 'jour', 'jours')} sur {c['jours_annee']}, {c['mois']} mois sur 12")
        if tariff.prorata == "aucun":
            period += " ; ce tarif ne proratise pas : la contribution annuelle est due entière"
        elif c["facteur_num"] == c["facteur_den"]:
            period += " ; membre toute l'année : contribution annuelle entière"
        out.append(period + ".")
    out.append("Calcul :")
    out += _calculation(priced, c)
    if situation == "facturee":
        out.append(f"Montant dû : {format_euros(c['montant_cents'])}")
        out += _not_titled(tariff, c)
    else:
        out.append(f"Montant indicatif (non facturé) : {format_euros(c['montant_indicatif_cents'])}")
    return out


def _calculation(priced: Priced, c: dict) -> list[str]:
    """Each line of the member's calculation; in a year « à la carte », competence by competence (§4c)."""
    tariff, out = priced.tariff, []
    subtotal = 0
    names = {k.nom: k for k in tariff.competences}
    lines = list(priced.lines.filter(pl.col("code_insee") == c["code_insee"]).iter_rows(named=True))
    for index, line in enumerate(lines):
        amount = line["montant_cents"]
        competence = line.get("competence")
        if competence and (index == 0 or lines[index - 1].get("competence") != competence):
            subtotal = 0  # DESIGN §4c: each competence is priced alone, its prorata on its own lines
            imputation = names[competence].imputation if competence in names else None
            out.append(f" Compétence « {names[competence].libelle if competence in names else competence} »"
                       + (f" (imputation {imputation})" if imputation else "") + " :")
        factor = (line["facteur_num"], line["facteur_den"]) if line.get("facteur_den") else \
            (c["facteur_num"], c["facteur_den"])
        if line["formule"] == "produit":
            calc = f"{format_count(line['quantite'])} × {format_rate(line['taux_units'])} = {format_euros(amount)}"
        elif line["formule"] == "prorata":
            calc = (f"{format_euros(subtotal)} × {factor[0]}/{factor[1]} = "
                    f"{format_euros(subtotal + amount)}, soit {_signed_euros(amount)}")
        elif line["formule"] == "ajustement" or line["code"] == "arrondi":
            calc = _signed_euros(amount)
        else:
            calc = format_euros(amount)
        text = f"  {line['ordre']}. {line['libelle']} : {calc}"
        out.append(text + (f" ({line['detail']})" if line["detail"] else ""))
        subtotal += amount
        if competence and (index == len(lines) - 1 or lines[index + 1].get("competence") != competence):
            out.append(f"  Sous-total : {format_euros(subtotal)}")
    return out


def _counts(tariff, c: dict) -> list[str]:
    """The counts the tariff uses; where the population comes from, and the group whose rates apply (§4b)."""
    from billing.core.lines import POPULATION_SOURCES

    counts = f"Effectifs retenus : {_words(c['ecoles'], 'école publique', 'écoles publiques')}, " \
             f"{_words(c['eleves'], 'élève', 'élèves')}"
    if tariff.uses_classes:
        counts += f", {_words(c.get('classes') or 0, 'classe', 'classes')}"
    if tariff.uses_population and c.get("population") is not None:
        counts += f", {_words(c['population'], 'habitant', 'habitants')}"
    out = [counts + "."]
    if tariff.uses_population and c.get("population") is not None:
        source = POPULATION_SOURCES.get(c.get("population_source"), "population municipale")
        out.append(f"Population retenue : {format_count(c['population'])} ({source}).")
    group = tariff.group(c.get("groupe"))
    if group is not None:
        out.append(f"Groupe « {group.nom} » : tarif propre pour {', '.join(group.keys)} (délibération).")
    return out


def _not_titled(tariff, c: dict) -> list[str]:
    """Why a billed amount gets no titre: levied through local taxes, or below the seuil de recouvrement."""
    if c.get("mode_contribution") == "fiscalisee":
        return ["Contribution fiscalisée (CGCT L5212-20) : levée par l'impôt local, ni avis ni titre."]
    if c.get("sous_seuil"):
        return [f"Sous le seuil de recouvrement de {format_euros(tariff.seuil_cents)} (CGCT D1611-1) : aucun titre "
                f"n'est émis ; la somme reste due et sera titrée quand elle atteindra le seuil."]
    return []


def _signed_euros(cents: int) -> str:
    return ("+" if cents > 0 else "") + format_euros(cents)
