"""A consistent copy of the ledger (``ent-bill sauvegarde``), checked before it is called a backup.

Ten years of titres live in one file: the copy every other message points to must be
whole. So the ledger is CHECKPOINTed (the .duckdb file alone then holds every commit),
a read-only connection is held while the bytes are copied (DuckDB's lock keeps any
writer out meanwhile), the copy goes to a temporary name, is fsynced and renamed, and
is then opened and its chain verified. A copy that does not verify is removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from billing.ledger.guard import VERIFY, LedgerError
from billing.ledger.store import open_ledger

BACKUP_FOLDER = "sauvegardes"


@dataclass(frozen=True)
class Backup:
    path: Path
    titres: int
    size: int


def default_backup_path(ledger_path: Path, now: datetime | None = None) -> Path:
    """``sauvegardes/ent-bill-YYYYMMDD-HHMMSS.duckdb`` beside the ledger."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path(ledger_path).parent / BACKUP_FOLDER / f"ent-bill-{stamp}.duckdb"


def _target(ledger_path: Path, dest: Path | None, now: datetime | None) -> Path:
    """Where the copy goes: ``dest`` itself, or the default name inside ``dest`` when it is a folder."""
    if dest is None:
        target = default_backup_path(ledger_path, now)
    elif Path(dest).is_dir():
        target = Path(dest) / default_backup_path(ledger_path, now).name
    else:
        target = Path(dest)
    if dest is None or Path(dest).is_dir():  # two backups in the same second: ent-bill-…-2.duckdb
        stem, number = target.stem, 2
        while target.exists():
            target = target.with_name(f"{stem}-{number}.duckdb")
            number += 1
    if target.exists():
        raise LedgerError(f"la sauvegarde {target} existe déjà : une sauvegarde n'en écrase jamais une autre ; "
                          "indiquez un autre nom")
    return target


def backup_ledger(ledger_path: Path | str, dest: Path | str | None = None, *, now: datetime | None = None) -> Backup:
    """Copy the ledger consistently to ``dest`` (default: see ``default_backup_path``) and verify the copy."""
    ledger_path = Path(ledger_path)
    if not ledger_path.exists():
        raise LedgerError(f"le registre des titres {ledger_path} n'existe pas : rien à sauvegarder "
                          "(ou indiquez le bon fichier avec --ledger)")
    target = _target(ledger_path, Path(dest) if dest is not None else None, now)
    if Path(f"{ledger_path}.wal").exists():  # commits not yet in the file: replay and fold them in
        with open_ledger(ledger_path) as ledger:
            ledger.checkpoint()
    with open_ledger(ledger_path, readonly=True) as ledger:  # holds the lock: no writer while the bytes are copied
        findings = ledger.verify()  # an altered ledger is refused before anything is written
        if findings:
            raise LedgerError(f"le registre des titres {ledger_path} est altéré ({findings[0]}"
                              f"{f' ; et {len(findings) - 1} autre(s)' if len(findings) > 1 else ''}) : "
                              f"aucune sauvegarde n'a été gardée ; {VERIFY} pour le détail")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"le dossier de sauvegarde {target.parent} ne peut pas être créé "
                              f"({exc.strerror or exc})") from None
        _copy_durably(ledger_path, target)
    try:
        with open_ledger(target, readonly=True) as copy:
            findings = copy.verify()
            count = len(copy.titres(lines=False))
    except LedgerError as exc:
        target.unlink(missing_ok=True)
        raise LedgerError(f"la copie du registre ne se relit pas ({exc}) ; aucune sauvegarde n'a été gardée") from None
    if findings:  # the source verified a moment ago: the copy itself is bad
        target.unlink(missing_ok=True)
        raise LedgerError(f"la copie {target} ne vérifie pas ({findings[0]}) : aucune sauvegarde n'a été gardée ; "
                          "recommencez, sur un autre disque si possible")
    return Backup(target, count, target.stat().st_size)


def _copy_durably(source: Path, target: Path) -> None:
    """Temporary name in the target folder, fsync, rename, fsync the folder."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out, open(source, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise LedgerError(f"la sauvegarde {target} n'a pas pu être écrite ({exc.strerror or exc}) ; "
                          "aucune sauvegarde n'a été gardée") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:
        fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

