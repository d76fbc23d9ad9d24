"""synthese_<year>.xlsx: the budget summary of a year's contributions, for the committee and the accounts.

Totals by status, département and EPCI; every commune against the previous year (Δ €,
Δ %, new and departed members); the billed total against the voted budget; the counts
behind it (schools, pupils, cost per pupil); native charts; a cover sheet saying which
inputs and tariff produced it.

The renderer reads the priced frame and never recomputes an amount: it sorts and groups
the integer cents it is given, writes each line as an exact decimal, every total as a
SUM over the displayed lines, and checks in Python that each total equals the year's
billed total before writing (a mismatch is a bug and raises ``SummaryError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet

from billing import __version__
from billing.core.model import Syndicat, Tariff
from billing.core.money import format_euros
from billing.render.not_titled import add_not_titled_sheet
from billing.render.files import (
    header_row,
    BOLD, EUROS, TITLE, TOTAL_BORDER, font, put_euros, put_text,
)
from billing.render.sheetxml import save_with_tables
from billing.render.synthese_charts import charts_sheet, groups
from billing.render.synthese_communes import communes_sheet
from billing.render.synthese_competences import COMPETENCES, competence_parts, competence_sheet

PERCENT = "0.0 %"
COUNT = "#,##0"
DEFAULT_IMPUTATION = "7474"

COVER = "Couverture"
STATUS = "Par statut"
DEPARTEMENTS = "Par département"
EPCIS = "Par EPCI"
COMMUNES = "Communes"
BUDGET = "Budget"
CHARTS = "Graphiques"

CATEGORIES = (
    ("adherente", "Adhérentes facturées"),
    ("retiree", "Retirées (facturées pour leurs jours d'adhésion)"),
    ("conditionnelle", "Conditionnelles (montant indicatif, non facturé)"),
    ("hors_periode", "Adhérentes sans jour d'adhésion dans l'année (non facturées)"),
)
NEW = "nouvelle"
DEPARTED = "sortie"


class SummaryError(AssertionError):
    """A total on the summary does not equal the year's billed total: a bug, never a data problem."""


@dataclass(frozen=True, eq=False)
class _Year:
    """The frames the sheets are drawn from, every amount in integer cents."""

    annee: int
    communes: pl.DataFrame  # one row per member, with categorie, facture_cents, indicatif_cents
    comparison: pl.DataFrame | None  # one row per commune of either year
    billed_cents: int
    indicative_cents: int


def write_synthese(path: Path, *, priced, tariff_description: Iterable[tuple[str, str]],
                   previous: pl.DataFrame | None, previous_source: str | None,
                   budget: pl.DataFrame | None, syndicat: Syndicat, input_hashes: Iterable,
                   generated_at: datetime, streamed: bool = True) -> Path:
    """Write the budget summary to ``path`` (temporary name, fsync, rename); return ``path``.

    ``previous``: code_insee, commune, montant_cents of the previous year (from the ledger
    when it was issued, else from that year's inputs), ``previous_source`` says which;
    ``budget``: annee, compte, libelle, montant_prevu_cents; ``tariff_description``: the
    tariff as (label, value) rows (``describe_tariff``), shown on the cover. ``streamed``
    False writes the Communes sheet cell by cell through openpyxl (the slow reference).
    """
    year = _prepare(priced.contributions, previous, annee=priced.annee)
    tariff: Tariff = priced.tariff
    imputation = tariff.imputation or syndicat.imputation or DEFAULT_IMPUTATION

    workbook = Workbook()
    cover = workbook.active
    cover.title = COVER
    status_total = _status_sheet(workbook.create_sheet(STATUS), year)
    _group_sheet(workbook.create_sheet(DEPARTEMENTS), year, key="departement", name="departement_nom",
                 title="Contributions par département", headers=("Département", "Nom"))
    _group_sheet(workbook.create_sheet(EPCIS), year, key="epci_siren", name="epci_nom",
                 title="Contributions par EPCI (intercommunalité)", headers=("SIREN de l'EPCI", "EPCI"))
    communes = communes_sheet(workbook, workbook.create_sheet(COMMUNES), year, previous_source=previous_source,
                              new=NEW, departed=DEPARTED, widths=_widths, streamed=streamed)
    shown = year.comparison if year.comparison is not None else year.communes
    _check("total facturé par commune", int(shown["facture_cents"].sum() or 0), year.billed_cents)
    _budget_sheet(workbook.create_sheet(BUDGET), year, budget, imputation=imputation, status_total=status_total)
    charts = charts_sheet(workbook.create_sheet(CHARTS), year, new=NEW, departed=DEPARTED, check=_check)
    if getattr(priced, "by_competence", None) is not None:  # a year « à la carte » (DESIGN §4c)
        competence_sheet(workbook.create_sheet(COMPETENCES, workbook.index(workbook[BUDGET])),
                         competence_parts(priced.by_competence, priced.contributions), annee=year.annee,
                         billed_cents=year.billed_cents, indicative_cents=year.indicative_cents, check=_check)
    add_not_titled_sheet(workbook, priced)  # DESIGN §4b: fiscalised members and those below the seuil, apart
    _cover_sheet(cover, year, syndicat=syndicat, tariff_lines=_tariff_lines(tariff_description, imputation),
                 previous_source=previous_source, budget=budget, input_hashes=input_hashes,
                 generated_at=generated_at, status_total=status_total, charts=charts,
                 competences=COMPETENCES in workbook.sheetnames)
    for sheet in workbook.worksheets:
        _print_setup(sheet, year.annee, syndicat.nom)
    return save_with_tables(workbook, [communes], Path(path))


