"""Problems found in the inputs: values with a location, collected, never raised one by one.

A finance officer reads them: file, spreadsheet row, column, the value, what was
expected, a suggestion. The library raises only ``InputError`` carrying them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

Severity = Literal["erreur", "avertissement"]

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
        }


def error(file: str, row: int | None, column: str | None, message: str, *, value: str | None = None,
          suggestion: str | None = None) -> Problem:
    return Problem(file, row, column, message, value, suggestion, "erreur")


def warning(file: str, row: int | None, column: str | None, message: str, *, value: str | None = None,
            suggestion: str | None = None) -> Problem:
    return Problem(file, row, column, message, value, suggestion, "avertissement")


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


class InputError(Exception):
    """The inputs hold at least one error; nothing was written. Carries every problem of the run."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sort_problems(problems)
        errors = errors_of(self.problems)
        super().__init__(f"{len(errors)} erreur(s) dans les données d'entrée")

    @property
    def errors(self) -> list[Problem]:
        return errors_of(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return warnings_of(self.problems)
