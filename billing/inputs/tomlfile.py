"""Reading a TOML input and reporting on it: the parse, the French syntax errors, located problems.

Numbers are read with ``parse_float=Decimal`` so « 1.4375 » stays exact. Problems are
collected by ``_Report``, each located by file, TOML key (the « colonne ») and, when the
key can be found in the text, its line (``_Locator``, a line scan, no second parser).
``_Fields`` reads one table key by key through the converters of ``values``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from billing.core import problems as P
from billing.core.problems import Problem
from billing.inputs.grid import os_reason


_MISSING = object()
_HEADER = re.compile(r"\s*\[\[?\s*(?P<name>[^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""\s*(?P<q>["']?)(?P<key>[A-Za-z0-9_-]+)(?P=q)\s*(?:\.|=)""")


def _table_path(name: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in name.split("."))


class _Locator:
    """Where each table header and each ``key =`` sits in the text: a line scan, no second parser."""

    def __init__(self, text: str = ""):
        self.lines = text.splitlines()
        self.seen: dict[tuple[str, ...], list[int]] = {}
        self.path_on_line: dict[int, tuple[str, ...]] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(self.lines, start=1):
            header = _HEADER.match(line)
            if header:
                table = _table_path(header["name"])
                self.seen.setdefault(table, []).append(number)
                self.path_on_line[number] = table
                continue
            key = _KEY.match(line)
            if key:
                path = (*table, key["key"])
                self.seen.setdefault(path, []).append(number)
                self.path_on_line[number] = path

    def line(self, path: Sequence[str]) -> int | None:
        found = self.seen.get(tuple(path))
        return found[0] if found else None

    def text(self, line: int | None) -> str | None:
        if line is None or not 1 <= line <= len(self.lines):
            return None
        text = _without_comment(self.lines[line - 1]).strip()
        return text if len(text) <= 80 else text[:79] + "…"


def _without_comment(line: str) -> str:
    """The line without its trailing « # … » comment (a « # » inside quotes is text)."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:index].rstrip()
    return line


class _Report:
    """Collects the problems of one file (or of the --set options), located by key path."""

    def __init__(self, display: str, locator: _Locator | None = None):
        self.display = display
        self.locator = locator or _Locator()
        self.problems: list[Problem] = []

    def add(self, severity: str, path: Sequence[str], message: str, *, value: Any = _MISSING,
            suggestion: str | None = None, row: int | None | object = _MISSING) -> None:
        path = tuple(path)
        if row is _MISSING:
            row = self.locator.line(path) if path else None
        column = ".".join(path) or None
        make = P.error if severity == "erreur" else P.warning
        self.problems.append(make(self.display, row, column, message,
                                  value=None if value is _MISSING else _show(value), suggestion=suggestion))

    def error(self, path: Sequence[str], message: str, **kw) -> None:
        self.add("erreur", path, message, **kw)

    def warning(self, path: Sequence[str], message: str, **kw) -> None:
        self.add("avertissement", path, message, **kw)

    def missing(self, path: Sequence[str], what: str, *, example: str | None = None) -> None:
        """A required key is absent: point at its table's header, the place to add it."""
        self.error(path, f"clé manquante : {what}", row=self.locator.line(path[:-1]) if len(path) > 1 else None,
                   suggestion=f"Ajoutez par exemple : {example}" if example else None)

    def error_count(self) -> int:
        return len(P.errors_of(self.problems))


class _Invalid(Exception):
    """A value that a converter refuses: the French reason, and a suggestion when there is one."""

    def __init__(self, message: str, suggestion: str | None = None):
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion


def _show(value: Any) -> str:
    """A value as the user wrote it, for « … » in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Fraction):
        return _fraction_text(value)
    return str(value)


def _fold(text: str) -> str:
    """Case and accents folded, so « Barème » is « bareme »."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _closest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(_fold(word), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    near = _closest(word, choices)
    return f"Vouliez-vous dire « {near} » ?" if near else None


