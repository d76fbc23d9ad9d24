"""What-if inputs: ``--set`` overrides and scenario files, validated like tarifs.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Sequence

from billing.core.errors import UserError
from billing.core.model import Tariff
from billing.core.problems import BillingError


def apply_settings(tariff: Tariff, settings: Sequence[str], *, members=None) -> Tariff:
    """``part_eleve=1.35`` … applied to ``tariff``; every problem at once in a BillingError.

    ``members`` (a frame with ``groupe``, e.g. the billing base): a group set here that no member
    belongs to is an error, as in tarifs.toml (DESIGN §4b)."""
    from billing.inputs.base import tariff_member_problems
    from billing.inputs.config import apply_overrides

    simulated, problems = apply_overrides(tariff, settings)
    if simulated is not None and members is not None:
        problems = [*problems, *tariff_member_problems(members, None, simulated, "--set")]
    if simulated is None or any(p.is_error for p in problems):
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
            if key == "groupes" and isinstance(value, dict):  # [variante.groupes."nom"] : the group's keys
                settings += [f'groupes."{group}".{k}={_setting_text(k, v)}' for group, keys in value.items()
                             if isinstance(keys, dict) for k, v in keys.items()]
                continue
            settings.append(f"{key}={_setting_text(key, value)}")
        scenarios.append((name, settings))
    if not scenarios:
        raise UserError(f"{path} ne contient aucun scénario (une table [nom] par variante)")
    return scenarios


def _setting_text(key: str, value) -> str:
    """A scenario file's value in the form ``--set`` takes (lists and tables flattened)."""
    if key in ("tranches_eleve", "strates") and isinstance(value, list):
        amount = "prix" if key == "tranches_eleve" else "montant"
        return ",".join(f"{item.get('jusqu_a', '')}:{item.get(amount)}" for item in value if isinstance(item, dict))
    if key == "poids" and isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    return str(value)


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
