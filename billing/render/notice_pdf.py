"""The « avis des sommes à payer » as a PDF/A-1b file: the same notice, the same words (DESIGN §6b).

Rendered with the ReportLab canvas from the values of ``render.notice.Notice``: nothing is
recomputed, every amount printed is a cents value the notice carries (a prorata line also
shows the subtotal it applies to, the sum of the printed lines above it). One A4 page; when
the bases de liquidation need more room the table continues on further pages, each with
« page n / N ». A draft (``numero`` None) carries a large « PROJET » watermark.

The PDF/A-1b plumbing (embedded fonts, XMP, sRGB output intent, caches) is in
``render.pdfa``; this module holds the words and the layout.
"""

from __future__ import annotations

import functools
import io
import os
import re
import secrets
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from datetime import date
from pathlib import Path
from typing import Callable, Sequence

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from billing.core.money import format_euros, format_rate
from billing.render.files import fsync_dir, safe_child
from billing.render.notice import (INTITULES, PROJET_MARK, TOTAL_LIBELLES, Notice, check_distinct, notice_filename,
                                   notice_words)
from billing.render.pdfa import BOLD, FRENCH_SET, ITALIC, REGULAR, Fragments, declare_pdfa, end_page, new_canvas, setup

PARALLEL_ABOVE = 200  # below this, starting processes costs more than it saves
CHUNK = 250
FSYNC_THREADS = 8


PAGE_W, PAGE_H = A4
LEFT, RIGHT = 42.0, PAGE_W - 42.0
TOP, BOTTOM = PAGE_H - 40.0, 48.0
WIDTH = RIGHT - LEFT
# Column widths of the bases de liquidation, proportional to the workbook's (31, 42, 10, 12, 16)
_COLUMNS = (138.0, 178.0, 48.0, 66.0, WIDTH - 138.0 - 178.0 - 48.0 - 66.0)

NAVY = (0x1F / 255, 0x38 / 255, 0x64 / 255)
LIGHT = (0xDD / 255, 0xE5 / 255, 0xF0 / 255)
RED = (0xC0 / 255, 0, 0)
WATERMARK = (0.97, 0.84, 0.84)  # opaque: PDF/A-1 forbids transparency
GREY = (0.5, 0.5, 0.5)

_DRAWN = {0x202F: 0x00A0, **{c: None for c in range(0x20) if c != 0x0A}, 0x7F: None}
_NOT_DRAWN = re.compile("[\x00-\x09\x0b-\x1f\x7f\u202f]")


def _clean(text) -> str:
    """Text as drawn: the font has no U+202F (drawn as U+00A0), control characters are dropped."""
    if text is None:
        return ""
    text = str(text)
    return text.translate(_DRAWN) if _NOT_DRAWN.search(text) else text


def _fr_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value is not None else "?"


def _quantity(value: int) -> str:
    return f"{value:,}".replace(",", "\u00a0").replace("-", "−")  # « 1 234 »


# ----- the words of the notice (the same as the workbook's, render/notice.py) -------------


def _words(notice: Notice) -> dict[str, str]:
    """Every text of the page but the lines, from the workbook notice's own wording (render/notice.py)."""
    words = notice_words(notice)
    echeance = words["echeance"]
    words["echeance"] = _fr_date(echeance) if isinstance(echeance, date) else echeance
    words["origine"] = words["origine"] or ""
    return {key: _clean(value) if isinstance(value, str) else value for key, value in words.items()}


def _calcul(notice: Notice, index: int, subtotal: int) -> str:
    """The « quantité × taux = montant » line under a line's detail, from the carried values."""
    line = notice.lines[index]
    montant = format_euros(line.montant_cents)
    if line.formule == "produit" and line.quantite is not None and line.taux_units is not None:
        return f"{_quantity(line.quantite)} × {format_rate(line.taux_units)} = {montant}"
    if line.formule == "prorata" and line.facteur_den:
        base = format_euros(subtotal)
        return f"{base} × {line.facteur_num} / {line.facteur_den} − {base} = {montant}"
    return ""


# ----- PDF/A declaration of a notice ----------------------------------------------------


def _pdfa(canvas: Canvas, notice: Notice) -> None:
    numero = notice.numero or "PROJET"
    declare_pdfa(canvas, title=_clean(f"{INTITULES[notice.nature].capitalize()} {numero} — {notice.debiteur_nom}"),
                 author=_clean(notice.syndicat.nom), subject=numero,
                 keywords=_clean(f"titre de recettes; exercice {notice.annee}; {notice.debiteur_code_insee}"),
                 day=notice.date_emission)


