"""What every renderer shares: atomic writes, safe file names, text kept as text, styles.

A reader (or a killed run) never sees half a file: write to a temporary name in the
same folder, fsync, rename. Input text never becomes a formula, in a workbook or a CSV.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from billing.core.money import cents_to_decimal

EUROS = '#,##0.00 "€";-#,##0.00 "€"'
RATE = '#,##0.00## "€"'
INTEGER = "#,##0"
DATE = "DD/MM/YYYY"
FONT_NAME = "Calibri"  # the workbook's default font, named in every style


def font(**options) -> Font:
    """A cell font that names its face. A font without a name is shown in Calibri by Excel but in a
    serif fallback by LibreOffice, wider than the columns sized in Calibri: text ran past its cells."""
    return Font(name=FONT_NAME, **options)


TITLE = font(bold=True, size=14)
BOLD = font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE5F0")
TOTAL_BORDER = Border(top=Side(style="thin"), bottom=Side(style="double"))

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class UnsafePath(ValueError):
    """A file name that would leave its output folder."""


def safe_child(out_dir: Path, name: str) -> Path:
    """``out_dir / name``, guaranteed to stay inside ``out_dir`` (no separators, no ``..``, no NUL).

    Purely lexical, so cheap for 35,000 notices: a plain name cannot climb out, and every
    file is written by rename, which replaces a link found at that name instead of
    following it (a test plants one).
    """
    if not name or "\x00" in name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise UnsafePath(f"nom de fichier refusé : {name!r}")
    return Path(out_dir) / name


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, write) -> Path:
    """Call ``write(stream)`` on a temporary file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; a report is as readable as any file here
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    return write_atomic(path, lambda stream: stream.write(data))


def save_workbook(workbook, path: Path) -> Path:
    """Temporary name in the same folder, fsync, rename: a reader never sees half a workbook."""
    return write_atomic(path, workbook.save)


def fsync_dir(directory: Path) -> None:
    """Make the renames in ``directory`` durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs():
    """Linux's syncfs(2) through the C library, or None where there is none."""
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    return function


_SYNCFS = _syncfs() if os.name == "posix" else None


def make_durable(directory: Path, paths) -> None:
    """Every file of ``paths`` (closed, in ``directory``) is on disk when this returns.

    One syncfs of the directory's filesystem costs a few milliseconds for hundreds of small
    files, where one fsync each costs ~0.6 ms of waiting per file; without syncfs (not
    Linux), or when it fails, each file is fsynced.
    """
    if _SYNCFS is not None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def put_text(cell, value) -> None:
    """Text from the inputs stays text: « =1+1 » or « #N/A » in a name must not become a formula or an error."""
    if value is None:
        return
    cell.value = str(value)
    cell.data_type = "s"


def put_euros(cell, cents: int | None) -> None:
    """An amount as an exact decimal number of euros (the XML holds « 1234.56 », never a binary float)."""
    if cents is None:
        return
    cell.value = cents_to_decimal(int(cents))
    cell.number_format = EUROS


def put_date(cell, value: date | None) -> None:
    if value is None:
        return
    cell.value = value
    cell.number_format = DATE


def csv_text(value) -> str:
    """A CSV cell that no spreadsheet will run: the OWASP « ' » prefix before = + - @ tab CR."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def header_row(sheet, row: int, titles, *, widths=None) -> None:
    """A table's header: bold on the header fill, wrapped; optional column widths."""
    for column, title in enumerate(titles, start=1):
        cell = sheet.cell(row, column, title)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        if widths is not None:
            sheet.column_dimensions[get_column_letter(column)].width = widths[column - 1]


def print_setup(sheet, *, title: str, landscape: bool = True, title_rows: str | None = None,
                fit_width: bool = True) -> None:
    """How a sheet prints: A4, fitted to the page width, as many pages as needed; the title and year in the
    header, « page n / N » in the footer, ``title_rows`` (« 4:4 ») repeated on every page."""
    sheet.page_setup.paperSize = 9  # A4
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    if fit_width:
        sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.page_margins.header = sheet.page_margins.footer = 0.25
    if title_rows:
        sheet.print_title_rows = title_rows
    sheet.oddHeader.center.text = title.replace("&", "&&")
    sheet.oddHeader.center.size = 9
    sheet.oddFooter.center.text = "page &P / &N"
    sheet.oddFooter.center.size = 8
