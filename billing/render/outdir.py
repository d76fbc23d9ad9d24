"""The output folder (``--out``), checked before anything is computed or numbered.

An ``issue`` that numbers titres, commits them, then cannot write their notices leaves
the officer with titres nobody has seen; a ``compute`` that writes into ``inputs/``
mixes drafts with the data. So the folder is refused up front when it is empty text
(an unset shell variable: ``--out "$DOSSIER"``), an existing file, impossible to create,
not writable, or the inputs folder (or inside it). Writability is tested for real, with
a probe file, because ``os.access`` says yes to root even on a read-only mount.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from billing.core import problems as P
from billing.core.errors import UserError
from billing.core.problems import InputError, Problem


def check_output_dir(out_dir: Path | str, inputs_dir: Path | str) -> list[Problem]:
    """Problems that forbid writing into ``out_dir``; empty when it exists or can be created, writable."""
    text = str(out_dir) if out_dir is not None else ""
    if not text.strip():
        return [P.error("--out", None, None, "le dossier de sortie est vide (variable non définie ?)",
                        suggestion="Indiquez un dossier, par exemple --out reports/2024, ou omettez --out.")]
    out = Path(text)
    if out.exists() and not out.is_dir():
        return [P.error(text, None, None, "le dossier de sortie désigne un fichier existant",
                        suggestion="Indiquez un dossier (existant ou à créer), pas un fichier.")]
    inputs = Path(inputs_dir).resolve()
    resolved = out.resolve()
    if resolved == inputs or inputs in resolved.parents:
        return [P.error(text, None, None, f"le dossier de sortie est le dossier des données ({inputs_dir}) "
                        "ou se trouve dedans : les fichiers produits s'y mêleraient aux données",
                        suggestion="Choisissez un dossier à part, par exemple reports/ANNEE.")]
    existing = resolved
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return [P.error(text, None, None, f"le dossier de sortie ne peut pas être créé : {existing} est un fichier",
                        suggestion="Choisissez un autre dossier, ou déplacez ce fichier.")]
    cause = _write_probe(existing)
    if cause is not None:
        what = "n'est pas accessible en écriture" if existing == resolved else \
            f"ne peut pas être créé dans {existing}"
        return [P.error(text, None, None, f"le dossier de sortie {what} ({cause})",
                        suggestion="Vérifiez les droits, ou choisissez un autre dossier avec --out.")]
    return []


def _write_probe(directory: Path) -> str | None:
    """None when a file can really be created (then removed) in ``directory``, else why not."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return "droits insuffisants"
    try:
        handle, name = tempfile.mkstemp(prefix=".ent-bill-essai-", dir=directory)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(handle)
    os.unlink(name)
    return None


def ensure_output_dir(out_dir: Path | str, inputs_dir: Path | str) -> None:
    """Raise ``InputError`` with the problems of ``check_output_dir``, if any."""
    problems = check_output_dir(out_dir, inputs_dir)
    if problems:
        raise InputError(problems)


@contextmanager
def rendering_after_commit(issued_count: int):
    """Files written after the ledger committed: a failure says the titres exist and how to get their notices."""
    try:
        yield
    except Exception as exc:  # any cause: the titres are committed, the officer must know, never a traceback
        cause = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename:
            cause = f"{exc.strerror or type(exc).__name__} : {exc.filename}"
        if issued_count == 1:
            head = "1 titre émis et enregistré"
        elif issued_count:
            head = f"{issued_count} titres émis et enregistrés"
        else:
            head = "aucun nouveau titre émis (le registre est à jour)"
        raise UserError(f"{head} ; avis non écrits : {cause} ; relancez `ent-bill issue` pour les écrire") from exc
