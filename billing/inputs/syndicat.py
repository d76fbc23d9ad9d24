"""syndicat.toml: the issuer (the syndicat) and its public accountant."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from billing.core.model import Syndicat
from billing.core.problems import Problem
from billing.inputs.pes_config import read_pes
from billing.inputs.tomlfile import _Fields, _did_you_mean, _Invalid, _load
from billing.inputs.values import _bic, _days, _iban, _imputation, _prefix, _siret, _text


SYNDICAT_KEYS = ("nom", "adresse", "siret", "president", "qualite", "prefixe_titre", "delai_paiement_jours",
                 "tribunal", "imputation", "notices")
NOTICE_FORMATS = ("xlsx", "pdf")


def _notices(value: Any) -> tuple[str, ...]:
    """``notices = ["xlsx", "pdf"]``: the formats of the notices (DESIGN §6b); the workbook is always written."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Invalid('une liste de formats est attendue', suggestion='Écrivez : notices = ["xlsx", "pdf"]')
    formats = [item.strip().lower() for item in value]
    unknown = [item for item in formats if item not in NOTICE_FORMATS]
    if unknown:
        raise _Invalid(f"format d'avis inconnu « {unknown[0]} » (attendu : xlsx, pdf)",
                       suggestion='Écrivez : notices = ["xlsx", "pdf"]')
    return tuple(dict.fromkeys(["xlsx", *formats]))
COMPTABLE_KEYS = ("nom", "iban", "bic")
_SYNDICAT_WHAT = {
    ("syndicat", "nom"): ("le nom du syndicat", 'nom = "Syndicat mixte …"'),
    ("syndicat", "adresse"): ("l'adresse du syndicat", 'adresse = "151 avenue du Président Hoover, 59555 Lille Cedex"'),
    ("syndicat", "siret"): ("le SIRET du syndicat (14 chiffres)", 'siret = "25590019600031"'),
    ("syndicat", "president"): ("le prénom et le nom de l'ordonnateur", 'president = "Prénom NOM"'),
    ("comptable", "nom"): ("le nom du comptable public", 'nom = "Service de gestion comptable de …"'),
    ("comptable", "iban"): ("l'IBAN du comptable public", 'iban = "FR76 3000 1007 …"'),
    ("comptable", "bic"): ("le BIC du comptable public", 'bic = "BDFEFRPPCCT"'),
}


def read_syndicat(path: Path, *, display: str) -> tuple[Syndicat | None, list[Problem]]:
    """syndicat.toml -> Syndicat, or None when an error stands; unknown keys are warnings."""
    data, report = _load(path, display)
    if data is None:
        return None, report.problems
    for key, value in data.items():
        if key == "pes":
            continue  # [pes] (PES V2 export) is checked by read_pes below
        if key in ("syndicat", "comptable"):
            if not isinstance(value, dict):
                report.error((key,), f"« {key} » doit être une section [{key}]")
        elif not isinstance(value, dict) and key in {*SYNDICAT_KEYS, *COMPTABLE_KEYS}:
            report.warning((key,), "clé hors de toute section, ignorée : placez-la sous [syndicat] ou [comptable]")
        else:
            report.warning((key,), "section inconnue, ignorée (attendu : [syndicat] et [comptable])",
                           suggestion=_did_you_mean(key, ("syndicat", "comptable")))
    tables = {name: data.get(name) if isinstance(data.get(name), dict) else None for name in ("syndicat", "comptable")}
    for name, keys in (("syndicat", "nom, adresse, siret, president"), ("comptable", "nom, iban, bic")):
        if name not in data:
            report.error((), f"section [{name}] absente ({keys})")
    synd = _Fields(report, tables["syndicat"] or {}, ("syndicat",))
    compt = _Fields(report, tables["comptable"] or {}, ("comptable",))
    if tables["syndicat"] is not None:
        synd.unknown_keys(SYNDICAT_KEYS)
    if tables["comptable"] is not None:
        compt.unknown_keys(COMPTABLE_KEYS)

    def required(fields: _Fields, key: str, convert: Callable[[Any], Any]) -> Any:
        present = fields.where[0] in data and isinstance(data[fields.where[0]], dict)
        return fields.get(key, convert, missing=_SYNDICAT_WHAT[(*fields.where, key)] if present else None)

    values = dict(
        nom=required(synd, "nom", _text),
        adresse=required(synd, "adresse", _text),
        siret=required(synd, "siret", _siret),
        president=required(synd, "president", _text),
        qualite=synd.get("qualite", _text, default="Président"),
        prefixe_titre=synd.get("prefixe_titre", _prefix, default="ENT"),
        delai_paiement_jours=synd.get("delai_paiement_jours", _days, default=30),
        tribunal=synd.get("tribunal", _text, default="Tribunal administratif de Lille"),
        imputation=synd.get("imputation", _imputation),
        notices=synd.get("notices", _notices, default=("xlsx",)),
        comptable_nom=required(compt, "nom", _text),
        iban=required(compt, "iban", _iban),
        bic=required(compt, "bic", _bic),
    )
    if values["iban"] and values["bic"] and values["iban"][:2] != values["bic"][4:6]:
        report.warning(("comptable", "bic"), f"le pays du BIC ({values['bic'][4:6]}) n'est pas celui de l'IBAN "
                                             f"({values['iban'][:2]})", value=values["bic"])
    # [pes]: the PES V2 export settings (billing.inputs.pes_config); absent = no PES file written
    pes, pes_problems = read_pes(data.get("pes"), display=display, siret=values["siret"] or "")
    report.problems.extend(pes_problems)
    if report.error_count():
        return None, report.problems
    return Syndicat(**values, pes=pes), report.problems
