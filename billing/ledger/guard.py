"""Every way a ledger file can fail, turned into one French sentence that names it and says what to do.

A ledger is read long after it was written, by people who did not write it: it may be
truncated by a full disk or a half-finished copy, replaced by another file, edited by
hand, held by another process, or written by a newer ent-bill. DuckDB reports these as
``duckdb.Error`` subclasses, often only when a query reaches the damaged block, not at
``connect``. Nothing here lets one through: the file is sniffed before DuckDB sees it,
and every query goes through ``translate``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from billing.core.errors import UserError

RESTORE = "restaurez la dernière sauvegarde (ent-bill sauvegarde)"
VERIFY = "lancez ent-bill verify"

_DUCKDB_MAGIC = b"DUCK"  # at offset 8 of the main header
_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADERS_SIZE = 3 * 4096  # main header + two database headers precede the first block


class LedgerError(UserError):
    """The ledger cannot be used as asked (newer schema, not a ledger, damaged, stale plan, …)."""


class LedgerOutdated(LedgerError):
    """An older schema, read-only: the next writing open (``issue``) migrates it."""


class LedgerBusy(UserError):
    """Another process holds the ledger (DuckDB allows one writer)."""


def damaged(path: Path, what: str) -> LedgerError:
    """« le registre des titres X est endommagé : <what> ; restaurez … puis lancez ent-bill verify »."""
    return LedgerError(f"le registre des titres {path} est endommagé : {what} ; {RESTORE}, puis {VERIFY}")


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def busy(path: Path) -> LedgerBusy:
    return LedgerBusy(f"le registre des titres {path} est utilisé par un autre traitement "
                      "(ent-bill issue en cours ?) ; réessayez quand il sera terminé")


def precheck_file(path: Path, *, readonly: bool) -> None:
    """Refuse, before DuckDB opens it, a path that cannot be a ledger: DuckDB's own errors say less.

    A missing file is fine only when writing (the first ``issue`` creates it); a present
    one must start with DuckDB's header. Sniffing 16 bytes costs nothing.
    """
    if path.is_dir():
        raise LedgerError(f"le registre des titres {path} est un dossier, pas un fichier : "
                          "indiquez le fichier du registre avec --ledger")
    if not path.exists():
        if readonly:
            raise LedgerError(f"le registre des titres {path} n'existe pas : aucun titre n'a encore été émis "
                              "(ou indiquez le bon fichier avec --ledger)")
        if not path.parent.is_dir():
            what = "est un fichier, pas un dossier" if path.parent.exists() else "n'existe pas"
            raise LedgerError(f"le dossier {path.parent} du registre des titres {path.name} {what} : "
                              "créez-le ou indiquez un autre fichier avec --ledger")
        return
    if not path.is_file():  # a pipe or a device: opening it to sniff would block for ever
        raise LedgerError(f"le registre des titres {path} n'est pas un fichier ordinaire (tube, périphérique…) : "
                          "indiquez le fichier du registre avec --ledger")
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError as exc:
        raise LedgerError(f"le registre des titres {path} ne peut pas être lu ({exc.strerror or exc}) : "
                          "vérifiez les droits sur le fichier") from None
    if size == 0:
        raise LedgerError(f"le registre des titres {path} est vide (0 octet) : il a été tronqué ; {RESTORE}. "
                          "Si aucun titre n'a jamais été émis, supprimez ce fichier vide")
    if head.startswith(_SQLITE_MAGIC):
        raise LedgerError(f"le fichier {path} est une base SQLite, pas un registre des titres d'ent-bill : "
                          f"indiquez le bon fichier avec --ledger, ou {RESTORE}")
    if head[8:12] != _DUCKDB_MAGIC:
        raise LedgerError(f"le fichier {path} n'est pas un registre des titres d'ent-bill (ce n'est pas une base "
                          f"DuckDB) : indiquez le bon fichier avec --ledger, ou {RESTORE}")
    if size < _HEADERS_SIZE:
        raise damaged(path, f"le fichier est tronqué ({size} octets, il en faut au moins {_HEADERS_SIZE})")


def could_be_in_creation(path: Path) -> bool:
    """Empty, or a DuckDB header not yet complete: what a ledger another process is creating looks like.

    Only such a file is worth asking DuckDB about its lock; DuckDB given a SQLite file
    would try to fetch an extension to read it.
    """
    if not path.is_file():  # a pipe would block the sniffing open
        return False
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError:
        return False
    return size == 0 or (size < _HEADERS_SIZE and head[8:12] == _DUCKDB_MAGIC)


def translate(exc: BaseException, path: Path) -> UserError:
    """The user error for a ``duckdb.Error`` met while opening or querying ``path``."""
    text = str(exc)
    lower = text.lower()
    detail = text.splitlines()[0][:200] if text else type(exc).__name__
    if is_lock_error(exc):
        return busy(path)
    if "could not read enough bytes" in lower or "truncated" in lower:
        return damaged(path, "le fichier est tronqué (une partie manque)")
    if "not a valid duckdb database" in lower:
        return LedgerError(f"le fichier {path} n'est pas un registre des titres d'ent-bill (ce n'est pas une base "
                           f"DuckDB lisible) : indiquez le bon fichier avec --ledger, ou {RESTORE}")
    if "newer" in lower or ("version" in lower and "storage" in lower):
        return LedgerError(f"le registre des titres {path} a été écrit par une version plus récente de DuckDB "
                           f"({detail}) : mettez ent-bill à jour")
    if "permission denied" in lower or "read-only file system" in lower:
        return LedgerError(f"le registre des titres {path} ne peut pas être écrit ni lu ({detail}) : "
                           "vérifiez les droits sur le fichier et son dossier")
    if isinstance(exc, duckdb.CatalogException) or "does not exist" in lower:
        return damaged(path, f"une table ou une colonne a disparu ({detail})")
    if "no space left" in lower or "disk full" in lower:
        return LedgerError(f"le disque du registre des titres {path} est plein : libérez de la place ; "
                           "rien n'a été enregistré")
    return damaged(path, f"lecture impossible ({detail})")


def run(path: Path, action):
    """``action()``, with any DuckDB error it raises turned into the user error that names ``path``."""
    try:
        return action()
    except duckdb.Error as exc:
        raise translate(exc, path) from None
