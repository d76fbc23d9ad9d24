"""`ent-bill init`: a complete sample inputs folder, copied from the package."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from billing.core.errors import UserError


EXAMPLES = {"mel": "sample", "habitants": "sample_habitants", "carte": "sample_carte"}  # --exemple name -> package folder


def sample_files(exemple: str = "mel") -> list:
    return sorted((p for p in resources.files("billing").joinpath(EXAMPLES[exemple]).iterdir() if p.is_file()),
                  key=lambda p: p.name)


def write_sample(directory: Path, exemple: str = "mel") -> list[Path]:
    """Copy a bundled sample into ``directory``, refusing to overwrite anything.

    ``mel``: the Métropole européenne de Lille members (schools and pupils); ``habitants``: a
    population-based tariff with bands, a group override, the seuil and a fiscalised member; ``carte``: three
    competences and an EPCI paying for some of its communes (DESIGN §4c)."""
    if exemple not in EXAMPLES:
        raise UserError(f"exemple « {exemple} » inconnu (attendu : {', '.join(EXAMPLES)})")
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise UserError(f"le dossier {directory} existe déjà et n'est pas vide : choisissez un autre nom "
                        f"(rien n'a été écrasé)")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sample_files(exemple):
        target = directory / source.name
        with source.open("rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        written.append(target)
    return written