# ----- layout: blocks placed on pages, then drawn knowing the page count ------------------


class _Page:
    def __init__(self) -> None:
        self.items: list[tuple[float, Callable, tuple | None]] = []


@functools.lru_cache(maxsize=8192)
def _wrap(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    """The lines of ``text`` in ``width`` (cached: most texts recur on every notice).

    Breaks only at plain spaces: a no-break space holds « 1 150 » and « 1 780,82 € » together,
    where reportlab's own splitting treats it as any other space."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            trial = f"{current} {word}" if current else word
            if not current or pdfmetrics.stringWidth(trial, font, size) <= width:
                current = trial
            else:
                lines.append(current)
                current = word
        lines.append(current)
    return tuple(lines) or ("",)


def _paragraph(text: str, font: str, size: float, width: float, *, x: float = LEFT, leading: float | None = None,
               color=(0, 0, 0), after: float = 2.0):
    lines = _wrap(text, font, size, width)
    leading = leading or size * 1.22

    def draw(c: Canvas, y: float) -> None:
        c.setFillColorRGB(*color)
        c.setFont(font, size)
        for i, line in enumerate(lines):
            c.drawString(x, y - size - i * leading, line)

    return len(lines) * leading + after, draw


def _centered(text: str, font: str, size: float, color, *, after: float = 4.0):
    """One line centred on the page; a text wider than the page is wrapped, each line centred (a
    correction's heading with its motif)."""
    lines = _wrap(text, font, size, WIDTH)
    leading = size * 1.25

    def draw(c: Canvas, y: float) -> None:
        c.setFillColorRGB(*color)
        c.setFont(font, size)
        for i, line in enumerate(lines):
            c.drawCentredString(PAGE_W / 2, y - size - i * leading, line)

    return len(lines) * leading + after, draw


def _section(title: str):
    def draw(c: Canvas, y: float) -> None:
        c.setFillColorRGB(*NAVY)
        c.rect(LEFT, y - 15, WIDTH, 15, stroke=0, fill=1)
        c.setFillColorRGB(1, 1, 1)
        c.setFont(BOLD, 9.5)
        c.drawString(LEFT + 4, y - 11, title)

    return 21.0, draw


def _field(label: str, value: str, *, bold: bool = False, right: tuple[str, str] | None = None):
    """« Label    value » on a 140 pt label column; ``right`` puts a second label/value pair at the right."""
    value_x = LEFT + 140
    value_w = (RIGHT - 160 if right else RIGHT) - value_x
    lines = _wrap(value, BOLD if bold else REGULAR, 9.5, value_w)
    labels = _wrap(label, BOLD, 9.5, 134)  # « Aucun paiement à effectuer » takes two lines

    def draw(c: Canvas, y: float) -> None:
        c.setFillColorRGB(0, 0, 0)
        c.setFont(BOLD, 9.5)
        for i, text in enumerate(labels):
            c.drawString(LEFT, y - 9.5 - i * 11.6, text)
        if right:
            c.drawString(RIGHT - 150, y - 9.5, right[0])
            c.drawRightString(RIGHT, y - 9.5, right[1])
        c.setFont(BOLD if bold else REGULAR, 9.5)
        for i, line in enumerate(lines):
            c.drawString(value_x, y - 9.5 - i * 11.6, line)

    return max(len(lines), len(labels)) * 11.6 + 3, draw


def _table_header():
    titles = ("Libellé", "Détail du calcul", "Quantité", "Taux", "Montant")

    def draw(c: Canvas, y: float) -> None:
        c.setFillColorRGB(*LIGHT)
        c.setStrokeColorRGB(*GREY)
        c.setLineWidth(0.5)
        c.rect(LEFT, y - 16, WIDTH, 16, stroke=1, fill=1)
        c.setFillColorRGB(0, 0, 0)
        c.setFont(BOLD, 9)
        x = LEFT
        for title, width in zip(titles, _COLUMNS):
            c.drawCentredString(x + width / 2, y - 11.5, title)
            x += width
            if x < RIGHT:
                c.line(x, y, x, y - 16)

    return 16.0, draw


def _table_row(libelle: str, detail: str, calcul: str, quantite: str, taux: str, montant: str):
    size, leading = 8.5, 10.4
    left = _wrap(libelle, REGULAR, size, _COLUMNS[0] - 6)
    middle = (_wrap(detail, REGULAR, size, _COLUMNS[1] - 6) if detail else ()) + (
        _wrap(calcul, ITALIC, size, _COLUMNS[1] - 6) if calcul else ())
    n_detail = len(_wrap(detail, REGULAR, size, _COLUMNS[1] - 6)) if detail else 0
    height = max(len(left), len(middle), 1) * leading + 6

    def draw(c: Canvas, y: float) -> None:
        c.setStrokeColorRGB(*GREY)
        c.setLineWidth(0.5)
        c.rect(LEFT, y - height, WIDTH, height, stroke=1, fill=0)
        x = LEFT
        for width in _COLUMNS[:-1]:
            x += width
            c.line(x, y, x, y - height)
        c.setFillColorRGB(0, 0, 0)
        c.setFont(REGULAR, size)
        for i, text in enumerate(left):
            c.drawString(LEFT + 3, y - 3 - size - i * leading, text)
        for i, text in enumerate(middle):
            c.setFont(ITALIC if i >= n_detail else REGULAR, size)
            c.drawString(LEFT + _COLUMNS[0] + 3, y - 3 - size - i * leading, text)
        c.setFont(REGULAR, size)
        edge = LEFT
        for column, text in ((2, quantite), (3, taux), (4, montant)):
            edge = LEFT + sum(_COLUMNS[:column + 1])
            if text:
                c.drawRightString(edge - 3, y - 3 - size, text)

    return height, draw


def _total_row(label: str, amount: str):
    box = max(_COLUMNS[4], pdfmetrics.stringWidth(amount, BOLD, 10.5) + 8)  # a large amount widens its box

    def draw(c: Canvas, y: float) -> None:
        c.setFillColorRGB(*LIGHT)
        c.setStrokeColorRGB(*GREY)
        c.setLineWidth(0.5)
        c.rect(LEFT, y - 18, WIDTH, 18, stroke=1, fill=1)
        c.line(RIGHT - box, y, RIGHT - box, y - 18)
        c.setStrokeColorRGB(0, 0, 0)
        c.line(RIGHT - box + 2, y - 16, RIGHT - 2, y - 16)
        c.line(RIGHT - box + 2, y - 14.5, RIGHT - 2, y - 14.5)
        c.setFillColorRGB(0, 0, 0)
        c.setFont(BOLD, 10.5)
        c.drawRightString(RIGHT - box - 4, y - 12.5, label)
        c.drawRightString(RIGHT - 3, y - 12.5, amount)

    return 22.0, draw


def _signature(signataire: str):
    def draw(c: Canvas, y: float) -> None:
        c.setFillColorRGB(0, 0, 0)
        c.setFont(REGULAR, 9.5)
        c.drawCentredString(RIGHT - 110, y - 10, "L'ordonnateur,")
        c.setFont(BOLD, 9.5)
        c.drawCentredString(RIGHT - 110, y - 23, signataire)

    return 52.0, draw


def _header(nom: str, adresse: str, siret: str, ordonnateur: str, annee: str, numero: str, emission: str):
    """The issuer at the left, exercice / titre n° / date d'émission at the right."""
    left = [(BOLD, 11, NAVY, nom), (REGULAR, 9.5, (0, 0, 0), adresse), (REGULAR, 9.5, (0, 0, 0), siret),
            (REGULAR, 9.5, (0, 0, 0), ordonnateur)]
    right = (("Exercice", annee), ("Titre n°", numero), ("Date d'émission", emission))

    def draw(c: Canvas, y: float) -> None:
        for i, (font, size, color, text) in enumerate(left):
            c.setFillColorRGB(*color)
            c.setFont(font, size)
            c.drawString(LEFT, y - 11 - i * 13, text)
        c.setFillColorRGB(0, 0, 0)
        c.setFont(BOLD, 9.5)
        for i, (label, value) in enumerate(right):
            c.drawRightString(RIGHT - 95, y - 11 - i * 13, label)
            c.drawRightString(RIGHT, y - 11 - i * 13, value)

    return 4 * 13 + 14, draw


def _space(height: float = 6.0):
    return height, lambda c, y: None


def _block(make, *args, **options) -> tuple[float, Callable, tuple | None]:
    """(height, draw, cache key): the key names the block by its inputs when its text can be cached."""
    height, draw = make(*args, **options)
    texts = [value for value in (*args, *options.values()) if isinstance(value, str)]
    texts += [v for value in options.values() if isinstance(value, tuple) for v in value if isinstance(v, str)]
    cacheable = all(FRENCH_SET.issuperset(text) for text in texts)
    return height, draw, ((make.__name__, args, tuple(sorted(options.items()))) if cacheable else None)


def _keep(*blocks) -> tuple[float, Callable, tuple | None]:
    """Blocks that go to the same page (a section title with its first field, the legal mentions)."""
    offsets, y = [], 0.0
    for height, _, _ in blocks:
        offsets.append(y)
        y += height

    def draw(c: Canvas, top: float) -> None:
        for offset, (_, part, _) in zip(offsets, blocks):
            part(c, top - offset)

    keys = tuple(key for _, _, key in blocks)
    return y, draw, (("keep", keys) if None not in keys else None)


def _blocks(notice: Notice) -> tuple[list, int, int]:
    """The page from top to bottom as blocks, and the index range of the table rows (they may move on)."""
    words = _words(notice)
    syndicat = notice.syndicat
    b = _block
    blocks = [b(_header, _clean(syndicat.nom), _clean(syndicat.adresse), _clean(f"SIRET : {syndicat.siret}"),
                words["ordonnateur"], str(notice.annee),
                _clean(notice.numero) or "PROJET", _fr_date(notice.date_emission)),
              b(_centered, INTITULES[notice.nature], BOLD, 15, NAVY, after=3)]
    if notice.numero is None:
        blocks.append(b(_centered, PROJET_MARK, BOLD, 12, RED, after=2))
    if words["origine"]:
        blocks.append(b(_centered, words["origine"], BOLD, 10.5, (0, 0, 0), after=2))
    blocks += [b(_space), _keep(b(_section, "DÉBITEUR"), b(_field, "Nom", _clean(notice.debiteur_nom), bold=True)),
               b(_field, "Adresse", _clean(notice.debiteur_adresse) or "adresse non communiquée"),
               b(_field, "SIRET", _clean(notice.debiteur_siret) or "non communiqué",
                 right=("Code INSEE", _clean(notice.debiteur_code_insee))),
               b(_space), _keep(b(_section, "OBJET DE LA CRÉANCE"), b(_field, "Objet", _clean(notice.objet))),
               b(_field, "Fondement", _clean(notice.fondement)), b(_field, "Effectifs retenus", words["rentree"]),
               b(_space), b(_section, "BASES DE LIQUIDATION"), b(_table_header)]
    first_row = len(blocks)
    subtotal = 0
    for index, line in enumerate(notice.lines):
        if index and line.groupe != notice.lines[index - 1].groupe:
            subtotal = 0  # a new competence (DESIGN §4c): its prorata applies to its own lines
        blocks.append(b(_table_row, _clean(line.libelle), _clean(line.detail), _clean(_calcul(notice, index, subtotal)),
                        _quantity(line.quantite) if line.quantite is not None else "",
                        _clean(format_rate(line.taux_units)) if line.taux_units is not None else "",
                        "" if line.formule == "info" else _clean(format_euros(line.montant_cents))))
        subtotal += line.montant_cents
    end_rows = len(blocks)  # the last row, kept with the total, stays at index end_rows - 1
    last = [blocks.pop()] if notice.lines else []
    blocks += [_keep(*last, b(_total_row, TOTAL_LIBELLES[notice.nature], _clean(format_euros(notice.total_cents))),
                     b(_paragraph, words["arrete"], ITALIC, 9.5, WIDTH, after=1)),
               b(_paragraph, words["imputation"], REGULAR, 9.5, WIDTH),
               b(_space),
               _keep(b(_section, "MODALITÉS DE PAIEMENT"),
                     b(_field, words["echeance_libelle"], words["echeance"], bold=True)),
               b(_field, "Comptable public", words["comptable"]),
               b(_field, "IBAN", words["iban"],
                 right=("BIC", _clean(syndicat.bic) or "—")),
               b(_field, "Référence à rappeler", _clean(words["reference"]), bold=True),
               b(_paragraph, words["paiement_note"], REGULAR, 8.5, WIDTH, after=4),
               b(_signature, words["signature"]),
               _keep(b(_section, "MENTIONS LÉGALES"), b(_paragraph, words["executoire"], REGULAR, 8, WIDTH, after=4),
                     b(_paragraph, "Voies et délais de recours", BOLD, 8.5, WIDTH, after=1),
                     b(_paragraph, words["recours"], REGULAR, 8, WIDTH))]
    return blocks, first_row, end_rows


def _paginate(notice: Notice) -> list[_Page]:
    """Place blocks top-down; a block that does not fit starts a page (table rows repeat the header)."""
    blocks, first_row, end_rows = _blocks(notice)
    pages = [_Page()]
    y = TOP
    header_height, header_draw, header_key = _block(_table_header)
    for index, (height, draw, key) in enumerate(blocks):
        if y - height < BOTTOM and pages[-1].items:
            pages.append(_Page())
            y = TOP
            if first_row <= index < end_rows:
                pages[-1].items.append((y, header_draw, header_key))
                y -= header_height
        pages[-1].items.append((y, draw, key))
        y -= height
    return pages


def _draw_watermark(c: Canvas) -> None:
    c.saveState()
    c.setFillColorRGB(*WATERMARK)
    c.setFont(BOLD, 130)
    c.translate(PAGE_W / 2, PAGE_H / 2)
    c.rotate(52)
    c.drawCentredString(0, -45, "PROJET")
    c.restoreState()


def _draw_footer(c: Canvas, notice: Notice, number: int, count: int) -> None:
    c.setFillColorRGB(*GREY)
    c.setFont(REGULAR, 8)
    titre = _clean(notice.numero) or "PROJET"
    c.drawCentredString(PAGE_W / 2, 28, f"{INTITULES[notice.nature].capitalize()} {titre} — page {number} / {count}")


def notice_pdf_bytes(notice: Notice) -> bytes:
    """The PDF/A-1b file of one notice."""
    buffer = io.BytesIO()
    c = new_canvas(buffer)
    _pdfa(c, notice)
    pages = _paginate(notice)
    for number, page in enumerate(pages, start=1):
        if notice.numero is None:
            Fragments.draw(c, 0.0, lambda c, y: _draw_watermark(c), ("watermark",))
        for y, draw, key in page.items:
            Fragments.draw(c, y, draw, key)
        _draw_footer(c, notice, number, len(pages))
        end_page(c)
    c.save()
    return buffer.getvalue()


# ----- file names and batch writing -----------------------------------------------------


def pdf_filename(notice: Notice) -> str:
    """The workbook's name with .pdf: « ENT-2024-0001_59367_lys-lez-lannoy.pdf »."""
    return notice_filename(notice).removesuffix(".xlsx") + ".pdf"


def _write_atomic(path: Path, data: bytes) -> None:
    """Temporary name beside ``path``, fsync, rename — ``files.write_bytes_atomic`` made thread-safe.

    ``files.write_bytes_atomic`` reads the umask by setting it, which races between threads;
    ``os.open(…, 0o666)`` lets the kernel apply it (as ``render.notice`` does for workbooks).
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _write_chunk(notices: Sequence[Notice], paths: Sequence[Path]) -> int:
    """Draw in this thread, write and fsync in a few others: an fsync (~8 ms here) waits on the disk, not the CPU."""
    with ThreadPoolExecutor(max_workers=FSYNC_THREADS) as pool:
        pending = [pool.submit(_write_atomic, path, notice_pdf_bytes(notice)) for notice, path in zip(notices, paths)]
        for future in pending:
            future.result()
    return len(notices)


def write_pdf_notices(notices: Sequence[Notice], out_dir: Path, *, workers: int | None = None,
                      progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write every notice as ``out_dir/<workbook name>.pdf`` (temporary name, fsync, rename); paths in order.

    Above a few hundred notices the work is spread over processes in chunks; ``progress``
    receives the number of notices written so far.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notices = list(notices)
    paths = [safe_child(out_dir, pdf_filename(notice)) for notice in notices]
    check_distinct(notices, paths)
    report = progress or (lambda done: None)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    setup()  # fonts parsed once here; forked workers inherit them
    done = 0
    if workers <= 1 or len(notices) <= PARALLEL_ABOVE:
        for start in range(0, len(notices), 50):
            done += _write_chunk(notices[start:start + 50], paths[start:start + 50])
            report(done)
    else:
        chunk = max(25, min(CHUNK, -(-len(notices) // (workers * 4))))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_write_chunk, notices[start:start + chunk], paths[start:start + chunk])
                       for start in range(0, len(notices), chunk)]
            for future in as_completed(futures):
                done += future.result()
                report(done)
    fsync_dir(out_dir)
    return paths
