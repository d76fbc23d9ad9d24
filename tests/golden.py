"""Golden text snapshots of written workbooks: one line per non-empty cell, compared as plain text.

A snapshot reads an .xlsx back with openpyxl (formulas as stored, not their cached values) and prints:

    [Feuille] print: orientation=portrait paper=9 fit=1x0 area=... titles=... margins=...
    Feuille!B7	"Commune d'Anstaing"	@
    Feuille!F12	=SUM(F9:F11)	#,##0.00 €

Text is JSON-quoted (so a number stored as text shows as "12" and a number as 12), formulas start with
``=``, dates are written ``date(2024-04-15)``; the number format follows unless it is ``General``.

Only the values listed in VOLATILE are replaced by placeholders, after the text is built; anything else
that changes from one run to the next is a finding, not something to hide here.
Regenerate with ``pytest --update-golden`` (option declared in tests/conftest.py), then review the diff.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from pathlib import Path

from openpyxl import load_workbook

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"

# (what it is, pattern, placeholder). Applied in this order to the whole snapshot text.
VOLATILE: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # « Édité le 03/12/2026 07:00 », « établi le 03/12/2026 à 07:00 » : when the file was written.
    # A date followed by a time of day; issue and due dates carry no time and stay.
    ("generation timestamp", re.compile(r"\d{2}/\d{2}/\d{4}( à)? \d{2}[:h]\d{2}"), "<HORODATAGE>"),
    # « ent-bill 0.1.0 » : the package version printed in footers (a cell holding the bare version is
    # given to snapshot() in ``replace``).
    ("version string", re.compile(r"ent-bill \d+\.\d+(\.\d+)?([.-]?\w+)?"), "ent-bill <VERSION>"),
    # « ENT-2024-0073:fc43…ec9 » : the ledger's hash chain includes each run's random run_id.
    ("ledger empreinte", re.compile(r"([A-Z0-9]+-\d{4}-\d{4}):[0-9a-f]{64}"), r"\1:<EMPREINTE>"),
)


def _value(cell) -> str:
    value = cell.value
    if cell.data_type == "f" or (isinstance(value, str) and value.startswith("=") and cell.data_type != "s"):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return f"datetime({value.isoformat()})"
    if isinstance(value, dt.date):
        return f"date({value.isoformat()})"
    if isinstance(value, dt.time):
        return f"time({value.isoformat()})"
    if hasattr(value, "text"):  # ArrayFormula, DataTableFormula
        return f"{type(value).__name__}({getattr(value, 'ref', '')}, {value.text})"
    return repr(value)


def _print_setup(ws) -> str:
    setup = ws.page_setup
    fit = ws.sheet_properties.pageSetUpPr
    facts = [f"orientation={setup.orientation}", f"paper={setup.paperSize}"]
    if fit is not None and fit.fitToPage:
        facts.append(f"fit={setup.fitToWidth}x{setup.fitToHeight}")
    if ws.print_area:
        facts.append(f"area={ws.print_area}")
    if ws.print_title_rows or ws.print_title_cols:
        facts.append(f"titles={ws.print_title_rows or ''}|{ws.print_title_cols or ''}")
    margins = ws.page_margins
    facts.append(f"margins={margins.left}/{margins.right}/{margins.top}/{margins.bottom}")
    if ws.freeze_panes:
        facts.append(f"freeze={ws.freeze_panes}")
    if ws.sheet_state != "visible":
        facts.append(f"state={ws.sheet_state}")
    return " ".join(facts)


def snapshot(path: Path, *, replace: dict[str, str] | None = None) -> str:
    """The workbook at ``path`` as text; ``replace`` maps literal strings (e.g. a tmp dir) to placeholders."""
    wb = load_workbook(path)  # formulas as stored
    lines: list[str] = []
    for ws in wb.worksheets:
        lines.append(f"[{ws.title}] print: {_print_setup(ws)}")
        merged = sorted(str(r) for r in ws.merged_cells.ranges)
        if merged:
            lines.append(f"[{ws.title}] merged: {' '.join(merged)}")
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is None or cell.value == "":
                    continue
                fmt = "" if cell.number_format == "General" else f"\t{cell.number_format}"
                lines.append(f"{ws.title}!{cell.coordinate}\t{_value(cell)}{fmt}")
    text = "\n".join(lines) + "\n"
    for literal, placeholder in (replace or {}).items():
        text = text.replace(literal, placeholder)
    for _, pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


def assert_golden(name: str, text: str, update: bool) -> None:
    """Compare ``text`` with tests/golden/<name>.txt; with ``update`` (pytest --update-golden) rewrite it."""
    path = GOLDEN_DIR / f"{name}.txt"
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} absent : lancez pytest --update-golden puis relisez le fichier"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            f"golden/{name}.txt", "written", n=1))
        raise AssertionError(f"{name} differs from its golden snapshot (pytest --update-golden if intended):\n"
                             f"{diff[:6000]}")


def import_every_module() -> None:
    """Import every module of the product before a clock is frozen.

    freezegun swaps ``datetime.date`` in the modules loaded when it starts; a module first
    imported *inside* ``freeze_time`` keeps freezegun's class for ever, and the dates it makes
    later are objects polars cannot type (« Nested object types »): a test running after the
    frozen workflow then fails for a reason that is not the product's.
    """
    import importlib
    import pkgutil

    import billing

    for info in pkgutil.walk_packages(billing.__path__, "billing."):
        importlib.import_module(info.name)
    # polars builds its python-type -> dtype tables on first use: built under a frozen clock they
    # would know only freezegun's date class. Use them once with the real classes first.
    from datetime import date, datetime

    import polars as pl

    pl.Series("d", ["a"]).replace_strict({"a": date(2024, 1, 1)}, return_dtype=pl.Date)
    pl.DataFrame({"d": [date(2024, 1, 1)], "t": [datetime(2024, 1, 1, 9, 30)]})
