"""Problems a user can cause: values with a location and a code, collected, raised together.

A finance officer reads them: file, spreadsheet row, column, the value, what was
expected, a suggestion. The library raises one error type, ``BillingError``, carrying
every problem of the run; the CLI prints them and exits 1. Any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable, Literal

Severity = Literal["erreur", "avertissement"]


class Code(StrEnum):
    """What kind of problem, for programs (tests, ``--json``, filtering): never read from the message."""

    INVALID = "invalide"            # a value of the wrong form or out of its range
    MISSING = "manquant"            # a required value, column or file is absent
    UNREADABLE = "illisible"        # a file or cell that cannot be read at all
    UNKNOWN = "inconnu"             # a name or code found nowhere (commune, key, titre)
    INCONSISTENT = "incoherent"     # a rule across columns, rows or tables
    TARIFF = "tarif"                # the tariff cannot be applied to these members (overflow, bad weights)
    LEDGER = "registre"             # the ledger is unreadable, altered, busy or absent
    OUTPUT = "sortie"               # the output folder cannot receive the files
    USAGE = "usage"                 # a command asked for something that does not exist (a non-member)

MAX_SHOWN = 50


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong (``erreur``) or worth a look (``avertissement``) in the inputs.

    ``row`` is the row number as the spreadsheet shows it (header = 1 in a plain CSV),
    ``None`` for a whole-file or cross-table problem.
    """

    file: str
    row: int | None
    column: str | None
    message: str
    value: str | None = None
    suggestion: str | None = None
    severity: Severity = "erreur"
    code: Code = Code.INVALID

    @property
    def is_error(self) -> bool:
        return self.severity == "erreur"

    def sort_key(self) -> tuple:
        return (self.file, self.row if self.row is not None else -1, self.column or "", self.message)

    def render(self) -> str:
        """`inputs/adhesions.csv, ligne 14, colonne « commune » : « X » n'est pas … Vouliez-vous dire … ?`"""
        place = [self.file] if self.file else []
        if self.row is not None:
            place.append(f"ligne {self.row}")
        if self.column:
            place.append(f"colonne « {self.column} »")
        text = ", ".join(place)
        body = self.message
        if self.value is not None and f"« {self.value} »" not in body:
            body = f"« {self.value} » : {body}"
        text = f"{text} : {body}" if text else body
        if self.suggestion:
            if not text.rstrip().endswith((".", "?", "!", ":")):
                text += "."
            text = f"{text} {self.suggestion}"
        return text

    def as_dict(self) -> dict:
        return {
            "fichier": self.file,
            "ligne": self.row,
            "colonne": self.column,
            "valeur": self.value,
            "message": self.message,
            "suggestion": self.suggestion,
            "gravite": self.severity,
            "code": str(self.code),
        }


def error(file: str, row: int | None, column: str | None, message: str, *, value: str | None = None,
          suggestion: str | None = None, code: Code = Code.INVALID) -> Problem:
    return Problem(file, row, column, message, value, suggestion, "erreur", code)


def warning(file: str, row: int | None, column: str | None, message: str, *, value: str | None = None,
            suggestion: str | None = None, code: Code = Code.INVALID) -> Problem:
    return Problem(file, row, column, message, value, suggestion, "avertissement", code)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    unique = dict.fromkeys(problems)  # same problem found twice is reported once
    return sorted(unique, key=Problem.sort_key)


def errors_of(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def warnings_of(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if not p.is_error]


def render_list(problems: Iterable[Problem], *, limit: int = MAX_SHOWN) -> list[str]:
    """Sorted lines, capped with « … et N autres »."""
    ordered = sort_problems(problems)
    lines = [p.render() for p in ordered[:limit]]
    if len(ordered) > limit:
        lines.append(f"… et {len(ordered) - limit} autres")
    return lines


def summarise(problems: Iterable[Problem], *, limit: int = MAX_SHOWN, group_from: int = 3) -> list[str]:
    """Like :func:`render_list`, but each group of ``group_from`` or more problems of one file and column
    becomes one line: its count, its first example and where to read the rest."""
    ordered = sort_problems(problems)
    groups: dict[tuple, list[Problem]] = {}
    for p in ordered:
        groups.setdefault((p.file, p.column, p.severity), []).append(p)
    lines = []
    for (file, column, _), members in groups.items():
        if len(members) < group_from or column is None:
            lines += [p.render() for p in members]
            continue
        kind = "avertissements" if members[0].severity == "avertissement" else "erreurs"
        example = members[0].render().split(" : ", 1)[-1]
        lines.append(f"{file}, colonne « {column} » : {len(members)} {kind} (lignes "
                     f"{', '.join(str(p.row) for p in members[:8])}{', …' if len(members) > 8 else ''}), "
                     f"par exemple {example} — détail dans l'onglet Anomalies ou avec --verbose")
    if len(lines) > limit:
        lines = [*lines[:limit], f"… et {len(lines) - limit} autres"]
    return lines


class BillingError(Exception):
    """The one error type: at least one problem the user can fix stands; nothing was written.

    Carries every problem of the run (errors and the warnings found with them).
    """

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sort_problems(problems)
        errors = errors_of(self.problems)
        first = errors[0].render() if len(errors) == 1 else f"{len(errors)} erreur(s)"
        super().__init__(first)

    @classmethod
    def single(cls, message: str, *, code: Code = Code.INVALID, file: str = "",
               suggestion: str | None = None) -> "BillingError":
        """One problem of the whole run (a busy ledger, a folder that exists, a commune that is no member)."""
        return cls([error(file, None, None, message, suggestion=suggestion, code=code)])

    @property
    def is_single(self) -> bool:
        """One unlocated error: printed as one sentence rather than as a list."""
        errors = self.errors
        return len(errors) == 1 and errors[0].row is None and not errors[0].file

    @property
    def errors(self) -> list[Problem]:
        return errors_of(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return warnings_of(self.problems)


# The historical name of the error when it carried input problems; the same type.
InputError = BillingError