_TOML_MESSAGES = (
    (r"Cannot overwrite a value", "clé définie deux fois"),
    (r"Expected '=' after a key in a key/value pair", "« = » attendu après le nom de la clé"),
    (r"Expected '\]' at the end of a table declaration", "« ] » attendu à la fin du nom de section"),
    (r"Expected '\]\]' at the end of an array declaration", "« ]] » attendu à la fin du nom de section"),
    (r"Expected newline or end of document after a statement",
     "fin de ligne attendue après la valeur (un texte s'écrit entre guillemets)"),
    (r"Invalid date or datetime", "date invalide (forme attendue : 2024-04-15)"),
    (r"Invalid value", "valeur illisible (un texte s'écrit entre guillemets)"),
    (r"Invalid statement", "ligne illisible (attendu : cle = valeur, ou [section])"),
    (r"Invalid initial character for a key part", "nom de clé invalide (lettres, chiffres, _ et -)"),
    (r"Unclosed array", "liste non fermée (« ] » manquant)"),
    (r"Unclosed inline table", "table non fermée (« } » manquant)"),
    (r"Unterminated string", "texte non terminé (guillemet fermant manquant)"),
    (r"Illegal character '\\n'", "texte non terminé (guillemet fermant manquant avant la fin de la ligne)"),
    (r"Unescaped '\\' in a string",
     "« \\ » dans un texte entre guillemets doubles : doublez-le ou utilisez des apostrophes"),
    (r"Illegal character|Found invalid character", "caractère interdit à cet endroit"),
    (r"Cannot declare .* twice", "section déclarée deux fois"),
    (r"Duplicate inline table key", "clé répétée dans la même table"),
    (r"Cannot mutate immutable namespace|Cannot redefine namespace", "clé ou section déjà définie"),
    (r"Escaped character is not a Unicode scalar value|Invalid hex value", "séquence d'échappement invalide"),
    (r"Expected '(.*)'", r"« \1 » attendu"),
)


def _toml_problem(exc: tomllib.TOMLDecodeError, locator: _Locator, display: str) -> Problem:
    """tomllib's English message in French, located on its line, with a hint for the usual slips."""
    raw = str(exc)
    head = raw.split(" (at ")[0]
    french = f"erreur de syntaxe ({head})"
    for pattern, replacement in _TOML_MESSAGES:
        if re.match(pattern, head):
            french = re.sub(pattern, replacement, head, count=1) if "\\1" in replacement else replacement
            break
    where = re.search(r"at line (\d+), column (\d+)", raw)
    row = getattr(exc, "lineno", None) or (int(where[1]) if where else None)
    column_no = getattr(exc, "colno", None) or (int(where[2]) if where else None)
    path = locator.path_on_line.get(row) if row else None
    if head.startswith("Cannot overwrite a value") and path:
        first = locator.line(path)
        french = f"clé « {path[-1]} » définie deux fois" + (f" (déjà ligne {first})" if first and first != row else "")
    if row is None:
        message = f"syntaxe TOML invalide à la fin du fichier : {french}"
    elif column_no:
        message = f"syntaxe TOML invalide au caractère {column_no} : {french}"
    else:
        message = f"syntaxe TOML invalide : {french}"
    line_text = locator.text(row)
    value_slip = head.startswith(("Invalid value", "Expected newline", "Expected '='", "Invalid date"))
    return P.error(display, row, ".".join(path) if path else None, message, value=line_text,
                   suggestion=_toml_hint(line_text) if value_slip else None)


def _toml_hint(line: str | None) -> str:
    """`nom = Dupont` or `part_eleve = 1,20`: the same line, quoted; `qualité = …`: the key without accents."""
    generic = "Les textes s'écrivent entre guillemets (nom = \"…\"), un montant à virgule aussi (part_eleve = \"1,20\")."
    accented = re.fullmatch(r"([^=\s\"']+)\s*=\s*(.*)", line or "")
    if accented and not accented[1].isascii():
        return f"Les noms de clé s'écrivent sans accents : {_fold(accented[1])} = {accented[2]}"
    match = re.fullmatch(r"([A-Za-z0-9_-]+)\s*=\s*([^\"'\[{#][^#]*?)\s*(#.*)?", line or "")
    if not match:
        return generic
    try:
        tomllib.loads(f"x = {match[2]}")
        return generic
    except tomllib.TOMLDecodeError:
        return f"Écrivez : {match[1]} = \"{match[2]}\""


MAX_TOML_BYTES = 1024 * 1024  # a real syndicat.toml or tarifs.toml is a few kilobytes
MAX_TOML_DEPTH = 20  # tables and lists nested deeper than this are no tariff


def _load(path: Path, display: str) -> tuple[dict | None, _Report]:
    """The parsed document, or None with one clear problem (missing, too big, not UTF-8, not TOML)."""
    report = _Report(display)
    text = _read_text(Path(path), report)
    if text is None:
        return None, report
    report.locator = _Locator(text)
    depth, line = _nesting(text)
    if depth > MAX_TOML_DEPTH:
        report.error((), f"imbrication trop profonde ({depth} niveaux de listes ou de tables ; au plus "
                         f"{MAX_TOML_DEPTH})", row=line,
                     suggestion="Un fichier de paramètres n'imbrique que quelques niveaux : vérifiez les crochets.")
        return None, report
    try:
        return tomllib.loads(text, parse_float=Decimal), report
    except tomllib.TOMLDecodeError as exc:
        report.problems.append(_toml_problem(exc, report.locator, display))
    except RecursionError:  # nesting hidden from the bracket count (inline tables in strings do not count)
        report.error((), "imbrication trop profonde : le fichier ne peut pas être lu")
    return None, report