# --------------------------------------------------------------------------- data (pure)


def _prepare(contributions: pl.DataFrame, previous: pl.DataFrame | None, *, annee: int) -> _Year:
    communes = contributions.with_columns(
        pl.when(pl.col("statut") == "retiree").then(pl.lit("retiree"))
        .when(pl.col("statut") == "conditionnelle").then(pl.lit("conditionnelle"))
        .when(pl.col("situation") == "facturee").then(pl.lit("adherente"))
        .otherwise(pl.lit("hors_periode"))
        .alias("categorie"),
        pl.when(pl.col("situation") == "facturee").then(pl.col("montant_cents").fill_null(0))
        .otherwise(0).cast(pl.Int64).alias("facture_cents"),
        pl.when(pl.col("situation") == "indicative").then(pl.col("montant_indicatif_cents").fill_null(0))
        .otherwise(0).cast(pl.Int64).alias("indicatif_cents"),
        pl.col("ecoles").fill_null(0).cast(pl.Int64),
        pl.col("eleves").fill_null(0).cast(pl.Int64),
    )
    communes = _sorted_by_name(communes)
    billed = int(communes["facture_cents"].sum() or 0)
    indicative = int(communes["indicatif_cents"].sum() or 0)
    comparison = None if previous is None else _compare(communes, previous)
    return _Year(annee, communes, comparison, billed, indicative)


