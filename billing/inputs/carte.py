"""The inputs of DESIGN §4c: the ``competences`` and ``debiteur`` columns of adhesions.csv and the optional
debiteurs.csv, validated against the year's competences and each other."""

from __future__ import annotations

from typing import Mapping

import polars as pl

from billing.core import problems as P
from billing.core.identifiers import siret_ok
from billing.core.model import Tariff
from billing.core.problems import Problem

DEBITEURS_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "code": ("code", "code_debiteur", "debiteur"),
    "nom": ("nom", "raison_sociale", "libelle"),
    "categorie": ("categorie", "type", "nature"),
    "siret": ("siret",),
    "adresse": ("adresse", "adresse_postale"),
    "email": ("email", "courriel", "mail", "e_mail"),
}
CATEGORIES = ("commune", "epci", "syndicat", "autre")
DEBTOR_SCHEMA = {"code": pl.Utf8, "nom": pl.Utf8, "categorie": pl.Utf8, "siret": pl.Utf8, "adresse": pl.Utf8,
                 "email": pl.Utf8}


def read_debtors(path, *, display: str) -> tuple[pl.DataFrame | None, list[Problem]]:
    """debiteurs.csv -> one row per debtor (code, nom, categorie, siret, adresse, email); every problem located."""
    from billing.inputs import readers

    table = readers.read_table(path, display=display, columns=DEBITEURS_COLUMNS, required=("code", "nom"))
    problems: list[Problem] = list(table.problems)
    if any(p.is_error and p.row is None for p in table.problems):
        return None, problems
    frame = table.frame.with_columns(pl.lit(None, pl.Utf8).alias(c) for c in DEBITEURS_COLUMNS
                                     if c not in table.frame.columns)
    header = lambda c: table.headers.get(c, c)  # noqa: E731
    seen: dict[str, int] = {}
    kept = []
    for rec in frame.iter_rows(named=True):
        row = rec["_row"]
        code = (rec["code"] or "").strip()
        if not code:
            problems.append(P.error(display, row, header("code"), "code du débiteur manquant",
                                    suggestion="Donnez à chaque débiteur un code court (ex. « CCPC »), celui de la "
                                               "colonne « debiteur » d'adhesions.csv."))
            continue
        if code in seen:
            problems.append(P.error(display, row, header("code"), f"le code « {code} » figure déjà ligne {seen[code]}",
                                    value=code, suggestion="Un débiteur n'a qu'une ligne : supprimez le doublon."))
            continue
        seen[code] = row
        if not (rec["nom"] or "").strip():
            problems.append(P.error(display, row, header("nom"), f"nom du débiteur « {code} » manquant",
                                    suggestion="Indiquez le nom tel qu'il doit figurer sur le titre."))
        categorie = _fold(rec["categorie"] or "autre")
        if categorie not in CATEGORIES:
            problems.append(P.error(display, row, header("categorie"), "catégorie de débiteur inconnue",
                                    value=rec["categorie"], suggestion=f"Attendu : {', '.join(CATEGORIES)}."))
        siret = "".join((rec["siret"] or "").split())
        if siret and not siret_ok(siret):
            problems.append(P.error(display, row, header("siret"),
                                    "n'est pas un SIRET valide (14 chiffres dont la clé de contrôle)", value=rec["siret"],
                                    suggestion="Recopiez le SIRET depuis l'annuaire des entreprises (SIRENE)."))
        kept.append({"code": code, "nom": (rec["nom"] or "").strip(), "categorie": categorie,
                     "siret": siret or None, "adresse": rec["adresse"], "email": rec["email"], "_row": row})
    debtors = pl.DataFrame(kept, schema={**DEBTOR_SCHEMA, "_row": pl.Int64})
    return debtors, problems


def _fold(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def member_carte(members: pl.DataFrame, tariff: Tariff, debtors: pl.DataFrame | None, *, display: str,
                 debtors_display: str = "debiteurs.csv") -> tuple[pl.DataFrame | None, list[Problem]]:
    """code_insee, competences (names as the year spells them, comma-joined), code_debiteur, per member;
    None when the year has no competences and no member names a debtor (the year is priced as before)."""
    valid = members.filter(pl.col("code_insee").is_not_null())
    columns = [c for c in ("competences", "debiteur") if c in valid.columns]
    named_debtor = "debiteur" in columns and valid["debiteur"].drop_nulls().str.strip_chars().str.len_chars().sum()
    if not tariff.competences and not named_debtor and debtors is None:
        if "competences" in columns:
            return None, _competences_without_carte(valid, tariff, display)
        return None, []
    known = [c.nom for c in tariff.competences] or ["ent"]
    debtor_codes = set(debtors["code"].to_list()) if debtors is not None else set()
    problems: list[Problem] = []
    rows = []
    used: set[str] = set()
    for rec in valid.iter_rows(named=True):
        row, code = rec["_row"], rec["code_insee"]
        names = [n.strip() for n in (rec.get("competences") or "").split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        for name in unknown:
            problems.append(P.error(display, row, "competences", f"compétence « {name} » inconnue pour {tariff.annee}",
                                    value=rec.get("competences"),
                                    suggestion=f"Compétences de tarifs.toml : {', '.join(known)}."))
        debtor = (rec.get("debiteur") or "").strip() or code
        if debtor != code and debtor not in debtor_codes:
            listed = ", ".join(sorted(debtor_codes)) or "aucun (pas de fichier debiteurs.csv)"
            problems.append(P.error(display, row, "debiteur", "débiteur inconnu", value=debtor,
                                    suggestion=f"Codes de debiteurs.csv : {listed}. Laissez la cellule vide quand la "
                                               f"commune paie pour elle-même."))
        used.add(debtor)
        rows.append({"code_insee": code, "competences": ",".join(names) or None, "code_debiteur": debtor})
    if debtors is not None:
        for rec in debtors.iter_rows(named=True):
            if rec["code"] not in used:
                problems.append(P.warning(debtors_display, rec["_row"], "code",
                                          f"le débiteur « {rec['code']} » ne paie pour aucun membre",
                                          value=rec["code"]))
    frame = pl.DataFrame(rows, schema={"code_insee": pl.Utf8, "competences": pl.Utf8, "code_debiteur": pl.Utf8})
    return frame, problems


def _competences_without_carte(valid: pl.DataFrame, tariff: Tariff, display: str) -> list[Problem]:
    """A year without competences is the one competence « ent »: any other name is an error."""
    problems = []
    for rec in valid.select("_row", "competences").iter_rows(named=True):
        for name in (n.strip() for n in (rec["competences"] or "").split(",")):
            if name and name != "ent":
                problems.append(P.error(display, rec["_row"], "competences",
                                        f"compétence « {name} » inconnue : le tarif {tariff.annee} ne définit pas de "
                                        f"compétences (une seule, « ent »)", value=rec["competences"],
                                        suggestion=f"Ajoutez des tables [{tariff.annee}.competences.NOM] à tarifs.toml, "
                                                   f"ou videz la cellule."))
    return problems


def uses_counts(tariff: Tariff) -> bool:
    """Does any amount of this tariff depend on the pupil counts (schools, pupils, classes)?"""
    if tariff.mode == "repartition":
        return any(k in ("eleves", "ecoles") and w for k, w in tariff.poids)
    return any(t.part_ecole_units or t.part_eleve_units or t.tranches or t.part_classe_units
               for t in (tariff, *(tariff.for_group(g.nom) for g in tariff.groupes)))