def _read_text(path: Path, report: _Report) -> str | None:
    try:
        if path.is_dir():
            report.error((), "c'est un dossier, pas un fichier", suggestion=f"Mettez le fichier {path.name} à sa place.")
            return None
        if path.exists() and not path.is_file():  # a pipe or device: never opened, it could block
            report.error((), "ce n'est pas un fichier ordinaire (tube, périphérique…)",
                         suggestion=f"Mettez le fichier {path.name} lui-même à sa place.")
            return None
        if not path.is_file():
            report.error((), "fichier introuvable", suggestion="« ent-bill init » crée un dossier d'exemple complet.")
            return None
        size = path.stat().st_size
        if size > MAX_TOML_BYTES:
            report.error((), f"fichier trop volumineux ({size / 1_048_576:.1f} Mo ; au plus "
                             f"{MAX_TOML_BYTES // 1_048_576} Mo pour un fichier de paramètres)",
                         suggestion="Vérifiez qu'il s'agit bien du bon fichier.")
            return None
        with open(path, "rb") as stream:
            data = stream.read(MAX_TOML_BYTES + 1)
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.error((), "le fichier n'est pas encodé en UTF-8",
                     suggestion="Enregistrez-le en UTF-8 (« Enregistrer sous », codage UTF-8).")
    except OSError as exc:
        report.error((), f"lecture impossible ({os_reason(exc)})")
    return None


def _nesting(text: str) -> tuple[int, int | None]:
    """The deepest run of open « [ » / « { » outside strings and comments, and its line (cheap, no parser)."""
    depth = deepest = 0
    line = deepest_line = 1
    quote = None
    comment = False
    for char in text:
        if char == "\n":
            line += 1
            comment = False
            if quote in ('"', "'"):
                quote = None
            continue
        if comment:
            continue
        if quote:
            if char == quote:
                quote = None
            continue
        if char in "\"'":
            quote = char
        elif char == "#":
            comment = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest, deepest_line = depth, line
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest, (deepest_line if deepest > MAX_TOML_DEPTH else None)


def _fraction_text(value: Fraction) -> str:
    """« 0.7 », « 1 », or « 1/3 » when no finite decimal is exact."""
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fraction_display(value: Fraction) -> str:
    return _fraction_text(value).replace(".", ",")


class _Fields:
    """Reads one TOML table key by key through the converters, reporting at ``where + key``."""

    def __init__(self, report: _Report, data: Mapping[str, Any], where: tuple[str, ...]):
        self.report, self.data, self.where = report, data, where

    def path(self, key: str) -> tuple[str, ...]:
        return (*self.where, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get(self, key: str, convert: Callable[[Any], Any], *, default: Any = None,
            missing: tuple[str, str | None] | None = None) -> Any:
        """``convert(data[key])``; ``default`` when absent (``missing`` = (what, example): absent is an error)."""
        if not self.has(key):
            if missing:
                self.report.missing(self.path(key), missing[0], example=missing[1])
            return default
        value = self.data[key]
        try:
            return convert(value)
        except _Invalid as exc:
            suggestion = exc.suggestion
            if exc.message.startswith("un texte entre guillemets") and isinstance(value, (int, Decimal)):
                suggestion = f"Écrivez : {key} = \"{_show(value)}\""
            self.report.error(self.path(key), exc.message, value=value if _scalar(value) else self._typed(key),
                              suggestion=suggestion)
            return default

    def _typed(self, key: str) -> Any:
        """A list or table shown as typed in the file (« ["1.20"] »), when it sits on its key's line."""
        text = self.report.locator.text(self.report.locator.line(self.path(key)))
        return text.partition("=")[2].strip() or _MISSING if text and "=" in text else _MISSING

    def complainer(self, key: str) -> Callable[[str], None]:
        return lambda message: self.report.error(self.path(key), message)

    def unknown_keys(self, known: Sequence[str], *, fatal: bool = False) -> None:
        """Keys this table does not know: a warning (syndicat.toml), or an error where a dropped key would
        be a dropped price (a year of tarifs.toml, a group override: DESIGN §4b)."""
        for key in self.data:
            if key in known:
                continue
            if fatal:
                near = _did_you_mean(key, known)
                self.report.error(self.path(key), "clé inconnue : un tarif voté ne peut pas être ignoré ; clés "
                                                  f"reconnues : {', '.join(known)}",
                                  suggestion=near or "Corrigez le nom de la clé ou supprimez-la.")
            else:
                self.report.warning(self.path(key), "clé inconnue, ignorée",
                                    suggestion=_did_you_mean(key, known)
                                    or f"Clés reconnues : {', '.join(known)}.")


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, Decimal, date, bool))
