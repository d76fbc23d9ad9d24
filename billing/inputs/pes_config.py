"""The ``[pes]`` table of syndicat.toml: what Hélios needs to accept the syndicate's PES files.

Read from the already-loaded TOML dict; every problem is collected (file, key as the
« colonne », the value, what was expected), unknown keys are warnings like the rest of
syndicat.toml. The values are those the comptable public gives the ordonnateur when the
PES exchange is set up (poste comptable, collectivité and budget codes, product code…).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from billing.core import problems as P
from billing.core.identifiers import compact, siret_ok
from billing.core.pes_model import PesCentre, PesConfig, split_address
from billing.core.problems import Problem

PES_KEYS = ("id_post", "cod_col", "cod_bud", "id_coll", "cod_prod_loc", "fonction", "edition", "ref_bdf",
            "centre_encaissement", "centre_finances")
CENTRE_KEYS = ("nom", "adresse")
EXAMPLE = ('[pes]\nid_post = "059000"\ncod_col = "123"\ncod_bud = "00"\ncod_prod_loc = "ENT"\n'
           'ref_bdf = "123456"')

# key -> (pattern, what is expected, example)
_FORMATS = {
    "id_post": (r"\d{6,7}", "le code du poste comptable : 6 ou 7 chiffres", 'id_post = "059000"'),
    "cod_col": (r"\d{3}", "le code collectivité Hélios : 3 chiffres", 'cod_col = "123"'),
    "cod_bud": (r"[0-9A-Z][0-9]", "le code budget Hélios : 2 caractères, une lettre ou un chiffre puis un chiffre",
                'cod_bud = "00"'),
    "cod_prod_loc": (r"[0-9A-Za-z]{1,4}", "le code produit local convenu avec le comptable : 1 à 4 lettres "
                     "ou chiffres", 'cod_prod_loc = "ENT"'),
    "fonction": (r"\d{1,10}", "le code fonction (M57) : 10 chiffres au plus, sans point", 'fonction = "213"'),
    "ref_bdf": (r"[0-9A-Za-z]{1,13}", "la référence Banque de France du budget (RefBdf) : 13 lettres ou "
                "chiffres au plus", 'ref_bdf = "123456"'),
}


class _Reader:
    def __init__(self, display: str):
        self.display = display
        self.problems: list[Problem] = []

    def error(self, key: str, message: str, *, value: Any = None, suggestion: str | None = None) -> None:
        self.problems.append(P.error(self.display, None, key, message,
                                     value=None if value is None else str(value), suggestion=suggestion))

    def warning(self, key: str, message: str, *, suggestion: str | None = None) -> None:
        self.problems.append(P.warning(self.display, None, key, message, suggestion=suggestion))

    def unknown(self, where: str, data: dict, known: tuple[str, ...]) -> None:
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                self.warning(f"{where}.{key}", "clé inconnue, ignorée",
                             suggestion=f"Vouliez-vous dire « {close[0]} » ?" if close
                             else f"Clés reconnues : {', '.join(known)}.")


def _code(reader: _Reader, table: dict, key: str, *, required: bool) -> str | None:
    pattern, expected, example = _FORMATS[key]
    value = table.get(key)
    if value is None:
        if required:
            reader.error(f"pes.{key}", f"clé manquante : {expected}", suggestion=f"Ajoutez par exemple : {example}")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        reader.error(f"pes.{key}", f"écrivez ce code entre guillemets (un nombre perd ses zéros de tête) : "
                                   f"{expected}", value=value, suggestion=f"Exemple : {example}")
        return None
    text = str(value).strip() if isinstance(value, str) else None
    if text is None or not re.fullmatch(pattern, text):
        reader.error(f"pes.{key}", f"valeur invalide : {expected}", value=value, suggestion=f"Exemple : {example}")
        return None
    return text


def _id_coll(reader: _Reader, table: dict, siret: str) -> str | None:
    value = table.get("id_coll")
    if value is None:
        return siret or None
    text = compact(str(value))
    if not (text.isascii() and text.isdigit() and len(text) == 14):
        reader.error("pes.id_coll", "le SIRET de la collectivité compte 14 chiffres", value=value)
        return None
    if not siret_ok(text):
        reader.error("pes.id_coll", "clé de contrôle du SIRET fausse (formule de Luhn) : un chiffre est sans "
                                    "doute mal recopié", value=value,
                     suggestion="Vérifiez-le sur annuaire-entreprises.data.gouv.fr.")
        return None
    return text


def _edition(reader: _Reader, table: dict) -> str | None:
    value = table.get("edition")
    if value is None:
        return None
    if value not in ("01", "02"):
        reader.error("pes.edition", "« 01 » (avis édité par la DGFiP pour tous les débiteurs) ou « 02 » (Chorus "
                                    "Pro pour les débiteurs qui ont un SIRET valide) attendu", value=value)
        return None
    return value


def _centre(reader: _Reader, table: dict, key: str, default_name: str | None) -> PesCentre | None:
    where = f"pes.{key}"
    data = table.get(key)
    example = f'[{where}]\nnom = "…"\nadresse = "12 rue X, 59000 Lille"'
    if data is None:
        reader.error(where, "section manquante : le centre que l'avis des sommes à payer indique",
                     suggestion=f"Ajoutez par exemple : {example}")
        return None
    if not isinstance(data, dict):
        reader.error(where, f"« {key} » doit être une section [{where}]", suggestion=f"Exemple : {example}")
        return None
    reader.unknown(where, data, CENTRE_KEYS)
    nom = data.get("nom")
    if nom is None:
        nom = default_name
    if not isinstance(nom, str) or not nom.strip():
        reader.error(f"{where}.nom", "clé manquante ou vide : le nom du centre", suggestion=f"Exemple : {example}")
        nom = None
    adresse = data.get("adresse")
    address = split_address(adresse) if isinstance(adresse, str) else None
    if address is None:
        reader.error(f"{where}.adresse", "adresse attendue sous la forme « voie, code postal (5 chiffres) ville »",
                     value=adresse, suggestion='Exemple : adresse = "12 rue X, 59000 Lille"')
    elif key == "centre_finances" and not address.lines:
        reader.error(f"{where}.adresse", "la voie (numéro et rue) du centre des finances publiques manque",
                     value=adresse, suggestion='Exemple : adresse = "12 rue X, 59000 Lille"')
    if nom is None or address is None:
        return None
    return PesCentre(" ".join(nom.split()), address)


def read_pes(table: dict | None, *, display: str, siret: str) -> tuple[PesConfig | None, list[Problem]]:
    """The ``[pes]`` table -> PesConfig; (None, []) when the table is absent (no PES export wanted).

    ``siret`` is the syndicate's (the default ``id_coll``); ``display`` names the file in messages.
    """
    if table is None:
        return None, []
    reader = _Reader(display)
    if not isinstance(table, dict):
        reader.error("pes", "« pes » doit être une section [pes]", suggestion=f"Exemple :\n{EXAMPLE}")
        return None, reader.problems
    reader.unknown("pes", table, PES_KEYS)
    values = dict(
        id_post=_code(reader, table, "id_post", required=True),
        cod_col=_code(reader, table, "cod_col", required=True),
        cod_bud=_code(reader, table, "cod_bud", required=True),
        id_coll=_id_coll(reader, table, siret),
        cod_prod_loc=_code(reader, table, "cod_prod_loc", required=True),
        ref_bdf=_code(reader, table, "ref_bdf", required=True),
        centre_encaissement=_centre(reader, table, "centre_encaissement", "CENTRE D'ENCAISSEMENT"),
        centre_finances=_centre(reader, table, "centre_finances", None),
        fonction=_code(reader, table, "fonction", required=False),
        edition=_edition(reader, table),
    )
    if values["id_coll"] is None and "id_coll" not in table:
        reader.error("pes.id_coll", "clé manquante : le SIRET de la collectivité (le SIRET du syndicat n'est pas "
                                    "connu)", suggestion='Exemple : id_coll = "25590019600031"')
    if P.errors_of(reader.problems):
        return None, reader.problems
    return PesConfig(**values), reader.problems
