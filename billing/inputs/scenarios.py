"""What-if inputs: ``--set`` overrides and scenario files, validated like tarifs.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Sequence

from billing.core.errors import UserError
from billing.core.model import Tariff
from billing.core.problems import BillingError


def apply_settings(tariff: Tariff, settings: Sequence[str]) -> Tariff:
    """``part_eleve=1.35`` … applied to ``tariff``; every problem at once in a BillingError."""
    from billing.inputs.config import apply_overrides

    simulated, problems = apply_overrides(tariff, settings)
    if simulated is None:
        raise BillingError(problems)
    return simulated


MAX_SCENARIO_BYTES = 1024 * 1024  # a scenario file holds a few variants of a few keys


def read_scenarios(path: Path) -> list[tuple[str, list[str]]]:
    """A scenario file: one TOML table per named variant, keys as for --set."""
    data = _scenario_data(Path(path))
    scenarios = []
    for name, table in data.items():
        if not isinstance(table, dict):
            raise UserError(f"{path} : « {name} » doit être une table [{name}] de paramètres")
        settings = []
        for key, value in table.items():
            if key == "tranches_eleve" and isinstance(value, list):
                text = ",".join(f"{item.get('jusqu_a', '')}:{item.get('prix')}" for item in value)
            elif key == "poids" and isinstance(value, dict):
                text = ",".join(f"{k}:{v}" for k, v in value.items())
            else:
                text = str(value)
            settings.append(f"{key}={text}")
        scenarios.append((name, settings))
    if not scenarios:
        raise UserError(f"{path} ne contient aucun scénario (une table [nom] par variante)")
    return scenarios


def _scenario_data(path: Path) -> dict:
    """The parsed file, or a French refusal: absent, a folder, a pipe or device (never opened: it could block),
    too big, not UTF-8, not TOML."""
    hint = "Un fichier de scénarios est un texte TOML : [hausse] puis part_eleve = \"1.30\" (une table par variante)."
    if path.is_dir():
        raise UserError(f"{path} : --scenario désigne un dossier, pas un fichier", suggestion=hint)
    if not path.exists():
        raise UserError(f"fichier de scénarios introuvable : {path}", suggestion=hint)
    if not path.is_file():
        raise UserError(f"{path} : --scenario ne désigne pas un fichier ordinaire (tube, périphérique…)",
                        suggestion=hint)
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_SCENARIO_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{path} : lecture impossible ({exc.strerror or exc})") from None
    if len(data) > MAX_SCENARIO_BYTES:
        raise UserError(f"{path} : fichier de scénarios trop volumineux (au plus 1 Mo)", suggestion=hint)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path} : ce fichier n'est pas un texte UTF-8 (contenu binaire ?)", suggestion=hint) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"line (\d+)", str(exc))
        raise UserError(f"{path}{f', ligne {where[1]}' if where else ''} : syntaxe TOML invalide",
                        suggestion=hint) from None
    except RecursionError:
        raise UserError(f"{path} : imbrication trop profonde", suggestion=hint) from None
