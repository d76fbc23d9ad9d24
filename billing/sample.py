"""`ent-bill init`: a complete sample inputs folder, copied from the package."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from billing.core.errors import UserError


def sample_files() -> list:
    return sorted((p for p in resources.files("billing").joinpath("sample").iterdir() if p.is_file()),
                  key=lambda p: p.name)


def write_sample(directory: Path) -> list[Path]:
    """Copy the bundled sample into ``directory``, refusing to overwrite anything."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise UserError(f"le dossier {directory} existe déjà et n'est pas vide : choisissez un autre nom "
                        f"(rien n'a été écrasé)")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sample_files():
        target = directory / source.name
        with source.open("rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        written.append(target)
    return written