def _compare(communes: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Every commune of either year: amount N−1, amount N, and whether it joined or left."""
    before = previous.group_by("code_insee").agg(
        pl.col("commune").first().alias("commune_precedente"),
        pl.col("montant_cents").fill_null(0).sum().cast(pl.Int64).alias("precedent_cents"),
    )
    now = communes.select("code_insee", "commune", "statut", "situation", "departement", "epci_nom", "ecoles",
                          "eleves", "facture_cents")
    joined = now.join(before, on="code_insee", how="full", coalesce=True).with_columns(
        pl.coalesce("commune", "commune_precedente").alias("commune"),
        pl.col("precedent_cents").fill_null(0),
        pl.col("facture_cents").fill_null(0),
    )
    movement = (
        pl.when((pl.col("facture_cents") > 0) & (pl.col("precedent_cents") == 0)).then(pl.lit(NEW))
        .when((pl.col("facture_cents") == 0) & (pl.col("precedent_cents") > 0)).then(pl.lit(DEPARTED))
        .otherwise(None)
    )
    return _sorted_by_name(joined.with_columns(movement.alias("mouvement")).drop("commune_precedente"))


def _sorted_by_name(frame: pl.DataFrame) -> pl.DataFrame:
    """Alphabetical as a French reader expects (accents and case ignored), then by code.

    Accents folded by polars (NFKD, nonspacing marks dropped, lower case): the same keys as
    ``unicodedata`` gives on every name of the register, in a tenth of the time.
    """
    key = (pl.col("commune").fill_null("").str.normalize("NFKD").str.replace_all(r"\p{Mn}", "")
           .str.to_lowercase().alias("_tri"))
    return frame.with_columns(key).sort("_tri", "code_insee").drop("_tri")


def _check(label: str, shown: int, expected: int) -> None:
    if shown != expected:
        raise SummaryError(f"{label} : {format_euros(shown)} affiché, {format_euros(expected)} attendu")


# --------------------------------------------------------------------------- sheets


def _title(sheet: Worksheet, title: str, subtitle: str | None = None) -> int:
    sheet["A1"] = title
    sheet["A1"].font = TITLE
    if subtitle:
        sheet["A2"] = subtitle
        sheet["A2"].font = font(italic=True)
    return 4




def _sum(sheet: Worksheet, row: int, column: int, first: int, last: int, number_format: str) -> str:
    letter = get_column_letter(column)
    cell = sheet.cell(row, column, f"=SUM({letter}{first}:{letter}{last})" if last >= first else 0)
    cell.number_format = number_format
    cell.font = BOLD
    cell.border = TOTAL_BORDER
    return f"{letter}{row}"


def _count(cell, value: int) -> None:
    cell.value = int(value)
    cell.number_format = COUNT


def _widths(sheet: Worksheet, widths: Iterable[int]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _status_sheet(sheet: Worksheet, year: _Year) -> dict[str, str]:
    """Totals by status, then the counts behind the billed total. Returns the addresses of its totals."""
    row = _title(sheet, f"Contributions {year.annee} par statut d'adhésion",
                 "Montant facturé : communes adhérentes et retirées ayant au moins un jour d'adhésion dans l'année ; "
                 "montant indicatif : communes conditionnelles (non facturé).")
    _header(sheet, row, ("Statut", "Communes", "Écoles publiques", "Élèves", "Montant facturé", "Montant indicatif"))
    grouped = year.communes.group_by("categorie").agg(
        pl.len().alias("communes"), pl.col("ecoles").sum(), pl.col("eleves").sum(),
        pl.col("facture_cents").sum(), pl.col("indicatif_cents").sum())
    by_category = {rec["categorie"]: rec for rec in grouped.iter_rows(named=True)}
    first = row + 1
    shown_billed = shown_indicative = 0
    for offset, (key, label) in enumerate(CATEGORIES):
        r = first + offset
        rec = by_category.get(key, {"communes": 0, "ecoles": 0, "eleves": 0, "facture_cents": 0, "indicatif_cents": 0})
        sheet.cell(r, 1, label)
        for column, field in ((2, "communes"), (3, "ecoles"), (4, "eleves")):
            _count(sheet.cell(r, column), rec[field])
        put_euros(sheet.cell(r, 5), rec["facture_cents"])
        put_euros(sheet.cell(r, 6), rec["indicatif_cents"])
        shown_billed += rec["facture_cents"]
        shown_indicative += rec["indicatif_cents"]
    last = first + len(CATEGORIES) - 1
    total = last + 1
    sheet.cell(total, 1, "Total").font = BOLD
    sheet.cell(total, 1).border = TOTAL_BORDER
    refs = {}
    for column, key, fmt in ((2, "communes", COUNT), (3, "ecoles", COUNT), (4, "eleves", COUNT),
                             (5, "facture", EUROS), (6, "indicatif", EUROS)):
        refs[key] = f"'{STATUS}'!" + _sum(sheet, total, column, first, last, fmt)
    _check("total facturé par statut", shown_billed, year.billed_cents)
    _check("total indicatif par statut", shown_indicative, year.indicative_cents)

    billed = year.communes.filter(pl.col("situation") == "facturee")
    r = total + 3
    sheet.cell(r, 1, "Ce que recouvre le montant facturé").font = BOLD
    facts = [
        ("Communes facturées", billed.height, COUNT),
        ("Écoles publiques des communes facturées", int(billed["ecoles"].sum() or 0), COUNT),
        ("Élèves des communes facturées", int(billed["eleves"].sum() or 0), COUNT),
    ]
    for i, (label, value, fmt) in enumerate(facts, start=1):
        sheet.cell(r + i, 1, label)
        _count(sheet.cell(r + i, 2), value)
    sheet.cell(r + 4, 1, "Montant facturé")
    sheet.cell(r + 4, 2, f"=E{total}").number_format = EUROS
    sheet.cell(r + 5, 1, "Coût moyen par élève")
    sheet.cell(r + 5, 2, f'=IF(B{r + 3}=0,"",ROUND(B{r + 4}/B{r + 3},2))').number_format = EUROS
    sheet.cell(r + 6, 1, "Coût moyen par école publique")
    sheet.cell(r + 6, 2, f'=IF(B{r + 2}=0,"",ROUND(B{r + 4}/B{r + 2},2))').number_format = EUROS
    sheet.cell(r + 7, 1, "Montant indicatif des conditionnelles (si elles adhéraient)")
    sheet.cell(r + 7, 2, f"=F{total}").number_format = EUROS
    refs["facts_row"] = str(r + 1)
    _widths(sheet, (58, 16, 16, 14, 18, 18))
    sheet.freeze_panes = sheet.cell(first, 2)
    return refs


def _group_sheet(sheet: Worksheet, year: _Year, *, key: str, name: str, title: str, headers: tuple[str, str]) -> None:
    row = _title(sheet, f"{title} — {year.annee}",
                 "Toutes les communes membres ; montant indicatif : communes conditionnelles.")
    _header(sheet, row, (*headers, "Communes membres", "dont facturées", "Écoles publiques", "Élèves",
                          "Montant facturé", "Montant indicatif"))
    grouped = groups(year.communes, key=key, name=name)
    first = row + 1
    for offset, rec in enumerate(grouped.iter_rows(named=True)):
        r = first + offset
        put_text(sheet.cell(r, 1), rec["cle"])
        put_text(sheet.cell(r, 2), rec["nom"])
        for column, field in ((3, "communes"), (4, "facturees"), (5, "ecoles"), (6, "eleves")):
            _count(sheet.cell(r, column), rec[field])
        put_euros(sheet.cell(r, 7), rec["facture_cents"])
        put_euros(sheet.cell(r, 8), rec["indicatif_cents"])
    last = first + grouped.height - 1
    total = last + 1
    sheet.cell(total, 1, "Total").font = BOLD
    for column in (1, 2):
        sheet.cell(total, column).border = TOTAL_BORDER
    for column, fmt in ((3, COUNT), (4, COUNT), (5, COUNT), (6, COUNT), (7, EUROS), (8, EUROS)):
        _sum(sheet, total, column, first, last, fmt)
    _check(f"{title} : total facturé", int(grouped["facture_cents"].sum() or 0), year.billed_cents)
    _check(f"{title} : total indicatif", int(grouped["indicatif_cents"].sum() or 0), year.indicative_cents)
    _widths(sheet, (16, 44, 12, 12, 12, 12, 18, 18))
    sheet.freeze_panes = sheet.cell(first, 3)
    if grouped.height:
        sheet.auto_filter.ref = f"A{row}:H{last}"


def _budget_sheet(sheet: Worksheet, year: _Year, budget: pl.DataFrame | None, *, imputation: str,
                  status_total: dict[str, str]) -> None:
    row = _title(sheet, f"Exécution {year.annee} : contributions calculées et budget voté",
                 f"Les contributions sont imputées au compte {imputation} ; les autres lignes du budget n'ont pas "
                 f"de contrepartie calculée par ent-bill.")
    _header(sheet, row, ("Compte", "Libellé", "Prévu au budget", "Calculé (ent-bill)", "Écart (calculé − prévu)",
                          "Écart %"))
    lines = _budget_lines(budget, year.annee)
    ours = [rec for rec in lines if rec["compte"] == imputation]
    others = [rec for rec in lines if rec["compte"] != imputation]
    first = row + 1
    r = first
    for rec in ours:
        _budget_line(sheet, r, rec)
        r += 1
    if len(ours) == 1:
        _compare_row(sheet, first, status_total)
    else:
        put_text(sheet.cell(r, 1), imputation)
        if ours:
            sheet.cell(r, 2, f"Total du compte {imputation} ({len(ours)} lignes)")
            _sum(sheet, r, 3, first, r - 1, EUROS)
        else:
            sheet.cell(r, 2, "Contributions des communes membres (aucun crédit prévu à ce compte dans budget.csv)")
        _compare_row(sheet, r, status_total)
        r += 1
    for rec in others:
        _budget_line(sheet, r, rec)
        r += 1
    r += 1
    if budget is None:
        sheet.cell(r, 1, "Pas de fichier budget.csv : seul le montant calculé est indiqué.").font = font(italic=True)
        r += 1
    elif not lines:
        sheet.cell(r, 1, f"budget.csv ne contient aucune ligne pour {year.annee}.").font = font(italic=True)
        r += 1
    sheet.cell(r, 1, "Pour information : montant indicatif des communes conditionnelles")
    sheet.cell(r, 4, f"={status_total['indicatif']}").number_format = EUROS
    _widths(sheet, (12, 60, 18, 18, 20, 10))


def _budget_line(sheet: Worksheet, r: int, rec: dict) -> None:
    put_text(sheet.cell(r, 1), rec["compte"])
    put_text(sheet.cell(r, 2), rec["libelle"])
    put_euros(sheet.cell(r, 3), rec["montant_prevu_cents"])


def _compare_row(sheet: Worksheet, r: int, status_total: dict[str, str]) -> None:
    sheet.cell(r, 4, f"={status_total['facture']}").number_format = EUROS
    sheet.cell(r, 5, f'=IF(C{r}="","",D{r}-C{r})').number_format = EUROS
    sheet.cell(r, 6, f'=IF(N(C{r})=0,"",E{r}/C{r})').number_format = PERCENT
    for column in range(1, 7):
        sheet.cell(r, column).font = BOLD


def _budget_lines(budget: pl.DataFrame | None, annee: int) -> list[dict]:
    if budget is None:
        return []
    frame = budget
    if "annee" in frame.columns:
        frame = frame.filter(pl.col("annee") == annee)
    if "libelle" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Utf8).alias("libelle"))
    return (frame.with_columns(pl.col("compte").cast(pl.Utf8).str.strip_chars())
            .select("compte", "libelle", "montant_prevu_cents").to_dicts())


# --------------------------------------------------------------------------- cover


def _cover_sheet(sheet: Worksheet, year: _Year, *, syndicat: Syndicat, tariff_lines: list[tuple[str, str]],
                 previous_source: str | None, budget: pl.DataFrame | None, input_hashes: Iterable,
                 generated_at: datetime, status_total: dict[str, str], charts: list[str],
                 competences: bool = False) -> None:
    sheet["A1"] = f"Synthèse budgétaire des contributions ENT — exercice {year.annee}"
    sheet["A1"].font = TITLE
    put_text(sheet["A2"], syndicat.nom)
    put_text(sheet["A3"], syndicat.adresse)
    sheet["A4"] = f"Établie le {generated_at:%d/%m/%Y à %H:%M} par ent-bill {__version__}"
    sheet["A4"].font = font(italic=True)

    r = 6
    sheet.cell(r, 1, "Chiffres clés").font = BOLD
    key_figures = [
        ("Montant facturé", f"={status_total['facture']}", EUROS),
        ("Communes membres", f"={status_total['communes']}", COUNT),
        ("Montant indicatif des conditionnelles (non facturé)", f"={status_total['indicatif']}", EUROS),
    ]
    for i, (label, formula, fmt) in enumerate(key_figures, start=1):
        sheet.cell(r + i, 1, label)
        sheet.cell(r + i, 2, formula).number_format = fmt
    sheet.cell(r + 4, 1, f"Vérifié par ent-bill : facturé {format_euros(year.billed_cents)}, indicatif "
                         f"{format_euros(year.indicative_cents)}.").font = font(italic=True)

    r += 6
    sheet.cell(r, 1, "Tarif appliqué").font = BOLD
    for i, (label, value) in enumerate(tariff_lines, start=1):
        sheet.cell(r + i, 1, label)
        put_text(sheet.cell(r + i, 2), value)
    r += len(tariff_lines) + 2

    sheet.cell(r, 1, "Comparaisons").font = BOLD
    sheet.cell(r + 1, 1, f"Année {year.annee - 1}")
    put_text(sheet.cell(r + 1, 2), previous_source or "aucune (ni titres ni données de l'année précédente)")
    sheet.cell(r + 2, 1, "Budget voté")
    sheet.cell(r + 2, 2, "budget.csv" if budget is not None else "absent (pas de fichier budget.csv)")
    r += 4

    sheet.cell(r, 1, "Fichiers d'entrée").font = BOLD
    header_row(sheet, r + 1, ("Fichier", "Taille (octets)", "Empreinte SHA-256"))
    sheet.cell(r + 1, 2).alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    hashes = list(input_hashes)
    for i, item in enumerate(hashes, start=r + 2):
        name, size, digest = _hash_fields(item)
        put_text(sheet.cell(i, 1), name)
        if size is not None:
            _count(sheet.cell(i, 2), size)
            # centred under its header: right-aligned, « 8 243 » ran into the empreinte beside it
            sheet.cell(i, 2).alignment = Alignment(horizontal="center")
        put_text(sheet.cell(i, 3), digest)
    r += len(hashes) + 3

    _contents(sheet, r, year, charts, competences=competences)
    _widths(sheet, (52, 46, 70))


def _contents(sheet: Worksheet, r: int, year: _Year, charts: list[str], *, competences: bool = False) -> None:
    """The list of sheets, each a link to it, with what it holds."""
    sheet.cell(r, 1, "Contenu du classeur").font = BOLD
    contents = [
        (STATUS, "totaux par statut (facturé, retirées, conditionnelles) et coût moyen par élève"),
        (DEPARTEMENTS, "totaux par département"),
        (EPCIS, "totaux par intercommunalité"),
        (COMMUNES, f"chaque commune, comparée à {year.annee - 1} (Δ €, Δ %, entrées et sorties)"
         if year.comparison is not None else "chaque commune"),
        *(((COMPETENCES, "totaux par compétence et par imputation, membres de chacune"),) if competences else ()),
        (BUDGET, "le montant calculé face au budget voté"),
        (CHARTS, " ; ".join(charts)),
    ]
    for i, (name, what) in enumerate(contents, start=1):
        cell = sheet.cell(r + i, 1, name)
        cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"'{name}'!A1", display=name)  # inside the file
        cell.font = font(color="0563C1", underline="single")
        sheet.cell(r + i, 2, what)


def _tariff_lines(description: Iterable[tuple[str, str]], imputation: str) -> list[tuple[str, str]]:
    """The tariff as the contributions table's « Paramètres » sheet describes it, with the imputation in force."""
    lines = [(label, value) for label, value in description if label not in ("Exercice", "Imputation")]
    lines.append(("Imputation budgétaire", f"compte {imputation}"))
    return lines


def _hash_fields(item) -> tuple[str, int | None, str]:
    if isinstance(item, dict):
        return str(item.get("name") or item.get("nom")), item.get("size"), str(item.get("sha256"))
    return str(item.name), getattr(item, "size", None), str(item.sha256)


HEADED = {STATUS: 4, DEPARTEMENTS: 4, EPCIS: 4, COMMUNES: 4, BUDGET: 4}  # the table's header row, repeated


def _header(sheet: Worksheet, row: int, titles) -> None:
    """A table header whose titles may take two lines: the row is tall enough for them (never over the data)."""
    header_row(sheet, row, titles)
    sheet.row_dimensions[row].height = 30


def _print_setup(sheet: Worksheet, annee: int, syndicat: str) -> None:
    """A4 as wide as the page, the table's header on every page; the page header names the document, the
    sheet and the year, the footer « page n / N ». The charts print portrait on one page, never cut; the
    cover landscape on one page (its last five links fell alone on a second page)."""
    one_page = sheet.title in (CHARTS, COVER)
    sheet.page_setup.orientation = "portrait" if sheet.title == CHARTS else "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 1 if one_page else 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.75
    sheet.page_margins.header = sheet.page_margins.footer = 0.3
    if sheet.title in HEADED:
        row = HEADED[sheet.title]
        sheet.print_title_rows = f"{row}:{row}"
    sheet.oddHeader.left.text = syndicat.replace("&", "&&")
    sheet.oddHeader.left.size = 8
    sheet.oddHeader.right.text = f"Synthèse budgétaire {annee} — {sheet.title}"
    sheet.oddHeader.right.size = 8
    sheet.oddFooter.center.text = "page &P / &N"
    sheet.oddFooter.center.size = 8
